//! The one place a DataFusion `SessionContext` is built.
//!
//! A session reads exactly one snapshot: its tables are bound to the file lists of that
//! manifest version, so a query never sees a half-applied commit however long it runs.

use std::sync::Arc;

use datafusion::catalog::default_table_source::provider_as_source;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use url::Url;

use crate::catalog::metric_map::{metric_map_udf, units_view};
use crate::catalog::{STORE_URL, SnapshotTable};
use crate::error::Result;
use crate::schema::{self, Table};
use crate::store::Snapshot;

/// Name under which the stored `units` columns (flat metric columns and overflow maps, no
/// logical map columns) are visible.
pub const UNITS_STORED_TABLE: &str = "units_stored";

/// Query settings, already validated by the caller.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Upper bound of memory for query execution, in bytes (`None`: unbounded).
    pub memory_limit: Option<usize>,
    /// Parallelism of a query (`None`: number of cores).
    pub target_partitions: Option<usize>,
    /// Rows per record batch.
    pub batch_size: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            memory_limit: Some(4 << 30),
            target_partitions: None,
            batch_size: 8192,
        }
    }
}

/// Builds a session over `snapshot` with every table and function registered.
pub fn build_session(settings: &SessionSettings, snapshot: &Snapshot) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        .with_batch_size(settings.batch_size)
        .with_information_schema(true)
        .with_default_catalog_and_schema("ceems", "public");
    if let Some(p) = settings.target_partitions {
        config = config.with_target_partitions(p.max(1));
    }
    // Filters run inside the Parquet scan so row groups and pages are skipped early.
    config.options_mut().execution.parquet.pushdown_filters = true;
    config.options_mut().execution.parquet.reorder_filters = true;
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = settings.memory_limit {
        runtime = runtime.with_memory_limit(limit, 1.0);
    }
    let ctx = SessionContext::new_with_config_rt(config, runtime.build_arc()?);
    let url = Url::parse(STORE_URL).expect("constant URL");
    ctx.register_object_store(&url, snapshot.store.object_store());

    let m = &snapshot.manifest;
    for f in crate::udaf::all_udafs() {
        ctx.register_udaf(f.as_ref().clone());
    }
    ctx.register_udf(metric_map_udf().as_ref().clone());

    let stored = Arc::new(SnapshotTable::new(
        Table::Units,
        schema::units_schema(&m.metric_keys),
        m.files(Table::Units).to_vec(),
    ));
    ctx.register_table(UNITS_STORED_TABLE, Arc::clone(&stored) as _)?;
    let scan = LogicalPlanBuilder::scan(UNITS_STORED_TABLE, provider_as_source(stored), None)?;
    let view = units_view(scan, &m.metric_keys)?;
    ctx.register_table(
        Table::Units.name(),
        Arc::new(datafusion::catalog::view::ViewTable::new(view, None)),
    )?;
    for (table, schema) in [
        (Table::Users, schema::users_schema()),
        (Table::Projects, schema::projects_schema()),
        (Table::AdminUsers, schema::users_schema()),
    ] {
        ctx.register_table(
            table.name(),
            Arc::new(SnapshotTable::new(table, schema, m.files(table).to_vec())),
        )?;
    }
    Ok(ctx)
}
