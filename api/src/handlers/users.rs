//! `/users`, `/users/admin`.

use axum::extract::{Extension, State};
use axum::http::Uri;
use axum::response::Response;
use ceems_lake_engine::query::api;
use datafusion::arrow::array::Array;

use crate::encode;
use crate::error::ApiError;
use crate::handlers::{ok, respond};
use crate::params::Params;
use crate::state::{AppState, Identity};

/// The logged user's rows (one per cluster).
pub async fn list(
    State(st): State<AppState>,
    Extension(id): Extension<Identity>,
    uri: Uri,
) -> Response {
    let p = Params::parse(uri.query());
    respond(
        async {
            let ctx = st.lake.session();
            let b = api::users(
                &ctx,
                Some(std::slice::from_ref(&id.user)),
                p.list("cluster_id").as_deref(),
            )
            .await?;
            Ok::<_, ApiError>(ok(&encode::members(&b, "projects", &[])))
        }
        .await,
    )
}

/// Any users; `?role=admin` lists the admins (configured and imported).
pub async fn admin(
    State(st): State<AppState>,
    Extension(_id): Extension<Identity>,
    uri: Uri,
) -> Response {
    let p = Params::parse(uri.query());
    respond(
        async {
            let ctx = st.lake.session();
            if p.all("role").iter().any(|r| r == "admin") {
                let stored = api::admin_users(&ctx).await?;
                let mut stored_names = std::collections::BTreeSet::new();
                for b in &stored {
                    let n = datafusion::arrow::compute::cast(
                        b.column(3),
                        &datafusion::arrow::datatypes::DataType::Utf8,
                    )?;
                    let n = datafusion::arrow::array::AsArray::as_string::<i32>(&n);
                    for i in 0..n.len() {
                        stored_names.insert(n.value(i).to_string());
                    }
                }
                let extra: Vec<(String, String)> = st
                    .api
                    .config_admins
                    .iter()
                    .filter(|a| !stored_names.contains(*a))
                    .map(|a| ("all".to_string(), a.clone()))
                    .collect();
                return Ok(ok(&encode::members(&stored, "projects", &extra)));
            }
            let b = api::users(
                &ctx,
                p.list("user").as_deref(),
                p.list("cluster_id").as_deref(),
            )
            .await?;
            Ok::<_, ApiError>(ok(&encode::members(&b, "projects", &[])))
        }
        .await,
    )
}
