//! The logical metric maps of `units`, rebuilt from flat columns.
//!
//! `metric_map(overflow, 'key1', value1, 'key2', value2, …)` returns a `Map<Utf8, Float64>`
//! holding every non-null flat value under its key (in argument order) followed by the entries
//! of the overflow map whose keys were not given. The `units` view uses it so that analysts can
//! write `sum_metric_map(total_time_seconds)`; the API never needs it and aggregates the flat
//! columns directly.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, MapArray, MapBuilder, MapFieldNames, StringBuilder,
};
use arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, LogicalPlan, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::prelude::{Expr, col, lit};

use crate::schema::{self, KeyRegistry, METRIC_MAPS};

/// Name of the map-building function.
pub const METRIC_MAP_NAME: &str = "metric_map";

/// See the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MetricMapFn {
    signature: Signature,
}

impl Default for MetricMapFn {
    fn default() -> Self {
        MetricMapFn {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}

/// The `metric_map` scalar function.
pub fn metric_map_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(MetricMapFn::default()))
}

impl ScalarUDFImpl for MetricMapFn {
    fn name(&self) -> &str {
        METRIC_MAP_NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> DfResult<DataType> {
        if args.is_empty() || args.len().is_multiple_of(2) {
            return plan_err!(
                "metric_map(overflow, key, value, ...) takes an odd number of arguments"
            );
        }
        Ok(schema::metric_map_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let n = args.number_rows;
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(n))
            .collect::<DfResult<_>>()?;
        let overflow = arrays[0].as_map_opt();
        let mut keys: Vec<String> = Vec::new();
        let mut values = Vec::new();
        for pair in args.args[1..].chunks(2) {
            let key = match &pair[0] {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(k))) => k.clone(),
                ColumnarValue::Scalar(ScalarValue::Utf8View(Some(k))) => k.clone(),
                _ => return exec_err!("metric_map keys must be string literals"),
            };
            keys.push(key);
            let v = arrow::compute::cast(&pair[1].to_array(n)?, &DataType::Float64)?;
            values.push(v);
        }
        let mut b = MapBuilder::new(
            Some(MapFieldNames {
                entry: "entries".into(),
                key: "key".into(),
                value: "value".into(),
            }),
            StringBuilder::new(),
            Float64Builder::new(),
        );
        for row in 0..n {
            let mut any = false;
            for (k, v) in keys.iter().zip(&values) {
                let v = v.as_primitive::<Float64Type>();
                if v.is_valid(row) {
                    b.keys().append_value(k);
                    b.values().append_value(v.value(row));
                    any = true;
                }
            }
            if let Some(m) = overflow {
                append_overflow(&mut b, m, row, &keys, &mut any);
            }
            b.append(any)?;
        }
        Ok(ColumnarValue::Array(Arc::new(b.finish())))
    }
}

fn append_overflow(
    b: &mut MapBuilder<StringBuilder, Float64Builder>,
    m: &MapArray,
    row: usize,
    known: &[String],
    any: &mut bool,
) {
    if m.is_null(row) {
        return;
    }
    let offsets = m.value_offsets();
    let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
    let ks = m.keys().as_string::<i32>();
    let vs = m.values().as_primitive::<Float64Type>();
    for i in start..end {
        let k = ks.value(i);
        if vs.is_null(i) || known.iter().any(|x| x == k) {
            continue;
        }
        b.keys().append_value(k);
        b.values().append_value(vs.value(i));
        *any = true;
    }
}

/// The expression rebuilding map `map_index` from its flat and overflow columns.
pub fn map_expr(registry: &KeyRegistry, map_index: usize) -> Expr {
    let map = METRIC_MAPS[map_index];
    let mut args = vec![col(schema::overflow_column_name(map))];
    for key in registry.keys_of(map_index) {
        args.push(lit(key.as_str()));
        args.push(col(schema::flat_column_name(map, key)));
    }
    metric_map_udf().call(args)
}

/// The plan of the analysts' `units` view: every stored column except the overflow maps, plus
/// one logical map column per metric map.
pub fn units_view(scan: LogicalPlanBuilder, registry: &KeyRegistry) -> DfResult<LogicalPlan> {
    let stored = schema::units_schema(registry);
    let mut exprs: Vec<Expr> = stored
        .fields()
        .iter()
        .filter(|f| {
            !f.name().ends_with(&format!(
                "{}{}",
                schema::FLAT_SEPARATOR,
                schema::OVERFLOW_SUFFIX
            ))
        })
        .map(|f| col(f.name()))
        .collect();
    for (i, map) in METRIC_MAPS.iter().enumerate() {
        exprs.push(map_expr(registry, i).alias(*map));
    }
    scan.project(exprs)?.build()
}
