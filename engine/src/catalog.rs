//! Tables of one snapshot as DataFusion table providers.
//!
//! [`SnapshotTable`] scans exactly the Parquet files a manifest version lists, and skips whole
//! `units` files whose time ranges or cluster (kept in the manifest) cannot match the query's
//! filters, before any file is opened. The `units` table analysts see is a view over it that
//! adds one logical `Map<Utf8, Float64>` column per metric map (see [`metric_map`]).

pub mod metric_map;
pub mod prune;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;

use crate::schema::Table;
use crate::store::DataFile;

/// URL under which the store's object store is registered in every session.
pub const STORE_URL: &str = "ceems-lake://data";

/// One table of one snapshot.
#[derive(Debug)]
pub struct SnapshotTable {
    table: Table,
    schema: SchemaRef,
    files: Vec<DataFile>,
}

impl SnapshotTable {
    /// A provider over `files`, all readable as `schema`.
    pub fn new(table: Table, schema: SchemaRef, files: Vec<DataFile>) -> Self {
        SnapshotTable {
            table,
            schema,
            files,
        }
    }
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Files are pruned with the manifest and row groups with Parquet statistics, but rows
        // are still filtered above the scan.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let files: Vec<&DataFile> = self
            .files
            .iter()
            .filter(|f| self.table != Table::Units || prune::file_may_match(filters, f))
            .collect();
        if files.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        // Spread files over the target partitions, largest first, onto the lightest group.
        let target = state.config().target_partitions().max(1).min(files.len());
        let mut order: Vec<&DataFile> = files;
        order.sort_by_key(|f| std::cmp::Reverse(f.bytes));
        let mut groups: Vec<(u64, Vec<PartitionedFile>)> =
            (0..target).map(|_| (0, Vec::new())).collect();
        for f in order {
            let g = groups
                .iter_mut()
                .min_by_key(|(load, _)| *load)
                .expect("at least one group");
            g.0 += f.bytes;
            g.1.push(PartitionedFile::new(f.path.clone(), f.bytes));
        }
        let source = Arc::new(ParquetSource::new(Arc::clone(&self.schema)));
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::parse(STORE_URL)?, source)
            .with_file_groups(groups.into_iter().map(|(_, g)| FileGroup::new(g)).collect())
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        format.create_physical_plan(state, config).await
    }
}
