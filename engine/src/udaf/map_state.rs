//! Machinery shared by the metric-map aggregates: the canonical map type, type checks, the
//! per-batch view of an input `MapArray`, the key interner and the dense per-key, per-group
//! accumulation slots.
//!
//! # Storage layout
//!
//! Keys are interned to dense `u32` ids by a small hash map owned by each accumulator (metric
//! maps carry a handful of distinct keys). For every key id there is one [`KeyColumn`]: a
//! `Vec<[f64; W]>` indexed by group index plus a `Vec<bool>` telling whether the group has seen
//! the key at all. `W` is the number of running numbers per (group, key): 1 for a sum, 2 (Σv·w,
//! Σw) for a weighted average. Memory is therefore `groups × distinct keys × (8·W + 1)` bytes,
//! which is small for the few keys of a metric map; a column with thousands of distinct keys
//! and millions of groups would be expensive.
//!
//! # Key lookup
//!
//! Consecutive rows almost always carry the same keys in the same order. The accumulator
//! remembers the key id found at each entry position of the previous rows; an entry first
//! compares its key bytes with the name of that id and only hashes on a mismatch.

use std::collections::HashMap;
use std::mem::size_of;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, MapArray, StringArray, StringBuilder,
    StructArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::EmitTo;

/// Name of the entries struct field of a metric map.
pub const METRIC_MAP_ENTRIES_FIELD: &str = "entries";
/// Name of the key field inside the entries struct of a metric map.
pub const METRIC_MAP_KEY_FIELD: &str = "key";
/// Name of the value field inside the entries struct of a metric map.
pub const METRIC_MAP_VALUE_FIELD: &str = "value";

/// The canonical metric-map type `Map<Utf8, Float64>`: entries struct `entries` (non-null) of
/// `key: Utf8` (non-null) and `value: Float64` (nullable), keys not flagged as sorted.
///
/// This is both the result type and the state type of the metric-map aggregates, and exactly
/// the type produced by arrow's `MapBuilder` with field names `entries`/`key`/`value`.
pub fn metric_map_data_type() -> DataType {
    DataType::Map(metric_map_entries_field(), false)
}

/// The entries field of [`metric_map_data_type`].
pub fn metric_map_entries_field() -> FieldRef {
    Arc::new(Field::new(
        METRIC_MAP_ENTRIES_FIELD,
        DataType::Struct(metric_map_entry_fields()),
        false,
    ))
}

fn metric_map_entry_fields() -> Fields {
    Fields::from(vec![
        Field::new(METRIC_MAP_KEY_FIELD, DataType::Utf8, false),
        Field::new(METRIC_MAP_VALUE_FIELD, DataType::Float64, true),
    ])
}

/// An empty (not null) metric map as a scalar.
pub(crate) fn empty_metric_map_scalar() -> Result<ScalarValue> {
    let mut builder = MapBuilder::with_capacity(1, 0);
    builder.finish_row()?;
    Ok(ScalarValue::Map(Arc::new(builder.finish_rows()?)))
}

/// Whether `dt` can serve as the key type of an input metric map.
fn is_string_like(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => {
            matches!(
                value.as_ref(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        }
        _ => false,
    }
}

/// Type check of a metric-map argument.
///
/// Accepts any `Map` whose key type is string-like (Utf8, LargeUtf8, Utf8View or a dictionary of
/// those) and whose value type is numeric (or Null). Such maps are accepted *as they are*: the
/// accumulators convert keys and values per batch, which avoids a full map cast in the common
/// `Map<Utf8, Float64>` case. A `NULL` literal argument is coerced to [`metric_map_data_type`].
pub(crate) fn coerce_metric_map_arg(function: &str, dt: &DataType) -> Result<DataType> {
    match dt {
        DataType::Null => Ok(metric_map_data_type()),
        DataType::Map(entries, _) => {
            let DataType::Struct(fields) = entries.data_type() else {
                return plan_err!("{function}: map entries must be a struct, got {dt}");
            };
            if fields.len() != 2 {
                return plan_err!("{function}: map entries must have two fields, got {dt}");
            }
            let key_type = fields[0].data_type();
            let value_type = fields[1].data_type();
            if !is_string_like(key_type) {
                return plan_err!(
                    "{function}: metric map keys must be strings (Utf8, LargeUtf8, Utf8View), \
                     got {key_type}"
                );
            }
            if !(value_type.is_numeric() || value_type == &DataType::Null) {
                return plan_err!(
                    "{function}: metric map values must be numeric, got {value_type}"
                );
            }
            Ok(dt.clone())
        }
        other => plan_err!("{function}: expected a metric map Map<Utf8, Float64>, got {other}"),
    }
}

/// Type check of a numeric scalar argument (the weight of `avg_metric_map`): coerced to Float64.
pub(crate) fn coerce_numeric_arg(function: &str, dt: &DataType) -> Result<DataType> {
    if dt.is_numeric() || dt == &DataType::Null {
        Ok(DataType::Float64)
    } else {
        plan_err!("{function}: expected a numeric argument, got {dt}")
    }
}

/// Reads a numeric column as Float64 (casting when it is of another numeric type).
pub(crate) fn as_float64(array: &ArrayRef) -> Result<Float64Array> {
    if let Some(values) = array.as_primitive_opt::<arrow::datatypes::Float64Type>() {
        return Ok(values.clone());
    }
    let casted = cast(array, &DataType::Float64)?;
    Ok(casted
        .as_primitive::<arrow::datatypes::Float64Type>()
        .clone())
}

/// Replaces NaN and ±Inf by 0: the contract for input values and weights.
#[inline(always)]
pub(crate) fn finite_or_zero(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

/// One batch of a metric-map column, normalized to Utf8 keys and Float64 values.
///
/// Rows are read through the raw offsets of the map, of the key strings and the Float64 value
/// buffer: no per-row array slicing, no allocation.
#[derive(Debug)]
pub(crate) struct MapInput {
    /// Row offsets into the entries (length `rows + 1`).
    offsets: OffsetBuffer<i32>,
    /// Validity of the map rows.
    nulls: Option<NullBuffer>,
    keys: StringArray,
    values: Float64Array,
    /// Validity of the entries' values, only when some value is null.
    value_nulls: Option<NullBuffer>,
}

impl MapInput {
    /// Views `array` (a `Map` of string keys and numeric values, or an all-null `Null` array).
    pub(crate) fn try_new(array: &ArrayRef) -> Result<Self> {
        if array.data_type() == &DataType::Null {
            return Ok(Self {
                offsets: OffsetBuffer::new_zeroed(array.len()),
                nulls: Some(NullBuffer::new_null(array.len())),
                keys: StringArray::from(Vec::<&str>::new()),
                values: Float64Array::from(Vec::<f64>::new()),
                value_nulls: None,
            });
        }
        let Some(map) = array.as_map_opt() else {
            return exec_err!(
                "expected a metric map (Map<Utf8, Float64>), got {}",
                array.data_type()
            );
        };
        Self::from_map(map)
    }

    fn from_map(map: &MapArray) -> Result<Self> {
        let keys = match map.keys().as_string_opt::<i32>() {
            Some(keys) => keys.clone(),
            None => {
                let keys = cast(map.keys(), &DataType::Utf8)?;
                keys.as_string::<i32>().clone()
            }
        };
        let values = as_float64(map.values())?;
        // Entry-level nulls (not allowed by arrow for maps, handled anyway) hide the value.
        let value_nulls = NullBuffer::union(values.nulls(), map.entries().nulls())
            .filter(|nulls| nulls.null_count() > 0);
        Ok(Self {
            offsets: map.offsets().clone(),
            nulls: map.nulls().filter(|nulls| nulls.null_count() > 0).cloned(),
            keys,
            values,
            value_nulls,
        })
    }

    /// Number of rows (maps).
    pub(crate) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Validity of the rows (maps), if some are null.
    pub(crate) fn nulls(&self) -> Option<&NullBuffer> {
        self.nulls.as_ref()
    }
}

/// Rows to aggregate: valid in every `nulls` and, with a filter, where the filter is true.
/// `None` means every row.
pub(crate) fn row_mask(
    nulls: &[Option<&NullBuffer>],
    filter: Option<&BooleanArray>,
) -> Option<BooleanBuffer> {
    let mut valid: Option<NullBuffer> = None;
    for nulls in nulls {
        valid = NullBuffer::union(valid.as_ref(), *nulls);
    }
    let mut mask = valid.map(|valid| valid.into_inner());
    if let Some(filter) = filter {
        let selected = match filter.nulls() {
            Some(nulls) => filter.values() & nulls.inner(),
            None => filter.values().clone(),
        };
        mask = Some(match mask {
            Some(mask) => &mask & &selected,
            None => selected,
        });
    }
    mask
}

/// Interns key strings to dense `u32` ids.
#[derive(Debug, Default)]
pub(crate) struct KeyInterner {
    ids: HashMap<Box<str>, u32, ahash::RandomState>,
    names: Vec<Box<str>>,
    name_bytes: usize,
}

impl KeyInterner {
    /// Number of interned keys.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// The name of key `id`.
    #[inline(always)]
    pub(crate) fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// Id of `key`, and whether it was newly interned.
    fn intern(&mut self, key: &str) -> Result<(u32, bool)> {
        if let Some(&id) = self.ids.get(key) {
            return Ok((id, false));
        }
        let id = u32::try_from(self.names.len())
            .map_err(|_| DataFusionError::Execution("too many distinct metric keys".into()))?;
        self.names.push(key.into());
        self.ids.insert(key.into(), id);
        self.name_bytes += key.len();
        Ok((id, true))
    }

    /// Ids ordered by key name (byte-wise, which is code point order).
    pub(crate) fn sorted_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..self.names.len() as u32).collect();
        ids.sort_unstable_by(|&a, &b| self.names[a as usize].cmp(&self.names[b as usize]));
        ids
    }

    fn size(&self) -> usize {
        // Each key is stored twice (vector and map), plus the map's table.
        2 * self.name_bytes
            + self.names.capacity() * size_of::<Box<str>>()
            + self.ids.capacity() * (size_of::<Box<str>>() + size_of::<u32>() + 8)
    }

    fn clear(&mut self) {
        self.ids = HashMap::default();
        self.names = Vec::new();
        self.name_bytes = 0;
    }
}

/// Running numbers of one key for every group.
#[derive(Debug)]
pub(crate) struct KeyColumn<const W: usize> {
    /// Indexed by group index.
    pub(crate) slots: Vec<[f64; W]>,
    /// Whether the group has seen the key, indexed by group index.
    pub(crate) seen: Vec<bool>,
}

impl<const W: usize> KeyColumn<W> {
    fn new(num_groups: usize) -> Self {
        Self {
            slots: vec![[0.0; W]; num_groups],
            seen: vec![false; num_groups],
        }
    }
}

/// Dense per-group, per-key state of a metric-map aggregate with `W` numbers per slot.
#[derive(Debug)]
pub(crate) struct GroupedMapState<const W: usize> {
    interner: KeyInterner,
    /// Indexed by key id.
    columns: Vec<KeyColumn<W>>,
    num_groups: usize,
    /// Key id last found at each entry position of a map (lookup fast path).
    recent: Vec<u32>,
}

impl<const W: usize> Default for GroupedMapState<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const W: usize> GroupedMapState<W> {
    pub(crate) fn new() -> Self {
        Self {
            interner: KeyInterner::default(),
            columns: Vec::new(),
            num_groups: 0,
            recent: Vec::new(),
        }
    }

    /// Grows every key column to `total_num_groups` groups (never shrinks).
    pub(crate) fn ensure_groups(&mut self, total_num_groups: usize) {
        if total_num_groups <= self.num_groups {
            return;
        }
        for column in &mut self.columns {
            column.slots.resize(total_num_groups, [0.0; W]);
            column.seen.resize(total_num_groups, false);
        }
        self.num_groups = total_num_groups;
    }

    /// Calls `update(slot, value, row)` for every non-null entry of every selected row of
    /// `input`, where `slot` holds the running numbers of the entry's key in the row's group
    /// (marked as seen). Rows are selected by `mask` (`None`: all rows).
    ///
    /// The groups must exist already ([`Self::ensure_groups`]).
    #[inline]
    pub(crate) fn accumulate<F>(
        &mut self,
        input: &MapInput,
        group_indices: &[usize],
        mask: Option<&BooleanBuffer>,
        mut update: F,
    ) -> Result<()>
    where
        F: FnMut(&mut [f64; W], f64, usize),
    {
        if group_indices.len() != input.len() {
            return exec_err!(
                "metric map aggregate: {} group indices for {} rows",
                group_indices.len(),
                input.len()
            );
        }
        if let Some(mask) = mask
            && mask.len() != input.len()
        {
            return exec_err!("metric map aggregate: mask length does not match the rows");
        }
        let Self {
            interner,
            columns,
            num_groups,
            recent,
        } = self;
        let num_groups = *num_groups;
        let offsets: &[i32] = &input.offsets;
        let key_offsets: &[i32] = input.keys.value_offsets();
        let key_data: &[u8] = input.keys.value_data();
        let values: &[f64] = input.values.values();
        let value_nulls = input.value_nulls.as_ref();

        for (row, &group) in group_indices.iter().enumerate() {
            if let Some(mask) = mask
                && !mask.value(row)
            {
                continue;
            }
            let start = offsets[row] as usize;
            let end = offsets[row + 1] as usize;
            if start == end {
                continue;
            }
            if group >= num_groups {
                return exec_err!(
                    "metric map aggregate: group index {group} out of range ({num_groups})"
                );
            }
            for (position, entry) in (start..end).enumerate() {
                if let Some(nulls) = value_nulls
                    && nulls.is_null(entry)
                {
                    continue;
                }
                let key = &key_data[key_offsets[entry] as usize..key_offsets[entry + 1] as usize];
                // Fast path: same key as at this position in an earlier row.
                let id = match recent.get(position) {
                    Some(&id) if interner.name(id).as_bytes() == key => id,
                    _ => {
                        let (id, is_new) = interner.intern(input.keys.value(entry))?;
                        if is_new {
                            columns.push(KeyColumn::new(num_groups));
                        }
                        if position < recent.len() {
                            recent[position] = id;
                        } else {
                            recent.push(id);
                        }
                        id
                    }
                };
                let column = &mut columns[id as usize];
                column.seen[group] = true;
                update(&mut column.slots[group], values[entry], row);
            }
        }
        Ok(())
    }

    /// Builds one map per group of `groups`: the seen keys, sorted by name, with
    /// `value(slot)` as values. Groups without keys give empty (not null) maps.
    pub(crate) fn build_maps<F>(&self, groups: Range<usize>, value: F) -> Result<MapArray>
    where
        F: Fn(&[f64; W]) -> f64,
    {
        if groups.end > self.num_groups {
            return exec_err!(
                "metric map aggregate: emitting {} groups of {}",
                groups.end,
                self.num_groups
            );
        }
        let order = self.interner.sorted_ids();
        let mut builder = MapBuilder::with_capacity(groups.len(), groups.len() * order.len());
        for group in groups {
            for &id in &order {
                let column = &self.columns[id as usize];
                if column.seen[group] {
                    builder.push_entry(self.interner.name(id), value(&column.slots[group]));
                }
            }
            builder.finish_row()?;
        }
        builder.finish_rows()
    }

    /// Number of groups `emit_to` covers.
    pub(crate) fn emit_len(&self, emit_to: EmitTo) -> usize {
        match emit_to {
            EmitTo::All => self.num_groups,
            EmitTo::First(n) => n.min(self.num_groups),
        }
    }

    /// Drops the groups `emit_to` covers; later group indices shift down. `EmitTo::All`
    /// resets the state to its initial, empty condition.
    pub(crate) fn remove_emitted(&mut self, emit_to: EmitTo) {
        match emit_to {
            EmitTo::All => self.clear(),
            EmitTo::First(n) => {
                let n = n.min(self.num_groups);
                if n == self.num_groups {
                    self.clear();
                    return;
                }
                for column in &mut self.columns {
                    column.slots.drain(..n);
                    column.seen.drain(..n);
                }
                self.num_groups -= n;
            }
        }
    }

    /// Resets to the initial state, releasing memory.
    pub(crate) fn clear(&mut self) {
        self.interner.clear();
        self.columns = Vec::new();
        self.recent = Vec::new();
        self.num_groups = 0;
    }

    /// Heap memory in bytes.
    pub(crate) fn size(&self) -> usize {
        let columns: usize = self
            .columns
            .iter()
            .map(|column| column.slots.capacity() * size_of::<[f64; W]>() + column.seen.capacity())
            .sum();
        columns
            + self.columns.capacity() * size_of::<KeyColumn<W>>()
            + self.recent.capacity() * size_of::<u32>()
            + self.interner.size()
    }

    #[cfg(test)]
    pub(crate) fn num_keys(&self) -> usize {
        self.interner.len()
    }
}

/// Builds a [`metric_map_data_type`] array row by row without per-entry allocation.
#[derive(Debug)]
pub(crate) struct MapBuilder {
    offsets: Vec<i32>,
    keys: StringBuilder,
    values: Vec<f64>,
}

impl MapBuilder {
    pub(crate) fn with_capacity(rows: usize, entries: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            offsets,
            keys: StringBuilder::with_capacity(entries, entries * 16),
            values: Vec::with_capacity(entries),
        }
    }

    #[inline]
    pub(crate) fn push_entry(&mut self, key: &str, value: f64) {
        self.keys.append_value(key);
        self.values.push(value);
    }

    /// Ends the current row.
    pub(crate) fn finish_row(&mut self) -> Result<()> {
        let end = i32::try_from(self.values.len()).map_err(|_| {
            DataFusionError::Execution("metric map aggregate: more than 2^31 map entries".into())
        })?;
        self.offsets.push(end);
        Ok(())
    }

    /// The finished rows.
    pub(crate) fn finish_rows(mut self) -> Result<MapArray> {
        let keys = Arc::new(self.keys.finish()) as ArrayRef;
        let values = Arc::new(Float64Array::from(self.values)) as ArrayRef;
        let entries = StructArray::try_new(metric_map_entry_fields(), vec![keys, values], None)?;
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        Ok(MapArray::try_new(
            metric_map_entries_field(),
            offsets,
            entries,
            None,
            false,
        )?)
    }
}

/// Group indices for the single-group [`datafusion::logical_expr::Accumulator`] adapters: a
/// reusable run of zeros.
#[derive(Debug, Default)]
pub(crate) struct SingleGroupIndices(Vec<usize>);

impl SingleGroupIndices {
    /// `rows` zeros.
    pub(crate) fn get(&mut self, rows: usize) -> &[usize] {
        if self.0.len() < rows {
            self.0.resize(rows, 0);
        }
        &self.0[..rows]
    }

    /// Heap memory in bytes.
    pub(crate) fn size(&self) -> usize {
        self.0.capacity() * size_of::<usize>()
    }
}
