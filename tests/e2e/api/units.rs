//! `/units` and `/units/admin` on the reference data: visibility, filters, windows (DESIGN §1:
//! numeric, inclusive, `from` = `to` − 24 h, milliseconds detected), `running`, ordering, field
//! selection and time zones.

use super::model::{UnitsQuery, strings, unit_json};
use super::{P, Suite, expect, expect_error, expect_rows, reference_model, reference_server};

const ALL: (i64, i64) = (1_600_000_000, 1_800_000_000);
const EMPTY: &str = "{\"status\":\"success\",\"data\":[]}\n";

#[test]
fn units_endpoints() {
    let srv = reference_server(&[]);
    let m = reference_model();
    let mut s = Suite::new("units");
    let all = format!("from={}&to={}", ALL.0, ALL.1);
    let rows = |q: &UnitsQuery| {
        m.units(q)
            .iter()
            .map(|u| unit_json(u, None, None))
            .collect::<Vec<_>>()
    };

    s.check(
        "/units lists only the caller's own units (not the project's)",
        || {
            let r = srv.get(&format!("{P}/units?{all}"), "usr1");
            let q = UnitsQuery {
                own: Some("usr1".into()),
                window: Some(ALL),
                ..Default::default()
            };
            assert_eq!(m.units(&q).len(), 4);
            expect_rows(&r, rows(&q));
        },
    );
    s.check("/units ignores ?user=", || {
        let r = srv.get(&format!("{P}/units?{all}&user=usr2"), "usr1");
        let q = UnitsQuery {
            own: Some("usr1".into()),
            window: Some(ALL),
            ..Default::default()
        };
        expect_rows(&r, rows(&q));
    });
    s.check(
        "/units/admin lists everyone's ended units, ordered by cluster and uuid as text",
        || {
            let r = srv.get(&format!("{P}/units/admin?{all}"), "adm1");
            let q = UnitsQuery {
                window: Some(ALL),
                ..Default::default()
            };
            expect_rows(&r, rows(&q));
            let uuids: Vec<String> = r.json()["data"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|u| u["cluster_id"] == "slurm-0")
                .map(|u| u["uuid"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(
                uuids,
                [
                    "1009248", "11508", "14508", "147973", "147975", "1479763", "1479765",
                    "1481508", "1481510", "81510"
                ]
            );
        },
    );
    s.check("/units/admin filters intersect (fixture admin-query parameters)", || {
        let r = srv.get(
            &format!("{P}/units/admin?user=usr3&cluster_id=slurm-0&project=acc3&from=1676934000&to=1677538800"),
            "grafana",
        );
        let q = UnitsQuery {
            users: Some(strings(&["usr3"])),
            clusters: Some(strings(&["slurm-0"])),
            projects: Some(strings(&["acc3"])),
            window: Some((1_676_934_000, 1_677_538_800)),
            ..Default::default()
        };
        assert_eq!(m.units(&q).len(), 2);
        expect_rows(&r, rows(&q));
    });
    s.check("repeated filters are lists", || {
        let r = srv.get(
            &format!("{P}/units/admin?{all}&user=usr1&user=usr2&cluster_id=slurm-1"),
            "admin",
        );
        let q = UnitsQuery {
            users: Some(strings(&["usr1", "usr2"])),
            clusters: Some(strings(&["slurm-1"])),
            window: Some(ALL),
            ..Default::default()
        };
        expect_rows(&r, rows(&q));
    });
    s.check("an empty filter value matches nothing", || {
        expect(
            &srv.get(&format!("{P}/units?{all}&project="), "usr1"),
            200,
            EMPTY,
        );
    });
    s.check(
        "uuid skips the window entirely (from/to not even parsed)",
        || {
            let q = UnitsQuery {
                own: Some("usr1".into()),
                uuids: Some(strings(&["1479763"])),
                ..Default::default()
            };
            assert_eq!(m.units(&q).len(), 2);
            expect_rows(
                &srv.get(&format!("{P}/units?uuid=1479763"), "usr1"),
                rows(&q),
            );
            expect_rows(
                &srv.get(&format!("{P}/units?uuid=1479763&from=garbage"), "usr1"),
                rows(&q),
            );
            expect(
                &srv.get(&format!("{P}/units?uuid=1479763"), "usr2"),
                200,
                EMPTY,
            );
        },
    );
    s.check("fixture uuid-query (usr2, 1481508, acc2, slurm-0)", || {
        let r = srv.get(
            &format!("{P}/units?uuid=1481508&project=acc2&cluster_id=slurm-0"),
            "usr2",
        );
        let q = UnitsQuery {
            own: Some("usr2".into()),
            uuids: Some(strings(&["1481508"])),
            projects: Some(strings(&["acc2"])),
            clusters: Some(strings(&["slurm-0"])),
            ..Default::default()
        };
        expect_rows(&r, rows(&q));
        // The raw per-unit average is shown as stored, 8 decimals.
        assert!(
            r.text()
                .contains(r#""avg_cpu_usage":{"total":14.58000000}"#),
            "{}",
            r.text()
        );
    });
    s.check(
        "running adds not-ended units, by mere presence (running=false too)",
        || {
            // A window with no ended unit: only the running ones.
            let q = UnitsQuery {
                window: Some((1_700_000_000, 1_700_003_600)),
                running: true,
                ..Default::default()
            };
            assert_eq!(m.units(&q).len(), 4);
            for flag in ["running", "running=false", "running=0"] {
                let r = srv.get(
                    &format!("{P}/units/admin?from=1700000000&to=1700003600&{flag}"),
                    "adm1",
                );
                expect_rows(&r, rows(&q));
                assert!(
                    !r.text().contains("ended_at_ts"),
                    "running units omit ended_at_ts"
                );
            }
            let r = srv.get(
                &format!("{P}/units/admin?from=1700000000&to=1700003600"),
                "adm1",
            );
            expect(&r, 200, EMPTY);
        },
    );
    s.check(
        "window is inclusive at both ends (ended exactly at from = to)",
        || {
            let t = 1_676_991_443; // 2023-02-21T15:57:23+0100
            let q = UnitsQuery {
                window: Some((t, t)),
                ..Default::default()
            };
            assert_eq!(m.units(&q).len(), 12);
            expect_rows(
                &srv.get(&format!("{P}/units/admin?from={t}&to={t}"), "adm1"),
                rows(&q),
            );
            let q = UnitsQuery {
                window: Some((t - 10, t)),
                ..Default::default()
            };
            expect_rows(
                &srv.get(&format!("{P}/units/admin?from={}&to={t}", t - 10), "adm1"),
                rows(&q),
            );
            expect(
                &srv.get(
                    &format!("{P}/units/admin?from={}&to={}", t + 1, t + 100),
                    "adm1",
                ),
                200,
                EMPTY,
            );
            expect(
                &srv.get(
                    &format!("{P}/units/admin?from={}&to={}", t - 100, t - 1),
                    "adm1",
                ),
                200,
                EMPTY,
            );
        },
    );
    s.check(
        "only `to`: from = to − 24 h (the original used now − 24 h)",
        || {
            let t = 1_676_991_443;
            let q = UnitsQuery {
                window: Some((t - 86_400, t)),
                ..Default::default()
            };
            assert_eq!(m.units(&q).len(), 16);
            expect_rows(
                &srv.get(&format!("{P}/units/admin?to={t}"), "adm1"),
                rows(&q),
            );
            expect_rows(
                &srv.get(&format!("{P}/units/admin?to=%2B{t}"), "adm1"),
                rows(&q),
            );
            // One second later the 15:26:29 units of the day before are still in, 2022 never.
            let q = UnitsQuery {
                window: Some((t + 3600 - 86_400, t + 3600)),
                ..Default::default()
            };
            expect_rows(
                &srv.get(&format!("{P}/units/admin?to={}", t + 3600), "adm1"),
                rows(&q),
            );
        },
    );
    s.check(
        "no window parameters: the last 24 h, nothing in this data → data []",
        || {
            expect(&srv.get(&format!("{P}/units/admin"), "adm1"), 200, EMPTY);
            expect(&srv.get(&format!("{P}/units"), "usr1"), 200, EMPTY);
        },
    );
    s.check("values ≥ 10^11 are milliseconds", || {
        let q = UnitsQuery {
            window: Some((1_676_934_000, 1_677_538_800)),
            ..Default::default()
        };
        let expected = rows(&q);
        assert!(!expected.is_empty());
        expect_rows(
            &srv.get(
                &format!("{P}/units/admin?from=1676934000000&to=1677538800000"),
                "adm1",
            ),
            expected.clone(),
        );
        expect_rows(
            &srv.get(
                &format!("{P}/units/admin?from=1676934000000&to=1677538800"),
                "adm1",
            ),
            expected,
        );
        // 99 999 999 999 s is still seconds (year 5138): the window then covers everything.
        let q = UnitsQuery {
            window: Some((0, 99_999_999_999)),
            ..Default::default()
        };
        expect_rows(
            &srv.get(&format!("{P}/units/admin?from=0&to=99999999999"), "adm1"),
            rows(&q),
        );
    });
    s.check("the first of repeated from values is used", || {
        let q = UnitsQuery {
            window: Some((1_676_934_000, 1_677_538_800)),
            ..Default::default()
        };
        let r = srv.get(
            &format!("{P}/units/admin?from=1676934000&from=junk&to=1677538800&to=1"),
            "adm1",
        );
        expect_rows(&r, rows(&q));
    });
    s.check("malformed from/to → 400 bad_data", || {
        for (q, which) in [
            ("from=12.5", "from"),
            ("from=abc", "from"),
            ("to=1e9", "to"),
            ("from=1&to=%201", "to"),
        ] {
            let r = srv.get(&format!("{P}/units?{q}"), "usr1");
            expect_error(
                &r,
                400,
                "bad_data",
                &format!("query parameter '{which}': malformed timestamp"),
            );
        }
        let r = srv.get(&format!("{P}/units/admin?from=x"), "adm1");
        expect_error(
            &r,
            400,
            "bad_data",
            "query parameter 'from': malformed timestamp",
        );
    });
    s.check(
        "field selection: unknown names dropped, uuid never omitted",
        || {
            let q = UnitsQuery {
                window: Some(ALL),
                ..Default::default()
            };
            let units = m.units(&q);
            let r = srv.get(
                &format!("{P}/units/admin?{all}&field=uuid&field=foo"),
                "adm1",
            );
            expect_rows(
                &r,
                units
                    .iter()
                    .map(|u| unit_json(u, Some(&["uuid"]), None))
                    .collect(),
            );
            let r = srv.get(
                &format!("{P}/units/admin?{all}&field=name&field=%20state%20&field=ended_at_ts"),
                "adm1",
            );
            let want: Vec<_> = units
                .iter()
                .map(|u| unit_json(u, Some(&["name", "state", "ended_at_ts"]), None))
                .collect();
            assert!(want[0].render().starts_with("{\"uuid\":\"\",\"name\":"));
            expect_rows(&r, want);
            let f = [
                "cluster_id",
                "avg_cpu_usage",
                "tags",
                "allocation",
                "total_outgress_stats",
            ];
            let qs: String = f.iter().map(|x| format!("&field={x}")).collect();
            let r = srv.get(&format!("{P}/units/admin?{all}{qs}"), "adm1");
            expect_rows(
                &r,
                units.iter().map(|u| unit_json(u, Some(&f), None)).collect(),
            );
        },
    );
    s.check("no valid field → 400 invalid query fields", || {
        expect_error(
            &srv.get(&format!("{P}/units?field=uuiid"), "usr1"),
            400,
            "bad_data",
            "invalid query fields",
        );
        expect_error(
            &srv.get(&format!("{P}/units/admin?field="), "adm1"),
            400,
            "bad_data",
            "invalid query fields",
        );
    });
    s.check("timezone converts the three time strings only", || {
        let q = UnitsQuery {
            window: Some(ALL),
            running: true,
            ..Default::default()
        };
        let units = m.units(&q);
        for (param, tz) in [
            ("Europe%2FAthens", Some(chrono_tz::Europe::Athens)),
            ("Europe/Athens", Some(chrono_tz::Europe::Athens)),
            ("UTC", Some(chrono_tz::UTC)),
            ("America%2FNew_York", Some(chrono_tz::America::New_York)),
            // The data zone itself, an unknown zone and an empty value: no conversion.
            ("Europe%2FParis", None),
            ("Mars%2FOlympus", None),
            ("", None),
        ] {
            let r = srv.get(
                &format!("{P}/units/admin?{all}&running&timezone={param}"),
                "adm1",
            );
            expect_rows(&r, units.iter().map(|u| unit_json(u, None, tz)).collect());
        }
        let r = srv.get(
            &format!("{P}/units?uuid=1479763&cluster_id=slurm-0&timezone=Europe%2FAthens"),
            "usr1",
        );
        let t = r.text();
        assert!(
            t.contains(r#""ended_at":"2022-02-21T16:26:29+0200""#),
            "{t}"
        );
        assert!(t.contains(r#""ended_at_ts":1645453589000"#), "{t}");
        let r = srv.get(
            &format!("{P}/units?uuid=2009248&cluster_id=slurm-0&timezone=UTC"),
            "usr3",
        );
        let t = r.text();
        assert!(
            t.contains(r#""ended_at":"Unknown""#)
                && t.contains(r#""started_at":"2023-02-21T14:49:06+0000""#),
            "{t}"
        );
    });
    s.check("full unit objects: field order, omitted empties, generic maps, 8-decimal metrics", || {
        let r = srv.get(&format!("{P}/units?uuid=147975&cluster_id=slurm-0"), "usr3");
        expect(
            &r,
            200,
            concat!(
                r#"{"status":"success","data":[{"cluster_id":"slurm-0","resource_manager":"slurm","uuid":"147975","#,
                r#""name":"test_script1","project":"acc3","groupname":"grp3","username":"usr3","#,
                r#""created_at":"2023-02-21T14:37:02+0100","started_at":"2023-02-21T14:37:07+0100","#,
                r#""ended_at":"2023-02-21T15:26:29+0100","created_at_ts":1676986622000,"started_at_ts":1676986627000,"#,
                r#""ended_at_ts":1676989589000,"elapsed":"00:49:22","state":"CANCELLED by 1003","#,
                r#""allocation":{"billing":80,"cpus":8,"gpus":8,"mem":343597383680,"nodes":1},"#,
                r#""total_time_seconds":{"alloc_cpumemtime":970588160,"alloc_cputime":23696,"alloc_gpumemtime":2962,"alloc_gputime":23696,"walltime":2962},"#,
                r#""avg_cpu_usage":{"total":14.79000000},"avg_cpu_mem_usage":{"total":14.79000000},"#,
                r#""total_cpu_energy_usage_kwh":{"total":14.79000000},"total_cpu_emissions_gms":{"total":14.79000000},"#,
                r#""avg_gpu_usage":{"total":14.79000000},"avg_gpu_mem_usage":{"total":14.79000000},"#,
                r#""total_gpu_energy_usage_kwh":{"total":14.79000000},"total_gpu_emissions_gms":{"total":14.79000000},"#,
                r#""total_io_write_stats":{"bytes":147975,"requests":1479750},"total_io_read_stats":{"bytes":147975,"requests":1479750},"#,
                r#""total_ingress_stats":{"bytes":14797500,"packets":147975000},"total_outgress_stats":{"bytes":14797500,"packets":147975000},"#,
                r#""tags":{"exit_code":"0:0","gid":1003,"nodelist":"compute-0","nodelistexp":"compute-0","partition":"part1","qos":"qos1","uid":1003,"workdir":"/home/usr3"}}]}"#,
                "\n"
            ),
        );
        // A unit with empty maps omits them.
        let r = srv.get(&format!("{P}/units?uuid=1481510&cluster_id=slurm-0"), "usr3");
        let t = r.text();
        assert!(!t.contains("avg_cpu_usage") && t.contains("total_time_seconds"), "{t}");
    });
    s.finish();
}
