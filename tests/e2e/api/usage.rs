//! `/usage/{current,global}[/admin]` on the reference data: visibility by project name,
//! per-cluster rows, sums and fixed weighted averages, zero-filled key sets, 900 s rounding,
//! field selection, `groupby` whitelist.
//!
//! The §1.12 `current-usage-query` element (usr2 on slurm-1 with keys `global`, `emaps_total`…)
//! comes from the original's live e2e fixtures, not from this database: the same rules (zero
//! weight → 0, 8 decimals, zero-filled keys) are checked on this data instead.

use super::model::{UsageQuery, round_window, strings};
use super::{P, Suite, expect, expect_error, expect_rows, reference_model, reference_server};

/// Every reference unit was last updated at 2024-07-02T14:49:39 Europe/Paris.
const UPDATED: i64 = 1_719_924_579;
const WINDOW: (i64, i64) = (1_719_900_000, 1_719_950_000);
const EMPTY: &str = "{\"status\":\"success\",\"data\":[]}\n";

#[test]
fn usage_endpoints() {
    let srv = reference_server(&[]);
    let m = reference_model();
    assert!(m.units.iter().all(|u| u.last_updated_s == UPDATED));
    let mut s = Suite::new("usage");
    let win = format!("from={}&to={}", WINDOW.0, WINDOW.1);
    let current = |users: Option<&[&str]>| UsageQuery {
        users: users.map(strings),
        window: Some(round_window(WINDOW.0, WINDOW.1)),
        ..Default::default()
    };

    s.check(
        "current: a member sees every user's rows of their projects, per cluster",
        || {
            let r = srv.get(&format!("{P}/usage/current?{win}"), "usr1");
            let rows = m.usage(&current(Some(&["usr1"])));
            // acc1: usr1, usr15, usr8; acc2: usr1, usr2 — on both clusters.
            assert_eq!(rows.len(), 10);
            expect_rows(&r, rows);
            let data = r.json()["data"].as_array().unwrap().clone();
            let usr1_acc1 = data
                .iter()
                .filter(|u| u["username"] == "usr1" && u["project"] == "acc1")
                .count();
            assert_eq!(usr1_acc1, 2, "one row per cluster");
        },
    );
    s.check(
        "current: averages weigh only units carrying the key (no dilution)",
        || {
            let r = srv.get(
                &format!("{P}/usage/current?{win}&project=acc3&cluster_id=slurm-0"),
                "usr3",
            );
            let mut q = current(Some(&["usr3"]));
            q.projects = Some(strings(&["acc3"]));
            q.clusters = Some(strings(&["slurm-0"]));
            expect_rows(&r, m.usage(&q));
            // The original reports 11.07380688 (diluted by the unit without the key).
            assert!(
                r.text()
                    .contains(r#""avg_cpu_usage":{"total":14.79000000}"#),
                "{}",
                r.text()
            );
            assert!(r.text().contains(r#""num_units":3"#), "{}", r.text());
        },
    );
    s.check("current: float sums and averages with 8 decimals", || {
        let r = srv.get(
            &format!("{P}/usage/current?{win}&project=acc1&cluster_id=slurm-1"),
            "usr15",
        );
        let mut q = current(Some(&["usr15"]));
        q.projects = Some(strings(&["acc1"]));
        q.clusters = Some(strings(&["slurm-1"]));
        expect_rows(&r, m.usage(&q));
        let t = r.text();
        assert!(
            t.contains(r#""avg_cpu_usage":{"total":46.50500000}"#),
            "{t}"
        );
        assert!(
            t.contains(r#""total_cpu_energy_usage_kwh":{"total":93.01000000}"#),
            "{t}"
        );
        assert!(
            t.contains(r#""total_io_write_stats":{"bytes":93018,"requests":930180}"#),
            "{t}"
        );
    });
    s.check("current: key sets are zero-filled in every row", || {
        let r = srv.get(&format!("{P}/usage/current/admin?{win}&user=usr4"), "adm1");
        expect_rows(&r, m.usage(&current(Some(&["usr4"]))));
        let t = r.text();
        assert!(t.contains(r#""avg_cpu_usage":{"total":0}"#), "{t}");
        assert!(
            t.contains(r#""total_ingress_stats":{"bytes":0,"packets":0}"#),
            "{t}"
        );
        assert!(
            t.contains(r#""total_time_seconds":{"alloc_cpumemtime":162856960,"#),
            "{t}"
        );
    });
    s.check(
        "current/admin: user= selects the projects of those users",
        || {
            let r = srv.get(
                &format!("{P}/usage/current/admin?{win}&user=usr15&user=usr3"),
                "adm1",
            );
            let rows = m.usage(&current(Some(&["usr15", "usr3"])));
            let users: std::collections::BTreeSet<String> = rows
                .iter()
                .map(|r| {
                    r.render()
                        .split("\"username\":\"")
                        .nth(1)
                        .unwrap()
                        .split('"')
                        .next()
                        .unwrap()
                        .to_string()
                })
                .collect();
            assert_eq!(
                users,
                ["usr1", "usr15", "usr3", "usr8"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            );
            expect_rows(&r, rows);
        },
    );
    s.check(
        "current/admin without user: every project with members",
        || {
            let r = srv.get(&format!("{P}/usage/current/admin?{win}"), "grafana");
            expect_rows(&r, m.usage(&current(None)));
        },
    );
    s.check("current: ?user= is ignored for non-admins", || {
        let r = srv.get(&format!("{P}/usage/current?{win}&user=usr3"), "usr2");
        expect_rows(&r, m.usage(&current(Some(&["usr2"]))));
    });
    s.check("current: project and cluster filters", || {
        let r = srv.get(
            &format!("{P}/usage/current?{win}&project=acc2&cluster_id=slurm-0&cluster_id=slurm-1"),
            "usr1",
        );
        let mut q = current(Some(&["usr1"]));
        q.projects = Some(strings(&["acc2"]));
        q.clusters = Some(strings(&["slurm-0", "slurm-1"]));
        expect_rows(&r, m.usage(&q));
        expect(
            &srv.get(&format!("{P}/usage/current?{win}&project=acc3"), "usr1"),
            200,
            EMPTY,
        );
        expect(
            &srv.get(&format!("{P}/usage/current?{win}&project="), "usr1"),
            200,
            EMPTY,
        );
    });
    s.check("current: a user in no project gets data []", || {
        expect(
            &srv.get(&format!("{P}/usage/current?{win}"), "nobody"),
            200,
            EMPTY,
        );
    });
    s.check("current: empty window → data [] (not null)", || {
        expect(
            &srv.get(
                &format!("{P}/usage/current?from=1500000000&to=1500003600"),
                "usr1",
            ),
            200,
            EMPTY,
        );
        expect(&srv.get(&format!("{P}/usage/current"), "usr1"), 200, EMPTY);
        expect(
            &srv.get(
                &format!("{P}/usage/current/admin?from=1500000000&to=1500003600"),
                "adm1",
            ),
            200,
            EMPTY,
        );
    });
    s.check(
        "current: window rounded to 900 s (from down, to up), inclusive",
        || {
            let rows = m.usage(&current(Some(&["usr1"])));
            // Aligned bounds just after / just before the update: excluded.
            expect(
                &srv.get(
                    &format!("{P}/usage/current?from=1719925200&to=1719950000"),
                    "usr1",
                ),
                200,
                EMPTY,
            );
            expect(
                &srv.get(
                    &format!("{P}/usage/current?from=1719900000&to=1719924300"),
                    "usr1",
                ),
                200,
                EMPTY,
            );
            // One second past an aligned `to` rounds up over the update.
            let r = srv.get(
                &format!("{P}/usage/current?from=1719900000&to=1719924301"),
                "usr1",
            );
            let mut q = current(Some(&["usr1"]));
            q.window = Some(round_window(1_719_900_000, 1_719_924_301));
            assert_eq!(m.usage(&q), rows);
            expect_rows(&r, rows.clone());
            // A one-second window after the update still covers it once rounded.
            let r = srv.get(
                &format!("{P}/usage/current?from={}&to={}", UPDATED + 1, UPDATED + 1),
                "usr1",
            );
            expect_rows(&r, rows.clone());
            // Exactly the update second.
            let r = srv.get(
                &format!("{P}/usage/current?from={UPDATED}&to={UPDATED}"),
                "usr1",
            );
            expect_rows(&r, rows);
        },
    );
    s.check("current: milliseconds and only-`to` windows", || {
        let rows = m.usage(&current(Some(&["usr1"])));
        let r = srv.get(
            &format!(
                "{P}/usage/current?from={}&to={}",
                WINDOW.0 * 1000,
                WINDOW.1 * 1000
            ),
            "usr1",
        );
        expect_rows(&r, rows.clone());
        let r = srv.get(&format!("{P}/usage/current?to={}", UPDATED + 3600), "usr1");
        expect_rows(&r, rows);
        let r = srv.get(
            &format!("{P}/usage/current?to={}", UPDATED + 86_400 + 900),
            "usr1",
        );
        expect(&r, 200, EMPTY);
    });
    s.check("current: malformed window → 400", || {
        let r = srv.get(&format!("{P}/usage/current?from=now"), "usr1");
        expect_error(
            &r,
            400,
            "bad_data",
            "query parameter 'from': malformed timestamp",
        );
        let r = srv.get(&format!("{P}/usage/current/admin?to=1.5"), "adm1");
        expect_error(
            &r,
            400,
            "bad_data",
            "query parameter 'to': malformed timestamp",
        );
    });
    s.check("current: identity-only fields still compute rows (DESIGN: not null)", || {
        let r = srv.get(&format!("{P}/usage/current?{win}&field=username&field=num_units"), "usr1");
        let mut q = current(Some(&["usr1"]));
        q.fields = Some(strings(&["username", "num_units"]));
        let rows = m.usage(&q);
        assert!(rows[0].render().starts_with(r#"{"cluster_id":"","resource_manager":"","num_units":1,"project":"","groupname":"","username":"usr1"}"#));
        expect_rows(&r, rows);
    });
    s.check("current: selected metric fields; identity columns kept with zero values", || {
        let r = srv.get(&format!("{P}/usage/current?{win}&field=avg_gpu_usage&field=total_outgress_stats&field=bogus"), "usr2");
        let mut q = current(Some(&["usr2"]));
        q.fields = Some(strings(&["avg_gpu_usage", "total_outgress_stats"]));
        let rows = m.usage(&q);
        assert!(rows[0].render().starts_with(r#"{"cluster_id":"","resource_manager":"","num_units":0,"project":"","groupname":"","username":"","avg_gpu_usage":"#));
        expect_rows(&r, rows);
        let r = srv.get(&format!("{P}/usage/current?{win}&field=bogus"), "usr2");
        expect_error(&r, 400, "bad_data", "invalid query fields");
    });
    s.check("current: __terminated drops running units", || {
        let r = srv.get(&format!("{P}/usage/current?{win}&__terminated"), "usr2");
        let mut q = current(Some(&["usr2"]));
        q.terminated = true;
        expect_rows(&r, m.usage(&q));
    });
    s.check(
        "groupby: whitelisted columns accepted, anything else 400",
        || {
            let rows = m.usage(&current(Some(&["usr1"])));
            for g in [
                "cluster_id",
                "username",
                "project",
                "",
                "groupname&groupby=resource_manager",
            ] {
                let r = srv.get(&format!("{P}/usage/current?{win}&groupby={g}"), "usr1");
                expect_rows(&r, rows.clone());
            }
            let mut q = current(Some(&["usr1"]));
            q.groupby = vec!["groupname".into()];
            expect_rows(
                &srv.get(
                    &format!("{P}/usage/current?{win}&groupby=groupname"),
                    "usr1",
                ),
                m.usage(&q),
            );
            for g in ["name", "uuid", "cluster_id%3B%20DROP%20TABLE%20units", "1"] {
                let r = srv.get(&format!("{P}/usage/current?{win}&groupby={g}"), "usr1");
                expect_error(&r, 400, "bad_data", "invalid groupby");
            }
            let r = srv.get(&format!("{P}/usage/global/admin?groupby=state"), "adm1");
            expect_error(&r, 400, "bad_data", "invalid groupby");
        },
    );
    s.check("global: fixture global-usage-query reproduced literally", || {
        let r = srv.get(&format!("{P}/usage/global?cluster_id=slurm-0&field=username&field=project&field=num_units"), "usr1");
        expect(
            &r,
            200,
            concat!(
                r#"{"status":"success","data":[{"cluster_id":"","resource_manager":"","num_units":1,"project":"acc1","groupname":"","username":"usr1"},"#,
                r#"{"cluster_id":"","resource_manager":"","num_units":1,"project":"acc2","groupname":"","username":"usr1"},"#,
                r#"{"cluster_id":"","resource_manager":"","num_units":2,"project":"acc1","groupname":"","username":"usr15"},"#,
                r#"{"cluster_id":"","resource_manager":"","num_units":2,"project":"acc2","groupname":"","username":"usr2"},"#,
                r#"{"cluster_id":"","resource_manager":"","num_units":1,"project":"acc1","groupname":"","username":"usr8"}]}"#,
                "\n"
            ),
        );
    });
    s.check(
        "global: all-time aggregation of the units, from/to ignored",
        || {
            let q = UsageQuery {
                users: Some(strings(&["usr1"])),
                ..Default::default()
            };
            expect_rows(&srv.get(&format!("{P}/usage/global"), "usr1"), m.usage(&q));
            expect_rows(
                &srv.get(&format!("{P}/usage/global?from=garbage&to=1"), "usr1"),
                m.usage(&q),
            );
            let q = UsageQuery {
                ..Default::default()
            };
            expect_rows(
                &srv.get(&format!("{P}/usage/global/admin"), "admin"),
                m.usage(&q),
            );
            let q = UsageQuery {
                users: Some(strings(&["usr3"])),
                projects: Some(strings(&["acc3"])),
                ..Default::default()
            };
            expect_rows(
                &srv.get(
                    &format!("{P}/usage/global/admin?user=usr3&project=acc3"),
                    "admin",
                ),
                m.usage(&q),
            );
        },
    );
    s.check(
        "admin usage endpoints deny non-admins (fixture current-usage-admin-denied)",
        || {
            for path in ["usage/global/admin", "usage/current/admin"] {
                let r = srv.get(&format!("{P}/{path}"), "usr1");
                expect_error(
                    &r,
                    403,
                    "forbidden",
                    "current user does not have admin privileges",
                );
            }
        },
    );
    s.check("unknown usage mode → 404", || {
        let r = srv.get(&format!("{P}/usage/daily"), "usr1");
        expect(&r, 404, "404 page not found\n");
    });
    s.finish();
}
