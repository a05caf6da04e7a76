//! Builders that turn unit records into Arrow record batches in the store schema.
//!
//! Builders are reused across rows: a row's metric entries are staged in flat buffers, checked,
//! and only then appended, so a rejected row leaves nothing behind and no row allocates.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, MapBuilder, MapFieldNames,
    StringBuilder, TimestampMillisecondBuilder,
};
use arrow::record_batch::RecordBatch;

use crate::ingest::RowReject;
use crate::ingest::ceems_row::{CeemsMemberRow, CeemsUnitRow};
use crate::ingest::metric_json::parse_metric_map;
use crate::ingest::source::Clock;
use crate::schema::{self, KeyRegistry, METRIC_MAPS};
use crate::time::DataTz;

/// The fixed columns of one unit, borrowed. Timestamps are Unix milliseconds; `None` = unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitFields<'a> {
    pub cluster_id: &'a str,
    pub resource_manager: &'a str,
    pub uuid: &'a str,
    pub name: &'a str,
    pub project: &'a str,
    pub groupname: &'a str,
    pub username: &'a str,
    pub created_at: &'a str,
    pub started_at: &'a str,
    pub ended_at: &'a str,
    pub created_at_ts: Option<i64>,
    pub started_at_ts: Option<i64>,
    pub ended_at_ts: Option<i64>,
    pub elapsed: &'a str,
    pub state: &'a str,
    pub allocation: &'a str,
    pub tags: &'a str,
    pub ignore: bool,
    pub num_updates: i64,
    pub last_updated_at: &'a str,
    pub last_updated_at_ts: Option<i64>,
}

struct FlatColumn {
    key: String,
    values: Float64Builder,
    /// Row number (1-based) of the last value appended; 0 = none yet in this batch.
    set_at: usize,
}

fn map_builder() -> MapBuilder<StringBuilder, Float64Builder> {
    MapBuilder::new(
        Some(MapFieldNames {
            entry: "entries".into(),
            key: "key".into(),
            value: "value".into(),
        }),
        StringBuilder::new(),
        Float64Builder::new(),
    )
}

/// Builds `units` record batches.
pub struct UnitsBuilder {
    registry: KeyRegistry,
    strings: Vec<StringBuilder>,
    created_at_ts: TimestampMillisecondBuilder,
    started_at_ts: TimestampMillisecondBuilder,
    ended_at_ts: TimestampMillisecondBuilder,
    ignore: BooleanBuilder,
    num_updates: Int64Builder,
    last_updated_at_ts: TimestampMillisecondBuilder,
    flats: Vec<Vec<FlatColumn>>,
    overflow: Vec<MapBuilder<StringBuilder, Float64Builder>>,
    rows: usize,
    /// Staged metric entries of the current row: (map, key start, key end, value).
    staged: Vec<(u8, u32, u32, f64)>,
    staged_keys: String,
    /// Per map, the flat column the next staged entry most likely goes to: rows carry their
    /// keys in the same order, so one comparison usually finds the column.
    next_col: [usize; METRIC_MAPS.len()],
    /// Parses `last_updated_at` strings with per-hour offset caching.
    clock: Clock,
}

impl std::fmt::Debug for UnitsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnitsBuilder")
            .field("rows", &self.rows)
            .finish()
    }
}

// Order of the string columns inside `strings`.
const S_CLUSTER_ID: usize = 0;
const S_RESOURCE_MANAGER: usize = 1;
const S_UUID: usize = 2;
const S_NAME: usize = 3;
const S_PROJECT: usize = 4;
const S_GROUPNAME: usize = 5;
const S_USERNAME: usize = 6;
const S_CREATED_AT: usize = 7;
const S_STARTED_AT: usize = 8;
const S_ENDED_AT: usize = 9;
const S_ELAPSED: usize = 10;
const S_STATE: usize = 11;
const S_ALLOCATION: usize = 12;
const S_TAGS: usize = 13;
const S_LAST_UPDATED_AT: usize = 14;
const N_STRINGS: usize = 15;

/// Latest instant a stored time may have: 9999-12-31T23:59:59.999Z in milliseconds.
const MAX_TS_MS: i64 = 253_402_300_799_999;

impl UnitsBuilder {
    /// A builder whose flat columns start with the keys of `registry`; new plain keys seen in
    /// rows are added to its own copy (see [`UnitsBuilder::registry`]). `tz` is the data time
    /// zone used to read `last_updated_at` strings without an offset.
    pub fn new(registry: KeyRegistry, tz: DataTz) -> Self {
        let flats = (0..METRIC_MAPS.len())
            .map(|i| {
                registry
                    .keys_of(i)
                    .iter()
                    .map(|k| FlatColumn {
                        key: k.clone(),
                        values: Float64Builder::new(),
                        set_at: 0,
                    })
                    .collect()
            })
            .collect();
        UnitsBuilder {
            registry,
            strings: (0..N_STRINGS).map(|_| StringBuilder::new()).collect(),
            created_at_ts: TimestampMillisecondBuilder::new(),
            started_at_ts: TimestampMillisecondBuilder::new(),
            ended_at_ts: TimestampMillisecondBuilder::new(),
            ignore: BooleanBuilder::new(),
            num_updates: Int64Builder::new(),
            last_updated_at_ts: TimestampMillisecondBuilder::new(),
            flats,
            overflow: (0..METRIC_MAPS.len()).map(|_| map_builder()).collect(),
            rows: 0,
            staged: Vec::with_capacity(64),
            staged_keys: String::with_capacity(512),
            next_col: [0; METRIC_MAPS.len()],
            clock: Clock::new(tz),
        }
    }

    /// Rows appended since the last [`UnitsBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is pending.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The key registry including keys first seen by this builder.
    pub fn registry(&self) -> &KeyRegistry {
        &self.registry
    }

    /// The data time zone.
    pub fn time_zone(&self) -> DataTz {
        self.clock.time_zone()
    }

    /// Stages one metric entry of the row being built.
    pub fn stage_metric(&mut self, map: usize, key: &str, value: f64) {
        let start = self.staged_keys.len() as u32;
        self.staged_keys.push_str(key);
        let end = self.staged_keys.len() as u32;
        self.staged.push((map as u8, start, end, value));
    }

    /// Forgets the staged metric entries (the row was rejected).
    pub fn discard_row(&mut self) {
        self.staged.clear();
        self.staged_keys.clear();
    }

    /// Appends a row with the staged metric entries.
    pub fn commit_row(&mut self, f: &UnitFields<'_>) {
        let s = &mut self.strings;
        s[S_CLUSTER_ID].append_value(f.cluster_id);
        s[S_RESOURCE_MANAGER].append_value(f.resource_manager);
        s[S_UUID].append_value(f.uuid);
        s[S_NAME].append_value(f.name);
        s[S_PROJECT].append_value(f.project);
        s[S_GROUPNAME].append_value(f.groupname);
        s[S_USERNAME].append_value(f.username);
        s[S_CREATED_AT].append_value(f.created_at);
        s[S_STARTED_AT].append_value(f.started_at);
        s[S_ENDED_AT].append_value(f.ended_at);
        s[S_ELAPSED].append_value(f.elapsed);
        s[S_STATE].append_value(f.state);
        s[S_ALLOCATION].append_value(f.allocation);
        s[S_TAGS].append_value(f.tags);
        s[S_LAST_UPDATED_AT].append_value(f.last_updated_at);
        self.created_at_ts.append_option(f.created_at_ts);
        self.started_at_ts.append_option(f.started_at_ts);
        self.ended_at_ts.append_option(f.ended_at_ts);
        self.ignore.append_value(f.ignore);
        self.num_updates.append_value(f.num_updates);
        self.last_updated_at_ts.append_option(f.last_updated_at_ts);
        self.rows += 1;
        let row = self.rows;

        let mut any_overflow = [false; 13];
        for si in 0..self.staged.len() {
            let (map, ks, ke, value) = self.staged[si];
            let map = map as usize;
            let key = &self.staged_keys[ks as usize..ke as usize];
            let cols = &mut self.flats[map];
            let hint = self.next_col[map];
            let found = if cols.get(hint).is_some_and(|c| c.key == key) {
                Some(hint)
            } else {
                cols.iter().position(|c| c.key == key)
            };
            let pos = match found {
                Some(p) => Some(p),
                None if self.registry.register(map, key) => {
                    // A new plain key: a new column, null for the rows before this one.
                    let mut values = Float64Builder::with_capacity(row);
                    values.append_nulls(row - 1);
                    cols.push(FlatColumn {
                        key: key.to_string(),
                        values,
                        set_at: 0,
                    });
                    Some(cols.len() - 1)
                }
                None => None,
            };
            match pos {
                Some(p) => {
                    self.next_col[map] = p + 1;
                    let c = &mut cols[p];
                    if c.set_at == row {
                        // A key repeated inside one map: the last value wins, as in JSON.
                        let v = c.values.values_slice_mut();
                        let last = v.len() - 1;
                        v[last] = value;
                    } else {
                        c.values.append_value(value);
                        c.set_at = row;
                    }
                }
                None => {
                    let b = &mut self.overflow[map];
                    b.keys().append_value(key);
                    b.values().append_value(value);
                    any_overflow[map] = true;
                }
            }
        }
        for (map, cols) in self.flats.iter_mut().enumerate() {
            for c in cols.iter_mut() {
                if c.set_at != row {
                    c.values.append_null();
                }
            }
            // The map builder cannot fail when keys and values were appended in pairs.
            let _ = self.overflow[map].append(any_overflow[map]);
        }
        self.staged.clear();
        self.staged_keys.clear();
        self.next_col = [0; METRIC_MAPS.len()];
    }

    /// Parses and appends one CEEMS row. On error nothing is appended.
    pub fn append_ceems(&mut self, r: &CeemsUnitRow<'_>) -> Result<(), RowReject> {
        let reject = |field: &str, value: &str, reason: String| RowReject {
            location: format!("id {}", r.id),
            field: field.to_string(),
            value: value.chars().take(200).collect(),
            reason,
        };
        if r.uuid.is_empty() {
            return Err(reject("uuid", r.uuid, "empty uuid".into()));
        }
        if r.cluster_id.is_empty() {
            return Err(reject(
                "cluster_id",
                r.cluster_id,
                "empty cluster_id".into(),
            ));
        }
        for (field, v) in [
            ("created_at_ts", r.created_at_ts),
            ("started_at_ts", r.started_at_ts),
            ("ended_at_ts", r.ended_at_ts),
        ] {
            if !(0..=MAX_TS_MS).contains(&v) {
                return Err(reject(
                    field,
                    &v.to_string(),
                    "not a time in milliseconds since 1970 (0 = unset) before the year 10000"
                        .into(),
                ));
            }
        }
        // The window of /usage/current is on this time: a unit without it could never be seen.
        let last_updated_at_ts = match self.clock.parse(r.last_updated_at) {
            Ok(Some(t)) => Some(t),
            Ok(None) => {
                return Err(reject(
                    "last_updated_at",
                    r.last_updated_at,
                    "no time of the last update".into(),
                ));
            }
            Err(why) => return Err(reject("last_updated_at", r.last_updated_at, why.into())),
        };
        for (field, text) in [("allocation", r.allocation), ("tags", r.tags)] {
            if !text.trim().is_empty()
                && serde_json::from_str::<serde::de::IgnoredAny>(text).is_err()
            {
                return Err(reject(field, text, "not valid JSON".into()));
            }
        }
        for (i, text) in r.metrics.iter().enumerate() {
            let mut staged = std::mem::take(&mut self.staged);
            let mut keys = std::mem::take(&mut self.staged_keys);
            let res = parse_metric_map(text, &mut |k, v| {
                let start = keys.len() as u32;
                keys.push_str(k);
                staged.push((i as u8, start, keys.len() as u32, v));
            });
            self.staged = staged;
            self.staged_keys = keys;
            if let Err(e) = res {
                self.discard_row();
                return Err(reject(METRIC_MAPS[i], text, e.0));
            }
        }
        let ts = |v: i64| if v == 0 { None } else { Some(v) };
        self.commit_row(&UnitFields {
            cluster_id: r.cluster_id,
            resource_manager: r.resource_manager,
            uuid: r.uuid,
            name: r.name,
            project: r.project,
            groupname: r.groupname,
            username: r.username,
            created_at: r.created_at,
            started_at: r.started_at,
            ended_at: r.ended_at,
            created_at_ts: ts(r.created_at_ts),
            started_at_ts: ts(r.started_at_ts),
            ended_at_ts: ts(r.ended_at_ts),
            elapsed: r.elapsed,
            state: r.state,
            allocation: r.allocation,
            tags: r.tags,
            ignore: r.ignore,
            num_updates: r.num_updates,
            last_updated_at: r.last_updated_at,
            last_updated_at_ts,
        });
        Ok(())
    }

    /// Takes the rows built so far as one batch in the schema of [`UnitsBuilder::registry`].
    ///
    /// The builders start the next batch with the capacity this one needed, so batches after
    /// the first grow no buffer (growing by doubling copies every byte about once more).
    pub fn finish(&mut self) -> RecordBatch {
        let schema = schema::units_schema(&self.registry);
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        let rows = self.rows;
        let mut s = |i: usize| -> ArrayRef {
            let b = &mut self.strings[i];
            let bytes = b.values_slice().len();
            let array = Arc::new(b.finish());
            *b = StringBuilder::with_capacity(rows, bytes);
            array
        };
        let fixed: Vec<ArrayRef> = vec![
            s(S_CLUSTER_ID),
            s(S_RESOURCE_MANAGER),
            s(S_UUID),
            s(S_NAME),
            s(S_PROJECT),
            s(S_GROUPNAME),
            s(S_USERNAME),
            s(S_CREATED_AT),
            s(S_STARTED_AT),
            s(S_ENDED_AT),
        ];
        cols.extend(fixed);
        cols.push(Arc::new(self.created_at_ts.finish().with_timezone("UTC")));
        cols.push(Arc::new(self.started_at_ts.finish().with_timezone("UTC")));
        cols.push(Arc::new(self.ended_at_ts.finish().with_timezone("UTC")));
        cols.push(s(S_ELAPSED));
        cols.push(s(S_STATE));
        cols.push(s(S_ALLOCATION));
        cols.push(s(S_TAGS));
        cols.push(Arc::new(self.ignore.finish()));
        cols.push(Arc::new(self.num_updates.finish()));
        cols.push(s(S_LAST_UPDATED_AT));
        cols.push(Arc::new(
            self.last_updated_at_ts.finish().with_timezone("UTC"),
        ));
        for map in 0..METRIC_MAPS.len() {
            // Columns in registry order (the builder registered them in that order).
            for c in self.flats[map].iter_mut() {
                c.set_at = 0;
                cols.push(Arc::new(c.values.finish()));
                c.values = Float64Builder::with_capacity(rows);
            }
            cols.push(Arc::new(self.overflow[map].finish()));
        }
        self.rows = 0;
        RecordBatch::try_new(schema, cols).expect("builder columns match the units schema")
    }
}

/// Builds `users`, `projects` or `admin_users` batches from CEEMS rows.
#[derive(Debug)]
pub struct MembersBuilder {
    schema: arrow::datatypes::SchemaRef,
    uid: StringBuilder,
    cluster_id: StringBuilder,
    resource_manager: StringBuilder,
    name: StringBuilder,
    members: ListBuilder<StringBuilder>,
    tags: StringBuilder,
    last_updated_at: StringBuilder,
}

impl MembersBuilder {
    /// A builder for the given member schema (users/admin_users or projects).
    pub fn new(schema: arrow::datatypes::SchemaRef) -> Self {
        MembersBuilder {
            schema,
            uid: StringBuilder::new(),
            cluster_id: StringBuilder::new(),
            resource_manager: StringBuilder::new(),
            name: StringBuilder::new(),
            members: ListBuilder::new(StringBuilder::new()),
            tags: StringBuilder::new(),
            last_updated_at: StringBuilder::new(),
        }
    }

    /// Appends a row; `members` must be a JSON array of strings or `null`.
    pub fn append(&mut self, r: &CeemsMemberRow, location: &str) -> Result<(), RowReject> {
        let list: Option<Vec<String>> = match r.members.trim() {
            "" | "null" => None,
            t => {
                let v: serde_json::Value = serde_json::from_str(t).map_err(|e| RowReject {
                    location: location.to_string(),
                    field: "members".into(),
                    value: t.chars().take(200).collect(),
                    reason: format!("invalid JSON: {e}"),
                })?;
                match v {
                    serde_json::Value::Array(items) => Some(
                        items
                            .into_iter()
                            .map(|i| match i {
                                serde_json::Value::String(s) => s,
                                other => other.to_string(),
                            })
                            .collect(),
                    ),
                    serde_json::Value::Null => None,
                    _ => {
                        return Err(RowReject {
                            location: location.to_string(),
                            field: "members".into(),
                            value: t.chars().take(200).collect(),
                            reason: "not a JSON array".into(),
                        });
                    }
                }
            }
        };
        if r.name.is_empty() {
            return Err(RowReject {
                location: location.to_string(),
                field: "name".into(),
                value: String::new(),
                reason: "empty name".into(),
            });
        }
        self.uid.append_value(&r.uid);
        self.cluster_id.append_value(&r.cluster_id);
        self.resource_manager.append_value(&r.resource_manager);
        self.name.append_value(&r.name);
        match list {
            Some(items) => {
                for i in items {
                    self.members.values().append_value(i);
                }
                self.members.append(true);
            }
            None => self.members.append(false),
        }
        self.tags.append_value(&r.tags);
        self.last_updated_at.append_value(&r.last_updated_at);
        Ok(())
    }

    /// Takes the rows built so far.
    pub fn finish(&mut self) -> RecordBatch {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.uid.finish()),
            Arc::new(self.cluster_id.finish()),
            Arc::new(self.resource_manager.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.members.finish()),
            Arc::new(self.tags.finish()),
            Arc::new(self.last_updated_at.finish()),
        ];
        // The list field of ListBuilder is named "item" and nullable, like the schema's.
        RecordBatch::try_new(Arc::clone(&self.schema), cols)
            .expect("member columns match the schema")
    }
}
