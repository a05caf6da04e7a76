//! `sum_metric_map(map)`: per-key sum of metric maps (alias `sum_metric_map_agg`).
//!
//! # Semantics
//!
//! - Input: a metric map `Map<Utf8, Float64>` (string-like keys and any numeric values are
//!   accepted and converted).
//! - A NULL map or an empty map in a row is ignored. A NULL value inside a map means the key is
//!   absent from that row. NaN, +Inf and -Inf count as 0 (the key is present, with value 0).
//! - Output: `Map<Utf8, Float64>` holding, for every key seen in the group (in any row, even
//!   with a NaN value), the sum of its values over the rows carrying it; keys are sorted by
//!   name. A group without any non-empty map gives an **empty map, not NULL**.
//!
//! # State
//!
//! One field: a metric map of partial sums. Merging adds per key, so partial aggregation,
//! repartitioning and spilling give the single-pass result (up to float summation order).

use std::mem::size_of_val;
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BooleanArray};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, not_impl_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, GroupsAccumulator, ReversedUDAF,
    Signature, Volatility, aggregate_doc_sections::DOC_SECTION_GENERAL,
};

use super::map_state::{
    GroupedMapState, MapInput, SingleGroupIndices, coerce_metric_map_arg, empty_metric_map_scalar,
    finite_or_zero, metric_map_data_type, row_mask,
};
use super::{SUM_METRIC_MAP_AGG_NAME, SUM_METRIC_MAP_NAME};

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_GENERAL,
        "Sums metric maps key by key. NULL maps, empty maps and NULL values are ignored; NaN \
         and infinite values count as 0. Returns a map of the keys seen in the group, sorted \
         by key, with their sums; an empty map (not NULL) when the group has no entry.",
        "sum_metric_map(map)",
    )
    .with_sql_example(
        "```sql\n> SELECT sum_metric_map(total_time_seconds) FROM units;\n\
         {alloc_cputime: 7200.0, walltime: 3600.0}\n```",
    )
    .with_argument(
        "map",
        "Metric map `Map<Utf8, Float64>` (numeric values are accepted).",
    )
    .with_alternative_syntax("sum_metric_map_agg(map)")
    .with_related_udf("avg_metric_map")
    .build()
});

/// The `sum_metric_map` aggregate function. Build one with
/// [`super::sum_metric_map_udaf`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SumMetricMap {
    signature: Signature,
    aliases: Vec<String>,
}

impl SumMetricMap {
    /// A new instance (name `sum_metric_map`, alias `sum_metric_map_agg`).
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            aliases: vec![SUM_METRIC_MAP_AGG_NAME.to_string()],
        }
    }
}

impl Default for SumMetricMap {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for SumMetricMap {
    fn name(&self) -> &str {
        SUM_METRIC_MAP_NAME
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [map] = arg_types else {
            return plan_err!(
                "{SUM_METRIC_MAP_NAME} takes one argument (a metric map), got {}",
                arg_types.len()
            );
        };
        Ok(vec![coerce_metric_map_arg(SUM_METRIC_MAP_NAME, map)?])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if arg_types.len() != 1 {
            return plan_err!("{SUM_METRIC_MAP_NAME} takes one argument");
        }
        Ok(metric_map_data_type())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if args.is_distinct {
            return not_impl_err!("{SUM_METRIC_MAP_NAME}(DISTINCT ...) is not supported");
        }
        Ok(Box::new(SumMetricMapAccumulator::new()))
    }

    /// One state field:
    ///
    /// - `<name>[sum]`: `Map<Utf8, Float64>`, per key the partial sum of the (NaN/Inf → 0)
    ///   values of the rows aggregated so far. A key is present iff some row carried it with a
    ///   non-null value. Merging adds the partial sums key by key.
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "sum"),
            metric_map_data_type(),
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        !args.is_distinct
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        if args.is_distinct {
            return not_impl_err!("{SUM_METRIC_MAP_NAME}(DISTINCT ...) is not supported");
        }
        Ok(Box::new(SumMetricMapGroupsAccumulator::new()))
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

/// Adds the (NaN/Inf → 0) input values.
#[inline(always)]
fn add_input(slot: &mut [f64; 1], value: f64, _row: usize) {
    slot[0] += finite_or_zero(value);
}

/// Adds partial sums.
#[inline(always)]
fn add_partial(slot: &mut [f64; 1], value: f64, _row: usize) {
    slot[0] += value;
}

#[inline(always)]
fn sum_of(slot: &[f64; 1]) -> f64 {
    slot[0]
}

fn single_arg<'a>(values: &'a [ArrayRef], what: &str) -> Result<&'a ArrayRef> {
    match values {
        [map] => Ok(map),
        _ => exec_err!(
            "{SUM_METRIC_MAP_NAME}: expected 1 {what} array, got {}",
            values.len()
        ),
    }
}

/// [`GroupsAccumulator`] of `sum_metric_map`: dense per-key sums for all groups.
#[derive(Debug, Default)]
pub struct SumMetricMapGroupsAccumulator {
    state: GroupedMapState<1>,
}

impl SumMetricMapGroupsAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    fn emit(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let n = self.state.emit_len(emit_to);
        let maps = self.state.build_maps(0..n, sum_of)?;
        self.state.remove_emitted(emit_to);
        Ok(Arc::new(maps))
    }
}

impl GroupsAccumulator for SumMetricMapGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let input = MapInput::try_new(single_arg(values, "input")?)?;
        self.state.ensure_groups(total_num_groups);
        let mask = row_mask(&[input.nulls()], opt_filter);
        self.state
            .accumulate(&input, group_indices, mask.as_ref(), add_input)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.emit(emit_to)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.emit(emit_to)?])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let input = MapInput::try_new(single_arg(values, "state")?)?;
        self.state.ensure_groups(total_num_groups);
        let mask = row_mask(&[input.nulls()], None);
        self.state
            .accumulate(&input, group_indices, mask.as_ref(), add_partial)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Every row is its own group.
        let rows = single_arg(values, "input")?.len();
        let group_indices: Vec<usize> = (0..rows).collect();
        let mut single_rows = Self::new();
        single_rows.update_batch(values, &group_indices, opt_filter, rows)?;
        single_rows.state(EmitTo::All)
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.state.size()
    }
}

/// Single-group [`Accumulator`] of `sum_metric_map` (no GROUP BY, window frames): the groups
/// machinery with one group.
#[derive(Debug, Default)]
pub struct SumMetricMapAccumulator {
    state: GroupedMapState<1>,
    zeros: SingleGroupIndices,
}

impl SumMetricMapAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    fn current(&mut self) -> Result<ScalarValue> {
        self.state.ensure_groups(1);
        Ok(ScalarValue::Map(Arc::new(
            self.state.build_maps(0..1, sum_of)?,
        )))
    }
}

impl Accumulator for SumMetricMapAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let input = MapInput::try_new(single_arg(values, "input")?)?;
        self.state.ensure_groups(1);
        let mask = row_mask(&[input.nulls()], None);
        let groups = self.zeros.get(input.len());
        self.state
            .accumulate(&input, groups, mask.as_ref(), add_input)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.current()
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.state.size() + self.zeros.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.current()?])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let input = MapInput::try_new(single_arg(states, "state")?)?;
        self.state.ensure_groups(1);
        let mask = row_mask(&[input.nulls()], None);
        let groups = self.zeros.get(input.len());
        self.state
            .accumulate(&input, groups, mask.as_ref(), add_partial)
    }
}
