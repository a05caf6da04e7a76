//! `import ceems-sqlite`: row counts, unit identity, idempotency and bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ceems_lake_tests::{
    import_ceems, import_reference, lake, lake_ok, reference_db, store_version,
};

use super::reference::{
    ALL_AGGS, SqliteUnit, aggregate_query, check_aggregates, copy_db, count_rows,
    counts_per_cluster, json_i64, json_str, open_rw, read_units, store_count,
    store_counts_per_cluster,
};

/// Per stored unit: key → (username, project).
pub(super) fn store_units(data: &Path) -> BTreeMap<(String, String, i64), (String, String)> {
    let rows = ceems_lake_tests::sql_ndjson(
        data,
        "select cluster_id, uuid, cast(started_at_ts as bigint) as st, username, project from units",
    );
    let mut out = BTreeMap::new();
    for r in &rows {
        let key = (
            json_str(r, "cluster_id"),
            json_str(r, "uuid"),
            json_i64(r, "st"),
        );
        let prev = out.insert(
            key.clone(),
            (json_str(r, "username"), json_str(r, "project")),
        );
        assert!(prev.is_none(), "unit {key:?} is returned twice");
    }
    out
}

fn sqlite_units_map(units: &[&SqliteUnit]) -> BTreeMap<(String, String, i64), (String, String)> {
    units
        .iter()
        .map(|u| (u.key(), (u.username.clone(), u.project.clone())))
        .collect()
}

/// Every file under `dir` with its size (to see that a failed command wrote nothing).
fn tree(dir: &Path) -> BTreeSet<(PathBuf, u64)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let e = e.expect("dir entry");
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                out.insert((e.path(), meta.len()));
            }
        }
    }
    out
}

#[test]
fn reference_import_counts_match_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("lake");
    import_reference(&data);
    let db = reference_db();
    let units = read_units(&db);
    assert!(!units.is_empty());

    assert_eq!(store_counts_per_cluster(&data), counts_per_cluster(&units));
    assert_eq!(store_count(&data, "units"), count_rows(&db, "units"));
    for table in ["users", "projects", "admin_users"] {
        assert_eq!(
            store_count(&data, table),
            count_rows(&db, table),
            "row count of {table}"
        );
    }
    // The same units, with the same owners.
    let all: Vec<&SqliteUnit> = units.iter().collect();
    assert_eq!(store_units(&data), sqlite_units_map(&all));
}

#[test]
fn importing_the_same_file_twice_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("lake");
    import_reference(&data);
    let version = store_version(&data);
    assert!(version > 0, "the first import committed nothing");
    let info = lake_ok(&data, &["info"]);
    let counts = store_counts_per_cluster(&data);
    let members: Vec<u64> = ["users", "projects", "admin_users"]
        .iter()
        .map(|t| store_count(&data, t))
        .collect();
    let query = aggregate_query(&ALL_AGGS, true);
    let aggregates = lake_ok(&data, &["sql", "--format", "ndjson", &query]);
    let files = tree(&data);

    let out = import_ceems(&data, &reference_db(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "second import failed: {stdout}");
    let n = count_rows(&reference_db(), "units");
    assert!(
        stdout.contains("store unchanged"),
        "the second import should say the store is unchanged:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("units unchanged:  {n} ")),
        "all {n} units should be reported unchanged:\n{stdout}"
    );
    assert!(stdout.contains("units inserted:   0\n"), "{stdout}");
    assert!(stdout.contains("units replaced:   0 "), "{stdout}");

    assert_eq!(
        store_version(&data),
        version,
        "a new manifest version was published"
    );
    assert_eq!(lake_ok(&data, &["info"]), info);
    assert_eq!(
        tree(&data),
        files,
        "the second import wrote or removed files"
    );
    assert_eq!(store_counts_per_cluster(&data), counts);
    let members2: Vec<u64> = ["users", "projects", "admin_users"]
        .iter()
        .map(|t| store_count(&data, t))
        .collect();
    assert_eq!(members2, members);
    assert_eq!(
        lake_ok(&data, &["sql", "--format", "ndjson", &query]),
        aggregates
    );
}

/// Malformed metric JSON in a few rows: those rows are rejected (listed in the rejects file
/// with a reason), every other row is imported.
#[test]
fn malformed_rows_are_rejected_and_the_rest_imported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("bad.db");
    copy_db(&reference_db(), &db);
    let bad: BTreeMap<i64, (&str, &str)> = [
        (3, ("avg_cpu_usage", r#"{"walltime": tru"#)),
        (15, ("total_io_read_stats", r#"{"bytes":"lots"}"#)),
        (20, ("total_time_seconds", "[1,2]")),
        (22, ("total_gpu_emissions_gms", r#"{"rte_total":{"x":1}}"#)),
        (5, ("last_updated_at", "garbage")),
        (7, ("allocation", r#"{"cpus":4,"#)),
        (9, ("started_at_ts", "9223372036854775807")),
        (11, ("ended_at_ts", "-5")),
    ]
    .into_iter()
    .collect();
    {
        let conn = open_rw(&db);
        for (id, (col, text)) in &bad {
            let n = conn
                .execute(
                    &format!("UPDATE units SET {col} = ?1 WHERE id = ?2"),
                    rusqlite::params![text, id],
                )
                .expect("update");
            assert_eq!(n, 1);
        }
    }
    let units = read_units(&db);
    let (valid, invalid): (Vec<&SqliteUnit>, Vec<&SqliteUnit>) =
        units.iter().partition(|u| u.is_valid());
    assert_eq!(
        invalid.iter().map(|u| u.id).collect::<BTreeSet<_>>(),
        bad.keys().copied().collect::<BTreeSet<_>>(),
        "the test's own parser should find exactly the broken rows"
    );

    let data = dir.path().join("lake");
    let rejects = dir.path().join("rejects.tsv");
    let out = import_ceems(&data, &db, &["--rejects", rejects.to_str().expect("utf-8")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Rejected rows are reported, not fatal: the import succeeds.
    assert!(
        out.status.success(),
        "import with rejects failed ({}): {stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("rows rejected:    {} ", bad.len())),
        "{stdout}"
    );

    let text = std::fs::read_to_string(&rejects).expect("rejects file written");
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    assert_eq!(
        lines.next(),
        Some("location\tfield\tvalue\treason"),
        "the rejects file starts with its header line"
    );
    let mut listed = BTreeMap::new();
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        assert!(
            f.len() >= 4,
            "rejects line without location, field, value, reason: {line:?}"
        );
        let id: i64 = f[0]
            .strip_prefix("id ")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("rejects line does not start with the row id: {line:?}"));
        let reason = f[3..].join("\t");
        assert!(!reason.trim().is_empty(), "no reason given: {line:?}");
        assert!(
            listed.insert(id, f[1].to_string()).is_none(),
            "row {id} listed twice"
        );
    }
    let expected: BTreeMap<i64, String> = bad
        .iter()
        .map(|(id, (col, _))| (*id, col.to_string()))
        .collect();
    assert_eq!(listed, expected, "rejected rows and fields:\n{text}");

    assert_eq!(store_count(&data, "units"), valid.len() as u64);
    assert_eq!(store_units(&data), sqlite_units_map(&valid));
    check_aggregates(&data, valid.iter().copied(), &ALL_AGGS);
    for table in ["users", "projects", "admin_users"] {
        assert_eq!(store_count(&data, table), count_rows(&db, table), "{table}");
    }
}

#[test]
fn unreadable_sources_fail_clearly_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");

    // A brand-new store stays empty.
    let fresh = dir.path().join("fresh");
    let missing = dir.path().join("does-not-exist.db");
    let out = import_ceems(&fresh, &missing, &[]);
    assert!(!out.status.success(), "importing a missing file succeeded");
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("does-not-exist.db") && err.contains("no such file"),
        "unclear error for a missing file: {err}"
    );
    assert_eq!(store_version(&fresh), 0);

    let data = dir.path().join("lake");
    import_reference(&data);
    let version = store_version(&data);
    let files = tree(&data);

    let out = import_ceems(&data, &missing, &[]);
    assert!(!out.status.success(), "importing a missing file succeeded");
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("no such file"),
        "unclear error for a missing file: {err}"
    );

    let text = dir.path().join("notes.db");
    std::fs::write(&text, "this is not an SQLite database\n".repeat(200)).expect("write");
    let out = import_ceems(&data, &text, &[]);
    assert!(!out.status.success(), "importing a text file succeeded");
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("notes.db") && err.contains("not a database"),
        "unclear error for a non-SQLite file: {err}"
    );

    let other = dir.path().join("other.db");
    open_rw(&other)
        .execute_batch("CREATE TABLE jobs (id integer primary key, name text); INSERT INTO jobs VALUES (1, 'a');")
        .expect("create other db");
    let out = import_ceems(&data, &other, &[]);
    assert!(
        !out.status.success(),
        "importing a non-CEEMS database succeeded"
    );
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("other.db") && err.contains("not a ceems database"),
        "unclear error for an SQLite file without units: {err}"
    );

    assert_eq!(
        store_version(&data),
        version,
        "a failed import published a version"
    );
    assert_eq!(tree(&data), files, "a failed import left files behind");
    let out = lake(
        &data,
        &["sql", "--format", "csv", "select count(*) from units"],
    );
    assert!(out.status.success());
}
