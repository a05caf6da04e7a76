//! `/usage/{current,global}[/admin]`.

use std::collections::BTreeSet;

use axum::extract::{Extension, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use ceems_lake_engine::query::api::{self, GROUPBY_ALLOWED, USAGE_FIELDS, UsageSpec};
use ceems_lake_engine::schema::METRIC_MAPS;

use crate::cache::UsageCache;
use crate::encode;
use crate::envelope::success_body;
use crate::error::{ApiError, json_response};
use crate::handlers::{now_s, ok, respond};
use crate::params::{self, Params};
use crate::state::{AppState, Identity};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Current,
    Global,
}

/// Usage of the logged user's projects between `from` and `to`.
pub async fn current(
    State(st): State<AppState>,
    Extension(id): Extension<Identity>,
    uri: Uri,
) -> Response {
    respond(query(&st, Some(&id.user), &id.user, &uri, Mode::Current).await)
}

/// All-time usage of the logged user's projects.
pub async fn global(
    State(st): State<AppState>,
    Extension(id): Extension<Identity>,
    uri: Uri,
) -> Response {
    respond(query(&st, Some(&id.user), &id.user, &uri, Mode::Global).await)
}

/// Usage of the projects of `?user=…` (every project with members when absent).
pub async fn current_admin(
    State(st): State<AppState>,
    Extension(id): Extension<Identity>,
    uri: Uri,
) -> Response {
    respond(query(&st, None, &id.user, &uri, Mode::Current).await)
}

/// All-time usage of the projects of `?user=…`.
pub async fn global_admin(
    State(st): State<AppState>,
    Extension(id): Extension<Identity>,
    uri: Uri,
) -> Response {
    respond(query(&st, None, &id.user, &uri, Mode::Global).await)
}

fn groupby(p: &Params) -> Result<BTreeSet<&'static str>, ApiError> {
    let mut out = BTreeSet::new();
    for g in p.all("groupby") {
        let g = g.trim();
        match g {
            "" | "username" | "project" | "cluster_id" => {}
            _ => match GROUPBY_ALLOWED.iter().find(|a| **a == g) {
                Some(a) => {
                    out.insert(*a);
                }
                None => return Err(ApiError::bad_data("invalid groupby")),
            },
        }
    }
    Ok(out)
}

async fn query(
    st: &AppState,
    own: Option<&str>,
    logged: &str,
    uri: &Uri,
    mode: Mode,
) -> Result<Response, ApiError> {
    let p = Params::parse(uri.query());
    let fields = params::fields(&p, &USAGE_FIELDS)?;
    let groupby = groupby(&p)?;
    let snap = st.lake.snapshot();
    let mut window = None;
    let mut cache_key = None;
    if mode == Mode::Current {
        let (from, to) = params::window_seconds(&p, now_s())?;
        let (from, to) = params::round_window(from, to);
        params::check_max_period(from, to, st.api.max_period)?;
        window = Some(params::window_ms(&p, from, to)?);
        let mut pairs: Vec<(String, String)> = p
            .sorted_pairs()
            .into_iter()
            .filter(|(k, _)| k != "from" && k != "to")
            .collect();
        pairs.push(("from".into(), from.to_string()));
        pairs.push(("to".into(), to.to_string()));
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let key = UsageCache::key(snap.version(), logged, uri.path(), &pairs);
        if let Some(body) = st.cache.get(&key).await {
            st.metrics.cache_hit();
            let mut r = json_response(StatusCode::OK, body.to_vec());
            // An HTTP-date (RFC 9110 IMF-fixdate, always GMT).
            let expires =
                chrono::Utc::now() + chrono::Duration::from_std(st.cache.ttl()).unwrap_or_default();
            if let Ok(v) =
                HeaderValue::from_str(&expires.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
            {
                r.headers_mut().insert(header::EXPIRES, v);
            }
            return Ok(r);
        }
        st.metrics.cache_miss();
        cache_key = Some(key);
    }
    let ctx = st.lake.session();
    let users: Option<Vec<String>> = match own {
        Some(u) => Some(vec![u.to_string()]),
        None => p.list("user").filter(|u| !u.is_empty()),
    };
    let visible = api::projects_of(&ctx, users.as_deref()).await?;
    let spec = UsageSpec {
        visible_projects: visible,
        projects: p.list("project"),
        clusters: p.list("cluster_id"),
        window,
        terminated: p.has("__terminated"),
        groupby,
        fields: fields.clone(),
    };
    if mode == Mode::Global && spec.groupby.is_empty() {
        // One computation per store version, narrowed to this caller's rows and fields.
        let (all, hit) = st.global_usage.get(&st.lake).await?;
        if hit {
            st.metrics.cache_hit();
        } else {
            st.metrics.cache_miss();
        }
        let rows = api::narrow_usage_rows(&all.0, &spec)?;
        let mut layout = all.1.clone();
        layout
            .maps
            .retain(|m, _| fields.as_ref().is_none_or(|f| f.contains(METRIC_MAPS[*m])));
        return Ok(ok(&encode::usage(&rows, &layout, &fields, false)));
    }
    let (batches, layout) = api::usage(&ctx, &snap.manifest.metric_keys, &spec).await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let data = encode::usage(&batches, &layout, &fields, mode == Mode::Current);
    if let (Some(key), true) = (cache_key, rows > 0) {
        st.cache.put(key, success_body(&data, &[])).await;
    }
    Ok(ok(&data))
}
