//! The manifest: one JSON document per store version listing every live data file.
//!
//! Versions are files `_manifest/<20-digit version>.json`, published with put-if-absent, so
//! exactly one writer wins each version and a reader that picked a version sees a complete,
//! immutable file list. Data files are written before the manifest that references them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::schema::{KeyRegistry, Table};

/// Format of the manifest documents this build writes and reads.
pub const MANIFEST_FORMAT: u32 = 1;

/// Folder of the manifest versions under the store root.
pub const MANIFEST_DIR: &str = "_manifest";

/// File name of a version.
pub fn version_file(version: u64) -> String {
    format!("{MANIFEST_DIR}/{version:020}.json")
}

/// Parses a version from a manifest file name.
pub fn parse_version_file(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".json")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// One immutable store version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub version: u64,
    /// Unix ms of the commit.
    pub committed_at_ms: i64,
    /// What produced this version (for `ceems-lake log` and operators).
    pub operation: String,
    /// Known metric keys, i.e. the flat columns of `units`.
    pub metric_keys: KeyRegistry,
    /// Live data files per table.
    pub tables: BTreeMap<Table, Vec<DataFile>>,
    /// Progress markers of resumable imports, by source fingerprint.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceProgress>,
}

/// A Parquet file and what the planner may know without opening it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DataFile {
    /// Path relative to the store root.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    /// Partition of a `units` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<Partition>,
    /// Value ranges of a `units` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<UnitStats>,
}

/// A `units` partition: one cluster, one month of `started_at_ts` (UTC), `none` when unset.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    pub cluster_id: String,
    /// `YYYY-MM`, or `none` for units that never started.
    pub month: String,
}

/// Min/max of the time columns of a `units` file (Unix ms; `None` when all values are null).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UnitStats {
    pub started_at_ts: Option<(i64, i64)>,
    pub ended_at_ts: Option<(i64, i64)>,
    pub last_updated_at_ts: Option<(i64, i64)>,
    /// Rows with no `ended_at_ts` (running units).
    pub running_rows: u64,
}

/// How far an import of one source got, so a re-run can skip what is committed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceProgress {
    /// Importer-specific position (row id, line number) up to which everything is committed.
    pub position: u64,
    /// Whether the whole source was imported.
    pub complete: bool,
    /// Rows of the committed part that were listed as rejected or skipped: a re-run reads the
    /// committed part again (to list them in its own report) only when there are any.
    #[serde(default)]
    pub listed: u64,
}

impl Manifest {
    /// The empty store (version 0, never written).
    pub fn empty() -> Self {
        Manifest {
            format: MANIFEST_FORMAT,
            ..Default::default()
        }
    }

    /// Files of a table.
    pub fn files(&self, table: Table) -> &[DataFile] {
        self.tables.get(&table).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// Rows of a table.
    pub fn rows(&self, table: Table) -> u64 {
        self.files(table).iter().map(|f| f.rows).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_sort_and_parse() {
        assert_eq!(version_file(7), "_manifest/00000000000000000007.json");
        assert_eq!(parse_version_file("00000000000000000007.json"), Some(7));
        assert_eq!(parse_version_file("7.json"), None);
        assert_eq!(parse_version_file("00000000000000000007.json#1"), None);
    }

    #[test]
    fn manifest_round_trips_through_json() {
        let mut m = Manifest::empty();
        m.version = 3;
        m.tables.insert(
            Table::Units,
            vec![DataFile {
                path: "units/cluster_id=a/month=2024-01/x.parquet".into(),
                rows: 2,
                bytes: 10,
                partition: Some(Partition {
                    cluster_id: "a".into(),
                    month: "2024-01".into(),
                }),
                stats: Some(UnitStats {
                    ended_at_ts: Some((1, 2)),
                    ..Default::default()
                }),
            }],
        );
        let text = serde_json::to_string(&m).unwrap();
        let back: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
    }
}
