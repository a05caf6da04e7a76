//! The one place a DataFusion `SessionContext` is built.
//!
//! A session reads exactly one snapshot: its tables are bound to the file lists of that
//! manifest version, so a query never sees a half-applied commit however long it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::StreamExt;

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
    /// Counts the rows the table scans of queries run through [`collect_counted`] and
    /// [`execute_stream_counted`] read; shared by every session built with (a clone of) these
    /// settings.
    pub rows_scanned: Arc<AtomicU64>,
}

/// Session extension carrying [`SessionSettings::rows_scanned`] to the query helpers.
#[derive(Debug)]
struct ScanCounter(Arc<AtomicU64>);

/// Rows the leaf scans of an executed plan read: their output plus what filters pushed into a
/// Parquet scan dropped.
fn rows_read_by_scans(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let children = plan.children();
    if children.is_empty() {
        return plan
            .metrics()
            .map(|m| {
                m.output_rows().unwrap_or(0) as u64
                    + m.sum_by_name("pushdown_rows_pruned")
                        .map(|v| v.as_usize() as u64)
                        .unwrap_or(0)
            })
            .unwrap_or(0);
    }
    children.into_iter().map(rows_read_by_scans).sum()
}

fn counter_of(task: &TaskContext) -> Option<Arc<ScanCounter>> {
    task.session_config().get_extension::<ScanCounter>()
}

/// Runs `df` to completion and adds the rows its scans read to the session's counter.
pub async fn collect_counted(df: DataFrame) -> Result<Vec<RecordBatch>> {
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await?;
    let batches = datafusion::physical_plan::collect(Arc::clone(&plan), Arc::clone(&task)).await?;
    if let Some(c) = counter_of(&task) {
        c.0.fetch_add(rows_read_by_scans(&plan), Ordering::Relaxed);
    }
    Ok(batches)
}

/// Starts `df` as a stream; when the stream ends, the rows its scans read are added to the
/// session's counter.
pub async fn execute_stream_counted(df: DataFrame) -> Result<SendableRecordBatchStream> {
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await?;
    let schema = plan.schema();
    let inner = datafusion::physical_plan::execute_stream(Arc::clone(&plan), Arc::clone(&task))?;
    let counter = counter_of(&task);
    let tail = futures::stream::once(async move {
        if let Some(c) = counter {
            c.0.fetch_add(rows_read_by_scans(&plan), Ordering::Relaxed);
        }
        None
    })
    .filter_map(futures::future::ready);
    Ok(Box::pin(RecordBatchStreamAdapter::new(
        schema,
        inner.chain(tail),
    )))
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            memory_limit: Some(4 << 30),
            target_partitions: None,
            batch_size: 8192,
            rows_scanned: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// Builds a session over `snapshot` with every table and function registered.
pub fn build_session(settings: &SessionSettings, snapshot: &Snapshot) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        .with_batch_size(settings.batch_size)
        .with_information_schema(true)
        .with_default_catalog_and_schema("ceems", "public")
        .with_extension(Arc::new(ScanCounter(Arc::clone(&settings.rows_scanned))));
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
