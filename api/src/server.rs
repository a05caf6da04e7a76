//! `ceems-lake serve`: state, routes, listeners (plain or TLS), the store refresher and graceful
//! shutdown.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use axum::Router;
use axum::handler::Handler;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, any, get};
use ceems_lake_engine::Lake;
use ceems_lake_engine::query::api;
use ceems_lake_engine::session::SessionSettings;
use ceems_lake_engine::store::Store;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower_http::compression::CompressionLayer;

use crate::cache::UsageCache;
use crate::config::{ServeSettings, TlsMaterial, socket_addrs};
use crate::conn;
use crate::handlers::{clusters, demo, health, projects, stats, units, usage, users};
use crate::metrics::Metrics;
use crate::middleware;
use crate::openapi;
use crate::state::{ApiSettings, AppState, AppStateInner, WebSettings};

/// Builds the shared state over an opened lake.
pub async fn build_state(lake: Arc<Lake>, s: &ServeSettings) -> AppState {
    let mut allow = String::from("Accept, Authorization, Content-Type, Origin");
    for h in &s.user_headers {
        allow.push_str(", ");
        allow.push_str(&canonical_header(h.as_str()));
    }
    let metrics = Arc::new(Metrics::default());
    metrics.set_store_version(lake.snapshot().version());
    let st = AppState(Arc::new(AppStateInner {
        api: ApiSettings {
            data_tz: s.data_tz,
            max_period: s.max_period,
            config_admins: s.config_admins.clone(),
        },
        cache: UsageCache::default(),
        global_usage: Default::default(),
        metrics,
        store_admins: RwLock::new((u64::MAX, HashSet::new())),
        web: WebSettings {
            api_base: format!("{}/api/v1", s.route_prefix),
            user_headers: s.user_headers.clone(),
            cors_origin: s.cors_origin.clone(),
            cors_allow_headers: HeaderValue::from_str(&allow).unwrap_or(HeaderValue::from_static(
                "Accept, Authorization, Content-Type, Origin",
            )),
            basic_auth_users: s.basic_auth_users.clone(),
            basic_auth_ok: std::sync::Mutex::new(HashSet::new()),
            extra_headers: s.extra_headers.clone(),
            request_timeout: s.request_timeout,
        },
        lake,
    }));
    reload_admins(&st).await;
    st
}

/// `x-grafana-user` → `X-Grafana-User` (how the original prints header names).
fn canonical_header(h: &str) -> String {
    h.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Re-reads the imported admin names when the served store version changed.
async fn reload_admins(st: &AppState) {
    let version = st.lake.snapshot().version();
    if st
        .store_admins
        .read()
        .map(|g| g.0 == version)
        .unwrap_or(false)
    {
        return;
    }
    let names = match api::admin_users(&st.lake.session()).await {
        Ok(batches) => admin_names(&batches),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read admin_users; only configured admins are admins");
            HashSet::new()
        }
    };
    if let Ok(mut g) = st.store_admins.write() {
        *g = (version, names);
    }
}

fn admin_names(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> HashSet<String> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::DataType;
    let mut out = HashSet::new();
    for b in batches {
        let Some(col) = b.column_by_name("name") else {
            continue;
        };
        let Ok(col) = datafusion::arrow::compute::cast(col, &DataType::Utf8) else {
            continue;
        };
        let col = col.as_string::<i32>();
        for i in 0..col.len() {
            if col.is_valid(i) {
                out.insert(col.value(i).to_string());
            }
        }
    }
    out
}

/// A GET route that also answers CORS preflights (OPTIONS is a routed method, so the router
/// adds no `Allow` header of its own; the CORS middleware writes the answer).
fn api_get<H, T>(handler: H) -> MethodRouter<AppState>
where
    H: Handler<T, AppState>,
    T: 'static,
{
    get(handler).options(|| async { StatusCode::OK })
}

/// Every route of the server.
pub fn router(st: AppState, openapi_prefix: &str) -> Router {
    let p = st.web.api_base.clone();
    let api = Router::new()
        .route(&format!("{p}/units"), api_get(units::list))
        .route(&format!("{p}/units/admin"), api_get(units::admin))
        .route(&format!("{p}/units/verify"), api_get(units::verify))
        .route(&format!("{p}/users"), api_get(users::list))
        .route(&format!("{p}/users/admin"), api_get(users::admin))
        .route(&format!("{p}/projects"), api_get(projects::list))
        .route(&format!("{p}/projects/admin"), api_get(projects::admin))
        .route(&format!("{p}/clusters/admin"), api_get(clusters::admin))
        .route(&format!("{p}/usage/current"), api_get(usage::current))
        .route(&format!("{p}/usage/global"), api_get(usage::global))
        .route(
            &format!("{p}/usage/current/admin"),
            api_get(usage::current_admin),
        )
        .route(
            &format!("{p}/usage/global/admin"),
            api_get(usage::global_admin),
        )
        .route(
            &format!("{p}/stats/current/admin"),
            api_get(stats::current_admin),
        )
        .route(
            &format!("{p}/stats/global/admin"),
            api_get(stats::global_admin),
        )
        // Inner to outer: CORS (so middleware rejections carry none), identity, method check.
        .route_layer(from_fn_with_state(st.clone(), middleware::cors))
        .route_layer(from_fn_with_state(st.clone(), middleware::identity))
        .route_layer(from_fn(middleware::get_only));
    let open = Router::new()
        .route(&format!("{p}/demo/units"), api_get(demo::units))
        .route(&format!("{p}/demo/usage"), api_get(demo::usage))
        .route_layer(from_fn_with_state(st.clone(), middleware::cors))
        .route_layer(from_fn(middleware::get_only))
        .route(
            "/health",
            // `any` routes have no per-method endpoints, so the layer wraps the whole handler.
            any(health::health).layer(from_fn_with_state(st.clone(), middleware::cors)),
        )
        .route("/metrics", get(health::metrics))
        .route("/", get(health::landing));
    Router::new()
        .merge(api)
        .merge(open)
        .fallback(middleware::not_found)
        .with_state(st.clone())
        .merge(openapi::router(openapi::document(openapi_prefix, None)))
        .layer(from_fn_with_state(st.clone(), middleware::observe))
        .layer(from_fn(middleware::redirect_unclean))
        .layer(CompressionLayer::new().gzip(true).zstd(true))
        .layer(from_fn_with_state(st, middleware::basic_auth))
}

/// Looks for newer store versions; on a change, switches the session, drops cached usage
/// answers and re-reads the imported admins.
async fn refresher(st: AppState, every: std::time::Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        match st.lake.refresh().await {
            Ok(true) => {
                st.cache.clear();
                reload_admins(&st).await;
                let v = st.lake.snapshot().version();
                st.metrics.set_store_version(v);
                st.metrics.store_refreshed();
                tracing::info!(version = v, "serving a newer store version");
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot look for a newer store version"),
        }
    }
}

async fn bind(listen: &str) -> anyhow::Result<TcpListener> {
    let mut last = None;
    for addr in socket_addrs(listen)? {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some((addr, e)),
        }
    }
    // `:port` tries IPv6 any first; fall back to IPv4 any on hosts without IPv6.
    if listen.starts_with(':') {
        let v4: SocketAddr = format!("0.0.0.0{listen}")
            .parse()
            .context("listen address")?;
        if let Ok(l) = TcpListener::bind(v4).await {
            return Ok(l);
        }
    }
    let (addr, e) = last.context("no address to listen on")?;
    Err(anyhow::anyhow!("cannot listen on {addr}: {e}"))
}

/// Runs the server until SIGTERM or Ctrl-C.
pub async fn serve(store: Store, s: ServeSettings) -> anyhow::Result<()> {
    let settings = SessionSettings {
        memory_limit: Some(s.memory_limit),
        ..SessionSettings::default()
    };
    let lake = Arc::new(
        Lake::open(store, settings)
            .await
            .context("cannot open the store")?,
    );
    let st = build_state(Arc::clone(&lake), &s).await;
    let app = router(st.clone(), &s.route_prefix);
    let tls = match &s.tls {
        Some(t) => Some(tls_acceptor(t)?),
        None => None,
    };
    let limits = conn::Limits {
        header_read: s.read_header_timeout,
        idle: s.idle_timeout,
        request: s.request_timeout,
        max_connections: conn::connection_cap(s.max_connections),
    };
    let conns = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut listeners = Vec::new();
    for listen in &s.listen {
        let listener = bind(listen).await?;
        tracing::info!(address = %listener.local_addr()?, tls = tls.is_some(), "listening");
        listeners.push(listener);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        tasks.spawn(conn::accept_loop(
            listener,
            tls.clone(),
            app.clone(),
            limits,
            Arc::clone(&conns),
            stop_rx.clone(),
        ));
    }
    tracing::info!(
        version = lake.snapshot().version(),
        data_files = lake
            .snapshot()
            .manifest
            .tables
            .values()
            .map(Vec::len)
            .sum::<usize>(),
        max_connections = limits.max_connections,
        "serving the store"
    );
    tokio::spawn(refresher(st.clone(), s.refresh_interval, stop_rx.clone()));
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    let _ = stop_tx.send(true);
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::warn!(error = %e, "listener task failed");
        }
    }
    // Every connection holds a permit until it is closed: all permits back = all done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = conns.acquire_many(all).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

fn tls_acceptor(t: &TlsMaterial) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let certs: Vec<_> = rustls_pemfile::certs(&mut t.cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .context("TLS certificate is not valid PEM")?;
    if certs.is_empty() {
        anyhow::bail!("TLS certificate file holds no certificate");
    }
    let key = rustls_pemfile::private_key(&mut t.key_pem.as_slice())
        .context("TLS key is not valid PEM")?
        .context("TLS key file holds no private key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key do not match")?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_printed_canonically() {
        assert_eq!(canonical_header("x-grafana-user"), "X-Grafana-User");
        assert_eq!(canonical_header("x-my-id"), "X-My-Id");
    }
}
