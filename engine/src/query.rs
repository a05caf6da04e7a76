//! The `Lake` facade: a store plus a session over its newest snapshot.

use std::sync::{Arc, RwLock};

use datafusion::dataframe::DataFrame;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::session::{SessionSettings, build_session};
use crate::store::{Snapshot, Store};

/// A store and a query session over one snapshot of it, refreshable.
pub struct Lake {
    store: Store,
    settings: SessionSettings,
    current: RwLock<(Snapshot, SessionContext)>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("store", &self.store)
            .field("version", &self.snapshot().version())
            .finish()
    }
}

impl Lake {
    /// Opens the newest version of `store`.
    pub async fn open(store: Store, settings: SessionSettings) -> Result<Lake> {
        let snap = store.snapshot().await?;
        let ctx = build_session(&settings, &snap)?;
        Ok(Lake {
            store,
            settings,
            current: RwLock::new((snap, ctx)),
        })
    }

    /// Switches to a newer version if one was published; returns whether it did.
    pub async fn refresh(&self) -> Result<bool> {
        let latest = self.store.latest_version().await?;
        if latest == self.snapshot().version() {
            return Ok(false);
        }
        let snap = self.store.snapshot_at(latest).await?;
        let ctx = build_session(&self.settings, &snap)?;
        *self.current.write().expect("lake lock") = (snap, ctx);
        Ok(true)
    }

    /// Rows read by the table scans of the queries the API ran so far (all versions).
    pub fn rows_scanned(&self) -> u64 {
        self.settings
            .rows_scanned
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The snapshot queries currently read.
    pub fn snapshot(&self) -> Snapshot {
        self.current.read().expect("lake lock").0.clone()
    }

    /// A session over the current snapshot (cheap to clone; keeps its snapshot while in use).
    pub fn session(&self) -> SessionContext {
        self.current.read().expect("lake lock").1.clone()
    }

    /// The current snapshot and a session over exactly that snapshot.
    pub fn current(&self) -> (Snapshot, SessionContext) {
        let g = self.current.read().expect("lake lock");
        (g.0.clone(), g.1.clone())
    }

    /// Plans one read-only SQL statement. DDL, DML, `COPY`, `SET` and other statements are
    /// refused; tables are only those of the store (no external tables, no file access).
    pub async fn sql_read_only(&self, query: &str) -> Result<DataFrame> {
        let opts = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        match self.session().sql_with_options(query, opts).await {
            Ok(df) => Ok(df),
            Err(e) => {
                let msg = e.to_string();
                if msg.contains("DDL not supported")
                    || msg.contains("DML not supported")
                    || msg.contains("Statement not supported")
                {
                    Err(Error::Refused(format!(
                        "the SQL interface is read-only ({}); only queries are allowed",
                        msg.trim_start_matches("Error during planning: ")
                    )))
                } else {
                    Err(Error::Query(e))
                }
            }
        }
    }
}

/// Shared handle to a lake.
pub type LakeRef = Arc<Lake>;

pub mod api;
