//! State shared by every request handler.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ceems_lake_engine::Lake;
use ceems_lake_engine::time::DataTz;

use crate::cache::UsageCache;
use crate::metrics::Metrics;

/// Settings the `/api/v1` handlers need, validated once at start.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Zone of the stored time strings (`data.time_zone`).
    pub data_tz: DataTz,
    /// Longest accepted `to − from` (`--query.max-period`); `None` = unlimited.
    pub max_period: Option<Duration>,
    /// Admin users from the configuration (`admin.users`).
    pub config_admins: Vec<String>,
}

/// Cheap to clone; everything inside is shared.
#[derive(Clone)]
pub struct AppState(pub Arc<AppStateInner>);

/// See [`AppState`].
pub struct AppStateInner {
    pub lake: Arc<Lake>,
    pub api: ApiSettings,
    pub cache: UsageCache,
    /// All-time usage rows of the served store version.
    pub global_usage: crate::cache::GlobalUsage,
    pub metrics: Arc<Metrics>,
    /// Admin names imported into the store, with the store version they were read at.
    pub store_admins: RwLock<(u64, HashSet<String>)>,
    /// HTTP-level settings the middleware needs.
    pub web: WebSettings,
}

/// HTTP-level settings: identity headers, CORS, basic auth, timeouts.
#[derive(Debug)]
pub struct WebSettings {
    /// Base of the API routes: `<route prefix>/api/v1`.
    pub api_base: String,
    /// Identity headers, in order of preference.
    pub user_headers: Vec<axum::http::HeaderName>,
    /// Anchored regex of allowed CORS origins.
    pub cors_origin: regex::Regex,
    /// `Access-Control-Allow-Headers` value.
    pub cors_allow_headers: axum::http::HeaderValue,
    /// Basic-auth users and their bcrypt hashes (empty: no basic auth).
    pub basic_auth_users: std::collections::BTreeMap<String, String>,
    /// Credentials already checked against their bcrypt hash (bcrypt is slow on purpose).
    pub basic_auth_ok: std::sync::Mutex<HashSet<(String, String)>>,
    /// Headers added to every response (web config `http_server_config.headers`).
    pub extra_headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>,
    /// Requests taking longer are answered 503 `timeout`.
    pub request_timeout: Duration,
}

impl AppStateInner {
    /// Whether `user` is an admin: configured, or imported into the store's `admin_users`.
    pub fn is_admin(&self, user: &str) -> bool {
        self.api.config_admins.iter().any(|a| a == user)
            || self
                .store_admins
                .read()
                .map(|g| g.1.contains(user))
                .unwrap_or(false)
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;
    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

/// Who is asking, set by the identity middleware on every non-exempt request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub is_admin: bool,
}

/// When the request must be answered, its response delivered (set by the request middleware
/// from `--web.request-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestDeadline(pub tokio::time::Instant);
