//! The engine's one error type and its transport-neutral classification.

use datafusion::error::DataFusionError;

/// Result alias used across the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What failed, with enough context to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad argument from the caller (bad URL, bad option value, bad query).
    #[error("{0}")]
    InvalidArgument(String),
    /// The object store failed (I/O, permissions, network).
    #[error("object store error at {path}: {source}")]
    Storage {
        path: String,
        #[source]
        source: object_store::Error,
    },
    /// The manifest of a store version could not be read or is not what this version writes.
    #[error("manifest {path}: {message}")]
    Manifest { path: String, message: String },
    /// Another writer published the same version first; the commit can be retried.
    #[error("commit conflict: version {version} was published by another writer")]
    CommitConflict { version: u64 },
    /// Reading or writing a Parquet file failed.
    #[error("parquet file {path}: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// An input file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A SQLite database could not be read or written.
    #[error("sqlite {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    /// Planning or executing a query failed.
    #[error(transparent)]
    Query(#[from] DataFusionError),
    /// Arrow array construction failed (a bug or a schema mismatch).
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// The operation was refused because of what it would do (e.g. DDL in read-only SQL).
    #[error("{0}")]
    Refused(String),
}

/// Transport-neutral class of an error; the API maps it to an HTTP status in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidArgument,
    NotFound,
    Unavailable,
    ResourceExhausted,
    Conflict,
    Internal,
}

impl Error {
    /// Classifies the error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidArgument(_) | Error::Refused(_) => ErrorKind::InvalidArgument,
            Error::Storage { source, .. } => match source {
                object_store::Error::NotFound { .. } => ErrorKind::NotFound,
                _ => ErrorKind::Unavailable,
            },
            Error::CommitConflict { .. } => ErrorKind::Conflict,
            Error::Io { .. } | Error::Sqlite { .. } => ErrorKind::InvalidArgument,
            Error::Query(e) => datafusion_error_kind(e),
            Error::Manifest { .. } | Error::Parquet { .. } | Error::Arrow(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn storage(path: impl Into<String>, source: object_store::Error) -> Self {
        Error::Storage {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parquet(path: impl Into<String>, source: parquet::errors::ParquetError) -> Self {
        Error::Parquet {
            path: path.into(),
            source,
        }
    }
}

/// The one place DataFusion errors are classified: planning and SQL errors are the caller's,
/// exhausted memory is a resource problem, object-store failures are unavailability, and
/// everything else is ours.
pub fn datafusion_error_kind(e: &DataFusionError) -> ErrorKind {
    match e {
        DataFusionError::Context(_, inner) => datafusion_error_kind(inner),
        DataFusionError::Shared(inner) => datafusion_error_kind(inner),
        DataFusionError::Plan(_)
        | DataFusionError::SQL(..)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_) => ErrorKind::InvalidArgument,
        DataFusionError::ResourcesExhausted(_) => ErrorKind::ResourceExhausted,
        DataFusionError::ObjectStore(_) => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}
