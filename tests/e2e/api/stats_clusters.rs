//! `/stats/{global,current}/admin` and `/clusters/admin`.
//!
//! The §1.12 examples for these (`os-0` with 18 units, four clusters incl. OpenStack) come from
//! the original's live fixtures, not from this database (two SLURM clusters); the same rules are
//! checked on this data, with the literal shape of each object.

use super::model::strings;
use super::{P, Suite, expect, expect_error, expect_rows, reference_model, reference_server};

#[test]
fn stats_and_clusters() {
    let srv = reference_server(&[]);
    let m = reference_model();
    let mut s = Suite::new("stats and clusters");

    s.check("clusters/admin: distinct clusters of the units as {id, manager}", || {
        let r = srv.get(&format!("{P}/clusters/admin"), "adm1");
        expect(
            &r,
            200,
            "{\"status\":\"success\",\"data\":[{\"id\":\"slurm-0\",\"manager\":\"slurm\"},{\"id\":\"slurm-1\",\"manager\":\"slurm\"}]}\n",
        );
        expect_rows(&r, m.clusters_json());
    });
    s.check("clusters/admin ignores parameters", || {
        expect_rows(
            &srv.get(&format!("{P}/clusters/admin?cluster_id=slurm-0"), "adm1"),
            m.clusters_json(),
        );
    });
    s.check("stats/global/admin: per-cluster counters over all units", || {
        let r = srv.get(&format!("{P}/stats/global/admin"), "adm1");
        expect(
            &r,
            200,
            concat!(
                r#"{"status":"success","data":[{"cluster_id":"slurm-0","resource_manager":"slurm","num_units":12,"num_inactive_units":10,"num_active_units":2,"num_projects":5,"num_users":7},"#,
                r#"{"cluster_id":"slurm-1","resource_manager":"slurm","num_units":12,"num_inactive_units":10,"num_active_units":2,"num_projects":5,"num_users":7}]}"#,
                "\n"
            ),
        );
        expect_rows(&r, m.stats_json(None, None));
        // from/to are not even parsed in global mode.
        expect_rows(&srv.get(&format!("{P}/stats/global/admin?from=x&to=y"), "adm1"), m.stats_json(None, None));
    });
    s.check("stats/global/admin?cluster_id=…", || {
        let r = srv.get(
            &format!("{P}/stats/global/admin?cluster_id=slurm-1&user=usr1&project=acc1"),
            "grafana",
        );
        expect_rows(&r, m.stats_json(None, Some(strings(&["slurm-1"]))));
    });
    s.check(
        "stats/current/admin: ended in the inclusive window plus every running unit",
        || {
            for (from, to) in [
                (1_676_991_443, 1_676_991_443),
                (1_676_934_000, 1_677_538_800),
                (1_600_000_000, 1_800_000_000),
                (1_500_000_000, 1_500_003_600),
            ] {
                let r = srv.get(
                    &format!("{P}/stats/current/admin?from={from}&to={to}"),
                    "adm1",
                );
                expect_rows(&r, m.stats_json(Some((from, to)), None));
            }
            let r = srv.get(
                &format!(
                    "{P}/stats/current/admin?from=1676934000000&to=1677538800000&cluster_id=slurm-0"
                ),
                "adm1",
            );
            expect_rows(
                &r,
                m.stats_json(
                    Some((1_676_934_000, 1_677_538_800)),
                    Some(strings(&["slurm-0"])),
                ),
            );
            // Only `to`: from = to − 24 h.
            let r = srv.get(&format!("{P}/stats/current/admin?to=1676991443"), "adm1");
            expect_rows(
                &r,
                m.stats_json(Some((1_676_991_443 - 86_400, 1_676_991_443)), None),
            );
        },
    );
    s.check(
        "stats/current/admin: default window holds only the running units",
        || {
            let r = srv.get(&format!("{P}/stats/current/admin"), "adm1");
            let rows = m.stats_json(Some((1_500_000_000, 1_500_000_000)), None);
            expect_rows(&r, rows);
            assert!(
                r.text()
                    .contains(r#""num_units":2,"num_inactive_units":0,"num_active_units":2"#),
                "{}",
                r.text()
            );
        },
    );
    s.check("stats/current/admin: malformed window → 400", || {
        let r = srv.get(&format!("{P}/stats/current/admin?to=soon"), "adm1");
        expect_error(
            &r,
            400,
            "bad_data",
            "query parameter 'to': malformed timestamp",
        );
    });
    s.check(
        "stats and clusters are admin only; there is no non-admin stats route",
        || {
            for path in [
                "stats/global/admin",
                "stats/current/admin",
                "clusters/admin",
            ] {
                let r = srv.get(&format!("{P}/{path}"), "usr1");
                expect_error(
                    &r,
                    403,
                    "forbidden",
                    "current user does not have admin privileges",
                );
            }
            for path in ["stats/global", "stats/current", "clusters"] {
                expect(
                    &srv.get(&format!("{P}/{path}"), "adm1"),
                    404,
                    "404 page not found\n",
                );
            }
        },
    );
    s.finish();
}
