//! `import parquet`: units in the store's schema, e.g. written by
//! `ceems-lake sql --format parquet "select * from units"` (or `units_stored`), so exports
//! round-trip.
//!
//! Columns are matched by name. Each metric map is read from a map column of its name (the
//! `units` view), else from its flat columns `<map>__<key>` plus `<map>__overflow` (the stored
//! layout), else from a text column of its name holding JSON. Timestamps may be any Arrow
//! timestamp or integer milliseconds. The file is read in row batches (bounded memory); the
//! resume position is the row number (rows up to it are parsed again only to list their
//! rejects).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, MapArray, RecordBatch,
    StringArray,
};
use arrow::datatypes::{DataType, Float64Type, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::ingest::metric_json::parse_metric_map;
use crate::ingest::ndjson::{Buffers, ExportOptions, GenericRow, Staged, emit_generic, stage};
use crate::ingest::source::{self, Clock, Emitter, Job};
use crate::ingest::{ImportObserver, ImportOptions, ImportSummary};
use crate::schema::{self, METRIC_MAPS};
use crate::store::Store;

/// Where a map's entries are in a batch.
enum MapSource {
    None,
    Map(MapArray),
    Json(StringArray),
    Flat(Vec<(String, Float64Array)>, Option<MapArray>),
}

struct Columns {
    strings: Vec<Option<StringArray>>,
    ts: Vec<Option<Int64Array>>,
    ignore: Option<BooleanArray>,
    num_updates: Option<Int64Array>,
    maps: Vec<MapSource>,
}

const STRINGS: [&str; 16] = [
    "cluster_id",
    "resource_manager",
    "uuid",
    "name",
    "project",
    "groupname",
    "username",
    "created_at",
    "started_at",
    "ended_at",
    "elapsed",
    "state",
    "allocation",
    "tags",
    "last_updated_at",
    "ignore",
];
const TS: [&str; 4] = [
    "created_at_ts",
    "started_at_ts",
    "ended_at_ts",
    "last_updated_at_ts",
];

fn as_strings(c: &ArrayRef) -> Option<StringArray> {
    arrow::compute::cast(c, &DataType::Utf8)
        .ok()
        .map(|a| a.as_string::<i32>().clone())
}

fn as_millis(c: &ArrayRef) -> Option<Int64Array> {
    let c = match c.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => Arc::clone(c),
        DataType::Timestamp(_, _) => {
            arrow::compute::cast(c, &DataType::Timestamp(TimeUnit::Millisecond, None)).ok()?
        }
        _ => Arc::clone(c),
    };
    arrow::compute::cast(&c, &DataType::Int64)
        .ok()
        .map(|a| a.as_primitive::<arrow::datatypes::Int64Type>().clone())
}

fn columns(b: &RecordBatch) -> Columns {
    let schema = b.schema();
    let get = |name: &str| schema.index_of(name).ok().map(|i| b.column(i));
    let strings = STRINGS[..15]
        .iter()
        .map(|n| get(n).and_then(as_strings))
        .collect();
    let ts = TS.iter().map(|n| get(n).and_then(as_millis)).collect();
    let ignore = get("ignore").and_then(|c| {
        arrow::compute::cast(c, &DataType::Boolean)
            .ok()
            .map(|a| a.as_boolean().clone())
    });
    let num_updates = get("num_updates").and_then(as_millis);
    let maps = METRIC_MAPS
        .iter()
        .map(|m| {
            if let Some(c) = get(m) {
                if let Some(map) = c.as_map_opt() {
                    return MapSource::Map(map.clone());
                }
                if let Some(s) = as_strings(c) {
                    return MapSource::Json(s);
                }
            }
            let prefix = format!("{m}{}", schema::FLAT_SEPARATOR);
            let mut flats = Vec::new();
            let mut overflow = None;
            for (i, f) in schema.fields().iter().enumerate() {
                let Some(key) = f.name().strip_prefix(&prefix) else {
                    continue;
                };
                if key == schema::OVERFLOW_SUFFIX {
                    overflow = b.column(i).as_map_opt().cloned();
                } else if let Ok(a) = arrow::compute::cast(b.column(i), &DataType::Float64) {
                    flats.push((key.to_string(), a.as_primitive::<Float64Type>().clone()));
                }
            }
            if flats.is_empty() && overflow.is_none() {
                MapSource::None
            } else {
                MapSource::Flat(flats, overflow)
            }
        })
        .collect();
    Columns {
        strings,
        ts,
        ignore,
        num_updates,
        maps,
    }
}

fn map_entries(
    m: &MapArray,
    row: usize,
    out: &mut Emitter,
    staged: &mut Staged,
    map: usize,
    skip: &[(String, Float64Array)],
) {
    if m.is_null(row) {
        return;
    }
    let offsets = m.value_offsets();
    let (a, z) = (offsets[row] as usize, offsets[row + 1] as usize);
    let Some(keys) = m.keys().as_string_opt::<i32>() else {
        return;
    };
    let values = match arrow::compute::cast(m.values(), &DataType::Float64) {
        Ok(v) => v,
        Err(_) => return,
    };
    let values = values.as_primitive::<Float64Type>();
    for i in a..z {
        let k = keys.value(i);
        if values.is_null(i) || skip.iter().any(|(s, _)| s == k) {
            continue;
        }
        stage(out, staged, map, k, values.value(i));
    }
}

struct ParquetSource {
    name: String,
    opts: ExportOptions,
    clock: Clock,
    bufs: Buffers,
    /// Rows up to this one were committed by an earlier run: parsed for their rejects only.
    replay_until: u64,
}

impl ParquetSource {
    /// Accounts for a parsed row; returns `false` when the import was abandoned.
    /// Whether the row was committed by an earlier run whose rejects need no replay: it is
    /// then skipped unparsed (and the replay ends at its last row).
    fn skip_committed(&self, out: &mut Emitter, row_no: u64) -> bool {
        if row_no > self.replay_until || out.replay_rejects() {
            return false;
        }
        if row_no == self.replay_until {
            out.end_replay(self.replay_until);
        }
        true
    }

    fn done(&self, out: &mut Emitter, row_no: u64) -> bool {
        if row_no > self.replay_until {
            return out.row_done(row_no);
        }
        let go_on = out.replayed(self.replay_until);
        if row_no == self.replay_until {
            out.end_replay(self.replay_until);
        }
        go_on
    }

    fn batch(&mut self, b: &RecordBatch, first_row: u64, out: &mut Emitter) -> bool {
        let c = columns(b);
        for i in 0..b.num_rows() {
            let row_no = first_row + i as u64;
            if self.skip_committed(out, row_no) {
                continue;
            }
            let mut staged = Staged::default();
            let mut bad: Option<(String, String)> = None;
            for (map, src) in c.maps.iter().enumerate() {
                match src {
                    MapSource::None => {}
                    MapSource::Map(m) => map_entries(m, i, out, &mut staged, map, &[]),
                    MapSource::Flat(flats, overflow) => {
                        for (k, a) in flats {
                            if a.is_valid(i) {
                                stage(out, &mut staged, map, k, a.value(i));
                            }
                        }
                        if let Some(o) = overflow {
                            map_entries(o, i, out, &mut staged, map, flats);
                        }
                    }
                    MapSource::Json(s) => {
                        if s.is_valid(i) {
                            let mut entries = Vec::new();
                            match parse_metric_map(s.value(i), &mut |k, v| {
                                entries.push((k.to_string(), v))
                            }) {
                                Ok(()) => {
                                    for (k, v) in entries {
                                        stage(out, &mut staged, map, &k, v);
                                    }
                                }
                                Err(e) => {
                                    bad = Some((METRIC_MAPS[map].to_string(), e.0));
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            let name = &self.name;
            let location = move || format!("{name} row {row_no}");
            if let Some((field, why)) = bad {
                out.builder.discard_row();
                out.reject(source::reject(&location(), &field, "", why));
                if !self.done(out, row_no) {
                    return false;
                }
                continue;
            }
            let s = |k: usize| -> Option<&str> {
                c.strings[k]
                    .as_ref()
                    .filter(|a| a.is_valid(i))
                    .map(|a| a.value(i))
            };
            let t = |k: usize| -> Option<i64> {
                c.ts[k]
                    .as_ref()
                    .filter(|a| a.is_valid(i))
                    .map(|a| a.value(i))
            };
            let cluster = self.opts.cluster_id.as_deref().or(s(0)).unwrap_or("");
            let rm = s(1)
                .filter(|v| !v.is_empty())
                .or(self.opts.resource_manager.as_deref())
                .unwrap_or("");
            let row = GenericRow {
                cluster_id: cluster,
                resource_manager: rm,
                uuid: s(2).unwrap_or(""),
                name: s(3).unwrap_or(""),
                project: s(4).unwrap_or(""),
                groupname: s(5).unwrap_or(""),
                username: s(6).unwrap_or(""),
                created_at: s(7),
                started_at: s(8),
                ended_at: s(9),
                created_at_ts: t(0),
                started_at_ts: t(1),
                ended_at_ts: t(2),
                elapsed: s(10),
                state: s(11).unwrap_or(""),
                allocation: s(12).unwrap_or(""),
                tags: s(13).unwrap_or(""),
                ignore: c
                    .ignore
                    .as_ref()
                    .map(|a| a.is_valid(i) && a.value(i))
                    .unwrap_or(false),
                num_updates: c
                    .num_updates
                    .as_ref()
                    .filter(|a| a.is_valid(i))
                    .map(|a| a.value(i)),
                last_updated_at: s(14).filter(|v| !v.is_empty()),
                last_updated_at_ts: t(3),
            };
            emit_generic(
                out,
                &mut self.clock,
                &mut self.bufs,
                &row,
                staged,
                self.opts.estimate.as_deref(),
                &location,
            );
            if !self.done(out, row_no) {
                return false;
            }
        }
        true
    }
}

/// Imports one Parquet file of units.
pub async fn import(
    store: &Store,
    path: &Path,
    eopts: &ExportOptions,
    opts: &ImportOptions,
    observer: &dyn ImportObserver,
) -> Result<ImportSummary> {
    let open = || -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>> {
        let f = std::fs::File::open(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| Error::Parquet {
            path: path.display().to_string(),
            source: e,
        })
    };
    let builder = open()?;
    let total = builder.metadata().file_metadata().num_rows().max(0) as u64;
    if builder.schema().index_of("uuid").is_err() {
        return Err(Error::InvalidArgument(format!(
            "{}: no uuid column; expected units in the store's schema",
            path.display()
        )));
    }
    drop(builder);
    let options = format!(
        "{:?}|{:?}|{}|{}",
        eopts.cluster_id,
        eopts.resource_manager,
        opts.time_zone.name(),
        eopts
            .estimate
            .as_ref()
            .map(|m| m.describe())
            .unwrap_or_default()
    );
    let source_id = source::fingerprint("parquet", path, &options)?;
    let file_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut src = ParquetSource {
        name: path.display().to_string(),
        opts: eopts.clone(),
        clock: Clock::new(opts.time_zone),
        bufs: Buffers::default(),
        replay_until: 0,
    };
    let reader_path = path.to_path_buf();
    let snap = store.snapshot().await?;
    let job = Job {
        store,
        source: source_id,
        label: format!("import parquet {}", path.display()),
        batch_rows: opts.batch_rows,
        file_bytes,
        total_rows: Some(total),
        observer,
    };
    source::run(
        job,
        snap.manifest.metric_keys.clone(),
        opts.time_zone,
        move |resume_after, em| {
            let f = std::fs::File::open(&reader_path).map_err(|e| Error::Io {
                path: reader_path.display().to_string(),
                source: e,
            })?;
            let perr = |e| Error::Parquet {
                path: reader_path.display().to_string(),
                source: e,
            };
            let reader = ParquetRecordBatchReaderBuilder::try_new(f)
                .map_err(perr)?
                .with_batch_size(8192)
                .build()
                .map_err(perr)?;
            src.replay_until = resume_after;
            let mut next_row = 1;
            for b in reader {
                let b = b?;
                if !src.batch(&b, next_row, em) {
                    break;
                }
                next_row += b.num_rows() as u64;
            }
            Ok((next_row - 1).max(resume_after))
        },
    )
    .await
}
