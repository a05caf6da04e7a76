//! Tests of the generator. The SQLite checks read the written file back with plain SQL and
//! `chrono`/`serde_json`, independently of the generator's own formatting code.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use rusqlite::Connection;
use serde_json::Value;

use super::*;

fn spec(units: u64, seed: u64) -> GenerateSpec {
    GenerateSpec {
        units,
        seed,
        ..GenerateSpec::default()
    }
}

fn collect(spec: &GenerateSpec) -> Vec<SynthUnit> {
    let mut g = Generator::new(spec);
    let mut out = Vec::new();
    while let Some(u) = g.next_unit() {
        out.push(u.clone());
    }
    out
}

#[test]
fn same_seed_same_rows_other_seed_other_rows() {
    let a = collect(&spec(500, 7));
    let b = collect(&spec(500, 7));
    let c = collect(&spec(500, 8));
    assert_eq!(a.len(), 500);
    assert_eq!(a, b);
    assert_ne!(a, c);

    let (mut ga, mut gb) = (Generator::new(&spec(300, 7)), Generator::new(&spec(300, 7)));
    while ga.next_unit().is_some() {}
    while gb.next_unit().is_some() {}
    assert_eq!(ga.users(), gb.users());
    assert_eq!(ga.projects(), gb.projects());
    assert!(ga.next_unit().is_none());
    assert_eq!(ga.emitted(), 300);
}

#[test]
fn zero_units_give_empty_member_tables() {
    let mut g = Generator::new(&spec(0, 1));
    assert!(g.next_unit().is_none());
    assert!(g.users().is_empty());
    assert!(g.projects().is_empty());
    assert_eq!(g.admin_users().len(), 2);
}

#[test]
fn invalid_specs_are_rejected() {
    let bad = [
        GenerateSpec {
            clusters: 0,
            ..GenerateSpec::default()
        },
        GenerateSpec {
            years: -1.0,
            ..GenerateSpec::default()
        },
        GenerateSpec {
            years: f64::NAN,
            ..GenerateSpec::default()
        },
        GenerateSpec {
            end_ms: i64::MAX,
            ..GenerateSpec::default()
        },
    ];
    for s in bad {
        assert!(
            matches!(s.validate(), Err(Error::InvalidArgument(_))),
            "{s:?}"
        );
    }
    assert!(GenerateSpec::default().validate().is_ok());
}

#[test]
fn units_start_in_order_within_the_span() {
    let s = spec(3_000, 3);
    let units = collect(&s);
    let begin = s.end_ms - (s.years * 365.25 * 86_400_000.0) as i64;
    let mut previous = i64::MIN;
    for u in &units {
        assert!(
            u.started_at_ts >= previous,
            "unit {} starts before its predecessor",
            u.id
        );
        previous = u.started_at_ts;
        assert!(u.started_at_ts >= begin - 1000 && u.started_at_ts < s.end_ms);
        assert!(u.created_at_ts <= u.started_at_ts);
    }
    // Load grows: the last third of the span has more starts than the first.
    let third = (s.end_ms - begin) / 3;
    let early = units
        .iter()
        .filter(|u| u.started_at_ts < begin + third)
        .count();
    let late = units
        .iter()
        .filter(|u| u.started_at_ts >= s.end_ms - third)
        .count();
    assert!(late > early, "early {early}, late {late}");
    // SLURM job ids increase per cluster.
    let mut last_job: HashMap<&str, u64> = HashMap::new();
    for u in units.iter().filter(|u| u.resource_manager == "slurm") {
        let id: u64 = u.uuid.parse().unwrap();
        let prev = last_job.insert(&u.cluster_id, id).unwrap_or(0);
        assert!(id > prev);
    }
}

/// Columns of the reference database, `(name, type, default)` in order.
const UNITS_COLUMNS: [(&str, &str, Option<&str>); 34] = [
    ("id", "INTEGER", None),
    ("resource_manager", "TEXT", Some("\"\"")),
    ("cluster_id", "TEXT", None),
    ("uuid", "TEXT", None),
    ("name", "TEXT", None),
    ("project", "TEXT", None),
    ("groupname", "TEXT", None),
    ("username", "TEXT", None),
    ("created_at", "TEXT", None),
    ("started_at", "TEXT", None),
    ("ended_at", "TEXT", None),
    ("created_at_ts", "INTEGER", None),
    ("started_at_ts", "INTEGER", None),
    ("ended_at_ts", "INTEGER", None),
    ("elapsed", "TEXT", None),
    ("state", "TEXT", None),
    ("allocation", "TEXT", Some("'{}'")),
    ("tags", "TEXT", Some("'{}'")),
    ("total_time_seconds", "TEXT", Some("'{}'")),
    ("avg_cpu_usage", "TEXT", Some("'{}'")),
    ("avg_cpu_mem_usage", "TEXT", Some("'{}'")),
    ("total_cpu_energy_usage_kwh", "TEXT", Some("'{}'")),
    ("total_cpu_emissions_gms", "TEXT", Some("'{}'")),
    ("avg_gpu_usage", "TEXT", Some("'{}'")),
    ("avg_gpu_mem_usage", "TEXT", Some("'{}'")),
    ("total_gpu_energy_usage_kwh", "TEXT", Some("'{}'")),
    ("total_gpu_emissions_gms", "TEXT", Some("'{}'")),
    ("total_io_write_stats", "TEXT", Some("'{}'")),
    ("total_io_read_stats", "TEXT", Some("'{}'")),
    ("total_ingress_stats", "TEXT", Some("'{}'")),
    ("total_outgress_stats", "TEXT", Some("'{}'")),
    ("ignore", "INTEGER", None),
    ("num_updates", "INTEGER", Some("0")),
    ("last_updated_at", "TEXT", None),
];

const MEMBER_COLUMNS: [&str; 8] = [
    "id",
    "uid",
    "cluster_id",
    "resource_manager",
    "name",
    "MEMBERS",
    "tags",
    "last_updated_at",
];

fn columns(conn: &Connection, table: &str) -> Vec<(String, String, Option<String>)> {
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({table})"))
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(4)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn indexes(conn: &Connection) -> BTreeSet<(String, String, bool)> {
    let mut out = BTreeSet::new();
    for table in [
        "schema_migrations",
        "units",
        "usage",
        "users",
        "projects",
        "admin_users",
    ] {
        let mut stmt = conn
            .prepare(&format!("PRAGMA index_list({table})"))
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, bool>(2)?)))
            .unwrap();
        for r in rows {
            let (name, unique) = r.unwrap();
            let mut info = conn.prepare(&format!("PRAGMA index_info({name})")).unwrap();
            let cols: Vec<String> = info
                .query_map([], |r| r.get(2))
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
            out.insert((name, cols.join(","), unique));
        }
    }
    out
}

/// Checks the literal spelling of every number of a metric map: an integer, or exactly eight
/// decimals. Keys of the generated maps contain neither `:` nor `,`.
fn check_number_spelling(text: &str) {
    let inner = text.trim_start_matches('{').trim_end_matches('}');
    if inner.is_empty() {
        return;
    }
    for entry in inner.split(',') {
        let (_, value) = entry.split_once(':').unwrap();
        let ok = value.parse::<i64>().is_ok()
            || value
                .split_once('.')
                .is_some_and(|(int, frac)| int.parse::<i64>().is_ok() && frac.len() == 8);
        assert!(ok, "badly spelled number {value} in {text}");
    }
}

fn parse_offset_time(s: &str) -> i64 {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .timestamp_millis()
}

fn elapsed_seconds(s: &str) -> i64 {
    let (days, hms) = match s.split_once('-') {
        Some((d, rest)) => (d.parse::<i64>().unwrap(), rest),
        None => (0, s),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    assert_eq!(parts.len(), 3, "{s}");
    assert!(parts.iter().all(|p| p.len() == 2), "{s}");
    let p: Vec<i64> = parts.iter().map(|p| p.parse().unwrap()).collect();
    assert!(p[1] < 60 && p[2] < 60 && p[0] < 24, "{s}");
    if days > 0 {
        assert!(!s.starts_with('0'), "{s}");
    }
    days * 86_400 + p[0] * 3600 + p[1] * 60 + p[2]
}

type Pairs = BTreeSet<(String, String, String)>;

#[test]
fn sqlite_file_is_a_consistent_ceems_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ceems.db");
    let s = spec(2_000, 11);
    let mut calls = Vec::new();
    let summary = write_ceems_sqlite(&s, &path, &mut |n| calls.push(n)).unwrap();
    assert_eq!(summary.units, 2_000);
    assert_eq!(summary.clusters, 3);
    assert_eq!(calls.last(), Some(&2_000));

    // Never overwrites.
    let again = write_ceems_sqlite(&s, &path, &mut |_| {});
    assert!(matches!(again, Err(Error::InvalidArgument(_))));

    let conn = Connection::open(&path).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();

    // Schema.
    let units_cols = columns(&conn, "units");
    let want: Vec<(String, String, Option<String>)> = UNITS_COLUMNS
        .iter()
        .map(|(n, t, d)| (n.to_string(), t.to_string(), d.map(str::to_string)))
        .collect();
    let got: Vec<(String, String, Option<String>)> = units_cols
        .iter()
        .map(|(n, t, d)| (n.clone(), t.to_uppercase(), d.clone()))
        .collect();
    assert_eq!(got, want);
    for (table, members) in [
        ("users", "projects"),
        ("projects", "users"),
        ("admin_users", "projects"),
    ] {
        let names: Vec<String> = columns(&conn, table).into_iter().map(|c| c.0).collect();
        let want: Vec<&str> = MEMBER_COLUMNS
            .iter()
            .map(|c| if *c == "MEMBERS" { members } else { c })
            .collect();
        assert_eq!(names, want, "{table}");
    }
    assert_eq!(columns(&conn, "usage").len(), 22);
    let idx = indexes(&conn);
    for want in [
        ("version_unique", "version", true),
        ("idx_cluster_id_usr_uuid", "cluster_id,username,uuid", false),
        (
            "uq_cluster_id_uuid_start",
            "cluster_id,uuid,started_at",
            true,
        ),
        (
            "uq_cluster_id_project_usr",
            "cluster_id,username,project",
            true,
        ),
        ("uq_cluster_id_user", "cluster_id,name", true),
        ("uq_cluster_id_project", "cluster_id,name", true),
        ("uq_cluster_id_admin_user", "cluster_id,name", true),
    ] {
        assert!(
            idx.contains(&(want.0.to_string(), want.1.to_string(), want.2)),
            "{want:?}"
        );
    }
    assert_eq!(
        count("SELECT version * 10 + dirty FROM schema_migrations"),
        50
    );

    // Counts.
    assert_eq!(count("SELECT count(*) FROM units"), 2_000);
    assert_eq!(count("SELECT count(*) FROM users"), summary.users as i64);
    assert_eq!(
        count("SELECT count(*) FROM projects"),
        summary.projects as i64
    );
    assert_eq!(count("SELECT count(*) FROM admin_users"), 2);
    assert_eq!(count("SELECT count(*) FROM usage"), 0);
    assert_eq!(
        count(
            "SELECT count(*) FROM admin_users WHERE cluster_id = 'all' AND projects = '[]' \
             AND tags = '[\"ceems\"]' AND name IN ('admin', 'ceems-int-svc')"
        ),
        2
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM (SELECT 1 FROM units GROUP BY cluster_id, uuid, started_at \
             HAVING count(*) > 1)"
        ),
        0
    );
    assert_eq!(
        count("SELECT count(DISTINCT cluster_id || '/' || resource_manager) FROM units"),
        3
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM units WHERE cluster_id NOT IN ('slurm-0', 'os-0', 'k8s-0') \
             OR (cluster_id = 'slurm-0') != (resource_manager = 'slurm') \
             OR (cluster_id = 'os-0') != (resource_manager = 'openstack')"
        ),
        0
    );

    // Users and projects tables list each other, and exactly the pairs the units use.
    let mut unit_pairs = Pairs::new();
    {
        let mut stmt = conn
            .prepare("SELECT cluster_id, username, project FROM units")
            .unwrap();
        for r in stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
        {
            unit_pairs.insert(r.unwrap());
        }
    }
    let member_pairs = |table: &str, column: &str, user_is_name: bool| {
        let mut pairs = Pairs::new();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT cluster_id, resource_manager, name, {column}, uid, tags FROM {table}"
            ))
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .unwrap();
        for r in rows {
            let (cluster, rm, name, members, uid, tags) = r.unwrap();
            assert_eq!(tags, "null");
            assert_eq!(
                uid.is_empty(),
                rm != "openstack",
                "{cluster} {name} uid {uid:?}"
            );
            let list: Vec<String> = serde_json::from_str(&members).unwrap();
            assert!(!list.is_empty());
            let mut sorted = list.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(
                list, sorted,
                "{table} {name}: members not sorted and unique"
            );
            for m in list {
                let (user, project) = if user_is_name {
                    (name.clone(), m)
                } else {
                    (m, name.clone())
                };
                pairs.insert((cluster.clone(), user, project));
            }
        }
        pairs
    };
    assert_eq!(member_pairs("users", "projects", true), unit_pairs);
    assert_eq!(member_pairs("projects", "users", false), unit_pairs);
    assert_eq!(
        count("SELECT count(*) FROM (SELECT cluster_id, name FROM users GROUP BY 1, 2)"),
        summary.users as i64
    );

    // Every unit, column by column.
    let tz = s.time_zone;
    let mut stmt = conn.prepare("SELECT * FROM units ORDER BY id").unwrap();
    let mut rows = stmt.query([]).unwrap();
    let (mut gpu, mut running, mut ignored, mut n) = (0, 0, 0, 0);
    let mut offsets = BTreeSet::new();
    while let Some(r) = rows.next().unwrap() {
        n += 1;
        let text = |i: usize| r.get::<_, String>(i).unwrap();
        let int = |i: usize| r.get::<_, i64>(i).unwrap();
        let (rm, uuid) = (text(1), text(3));
        let (created_ts, started_ts, ended_ts) = (int(11), int(12), int(13));

        // Time strings agree with the timestamps and with chrono's rendering in the zone.
        for (col, ts) in [(8, created_ts), (9, started_ts), (10, ended_ts)] {
            let s = text(col);
            if col == 10 && ended_ts == 0 {
                let want = if rm == "slurm" { "Unknown" } else { "N/A" };
                assert_eq!(s, want);
                continue;
            }
            assert_eq!(parse_offset_time(&s), ts, "{uuid} column {col}");
            let rendered = Utc
                .timestamp_millis_opt(ts)
                .unwrap()
                .with_timezone(&tz)
                .format("%Y-%m-%dT%H:%M:%S%z")
                .to_string();
            assert_eq!(s, rendered);
            offsets.insert(s[19..].to_string());
        }
        assert!(created_ts <= started_ts);
        assert!(ended_ts == 0 || ended_ts >= started_ts + 1000);
        assert!(started_ts < s.end_ms && ended_ts <= s.end_ms);

        let last_updated = NaiveDateTime::parse_from_str(&text(33), "%Y-%m-%dT%H:%M:%S").unwrap();
        let candidates = tz.from_local_datetime(&last_updated);
        let seen_until = if ended_ts == 0 { s.end_ms } else { ended_ts };
        // Readers take the first pass of a repeated hour: that reading must not precede the end.
        assert!(
            candidates.earliest().is_some_and(
                |t| t.timestamp_millis() >= seen_until && t.timestamp_millis() <= s.end_ms
            ),
            "{uuid}: last_updated_at {last_updated}"
        );
        assert!(int(32) >= 1, "num_updates");

        // Metric maps: JSON objects of numbers (or null), numbers spelled as CEEMS does.
        let mut maps = Vec::new();
        for col in 18..31 {
            let t = text(col);
            let v: Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("{t}: {e}"));
            match &v {
                Value::Null => {}
                Value::Object(o) => {
                    assert!(o.values().all(Value::is_number), "{t}");
                    check_number_spelling(&t);
                }
                _ => panic!("metric map {t} is neither an object nor null"),
            }
            maps.push(v);
        }
        let time = &maps[0];
        let key = |k: &str| time[k].as_f64().unwrap();
        let walltime = key("walltime");
        if ended_ts > 0 {
            assert_eq!(walltime, ((ended_ts - started_ts) / 1000) as f64, "{uuid}");
        } else {
            running += 1;
            assert!(walltime <= ((s.end_ms - started_ts) / 1000) as f64);
        }
        if key("alloc_gputime") > 0.0 {
            gpu += 1;
            assert!(key("alloc_gpumemtime") > 0.0);
        } else {
            assert_eq!(
                maps[5],
                Value::Object(Default::default()),
                "{uuid}: GPU map without GPU"
            );
        }
        let allocation: Value = serde_json::from_str(&text(16)).unwrap();
        let tags: Value = serde_json::from_str(&text(17)).unwrap();
        assert!(allocation.is_object() && tags.is_object());
        let elapsed = elapsed_seconds(&text(14));
        match rm.as_str() {
            "slurm" => {
                let cpus = allocation["cpus"].as_f64().unwrap();
                assert_eq!(key("alloc_cputime"), cpus * walltime);
                assert_eq!(
                    allocation["gpus"].as_f64().unwrap() > 0.0,
                    key("alloc_gputime") > 0.0
                );
                assert_eq!(elapsed as f64, walltime);
                assert!(uuid.parse::<u64>().is_ok());
                assert!(!text(6).is_empty(), "slurm units have a group");
                assert!(tags["uid"].is_u64() && tags["partition"].is_string());
                let state = text(15);
                assert_eq!(ended_ts == 0, state == "RUNNING", "{state}");
            }
            "openstack" => {
                assert_eq!(
                    key("alloc_cputime"),
                    allocation["vcpus"].as_f64().unwrap() * walltime
                );
                assert!(allocation["name"].is_string() && allocation["extra_specs"].is_object());
                assert!(text(6).is_empty());
                assert!(elapsed as f64 >= walltime);
                assert_eq!(uuid.len(), 36);
                let state = text(15);
                assert_eq!(ended_ts > 0, state.ends_with("DELETED"), "{state}");
            }
            "k8s" => {
                assert!(allocation["vcpus"].is_number() && allocation["mem"].is_number());
                assert!(tags["qos"].is_string());
                assert_eq!(uuid.len(), 36);
                let state = text(15);
                assert_eq!(ended_ts == 0, state.starts_with("Running"), "{state}");
            }
            other => panic!("unexpected resource manager {other}"),
        }
        if int(31) == 1 {
            ignored += 1;
            assert!(ended_ts > 0);
        }
    }
    assert_eq!(n, 2_000);
    let gpu_share = f64::from(gpu) / 2_000.0;
    assert!((0.15..0.45).contains(&gpu_share), "GPU share {gpu_share}");
    assert!(running > 0 && running < 300, "running {running}");
    assert_eq!(summary.running_units, running as u64);
    assert_eq!(summary.gpu_units, gpu as u64);
    assert!(ignored < 100, "ignored {ignored}");
    // Three years in Europe/Paris cover both winter and summer time.
    assert!(
        offsets.contains("+0100") && offsets.contains("+0200"),
        "{offsets:?}"
    );
}

#[test]
fn refuses_to_overwrite_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taken.db");
    std::fs::write(&path, b"keep me").unwrap();
    let r = write_ceems_sqlite(&spec(10, 1), &path, &mut |_| {});
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}

#[test]
fn member_rows_have_the_formats_of_each_manager() {
    let mut g = Generator::new(&spec(1_000, 5));
    while g.next_unit().is_some() {}
    let users = g.users();
    for u in &users {
        match u.resource_manager.as_str() {
            // SLURM: wall-clock time without offset.
            "slurm" => assert_eq!(u.last_updated_at.len(), 19),
            _ => assert_eq!(u.last_updated_at.len(), 24),
        }
    }
    assert!(
        users.iter().any(|u| u.name.ends_with(":svc")),
        "k8s service accounts"
    );
    let admins = g.admin_users();
    assert_eq!(admins[0].name, "admin");
    assert_eq!(admins[1].name, "ceems-int-svc");
    assert_eq!(admins[0].last_updated_at, "2026-11-01T01:00:00");
}

#[test]
fn last_updates_in_a_repeated_hour_read_back_no_earlier_than_the_end() {
    // Three days around the night of 2025-10-26, when Paris lives 02:00–03:00 twice.
    let s = GenerateSpec {
        units: 5_000,
        end_ms: 1_761_523_200_000, // 2025-10-27T00:00:00Z
        years: 3.0 / 365.25,
        ..spec(0, 5)
    };
    let tz = s.time_zone;
    let mut checked = 0;
    let mut ends_in_second_pass = 0;
    for u in collect(&s) {
        if u.last_updated_at.len() != 19 {
            continue; // with an offset: unambiguous
        }
        let naive = NaiveDateTime::parse_from_str(&u.last_updated_at, "%Y-%m-%dT%H:%M:%S").unwrap();
        // How readers take an offset-less time: the first pass of a repeated hour.
        let read_back = tz.from_local_datetime(&naive).earliest().unwrap();
        let seen_until = if u.ended_at_ts == 0 {
            s.end_ms
        } else {
            u.ended_at_ts
        };
        assert!(
            read_back.timestamp_millis() >= seen_until,
            "unit {}: last_updated_at {} reads back before its end {}",
            u.id,
            u.last_updated_at,
            seen_until
        );
        checked += 1;
        if u.ended_at_ts != 0 {
            let local = Utc
                .timestamp_millis_opt(u.ended_at_ts)
                .unwrap()
                .with_timezone(&tz)
                .naive_local();
            if tz
                .from_local_datetime(&local)
                .earliest()
                .unwrap()
                .timestamp_millis()
                < u.ended_at_ts
            {
                ends_in_second_pass += 1;
            }
        }
    }
    assert!(
        checked > 1000,
        "{checked} units with an offset-less last update"
    );
    assert!(
        ends_in_second_pass > 0,
        "no unit ends in the repeated hour: the case is not exercised"
    );
}
