//! Atomic commits.
//!
//! A [`Transaction`] collects what one commit changes (units to upsert, dimension rows to
//! upsert, import progress markers) and [`Transaction::commit`] applies it against the newest
//! version: new data files are written under fresh names, then the next manifest version is
//! published with put-if-absent. If another writer published that version first, the files of
//! the attempt are deleted and the whole change is planned again on top of the new version.
//! A crash at any point leaves the previous version intact; files of an unpublished attempt
//! are invisible to readers and removed by `vacuum`.
//!
//! Units are keyed by `(cluster_id, uuid, started_at_ts)` and the row with the newest
//! `last_updated_at_ts` wins (an equal one keeps the stored row, so re-importing the same data
//! changes nothing). A unit's partition — its cluster and the month its start falls in — follows
//! from its key, so finding a stored version of a unit only ever reads the key columns of the
//! files of one partition.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array,
};
use arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use arrow::datatypes::{SchemaRef, TimestampMillisecondType};
use chrono::Datelike;

use crate::error::{Error, Result};
use crate::schema::{self, KeyRegistry, Table, units_col};
use crate::store::manifest::{DataFile, Manifest, Partition, SourceProgress, UnitStats};
use crate::store::{Store, encode_segment, parquet_io, unique_file_name};

/// A unit's key within one partition: uuid and `started_at_ts`.
type UnitKey<'a> = (&'a str, Option<i64>);
/// Where a stored unit is (file, row) and its `last_updated_at_ts`.
type StoredAt = (usize, usize, Option<i64>);

/// How many times a commit is re-planned after losing a race to another writer.
const MAX_ATTEMPTS: usize = 24;
/// First pause after a lost race; it doubles with every further loss, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(20);
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(2);

/// How long to wait before re-planning after losing `attempt + 1` races: exponential, with
/// the full range randomised so that writers which lost together do not retry together and
/// the one that keeps losing is not always the slowest to plan.
pub(crate) fn backoff(attempt: usize) -> std::time::Duration {
    let ceiling = FIRST_BACKOFF
        .saturating_mul(1u32 << attempt.min(16))
        .min(MAX_BACKOFF);
    ceiling.mul_f64(rand::random_range(0.5..=1.0))
}

/// What a commit did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitOutcome {
    /// The published version, or `None` when nothing changed and nothing was published.
    pub version: Option<u64>,
    /// Units that did not exist before.
    pub units_inserted: u64,
    /// Stored units replaced by a newer version.
    pub units_replaced: u64,
    /// Incoming units dropped because the stored version is as new or newer.
    pub units_unchanged: u64,
    /// Dimension rows written (users, projects, admin users), when they changed.
    pub member_rows: u64,
}

/// One atomic change to the store.
#[derive(Debug)]
pub struct Transaction {
    store: Store,
    operation: String,
    units: Vec<RecordBatch>,
    registry: KeyRegistry,
    members: BTreeMap<Table, Vec<RecordBatch>>,
    sources: Vec<(String, SourceProgress)>,
}

impl Transaction {
    /// A new, empty transaction; `operation` is recorded in the manifest.
    pub fn new(store: &Store, operation: impl Into<String>) -> Self {
        Transaction {
            store: store.clone(),
            operation: operation.into(),
            units: Vec::new(),
            registry: KeyRegistry::default(),
            members: BTreeMap::new(),
            sources: Vec::new(),
        }
    }

    /// Upserts units given in the `units` schema of `registry`.
    pub fn upsert_units(&mut self, batch: RecordBatch, registry: &KeyRegistry) {
        self.registry.merge(registry);
        if batch.num_rows() > 0 {
            self.units.push(batch);
        }
    }

    /// Upserts rows of `users`, `projects` or `admin_users`, keyed by `(cluster_id, name)`.
    pub fn upsert_members(&mut self, table: Table, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.members.entry(table).or_default().push(batch);
        }
    }

    /// Records how far an import of `source` got.
    pub fn set_source_progress(&mut self, source: impl Into<String>, progress: SourceProgress) {
        self.sources.push((source.into(), progress));
    }

    /// Rows of units staged in this transaction.
    pub fn staged_units(&self) -> usize {
        self.units.iter().map(|b| b.num_rows()).sum()
    }

    /// Applies the transaction atomically on top of the newest version. A commit that loses
    /// the race for a version to another writer is planned again on the newer version, after a
    /// pause ([`backoff`]), up to [`MAX_ATTEMPTS`] times; the last loss is returned.
    pub async fn commit(&self) -> Result<CommitOutcome> {
        let mut attempt = 0;
        loop {
            let base = self.store.load(self.store.latest_version().await?).await?;
            match self.try_commit(&base).await {
                Err(Error::CommitConflict { version }) if attempt + 1 < MAX_ATTEMPTS => {
                    let pause = backoff(attempt);
                    tracing::info!(
                        attempt,
                        version,
                        pause_ms = pause.as_millis() as u64,
                        "commit lost a race to another writer, planning again after a pause"
                    );
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn try_commit(&self, base: &Manifest) -> Result<CommitOutcome> {
        let mut written: Vec<String> = Vec::new();
        let res = self.plan_and_publish(base, &mut written).await;
        if res.is_err() {
            for p in &written {
                let _ = self.store.delete(p).await;
            }
        }
        res
    }

    async fn plan_and_publish(
        &self,
        base: &Manifest,
        written: &mut Vec<String>,
    ) -> Result<CommitOutcome> {
        let mut outcome = CommitOutcome::default();
        let mut registry = base.metric_keys.clone();
        registry.merge(&self.registry);
        let schema = schema::units_schema(&registry);
        let mut tables = base.tables.clone();

        if !self.units.is_empty() {
            let (removed, added) = upsert_units(
                &self.store,
                base,
                &schema,
                &self.units,
                &mut outcome,
                written,
            )
            .await?;
            let files = tables.entry(Table::Units).or_default();
            files.retain(|f| !removed.contains(&f.path));
            files.extend(added);
        }

        for (table, batches) in &self.members {
            if let Some((new_file, rows)) =
                upsert_members(&self.store, base.files(*table), *table, batches, written).await?
            {
                outcome.member_rows += rows;
                tables.insert(*table, vec![new_file]);
            }
        }

        let mut sources = base.sources.clone();
        for (k, p) in &self.sources {
            // A re-run of a source that completed before must not mark it incomplete again.
            if matches!(base.sources.get(k), Some(old) if old.complete && !p.complete) {
                continue;
            }
            sources.insert(k.clone(), p.clone());
        }

        let data_changed = tables != base.tables;
        if !data_changed && sources == base.sources {
            return Ok(outcome);
        }
        let m = Manifest {
            format: crate::store::manifest::MANIFEST_FORMAT,
            version: base.version + 1,
            committed_at_ms: chrono::Utc::now().timestamp_millis(),
            operation: self.operation.clone(),
            metric_keys: if data_changed {
                registry
            } else {
                base.metric_keys.clone()
            },
            tables,
            sources,
        };
        self.store.publish(&m).await?;
        outcome.version = Some(m.version);
        Ok(outcome)
    }
}

/// Month of a start time (`none` when the unit never started) as a sortable number.
fn month_number(started_ms: Option<i64>) -> i32 {
    match started_ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => t.year() * 12 + t.month0() as i32,
        None => i32::MIN,
    }
}

fn month_label(n: i32) -> String {
    if n == i32::MIN {
        "none".to_string()
    } else {
        format!("{:04}-{:02}", n.div_euclid(12), n.rem_euclid(12) + 1)
    }
}

/// Path of a new units file of partition `p`.
pub(crate) fn units_file_path(p: &Partition) -> String {
    format!(
        "units/cluster_id={}/month={}/{}",
        encode_segment(&p.cluster_id),
        p.month,
        unique_file_name()
    )
}

struct KeyCols<'a> {
    cluster: &'a StringArray,
    uuid: &'a StringArray,
    started: &'a TimestampMillisecondArray,
    updated: &'a TimestampMillisecondArray,
}

fn key_cols(b: &RecordBatch) -> Result<KeyCols<'_>> {
    let s = b.schema();
    let col = |name: &str| {
        s.index_of(name)
            .map(|i| b.column(i))
            .map_err(|_| Error::InvalidArgument(format!("units batch lacks column {name}")))
    };
    Ok(KeyCols {
        cluster: col("cluster_id")?.as_string::<i32>(),
        uuid: col("uuid")?.as_string::<i32>(),
        started: col("started_at_ts")?.as_primitive::<TimestampMillisecondType>(),
        updated: col("last_updated_at_ts")?.as_primitive::<TimestampMillisecondType>(),
    })
}

fn opt(a: &TimestampMillisecondArray, i: usize) -> Option<i64> {
    if a.is_null(i) { None } else { Some(a.value(i)) }
}

async fn upsert_units(
    store: &Store,
    base: &Manifest,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    outcome: &mut CommitOutcome,
    written: &mut Vec<String>,
) -> Result<(HashSet<String>, Vec<DataFile>)> {
    let adapted: Vec<RecordBatch> = batches
        .iter()
        .map(|b| parquet_io::adapt(b, schema))
        .collect::<Result<_>>()?;
    let incoming = concat_batches(schema, &adapted)?;
    let k = key_cols(&incoming)?;

    // Newest version of each key inside the batch.
    let mut newest: HashMap<(&str, &str, Option<i64>), usize, ahash::RandomState> =
        HashMap::with_capacity_and_hasher(incoming.num_rows(), ahash::RandomState::new());
    for i in 0..incoming.num_rows() {
        let key = (k.cluster.value(i), k.uuid.value(i), opt(k.started, i));
        match newest.get_mut(&key) {
            Some(j) => {
                outcome.units_unchanged += 1;
                if opt(k.updated, i) >= opt(k.updated, *j) {
                    *j = i;
                }
            }
            None => {
                newest.insert(key, i);
            }
        }
    }
    let mut by_partition: BTreeMap<(&str, i32), Vec<u32>> = BTreeMap::new();
    for (&(cluster, _, started), &i) in &newest {
        by_partition
            .entry((cluster, month_number(started)))
            .or_default()
            .push(i as u32);
    }
    drop(newest);

    let mut removed = HashSet::new();
    let mut added = Vec::new();
    for ((cluster, month), mut rows) in by_partition {
        rows.sort_unstable();
        let partition = Partition {
            cluster_id: cluster.to_string(),
            month: month_label(month),
        };
        let existing: Vec<&DataFile> = base
            .files(Table::Units)
            .iter()
            .filter(|f| f.partition.as_ref() == Some(&partition))
            .collect();
        let mut parts: Vec<RecordBatch> = Vec::new();
        let keep: Vec<u32> = if existing.is_empty() {
            rows
        } else {
            // Key columns of the stored files of this partition.
            let mut stored: Vec<RecordBatch> = Vec::with_capacity(existing.len());
            for f in &existing {
                let b = parquet_io::read(
                    store,
                    &f.path,
                    Some(&["cluster_id", "uuid", "started_at_ts", "last_updated_at_ts"]),
                )
                .await?;
                let key_schema = b
                    .first()
                    .map(|x| x.schema())
                    .unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
                stored.push(if b.is_empty() {
                    RecordBatch::new_empty(key_schema)
                } else {
                    concat_batches(&key_schema, &b)?
                });
            }
            let mut index: HashMap<UnitKey<'_>, StoredAt, ahash::RandomState> = HashMap::default();
            let stored_keys: Vec<KeyCols<'_>> =
                stored.iter().map(key_cols).collect::<Result<_>>()?;
            for (fi, kc) in stored_keys.iter().enumerate() {
                for r in 0..kc.uuid.len() {
                    index.insert(
                        (kc.uuid.value(r), opt(kc.started, r)),
                        (fi, r, opt(kc.updated, r)),
                    );
                }
            }
            let mut deleted: Vec<Vec<bool>> =
                stored.iter().map(|b| vec![false; b.num_rows()]).collect();
            let mut any_deleted = vec![false; stored.len()];
            let mut keep = Vec::with_capacity(rows.len());
            for &i in &rows {
                let i_us = i as usize;
                match index.get(&(k.uuid.value(i_us), opt(k.started, i_us))) {
                    None => keep.push(i),
                    Some(&(fi, r, stored_updated)) => {
                        if opt(k.updated, i_us) > stored_updated {
                            deleted[fi][r] = true;
                            any_deleted[fi] = true;
                            keep.push(i);
                            outcome.units_replaced += 1;
                        } else {
                            outcome.units_unchanged += 1;
                        }
                    }
                }
            }
            // Files that lose rows are rewritten into this partition's new file.
            for (fi, f) in existing.iter().enumerate() {
                if !any_deleted[fi] {
                    continue;
                }
                let full = parquet_io::read(store, &f.path, None).await?;
                let mut offset = 0;
                for b in full {
                    let mask: BooleanArray = (0..b.num_rows())
                        .map(|r| Some(!deleted[fi][offset + r]))
                        .collect();
                    offset += b.num_rows();
                    let kept = filter_record_batch(&b, &mask)?;
                    parts.push(parquet_io::adapt(&kept, schema)?);
                }
                removed.insert(f.path.clone());
            }
            keep
        };
        let new_rows = keep.len() as u64;
        let out = if parts.is_empty() {
            if keep.is_empty() {
                continue;
            }
            // Only incoming rows: put their indices in file order and copy each column once
            // (the same rows in the same order as `sort_units` of the taken rows).
            take_record_batch(&incoming, &units_order(&incoming, keep)?)?
        } else {
            if !keep.is_empty() {
                parts.push(take_record_batch(&incoming, &UInt32Array::from(keep))?);
            }
            sort_units(&concat_batches(schema, &parts)?)?
        };
        let file = write_units_file(store, schema, &partition, &out, written).await?;
        outcome.units_inserted += new_rows;
        added.push(file);
    }
    // Replacements were counted as inserted rows of the new file; report them separately.
    outcome.units_inserted -= outcome.units_replaced;
    Ok((removed, added))
}

/// Sorts units by end time (running units last), then uuid, so row-group statistics prune
/// time windows.
pub(crate) fn sort_units(b: &RecordBatch) -> Result<RecordBatch> {
    if b.num_rows() < 2 {
        return Ok(b.clone());
    }
    let all = (0..b.num_rows() as u32).collect();
    Ok(take_record_batch(b, &units_order(b, all)?)?)
}

/// The rows `rows` of `b` in the order of [`sort_units`]: `ended_at_ts` ascending with NULLs
/// (running units) last, then `uuid` ascending with NULLs first — what arrow's
/// `lexsort_to_indices` gives for those two sort columns, compared here directly on the
/// primitive values and string bytes instead of through its dynamic comparators.
fn units_order(b: &RecordBatch, rows: Vec<u32>) -> Result<UInt32Array> {
    let ended = b
        .column(units_col::ENDED_AT_TS)
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| Error::InvalidArgument("ended_at_ts is not a timestamp".into()))?;
    let uuid = b
        .column(units_col::UUID)
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::InvalidArgument("uuid is not a string".into()))?;
    // NULL end times sort last, NULL uuids first.
    let end = |i: usize| -> (bool, i64) { (ended.is_null(i), ended.value(i)) };
    let id = |i: usize| -> Option<&str> { uuid.is_valid(i).then(|| uuid.value(i)) };
    let mut order: Vec<usize> = rows.into_iter().map(|r| r as usize).collect();
    order.sort_unstable_by(|&x, &y| {
        let (ex, ey) = (end(x), end(y));
        match (ex.0, ey.0) {
            (false, false) => ex.1.cmp(&ey.1),
            (a, b) => a.cmp(&b),
        }
        .then_with(|| id(x).cmp(&id(y)))
    });
    Ok(order.into_iter().map(|i| i as u32).collect())
}

/// Writes one units file and describes it.
pub(crate) async fn write_units_file(
    store: &Store,
    schema: &SchemaRef,
    partition: &Partition,
    batch: &RecordBatch,
    written: &mut Vec<String>,
) -> Result<DataFile> {
    let path = units_file_path(partition);
    let bytes = parquet_io::encode(schema, std::slice::from_ref(batch))?;
    let size = bytes.len() as u64;
    written.push(path.clone());
    store.put(&path, bytes).await?;
    Ok(DataFile {
        path,
        rows: batch.num_rows() as u64,
        bytes: size,
        partition: Some(partition.clone()),
        stats: Some(unit_stats(batch)),
    })
}

fn min_max(a: &TimestampMillisecondArray) -> Option<(i64, i64)> {
    Some((arrow::compute::min(a)?, arrow::compute::max(a)?))
}

/// Value ranges of the time columns of a units batch.
pub(crate) fn unit_stats(b: &RecordBatch) -> UnitStats {
    let ts = |i: usize| b.column(i).as_primitive::<TimestampMillisecondType>();
    UnitStats {
        started_at_ts: min_max(ts(units_col::STARTED_AT_TS)),
        ended_at_ts: min_max(ts(units_col::ENDED_AT_TS)),
        last_updated_at_ts: min_max(ts(units_col::LAST_UPDATED_AT_TS)),
        running_rows: ts(units_col::ENDED_AT_TS).null_count() as u64,
    }
}

/// Merges member rows into a dimension table; returns the new single file when the content
/// changed.
async fn upsert_members(
    store: &Store,
    files: &[DataFile],
    table: Table,
    incoming: &[RecordBatch],
    written: &mut Vec<String>,
) -> Result<Option<(DataFile, u64)>> {
    let schema = match table {
        Table::Projects => schema::projects_schema(),
        _ => schema::users_schema(),
    };
    let mut existing = Vec::new();
    for f in files {
        for b in parquet_io::read(store, &f.path, None).await? {
            existing.push(parquet_io::adapt(&b, &schema)?);
        }
    }
    let existing = concat_batches(&schema, &existing)?;
    let new = concat_batches(
        &schema,
        incoming
            .iter()
            .map(|b| parquet_io::adapt(b, &schema))
            .collect::<Result<Vec<_>>>()?
            .iter(),
    )?;

    // Last incoming row per key wins, in the place of the stored row it replaces; stored rows
    // survive when no incoming row has their key; new keys follow in the order they came. The
    // stored order is thus the order rows were first seen, as in the original's tables (its
    // `/users/admin?role=admin` lists `admin_users` in insertion order, with no ORDER BY).
    let key = |b: &RecordBatch, i: usize| -> (String, String) {
        (
            b.column(1).as_string::<i32>().value(i).to_string(),
            b.column(3).as_string::<i32>().value(i).to_string(),
        )
    };
    // One pass over the stored rows, then the incoming ones: a key seen before takes the later
    // row in its first position.
    let both = concat_batches(&schema, [&existing, &new])?;
    let mut order: Vec<u32> = Vec::with_capacity(both.num_rows());
    let mut slot: HashMap<(String, String), usize> = HashMap::new();
    for i in 0..both.num_rows() {
        match slot.entry(key(&both, i)) {
            std::collections::hash_map::Entry::Occupied(e) => order[*e.get()] = i as u32,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(order.len());
                order.push(i as u32);
            }
        }
    }
    let merged = take_record_batch(&both, &UInt32Array::from(order))?;

    // Unchanged content (same rows in the same order) → nothing to write.
    if existing == merged {
        return Ok(None);
    }
    let path = format!("{}/{}", table.name(), unique_file_name());
    let bytes = parquet_io::encode(&schema, std::slice::from_ref(&merged))?;
    let size = bytes.len() as u64;
    written.push(path.clone());
    store.put(&path, bytes).await?;
    let rows = merged.num_rows() as u64;
    Ok(Some((
        DataFile {
            path,
            rows,
            bytes: size,
            partition: None,
            stats: None,
        },
        rows,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int32Array};
    use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A batch with `uuid` and `ended_at_ts` at their units positions (other columns hold the
    /// row number), with NULLs and many ties in both.
    fn batch(rows: usize, seed: u64) -> RecordBatch {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut fields = Vec::new();
        let mut cols: Vec<ArrayRef> = Vec::new();
        for i in 0..=units_col::ENDED_AT_TS {
            match i {
                units_col::UUID => {
                    fields.push(Field::new("uuid", DataType::Utf8, true));
                    let v: StringArray = (0..rows)
                        .map(|_| {
                            (!rng.random_bool(0.05))
                                .then(|| format!("{}", rng.random_range(0..rows / 4 + 1)))
                        })
                        .collect();
                    cols.push(Arc::new(v));
                }
                units_col::ENDED_AT_TS => {
                    fields.push(Field::new(
                        "ended_at_ts",
                        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                        true,
                    ));
                    let v: TimestampMillisecondArray = (0..rows)
                        .map(|_| {
                            (!rng.random_bool(0.1)).then(|| rng.random_range(-5i64..20) * 1000)
                        })
                        .collect();
                    cols.push(Arc::new(v.with_timezone("UTC")));
                }
                _ => {
                    fields.push(Field::new(format!("c{i}"), DataType::Int32, false));
                    cols.push(Arc::new(Int32Array::from_iter_values(0..rows as i32)));
                }
            }
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    }

    /// Arrow's own lexicographic sort on the two sort columns: the reference.
    fn reference(b: &RecordBatch) -> RecordBatch {
        let cols = vec![
            SortColumn {
                values: Arc::clone(b.column(units_col::ENDED_AT_TS)),
                options: Some(SortOptions {
                    descending: false,
                    nulls_first: false,
                }),
            },
            SortColumn {
                values: Arc::clone(b.column(units_col::UUID)),
                options: None,
            },
        ];
        take_record_batch(b, &lexsort_to_indices(&cols, None).unwrap()).unwrap()
    }

    #[test]
    fn unit_order_is_arrows_lexicographic_order() {
        for (rows, seed) in [(0, 1), (1, 2), (2, 3), (17, 4), (1000, 5), (20_000, 6)] {
            let b = batch(rows, seed);
            assert_eq!(sort_units(&b).unwrap(), reference(&b), "{rows} rows");
            // A subset, in the order the upsert keeps rows, sorted without a first copy.
            let keep: Vec<u32> = (0..rows as u32).filter(|r| r % 3 != 1).collect();
            let taken = take_record_batch(&b, &UInt32Array::from(keep.clone())).unwrap();
            let direct = take_record_batch(&b, &units_order(&b, keep).unwrap()).unwrap();
            assert_eq!(direct, reference(&taken), "{rows} rows, subset");
        }
    }
}
