//! The one place errors become HTTP responses.
//!
//! 4xx bodies say what was wrong with the request. 5xx bodies are opaque (a generic text per
//! error type): the detail goes into an [`ErrorDetail`] response extension that the request
//! logging middleware records.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ceems_lake_engine::error::{Error as EngineError, ErrorKind};

use crate::envelope::{ErrorType, error_body};

/// An error answered with the CEEMS envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub error_type: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn bad_data(m: impl Into<String>) -> Self {
        ApiError {
            error_type: ErrorType::BadData,
            message: m.into(),
        }
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        ApiError {
            error_type: ErrorType::Forbidden,
            message: m.into(),
        }
    }
    pub fn timeout(m: impl Into<String>) -> Self {
        ApiError {
            error_type: ErrorType::Timeout,
            message: m.into(),
        }
    }
    pub fn internal(m: impl Into<String>) -> Self {
        ApiError {
            error_type: ErrorType::Internal,
            message: m.into(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let error_type = match e.kind() {
            ErrorKind::InvalidArgument => ErrorType::BadData,
            ErrorKind::NotFound => ErrorType::NotFound,
            ErrorKind::Unavailable | ErrorKind::ResourceExhausted => ErrorType::Unavailable,
            ErrorKind::Conflict | ErrorKind::Internal => ErrorType::Internal,
        };
        ApiError {
            error_type,
            message: e.to_string(),
        }
    }
}

impl From<datafusion::error::DataFusionError> for ApiError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        ApiError::from(EngineError::from(e))
    }
}

impl From<datafusion::arrow::error::ArrowError> for ApiError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        ApiError::from(EngineError::from(e))
    }
}

/// What went wrong behind a 5xx answer, for the server's log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetail(pub String);

/// The body text of a 5xx answer of this type.
fn opaque_message(t: ErrorType) -> &'static str {
    match t {
        ErrorType::Timeout => "request timed out",
        ErrorType::Unavailable => "service unavailable, try again later",
        _ => "internal server error",
    }
}

/// JSON response with the original's headers.
pub fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = (status, body.into()).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.error_type.status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if !status.is_server_error() {
            return json_response(status, error_body(self.error_type, &self.message));
        }
        let mut r = json_response(
            status,
            error_body(self.error_type, opaque_message(self.error_type)),
        );
        r.extensions_mut().insert(ErrorDetail(self.message));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_opaque_and_keep_their_detail_for_the_log() {
        let r = ApiError::internal("Object at location /srv/lake/units/x.parquet not found")
            .into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            r.extensions().get::<ErrorDetail>(),
            Some(&ErrorDetail(
                "Object at location /srv/lake/units/x.parquet not found".into()
            ))
        );
        let r = ApiError::bad_data("invalid query fields").into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.extensions().get::<ErrorDetail>().is_none());
    }

    async fn body(e: ApiError) -> String {
        let b = axum::body::to_bytes(e.into_response().into_body(), 1 << 20)
            .await
            .expect("body");
        String::from_utf8(b.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn opaque_bodies_per_error_type() {
        assert_eq!(
            body(ApiError::internal("/srv/lake: permission denied")).await,
            "{\"status\":\"error\",\"data\":null,\"errorType\":\"internal\",\"error\":\"internal server error\"}\n"
        );
        assert_eq!(
            body(ApiError::timeout("request timed out after 300s")).await,
            "{\"status\":\"error\",\"data\":null,\"errorType\":\"timeout\",\"error\":\"request timed out\"}\n"
        );
        assert_eq!(
            body(ApiError::bad_data(
                "query parameter 'from': malformed timestamp"
            ))
            .await,
            "{\"status\":\"error\",\"data\":null,\"errorType\":\"bad_data\",\"error\":\"query parameter 'from': malformed timestamp\"}\n"
        );
    }
}
