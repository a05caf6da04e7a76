//! `/units`, `/units/admin`, `/units/verify`.

use axum::extract::{Extension, State};
use axum::http::Uri;
use axum::response::Response;
use ceems_lake_engine::query::api::{self, UNIT_FIELDS, UnitsSpec};

use crate::encode::{OutputTz, UnitsEncoder};
use crate::error::ApiError;
use crate::handlers::{now_s, ok, respond};
use crate::params::{self, Params};
use crate::state::{AppState, Identity, RequestDeadline};
use crate::stream;

/// Own units of the logged user.
pub async fn list(
    State(st): State<AppState>,
    Extension(id): Extension<Identity>,
    deadline: Option<Extension<RequestDeadline>>,
    uri: Uri,
) -> Response {
    let p = Params::parse(uri.query());
    respond(query(&st, Some(id.user), &p, deadline.map(|d| d.0)).await)
}

/// Units of anyone (admin).
pub async fn admin(
    State(st): State<AppState>,
    Extension(_id): Extension<Identity>,
    deadline: Option<Extension<RequestDeadline>>,
    uri: Uri,
) -> Response {
    let p = Params::parse(uri.query());
    respond(query(&st, None, &p, deadline.map(|d| d.0)).await)
}

/// The output zone of `?timezone=`: as stored when empty, unknown, or named like the data zone;
/// `Local` is the server's zone.
fn output_tz(st: &AppState, p: &Params) -> OutputTz {
    let name = p.first("timezone").unwrap_or("");
    if name.is_empty() || name == st.api.data_tz.name() {
        return OutputTz::AsStored;
    }
    if name == "Local" {
        return OutputTz::Local;
    }
    name.parse::<chrono_tz::Tz>()
        .map(OutputTz::Zone)
        .unwrap_or(OutputTz::AsStored)
}

/// Lists units, streamed: the answer is encoded batch by batch as the sorted plan yields them
/// (see [`stream`]).
async fn query(
    st: &AppState,
    own: Option<String>,
    p: &Params,
    deadline: Option<RequestDeadline>,
) -> Result<Response, ApiError> {
    let fields = params::fields(p, &UNIT_FIELDS)?;
    let uuids = p.list("uuid");
    let window = if uuids.is_some() {
        None
    } else {
        let (from, to) = params::window_seconds(p, now_s())?;
        params::check_max_period(from, to, st.api.max_period)?;
        Some(params::window_ms(p, from, to)?)
    };
    let spec = UnitsSpec {
        users: if own.is_none() { p.list("user") } else { None },
        own_user: own,
        clusters: p.list("cluster_id"),
        projects: p.list("project"),
        uuids,
        window,
        running: p.has("running"),
        fields: fields.clone(),
    };
    let snap = st.lake.snapshot();
    let ctx = st.lake.session();
    let mut batches = ceems_lake_engine::session::execute_stream_counted(
        api::units_frame(&ctx, &snap.manifest.metric_keys, &spec).await?,
    )
    .await?;
    let Some(first) = stream::first_rows(&mut batches).await? else {
        return Ok(ok(b"[]"));
    };
    let mut enc = UnitsEncoder::new(snap.manifest.metric_keys.clone(), fields, output_tz(st, p));
    let deadline = deadline
        .unwrap_or_else(|| RequestDeadline(tokio::time::Instant::now() + st.web.request_timeout));
    Ok(stream::json_array(
        first,
        batches,
        move |b, out| enc.push_batch(b, out),
        std::sync::Arc::clone(&st.metrics),
        deadline,
    ))
}

/// Ownership check used by the CEEMS load balancer.
pub async fn verify(
    State(st): State<AppState>,
    Extension(id): Extension<Identity>,
    uri: Uri,
) -> Response {
    let p = Params::parse(uri.query());
    respond(
        async {
            let uuids = p.all("uuid");
            if uuids.is_empty() {
                return Err(ApiError::bad_data("uuids missing in the request"));
            }
            let denied = || ApiError::forbidden("user do not have permissions on uuids");
            let clusters = p.all("cluster_id");
            if clusters.is_empty() || id.user.is_empty() {
                return Err(denied());
            }
            if id.is_admin {
                return Ok(ok(b"null"));
            }
            let times: Vec<i64> = p
                .all("time")
                .iter()
                .filter_map(|t| t.trim().parse().ok())
                .collect();
            match api::verify(&st.lake.session(), &id.user, &clusters, &uuids, &times).await {
                Ok(true) => Ok(ok(b"null")),
                Ok(false) => Err(denied()),
                Err(e) => {
                    tracing::warn!(error = %e, "verify failed");
                    Err(denied())
                }
            }
        }
        .await,
    )
}
