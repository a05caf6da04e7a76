//! Crash safety: an import killed with SIGKILL at random moments leaves a store that opens,
//! holds exactly the units of the batches it committed (a prefix of the source in `id` order,
//! each unit once and as in the source) and resumes to the complete result.
//!
//! The importer reads `units` in `id` order and commits batch by batch together with the last
//! `id` of the batch; a re-run resumes after it. So after any kill the stored units are exactly
//! the source rows with `id <= P` for some `P`, and their number is a multiple of the batch size
//! (every run starts at a batch boundary) unless the import completed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ceems_lake_tests::{bin, import_ceems, lake_ok, sql_ndjson, store_version, vacuum_now};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::reference::{
    Agg, SqliteUnit, check_aggregates, count_rows, counts_per_cluster, json_i64, json_str,
    read_units, store_count, store_counts_per_cluster,
};

const BATCH: u64 = 500;

type Key = (String, String, i64);

/// Checks the store against the source; returns how many units it holds.
fn check_prefix(
    data: &Path,
    units: &[SqliteUnit],
    by_key: &BTreeMap<Key, &SqliteUnit>,
    ctx: &str,
) -> u64 {
    // The store opens and answers.
    let info = lake_ok(data, &["info"]);
    assert!(info.contains("version:"), "{ctx}: {info}");
    let rows = sql_ndjson(
        data,
        "select cluster_id, uuid, cast(started_at_ts as bigint) as st, num_updates, \
         total_time_seconds['walltime'] as wt from units",
    );
    let mut max_id = 0;
    let mut seen = BTreeMap::new();
    for r in &rows {
        let key = (
            json_str(r, "cluster_id"),
            json_str(r, "uuid"),
            json_i64(r, "st"),
        );
        let u = by_key
            .get(&key)
            .unwrap_or_else(|| panic!("{ctx}: stored unit {key:?} is not in the source"));
        assert!(
            seen.insert(key.clone(), u.id).is_none(),
            "{ctx}: unit {key:?} stored twice"
        );
        assert_eq!(
            json_i64(r, "num_updates"),
            u.num_updates,
            "{ctx}: num_updates of {key:?}"
        );
        let wt = r["wt"].as_f64();
        assert_eq!(
            wt,
            u.map("total_time_seconds").get("walltime").copied(),
            "{ctx}: walltime of {key:?}"
        );
        max_id = max_id.max(u.id);
    }
    let n = rows.len() as u64;
    let prefix = units.iter().filter(|u| u.id <= max_id).count() as u64;
    assert_eq!(
        n, prefix,
        "{ctx}: the stored units are not the source rows up to id {max_id}"
    );
    assert!(
        n.is_multiple_of(BATCH) || n == units.len() as u64,
        "{ctx}: {n} units is not a whole number of batches of {BATCH}"
    );
    let count = ceems_lake_tests::sql_csv(
        data,
        "select count(*), count(distinct uuid || '/' || cluster_id || '/' || cast(cast(started_at_ts as bigint) as varchar)) from units",
    );
    assert_eq!(
        count,
        vec![vec![n.to_string(), n.to_string()]],
        "{ctx}: count(*) vs distinct units"
    );
    n
}

#[test]
fn killed_imports_leave_a_consistent_store_and_resume() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("generated.db");
    lake_ok(
        &dir.path().join("unused"),
        &[
            "generate",
            "--units",
            "20000",
            "--clusters",
            "3",
            "--seed",
            "7",
            "--ceems-sqlite",
            db.to_str().expect("utf-8"),
        ],
    );
    let units = read_units(&db);
    assert_eq!(units.len(), 20_000);
    let by_key: BTreeMap<Key, &SqliteUnit> = units.iter().map(|u| (u.key(), u)).collect();
    assert_eq!(
        by_key.len(),
        units.len(),
        "the source has duplicate unit keys"
    );
    let batch = BATCH.to_string();
    let import_args = ["--batch-size", batch.as_str()];

    // How long one uninterrupted import takes here.
    let started = Instant::now();
    let out = import_ceems(&dir.path().join("timing"), &db, &import_args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let full_ms = started.elapsed().as_millis() as u64;

    let data = dir.path().join("lake");
    let mut rng = StdRng::seed_from_u64(0x5eed_c0de);
    let mut interrupted = 0;
    let mut previous = 0;
    for round in 0..5 {
        let delay = rng.random_range(50..=(full_ms * 9 / 10).max(60));
        let mut child = Command::new(bin())
            .arg("--data")
            .arg(&data)
            .args(["import", "ceems-sqlite"])
            .arg(&db)
            .args(["--time-zone", "Europe/Paris", "--no-progress"])
            .args(import_args)
            .env_remove("CEEMS_LAKE_DATA")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn import");
        ceems_lake_tests::pause(Duration::from_millis(delay));
        let running = child.try_wait().expect("poll import").is_none();
        child.kill().ok();
        let status = child.wait().expect("wait import");
        if running {
            interrupted += 1;
        } else {
            assert!(
                status.success(),
                "round {round}: the import failed by itself: {status}"
            );
        }
        let ctx = format!("round {round} (killed after {delay} ms, running: {running})");
        let n = check_prefix(&data, &units, &by_key, &ctx);
        assert!(
            n >= previous,
            "{ctx}: committed units disappeared ({previous} → {n})"
        );
        previous = n;
    }
    assert!(
        interrupted > 0,
        "no import was interrupted (a full import takes {full_ms} ms)"
    );

    // Resume to completion.
    let out = import_ceems(&data, &db, &import_args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_complete(&data, &db, &units, &by_key);

    // Vacuum deletes what the killed runs left behind, never a committed file.
    let version = store_version(&data);
    vacuum_now(&data, &[]);
    assert_eq!(store_version(&data), version);
    check_complete(&data, &db, &units, &by_key);
    vacuum_now(&data, &["--keep-versions", "1"]);
    check_complete(&data, &db, &units, &by_key);
    assert_eq!(
        super::compact::parquet_files(&data),
        super::compact::live_files(&data),
        "after vacuum --keep-versions 1 exactly the live files should remain"
    );
}

fn check_complete(
    data: &Path,
    db: &Path,
    units: &[SqliteUnit],
    by_key: &BTreeMap<Key, &SqliteUnit>,
) {
    assert_eq!(
        check_prefix(data, units, by_key, "complete"),
        units.len() as u64
    );
    assert_eq!(store_counts_per_cluster(data), counts_per_cluster(units));
    for table in ["users", "projects", "admin_users"] {
        assert_eq!(store_count(data, table), count_rows(db, table), "{table}");
    }
    check_aggregates(
        data,
        units,
        &[
            Agg::Sum("total_time_seconds", false),
            Agg::Avg("avg_cpu_usage", "alloc_cputime", false),
            Agg::Sum("total_gpu_energy_usage_kwh", false),
        ],
    );
}

/// A re-run after a kill lists the rejected rows of the part the killed run committed too
/// (its rejects file is rewritten), and counts each source row once.
#[test]
fn resumed_import_lists_the_rejects_of_the_committed_part() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("generated.db");
    let out = lake_ok(
        &dir.path().join("unused"),
        &[
            "generate",
            "--units",
            "20000",
            "--clusters",
            "2",
            "--seed",
            "11",
            "--ceems-sqlite",
            db.to_str().expect("utf-8"),
        ],
    );
    assert!(out.contains("units:       20000 ("), "{out}");
    // Writing a SQLite file leaves no store folder behind.
    assert!(!dir.path().join("unused").exists());
    // Two unreadable rows: one early (committed before the kill), one at the end.
    let bad_ids = [3i64, 19_990];
    {
        let conn = rusqlite::Connection::open(&db).expect("open generated db");
        for id in bad_ids {
            let n = conn
                .execute(
                    "UPDATE units SET total_time_seconds = '{\"walltime\":\"soon\"}' WHERE id = ?1",
                    [id],
                )
                .expect("corrupt a row");
            assert_eq!(n, 1);
        }
    }
    let data = dir.path().join("lake");
    let spawn = |rejects: &Path| {
        Command::new(bin())
            .arg("--data")
            .arg(&data)
            .args(["import", "ceems-sqlite"])
            .arg(&db)
            .args(["--time-zone", "UTC", "--no-progress", "--batch-size", "500"])
            .arg("--rejects")
            .arg(rejects)
            .env_remove("CEEMS_LAKE_DATA")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn import")
    };
    let manifests = || {
        std::fs::read_dir(data.join("_manifest"))
            .map(|d| d.flatten().count())
            .unwrap_or(0)
    };
    let rejects = dir.path().join("rejects.tsv");
    let mut child = spawn(&rejects);
    let deadline = Instant::now() + Duration::from_secs(120);
    while manifests() < 3 {
        assert!(
            child.try_wait().expect("poll").is_none(),
            "the import finished before it could be killed"
        );
        assert!(Instant::now() < deadline, "no commit within 120 s");
        ceems_lake_tests::pause(Duration::from_millis(5));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let committed = store_count(&data, "units");
    assert!(
        (500..20_000).contains(&committed),
        "the kill should leave a partial import ({committed} units)"
    );

    let out = spawn(&rejects).wait_with_output().expect("re-run");
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("rows rejected:    2"),
        "both bad rows are counted:\n{summary}"
    );
    let listed: Vec<String> = std::fs::read_to_string(&rejects)
        .expect("rejects file")
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap_or("").to_string())
        .collect();
    let want: Vec<String> = bad_ids.iter().map(|id| format!("id {id}")).collect();
    assert_eq!(listed, want, "rejects file after the resumed run");
    assert_eq!(store_count(&data, "units"), 20_000 - bad_ids.len() as u64);
}
