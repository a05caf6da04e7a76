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
//! - `sql_1_core/...`: `SELECT g, sum_metric_map(m) ... GROUP BY g` through a `SessionContext`
//!   over a one-partition `MemTable`, `target_partitions = 1`, on a current-thread runtime: one
//!   core, the per-core figure;
//! - `sql_target_partitions_2/...`: the same over 4 partitions with `target_partitions = 2` on
//!   two worker threads (partial + final aggregation).
//! - `.../baseline_*`: the same values as five flat, nullable Float64 columns (one per key, NULL
//!   where the map is NULL) summed by DataFusion's own `SUM` — its `GroupsAccumulator` directly,
//!   and `SELECT g, sum(c0), …, sum(c4) ... GROUP BY g` (plus the weighted average written with
//!   plain SQL sums) through the same session. This is what the map functions are compared with
//!   in BENCHMARKS.md, measured in the same run.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, Int64Array, MapBuilder, MapFieldNames,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use arrow::record_batch::RecordBatch;
use ceems_lake_engine::udaf::{
    AvgMetricMapGroupsAccumulator, SumMetricMapGroupsAccumulator, register_all,
};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use datafusion::datasource::MemTable;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
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

/// One input batch: maps, the same values as flat columns, weights, group indices.
struct Batch {
    maps: ArrayRef,
    /// One nullable Float64 column per key of `KEYS`: the map's value, NULL for a NULL map.
    flat: Vec<ArrayRef>,
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
        let mut flat: Vec<Float64Builder> = KEYS
            .iter()
            .map(|_| Float64Builder::with_capacity(rows))
            .collect();
        let mut weights = Vec::with_capacity(rows);
        let mut groups = Vec::with_capacity(rows);
        for _ in 0..rows {
            if rng.random_bool(NULL_MAP_RATIO) {
                maps.append(false).unwrap();
                for column in &mut flat {
                    column.append_null();
                }
            } else {
                for (key, column) in KEYS.iter().zip(&mut flat) {
                    let value = rng.random_range(0.0..86_400.0);
                    maps.keys().append_value(key);
                    maps.values().append_value(value);
                    column.append_value(value);
                }
                maps.append(true).unwrap();
                entries += KEYS.len() as u64;
            }
            weights.push(rng.random_range(0.0..128.0));
            groups.push(rng.random_range(0..GROUPS));
        }
        batches.push(Batch {
            maps: Arc::new(maps.finish()),
            flat: flat
                .iter_mut()
                .map(|column| Arc::new(column.finish()) as ArrayRef)
                .collect(),
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

/// DataFusion's `SUM(Float64)` groups accumulator, as the planner creates it.
fn datafusion_sum_accumulator() -> Box<dyn GroupsAccumulator> {
    let schema = Schema::new(vec![Field::new("v", DataType::Float64, true)]);
    let exprs: Vec<Arc<dyn PhysicalExpr>> = vec![Arc::new(Column::new("v", 0))];
    let expr_fields = vec![Arc::new(Field::new("v", DataType::Float64, true))];
    let args = AccumulatorArgs {
        return_field: Arc::new(Field::new("sum(v)", DataType::Float64, true)),
        schema: &schema,
        ignore_nulls: false,
        order_bys: &[],
        is_reversed: false,
        name: "sum(v)",
        is_distinct: false,
        exprs: &exprs,
        expr_fields: &expr_fields,
    };
    sum_udaf().create_groups_accumulator(args).unwrap()
}

/// The baseline: one `SUM` accumulator per flat column, fed the same batches and groups.
fn run_flat_sums(data: &Data) -> Vec<ArrayRef> {
    let mut accs: Vec<Box<dyn GroupsAccumulator>> =
        KEYS.iter().map(|_| datafusion_sum_accumulator()).collect();
    for batch in &data.batches {
        for (acc, column) in accs.iter_mut().zip(&batch.flat) {
            acc.update_batch(std::slice::from_ref(column), &batch.groups, None, GROUPS)
                .unwrap();
        }
    }
    accs.iter_mut()
        .map(|acc| acc.evaluate(EmitTo::All).unwrap())
        .collect()
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
    group.bench_function(
        BenchmarkId::new("baseline_datafusion_sum_5_flat_f64_columns", shape),
        |b| b.iter(|| run_flat_sums(data)),
    );
    group.finish();
}

/// A session over the data as a `MemTable` of `partitions` partitions, planning with
/// `target_partitions`.
fn sql_context(data: &Data, partitions: usize, target_partitions: usize) -> SessionContext {
    let map_type = data.batches[0].maps.data_type().clone();
    let mut fields = vec![
        Field::new("g", DataType::Int64, false),
        Field::new("m", map_type, true),
        Field::new("w", DataType::Float64, false),
    ];
    for i in 0..KEYS.len() {
        fields.push(Field::new(format!("c{i}"), DataType::Float64, true));
    }
    let schema = Arc::new(Schema::new(fields));
    let n_partitions = partitions;
    let mut partitions = vec![Vec::new(); n_partitions];
    for (i, batch) in data.batches.iter().enumerate() {
        let groups: Int64Array = batch.groups.iter().map(|&g| g as i64).collect();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(groups),
            Arc::clone(&batch.maps),
            Arc::clone(&batch.weights),
        ];
        columns.extend(batch.flat.iter().map(Arc::clone));
        partitions[i % n_partitions]
            .push(RecordBatch::try_new(Arc::clone(&schema), columns).unwrap());
    }
    let config = SessionConfig::new().with_target_partitions(target_partitions);
    let mut ctx = SessionContext::new_with_config(config);
    register_all(&mut ctx).unwrap();
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(schema, partitions).unwrap()),
    )
    .unwrap();
    ctx
}

/// The SQL cases on one core (one input partition, `target_partitions = 1`, a current-thread
/// runtime: the per-core figure) and on two (4 input partitions, `target_partitions = 2`, two
/// worker threads: partial and final aggregation with a repartition between them).
fn bench_sql(c: &mut Criterion, data: &Data) {
    let one_core = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let two_cores = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (label, runtime, ctx) in [
        ("1_core", &one_core, sql_context(data, 1, 1)),
        ("target_partitions_2", &two_cores, sql_context(data, 4, 2)),
    ] {
        bench_sql_on(c, data, label, runtime, &ctx);
    }
}

fn bench_sql_on(
    c: &mut Criterion,
    data: &Data,
    label: &str,
    runtime: &tokio::runtime::Runtime,
    ctx: &SessionContext,
) {
    let mut group = c.benchmark_group(format!("sql_{label}"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(data.entries));
    let shape = "1M_rows_5_keys_10pct_null_maps_1000_groups";
    let flat_sums = (0..KEYS.len())
        .map(|i| format!("sum(c{i})"))
        .collect::<Vec<_>>()
        .join(", ");
    // The weighted average of avg_metric_map over flat columns: Σ v·w / Σ w over the rows that
    // carry the key (zero total weight and NaN handling aside, which this data never hits).
    let flat_avgs = (0..KEYS.len())
        .map(|i| format!("sum(c{i} * w) / sum(case when c{i} is not null then w end)"))
        .collect::<Vec<_>>()
        .join(", ");
    for (name, sql) in [
        (
            "group_by_sum_metric_map".to_string(),
            "SELECT g, sum_metric_map(m) FROM t GROUP BY g".to_string(),
        ),
        (
            "baseline_group_by_sum_5_flat_f64_columns".to_string(),
            format!("SELECT g, {flat_sums} FROM t GROUP BY g"),
        ),
        (
            "group_by_avg_metric_map".to_string(),
            "SELECT g, avg_metric_map(m, w) FROM t GROUP BY g".to_string(),
        ),
        (
            "baseline_group_by_weighted_avg_5_flat_f64_columns".to_string(),
            format!("SELECT g, {flat_avgs} FROM t GROUP BY g"),
        ),
    ] {
        let sql = sql.as_str();
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

/// The map aggregate and the flat baseline compute the same sums (checked once, not timed).
fn check_same_sums(data: &Data) {
    let maps = run_groups_accumulator(Box::new(SumMetricMapGroupsAccumulator::new()), data, false);
    let maps = maps.as_map();
    let flat = run_flat_sums(data);
    for g in 0..GROUPS {
        let entries = maps.value(g);
        let keys = entries.column(0).as_string::<i32>();
        let values = entries.column(1).as_primitive::<Float64Type>();
        for (k, key) in KEYS.iter().enumerate() {
            let expected = flat[k].as_primitive::<Float64Type>();
            let got = (0..keys.len()).find(|&i| keys.value(i) == *key);
            match got {
                Some(i) => {
                    let (a, b) = (values.value(i), expected.value(g));
                    assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "group {g} {key}");
                }
                None => assert!(expected.is_null(g), "group {g} {key}"),
            }
        }
    }
}

fn benches(c: &mut Criterion) {
    let data = generate();
    check_same_sums(&data);
    bench_groups_accumulator(c, &data);
    bench_sql(c, &data);
}

criterion_group!(udaf, benches);
criterion_main!(udaf);
