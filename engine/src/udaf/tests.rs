//! Tests of the metric-map aggregates. Expected values are computed by hand or by the naive
//! `BTreeMap` reference models below, never by the code under test.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Float64Builder, Int64Array, Int64Builder,
    LargeStringBuilder, MapArray, MapBuilder, MapFieldNames, StringBuilder, StringViewBuilder,
};
use arrow::compute::concat;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};
use datafusion::prelude::SessionContext;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

// ---------------------------------------------------------------------------------------------
// Data model and helpers
// ---------------------------------------------------------------------------------------------

/// One input map: `None` is a NULL map; a `None` value is a NULL value inside the map.
type Map = Option<Vec<(String, Option<f64>)>>;
/// An aggregated map as read back.
type Out = BTreeMap<String, f64>;

/// One input row.
#[derive(Debug, Clone)]
struct Row {
    group: usize,
    map: Map,
    weight: Option<f64>,
    /// The FILTER (WHERE ...) value: `Some(true)` keeps the row.
    filter: Option<bool>,
}

fn field_names() -> MapFieldNames {
    MapFieldNames {
        entry: "entries".to_string(),
        key: "key".to_string(),
        value: "value".to_string(),
    }
}

fn map_array(maps: &[Map]) -> ArrayRef {
    let mut builder = MapBuilder::new(
        Some(field_names()),
        StringBuilder::new(),
        Float64Builder::new(),
    );
    for map in maps {
        match map {
            None => builder.append(false).unwrap(),
            Some(entries) => {
                for (key, value) in entries {
                    builder.keys().append_value(key);
                    builder.values().append_option(*value);
                }
                builder.append(true).unwrap();
            }
        }
    }
    Arc::new(builder.finish())
}

fn entries(pairs: &[(&str, f64)]) -> Map {
    Some(
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), Some(*value)))
            .collect(),
    )
}

fn out(pairs: &[(&str, f64)]) -> Out {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), *value))
        .collect()
}

/// Reads a map column back; checks that keys are strictly sorted and that no row is NULL.
fn read_maps(array: &ArrayRef) -> Vec<Out> {
    assert_eq!(array.data_type(), &metric_map_data_type());
    let maps = array.as_map();
    (0..maps.len())
        .map(|row| {
            assert!(
                maps.is_valid(row),
                "row {row} is NULL, expected a (maybe empty) map"
            );
            let entries = maps.value(row);
            let keys = entries.column(0).as_string::<i32>();
            let values = entries
                .column(1)
                .as_primitive::<arrow::datatypes::Float64Type>();
            let pairs: Vec<(String, f64)> = (0..keys.len())
                .map(|i| (keys.value(i).to_string(), values.value(i)))
                .collect();
            assert!(
                pairs.windows(2).all(|w| w[0].0 < w[1].0),
                "keys not sorted/unique: {pairs:?}"
            );
            pairs.into_iter().collect()
        })
        .collect()
}

fn read_scalar_map(value: &ScalarValue) -> Out {
    let ScalarValue::Map(array) = value else {
        panic!("expected a map scalar, got {value:?}");
    };
    let array: ArrayRef = Arc::<MapArray>::clone(array);
    let mut rows = read_maps(&array);
    assert_eq!(rows.len(), 1);
    rows.remove(0)
}

fn close(actual: f64, expected: f64) -> bool {
    actual == expected
        || (actual - expected).abs() <= 1e-9 * actual.abs().max(expected.abs()).max(1e-300)
}

fn assert_maps_close(actual: &[Out], expected: &[Out], context: &str) {
    assert_eq!(actual.len(), expected.len(), "{context}: number of groups");
    for (group, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            e.keys().collect::<Vec<_>>(),
            "{context}: keys of group {group}: {a:?} vs {e:?}"
        );
        for (key, value) in e {
            assert!(
                close(a[key], *value),
                "{context}: group {group} key {key}: got {} expected {value}",
                a[key]
            );
        }
    }
}

/// Only rows whose filter is true take part.
fn selected(rows: &[Row]) -> impl Iterator<Item = &Row> {
    rows.iter().filter(|row| row.filter == Some(true))
}

fn clean(value: f64) -> f64 {
    if value.is_nan() || value.is_infinite() {
        0.0
    } else {
        value
    }
}

/// Reference model of `sum_metric_map`.
fn reference_sum(rows: &[Row], groups: usize) -> Vec<Out> {
    let mut result = vec![Out::new(); groups];
    for row in selected(rows) {
        if let Some(map) = &row.map {
            for (key, value) in map {
                if let Some(value) = value {
                    *result[row.group].entry(key.clone()).or_insert(0.0) += clean(*value);
                }
            }
        }
    }
    result
}

/// Reference model of `avg_metric_map`.
fn reference_avg(rows: &[Row], groups: usize) -> Vec<Out> {
    let mut sums: Vec<BTreeMap<String, (f64, f64)>> = vec![BTreeMap::new(); groups];
    for row in selected(rows) {
        let (Some(map), Some(weight)) = (&row.map, row.weight) else {
            continue;
        };
        let weight = clean(weight);
        for (key, value) in map {
            if let Some(value) = value {
                let sum = sums[row.group].entry(key.clone()).or_insert((0.0, 0.0));
                sum.0 += clean(*value) * weight;
                sum.1 += weight;
            }
        }
    }
    sums.into_iter()
        .map(|sums| {
            sums.into_iter()
                .map(|(key, (num, den))| (key, if den == 0.0 { 0.0 } else { num / den }))
                .collect()
        })
        .collect()
}

/// The input columns of `rows`: maps, weights, filter, group indices.
struct Columns {
    maps: ArrayRef,
    weights: ArrayRef,
    filter: BooleanArray,
    groups: Vec<usize>,
}

fn columns<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Columns {
    let rows: Vec<&Row> = rows.into_iter().collect();
    let maps: Vec<Map> = rows.iter().map(|row| row.map.clone()).collect();
    Columns {
        maps: map_array(&maps),
        weights: Arc::new(Float64Array::from(
            rows.iter().map(|row| row.weight).collect::<Vec<_>>(),
        )),
        filter: BooleanArray::from(rows.iter().map(|row| row.filter).collect::<Vec<_>>()),
        groups: rows.iter().map(|row| row.group).collect(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Sum,
    Avg,
}

impl Func {
    fn groups_accumulator(self) -> Box<dyn GroupsAccumulator> {
        match self {
            Func::Sum => Box::new(SumMetricMapGroupsAccumulator::new()),
            Func::Avg => Box::new(AvgMetricMapGroupsAccumulator::new()),
        }
    }

    fn accumulator(self) -> Box<dyn Accumulator> {
        match self {
            Func::Sum => Box::new(SumMetricMapAccumulator::new()),
            Func::Avg => Box::new(AvgMetricMapAccumulator::new()),
        }
    }

    fn inputs(self, columns: &Columns) -> Vec<ArrayRef> {
        match self {
            Func::Sum => vec![Arc::clone(&columns.maps)],
            Func::Avg => vec![Arc::clone(&columns.maps), Arc::clone(&columns.weights)],
        }
    }

    fn reference(self, rows: &[Row], groups: usize) -> Vec<Out> {
        match self {
            Func::Sum => reference_sum(rows, groups),
            Func::Avg => reference_avg(rows, groups),
        }
    }
}

/// Feeds `rows` to `acc` in chunks of `chunk` rows, with a growing `total_num_groups`, as the
/// hash aggregation does. Groups without rows still exist (`groups` in total).
fn update_in_chunks(
    func: Func,
    acc: &mut dyn GroupsAccumulator,
    rows: &[Row],
    groups: usize,
    chunk: usize,
) {
    let mut total = 0;
    for part in rows.chunks(chunk.max(1)) {
        let columns = columns(part);
        total = part.iter().map(|row| row.group + 1).fold(total, usize::max);
        acc.update_batch(
            &func.inputs(&columns),
            &columns.groups,
            Some(&columns.filter),
            total,
        )
        .unwrap();
    }
    // Make the trailing groups exist even if no row mentioned them.
    let empty = columns(&[]);
    acc.update_batch(&func.inputs(&empty), &[], None, groups)
        .unwrap();
}

fn single_pass(func: Func, rows: &[Row], groups: usize) -> Vec<Out> {
    let mut acc = func.groups_accumulator();
    update_in_chunks(func, acc.as_mut(), rows, groups, 7);
    read_maps(&acc.evaluate(EmitTo::All).unwrap())
}

// ---------------------------------------------------------------------------------------------
// 1. Hand-computed examples through SQL
// ---------------------------------------------------------------------------------------------

/// `t(g BIGINT, m MAP, w DOUBLE)`, each partition cut into batches of at most 100 rows.
fn context_with(partitions: Vec<(Vec<i64>, ArrayRef, Vec<Option<f64>>)>) -> SessionContext {
    let map_type = partitions[0].1.data_type().clone();
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", DataType::Int64, false),
        Field::new("m", map_type, true),
        Field::new("w", DataType::Float64, true),
    ]));
    let batches = partitions
        .into_iter()
        .map(|(groups, maps, weights)| {
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from(groups)),
                    maps,
                    Arc::new(Float64Array::from(weights)),
                ],
            )
            .unwrap();
            (0..batch.num_rows())
                .step_by(100)
                .map(|start| batch.slice(start, 100.min(batch.num_rows() - start)))
                .collect()
        })
        .collect();
    let mut ctx = SessionContext::new();
    register_all(&mut ctx).unwrap();
    ctx.register_table("t", Arc::new(MemTable::try_new(schema, batches).unwrap()))
        .unwrap();
    ctx
}

/// Runs `sql` (returning `g` and one map column), returns `g -> map`.
async fn query_by_group(ctx: &SessionContext, sql: &str) -> BTreeMap<i64, Out> {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut result = BTreeMap::new();
    for batch in batches {
        let groups = batch
            .column(0)
            .as_primitive::<arrow::datatypes::Int64Type>();
        let maps = read_maps(batch.column(1));
        for (row, map) in maps.into_iter().enumerate() {
            assert!(result.insert(groups.value(row), map).is_none());
        }
    }
    result
}

/// Runs `sql` returning one row with one map column.
async fn query_one(ctx: &SessionContext, sql: &str) -> Out {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let mut maps: Vec<Out> = batches
        .iter()
        .flat_map(|batch| read_maps(batch.column(0)))
        .collect();
    assert_eq!(maps.len(), 1, "{sql}");
    maps.remove(0)
}

fn hand_context() -> SessionContext {
    let maps = vec![
        // group 1: {"a":1,"b":2}, {"a":2}, NULL, {}
        entries(&[("a", 1.0), ("b", 2.0)]),
        entries(&[("a", 2.0)]),
        None,
        entries(&[]),
        // group 2: avg example
        entries(&[("a", 1.0), ("b", 4.0), ("c", 8.0)]),
        entries(&[("a", 4.0), ("c", 2.0)]),
        // group 3: only NULL and empty maps
        None,
        entries(&[]),
        // group 4: NaN / Inf values, NULL value, zero weights
        Some(vec![
            ("x".to_string(), Some(f64::NAN)),
            ("y".to_string(), Some(f64::INFINITY)),
            ("z".to_string(), None),
        ]),
        Some(vec![
            ("x".to_string(), Some(5.0)),
            ("y".to_string(), Some(f64::NEG_INFINITY)),
        ]),
        // group 5: a NULL weight row and a NaN weight row
        entries(&[("p", 10.0)]),
        entries(&[("p", 100.0), ("q", 7.0)]),
        entries(&[("p", 3.0)]),
    ];
    let groups = vec![1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5];
    let weights = vec![
        Some(1.0),
        Some(1.0),
        Some(1.0),
        Some(1.0),
        Some(1.0),
        Some(2.0),
        Some(1.0),
        Some(1.0),
        Some(0.0),
        Some(0.0),
        Some(2.0),
        None,
        Some(f64::NAN),
    ];
    context_with(vec![(groups, map_array(&maps), weights)])
}

#[tokio::test]
async fn sql_sum_hand_computed() {
    let ctx = hand_context();
    for name in [SUM_METRIC_MAP_NAME, SUM_METRIC_MAP_AGG_NAME] {
        let got = query_by_group(&ctx, &format!("SELECT g, {name}(m) FROM t GROUP BY g")).await;
        let expected: BTreeMap<i64, Out> = [
            (1, out(&[("a", 3.0), ("b", 2.0)])),
            (2, out(&[("a", 5.0), ("b", 4.0), ("c", 10.0)])),
            (3, out(&[])),
            // NaN → 0, +Inf + -Inf → 0 + 0; the NULL value of z means z is absent.
            (4, out(&[("x", 5.0), ("y", 0.0)])),
            (5, out(&[("p", 113.0), ("q", 7.0)])),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, expected, "{name}");
    }
}

#[tokio::test]
async fn sql_avg_hand_computed() {
    let ctx = hand_context();
    for name in [AVG_METRIC_MAP_NAME, AVG_METRIC_MAP_AGG_NAME] {
        let got = query_by_group(&ctx, &format!("SELECT g, {name}(m, w) FROM t GROUP BY g")).await;
        let expected: BTreeMap<i64, Out> = [
            (1, out(&[("a", 1.5), ("b", 2.0)])),
            // a = (1·1 + 4·2)/3, b = 4·1/1, c = (8·1 + 2·2)/3
            (2, out(&[("a", 3.0), ("b", 4.0), ("c", 4.0)])),
            (3, out(&[])),
            // all weights 0 → 0; the keys are present.
            (4, out(&[("x", 0.0), ("y", 0.0)])),
            // the NULL-weight row (with q) is ignored; the NaN weight counts as 0:
            // p = (10·2 + 3·0) / (2 + 0)
            (5, out(&[("p", 10.0)])),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, expected, "{name}");
    }
}

#[tokio::test]
async fn sql_without_group_by_filter_and_empty_input() {
    let ctx = hand_context();
    // Accumulator path (no GROUP BY).
    let all = query_one(&ctx, "SELECT sum_metric_map(m) FROM t").await;
    assert_eq!(
        all,
        out(&[
            ("a", 8.0),
            ("b", 6.0),
            ("c", 10.0),
            ("p", 113.0),
            ("q", 7.0),
            ("x", 5.0),
            ("y", 0.0)
        ])
    );
    let avg = query_one(&ctx, "SELECT avg_metric_map(m, w) FROM t WHERE g = 2").await;
    assert_eq!(avg, out(&[("a", 3.0), ("b", 4.0), ("c", 4.0)]));
    // No rows at all: an empty map, not NULL.
    let none = query_one(&ctx, "SELECT sum_metric_map(m) FROM t WHERE g > 100").await;
    assert_eq!(none, out(&[]));
    let none = query_one(&ctx, "SELECT avg_metric_map(m, w) FROM t WHERE g > 100").await;
    assert_eq!(none, out(&[]));
    // FILTER clause, with and without GROUP BY.
    let filtered = query_by_group(
        &ctx,
        "SELECT g, sum_metric_map(m) FILTER (WHERE w = 1) FROM t GROUP BY g",
    )
    .await;
    assert_eq!(filtered[&2], out(&[("a", 1.0), ("b", 4.0), ("c", 8.0)]));
    assert_eq!(filtered[&4], out(&[]));
    let filtered = query_one(
        &ctx,
        "SELECT avg_metric_map(m, w) FILTER (WHERE g = 2 AND w > 1) FROM t",
    )
    .await;
    assert_eq!(filtered, out(&[("a", 4.0), ("c", 2.0)]));
    // An integer weight is coerced.
    let got = query_by_group(
        &ctx,
        "SELECT g, avg_metric_map(m, CAST(w AS BIGINT)) FROM t WHERE g = 2 GROUP BY g",
    )
    .await;
    assert_eq!(got[&2], out(&[("a", 3.0), ("b", 4.0), ("c", 4.0)]));
}

/// Maps with Int64 values and LargeUtf8 / Utf8View keys are accepted.
#[tokio::test]
async fn sql_other_key_and_value_types() {
    let rows: Vec<Vec<(&str, i64)>> = vec![vec![("b", 2), ("a", 1)], vec![("a", 40)]];

    let mut int_values = MapBuilder::new(
        Some(field_names()),
        StringBuilder::new(),
        Int64Builder::new(),
    );
    let mut large_keys = MapBuilder::new(
        Some(field_names()),
        LargeStringBuilder::new(),
        Float64Builder::new(),
    );
    let mut view_keys = MapBuilder::new(
        Some(field_names()),
        StringViewBuilder::new(),
        Int64Builder::new(),
    );
    for row in &rows {
        for (key, value) in row {
            int_values.keys().append_value(key);
            int_values.values().append_value(*value);
            large_keys.keys().append_value(key);
            large_keys.values().append_value(*value as f64);
            view_keys.keys().append_value(key);
            view_keys.values().append_value(*value);
        }
        int_values.append(true).unwrap();
        large_keys.append(true).unwrap();
        view_keys.append(true).unwrap();
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(int_values.finish()),
        Arc::new(large_keys.finish()),
        Arc::new(view_keys.finish()),
    ];
    for maps in arrays {
        let data_type = maps.data_type().clone();
        let ctx = context_with(vec![(vec![1, 1], maps, vec![Some(1.0), Some(3.0)])]);
        let sum = query_by_group(&ctx, "SELECT g, sum_metric_map(m) FROM t GROUP BY g").await;
        assert_eq!(sum[&1], out(&[("a", 41.0), ("b", 2.0)]), "{data_type}");
        let avg = query_by_group(&ctx, "SELECT g, avg_metric_map(m, w) FROM t GROUP BY g").await;
        // a = (1·1 + 40·3) / 4
        assert_eq!(avg[&1], out(&[("a", 30.25), ("b", 2.0)]), "{data_type}");
        let all = query_one(&ctx, "SELECT sum_metric_map_agg(m) FROM t").await;
        assert_eq!(all, out(&[("a", 41.0), ("b", 2.0)]), "{data_type}");
    }
}

#[tokio::test]
async fn sql_rejects_bad_arguments() {
    let ctx = hand_context();
    for sql in [
        "SELECT sum_metric_map(w) FROM t",
        "SELECT sum_metric_map(m, w) FROM t",
        "SELECT avg_metric_map(m) FROM t",
        "SELECT avg_metric_map(m, 'x') FROM t",
    ] {
        let result = match ctx.sql(sql).await {
            Ok(frame) => frame.collect().await.map(|_| ()),
            Err(error) => Err(error),
        };
        assert!(result.is_err(), "{sql} should fail");
    }
}

#[test]
fn hand_computed_groups_accumulator_nan_inf_and_zero_weights() {
    let rows = vec![
        Row {
            group: 0,
            map: Some(vec![("a".into(), Some(f64::NAN)), ("b".into(), Some(2.0))]),
            weight: Some(0.0),
            filter: Some(true),
        },
        Row {
            group: 0,
            map: entries(&[("a", 6.0)]),
            weight: Some(-0.0),
            filter: Some(true),
        },
        Row {
            group: 1,
            map: entries(&[("a", 6.0)]),
            weight: Some(f64::INFINITY),
            filter: Some(true),
        },
        Row {
            group: 1,
            map: entries(&[("b", 1.0)]),
            weight: Some(3.0),
            filter: None,
        },
        Row {
            group: 1,
            map: entries(&[("b", 4.0)]),
            weight: Some(0.5),
            filter: Some(true),
        },
    ];
    let sum = single_pass(Func::Sum, &rows, 3);
    assert_eq!(
        sum,
        vec![
            out(&[("a", 6.0), ("b", 2.0)]),
            out(&[("a", 6.0), ("b", 4.0)]),
            out(&[])
        ]
    );
    let avg = single_pass(Func::Avg, &rows, 3);
    assert_eq!(
        avg,
        vec![
            out(&[("a", 0.0), ("b", 0.0)]),
            out(&[("a", 0.0), ("b", 4.0)]),
            out(&[])
        ]
    );
}

#[test]
fn size_grows_with_groups_and_resets_after_emit_all() {
    let rows: Vec<Row> = (0..1000)
        .map(|i| Row {
            group: i,
            map: entries(&[("a", 1.0), ("b", 2.0)]),
            weight: Some(1.0),
            filter: Some(true),
        })
        .collect();
    for func in [Func::Sum, Func::Avg] {
        let mut acc = func.groups_accumulator();
        let empty = acc.size();
        update_in_chunks(func, acc.as_mut(), &rows, 1000, 256);
        assert!(
            acc.size() >= empty + 1000 * 2 * 8,
            "{func:?}: {}",
            acc.size()
        );
        acc.evaluate(EmitTo::All).unwrap();
        assert!(acc.size() <= empty + 1024, "{func:?}: {}", acc.size());
    }
}

#[test]
fn key_lookup_survives_reordered_and_new_keys() {
    // Rows whose keys change order and set exercise the position cache's fallback.
    let mut state = map_state::GroupedMapState::<1>::new();
    let maps = vec![
        entries(&[("a", 1.0), ("b", 1.0), ("c", 1.0)]),
        entries(&[("b", 10.0), ("a", 10.0)]),
        entries(&[("c", 100.0), ("d", 100.0), ("a", 100.0), ("b", 100.0)]),
        entries(&[("a", 1000.0), ("b", 1000.0), ("c", 1000.0)]),
    ];
    let input = map_state::MapInput::try_new(&map_array(&maps)).unwrap();
    state.ensure_groups(1);
    state
        .accumulate(&input, &[0, 0, 0, 0], None, |slot, value, _| {
            slot[0] += value
        })
        .unwrap();
    assert_eq!(state.num_keys(), 4);
    let got = read_maps(&(Arc::new(state.build_maps(0..1, |slot| slot[0]).unwrap()) as ArrayRef));
    assert_eq!(
        got,
        vec![out(&[
            ("a", 1111.0),
            ("b", 1111.0),
            ("c", 1101.0),
            ("d", 100.0)
        ])]
    );
}

#[test]
fn sliced_input_is_read_at_its_offset() {
    let maps = vec![
        entries(&[("a", 1.0)]),
        entries(&[("a", 2.0), ("b", 3.0)]),
        entries(&[("b", 4.0)]),
        entries(&[("a", 8.0)]),
    ];
    let array = map_array(&maps).slice(1, 2);
    let mut acc = SumMetricMapGroupsAccumulator::new();
    acc.update_batch(&[array], &[0, 1], None, 2).unwrap();
    let got = read_maps(&acc.evaluate(EmitTo::All).unwrap());
    assert_eq!(
        got,
        vec![out(&[("a", 2.0), ("b", 3.0)]), out(&[("b", 4.0)])]
    );
}

// ---------------------------------------------------------------------------------------------
// 2. and 3. Property tests against the reference models
// ---------------------------------------------------------------------------------------------

const KEYS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

/// Values are multiples of 1/4 and weights multiples of 1/2 so that every sum is exact and
/// any summation order gives the same float; plus NaN, ±Inf, 0 and NULL.
fn value_strategy() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        1 => Just(None),
        12 => (-4000i32..4000).prop_map(|x| Some(f64::from(x) / 4.0)),
        1 => Just(Some(f64::NAN)),
        1 => Just(Some(f64::INFINITY)),
        1 => Just(Some(f64::NEG_INFINITY)),
        1 => Just(Some(0.0)),
    ]
}

fn weight_strategy() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        1 => Just(None),
        10 => (-4i32..12).prop_map(|x| Some(f64::from(x) / 2.0)),
        1 => Just(Some(0.0)),
        1 => Just(Some(f64::NAN)),
        1 => Just(Some(f64::INFINITY)),
    ]
}

fn map_strategy() -> impl Strategy<Value = Map> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Vec::new())),
        8 => (prop::collection::vec((0usize..KEYS.len(), value_strategy()), 1..8), any::<bool>())
            .prop_map(|(entries, sorted)| {
                // Unique keys in random order, or sorted (the common, cache-friendly case).
                let mut seen = [false; KEYS.len()];
                let mut map: Vec<(String, Option<f64>)> = entries
                    .into_iter()
                    .filter(|(key, _)| !std::mem::replace(&mut seen[*key], true))
                    .map(|(key, value)| (KEYS[key].to_string(), value))
                    .collect();
                if sorted {
                    map.sort_by(|a, b| a.0.cmp(&b.0));
                }
                Some(map)
            }),
    ]
}

fn filter_strategy() -> impl Strategy<Value = Option<bool>> {
    prop_oneof![8 => Just(Some(true)), 1 => Just(Some(false)), 1 => Just(None)]
}

/// `(number of groups, rows, a part 0..4 for each row, an emit count)`.
fn case_strategy() -> impl Strategy<Value = (usize, Vec<Row>, Vec<usize>, usize)> {
    (1usize..8).prop_flat_map(|groups| {
        let row = (
            0..groups,
            map_strategy(),
            weight_strategy(),
            filter_strategy(),
        )
            .prop_map(|(group, map, weight, filter)| Row {
                group,
                map,
                weight,
                filter,
            });
        (
            Just(groups),
            prop::collection::vec(row, 0..80),
            prop::collection::vec(0usize..4, 80),
            0..=groups,
        )
    })
}

/// Splits the rows into parts, aggregates each part separately (one part emits its state in
/// two steps, `First(n)` then `All`) and merges all states into a fresh accumulator.
fn split_and_merge(func: Func, rows: &[Row], parts: &[usize], groups: usize, n: usize) -> Vec<Out> {
    let mut merged = func.groups_accumulator();
    let all_groups: Vec<usize> = (0..groups).collect();
    for part in 0..4 {
        let part_rows: Vec<Row> = rows
            .iter()
            .zip(parts)
            .filter(|(_, p)| **p == part)
            .map(|(row, _)| row.clone())
            .collect();
        let mut acc = func.groups_accumulator();
        update_in_chunks(func, acc.as_mut(), &part_rows, groups, 5);
        let state = if part == 0 {
            let first = acc.state(EmitTo::First(n)).unwrap();
            let rest = acc.state(EmitTo::All).unwrap();
            first
                .iter()
                .zip(&rest)
                .map(|(a, b)| concat(&[a.as_ref(), b.as_ref()]).unwrap())
                .collect()
        } else {
            acc.state(EmitTo::All).unwrap()
        };
        assert_eq!(state.len(), if func == Func::Sum { 1 } else { 2 });
        assert!(state.iter().all(|array| array.len() == groups));
        merged.merge_batch(&state, &all_groups, groups).unwrap();
    }
    read_maps(&merged.evaluate(EmitTo::All).unwrap())
}

/// `convert_to_state` of all rows merged by group.
fn convert_and_merge(func: Func, rows: &[Row], groups: usize) -> Vec<Out> {
    let columns = columns(rows);
    let converter = func.groups_accumulator();
    let state = converter
        .convert_to_state(&func.inputs(&columns), Some(&columns.filter))
        .unwrap();
    assert!(state.iter().all(|array| array.len() == rows.len()));
    let mut merged = func.groups_accumulator();
    merged.merge_batch(&state, &columns.groups, groups).unwrap();
    // Make the groups without rows exist.
    let empty = self::columns(&[]);
    merged
        .update_batch(&func.inputs(&empty), &[], None, groups)
        .unwrap();
    read_maps(&merged.evaluate(EmitTo::All).unwrap())
}

/// `EmitTo::First(n)` then `EmitTo::All`, concatenated.
fn emit_in_two_steps(func: Func, rows: &[Row], groups: usize, n: usize) -> Vec<Out> {
    let mut acc = func.groups_accumulator();
    update_in_chunks(func, acc.as_mut(), rows, groups, 11);
    let first = acc.evaluate(EmitTo::First(n)).unwrap();
    assert_eq!(first.len(), n);
    let rest = acc.evaluate(EmitTo::All).unwrap();
    assert_eq!(rest.len(), groups - n);
    let mut result = read_maps(&first);
    result.extend(read_maps(&rest));
    result
}

/// The single-group `Accumulator` for each group, with a state/merge round trip.
fn plain_accumulators(func: Func, rows: &[Row], groups: usize) -> Vec<Out> {
    (0..groups)
        .map(|group| {
            // The executor applies FILTER before a plain accumulator sees the rows.
            let group_rows: Vec<&Row> = selected(rows).filter(|row| row.group == group).collect();
            let half = group_rows.len() / 2;
            let mut states: Vec<Vec<ScalarValue>> = Vec::new();
            for part in [&group_rows[..half], &group_rows[half..]] {
                let mut acc = func.accumulator();
                acc.update_batch(&func.inputs(&columns(part.iter().copied())))
                    .unwrap();
                states.push(acc.state().unwrap());
            }
            let mut direct = func.accumulator();
            direct
                .update_batch(&func.inputs(&columns(group_rows.iter().copied())))
                .unwrap();
            let direct = read_scalar_map(&direct.evaluate().unwrap());

            let mut merged = func.accumulator();
            let state_arrays: Vec<ArrayRef> = (0..states[0].len())
                .map(|field| {
                    ScalarValue::iter_to_array(states.iter().map(|state| state[field].clone()))
                        .unwrap()
                })
                .collect();
            merged.merge_batch(&state_arrays).unwrap();
            let merged = read_scalar_map(&merged.evaluate().unwrap());
            assert_maps_close(
                std::slice::from_ref(&merged),
                std::slice::from_ref(&direct),
                "Accumulator state/merge",
            );
            direct
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn groups_accumulator_matches_reference((groups, rows, _parts, _n) in case_strategy()) {
        for func in [Func::Sum, Func::Avg] {
            let expected = func.reference(&rows, groups);
            let got = single_pass(func, &rows, groups);
            assert_maps_close(&got, &expected, &format!("{func:?} single pass"));
        }
    }

    #[test]
    fn split_merge_emit_and_plain_paths_match_single_pass(
        (groups, rows, parts, n) in case_strategy()
    ) {
        for func in [Func::Sum, Func::Avg] {
            let expected = single_pass(func, &rows, groups);
            assert_maps_close(
                &split_and_merge(func, &rows, &parts, groups, n),
                &expected,
                &format!("{func:?} split + merge"),
            );
            assert_maps_close(
                &convert_and_merge(func, &rows, groups),
                &expected,
                &format!("{func:?} convert_to_state + merge"),
            );
            assert_maps_close(
                &emit_in_two_steps(func, &rows, groups, n),
                &expected,
                &format!("{func:?} EmitTo::First({n}) + All"),
            );
            assert_maps_close(
                &plain_accumulators(func, &rows, groups),
                &expected,
                &format!("{func:?} Accumulator"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Partial + final aggregation over several partitions
// ---------------------------------------------------------------------------------------------

/// Deterministic pseudo-random rows (exact-valued as in the property tests).
fn random_rows(
    rng: &mut StdRng,
    count: usize,
    groups: i64,
) -> (Vec<i64>, Vec<Map>, Vec<Option<f64>>) {
    let mut group_column = Vec::with_capacity(count);
    let mut maps = Vec::with_capacity(count);
    let mut weights = Vec::with_capacity(count);
    for _ in 0..count {
        group_column.push(rng.random_range(0..groups));
        let map = match rng.random_range(0..10) {
            0 => None,
            1 => Some(Vec::new()),
            _ => {
                let mut map = Vec::new();
                for key in KEYS {
                    if rng.random_bool(0.3) {
                        continue;
                    }
                    let value = match rng.random_range(0..20) {
                        0 => None,
                        1 => Some(f64::NAN),
                        2 => Some(f64::INFINITY),
                        _ => Some(f64::from(rng.random_range(-4000..4000)) / 4.0),
                    };
                    map.push((key.to_string(), value));
                }
                Some(map)
            }
        };
        maps.push(map);
        weights.push(match rng.random_range(0..10) {
            0 => None,
            1 => Some(0.0),
            _ => Some(f64::from(rng.random_range(0..12)) / 2.0),
        });
    }
    (group_column, maps, weights)
}

const PARTITION_QUERY: &str = "SELECT g, sum_metric_map(m), avg_metric_map(m, w), \
     sum_metric_map(m) FILTER (WHERE w > 1) FROM t GROUP BY g";

async fn run_partition_query(ctx: &SessionContext) -> BTreeMap<i64, (Out, Out, Out)> {
    let batches = ctx
        .sql(PARTITION_QUERY)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut result = BTreeMap::new();
    for batch in batches {
        let groups = batch
            .column(0)
            .as_primitive::<arrow::datatypes::Int64Type>();
        let sums = read_maps(batch.column(1));
        let avgs = read_maps(batch.column(2));
        let filtered = read_maps(batch.column(3));
        for row in 0..batch.num_rows() {
            result.insert(
                groups.value(row),
                (sums[row].clone(), avgs[row].clone(), filtered[row].clone()),
            );
        }
    }
    result
}

#[tokio::test]
async fn sql_partial_final_aggregation_matches_single_partition() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut partitions = Vec::new();
    for _ in 0..5 {
        let (groups, maps, weights) = random_rows(&mut rng, 700, 300);
        partitions.push((groups, map_array(&maps), weights));
    }
    let (all_groups, all_maps, all_weights) = partitions.iter().fold(
        (Vec::new(), Vec::new(), Vec::new()),
        |(mut g, mut m, mut w), (groups, maps, weights)| {
            g.extend_from_slice(groups);
            m.push(Arc::clone(maps));
            w.extend_from_slice(weights);
            (g, m, w)
        },
    );
    let all_maps = concat(&all_maps.iter().map(|m| m.as_ref()).collect::<Vec<_>>()).unwrap();

    let single = context_with(vec![(all_groups, all_maps, all_weights)]);
    single
        .sql("SET datafusion.execution.target_partitions = 1")
        .await
        .unwrap();
    let expected = run_partition_query(&single).await;
    assert!(expected.len() > 250);

    let partitioned = context_with(partitions.clone());
    partitioned
        .sql("SET datafusion.execution.target_partitions = 4")
        .await
        .unwrap();
    partitioned
        .sql("SET datafusion.execution.batch_size = 128")
        .await
        .unwrap();
    let plan = partitioned
        .sql(&format!("EXPLAIN {PARTITION_QUERY}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let plan = arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    assert!(plan.contains("mode=Partial"), "{plan}");
    assert!(plan.contains("mode=FinalPartitioned"), "{plan}");
    let got = run_partition_query(&partitioned).await;
    assert_eq!(got, expected);

    // Skipping partial aggregation (rows converted to states one by one) changes nothing.
    partitioned
        .sql("SET datafusion.execution.skip_partial_aggregation_probe_rows_threshold = 1")
        .await
        .unwrap();
    partitioned
        .sql("SET datafusion.execution.skip_partial_aggregation_probe_ratio_threshold = 0.0")
        .await
        .unwrap();
    let analyzed = partitioned
        .sql(&format!("EXPLAIN ANALYZE {PARTITION_QUERY}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let analyzed = arrow::util::pretty::pretty_format_batches(&analyzed)
        .unwrap()
        .to_string();
    let skipped = analyzed
        .split("skipped_aggregation_rows=")
        .nth(1)
        .expect("skipped_aggregation_rows metric");
    assert!(
        !skipped.starts_with('0'),
        "partial aggregation was not skipped: {analyzed}"
    );
    let got = run_partition_query(&partitioned).await;
    assert_eq!(got, expected);
}
