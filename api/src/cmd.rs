//! One file per command.

pub mod generate;
pub mod import;
pub mod maintenance;
pub mod serve;
pub mod sql;
