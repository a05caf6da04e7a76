//! `ceems-lake sql`: statements that would change anything are refused; every output format
//! carries the same rows.

use std::collections::BTreeMap;

use ceems_lake_tests::{import_reference, lake, lake_ok, reference_db, store_version};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use super::reference::{counts_per_cluster, json_map, parse_metric, read_units};

#[test]
fn sql_is_read_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("lake");
    import_reference(&data);
    let version = store_version(&data);
    let copy_target = dir.path().join("copied.csv");
    let external = dir.path().join("ext.csv");
    std::fs::write(&external, "a\n1\n").expect("write csv");
    let statements = [
        "create table t (a int)".to_string(),
        "create table t as select * from units".to_string(),
        "create view v as select 1".to_string(),
        "insert into units (uuid) values ('x')".to_string(),
        "delete from units".to_string(),
        "update units set username = 'x'".to_string(),
        "drop table units".to_string(),
        format!("copy (select 1) to '{}'", copy_target.display()),
        format!(
            "create external table e (a int) stored as csv location '{}'",
            external.display()
        ),
        "set datafusion.execution.batch_size = 1".to_string(),
    ];
    for stmt in &statements {
        let out = lake(&data, &["sql", stmt]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stmt:?} succeeded");
        assert!(
            stderr.contains("read-only"),
            "{stmt:?}: the error does not say the SQL interface is read-only: {stderr}"
        );
    }
    assert!(!copy_target.exists(), "COPY wrote a file");
    assert_eq!(store_version(&data), version);
    // Still readable and unchanged.
    let units = read_units(&reference_db());
    let rows = ceems_lake_tests::sql_csv(&data, "select count(*) from units");
    assert_eq!(rows, vec![vec![units.len().to_string()]]);
}

#[test]
fn every_output_format_carries_the_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("lake");
    import_reference(&data);
    let units = read_units(&reference_db());
    let expected: Vec<(String, i64)> = counts_per_cluster(&units)
        .into_iter()
        .map(|(c, n)| (c, n as i64))
        .collect();
    assert!(expected.len() > 1);
    let q = "select cluster_id, count(*) as n from units group by cluster_id order by cluster_id";

    // CSV: a header line, then one line per row.
    let csv = lake_ok(&data, &["sql", "--format", "csv", q]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("cluster_id,n"));
    let got: Vec<(String, i64)> = lines
        .map(|l| {
            let (c, n) = l.split_once(',').expect("two fields");
            (c.to_string(), n.parse().expect("count"))
        })
        .collect();
    assert_eq!(got, expected, "csv:\n{csv}");

    // JSON: one array of objects.
    let json = lake_ok(&data, &["sql", "--format", "json", q]);
    let v: serde_json::Value =
        serde_json::from_str(&json).expect("json output is one JSON document");
    let arr = v.as_array().expect("json output is an array");
    let got: Vec<(String, i64)> = arr
        .iter()
        .map(|o| {
            (
                o["cluster_id"].as_str().expect("cluster_id").to_string(),
                o["n"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(got, expected, "json:\n{json}");
    let empty = lake_ok(
        &data,
        &[
            "sql",
            "--format",
            "json",
            "select uuid from units where uuid = 'none'",
        ],
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&empty).expect("json"),
        serde_json::json!([])
    );

    // CSV of map columns (the logical metric maps): JSON text, one value per map.
    let u = units
        .iter()
        .find(|u| parse_metric(u.maps[0].as_deref()).is_ok_and(|m| m.len() > 1))
        .expect("a unit with a total_time_seconds map");
    let maps_csv = lake_ok(
        &data,
        &[
            "sql",
            "--format",
            "csv",
            &format!(
                "select uuid, total_time_seconds from units where uuid = '{}' and cluster_id = '{}'",
                u.uuid, u.cluster_id
            ),
        ],
    );
    let lines: Vec<&str> = maps_csv.lines().collect();
    assert_eq!(lines.len(), 2, "{maps_csv}");
    assert_eq!(lines[0], "uuid,total_time_seconds");
    // The JSON text holds commas and quotes, so CSV quotes it and doubles inner quotes.
    let (uuid, quoted) = lines[1].split_once(',').expect("two fields");
    assert_eq!(uuid, u.uuid);
    let text = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a quoted field: {quoted}"))
        .replace("\"\"", "\"");
    let got: serde_json::Value = serde_json::from_str(&text).expect("JSON text");
    assert_eq!(
        json_map(&got, "csv total_time_seconds"),
        parse_metric(u.maps[0].as_deref()).expect("valid map")
    );
    let all = lake(&data, &["sql", "--format", "csv", "select * from units"]);
    assert!(
        all.status.success(),
        "select * as CSV: {}",
        String::from_utf8_lossy(&all.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&all.stdout).lines().count(),
        units.len() + 1
    );

    // NDJSON: one object per line.
    let nd = lake_ok(&data, &["sql", "--format", "ndjson", q]);
    let got: Vec<(String, i64)> = nd
        .lines()
        .map(|l| {
            let o: serde_json::Value = serde_json::from_str(l).expect("ndjson line");
            (
                o["cluster_id"].as_str().expect("cluster_id").to_string(),
                o["n"].as_i64().expect("n"),
            )
        })
        .collect();
    assert_eq!(got, expected, "ndjson:\n{nd}");

    // Table: every value appears.
    let table = lake_ok(&data, &["sql", q]);
    for (c, n) in &expected {
        assert!(
            table
                .lines()
                .any(|l| l.contains(c.as_str()) && l.contains(&format!(" {n} "))),
            "table output lacks {c} {n}:\n{table}"
        );
    }

    // Parquet: a Parquet file with the rows.
    let file = dir.path().join("out.parquet");
    let stdout = lake_ok(
        &data,
        &[
            "sql",
            "--format",
            "parquet",
            "--output",
            file.to_str().expect("utf-8"),
            q,
        ],
    );
    assert!(
        stdout.is_empty(),
        "--output should leave stdout empty: {stdout:?}"
    );
    let bytes = std::fs::read(&file).expect("parquet file written");
    assert!(bytes.len() > 8 && bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"));
    let reader = SerializedFileReader::new(std::fs::File::open(&file).expect("open"))
        .expect("parquet reader");
    assert_eq!(
        reader.metadata().file_metadata().num_rows(),
        expected.len() as i64
    );
    let mut got = Vec::new();
    for row in reader.get_row_iter(None).expect("rows") {
        let row = row.expect("row");
        let fields: BTreeMap<String, Field> = row
            .get_column_iter()
            .map(|(k, f)| (k.clone(), f.clone()))
            .collect();
        let c = match &fields["cluster_id"] {
            Field::Str(s) => s.clone(),
            other => panic!("cluster_id is {other:?}"),
        };
        let n = match &fields["n"] {
            Field::Long(n) => *n,
            other => panic!("n is {other:?}"),
        };
        got.push((c, n));
    }
    assert_eq!(got, expected, "parquet");

    // Maps come out as JSON objects with the stored numbers.
    let u = &units[0];
    let rows = ceems_lake_tests::sql_ndjson(
        &data,
        &format!(
            "select total_time_seconds, total_io_write_stats from units where cluster_id = '{}' and uuid = '{}'",
            u.cluster_id, u.uuid
        ),
    );
    assert_eq!(rows.len(), 1);
    for (col, i) in [("total_time_seconds", 0), ("total_io_write_stats", 9)] {
        let want = parse_metric(u.maps[i].as_deref()).expect("valid map");
        let got = json_map(&rows[0][col], col);
        assert_eq!(got, want, "{col} of unit {}", u.uuid);
    }
}

/// Long chains of operators, as generated queries have them, are planned and answered rather
/// than overflowing the stack (a few hundred terms did in a debug build).
#[test]
fn long_expressions_are_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("lake");
    let n = 2000;
    let sum = vec!["1"; n].join(" + ");
    let out = lake_ok(
        &data,
        &["sql", "--format", "csv", &format!("select {sum} as s")],
    );
    assert_eq!(out, format!("s\n{n}\n"));

    // x = 0 or x = 1 or … or x = 1999 over the values 5, 1500 and 2500: two match.
    let ors: Vec<String> = (0..n).map(|i| format!("x = {i}")).collect();
    let q = format!(
        "select count(*) as c from (values (5), (1500), (2500)) as t(x) where {}",
        ors.join(" or ")
    );
    let out = lake_ok(&data, &["sql", "--format", "csv", &q]);
    assert_eq!(out, "c\n2\n");
}

/// A statement that runs past `--timeout` is stopped with an error naming the limit; one that
/// finishes in time is answered.
#[test]
fn statements_past_the_timeout_are_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("lake");
    let out = lake(
        &data,
        &[
            "sql",
            "--timeout",
            "1",
            "select count(*) from generate_series(1, 100000000000)",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    // Only a statement stopped by the limit gives this error; counting 10^11 rows would take
    // minutes even in a release build.
    assert!(stderr.contains("longer than --timeout 1 s"), "{stderr}");

    let out = lake_ok(
        &data,
        &[
            "sql",
            "--timeout",
            "30",
            "--format",
            "csv",
            "select count(*) as c from generate_series(1, 1000)",
        ],
    );
    assert_eq!(out, "c\n1000\n");
}
