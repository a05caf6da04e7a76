//! One file per resource. Handlers extract, call the engine, encode.

pub mod clusters;
pub mod demo;
pub mod health;
pub mod projects;
pub mod stats;
pub mod units;
pub mod usage;
pub mod users;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::envelope::success_body;
use crate::error::{ApiError, json_response};

/// A successful envelope around already-encoded `data`.
pub(crate) fn ok(data: &[u8]) -> Response {
    json_response(StatusCode::OK, success_body(data, &[]))
}

/// Turns a handler result into a response.
pub(crate) fn respond(r: Result<Response, ApiError>) -> Response {
    match r {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// Now, in Unix seconds.
pub(crate) fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}
