//! `/stats/{current,global}/admin`.

use axum::extract::{Extension, State};
use axum::http::Uri;
use axum::response::Response;
use ceems_lake_engine::query::api;

use crate::encode;
use crate::error::ApiError;
use crate::handlers::{now_s, ok, respond};
use crate::params::{self, Params};
use crate::state::{AppState, Identity};

/// Counters of units that ended in the window plus running ones.
pub async fn current_admin(
    State(st): State<AppState>,
    Extension(_id): Extension<Identity>,
    uri: Uri,
) -> Response {
    respond(query(&st, &Params::parse(uri.query()), true).await)
}

/// Counters of all units.
pub async fn global_admin(
    State(st): State<AppState>,
    Extension(_id): Extension<Identity>,
    uri: Uri,
) -> Response {
    respond(query(&st, &Params::parse(uri.query()), false).await)
}

async fn query(st: &AppState, p: &Params, current: bool) -> Result<Response, ApiError> {
    let window = if current {
        let (from, to) = params::window_seconds(p, now_s())?;
        params::check_max_period(from, to, st.api.max_period)?;
        Some(params::window_ms(p, from, to)?)
    } else {
        None
    };
    let b = api::stats(&st.lake.session(), window, p.list("cluster_id").as_deref()).await?;
    Ok(ok(&encode::stats(&b)))
}
