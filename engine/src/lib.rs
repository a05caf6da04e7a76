//! ceems-lake engine: the columnar store of compute units, its ingest paths, the metric-map
//! aggregate functions and the query plans behind the CEEMS API.
//!
//! # Layout
//! - [`schema`]: the Arrow schema of every table and the flat metric-column naming.
//! - [`store`]: object store access, the versioned manifest and atomic commits.
//! - [`ingest`]: row builders and the importers (CEEMS SQLite, ...).
//! - [`udaf`]: `sum_metric_map` and `avg_metric_map`.
//! - [`session`]: the one place a DataFusion `SessionContext` is built.
//! - [`generate`]: realistic synthetic data for demos, tests and benchmarks.
//!
//! The engine knows nothing of HTTP, command lines or environment variables: callers pass
//! already validated settings.

pub mod catalog;
pub mod error;
pub mod generate;
pub mod ingest;
pub mod query;
pub mod schema;
pub mod session;
pub mod store;
pub mod time;
pub mod udaf;

pub use error::{Error, Result};
pub use query::Lake;
