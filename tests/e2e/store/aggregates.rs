//! `sum_metric_map` / `avg_metric_map` over imported data, compared key by key with sums and
//! weighted averages computed here with plain loops over the SQLite rows.

use ceems_lake_tests::{import_ceems, import_reference, reference_db};

use super::reference::{ALL_AGGS, check_aggregates, copy_db, open_rw, read_units};

#[test]
fn aggregates_of_the_reference_database_match_plain_loops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("lake");
    import_reference(&data);
    let units = read_units(&reference_db());
    check_aggregates(&data, &units, &ALL_AGGS);
}

/// The reference database with awkward values: non-finite spellings, JSON `null` values and
/// maps, SQL NULL, missing and non-finite weights, all-zero weights, keys that are not SQL
/// identifiers (and one that only differs from another by punctuation), huge and negative
/// values.
#[test]
fn aggregates_with_special_values_match_plain_loops() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("special.db");
    copy_db(&reference_db(), &db);
    let edits: &[(i64, &str, Option<&str>)] = &[
        (1, "avg_cpu_usage", Some(r#"{"total":"NaN","extra":NaN}"#)),
        (
            2,
            "total_io_write_stats",
            Some(r#"{"bytes":"Inf","requests":null}"#),
        ),
        (
            2,
            "avg_gpu_usage",
            Some(r#"{"total":14.58,"gpu-0.util":"-Infinity"}"#),
        ),
        (
            4,
            "total_time_seconds",
            Some(r#"{"walltime":2962,"alloc_cputime":"NaN","alloc_cpumemtime":12}"#),
        ),
        (4, "avg_gpu_usage", Some(r#"{"total":50}"#)),
        (8, "avg_cpu_usage", None),
        (8, "total_cpu_energy_usage_kwh", Some("null")),
        (9, "total_time_seconds", Some("null")),
        (9, "avg_cpu_mem_usage", Some(r#"{"total":7.25}"#)),
        (
            13,
            "avg_gpu_usage",
            Some(r#"{"total":3.5,"gpu-0.util":42.25}"#),
        ),
        (
            13,
            "total_gpu_emissions_gms",
            Some(r#"{"rte.total":1.5,"owid_total":-2}"#),
        ),
        (21, "avg_gpu_usage", Some(r#"{"gpu_0_util":10}"#)),
        (21, "total_gpu_emissions_gms", Some(r#"{"rte_total":4}"#)),
        // slurm-1 usr2/acc2 (ids 14 and 24): every cpu weight 0 → average 0.
        (
            14,
            "total_time_seconds",
            Some(
                r#"{"alloc_cpumemtime":0,"alloc_cputime":0,"alloc_gpumemtime":497,"alloc_gputime":3976,"walltime":497}"#,
            ),
        ),
        (24, "avg_cpu_usage", Some(r#"{"total":99}"#)),
        (
            5,
            "total_ingress_stats",
            Some(r#"{"bytes":12345678901234567,"packets":-5.5}"#),
        ),
        (
            10,
            "total_outgress_stats",
            Some(r#"{ "bytes" : 1e15 , "packets":0.000001, "errors":3 }"#),
        ),
    ];
    {
        let conn = open_rw(&db);
        for (id, col, text) in edits {
            let n = conn
                .execute(
                    &format!("UPDATE units SET {col} = ?1 WHERE id = ?2"),
                    rusqlite::params![text, id],
                )
                .expect("update");
            assert_eq!(n, 1, "unit id {id}");
        }
    }
    let units = read_units(&db);
    assert!(units.iter().all(|u| u.is_valid()));

    let data = dir.path().join("lake");
    let out = import_ceems(&data, &db, &[]);
    assert!(
        out.status.success(),
        "import failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rows rejected:    0"),
        "no row of this database is invalid: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    check_aggregates(&data, &units, &ALL_AGGS);
}
