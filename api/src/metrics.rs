//! The server's own Prometheus metrics, rendered in the text exposition format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct RouteStats {
    /// Requests per status code.
    by_status: BTreeMap<u16, u64>,
    /// Cumulative counts per bucket (last = +Inf).
    buckets: [u64; BUCKETS.len() + 1],
    sum_seconds: f64,
    count: u64,
}

/// Counters shared by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<String, RouteStats>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    rows_sent: AtomicU64,
    rows_scanned: AtomicU64,
    store_version: AtomicU64,
    store_refreshes: AtomicU64,
}

impl Metrics {
    /// Records one answered request of `route` (the route pattern, not the raw path).
    pub fn observe(&self, route: &str, status: u16, latency: Duration) {
        let secs = latency.as_secs_f64();
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let r = routes.entry(route.to_string()).or_default();
        *r.by_status.entry(status).or_default() += 1;
        let idx = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        r.buckets[idx] += 1;
        r.sum_seconds += secs;
        r.count += 1;
    }

    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn cache_miss(&self) {
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds unit rows sent in a streamed answer.
    pub fn add_rows_sent(&self, n: u64) {
        self.rows_sent.fetch_add(n, Ordering::Relaxed);
    }

    /// The rows the store's table scans read so far (kept by the query engine).
    pub fn set_rows_scanned(&self, n: u64) {
        self.rows_scanned.store(n, Ordering::Relaxed);
    }

    /// The store version being served.
    pub fn set_store_version(&self, v: u64) {
        self.store_version.store(v, Ordering::Relaxed);
    }

    /// A newer store version was picked up.
    pub fn store_refreshed(&self) {
        self.store_refreshes.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        out.push_str(
            "# HELP ceems_lake_http_requests_total Requests answered, by route and status code.\n",
        );
        out.push_str("# TYPE ceems_lake_http_requests_total counter\n");
        for (route, s) in &routes {
            for (status, n) in &s.by_status {
                let _ = writeln!(
                    out,
                    "ceems_lake_http_requests_total{{route=\"{}\",code=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        out.push_str(
            "# HELP ceems_lake_http_request_duration_seconds Time to answer a request, by route.\n",
        );
        out.push_str("# TYPE ceems_lake_http_request_duration_seconds histogram\n");
        for (route, s) in &routes {
            let route = escape(route);
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += s.buckets[i];
                let _ = writeln!(
                    out,
                    "ceems_lake_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            cumulative += s.buckets[BUCKETS.len()];
            let _ = writeln!(
                out,
                "ceems_lake_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                out,
                "ceems_lake_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "ceems_lake_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                s.count
            );
        }
        let counters = [
            (
                "ceems_lake_usage_cache_hits_total",
                "Usage answers served from the cache.",
                &self.cache_hits,
            ),
            (
                "ceems_lake_usage_cache_misses_total",
                "Usage answers computed (not in the cache).",
                &self.cache_misses,
            ),
            (
                "ceems_lake_rows_scanned_total",
                "Rows the table scans of answered requests read from the store.",
                &self.rows_scanned,
            ),
            (
                "ceems_lake_unit_rows_sent_total",
                "Units sent in /units and /units/admin answers.",
                &self.rows_sent,
            ),
            (
                "ceems_lake_store_refreshes_total",
                "Newer store versions picked up while serving.",
                &self.store_refreshes,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ceems_lake_store_version Manifest version of the store being served.\n# TYPE ceems_lake_store_version gauge\nceems_lake_store_version {}",
            self.store_version.load(Ordering::Relaxed)
        );
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_counters_render() {
        let m = Metrics::default();
        m.observe("/api/v1/units", 200, Duration::from_millis(3));
        m.observe("/api/v1/units", 200, Duration::from_millis(30));
        m.observe("/api/v1/units", 400, Duration::from_secs(20));
        m.cache_hit();
        m.set_store_version(7);
        let t = m.render();
        assert!(
            t.contains("ceems_lake_http_requests_total{route=\"/api/v1/units\",code=\"200\"} 2\n")
        );
        assert!(
            t.contains("ceems_lake_http_requests_total{route=\"/api/v1/units\",code=\"400\"} 1\n")
        );
        assert!(t.contains("ceems_lake_http_request_duration_seconds_bucket{route=\"/api/v1/units\",le=\"0.001\"} 0\n"));
        assert!(t.contains("ceems_lake_http_request_duration_seconds_bucket{route=\"/api/v1/units\",le=\"0.005\"} 1\n"));
        assert!(t.contains("ceems_lake_http_request_duration_seconds_bucket{route=\"/api/v1/units\",le=\"0.05\"} 2\n"));
        assert!(t.contains(
            "ceems_lake_http_request_duration_seconds_bucket{route=\"/api/v1/units\",le=\"10\"} 2\n"
        ));
        assert!(t.contains("ceems_lake_http_request_duration_seconds_bucket{route=\"/api/v1/units\",le=\"+Inf\"} 3\n"));
        assert!(t.contains(
            "ceems_lake_http_request_duration_seconds_count{route=\"/api/v1/units\"} 3\n"
        ));
        assert!(t.contains("ceems_lake_usage_cache_hits_total 1\n"));
        assert!(t.contains("ceems_lake_store_version 7\n"));
    }
}
