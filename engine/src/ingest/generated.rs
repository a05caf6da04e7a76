//! `generate` into the store: synthetic units through the same builders and commits as a real
//! import.

use crate::error::Result;
use crate::generate::{GenerateSpec, Generator};
use crate::ingest::builder::{MembersBuilder, UnitsBuilder};
use crate::ingest::{ImportObserver, ImportSummary};
use crate::schema::{self, Table};
use crate::store::Store;
use crate::store::transaction::Transaction;
use crate::time::DataTz;

/// Generates `spec.units` units (and consistent users, projects, admin users) into `store`.
pub async fn generate_into_store(
    store: &Store,
    spec: &GenerateSpec,
    batch_rows: usize,
    observer: &dyn ImportObserver,
) -> Result<ImportSummary> {
    spec.validate()?;
    observer.total(spec.units);
    let registry = store.snapshot().await?.manifest.metric_keys.clone();
    let mut builder = UnitsBuilder::new(registry, DataTz::Iana(spec.time_zone));
    let mut generator = Generator::new(spec);
    let mut summary = ImportSummary::default();
    let op = format!(
        "generate --units {} --clusters {} --seed {}",
        spec.units, spec.clusters, spec.seed
    );
    loop {
        let unit = generator.next_unit();
        let done = unit.is_none();
        if let Some(u) = unit {
            summary.rows_read += 1;
            if let Err(r) = builder.append_ceems(&u.as_row()) {
                summary.rows_rejected += 1;
                observer.reject(&r);
            }
        }
        if builder.len() >= batch_rows.max(1) || (done && !builder.is_empty()) {
            let n = builder.len() as u64;
            let mut t = Transaction::new(store, op.clone());
            t.upsert_units(builder.finish(), builder.registry());
            let o = t.commit().await?;
            summary.add(&o);
            observer.committed(&o);
            observer.advance(n);
        }
        if done {
            break;
        }
    }
    let mut t = Transaction::new(store, format!("{op} (users, projects)"));
    for (table, rows) in [
        (Table::Users, generator.users()),
        (Table::Projects, generator.projects()),
        (Table::AdminUsers, generator.admin_users()),
    ] {
        let schema = if table == Table::Projects {
            schema::projects_schema()
        } else {
            schema::users_schema()
        };
        let mut b = MembersBuilder::new(schema);
        for r in &rows {
            if let Err(rej) = b.append(r, table.name()) {
                observer.reject(&rej);
                summary.rows_rejected += 1;
            }
        }
        match table {
            Table::Users => summary.users = rows.len() as u64,
            Table::Projects => summary.projects = rows.len() as u64,
            _ => summary.admin_users = rows.len() as u64,
        }
        t.upsert_members(table, b.finish());
    }
    let o = t.commit().await?;
    summary.add(&o);
    observer.committed(&o);
    Ok(summary)
}
