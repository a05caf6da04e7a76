//! Flat metric columns versus `Map<Utf8, Float64>` columns, on the same generated units.
//!
//! Writes the same units twice as Parquet — once with one Float64 column per (map, key), once
//! with one map column per metric map — and times the usage aggregations over each form:
//! plain `SUM`s and weighted averages over flat columns, `sum_metric_map`/`avg_metric_map` over
//! maps. Prints sizes and median times; the numbers back docs/adr/0001.
//!
//!   cargo run --release -p ceems-lake-benches --bin flat_vs_map -- [UNITS=2000000] [RUNS=5]

use std::time::Instant;

use ceems_lake_engine::generate::GenerateSpec;
use ceems_lake_engine::ingest::Quiet;
use ceems_lake_engine::ingest::generated::generate_into_store;
use ceems_lake_engine::schema::{self, METRIC_MAPS};
use ceems_lake_engine::session::{SessionSettings, build_session};
use ceems_lake_engine::store::Store;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn time_query(ctx: &SessionContext, sql: &str, runs: usize) -> (f64, usize) {
    let mut t = Vec::new();
    let mut rows = 0;
    for _ in 0..runs {
        let s = Instant::now();
        let b = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        t.push(s.elapsed().as_secs_f64());
        rows = b.iter().map(|b| b.num_rows()).sum();
    }
    (median(t), rows)
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let units: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let work = tempfile_dir();
    let store = Store::open(work.join("lake").to_str().unwrap(), &[]).unwrap();
    let spec = GenerateSpec {
        units,
        clusters: 3,
        seed: 11,
        ..GenerateSpec::default()
    };
    let s = Instant::now();
    generate_into_store(&store, &spec, 500_000, &Quiet)
        .await
        .unwrap();
    eprintln!(
        "generated {units} units in {:.1} s",
        s.elapsed().as_secs_f64()
    );

    let snap = store.snapshot().await.unwrap();
    let reg = snap.manifest.metric_keys.clone();
    let ctx = build_session(
        &SessionSettings {
            target_partitions: Some(1),
            ..Default::default()
        },
        &snap,
    )
    .unwrap();
    let ident = "cluster_id, username, project";
    let mut flat_cols = Vec::new();
    for (i, m) in METRIC_MAPS.iter().enumerate() {
        for k in reg.keys_of(i) {
            flat_cols.push(schema::flat_column_name(m, k));
        }
    }
    let maps = METRIC_MAPS.join(", ");
    let (flat_dir, map_dir) = (work.join("flat"), work.join("map"));
    for (dir, cols) in [(&flat_dir, flat_cols.join(", ")), (&map_dir, maps)] {
        ctx.sql(&format!("select {ident}, {cols} from units"))
            .await
            .unwrap()
            .write_parquet(
                dir.to_str().unwrap(),
                DataFrameWriteOptions::new().with_single_file_output(false),
                None,
            )
            .await
            .unwrap();
    }
    println!("units: {units}; flat columns: {}", flat_cols.len());
    println!(
        "size on disk: flat {} bytes, map {} bytes",
        dir_size(&flat_dir),
        dir_size(&map_dir)
    );

    // One core, so the numbers are per core.
    let q = SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new().with_target_partitions(1),
    );
    for f in ceems_lake_engine::udaf::all_udafs() {
        q.register_udaf(f.as_ref().clone());
    }
    q.register_parquet(
        "flat",
        flat_dir.to_str().unwrap(),
        ParquetReadOptions::default(),
    )
    .await
    .unwrap();
    q.register_parquet(
        "maps",
        map_dir.to_str().unwrap(),
        ParquetReadOptions::default(),
    )
    .await
    .unwrap();

    let mut sums_flat = Vec::new();
    let mut avgs_flat = Vec::new();
    let mut sums_map = Vec::new();
    let mut avgs_map = Vec::new();
    for (i, m) in METRIC_MAPS.iter().enumerate() {
        match schema::weight_key(i) {
            None => {
                for k in reg.keys_of(i) {
                    sums_flat.push(format!("sum({})", schema::flat_column_name(m, k)));
                }
                sums_map.push(format!("sum_metric_map({m})"));
            }
            Some(w) => {
                let wc = schema::flat_column_name("total_time_seconds", w);
                for k in reg.keys_of(i) {
                    let c = schema::flat_column_name(m, k);
                    avgs_flat.push(format!(
                        "sum({c} * {wc}) / sum(case when {c} is not null then {wc} end)"
                    ));
                }
                avgs_map.push(format!("avg_metric_map({m}, total_time_seconds['{w}'])"));
            }
        }
    }
    let cases = [
        (
            "sums (9 maps)",
            format!(
                "select {ident}, {} from flat group by {ident}",
                sums_flat.join(", ")
            ),
            format!(
                "select {ident}, {} from maps group by {ident}",
                sums_map.join(", ")
            ),
        ),
        (
            "weighted averages (4 maps)",
            format!(
                "select {ident}, {} from flat group by {ident}",
                avgs_flat.join(", ")
            ),
            format!(
                "select {ident}, {} from maps group by {ident}",
                avgs_map.join(", ")
            ),
        ),
    ];
    println!("| aggregation | flat median s | map median s | map / flat |");
    println!("|---|---|---|---|");
    for (name, fq, mq) in &cases {
        let (tf, rf) = time_query(&q, fq, runs).await;
        let (tm, rm) = time_query(&q, mq, runs).await;
        assert_eq!(rf, rm, "both forms give the same groups");
        println!("| {name} | {tf:.3} | {tm:.3} | {:.2} |", tm / tf);
    }
    let _ = std::fs::remove_dir_all(&work);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ceems-lake-flat-vs-map-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
