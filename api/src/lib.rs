//! ceems-lake command line and the CEEMS-compatible HTTP API over the engine.
//!
//! The server is layered as: `server` (routes, listeners) and `conn` (connections and their
//! limits) → `middleware` (auth, identity, CORS, metrics) → `handlers` (one file per resource:
//! parse `params`, call the engine's plan builders, `encode` Arrow batches into the CEEMS
//! `envelope`, streamed for unit lists). `error` is the one place errors become HTTP.

pub mod cache;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod conn;
pub mod encode;
pub mod envelope;
pub mod error;
pub mod handlers;
pub mod logging;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod params;
pub mod progress;
pub mod server;
pub mod state;
pub mod stream;
