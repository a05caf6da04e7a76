//! End-to-end tests: each module spawns the real `ceems-lake` binary (commands or the HTTP
//! server) on real files and compares what it answers with values computed independently.

mod api;
mod backfill;
mod store;
mod swagger;
