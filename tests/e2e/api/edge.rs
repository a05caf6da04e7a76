//! Edge cases the reference database cannot show, on a copy of it with a few changed and added
//! rows: ignored units, `<>&` in strings, non-integral and huge metric values, metric keys with
//! `-` and `.`, a weighted average that the original would have truncated and diluted, a unit
//! owned by a non-member of its project, a uuid reused across clusters, a project without
//! members.

use std::path::Path;

use chrono::{NaiveDateTime, TimeZone};
use rusqlite::params;

use super::model::{self, DATA_TZ, UnitsQuery, UsageQuery, round_window, strings, unit_json};
use super::{CONFIG, P, Suite, edge_fixture, enc, expect, expect_error, expect_rows};
use ceems_lake_tests::Server;

/// `YYYY-MM-DDTHH:MM:SS` in the data zone → (string with offset, Unix ms).
fn at(local: &str) -> (String, i64) {
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%dT%H:%M:%S").expect("time");
    let t = DATA_TZ
        .from_local_datetime(&naive)
        .single()
        .expect("unambiguous");
    (
        t.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
        t.timestamp_millis(),
    )
}

struct EdgeUnit {
    cluster: &'static str,
    uuid: &'static str,
    name: &'static str,
    project: &'static str,
    user: &'static str,
    start: &'static str,
    /// `None`: still running.
    end: Option<&'static str>,
    ignore: bool,
    allocation: &'static str,
    tags: &'static str,
    /// (column, JSON) for the metric maps that are not `{}`.
    maps: &'static [(&'static str, &'static str)],
    last_updated: &'static str,
}

const EDGE_UNITS: &[EdgeUnit] = &[
    EdgeUnit {
        cluster: "slurm-0",
        uuid: "e1",
        name: "edge one",
        project: "acc5",
        user: "usr5",
        start: "2024-07-03T09:00:00",
        end: Some("2024-07-03T10:00:00"),
        ignore: false,
        allocation: r#"{"cpus":3,"mem":1.5}"#,
        tags: r#"{"note":"a<b>&c","uid":1005}"#,
        maps: &[
            (
                "total_time_seconds",
                r#"{"alloc_cputime":3,"walltime":3600}"#,
            ),
            ("avg_cpu_usage", r#"{"global":10}"#),
            ("total_cpu_energy_usage_kwh", r#"{"total":0.5}"#),
            ("total_cpu_emissions_gms", r#"{"rte-total.x":0.000000001}"#),
        ],
        last_updated: "2024-07-03T10:15:00",
    },
    EdgeUnit {
        cluster: "slurm-0",
        uuid: "e2",
        name: "edge two",
        project: "acc5",
        user: "usr5",
        start: "2024-07-03T09:30:00",
        end: Some("2024-07-03T10:00:00"),
        ignore: false,
        allocation: r#"{"cpus":1}"#,
        tags: "{}",
        maps: &[
            (
                "total_time_seconds",
                r#"{"alloc_cputime":1,"walltime":1800}"#,
            ),
            ("avg_cpu_usage", r#"{"global":11}"#),
            ("total_cpu_energy_usage_kwh", r#"{"total":2.25}"#),
            ("total_cpu_emissions_gms", r#"{"rte-total.x":3}"#),
            ("total_io_write_stats", r#"{"bytes":100000000000000000000}"#),
        ],
        last_updated: "2024-07-03T10:15:00",
    },
    EdgeUnit {
        cluster: "slurm-0",
        uuid: "e3",
        name: "edge running",
        project: "acc5",
        user: "usr5",
        start: "2024-07-03T09:45:00",
        end: None,
        ignore: false,
        allocation: r#"{"cpus":5}"#,
        tags: "{}",
        // Weight but no average key: must not dilute the average.
        maps: &[(
            "total_time_seconds",
            r#"{"alloc_cputime":5,"walltime":900}"#,
        )],
        last_updated: "2024-07-03T10:15:00",
    },
    EdgeUnit {
        cluster: "slurm-0",
        uuid: "e4",
        name: "edge foreign",
        project: "acc1",
        user: "usr5",
        start: "2024-07-03T09:00:00",
        end: Some("2024-07-03T09:30:00"),
        ignore: false,
        allocation: r#"{"cpus":2}"#,
        tags: "{}",
        maps: &[
            (
                "total_time_seconds",
                r#"{"alloc_cputime":2,"walltime":1800}"#,
            ),
            ("avg_cpu_usage", r#"{"global":4.25}"#),
        ],
        last_updated: "2024-07-03T10:15:00",
    },
    EdgeUnit {
        cluster: "slurm-1",
        uuid: "e1",
        name: "edge reused id",
        project: "acc6",
        user: "usr6",
        start: "2024-07-03T12:00:00",
        end: Some("2024-07-03T13:00:00"),
        ignore: false,
        allocation: r#"{"cpus":4}"#,
        tags: "{}",
        maps: &[
            (
                "total_time_seconds",
                r#"{"alloc_cputime":4,"walltime":3600}"#,
            ),
            ("avg_cpu_usage", r#"{"global":1}"#),
        ],
        last_updated: "2024-07-03T13:15:00",
    },
    EdgeUnit {
        cluster: "slurm-0",
        uuid: "e6",
        name: "edge ignored",
        project: "acc5",
        user: "usr5",
        start: "2024-07-03T09:00:00",
        end: Some("2024-07-03T10:00:00"),
        ignore: true,
        allocation: r#"{"cpus":8}"#,
        tags: "{}",
        maps: &[
            (
                "total_time_seconds",
                r#"{"alloc_cputime":8,"walltime":3600}"#,
            ),
            ("avg_cpu_usage", r#"{"global":20}"#),
        ],
        last_updated: "2024-07-03T10:15:00",
    },
];

/// Copies `reference` to `out` and applies the edge-case changes.
pub(crate) fn build_db(reference: &Path, out: &Path) {
    std::fs::copy(reference, out).expect("copy reference database");
    let c = rusqlite::Connection::open(out).expect("open edge database");
    c.execute_batch(
        r#"
        UPDATE units SET ignore = 1 WHERE cluster_id = 'slurm-0' AND uuid = '14508';
        UPDATE units SET name = 'job <a> & "b"' WHERE cluster_id = 'slurm-1' AND uuid = '14508';
        INSERT INTO projects (uid, cluster_id, resource_manager, name, users, tags, last_updated_at) VALUES
          ('p-5', 'slurm-0', 'slurm', 'acc5', '["usr5"]', '["x<y>&z"]', '2024-07-03T10:15:00'),
          ('', 'slurm-1', 'slurm', 'acc6', '["usr6"]', 'null', '2024-07-03T10:15:00'),
          ('', 'slurm-0', 'slurm', 'ghost', '[]', 'null', '2024-07-03T10:15:00');
        INSERT INTO users (uid, cluster_id, resource_manager, name, projects, tags, last_updated_at) VALUES
          ('1005', 'slurm-0', 'slurm', 'usr5', '["acc5"]', '["t&1"]', '2024-07-03T10:15:00'),
          ('', 'slurm-1', 'slurm', 'usr6', '["acc6"]', 'null', '2024-07-03T10:15:00');
        "#,
    )
    .expect("edge changes");
    for u in EDGE_UNITS {
        let (start, start_ms) = at(u.start);
        let (end, end_ms) = match u.end {
            Some(e) => at(e),
            None => ("Unknown".to_string(), 0),
        };
        c.execute(
            "INSERT INTO units (resource_manager, cluster_id, uuid, name, project, groupname, username, \
             created_at, started_at, ended_at, created_at_ts, started_at_ts, ended_at_ts, elapsed, state, \
             allocation, tags, ignore, num_updates, last_updated_at) \
             VALUES ('slurm', ?1, ?2, ?3, ?4, 'grp5', ?5, ?6, ?6, ?7, ?8, ?8, ?9, '01:00:00', ?10, ?11, ?12, ?13, 1, ?14)",
            params![
                u.cluster,
                u.uuid,
                u.name,
                u.project,
                u.user,
                start,
                end,
                start_ms,
                end_ms,
                if u.end.is_some() { "COMPLETED" } else { "RUNNING" },
                u.allocation,
                u.tags,
                u.ignore as i64,
                u.last_updated
            ],
        )
        .expect("insert edge unit");
        for (column, value) in u.maps {
            assert!(model::METRICS.contains(column));
            c.execute(
                &format!("UPDATE units SET {column} = ?1 WHERE cluster_id = ?2 AND uuid = ?3"),
                params![value, u.cluster, u.uuid],
            )
            .expect("set edge metric");
        }
    }
}

#[test]
fn edge_cases() {
    let (_, store, m) = edge_fixture();
    let srv = Server::start(store, Some(CONFIG), &[]);
    let mut s = Suite::new("edge cases");
    let all = "from=1600000000&to=1800000000";

    s.check(
        "ignored units are hidden from /units/admin, others listed in order",
        || {
            let r = srv.get(&format!("{P}/units/admin?{all}&running"), "adm1");
            let q = UnitsQuery {
                window: Some((1_600_000_000, 1_800_000_000)),
                running: true,
                ..Default::default()
            };
            let units = m.units(&q);
            assert!(
                !units
                    .iter()
                    .any(|u| u.uuid == "e6" || (u.uuid == "14508" && u.cluster_id == "slurm-0"))
            );
            expect_rows(&r, units.iter().map(|u| unit_json(u, None, None)).collect());
        },
    );
    s.check("ignored units are hidden from /units even by uuid", || {
        let r = srv.get(&format!("{P}/units?uuid=e6"), "usr5");
        expect(&r, 200, "{\"status\":\"success\",\"data\":[]}\n");
    });
    s.check("ignored units count in stats and clusters", || {
        let r = srv.get(&format!("{P}/stats/global/admin"), "adm1");
        expect_rows(&r, m.stats_json(None, None));
        let r = srv.get(&format!("{P}/clusters/admin"), "adm1");
        expect_rows(&r, m.clusters_json());
    });
    s.check("ignored units pass verify", || {
        let r = srv.get(
            &format!("{P}/units/verify?cluster_id=slurm-0&uuid=14508"),
            "usr4",
        );
        expect(&r, 200, "{\"status\":\"success\",\"data\":null}\n");
    });
    s.check("<>& and quotes are escaped like Go's encoder", || {
        let r = srv.get(
            &format!("{P}/units/admin?cluster_id=slurm-1&uuid=14508"),
            "adm1",
        );
        let q = UnitsQuery {
            clusters: Some(strings(&["slurm-1"])),
            uuids: Some(strings(&["14508"])),
            ..Default::default()
        };
        expect_rows(
            &r,
            m.units(&q)
                .iter()
                .map(|u| unit_json(u, None, None))
                .collect(),
        );
        assert!(
            r.text()
                .contains(r#""name":"job \u003ca\u003e \u0026 \"b\"""#),
            "{}",
            r.text()
        );
        let r = srv.get(&format!("{P}/units?uuid=e1"), "usr5");
        assert!(
            r.text().contains(r#""note":"a\u003cb\u003e\u0026c""#),
            "{}",
            r.text()
        );
        let r = srv.get(&format!("{P}/projects?project=acc5"), "usr5");
        assert!(
            r.text().contains(r#""tags":["x\u003cy\u003e\u0026z"]"#),
            "{}",
            r.text()
        );
    });
    s.check(
        "generic maps keep non-integral numbers, metric maps use 8 decimals",
        || {
            let r = srv.get(&format!("{P}/units?uuid=e1&uuid=e2"), "usr5");
            let q = UnitsQuery {
                own: Some("usr5".into()),
                uuids: Some(strings(&["e1", "e2"])),
                ..Default::default()
            };
            expect_rows(
                &r,
                m.units(&q)
                    .iter()
                    .map(|u| unit_json(u, None, None))
                    .collect(),
            );
            let t = r.text();
            assert!(t.contains(r#""allocation":{"cpus":3,"mem":1.5}"#), "{t}");
            assert!(
                t.contains(r#""total_cpu_emissions_gms":{"rte-total.x":0.00000000}"#),
                "{t}"
            );
            assert!(
                t.contains(r#""total_cpu_energy_usage_kwh":{"total":0.50000000}"#),
                "{t}"
            );
            assert!(
                t.contains(r#""total_io_write_stats":{"bytes":100000000000000000000.00000000}"#),
                "{t}"
            );
        },
    );
    s.check("/projects/admin hides projects without members; uid and tags rendered", || {
        let r = srv.get(&format!("{P}/projects/admin"), "adm1");
        expect_rows(&r, m.projects_json(None, None, None));
        assert!(!r.text().contains("ghost"));
        let r = srv.get(&format!("{P}/projects?project=acc5"), "usr5");
        expect(
            &r,
            200,
            "{\"status\":\"success\",\"data\":[{\"uid\":\"p-5\",\"cluster_id\":\"slurm-0\",\"resource_manager\":\"slurm\",\
             \"name\":\"acc5\",\"users\":[\"usr5\"],\"tags\":[\"x\\u003cy\\u003e\\u0026z\"]}]}\n",
        );
    });
    s.check("/users renders uid, projects and tags", || {
        let r = srv.get(&format!("{P}/users"), "usr5");
        expect_rows(&r, m.users_json(Some(strings(&["usr5"])), None));
        expect(
            &r,
            200,
            "{\"status\":\"success\",\"data\":[{\"uid\":\"1005\",\"cluster_id\":\"slurm-0\",\"resource_manager\":\"slurm\",\
             \"name\":\"usr5\",\"projects\":[\"acc5\"],\"tags\":[\"t\\u00261\"]}]}\n",
        );
    });

    // 2024-07-03 08:00Z .. 10:00Z: the slurm-0 edge units (updated 08:15Z), not e1 on slurm-1.
    let (wf, wt) = (1_719_993_600, 1_720_000_800);
    s.check(
        "usage/current: weighted average over units carrying the key, float arithmetic",
        || {
            let r = srv.get(&format!("{P}/usage/current?from={wf}&to={wt}"), "usr5");
            let q = UsageQuery {
                users: Some(strings(&["usr5"])),
                window: Some(round_window(wf, wt)),
                ..Default::default()
            };
            expect_rows(&r, m.usage(&q));
            let t = r.text();
            // (10·3 + 11·1 + 20·8) / (3 + 1 + 8): the ignored unit counts, the running unit without
            // the key does not dilute, no integer division.
            assert!(
                t.contains(r#""avg_cpu_usage":{"global":16.75000000}"#),
                "{t}"
            );
            assert!(
                t.contains(r#""total_cpu_emissions_gms":{"rte-total.x":3.00000000}"#),
                "{t}"
            );
            assert!(
                t.contains(r#""total_cpu_energy_usage_kwh":{"total":2.75000000}"#),
                "{t}"
            );
            assert!(t.contains(r#""num_units":4"#), "{t}");
        },
    );
    s.check(
        "usage/current: member sees a non-member's unit of the project, keys zero-filled",
        || {
            let r = srv.get(&format!("{P}/usage/current?from={wf}&to={wt}"), "usr1");
            let q = UsageQuery {
                users: Some(strings(&["usr1"])),
                window: Some(round_window(wf, wt)),
                ..Default::default()
            };
            let rows = m.usage(&q);
            assert_eq!(rows.len(), 1, "one row: usr5 in acc1");
            expect_rows(&r, rows);
            let t = r.text();
            assert!(
                t.contains(r#""avg_cpu_usage":{"global":4.25000000}"#),
                "{t}"
            );
            assert!(t.contains(r#""total_io_write_stats":{"bytes":0}"#), "{t}");
            assert!(
                t.contains(r#""total_cpu_emissions_gms":{"rte-total.x":0}"#),
                "{t}"
            );
        },
    );
    s.check("usage/current/admin and usage/global on edge data", || {
        let r = srv.get(
            &format!("{P}/usage/current/admin?from={wf}&to={wt}"),
            "adm1",
        );
        let q = UsageQuery {
            window: Some(round_window(wf, wt)),
            ..Default::default()
        };
        expect_rows(&r, m.usage(&q));
        let r = srv.get(&format!("{P}/usage/global/admin"), "adm1");
        expect_rows(&r, m.usage(&UsageQuery::default()));
        let r = srv.get(&format!("{P}/usage/global"), "usr5");
        expect_rows(
            &r,
            m.usage(&UsageQuery {
                users: Some(strings(&["usr5"])),
                ..Default::default()
            }),
        );
    });
    s.check("usage/current __terminated drops running units", || {
        let r = srv.get(
            &format!("{P}/usage/current?from={wf}&to={wt}&__terminated"),
            "usr5",
        );
        let q = UsageQuery {
            users: Some(strings(&["usr5"])),
            window: Some(round_window(wf, wt)),
            terminated: true,
            ..Default::default()
        };
        let rows = m.usage(&q);
        assert!(rows[0].render().contains(r#""num_units":3"#));
        expect_rows(&r, rows);
    });

    let (e1_start, e5_start) = (at("2024-07-03T09:00:00").1, at("2024-07-03T12:00:00").1);
    let verify_cases: Vec<(&str, String, bool)> = vec![
        // Own unit in a project that does not list the owner passes (the original failed).
        ("usr5", "cluster_id=slurm-0&uuid=e4".into(), true),
        ("usr1", "cluster_id=slurm-0&uuid=e4".into(), true),
        ("usr2", "cluster_id=slurm-0&uuid=e4".into(), false),
        // e1 exists on both clusters, the slurm-1 one belongs to usr6/acc6.
        (
            "usr5",
            "cluster_id=slurm-0&cluster_id=slurm-1&uuid=e1".into(),
            false,
        ),
        ("usr5", "cluster_id=slurm-0&uuid=e1".into(), true),
        (
            "usr5",
            format!("cluster_id=slurm-0&cluster_id=slurm-1&uuid=e1&time={e1_start}"),
            true,
        ),
        (
            "usr5",
            format!("cluster_id=slurm-0&cluster_id=slurm-1&uuid=e1&time={e5_start}"),
            false,
        ),
        (
            "usr6",
            format!("cluster_id=slurm-0&cluster_id=slurm-1&uuid=e1&time={e5_start}"),
            true,
        ),
        // Both times: the window spans both units.
        (
            "usr6",
            format!(
                "cluster_id=slurm-0&cluster_id=slurm-1&uuid=e1&time={e1_start}&time={e5_start}"
            ),
            false,
        ),
        (
            "usr5",
            "cluster_id=slurm-0&uuid=e1&uuid=e2&uuid=e3&uuid=e6".into(),
            true,
        ),
    ];
    for (user, query, pass) in verify_cases {
        s.check(&format!("verify {user} {query} → {pass}"), || {
            let parsed: Vec<(String, String)> = query
                .split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            let get = |k: &str| {
                parsed
                    .iter()
                    .filter(|(a, _)| a == k)
                    .map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
            };
            let times: Vec<i64> = get("time").iter().map(|t| t.parse().unwrap()).collect();
            assert_eq!(
                m.verify(user, &get("cluster_id"), &get("uuid"), &times),
                pass,
                "model disagrees with the case"
            );
            let r = srv.get(&format!("{P}/units/verify?{query}"), user);
            if pass {
                expect(&r, 200, "{\"status\":\"success\",\"data\":null}\n");
            } else {
                expect_error(
                    &r,
                    403,
                    "forbidden",
                    "user do not have permissions on uuids",
                );
            }
        });
    }
    s.check(
        "metric keys with - and . are selectable and aggregated",
        || {
            let r = srv.get(
                &format!(
                    "{P}/usage/global?field=total_cpu_emissions_gms&project={}",
                    enc("acc5")
                ),
                "usr5",
            );
            let q = UsageQuery {
                users: Some(strings(&["usr5"])),
                projects: Some(strings(&["acc5"])),
                fields: Some(strings(&["total_cpu_emissions_gms"])),
                ..Default::default()
            };
            expect_rows(&r, m.usage(&q));
            assert!(r.text().contains("rte-total.x"));
        },
    );
    s.finish();
}
