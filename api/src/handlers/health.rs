//! `/health` and the landing page `/`.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::middleware::text;
use crate::state::AppState;

/// 200 when the store's manifest can be read, 503 `KO` otherwise.
pub async fn health(State(st): State<AppState>) -> Response {
    let mut r = match st.lake.store().latest_version().await {
        Ok(_) => text(StatusCode::OK, "CEEMS API Server is healthy"),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            text(StatusCode::SERVICE_UNAVAILABLE, "KO")
        }
    };
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// A small HTML page linking the Swagger UI and the health check.
pub async fn landing() -> Response {
    Html(concat!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ceems-lake</title></head>\n",
        "<body><header style=\"background:#3cc9beff;padding:1em\"><h1>ceems-lake</h1></header>\n",
        "<p>CEEMS API (compute energy &amp; emissions monitoring) served from a columnar store.</p>\n",
        "<ul><li><a href=\"swagger/index.html\">API documentation (Swagger UI)</a></li>\n",
        "<li><a href=\"health\">Health</a></li>\n<li><a href=\"metrics\">Metrics</a></li></ul>\n",
        "<p>Version ",
        env!("CARGO_PKG_VERSION"),
        "</p></body></html>\n"
    ))
    .into_response()
}

/// Prometheus metrics of the server.
pub async fn metrics(State(st): State<AppState>) -> Response {
    st.metrics.set_rows_scanned(st.lake.rows_scanned());
    let mut r = st.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}
