//! Exports round-trip. The `data` of `/api/v1/units/admin`, one object per line, imported with
//! `import ndjson` into a fresh store, answers the same units (every field, metric maps
//! included); so does `sql --format parquet "select * from units"` imported with
//! `import parquet`, which also keeps the fields the API hides. The source store holds the
//! original's reference database and the sacct edge-case dump (running units, a unit that
//! never started).

use std::path::Path;

use ceems_lake_tests::{Server, import_reference, lake_ok, store_version};
use serde_json::Value;

use super::sacct_edge::ROWS;
use super::{ALL, CONFIG, import_ok, scratch, summary, utf8, write};

/// The raw body of every unit, running ones included, as the admin sees them.
fn all_units(data: &Path) -> (String, usize) {
    let srv = Server::start(data, Some(CONFIG), &[]);
    let r = srv.get(&format!("/api/v1/units/admin?{ALL}&running"), "adm1");
    assert_eq!(r.status, 200, "{}", r.text());
    let n = r.json()["data"].as_array().map_or(0, Vec::len);
    assert!(srv.terminate());
    (r.text(), n)
}

/// Hidden fields, which the API does not show.
fn hidden(data: &Path) -> String {
    lake_ok(
        data,
        &[
            "sql",
            "--format",
            "csv",
            "select cluster_id, uuid, started_at_ts, ignore, num_updates, last_updated_at, \
             last_updated_at_ts from units order by cluster_id, uuid, started_at_ts",
        ],
    )
}

#[test]
fn ndjson_and_parquet_exports_round_trip() {
    let dir = scratch("round-trip");
    let source = dir.path().join("source");
    import_reference(&source);
    let dump = dir.path().join("edge.sacct");
    write(&dump, &format!("{}\n", ROWS.join("\n")));
    import_ok(
        &source,
        "sacct",
        &[&dump],
        &["--cluster-id", "edge", "--time-zone", "Europe/Paris"],
    );
    let (body, n) = all_units(&source);
    let units: Value = serde_json::from_str(&body).expect("JSON");
    let units = units["data"].as_array().expect("data").clone();
    assert_eq!(n, units.len());
    // The reference database's units plus the dump's five.
    assert!(n > 5, "{n} units");
    for map in [
        "total_cpu_energy_usage_kwh",
        "avg_gpu_usage",
        "total_io_read_stats",
    ] {
        assert!(
            units.iter().any(|u| u.get(map).is_some()),
            "no unit carries {map}: the round trip would not test it"
        );
    }
    assert!(units.iter().any(|u| u.get("ended_at_ts").is_none()));
    assert!(units.iter().any(|u| u.get("started_at_ts").is_none()));

    // NDJSON: the API's unit objects, one per line.
    let ndjson = dir.path().join("units.ndjson");
    let lines: Vec<String> = units.iter().map(Value::to_string).collect();
    write(&ndjson, &format!("{}\n", lines.join("\n")));
    let from_ndjson = dir.path().join("from-ndjson");
    let s = summary(&import_ok(
        &from_ndjson,
        "ndjson",
        &[&ndjson],
        &["--time-zone", "Europe/Paris"],
    ));
    assert_eq!((s.read, s.inserted, s.rejected), (n as u64, n as u64, 0));
    let (again, _) = all_units(&from_ndjson);
    assert!(
        again == body,
        "units differ after the NDJSON round trip:\n{}",
        crate::api::first_difference(&again, &body).unwrap_or_default()
    );
    // Importing the export again changes nothing.
    let version = store_version(&from_ndjson);
    let s = summary(&import_ok(
        &from_ndjson,
        "ndjson",
        &[&ndjson],
        &["--time-zone", "Europe/Paris"],
    ));
    assert!(s.store_unchanged && s.unchanged == n as u64, "{s:?}");
    assert_eq!(store_version(&from_ndjson), version);

    // Parquet in the store's schema.
    let parquet = dir.path().join("units.parquet");
    lake_ok(
        &source,
        &[
            "sql",
            "--format",
            "parquet",
            "--output",
            utf8(&parquet),
            "select * from units",
        ],
    );
    let from_parquet = dir.path().join("from-parquet");
    let s = summary(&import_ok(
        &from_parquet,
        "parquet",
        &[&parquet],
        &["--time-zone", "Europe/Paris"],
    ));
    assert_eq!((s.read, s.inserted, s.rejected), (n as u64, n as u64, 0));
    let (again, _) = all_units(&from_parquet);
    assert!(
        again == body,
        "units differ after the Parquet round trip:\n{}",
        crate::api::first_difference(&again, &body).unwrap_or_default()
    );
    assert_eq!(hidden(&from_parquet), hidden(&source));
}
