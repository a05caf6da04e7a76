//! Aggregate functions over metric maps (`Map<Utf8, Float64>` columns such as
//! `total_time_seconds` or `avg_cpu_usage`).
//!
//! | Function | Alias | Result |
//! |---|---|---|
//! | `sum_metric_map(map)` | `sum_metric_map_agg` | per-key sum |
//! | `avg_metric_map(map, weight)` | `avg_metric_map_agg` | per-key weighted average |
//!
//! Both return a `Map<Utf8, Float64>` ([`metric_map_data_type`]) with the keys seen in the
//! group sorted by name, and an **empty map (never NULL)** for a group without entries. NULL
//! maps, empty maps and NULL values are ignored; NaN and ±Inf count as 0. See
//! [`sum_metric_map`] and [`avg_metric_map`] for the exact contracts.
//!
//! Both have a [`GroupsAccumulator`](datafusion::logical_expr::GroupsAccumulator) (the
//! `GROUP BY` path) and an [`Accumulator`](datafusion::logical_expr::Accumulator) (no
//! `GROUP BY`, window frames) sharing the dense per-key state of `map_state`, and mergeable
//! states, so partial/final aggregation and spilling give the single-pass result.
//!
//! Register them with [`register_all`] (or take [`all_udafs`]).
//!
//! # Adding a UDAF
//!
//! 1. Add the name (and alias) constants below and a file `udaf/<name>.rs` holding the
//!    `AggregateUDFImpl`, its `Accumulator` and `GroupsAccumulator`. Build on
//!    `map_state::GroupedMapState<W>` when the state is a few numbers per (group, key):
//!    `accumulate` with an update closure, `build_maps` with a finishing closure,
//!    `emit_len`/`remove_emitted` for `EmitTo`.
//! 2. Declare the state fields in `state_fields`, documenting each one, and make `merge_batch`
//!    exact: merging the states of any split of the rows must give the single-pass result.
//! 3. Implement `convert_to_state` (each input row becomes one state row) and honour
//!    `opt_filter` and NULL inputs.
//! 4. Add a constructor `<name>_udaf()` and list it in [`all_udafs`]; the unit test below
//!    checks that names and aliases do not repeat.
//! 5. In `udaf/tests.rs`, test hand-computed results through SQL, a reference model with
//!    proptest, split/merge and `EmitTo::First` equivalences; add a case to
//!    `benches/benches/udaf.rs`.

use std::sync::{Arc, LazyLock};

use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::AggregateUDF;

pub mod avg_metric_map;
mod map_state;
pub mod sum_metric_map;

#[cfg(test)]
mod tests;

pub use avg_metric_map::{AvgMetricMap, AvgMetricMapAccumulator, AvgMetricMapGroupsAccumulator};
pub use map_state::{
    METRIC_MAP_ENTRIES_FIELD, METRIC_MAP_KEY_FIELD, METRIC_MAP_VALUE_FIELD, metric_map_data_type,
    metric_map_entries_field,
};
pub use sum_metric_map::{SumMetricMap, SumMetricMapAccumulator, SumMetricMapGroupsAccumulator};

/// Name of the per-key sum of metric maps.
pub const SUM_METRIC_MAP_NAME: &str = "sum_metric_map";
/// Alias of [`SUM_METRIC_MAP_NAME`], the name used by the original CEEMS.
pub const SUM_METRIC_MAP_AGG_NAME: &str = "sum_metric_map_agg";
/// Name of the per-key weighted average of metric maps.
pub const AVG_METRIC_MAP_NAME: &str = "avg_metric_map";
/// Alias of [`AVG_METRIC_MAP_NAME`], the name used by the original CEEMS.
pub const AVG_METRIC_MAP_AGG_NAME: &str = "avg_metric_map_agg";

/// The `sum_metric_map(map)` aggregate (alias `sum_metric_map_agg`).
pub fn sum_metric_map_udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::new_from_impl(SumMetricMap::new())));
    Arc::clone(&UDAF)
}

/// The `avg_metric_map(map, weight)` aggregate (alias `avg_metric_map_agg`).
pub fn avg_metric_map_udaf() -> Arc<AggregateUDF> {
    static UDAF: LazyLock<Arc<AggregateUDF>> =
        LazyLock::new(|| Arc::new(AggregateUDF::new_from_impl(AvgMetricMap::new())));
    Arc::clone(&UDAF)
}

/// Every aggregate function of ceems-lake.
pub fn all_udafs() -> Vec<Arc<AggregateUDF>> {
    vec![sum_metric_map_udaf(), avg_metric_map_udaf()]
}

/// Registers [`all_udafs`] (with their aliases) in `registry`, e.g. a `SessionContext` or
/// `SessionState`.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for udaf in all_udafs() {
        registry.register_udaf(udaf)?;
    }
    Ok(())
}

#[cfg(test)]
mod registry_tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_and_aliases_do_not_repeat() {
        let mut seen = HashSet::new();
        for udaf in all_udafs() {
            for name in
                std::iter::once(udaf.name()).chain(udaf.aliases().iter().map(|a| a.as_str()))
            {
                assert!(seen.insert(name.to_string()), "name {name} repeats");
            }
        }
        let expected: HashSet<String> = [
            SUM_METRIC_MAP_NAME,
            SUM_METRIC_MAP_AGG_NAME,
            AVG_METRIC_MAP_NAME,
            AVG_METRIC_MAP_AGG_NAME,
        ]
        .iter()
        .map(|name| name.to_string())
        .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn register_all_registers_names_and_aliases() {
        let mut ctx = datafusion::prelude::SessionContext::new();
        register_all(&mut ctx).unwrap();
        for name in [
            SUM_METRIC_MAP_NAME,
            SUM_METRIC_MAP_AGG_NAME,
            AVG_METRIC_MAP_NAME,
            AVG_METRIC_MAP_AGG_NAME,
        ] {
            assert!(ctx.udaf(name).is_ok(), "{name} not registered");
        }
    }
}
