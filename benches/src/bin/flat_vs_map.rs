//! Flat metric columns versus `Map<Utf8, Float64>` columns, on the same generated units.
//!
//! Generates units into a temporary store, then writes the same rows twice as Parquet with the
//! store's writer settings (zstd level 1, 128 Ki-row row groups, page statistics, dictionaries
//! for strings but not for the Float64 metric values):
//!
//! - `flat`: the store's own layout — one Float64 column per (map, key) plus the overflow map
//!   column of every map (`<map>__overflow`, empty here because every generated key is plain);
//! - `map`: one `Map<Utf8, Float64>` column per metric map, holding the same entries.
//!
//! Both files carry the identifying columns (`cluster_id`, `username`, `project`). It then times
//! the same questions over each file on one core (`target_partitions = 1`), alternating the two
//! forms run by run so that load from other processes hits both alike:
//!
//! - the usage sums (9 sum maps) and weighted averages (4 average maps) grouped by cluster, user
//!   and project, written as the API writes them for the flat form (`SUM` per flat column,
//!   `SUM(v·w) / SUM(w where v is set)`, metric-map aggregates over the overflow columns) and
//!   with `sum_metric_map`/`avg_metric_map` for the map form;
//! - both together (the API's usage query);
//! - one key (walltime per project);
//! - every unit's metric maps materialised (what a unit listing returns), rebuilt with
//!   `metric_map(...)` for the flat form, read as they are for the map form.
//!
//! Prints sizes on disk and the median (and every) time of each case; the numbers back
//! docs/adr/0001-flat-metric-columns.md.
//!
//!   cargo run --profile bench -p ceems-lake-benches --bin flat_vs_map -- [UNITS=2000000] [RUNS=5]

use std::path::{Path, PathBuf};
use std::time::Instant;

use ceems_lake_engine::catalog::metric_map::{map_expr, metric_map_udf};
use ceems_lake_engine::generate::GenerateSpec;
use ceems_lake_engine::ingest::Quiet;
use ceems_lake_engine::ingest::generated::generate_into_store;
use ceems_lake_engine::schema::{self, KeyRegistry, METRIC_MAPS, TOTAL_TIME_SECONDS};
use ceems_lake_engine::session::{SessionSettings, UNITS_STORED_TABLE, build_session};
use ceems_lake_engine::store::Store;
use datafusion::config::{ParquetColumnOptions, TableParquetOptions};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext, col};

const IDENT: &str = "cluster_id, username, project";

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn run_once(ctx: &SessionContext, sql: &str) -> (f64, usize) {
    let s = Instant::now();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let secs = s.elapsed().as_secs_f64();
    (secs, batches.iter().map(|b| b.num_rows()).sum())
}

/// Total size of the files directly inside `dir`.
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

/// The store's Parquet writer settings (`engine/src/store/parquet_io.rs`): dictionaries for the
/// strings, none for the Float64 metric values (`plain`: flat columns, or the map values'
/// `<map>.entries.value` leaves).
fn store_like_parquet_options(plain: &[String]) -> TableParquetOptions {
    let mut o = TableParquetOptions::default();
    o.global.compression = Some("zstd(1)".into());
    o.global.max_row_group_size = 128 * 1024;
    o.global.statistics_enabled = Some("page".into());
    o.global.dictionary_enabled = Some(true);
    for c in plain {
        let col = ParquetColumnOptions {
            dictionary_enabled: Some(false),
            ..Default::default()
        };
        o.column_specific_options.insert(c.clone(), col);
    }
    o
}

fn flat(map: &str, key: &str) -> String {
    schema::flat_column_name(map, key)
}

/// SELECT lists of the usage aggregation: (sum maps, average maps) for (flat, map) forms.
struct Usage {
    sums_flat: Vec<String>,
    sums_map: Vec<String>,
    avgs_flat: Vec<String>,
    avgs_map: Vec<String>,
}

fn usage_lists(reg: &KeyRegistry) -> Usage {
    let mut u = Usage {
        sums_flat: Vec::new(),
        sums_map: Vec::new(),
        avgs_flat: Vec::new(),
        avgs_map: Vec::new(),
    };
    let tts = METRIC_MAPS[TOTAL_TIME_SECONDS];
    for (i, m) in METRIC_MAPS.iter().enumerate() {
        let overflow = schema::overflow_column_name(m);
        match schema::weight_key(i) {
            None => {
                for k in reg.keys_of(i) {
                    u.sums_flat.push(format!("sum({})", flat(m, k)));
                }
                u.sums_flat.push(format!("sum_metric_map({overflow})"));
                u.sums_map.push(format!("sum_metric_map({m})"));
            }
            Some(w) => {
                let wc = flat(tts, w);
                for k in reg.keys_of(i) {
                    let c = flat(m, k);
                    u.avgs_flat.push(format!(
                        "sum({c} * {wc}) / sum(case when {c} is not null then {wc} end)"
                    ));
                }
                u.avgs_flat
                    .push(format!("avg_metric_map({overflow}, {wc})"));
                u.avgs_map
                    .push(format!("avg_metric_map({m}, {tts}['{w}'])"));
            }
        }
    }
    u
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let units: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let work = work_dir();
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
    let mut flat_cols = Vec::new();
    let mut overflow_cols = Vec::new();
    for (i, m) in METRIC_MAPS.iter().enumerate() {
        for k in reg.keys_of(i) {
            flat_cols.push(flat(m, k));
        }
        overflow_cols.push(schema::overflow_column_name(m));
    }
    let (flat_dir, map_dir) = (work.join("flat"), work.join("map"));
    // The flat form straight from the stored table; the map form through the same rebuild the
    // `units` view uses, so both hold exactly the same entries.
    let mut flat_select: Vec<_> = IDENT.split(", ").map(col).collect();
    flat_select.extend(
        flat_cols
            .iter()
            .chain(&overflow_cols)
            .map(|c| col(c.as_str())),
    );
    let mut map_select: Vec<_> = IDENT.split(", ").map(col).collect();
    map_select.extend((0..METRIC_MAPS.len()).map(|i| map_expr(&reg, i).alias(METRIC_MAPS[i])));
    let map_values: Vec<String> = METRIC_MAPS
        .iter()
        .map(|m| format!("{m}.entries.value"))
        .collect();
    for (dir, select, plain) in [
        (&flat_dir, flat_select, &flat_cols),
        (&map_dir, map_select, &map_values),
    ] {
        ctx.table(UNITS_STORED_TABLE)
            .await
            .unwrap()
            .select(select)
            .unwrap()
            .write_parquet(
                dir.to_str().unwrap(),
                DataFrameWriteOptions::new().with_single_file_output(false),
                Some(store_like_parquet_options(plain)),
            )
            .await
            .unwrap();
    }
    let (flat_bytes, map_bytes) = (dir_size(&flat_dir), dir_size(&map_dir));
    println!(
        "units: {units}; metric keys: {} flat columns + {} overflow map columns",
        flat_cols.len(),
        overflow_cols.len()
    );
    println!(
        "size on disk: flat {flat_bytes} bytes ({:.1} MB), map {map_bytes} bytes ({:.1} MB), map / flat {:.2}",
        flat_bytes as f64 / 1e6,
        map_bytes as f64 / 1e6,
        map_bytes as f64 / flat_bytes as f64
    );

    // One core, so the numbers are per core.
    let q = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    for f in ceems_lake_engine::udaf::all_udafs() {
        q.register_udaf(f.as_ref().clone());
    }
    q.register_udf(metric_map_udf().as_ref().clone());
    for (name, dir) in [("flat", &flat_dir), ("maps", &map_dir)] {
        q.register_parquet(name, dir.to_str().unwrap(), ParquetReadOptions::default())
            .await
            .unwrap();
    }

    let u = usage_lists(&reg);
    let group = |table: &str, aggs: &[String]| {
        format!(
            "select {IDENT}, {} from {table} group by {IDENT}",
            aggs.join(", ")
        )
    };
    let all_flat: Vec<String> = u.sums_flat.iter().chain(&u.avgs_flat).cloned().collect();
    let all_map: Vec<String> = u.sums_map.iter().chain(&u.avgs_map).cloned().collect();
    let rebuilt: Vec<String> = (0..METRIC_MAPS.len())
        .map(|i| {
            let m = METRIC_MAPS[i];
            let mut args = vec![schema::overflow_column_name(m)];
            for k in reg.keys_of(i) {
                args.push(format!("'{k}'"));
                args.push(flat(m, k));
            }
            format!("metric_map({}) as {m}", args.join(", "))
        })
        .collect();
    let tts = METRIC_MAPS[TOTAL_TIME_SECONDS];
    // Both files hold the same values: total walltime read from each form.
    let total = |sql: String| {
        let q = q.clone();
        async move {
            let b = q.sql(&sql).await.unwrap().collect().await.unwrap();
            datafusion::common::ScalarValue::try_from_array(b[0].column(0), 0).unwrap()
        }
    };
    let (wf, wm) = (
        total(format!("select sum({}) from flat", flat(tts, "walltime"))).await,
        total(format!("select sum({tts}['walltime']) from maps")).await,
    );
    assert_eq!(wf, wm, "total walltime differs between the forms");
    println!("total walltime, both forms: {wf}");
    let cases = [
        (
            "usage sums (9 sum maps)",
            group("flat", &u.sums_flat),
            group("maps", &u.sums_map),
        ),
        (
            "usage weighted averages (4 average maps)",
            group("flat", &u.avgs_flat),
            group("maps", &u.avgs_map),
        ),
        (
            "full usage query (all 13 maps)",
            group("flat", &all_flat),
            group("maps", &all_map),
        ),
        (
            "one key: walltime per project",
            format!(
                "select project, sum({}) from flat group by project",
                flat(tts, "walltime")
            ),
            format!("select project, sum({tts}['walltime']) from maps group by project"),
        ),
        (
            "all metric maps of every unit (listing)",
            format!("select {IDENT}, {} from flat", rebuilt.join(", ")),
            format!("select {IDENT}, {} from maps", METRIC_MAPS.join(", ")),
        ),
    ];
    println!();
    println!("| question | flat median s | map median s | map / flat | flat runs s | map runs s |");
    println!("|---|---|---|---|---|---|");
    for (name, fq, mq) in &cases {
        let (mut tf, mut tm) = (Vec::new(), Vec::new());
        // One warm-up of each (file cache, plan caches), then alternate.
        let (_, rf) = run_once(&q, fq).await;
        let (_, rm) = run_once(&q, mq).await;
        assert_eq!(rf, rm, "{name}: both forms give the same number of rows");
        for _ in 0..runs {
            tf.push(run_once(&q, fq).await.0);
            tm.push(run_once(&q, mq).await.0);
        }
        let fmt = |v: &[f64]| {
            v.iter()
                .map(|t| format!("{t:.3}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "| {name} | {:.3} | {:.3} | {:.2} | {} | {} |",
            median(&tf),
            median(&tm),
            median(&tm) / median(&tf),
            fmt(&tf),
            fmt(&tm)
        );
    }
    let _ = std::fs::remove_dir_all(&work);
}

fn work_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("ceems-lake-flat-vs-map-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
