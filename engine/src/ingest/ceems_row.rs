//! One compute unit exactly as the original CEEMS stores it in its SQLite `units` table.
//!
//! Every text column is borrowed, so importers that read rows one at a time (SQLite, the
//! synthetic generator) hand them to [`crate::ingest::UnitsBuilder`] without allocating per row.

/// A `units` row in CEEMS form: time strings as stored, `*_ts` in Unix milliseconds (0 = unset),
/// `allocation`/`tags` and the thirteen metric maps as JSON text.
#[derive(Debug, Clone, Copy, Default)]
pub struct CeemsUnitRow<'a> {
    /// Row id in the source database, used only to report rejected rows.
    pub id: i64,
    pub resource_manager: &'a str,
    pub cluster_id: &'a str,
    pub uuid: &'a str,
    pub name: &'a str,
    pub project: &'a str,
    pub groupname: &'a str,
    pub username: &'a str,
    pub created_at: &'a str,
    pub started_at: &'a str,
    pub ended_at: &'a str,
    pub created_at_ts: i64,
    pub started_at_ts: i64,
    pub ended_at_ts: i64,
    pub elapsed: &'a str,
    pub state: &'a str,
    /// JSON object text, kept verbatim.
    pub allocation: &'a str,
    /// JSON object text, kept verbatim.
    pub tags: &'a str,
    /// The thirteen metric maps as JSON object text (`{}`, `null` or empty when absent), in the
    /// order of [`crate::schema::METRIC_MAPS`].
    pub metrics: [&'a str; 13],
    pub ignore: bool,
    pub num_updates: i64,
    /// `YYYY-MM-DDTHH:MM:SS` in the data time zone, no offset.
    pub last_updated_at: &'a str,
}

/// A `users` or `projects` row in CEEMS form (both tables have the same columns; `members` is
/// `projects` for users and `users` for projects).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CeemsMemberRow {
    pub uid: String,
    pub cluster_id: String,
    pub resource_manager: String,
    pub name: String,
    /// JSON array text (may be `null`).
    pub members: String,
    /// JSON array text (may be `null`).
    pub tags: String,
    pub last_updated_at: String,
}
