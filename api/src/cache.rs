//! The usage cache: `/usage/current` answers per user and normalised query, for 15 minutes
//! after their last use (the original's sliding expiry), never across store versions.

use std::time::Duration;

use moka::future::Cache;

/// How long an unused entry lives.
pub const USAGE_TTL: Duration = Duration::from_secs(15 * 60);

/// Cached response bodies keyed by store version, user, path and sorted query.
#[derive(Clone)]
pub struct UsageCache {
    inner: Cache<String, std::sync::Arc<Vec<u8>>>,
    ttl: Duration,
}

impl std::fmt::Debug for UsageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageCache")
            .field("entries", &self.inner.entry_count())
            .finish()
    }
}

impl Default for UsageCache {
    fn default() -> Self {
        UsageCache::new(USAGE_TTL, 10_000)
    }
}

impl UsageCache {
    /// A cache whose entries expire `ttl` after their last use, holding at most `capacity`.
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        UsageCache {
            inner: Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(ttl)
                .build(),
            ttl,
        }
    }

    /// The key of a request: store version, user, path and the query pairs sorted by key
    /// (with `from`/`to` already rounded).
    pub fn key(version: u64, user: &str, path: &str, sorted_pairs: &[(String, String)]) -> String {
        let mut k = format!("{version}\u{0}{user}\u{0}{path}");
        for (a, b) in sorted_pairs {
            k.push('\u{0}');
            k.push_str(a);
            k.push('=');
            k.push_str(b);
        }
        k
    }

    /// A cached body (and extends its life).
    pub async fn get(&self, key: &str) -> Option<std::sync::Arc<Vec<u8>>> {
        self.inner.get(key).await
    }

    /// Stores a body.
    pub async fn put(&self, key: String, body: Vec<u8>) {
        self.inner.insert(key, std::sync::Arc::new(body)).await;
    }

    /// Drops every entry (a new store version was published).
    pub fn clear(&self) {
        self.inner.invalidate_all();
    }

    /// Time to live after the last use.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// Global usage of every (cluster, user, project) for one store version: the same for every
/// caller, so it is computed once per version (one request computes, concurrent ones wait for
/// it) and each request narrows it to what its caller may see.
#[derive(Default)]
pub struct GlobalUsage {
    slot: tokio::sync::Mutex<Option<(u64, std::sync::Arc<GlobalRows>)>>,
}

/// The rows of [`GlobalUsage`] and how to render them.
pub type GlobalRows = (
    Vec<arrow::record_batch::RecordBatch>,
    ceems_lake_engine::query::api::UsageLayout,
);

impl std::fmt::Debug for GlobalUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalUsage").finish_non_exhaustive()
    }
}

impl GlobalUsage {
    /// The rows of the lake's current version; `true` when they were computed already.
    pub async fn get(
        &self,
        lake: &ceems_lake_engine::Lake,
    ) -> ceems_lake_engine::error::Result<(std::sync::Arc<GlobalRows>, bool)> {
        let mut slot = self.slot.lock().await;
        let (snap, ctx) = lake.current();
        if let Some((v, rows)) = slot.as_ref()
            && *v == snap.version()
        {
            return Ok((std::sync::Arc::clone(rows), true));
        }
        let rows = std::sync::Arc::new(
            ceems_lake_engine::query::api::usage_global_all(&ctx, &snap.manifest.metric_keys)
                .await?,
        );
        *slot = Some((snap.version(), std::sync::Arc::clone(&rows)));
        Ok((rows, false))
    }
}
