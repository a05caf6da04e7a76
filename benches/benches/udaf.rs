//! Throughput of the metric-map aggregates (`sum_metric_map`, `avg_metric_map`).
//!
//! Data shape: 1M rows, each a `total_time_seconds`-like map of 5 keys (alloc_cpumemtime,
//! alloc_cputime, alloc_gpumemtime, alloc_gputime, walltime) in the same order, 10% NULL
//! maps, a Float64 weight, ~1000 groups assigned at random. Throughput is counted in map
//! entries (non-null maps × 5).
//!
//! Cases:
//! - `groups_accumulator/...`: `GroupsAccumulator::update_batch` over 8192-row batches, then
//!   `evaluate(EmitTo::All)` (the direct hot path, no DataFusion plan around it).
//! - `sql/...`: `SELECT g, sum_metric_map(m) ... GROUP BY g` through a `SessionContext` over a
//!   `MemTable` (4 partitions, target_partitions = 2: partial + final aggregation).

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, Float64Array, Float64Builder, Int64Array, MapBuilder, MapFieldNames, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use ceems_lake_engine::udaf::{
    AvgMetricMapGroupsAccumulator, SumMetricMapGroupsAccumulator, register_all,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::prelude::{SessionConfig, SessionContext};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ROWS: usize = 1_000_000;
const GROUPS: usize = 1000;
const BATCH_ROWS: usize = 8192;
const NULL_MAP_RATIO: f64 = 0.10;
const KEYS: [&str; 5] = [
    "alloc_cpumemtime",
    "alloc_cputime",
    "alloc_gpumemtime",
    "alloc_gputime",
    "walltime",
];

/// One input batch: maps, weights, group indices.
struct Batch {
    maps: ArrayRef,
    weights: ArrayRef,
    groups: Vec<usize>,
}

struct Data {
    batches: Vec<Batch>,
    /// Map entries in total (non-null maps × keys).
    entries: u64,
}

fn generate() -> Data {
    let mut rng = StdRng::seed_from_u64(42);
    let mut batches = Vec::new();
    let mut entries = 0u64;
    let mut start = 0;
    while start < ROWS {
        let rows = BATCH_ROWS.min(ROWS - start);
        let mut maps = MapBuilder::new(
            Some(MapFieldNames {
                entry: "entries".to_string(),
                key: "key".to_string(),
                value: "value".to_string(),
            }),
            StringBuilder::new(),
            Float64Builder::new(),
        );
        let mut weights = Vec::with_capacity(rows);
        let mut groups = Vec::with_capacity(rows);
        for _ in 0..rows {
            if rng.random_bool(NULL_MAP_RATIO) {
                maps.append(false).unwrap();
            } else {
                for key in KEYS {
                    maps.keys().append_value(key);
                    maps.values().append_value(rng.random_range(0.0..86_400.0));
                }
                maps.append(true).unwrap();
                entries += KEYS.len() as u64;
            }
            weights.push(rng.random_range(0.0..128.0));
            groups.push(rng.random_range(0..GROUPS));
        }
        batches.push(Batch {
            maps: Arc::new(maps.finish()),
            weights: Arc::new(Float64Array::from(weights)),
            groups,
        });
        start += rows;
    }
    Data { batches, entries }
}

fn run_groups_accumulator(
    mut acc: Box<dyn GroupsAccumulator>,
    data: &Data,
    with_weight: bool,
) -> ArrayRef {
    for batch in &data.batches {
        let values = if with_weight {
            vec![Arc::clone(&batch.maps), Arc::clone(&batch.weights)]
        } else {
            vec![Arc::clone(&batch.maps)]
        };
        acc.update_batch(&values, &batch.groups, None, GROUPS)
            .unwrap();
    }
    acc.evaluate(EmitTo::All).unwrap()
}

fn bench_groups_accumulator(c: &mut Criterion, data: &Data) {
    let mut group = c.benchmark_group("groups_accumulator");
    group.sample_size(15);
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(data.entries));
    let shape = "1M_rows_5_keys_10pct_null_maps_1000_groups";
    group.bench_function(
        BenchmarkId::new("sum_metric_map_update_batch", shape),
        |b| {
            b.iter(|| {
                run_groups_accumulator(Box::new(SumMetricMapGroupsAccumulator::new()), data, false)
            })
        },
    );
    group.bench_function(
        BenchmarkId::new("avg_metric_map_update_batch", shape),
        |b| {
            b.iter(|| {
                run_groups_accumulator(Box::new(AvgMetricMapGroupsAccumulator::new()), data, true)
            })
        },
    );
    group.finish();
}

fn sql_context(data: &Data) -> SessionContext {
    let map_type = data.batches[0].maps.data_type().clone();
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Int64, false),
        Field::new("m", map_type, true),
        Field::new("w", DataType::Float64, false),
    ]));
    let mut partitions = vec![Vec::new(); 4];
    for (i, batch) in data.batches.iter().enumerate() {
        let groups: Int64Array = batch.groups.iter().map(|&g| g as i64).collect();
        partitions[i % 4].push(
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(groups),
                    Arc::clone(&batch.maps),
                    Arc::clone(&batch.weights),
                ],
            )
            .unwrap(),
        );
    }
    let config = SessionConfig::new().with_target_partitions(2);
    let mut ctx = SessionContext::new_with_config(config);
    register_all(&mut ctx).unwrap();
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(schema, partitions).unwrap()),
    )
    .unwrap();
    ctx
}

fn bench_sql(c: &mut Criterion, data: &Data) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ctx = sql_context(data);
    let mut group = c.benchmark_group("sql");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(data.entries));
    let shape = "1M_rows_5_keys_10pct_null_maps_1000_groups_target_partitions_2";
    for (name, sql) in [
        (
            "group_by_sum_metric_map",
            "SELECT g, sum_metric_map(m) FROM t GROUP BY g",
        ),
        (
            "group_by_avg_metric_map",
            "SELECT g, avg_metric_map(m, w) FROM t GROUP BY g",
        ),
    ] {
        group.bench_function(BenchmarkId::new(name, shape), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
                    let rows: usize = batches.iter().map(|batch| batch.num_rows()).sum();
                    assert_eq!(rows, GROUPS);
                })
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let data = generate();
    bench_groups_accumulator(c, &data);
    bench_sql(c, &data);
}

criterion_group!(udaf, benches);
criterion_main!(udaf);
