//! `/units/verify` with DESIGN §1's rules on the reference data: no uuid → 400, no cluster → 403,
//! admins pass, every distinct uuid must match a unit of the requested clusters (narrowed by
//! `time` ± 1 h), every matched unit must be the caller's or in a project listing the caller;
//! duplicates and multi-cluster matches pass.

use super::{P, Suite, expect, expect_error, reference_model, reference_server};

const PASS: &str = "{\"status\":\"success\",\"data\":null}\n";

#[test]
fn verify_ownership() {
    let srv = reference_server(&[]);
    let m = reference_model();
    let mut s = Suite::new("verify");
    let start_1479763 = 1_645_450_627_000_i64; // slurm-0 and slurm-1

    s.check(
        "fixture verify-pass-query (usr1, slurm-0, 1479763 + 1479765) reproduced literally",
        || {
            let r = srv.get(
                &format!("{P}/units/verify?cluster_id=slurm-0&uuid=1479763&uuid=1479765"),
                "usr1",
            );
            expect(&r, 200, PASS);
        },
    );
    s.check(
        "fixture verify-fail-query (usr2, slurm-1, 1479763 + 11508) → 403",
        || {
            let r = srv.get(
                &format!("{P}/units/verify?cluster_id=slurm-1&uuid=1479763&uuid=11508"),
                "usr2",
            );
            expect_error(
                &r,
                403,
                "forbidden",
                "user do not have permissions on uuids",
            );
        },
    );
    s.check(
        "no uuid → 400 (even for admins, even without cluster)",
        || {
            for (q, user) in [
                ("cluster_id=slurm-0", "usr1"),
                ("", "usr1"),
                ("cluster_id=slurm-0", "adm1"),
            ] {
                let r = srv.get(&format!("{P}/units/verify?{q}"), user);
                expect_error(&r, 400, "bad_data", "uuids missing in the request");
            }
        },
    );
    s.check("no cluster_id → 403", || {
        let r = srv.get(&format!("{P}/units/verify?uuid=1479763"), "usr1");
        expect_error(
            &r,
            403,
            "forbidden",
            "user do not have permissions on uuids",
        );
    });
    let start = start_1479763.to_string();
    let cases: Vec<(&str, String, bool)> = vec![
        // Colleagues' units of a shared project pass.
        (
            "usr8",
            "cluster_id=slurm-0&uuid=11508&uuid=81510".into(),
            true,
        ),
        ("usr15", "cluster_id=slurm-1&uuid=1479763".into(), true),
        // Duplicated uuids pass (the original failed: 1 row ≠ 2 uuids).
        (
            "usr1",
            "cluster_id=slurm-0&uuid=1479763&uuid=1479763".into(),
            true,
        ),
        // A uuid in both requested clusters passes (two matches).
        (
            "usr1",
            "cluster_id=slurm-0&cluster_id=slurm-1&uuid=1479763".into(),
            true,
        ),
        // Units of projects the user is not in fail, also mixed with good ones.
        ("usr1", "cluster_id=slurm-0&uuid=147975".into(), false),
        (
            "usr1",
            "cluster_id=slurm-0&uuid=1479763&uuid=147975".into(),
            false,
        ),
        // Unknown uuid or wrong cluster fails.
        ("usr1", "cluster_id=slurm-0&uuid=999".into(), false),
        ("usr1", "cluster_id=slurm-2&uuid=1479763".into(), false),
        ("usr1", "cluster_id=&uuid=1479763".into(), false),
        // Running units count.
        ("usr2", "cluster_id=slurm-0&uuid=3009248".into(), true),
        ("usr1", "cluster_id=slurm-0&uuid=3009248".into(), true),
        // time narrows started_at_ts to ± 1 h (milliseconds).
        (
            "usr1",
            format!("cluster_id=slurm-0&uuid=1479763&time={start}"),
            true,
        ),
        (
            "usr1",
            format!(
                "cluster_id=slurm-0&uuid=1479763&time={}",
                start_1479763 + 3_600_000
            ),
            true,
        ),
        (
            "usr1",
            format!(
                "cluster_id=slurm-0&uuid=1479763&time={}",
                start_1479763 + 3_600_001
            ),
            false,
        ),
        (
            "usr1",
            format!(
                "cluster_id=slurm-0&uuid=1479763&time={}",
                start_1479763 - 3_600_001
            ),
            false,
        ),
        (
            "usr1",
            format!("cluster_id=slurm-0&uuid=1479763&time=1&time={start}"),
            true,
        ),
        // Unparsable times are dropped.
        (
            "usr1",
            "cluster_id=slurm-0&uuid=1479763&time=yesterday".into(),
            true,
        ),
        ("nobody", "cluster_id=slurm-0&uuid=1479763".into(), false),
    ];
    for (user, query, pass) in cases {
        s.check(
            &format!("{user}: {query} → {}", if pass { "pass" } else { "403" }),
            || {
                let get = |k: &str| -> Vec<&str> {
                    query
                        .split('&')
                        .filter_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                        .collect()
                };
                let times: Vec<i64> = get("time").iter().filter_map(|t| t.parse().ok()).collect();
                assert_eq!(
                    m.verify(user, &get("cluster_id"), &get("uuid"), &times),
                    pass,
                    "model disagrees with the case"
                );
                let r = srv.get(&format!("{P}/units/verify?{query}"), user);
                if pass {
                    expect(&r, 200, PASS);
                } else {
                    expect_error(
                        &r,
                        403,
                        "forbidden",
                        "user do not have permissions on uuids",
                    );
                }
            },
        );
    }
    s.check("admins pass (configured and imported)", || {
        for admin in ["adm1", "grafana", "admin"] {
            let r = srv.get(
                &format!("{P}/units/verify?cluster_id=slurm-0&uuid=147975&uuid=1481510"),
                admin,
            );
            expect(&r, 200, PASS);
        }
    });
    s.check("verify needs the user header", || {
        let r = srv.request(
            "GET",
            &format!("{P}/units/verify?cluster_id=slurm-0&uuid=1479763"),
            &[("User-Agent", "t")],
        );
        assert_eq!(r.status, 401);
    });
    s.finish();
}
