//! Upserts from a modified copy of a database, then `compact` and `vacuum`: queries see the
//! newest version of every unit exactly once, before and after maintenance.

use std::collections::BTreeMap;
use std::path::Path;

use ceems_lake_tests::{
    import_ceems, import_reference, lake, lake_ok, reference_db, sql_ndjson, vacuum_now,
};
use serde_json::Value;

use super::import::store_units;
use super::reference::{
    ALL_AGGS, MetricMap, SqliteUnit, aggregate_query, assert_maps_close, check_aggregates, copy_db,
    counts_per_cluster, json_i64, json_map, json_str, open_rw, read_units,
    store_counts_per_cluster,
};

const COMPARED_MAPS: [&str; 4] = [
    "total_time_seconds",
    "avg_cpu_usage",
    "total_cpu_energy_usage_kwh",
    "total_io_write_stats",
];

fn per_unit_query() -> String {
    format!(
        "select cluster_id, uuid, cast(started_at_ts as bigint) as st, num_updates, {} from units \
         order by cluster_id, uuid, st",
        COMPARED_MAPS.join(", ")
    )
}

/// A map column of a JSON row; an absent or null value is an empty map.
fn map_or_empty(row: &Value, col: &str) -> MetricMap {
    match &row[col] {
        Value::Null => MetricMap::new(),
        v => json_map(v, col),
    }
}

/// Checks every stored unit against the expected SQLite rows (one row per key).
fn check_units(data: &Path, expected: &[SqliteUnit]) {
    let want: BTreeMap<_, _> = expected.iter().map(|u| (u.key(), u)).collect();
    let rows = sql_ndjson(data, &per_unit_query());
    assert_eq!(rows.len(), want.len(), "number of units");
    for r in &rows {
        let key = (
            json_str(r, "cluster_id"),
            json_str(r, "uuid"),
            json_i64(r, "st"),
        );
        let u = want
            .get(&key)
            .unwrap_or_else(|| panic!("unexpected unit {key:?}"));
        assert_eq!(
            json_i64(r, "num_updates"),
            u.num_updates,
            "num_updates of {key:?}"
        );
        for m in COMPARED_MAPS {
            assert_maps_close(
                &map_or_empty(r, m),
                &u.map(m),
                &format!("{m} of unit {key:?}"),
            );
        }
    }
}

/// The query outputs that must not change across maintenance.
fn snapshot(data: &Path) -> (String, String, BTreeMap<String, u64>) {
    (
        lake_ok(data, &["sql", "--format", "ndjson", &per_unit_query()]),
        lake_ok(
            data,
            &[
                "sql",
                "--format",
                "ndjson",
                &aggregate_query(&ALL_AGGS, true),
            ],
        ),
        store_counts_per_cluster(data),
    )
}

#[test]
fn newer_versions_win_and_maintenance_keeps_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("lake");
    import_reference(&data);
    let original = read_units(&reference_db());

    // A later state of the same database: three units updated by a later ingest cycle, one row
    // carrying an older `last_updated_at` (must not win).
    let db = dir.path().join("later.db");
    copy_db(&reference_db(), &db);
    {
        let conn = open_rw(&db);
        let edits: &[(i64, &str, &str, &str)] = &[
            (
                1,
                "2024-08-01T10:00:00",
                "total_cpu_energy_usage_kwh",
                r#"{"total":99.5}"#,
            ),
            (
                2,
                "2024-08-01T10:00:00",
                "avg_cpu_usage",
                r#"{"total":20.25}"#,
            ),
            (
                14,
                "2024-07-03T00:00:00",
                "total_time_seconds",
                r#"{"alloc_cpumemtime":162856960,"alloc_cputime":9000,"alloc_gpumemtime":497,"alloc_gputime":3976,"walltime":600}"#,
            ),
            (
                3,
                "2020-01-01T00:00:00",
                "total_io_write_stats",
                r#"{"bytes":777}"#,
            ),
        ];
        for (id, updated, col, text) in edits {
            let n = conn
                .execute(
                    &format!(
                        "UPDATE units SET last_updated_at = ?1, {col} = ?2, num_updates = num_updates + 1 \
                         WHERE id = ?3"
                    ),
                    rusqlite::params![updated, text, id],
                )
                .expect("update");
            assert_eq!(n, 1);
        }
    }
    let later = read_units(&db);
    // Expected state: per unit, the row with the newest `last_updated_at` (same format on both
    // sides, so string order is time order).
    let mut merged: BTreeMap<_, SqliteUnit> =
        original.iter().map(|u| (u.key(), u.clone())).collect();
    for u in &later {
        let cur = merged.get(&u.key()).expect("same units");
        if u.last_updated_at > cur.last_updated_at {
            merged.insert(u.key(), u.clone());
        }
    }
    let merged: Vec<SqliteUnit> = merged.into_values().collect();
    assert_eq!(
        merged.iter().filter(|u| u.num_updates == 2).count(),
        3,
        "three units should come from the later database"
    );

    let out = import_ceems(&data, &db, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "second import failed: {stdout}");
    assert!(
        stdout.contains("units replaced:   3 "),
        "three units are newer:\n{stdout}"
    );
    assert!(stdout.contains("units inserted:   0\n"), "{stdout}");

    // No duplicates (store_units panics on a repeated key), newest versions visible.
    assert_eq!(store_units(&data).len(), merged.len());
    assert_eq!(store_counts_per_cluster(&data), counts_per_cluster(&merged));
    check_units(&data, &merged);
    check_aggregates(&data, &merged, &ALL_AGGS);
    let before = snapshot(&data);

    let out = lake_ok(&data, &["compact"]);
    assert!(out.contains("compact"), "{out}");
    assert_eq!(snapshot(&data), before, "compact changed query results");
    check_units(&data, &merged);

    let out = lake_ok(&data, &["compact", "--all"]);
    assert!(out.contains("compact"), "{out}");
    assert_eq!(
        snapshot(&data),
        before,
        "compact --all changed query results"
    );

    // A grace period short enough to delete a commit in flight needs --force; without it
    // nothing is deleted.
    let files_before = parquet_files(&data);
    assert!(files_before > live_files(&data));
    let out = lake(
        &data,
        &["vacuum", "--keep-versions", "1", "--min-age-seconds", "599"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "short grace accepted: {stderr}");
    assert!(
        stderr.contains("--force") && stderr.contains("below 600"),
        "{stderr}"
    );
    assert_eq!(
        parquet_files(&data),
        files_before,
        "refused vacuum deleted files"
    );

    let out = vacuum_now(&data, &["--keep-versions", "1"]);
    assert!(out.starts_with("deleted "), "{out}");
    assert_eq!(snapshot(&data), before, "vacuum changed query results");
    check_units(&data, &merged);
    check_aggregates(&data, &merged, &ALL_AGGS);
    assert_eq!(
        live_files(&data),
        parquet_files(&data),
        "vacuum left unreferenced files or removed live ones"
    );
}

/// Number of data files the current version references (from `info`).
pub(super) fn live_files(data: &Path) -> usize {
    let info = lake_ok(data, &["info"]);
    info.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() >= 7 && w[2] == "rows" && w[4] == "files")
                .then(|| w[3].parse::<usize>().expect("file count"))
        })
        .sum()
}

/// Number of Parquet files under the store folder.
pub(super) fn parquet_files(data: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![data.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read store dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                n += 1;
            }
        }
    }
    n
}
