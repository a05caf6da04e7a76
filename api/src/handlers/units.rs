//! `/units`, `/units/admin`, `/units/verify`.

use axum::extract::{Extension, State};
use axum::http::Uri;
use axum::response::Response;
use ceems_lake_engine::query::api::{self, UNIT_FIELDS, UnitsSpec, Window};

use crate::encode::{self, OutputTz};
use crate::error::ApiError;
use crate::handlers::{now_s, ok, respond};
use crate::params::{self, Params};
use crate::state::{AppState, Identity};

/// Own units of the logged user.
pub async fn list(
    State(st): State<AppState>,
    Extension(id): Extension<Identity>,
    uri: Uri,
) -> Response {
    respond(query(&st, Some(id.user), &Params::parse(uri.query())).await)
}

/// Units of anyone (admin).
pub async fn admin(
    State(st): State<AppState>,
    Extension(_id): Extension<Identity>,
    uri: Uri,
) -> Response {
    respond(query(&st, None, &Params::parse(uri.query())).await)
}

/// The output zone of `?timezone=`: none when empty, unknown, or the data zone itself.
fn output_tz(st: &AppState, p: &Params) -> OutputTz {
    let name = p.first("timezone").unwrap_or("");
    if name.is_empty() || name == st.api.data_tz.name() {
        return OutputTz(None);
    }
    if name == "Local" {
        return OutputTz(None);
    }
    OutputTz(name.parse::<chrono_tz::Tz>().ok())
}

async fn query(st: &AppState, own: Option<String>, p: &Params) -> Result<Response, ApiError> {
    let fields = params::fields(p, &UNIT_FIELDS)?;
    let uuids = p.list("uuid");
    let window = if uuids.is_some() {
        None
    } else {
        let (from, to) = params::window_seconds(p, now_s())?;
        params::check_max_period(from, to, st.api.max_period)?;
        Some(Window {
            from_ms: from * 1000,
            to_ms: to * 1000,
        })
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
    let batches = api::units(&ctx, &snap.manifest.metric_keys, &spec).await?;
    st.metrics
        .add_rows_scanned(batches.iter().map(|b| b.num_rows() as u64).sum());
    Ok(ok(&encode::units(
        &batches,
        &snap.manifest.metric_keys,
        &fields,
        output_tz(st, p),
    )))
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
