//! `/projects`, `/projects/admin`.

use axum::extract::{Extension, State};
use axum::http::Uri;
use axum::response::Response;
use ceems_lake_engine::query::api;

use crate::encode;
use crate::error::ApiError;
use crate::handlers::{ok, respond};
use crate::params::Params;
use crate::state::{AppState, Identity};

/// Projects (by name, every cluster) that list the logged user.
pub async fn list(
    State(st): State<AppState>,
    Extension(id): Extension<Identity>,
    uri: Uri,
) -> Response {
    respond(query(&st, Some(id.user), &Params::parse(uri.query())).await)
}

/// Every project with at least one member.
pub async fn admin(
    State(st): State<AppState>,
    Extension(_id): Extension<Identity>,
    uri: Uri,
) -> Response {
    respond(query(&st, None, &Params::parse(uri.query())).await)
}

async fn query(st: &AppState, user: Option<String>, p: &Params) -> Result<Response, ApiError> {
    let ctx = st.lake.session();
    let users = user.map(|u| vec![u]);
    let visible = api::projects_of(&ctx, users.as_deref()).await?;
    let b = api::projects(
        &ctx,
        &visible,
        p.list("project").as_deref(),
        p.list("cluster_id").as_deref(),
    )
    .await?;
    Ok(ok(&encode::members(&b, "users", &[])))
}
