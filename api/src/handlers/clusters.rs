//! `/clusters/admin`.

use axum::extract::{Extension, State};
use axum::http::Uri;
use axum::response::Response;
use ceems_lake_engine::query::api;

use crate::encode;
use crate::error::ApiError;
use crate::handlers::{ok, respond};
use crate::state::{AppState, Identity};

/// Distinct clusters of the stored units.
pub async fn admin(
    State(st): State<AppState>,
    Extension(_id): Extension<Identity>,
    _uri: Uri,
) -> Response {
    respond(
        async {
            let b = api::clusters(&st.lake.session()).await?;
            Ok::<_, ApiError>(ok(&encode::clusters(&b)))
        }
        .await,
    )
}
