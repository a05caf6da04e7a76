//! `ceems-lake compact | vacuum | info`

use ceems_lake_engine::schema::{METRIC_MAPS, Table};
use ceems_lake_engine::store::Store;
use ceems_lake_engine::store::maintenance::{compact, vacuum};

use crate::cli::{CompactArgs, VacuumArgs};

pub async fn run_compact(store: &Store, a: &CompactArgs) -> anyhow::Result<()> {
    let o = compact(store, a.all).await?;
    match o.version {
        Some(v) => println!(
            "compacted {} partitions: {} files -> {}, {} superseded versions dropped; version {v}",
            o.partitions_rewritten, o.files_before, o.files_after, o.duplicates_dropped
        ),
        None => println!("nothing to compact ({} files)", o.files_before),
    }
    Ok(())
}

/// Shortest grace period `vacuum` accepts without `--force`: far longer than any commit takes
/// between writing its first file and publishing it.
pub const SAFE_MIN_AGE_SECONDS: u64 = 600;

pub async fn run_vacuum(store: &Store, a: &VacuumArgs) -> anyhow::Result<()> {
    if a.min_age_seconds < SAFE_MIN_AGE_SECONDS && !a.force {
        anyhow::bail!(
            "--min-age-seconds {} is below {SAFE_MIN_AGE_SECONDS}: files an import or compaction \
             is about to commit, and versions a server or query is still reading, could be \
             deleted. Nothing was deleted. Add --force if no other process uses the store",
            a.min_age_seconds
        );
    }
    if a.min_age_seconds < SAFE_MIN_AGE_SECONDS {
        tracing::warn!(
            min_age_seconds = a.min_age_seconds,
            "short grace period forced: any commit in flight now loses its files"
        );
    }
    let o = vacuum(
        store,
        a.keep_versions,
        std::time::Duration::from_secs(a.min_age_seconds),
    )
    .await?;
    println!(
        "deleted {} files ({} bytes) and {} old manifests; {} live files kept",
        o.files_deleted, o.bytes_deleted, o.manifests_deleted, o.files_kept
    );
    Ok(())
}

pub async fn run_info(store: &Store) -> anyhow::Result<()> {
    let snap = store.snapshot().await?;
    let m = &snap.manifest;
    println!("store:   {}", store.location());
    println!("version: {}", m.version);
    if m.version > 0 {
        let at = chrono::DateTime::from_timestamp_millis(m.committed_at_ms).unwrap_or_default();
        println!("last commit: {} ({})", at.to_rfc3339(), m.operation);
    }
    for t in Table::ALL {
        let files = m.files(t);
        let bytes: u64 = files.iter().map(|f| f.bytes).sum();
        println!(
            "{:<12} {:>12} rows {:>6} files {:>12} bytes",
            t.name(),
            m.rows(t),
            files.len(),
            bytes
        );
    }
    for (i, map) in METRIC_MAPS.iter().enumerate() {
        let keys = m.metric_keys.keys_of(i);
        if !keys.is_empty() {
            println!("{map}: {}", keys.join(", "));
        }
    }
    Ok(())
}
