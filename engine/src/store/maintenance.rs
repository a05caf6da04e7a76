//! Compaction (one file per partition, current schema, no superseded versions) and vacuum
//! (delete files no kept version references).

use std::collections::{BTreeMap, HashMap, HashSet};

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::TimestampMillisecondType;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use crate::error::{Error, Result};
use crate::schema::{self, Table, units_col};
use crate::store::manifest::{DataFile, MANIFEST_DIR, Manifest, Partition};
use crate::store::transaction::{sort_units, write_units_file};
use crate::store::{Store, parquet_io};

/// What compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactOutcome {
    pub version: Option<u64>,
    pub partitions_rewritten: u64,
    pub files_before: u64,
    pub files_after: u64,
    /// Superseded unit versions dropped (only present if an older writer left duplicates).
    pub duplicates_dropped: u64,
}

/// Rewrites every `units` partition that has more than one file (or whose file predates known
/// metric columns, when `all` is set) into a single sorted file in the current schema.
pub async fn compact(store: &Store, all: bool) -> Result<CompactOutcome> {
    for _ in 0..8 {
        let base = store.load(store.latest_version().await?).await?;
        let mut written = Vec::new();
        match compact_once(store, &base, all, &mut written).await {
            Err(Error::CommitConflict { .. }) => {
                for p in &written {
                    let _ = store.delete(p).await;
                }
                continue;
            }
            Err(e) => {
                for p in &written {
                    let _ = store.delete(p).await;
                }
                return Err(e);
            }
            ok => return ok,
        }
    }
    Err(Error::Refused(
        "the store kept changing during compaction; run it again".into(),
    ))
}

async fn compact_once(
    store: &Store,
    base: &Manifest,
    all: bool,
    written: &mut Vec<String>,
) -> Result<CompactOutcome> {
    let schema = schema::units_schema(&base.metric_keys);
    let mut out = CompactOutcome::default();
    let mut groups: BTreeMap<Partition, Vec<&DataFile>> = BTreeMap::new();
    for f in base.files(Table::Units) {
        groups
            .entry(f.partition.clone().unwrap_or_default())
            .or_default()
            .push(f);
    }
    out.files_before = base.files(Table::Units).len() as u64;
    let mut new_files: Vec<DataFile> = Vec::new();
    let mut changed = false;
    for (p, files) in groups {
        if files.len() < 2 && !all {
            new_files.extend(files.into_iter().cloned());
            continue;
        }
        let mut parts = Vec::new();
        for f in &files {
            for b in parquet_io::read(store, &f.path, None).await? {
                parts.push(parquet_io::adapt(&b, &schema)?);
            }
        }
        let merged = concat_batches(&schema, &parts)?;
        let (deduped, dropped) = dedup_units(&merged)?;
        out.duplicates_dropped += dropped;
        let sorted = sort_units(&deduped)?;
        let file = write_units_file(store, &schema, &p, &sorted, written).await?;
        new_files.push(file);
        out.partitions_rewritten += 1;
        changed = true;
    }
    out.files_after = new_files.len() as u64;
    if !changed {
        return Ok(out);
    }
    let mut tables = base.tables.clone();
    tables.insert(Table::Units, new_files);
    let m = Manifest {
        version: base.version + 1,
        committed_at_ms: chrono::Utc::now().timestamp_millis(),
        operation: "compact".into(),
        tables,
        ..base.clone()
    };
    store.publish(&m).await?;
    out.version = Some(m.version);
    Ok(out)
}

/// Keeps the newest row of each `(cluster_id, uuid, started_at_ts)`.
fn dedup_units(b: &RecordBatch) -> Result<(RecordBatch, u64)> {
    let cluster = b.column(units_col::CLUSTER_ID).as_string::<i32>();
    let uuid = b.column(units_col::UUID).as_string::<i32>();
    let started = b
        .column(units_col::STARTED_AT_TS)
        .as_primitive::<TimestampMillisecondType>();
    let updated = b
        .column(units_col::LAST_UPDATED_AT_TS)
        .as_primitive::<TimestampMillisecondType>();
    let opt = |a: &arrow::array::TimestampMillisecondArray, i: usize| {
        if a.is_null(i) { None } else { Some(a.value(i)) }
    };
    let mut best: HashMap<(&str, &str, Option<i64>), usize> = HashMap::with_capacity(b.num_rows());
    for i in 0..b.num_rows() {
        let k = (cluster.value(i), uuid.value(i), opt(started, i));
        match best.get_mut(&k) {
            Some(j) => {
                if opt(updated, i) > opt(updated, *j) {
                    *j = i;
                }
            }
            None => {
                best.insert(k, i);
            }
        }
    }
    let dropped = (b.num_rows() - best.len()) as u64;
    if dropped == 0 {
        return Ok((b.clone(), 0));
    }
    let mut keep: Vec<u32> = best.into_values().map(|i| i as u32).collect();
    keep.sort_unstable();
    Ok((take_record_batch(b, &UInt32Array::from(keep))?, dropped))
}

/// What vacuum did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VacuumOutcome {
    pub files_deleted: u64,
    pub bytes_deleted: u64,
    pub manifests_deleted: u64,
    pub files_kept: u64,
}

/// Deletes data files that none of the newest `keep_versions` versions references and that are
/// older than `min_age` (so files of a commit in flight survive), and the manifests of versions
/// older than those kept.
pub async fn vacuum(
    store: &Store,
    keep_versions: usize,
    min_age: std::time::Duration,
) -> Result<VacuumOutcome> {
    let keep_versions = keep_versions.max(1);
    let versions = store.versions().await?;
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(min_age).unwrap_or_default();
    let cutoff_ms = cutoff.timestamp_millis();
    // Kept: the newest `keep_versions`, and every version a reader may still be working on,
    // i.e. every version that was the newest at some moment within `min_age` (those committed
    // since the cutoff, and the one that was current at the cutoff). A file superseded a
    // moment ago thus survives however many versions followed, whatever its own age.
    let mut kept: Vec<u64> = Vec::new();
    let mut referenced: HashSet<String> = HashSet::new();
    for (i, v) in versions.iter().rev().enumerate() {
        let m = store.load(*v).await?;
        let recent = m.committed_at_ms > cutoff_ms;
        kept.push(*v);
        for t in Table::ALL {
            for f in m.files(t) {
                referenced.insert(f.path.clone());
            }
        }
        if i + 1 >= keep_versions && !recent {
            // This version was current at the cutoff (or is the last counted one): older
            // versions were superseded before any reader that is still allowed to run began.
            break;
        }
    }
    let os = store.object_store();
    let mut out = VacuumOutcome::default();
    let all: Vec<_> = os
        .list(None)
        .try_collect()
        .await
        .map_err(|e| Error::storage(store.location(), e))?;
    for meta in all {
        let path = meta.location.to_string();
        if path.starts_with(MANIFEST_DIR) {
            continue;
        }
        let is_data = Table::ALL
            .iter()
            .any(|t| path.starts_with(&format!("{}/", t.name())));
        if !is_data {
            continue;
        }
        if referenced.contains(&path) {
            out.files_kept += 1;
            continue;
        }
        if meta.last_modified > cutoff {
            continue;
        }
        os.delete(&meta.location)
            .await
            .map_err(|e| Error::storage(&path, e))?;
        out.files_deleted += 1;
        out.bytes_deleted += meta.size;
    }
    let oldest_kept = kept.last().copied().unwrap_or(0);
    for v in versions.iter().filter(|v| **v < oldest_kept) {
        store
            .delete(&crate::store::manifest::version_file(*v))
            .await?;
        out.manifests_deleted += 1;
    }
    Ok(out)
}
