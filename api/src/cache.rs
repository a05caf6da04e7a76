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
