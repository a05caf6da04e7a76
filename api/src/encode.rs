//! JSON encoding of query results, straight from Arrow arrays, with the original's rules:
//! struct field order, `omitempty`, sorted map keys, metric numbers as integers when integral and
//! with exactly 8 decimals otherwise (NaN/Inf → 0), Go string escaping.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimestampMillisecondType};
use ceems_lake_engine::query::api::{UNIT_FIELDS, UsageLayout, UsageValue};
use ceems_lake_engine::schema::{self, KeyRegistry, METRIC_MAPS};
use chrono::TimeZone;
use datafusion::arrow;

use crate::envelope::push_json_string;

/// Appends a metric value: integral → integer, otherwise 8 decimals; NaN/Inf → 0. With
/// `round15`, the value is first rounded to 15 significant digits, as the original's SQLite
/// aggregates are before its server re-parses them.
pub fn push_metric(out: &mut Vec<u8>, v: f64, round15: bool) {
    if !v.is_finite() {
        out.push(b'0');
        return;
    }
    let v = if round15 && v != 0.0 {
        format!("{v:.14e}").parse::<f64>().unwrap_or(v)
    } else {
        v
    };
    if v == v.trunc() && v.abs() < 9.223_372_036_854_775e18 {
        out.extend_from_slice((v as i64).to_string().as_bytes());
    } else {
        out.extend_from_slice(format!("{v:.8}").as_bytes());
    }
}

/// Re-emits generic JSON (`allocation`, `tags`, member lists): object keys sorted, integral
/// numbers as integers, other numbers as their shortest form, strings with Go escaping.
pub fn push_generic_json(out: &mut Vec<u8>, v: &serde_json::Value) {
    match v {
        serde_json::Value::Null => out.extend_from_slice(b"null"),
        serde_json::Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                let f = n.as_f64().unwrap_or(0.0);
                if f == f.trunc() && f.abs() < 1e21 {
                    out.extend_from_slice(format!("{f:.0}").as_bytes());
                } else {
                    out.extend_from_slice(n.to_string().as_bytes());
                }
            }
        }
        serde_json::Value::String(s) => push_json_string(out, s),
        serde_json::Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_generic_json(out, x);
            }
            out.push(b']');
        }
        serde_json::Value::Object(o) => {
            // serde_json's map is ordered by key, like Go's encoding of map[string]any.
            out.push(b'{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json_string(out, k);
                out.push(b':');
                push_generic_json(out, x);
            }
            out.push(b'}');
        }
    }
}

/// Whether a JSON text is empty for `omitempty` (absent, null, `{}`, `[]`).
fn json_text_empty(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Object(o) => o.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn string_column(b: &RecordBatch, name: &str) -> Option<StringArray> {
    let c = b.column_by_name(name)?;
    let c = arrow::compute::cast(c, &DataType::Utf8).ok()?;
    Some(c.as_string::<i32>().clone())
}

fn str_at(a: &Option<StringArray>, i: usize) -> &str {
    match a {
        Some(a) if a.is_valid(i) => a.value(i),
        _ => "",
    }
}

/// Appends `,"name":` (or `"name":` first in the object).
fn key(out: &mut Vec<u8>, first: &mut bool, name: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// The zone to render the three unit time strings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputTz {
    /// As stored.
    AsStored,
    /// An IANA zone.
    Zone(chrono_tz::Tz),
    /// The server's local zone.
    Local,
}

fn convert_time(s: &str, tz: OutputTz) -> std::borrow::Cow<'_, str> {
    const LAYOUT: &str = "%Y-%m-%dT%H:%M:%S%z";
    if tz == OutputTz::AsStored {
        return s.into();
    }
    let Ok(t) = chrono::DateTime::parse_from_str(s, LAYOUT) else {
        return s.into();
    };
    let utc = t.naive_utc();
    match tz {
        OutputTz::AsStored => s.into(),
        OutputTz::Zone(tz) => tz.from_utc_datetime(&utc).format(LAYOUT).to_string().into(),
        OutputTz::Local => chrono::Local
            .from_utc_datetime(&utc)
            .format(LAYOUT)
            .to_string()
            .into(),
    }
}

/// Flat and overflow columns of one metric map in a batch, keys sorted.
struct MapColumns {
    flat: Vec<(String, ArrayRef)>,
    overflow: Option<ArrayRef>,
}

fn map_columns(b: &RecordBatch, registry: &KeyRegistry, m: usize) -> MapColumns {
    let map = METRIC_MAPS[m];
    let mut flat: Vec<(String, ArrayRef)> = registry
        .keys_of(m)
        .iter()
        .filter_map(|k| {
            b.column_by_name(&schema::flat_column_name(map, k))
                .map(|c| (k.clone(), Arc::clone(c)))
        })
        .collect();
    flat.sort_by(|a, b| a.0.cmp(&b.0));
    MapColumns {
        flat,
        overflow: b
            .column_by_name(&schema::overflow_column_name(map))
            .cloned(),
    }
}

/// Collects the (key, value) entries of one row of a map into `buf`, sorted by key.
fn row_entries(mc: &MapColumns, i: usize, buf: &mut Vec<(String, f64)>) {
    buf.clear();
    for (k, c) in &mc.flat {
        let c = c.as_primitive::<Float64Type>();
        if c.is_valid(i) {
            buf.push((k.clone(), c.value(i)));
        }
    }
    if let Some(o) = &mc.overflow {
        push_map_entries(o, i, buf);
        buf.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

fn push_map_entries(o: &ArrayRef, i: usize, buf: &mut Vec<(String, f64)>) {
    let m = o.as_map();
    if m.is_null(i) {
        return;
    }
    let offsets = m.value_offsets();
    let keys = arrow::compute::cast(m.keys(), &DataType::Utf8).expect("string keys");
    let keys = keys.as_string::<i32>();
    let vals = arrow::compute::cast(m.values(), &DataType::Float64).expect("numeric values");
    let vals = vals.as_primitive::<Float64Type>();
    for j in offsets[i] as usize..offsets[i + 1] as usize {
        if vals.is_valid(j) && !buf.iter().any(|(k, _)| k == keys.value(j)) {
            buf.push((keys.value(j).to_string(), vals.value(j)));
        }
    }
}

fn push_entries(out: &mut Vec<u8>, entries: &[(String, f64)], round15: bool) {
    out.push(b'{');
    for (j, (k, v)) in entries.iter().enumerate() {
        if j > 0 {
            out.push(b',');
        }
        push_json_string(out, k);
        out.push(b':');
        push_metric(out, *v, round15);
    }
    out.push(b'}');
}

/// Encodes units as a JSON array (`[]` when there are none).
pub fn units(
    batches: &[RecordBatch],
    registry: &KeyRegistry,
    fields: &Option<BTreeSet<&'static str>>,
    tz: OutputTz,
) -> Vec<u8> {
    let mut enc = UnitsEncoder::new(registry.clone(), fields.clone(), tz);
    let mut out = Vec::with_capacity(4096);
    out.push(b'[');
    for b in batches {
        enc.push_batch(b, &mut out);
    }
    out.push(b']');
    out
}

/// Encodes units batch by batch: the elements of a JSON array, without its brackets, each batch
/// continuing the one before (so a response can be streamed as batches arrive).
#[derive(Debug)]
pub struct UnitsEncoder {
    registry: KeyRegistry,
    fields: Option<BTreeSet<&'static str>>,
    tz: OutputTz,
    first_row: bool,
    entries: Vec<(String, f64)>,
}

impl UnitsEncoder {
    pub fn new(
        registry: KeyRegistry,
        fields: Option<BTreeSet<&'static str>>,
        tz: OutputTz,
    ) -> UnitsEncoder {
        UnitsEncoder {
            registry,
            fields,
            tz,
            first_row: true,
            entries: Vec::new(),
        }
    }

    /// Appends the units of `b` to `out`, after a comma when units were appended before.
    pub fn push_batch(&mut self, b: &RecordBatch, out: &mut Vec<u8>) {
        let fields = &self.fields;
        let registry = &self.registry;
        let tz = self.tz;
        let entries = &mut self.entries;
        let sel = |f: &str| fields.as_ref().map(|s| s.contains(f)).unwrap_or(true);
        let s: Vec<(&str, Option<StringArray>)> = UNIT_FIELDS
            .iter()
            .filter(|f| schema::metric_map_index(f).is_none() && !f.ends_with("_ts"))
            .map(|f| (*f, if sel(f) { string_column(b, f) } else { None }))
            .collect();
        let text = |name: &str| {
            s.iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, a)| a.as_ref())
        };
        let tscol = |name: &str| {
            if sel(name) {
                b.column_by_name(name).cloned()
            } else {
                None
            }
        };
        let ts_cols = [
            ("created_at_ts", tscol("created_at_ts")),
            ("started_at_ts", tscol("started_at_ts")),
            ("ended_at_ts", tscol("ended_at_ts")),
        ];
        let maps: Vec<(usize, MapColumns)> = (0..METRIC_MAPS.len())
            .filter(|m| sel(METRIC_MAPS[*m]))
            .map(|m| (m, map_columns(b, registry, m)))
            .collect();
        for i in 0..b.num_rows() {
            if !self.first_row {
                out.push(b',');
            }
            self.first_row = false;
            out.push(b'{');
            let mut first = true;
            for f in UNIT_FIELDS {
                if let Some(m) = schema::metric_map_index(f) {
                    if let Some((_, mc)) = maps.iter().find(|(x, _)| *x == m) {
                        row_entries(mc, i, entries);
                        if !entries.is_empty() {
                            key(out, &mut first, f);
                            push_entries(out, entries, false);
                        }
                    }
                    continue;
                }
                if let Some((_, c)) = ts_cols.iter().find(|(n, _)| *n == f) {
                    if let Some(c) = c {
                        let c = c.as_primitive::<TimestampMillisecondType>();
                        if c.is_valid(i) && c.value(i) != 0 {
                            key(out, &mut first, f);
                            out.extend_from_slice(c.value(i).to_string().as_bytes());
                        }
                    }
                    continue;
                }
                let v = match text(f) {
                    Some(a) if a.is_valid(i) => a.value(i),
                    _ => "",
                };
                match f {
                    "uuid" => {
                        key(out, &mut first, f);
                        push_json_string(out, v);
                    }
                    "allocation" | "tags" => {
                        if let Ok(j) = serde_json::from_str::<serde_json::Value>(v)
                            && !json_text_empty(&j)
                        {
                            key(out, &mut first, f);
                            push_generic_json(out, &j);
                        }
                    }
                    "created_at" | "started_at" | "ended_at" => {
                        if !v.is_empty() {
                            key(out, &mut first, f);
                            push_json_string(out, &convert_time(v, tz));
                        }
                    }
                    _ => {
                        if !v.is_empty() {
                            key(out, &mut first, f);
                            push_json_string(out, v);
                        }
                    }
                }
            }
            out.push(b'}');
        }
    }
}

fn f64_at(b: &RecordBatch, name: &str, i: usize) -> Option<f64> {
    let c = b.column_by_name(name)?;
    let c = arrow::compute::cast(c, &DataType::Float64).ok()?;
    let c = c.as_primitive::<Float64Type>();
    c.is_valid(i).then(|| c.value(i))
}

/// Encodes usage rows. `zero_fill`: current mode (keys of the window shown as 0, values rounded
/// to 15 significant digits); otherwise each row shows its own keys.
pub fn usage(
    batches: &[RecordBatch],
    layout: &UsageLayout,
    fields: &Option<BTreeSet<&'static str>>,
    current: bool,
) -> Vec<u8> {
    let sel = |f: &str| fields.as_ref().map(|s| s.contains(f)).unwrap_or(true);
    let mut out = Vec::with_capacity(4096);
    out.push(b'[');
    let mut first_row = true;
    for b in batches {
        let s = |n: &str| if sel(n) { string_column(b, n) } else { None };
        let (cl, rm, pr, gr, us) = (
            s("cluster_id"),
            s("resource_manager"),
            s("project"),
            s("groupname"),
            s("username"),
        );
        let num_units = b
            .column_by_name("num_units")
            .map(|c| c.as_primitive::<Int64Type>().clone());
        let overflow_maps: BTreeMap<String, ArrayRef> = layout
            .maps
            .values()
            .flatten()
            .filter_map(|v| match v {
                UsageValue::OverflowSum { column } | UsageValue::OverflowAvg { column } => b
                    .column_by_name(column)
                    .map(|c| (column.clone(), Arc::clone(c))),
                _ => None,
            })
            .collect();
        for i in 0..b.num_rows() {
            if !first_row {
                out.push(b',');
            }
            first_row = false;
            out.extend_from_slice(b"{\"cluster_id\":");
            push_json_string(&mut out, str_at(&cl, i));
            out.extend_from_slice(b",\"resource_manager\":");
            push_json_string(&mut out, str_at(&rm, i));
            out.extend_from_slice(b",\"num_units\":");
            let n = match (&num_units, sel("num_units")) {
                (Some(c), true) if c.is_valid(i) => c.value(i),
                _ => 0,
            };
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b",\"project\":");
            push_json_string(&mut out, str_at(&pr, i));
            out.extend_from_slice(b",\"groupname\":");
            push_json_string(&mut out, str_at(&gr, i));
            out.extend_from_slice(b",\"username\":");
            push_json_string(&mut out, str_at(&us, i));
            for (m, values) in &layout.maps {
                let mut entries: BTreeMap<String, f64> = BTreeMap::new();
                for v in values {
                    match v {
                        UsageValue::Sum { key, column } => {
                            if let Some(x) = f64_at(b, column, i) {
                                entries.insert(key.clone(), x);
                            }
                        }
                        UsageValue::Avg { key, num, den } => {
                            let (n, d) = (f64_at(b, num, i), f64_at(b, den, i));
                            match (n, d) {
                                (Some(n), Some(d)) if d != 0.0 => {
                                    entries.insert(key.clone(), n / d);
                                }
                                (None, None) => {}
                                _ => {
                                    entries.insert(key.clone(), 0.0);
                                }
                            }
                        }
                        UsageValue::OverflowSum { column } | UsageValue::OverflowAvg { column } => {
                            if let Some(c) = overflow_maps.get(column) {
                                let mut buf = Vec::new();
                                push_map_entries(c, i, &mut buf);
                                for (k, x) in buf {
                                    entries.entry(k).or_insert(x);
                                }
                            }
                        }
                    }
                }
                if current && let Some(keys) = layout.zero_fill.get(m) {
                    for k in keys {
                        entries.entry(k.clone()).or_insert(0.0);
                    }
                }
                if entries.is_empty() {
                    continue;
                }
                out.extend_from_slice(b",\"");
                out.extend_from_slice(METRIC_MAPS[*m].as_bytes());
                out.extend_from_slice(b"\":");
                let list: Vec<(String, f64)> = entries.into_iter().collect();
                push_entries(&mut out, &list, current);
            }
            out.push(b'}');
        }
    }
    out.push(b']');
    out
}

/// Encodes `users`/`admin_users` (`list` = "projects") or `projects` (`list` = "users") rows.
pub fn members(batches: &[RecordBatch], list: &str, extra: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.push(b'[');
    let mut first_row = true;
    let is_project = list == "users";
    for b in batches {
        let (uid, cl, rm, name, tags) = (
            string_column(b, "uid"),
            string_column(b, "cluster_id"),
            string_column(b, "resource_manager"),
            string_column(b, "name"),
            string_column(b, "tags"),
        );
        let members = b.column_by_name(list).map(|c| c.as_list::<i32>().clone());
        for i in 0..b.num_rows() {
            if !first_row {
                out.push(b',');
            }
            first_row = false;
            out.push(b'{');
            let mut first = true;
            let u = str_at(&uid, i);
            if !u.is_empty() {
                key(&mut out, &mut first, "uid");
                push_json_string(&mut out, u);
            }
            key(&mut out, &mut first, "cluster_id");
            push_json_string(&mut out, str_at(&cl, i));
            let r = str_at(&rm, i);
            if is_project || !r.is_empty() {
                key(&mut out, &mut first, "resource_manager");
                push_json_string(&mut out, r);
            }
            key(&mut out, &mut first, "name");
            push_json_string(&mut out, str_at(&name, i));
            let names: Option<Vec<String>> = members.as_ref().and_then(|l| {
                if l.is_null(i) {
                    return None;
                }
                let v = arrow::compute::cast(&l.value(i), &DataType::Utf8).ok()?;
                let v = v.as_string::<i32>();
                Some((0..v.len()).map(|j| v.value(j).to_string()).collect())
            });
            match (&names, is_project) {
                (Some(n), _) if !n.is_empty() || is_project => {
                    key(&mut out, &mut first, list);
                    out.push(b'[');
                    for (j, x) in n.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        push_json_string(&mut out, x);
                    }
                    out.push(b']');
                }
                (None, true) => {
                    key(&mut out, &mut first, list);
                    out.extend_from_slice(b"null");
                }
                _ => {}
            }
            if let Ok(t) = serde_json::from_str::<serde_json::Value>(str_at(&tags, i))
                && !json_text_empty(&t)
            {
                key(&mut out, &mut first, "tags");
                push_generic_json(&mut out, &t);
            }
            out.push(b'}');
        }
    }
    for (cluster, name) in extra {
        if !first_row {
            out.push(b',');
        }
        first_row = false;
        out.extend_from_slice(b"{\"cluster_id\":");
        push_json_string(&mut out, cluster);
        out.extend_from_slice(b",\"name\":");
        push_json_string(&mut out, name);
        out.extend_from_slice(b",\"tags\":[\"ceems\"]}");
    }
    out.push(b']');
    out
}

/// Encodes stats rows.
pub fn stats(batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.push(b'[');
    let mut first_row = true;
    for b in batches {
        let (cl, rm) = (
            string_column(b, "cluster_id"),
            string_column(b, "resource_manager"),
        );
        let int = |n: &str, i: usize| {
            b.column_by_name(n)
                .map(|c| c.as_primitive::<Int64Type>().value(i))
                .unwrap_or(0)
        };
        for i in 0..b.num_rows() {
            if !first_row {
                out.push(b',');
            }
            first_row = false;
            let (units, inactive) = (int("num_units", i), int("num_inactive_units", i));
            out.extend_from_slice(b"{\"cluster_id\":");
            push_json_string(&mut out, str_at(&cl, i));
            out.extend_from_slice(b",\"resource_manager\":");
            push_json_string(&mut out, str_at(&rm, i));
            out.extend_from_slice(
                format!(
                    ",\"num_units\":{units},\"num_inactive_units\":{inactive},\"num_active_units\":{},\"num_projects\":{},\"num_users\":{}}}",
                    units - inactive,
                    int("num_projects", i),
                    int("num_users", i)
                )
                .as_bytes(),
            );
        }
    }
    out.push(b']');
    out
}

/// Encodes `(cluster_id, resource_manager)` rows as `{"id","manager"}`.
pub fn clusters(batches: &[RecordBatch]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(b'[');
    let mut first_row = true;
    for b in batches {
        let (cl, rm) = (
            string_column(b, "cluster_id"),
            string_column(b, "resource_manager"),
        );
        for i in 0..b.num_rows() {
            if !first_row {
                out.push(b',');
            }
            first_row = false;
            out.extend_from_slice(b"{\"id\":");
            push_json_string(&mut out, str_at(&cl, i));
            out.extend_from_slice(b",\"manager\":");
            push_json_string(&mut out, str_at(&rm, i));
            out.push(b'}');
        }
    }
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(v: f64, r: bool) -> String {
        let mut o = Vec::new();
        push_metric(&mut o, v, r);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn metric_numbers_follow_the_original() {
        assert_eq!(metric(2962.0, false), "2962");
        assert_eq!(metric(29_720_842_520.0, false), "29720842520");
        assert_eq!(metric(-5.0, false), "-5");
        assert_eq!(metric(21.22149394, false), "21.22149394");
        assert_eq!(metric(0.5, false), "0.50000000");
        assert_eq!(metric(1e-9, false), "0.00000000");
        assert_eq!(metric(f64::NAN, false), "0");
        assert_eq!(metric(f64::INFINITY, false), "0");
        assert_eq!(metric(1e19, false), "10000000000000000000.00000000");
        // 15 significant digits first: 53.477015404999996 → 53.4770154050000 → 53.47701541
        assert_eq!(metric(53.477015404999996, true), "53.47701541");
        assert_eq!(metric(53.477015404999996, false), "53.47701540");
    }

    #[test]
    fn generic_json_sorted_and_integral() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"b":1.0,"a":"<x>","c":[2.5,3]}"#).unwrap();
        let mut o = Vec::new();
        push_generic_json(&mut o, &v);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            r#"{"a":"\u003cx\u003e","b":1,"c":[2.5,3]}"#
        );
    }

    #[test]
    fn units_split_over_batches_encode_like_one_batch() {
        use arrow::array::{StringArray, TimestampMillisecondArray};
        use arrow::datatypes::{Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("cluster_id", DataType::Utf8, true),
            Field::new("uuid", DataType::Utf8, true),
            Field::new(
                "ended_at_ts",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
                true,
            ),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["c0", "c0", "c1"])),
                Arc::new(StringArray::from(vec!["a", "b<", "c"])),
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(5),
                    None,
                    Some(0),
                ])),
            ],
        )
        .unwrap();
        let registry = KeyRegistry::default();
        let whole = units(
            std::slice::from_ref(&b),
            &registry,
            &None,
            OutputTz::AsStored,
        );
        assert_eq!(
            String::from_utf8(whole.clone()).unwrap(),
            concat!(
                r#"[{"cluster_id":"c0","uuid":"a","ended_at_ts":5},"#,
                r#"{"cluster_id":"c0","uuid":"b\u003c"},{"cluster_id":"c1","uuid":"c"}]"#
            )
        );
        let parts = [b.slice(0, 0), b.slice(0, 2), b.slice(2, 0), b.slice(2, 1)];
        assert_eq!(units(&parts, &registry, &None, OutputTz::AsStored), whole);
        let mut enc = UnitsEncoder::new(registry, None, OutputTz::AsStored);
        let mut streamed = b"[".to_vec();
        for p in &parts {
            enc.push_batch(p, &mut streamed);
        }
        streamed.push(b']');
        assert_eq!(streamed, whole);
    }

    #[test]
    fn time_conversion() {
        let athens = OutputTz::Zone(chrono_tz::Europe::Athens);
        assert_eq!(
            convert_time("2024-10-15T16:29:34+0200", athens),
            "2024-10-15T17:29:34+0300"
        );
        assert_eq!(convert_time("Unknown", athens), "Unknown");
        assert_eq!(
            convert_time("2024-10-15T16:29:34+0200", OutputTz::AsStored),
            "2024-10-15T16:29:34+0200"
        );
    }
}
