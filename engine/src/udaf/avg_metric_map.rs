//! `avg_metric_map(map, weight)`: per-key weighted average of metric maps (alias
//! `avg_metric_map_agg`).
//!
//! # Semantics
//!
//! - Inputs: a metric map `Map<Utf8, Float64>` (string-like keys and any numeric values are
//!   accepted and converted) and a numeric weight (coerced to Float64).
//! - A row takes part only if its map is non-NULL and its weight is non-NULL. A NULL value
//!   inside a map means the key is absent from that row. NaN/±Inf values and weights count
//!   as 0.
//! - Per key `k`: `Σ(v·w) / Σ(w)` over the rows of the group carrying **both** a value for `k`
//!   and a non-NULL weight. Rows lacking the key do not dilute its average (this deliberately
//!   differs from the original CEEMS implementation). A zero total weight gives 0.
//! - Output: `Map<Utf8, Float64>` of the keys some taking-part row carried, sorted by name; an
//!   **empty map, not NULL**, when there is none.
//!
//! # State
//!
//! Two fields, `num` (Σ v·w) and `den` (Σ w), both metric maps with the same keys. Merging
//! adds per key, so partial aggregation, repartitioning and spilling give the single-pass
//! result (up to float summation order).

use std::mem::size_of_val;
use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, not_impl_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, Volatility, aggregate_doc_sections::DOC_SECTION_GENERAL,
};

use super::map_state::{
    GroupedMapState, MapInput, SingleGroupIndices, as_float64, coerce_metric_map_arg,
    coerce_numeric_arg, empty_metric_map_scalar, finite_or_zero, metric_map_data_type, row_mask,
};
use super::{AVG_METRIC_MAP_AGG_NAME, AVG_METRIC_MAP_NAME};

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_GENERAL,
        "Weighted average of metric maps key by key: Σ(value·weight) / Σ(weight) over the rows \
         carrying the key and a non-NULL weight (rows without the key do not dilute its \
         average). NaN and infinite values or weights count as 0; a zero total weight gives 0. \
         Returns a map sorted by key; an empty map (not NULL) when the group has no entry.",
        "avg_metric_map(map, weight)",
    )
    .with_sql_example(
        "```sql\n> SELECT avg_metric_map(avg_cpu_usage, total_time_seconds['alloc_cputime']) \
         FROM units;\n{global: 42.5}\n```",
    )
    .with_argument(
        "map",
        "Metric map `Map<Utf8, Float64>` (numeric values are accepted).",
    )
    .with_argument("weight", "Numeric weight of the row.")
    .with_alternative_syntax("avg_metric_map_agg(map, weight)")
    .with_related_udf("sum_metric_map")
    .build()
});

/// The `avg_metric_map` aggregate function. Build one with
/// [`super::avg_metric_map_udaf`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AvgMetricMap {
    signature: Signature,
    aliases: Vec<String>,
}

impl AvgMetricMap {
    /// A new instance (name `avg_metric_map`, alias `avg_metric_map_agg`).
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            aliases: vec![AVG_METRIC_MAP_AGG_NAME.to_string()],
        }
    }
}

impl Default for AvgMetricMap {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for AvgMetricMap {
    fn name(&self) -> &str {
        AVG_METRIC_MAP_NAME
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [map, weight] = arg_types else {
            return plan_err!(
                "{AVG_METRIC_MAP_NAME} takes two arguments (metric map, weight), got {}",
                arg_types.len()
            );
        };
        Ok(vec![
            coerce_metric_map_arg(AVG_METRIC_MAP_NAME, map)?,
            coerce_numeric_arg(AVG_METRIC_MAP_NAME, weight)?,
        ])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.len() != 2 {
            return plan_err!("{AVG_METRIC_MAP_NAME} takes two arguments");
        }
        Ok(metric_map_data_type())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.is_distinct {
            return not_impl_err!("{AVG_METRIC_MAP_NAME}(DISTINCT ...) is not supported");
        }
        Ok(Box::new(AvgMetricMapAccumulator::new()))
    }

    /// Two state fields, metric maps with the same keys:
    ///
    /// - `<name>[num]`: `Map<Utf8, Float64>`, per key Σ(v·w) over the rows aggregated so far
    ///   that carry the key and a non-null weight (NaN/Inf values and weights → 0).
    /// - `<name>[den]`: `Map<Utf8, Float64>`, per key Σ(w) over the same rows.
    ///
    /// A key is present iff some such row carried it. Merging adds `num` and `den` key by key;
    /// the result is `num / den` (0 when `den` is 0).
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "num"),
                metric_map_data_type(),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "den"),
                metric_map_data_type(),
                true,
            )),
        ])
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        if args.is_distinct {
            return not_impl_err!("{AVG_METRIC_MAP_NAME}(DISTINCT ...) is not supported");
        }
        Ok(Box::new(AvgMetricMapGroupsAccumulator::new()))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    /// An empty map: the result over no rows.
    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        empty_metric_map_scalar()
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

/// Slot layout: `[Σ v·w, Σ w]`.
const NUM: usize = 0;
const DEN: usize = 1;

#[inline(always)]
fn average(slot: &[f64; 2]) -> f64 {
    if slot[DEN] == 0.0 {
        0.0
    } else {
        slot[NUM] / slot[DEN]
    }
}

#[inline(always)]
fn numerator(slot: &[f64; 2]) -> f64 {
    slot[NUM]
}

#[inline(always)]
fn denominator(slot: &[f64; 2]) -> f64 {
    slot[DEN]
}

#[inline(always)]
fn add_numerator(slot: &mut [f64; 2], value: f64, _row: usize) {
    slot[NUM] += value;
}

#[inline(always)]
fn add_denominator(slot: &mut [f64; 2], value: f64, _row: usize) {
    slot[DEN] += value;
}

fn two_args<'a>(values: &'a [ArrayRef], what: &str) -> Result<(&'a ArrayRef, &'a ArrayRef)> {
    match values {
        [first, second] => Ok((first, second)),
        _ => exec_err!(
            "{AVG_METRIC_MAP_NAME}: expected 2 {what} arrays, got {}",
            values.len()
        ),
    }
}

/// Folds input rows (`values` = `[map, weight]`) into `state`.
fn update_state(
    state: &mut GroupedMapState<2>,
    values: &[ArrayRef],
    group_indices: &[usize],
    opt_filter: Option<&BooleanArray>,
) -> Result<()> {
    let (maps, weights) = two_args(values, "input")?;
    let input = MapInput::try_new(maps)?;
    let weights = as_float64(weights)?;
    if weights.len() != input.len() {
        return exec_err!("{AVG_METRIC_MAP_NAME}: map and weight lengths differ");
    }
    let mask = row_mask(&[input.nulls(), weights.nulls()], opt_filter);
    let weights: &[f64] = weights.values();
    state.accumulate(&input, group_indices, mask.as_ref(), |slot, value, row| {
        let weight = finite_or_zero(weights[row]);
        slot[NUM] += finite_or_zero(value) * weight;
        slot[DEN] += weight;
    })
}

/// Folds state rows (`values` = `[num, den]`) into `state`.
fn merge_state(
    state: &mut GroupedMapState<2>,
    values: &[ArrayRef],
    group_indices: &[usize],
) -> Result<()> {
    let (num, den) = two_args(values, "state")?;
    let num = MapInput::try_new(num)?;
    let mask = row_mask(&[num.nulls()], None);
    state.accumulate(&num, group_indices, mask.as_ref(), add_numerator)?;
    let den = MapInput::try_new(den)?;
    let mask = row_mask(&[den.nulls()], None);
    state.accumulate(&den, group_indices, mask.as_ref(), add_denominator)
}

/// [`GroupsAccumulator`] of `avg_metric_map`: dense per-key (Σ v·w, Σ w) for all groups.
#[derive(Debug, Default)]
pub struct AvgMetricMapGroupsAccumulator {
    state: GroupedMapState<2>,
}

impl AvgMetricMapGroupsAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl GroupsAccumulator for AvgMetricMapGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.state.ensure_groups(total_num_groups);
        update_state(&mut self.state, values, group_indices, opt_filter)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let n = self.state.emit_len(emit_to);
        let maps = self.state.build_maps(0..n, average)?;
        self.state.remove_emitted(emit_to);
        Ok(Arc::new(maps))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let n = self.state.emit_len(emit_to);
        let num = self.state.build_maps(0..n, numerator)?;
        let den = self.state.build_maps(0..n, denominator)?;
        self.state.remove_emitted(emit_to);
        Ok(vec![Arc::new(num), Arc::new(den)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.state.ensure_groups(total_num_groups);
        merge_state(&mut self.state, values, group_indices)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Every row is its own group.
        let rows = two_args(values, "input")?.0.len();
        let group_indices: Vec<usize> = (0..rows).collect();
        let mut single_rows = Self::new();
        single_rows.update_batch(values, &group_indices, opt_filter, rows)?;
        single_rows.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.state.size()
    }
}

/// Single-group [`Accumulator`] of `avg_metric_map` (no GROUP BY, window frames): the groups
/// machinery with one group.
#[derive(Debug, Default)]
pub struct AvgMetricMapAccumulator {
    state: GroupedMapState<2>,
    zeros: SingleGroupIndices,
}

impl AvgMetricMapAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    fn map_of(&mut self, value: fn(&[f64; 2]) -> f64) -> Result<ScalarValue> {
        self.state.ensure_groups(1);
        Ok(ScalarValue::Map(Arc::new(
            self.state.build_maps(0..1, value)?,
        )))
    }
}

impl Accumulator for AvgMetricMapAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.state.ensure_groups(1);
        let rows = two_args(values, "input")?.0.len();
        let groups = self.zeros.get(rows);
        update_state(&mut self.state, values, groups, None)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.map_of(average)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.state.size() + self.zeros.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.map_of(numerator)?, self.map_of(denominator)?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.state.ensure_groups(1);
        let rows = two_args(states, "state")?.0.len();
        let groups = self.zeros.get(rows);
        merge_state(&mut self.state, states, groups)
    }
}
