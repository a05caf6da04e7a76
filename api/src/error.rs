//! The one place errors become HTTP responses.

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
        tracing::warn!(error = %e, "request failed");
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

/// JSON response with the original's headers.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
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
        json_response(status, error_body(self.error_type, &self.message))
    }
}
