//! ceems-lake command line and (soon) the CEEMS-compatible HTTP API over the engine.

pub mod cli;
pub mod cmd;
pub mod logging;
pub mod progress;
