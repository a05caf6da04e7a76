//! Getting data in: row builders and the importers.
//!
//! Every importer streams its source in batches of bounded size; each batch is one atomic
//! commit (see [`crate::store::transaction`]) that also records how far the source got, so a
//! crashed import re-run skips what is committed and never duplicates a unit. Rows that cannot
//! be read are reported with their location and reason and the import goes on.

pub mod builder;
pub mod ceems_row;
pub mod ceems_sqlite;
pub mod estimate;
pub mod generated;
pub mod metric_json;
pub mod ndjson;
pub mod parquet;
pub mod sacct;
pub mod source;
pub mod swf;

pub use builder::{MembersBuilder, UnitFields, UnitsBuilder};
pub use ceems_row::{CeemsMemberRow, CeemsUnitRow};

use crate::time::DataTz;

/// A source row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowReject {
    /// Where the row is: `id 17` (database row id) or `line 42`.
    pub location: String,
    /// The field that failed.
    pub field: String,
    /// The offending value (truncated).
    pub value: String,
    pub reason: String,
}

impl std::fmt::Display for RowReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: field {}: {} (value {:?})",
            self.location, self.field, self.reason, self.value
        )
    }
}

/// Receives progress of a long import. Implementations must be cheap: `advance` is called per
/// batch of rows.
pub trait ImportObserver: Send + Sync {
    /// Rows the import expects to read (when known).
    fn total(&self, _rows: u64) {}
    /// `rows` more source rows were read.
    fn advance(&self, _rows: u64) {}
    /// A row was rejected.
    fn reject(&self, _reject: &RowReject) {}
    /// A batch was committed (or found unchanged when `version` is `None`).
    fn committed(&self, _outcome: &crate::store::transaction::CommitOutcome) {}
    /// A free-form status line.
    fn message(&self, _msg: &str) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;
impl ImportObserver for Quiet {}

/// Settings shared by the importers.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Units per commit (memory is bounded by about this many rows).
    pub batch_rows: usize,
    /// Zone of time strings without an offset.
    pub time_zone: DataTz,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            batch_rows: 100_000,
            time_zone: DataTz::Local,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Source rows read in this run (rows skipped by a resume are not read).
    pub rows_read: u64,
    /// Rows already committed by an earlier, interrupted run of the same source.
    pub rows_resumed: u64,
    pub units_inserted: u64,
    pub units_replaced: u64,
    pub units_unchanged: u64,
    pub rows_rejected: u64,
    /// Rows left out on purpose (Slurm job steps); listed with the rejects.
    pub rows_skipped: u64,
    /// Dimension rows (users, projects, admin users) read from the source, or (importers that
    /// derive them from units) created or extended by the import.
    pub users: u64,
    pub projects: u64,
    pub admin_users: u64,
    /// Versions this import published.
    pub versions: Vec<u64>,
}

impl ImportSummary {
    pub(crate) fn add(&mut self, o: &crate::store::transaction::CommitOutcome) {
        self.units_inserted += o.units_inserted;
        self.units_replaced += o.units_replaced;
        self.units_unchanged += o.units_unchanged;
        if let Some(v) = o.version {
            self.versions.push(v);
        }
    }
}
