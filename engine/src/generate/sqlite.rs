//! Writing a synthetic dataset as a CEEMS SQLite database, schema for schema the one of the
//! original (golang-migrate version 5, as in the reference fixture `ceems-testdata-80d8453.db`).

use std::path::Path;

use rusqlite::{Connection, params};

use super::{GenerateSpec, Generator};
use crate::ingest::ceems_row::CeemsMemberRow;
use crate::{Error, Result};

/// What [`write_ceems_sqlite`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenerateSummary {
    /// Rows of `units`.
    pub units: u64,
    /// Units still running at the end of the span (`ended_at_ts = 0`).
    pub running_units: u64,
    /// Units with at least one GPU.
    pub gpu_units: u64,
    /// Rows of `users`, `projects` and `admin_users`.
    pub users: u64,
    pub projects: u64,
    pub admin_users: u64,
    /// Distinct `cluster_id`s.
    pub clusters: u32,
}

/// How often `progress` is called, in rows.
const PROGRESS_EVERY: u64 = 10_000;
/// Rows per transaction: large enough to amortise the commit, small enough to keep the page
/// cache bounded.
const ROWS_PER_TRANSACTION: u64 = 500_000;

/// The schema statements of the reference database, verbatim and in its order (so
/// `sqlite3 .schema` of a generated file and of the fixture are identical).
const SCHEMA: [&str; 13] = [
    "CREATE TABLE schema_migrations (version uint64,dirty bool)",
    "CREATE UNIQUE INDEX version_unique ON schema_migrations (version)",
    concat!(
        "CREATE TABLE units (\n",
        " \"id\" integer not null primary key,\n",
        " \"resource_manager\" text default \"\", \n",
        " \"cluster_id\" text,\n",
        " \"uuid\" text,\n",
        " \"name\" text,\n",
        " \"project\" text,\n",
        " \"groupname\" text,\n",
        " \"username\" text,\n",
        " \"created_at\" text,\n",
        " \"started_at\" text,\n",
        " \"ended_at\" text,\n",
        " \"created_at_ts\" integer,\n",
        " \"started_at_ts\" integer,\n",
        " \"ended_at_ts\" integer,\n",
        " \"elapsed\" text,\n",
        " \"state\" text,\n",
        " \"allocation\" text default '{}',\n",
        " \"tags\" text default '{}',\n",
        " \"total_time_seconds\" text default '{}', \n",
        " \"avg_cpu_usage\" text default '{}', \n",
        " \"avg_cpu_mem_usage\" text default '{}',\n",
        " \"total_cpu_energy_usage_kwh\" text default '{}', \n",
        " \"total_cpu_emissions_gms\" text default '{}', \n",
        " \"avg_gpu_usage\" text default '{}', \n",
        " \"avg_gpu_mem_usage\" text default '{}', \n",
        " \"total_gpu_energy_usage_kwh\" text default '{}', \n",
        " \"total_gpu_emissions_gms\" text default '{}',\n",
        " \"total_io_write_stats\" text default '{}', \n",
        " \"total_io_read_stats\" text default '{}', \n",
        " \"total_ingress_stats\" text default '{}',\n",
        " \"total_outgress_stats\" text default '{}',\n",
        " \"ignore\" integer, \n",
        " \"num_updates\" integer default 0, \n",
        " \"last_updated_at\" text\n",
        ")",
    ),
    "CREATE INDEX idx_cluster_id_usr_uuid ON units (cluster_id,username,uuid)",
    "CREATE UNIQUE INDEX uq_cluster_id_uuid_start ON units (cluster_id,uuid,started_at)",
    concat!(
        "CREATE TABLE usage (\n",
        " \"id\" integer not null primary key,\n",
        " \"resource_manager\" text default \"\",\n",
        " \"cluster_id\" text, \n",
        " \"num_units\" integer,\n",
        " \"project\" text,\n",
        " \"username\" text,\n",
        " \"groupname\" text,\n",
        " \"total_time_seconds\" text default '{}', \n",
        " \"avg_cpu_usage\" text default '{}', \n",
        " \"avg_cpu_mem_usage\" text default '{}',\n",
        " \"total_cpu_energy_usage_kwh\" text default '{}', \n",
        " \"total_cpu_emissions_gms\" text default '{}',\n",
        " \"avg_gpu_usage\" text default '{}', \n",
        " \"avg_gpu_mem_usage\" text default '{}',\n",
        " \"total_gpu_energy_usage_kwh\" text default '{}', \n",
        " \"total_gpu_emissions_gms\" text default '{}',\n",
        " \"total_io_write_stats\" text default '{}', \n",
        " \"total_io_read_stats\" text default '{}',\n",
        " \"total_ingress_stats\" text default '{}', \n",
        " \"total_outgress_stats\" text default '{}',\n",
        " \"num_updates\" integer default 0,  \n",
        " \"last_updated_at\" text\n",
        ")",
    ),
    "CREATE UNIQUE INDEX uq_cluster_id_project_usr ON usage (cluster_id,username,project)",
    concat!(
        "CREATE TABLE users (\n",
        " \"id\" integer not null primary key,\n",
        " \"uid\" text,\n",
        " \"cluster_id\" text,\n",
        " \"resource_manager\" text,\n",
        " \"name\" text,\n",
        " \"projects\" text default '[]',\n",
        " \"tags\" text default '[]',\n",
        " \"last_updated_at\" text\n",
        ")",
    ),
    "CREATE UNIQUE INDEX uq_cluster_id_user ON users (cluster_id,name)",
    concat!(
        "CREATE TABLE projects (\n",
        " \"id\" integer not null primary key,\n",
        " \"uid\" text,\n",
        " \"cluster_id\" text,\n",
        " \"resource_manager\" text,\n",
        " \"name\" text,\n",
        " \"users\" text default '[]',\n",
        " \"tags\" text default '[]',\n",
        " \"last_updated_at\" text\n",
        ")",
    ),
    "CREATE UNIQUE INDEX uq_cluster_id_project ON projects (cluster_id,name)",
    concat!(
        "CREATE TABLE admin_users (\n",
        " \"id\" integer not null primary key,\n",
        " \"uid\" text default '',\n",
        " \"cluster_id\" text default 'all',\n",
        " \"resource_manager\" text default '',\n",
        " \"name\" text,\n",
        " \"projects\" text default '[]',\n",
        " \"tags\" text default '[]',\n",
        " \"last_updated_at\" text\n",
        ")",
    ),
    "CREATE UNIQUE INDEX uq_cluster_id_admin_user ON admin_users (cluster_id,name)",
];

/// golang-migrate's bookkeeping row: schema version 5, clean.
const MIGRATION_VERSION: i64 = 5;

const INSERT_UNIT: &str = "INSERT INTO units (id, resource_manager, cluster_id, uuid, name, project, \
     groupname, username, created_at, started_at, ended_at, created_at_ts, started_at_ts, \
     ended_at_ts, elapsed, state, allocation, tags, total_time_seconds, avg_cpu_usage, \
     avg_cpu_mem_usage, total_cpu_energy_usage_kwh, total_cpu_emissions_gms, avg_gpu_usage, \
     avg_gpu_mem_usage, total_gpu_energy_usage_kwh, total_gpu_emissions_gms, \
     total_io_write_stats, total_io_read_stats, total_ingress_stats, total_outgress_stats, \
     ignore, num_updates, last_updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
     ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, \
     ?29, ?30, ?31, ?32, ?33, ?34)";

/// Generates `spec` into a new CEEMS SQLite database at `path` and returns what was written.
///
/// The file must not exist (an existing file is never overwritten:
/// [`Error::InvalidArgument`]); on failure the partial file is removed. `progress` receives
/// the number of unit rows written so far, every 10 000 rows and once at the end. The `usage`
/// table is left empty (the original fills it at ingest; ceems-lake derives usage from units).
pub fn write_ceems_sqlite(
    spec: &GenerateSpec,
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<GenerateSummary> {
    spec.validate()?;
    let display = path.display().to_string();
    // `create_new` makes the refusal atomic: no other writer can slip in between a check and
    // the open.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(file) => drop(file),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::InvalidArgument(format!(
                "{display} already exists; refusing to overwrite it"
            )));
        }
        Err(source) => {
            return Err(Error::Io {
                path: display,
                source,
            });
        }
    }
    let result = write_into(spec, path, &display, progress);
    if result.is_err() {
        // Best effort: a half-written database is worse than none.
        let _ = std::fs::remove_file(path);
    }
    result
}

fn write_into(
    spec: &GenerateSpec,
    path: &Path,
    display: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<GenerateSummary> {
    let sql = |source: rusqlite::Error| Error::Sqlite {
        path: display.to_string(),
        source,
    };
    let mut conn = Connection::open(path).map_err(sql)?;
    // Nothing to protect while the file is being created: no journal, no fsync, a big cache.
    conn.execute_batch(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144; \
         PRAGMA temp_store=MEMORY;",
    )
    .map_err(sql)?;
    {
        let tx = conn.transaction().map_err(sql)?;
        for statement in SCHEMA {
            tx.execute_batch(statement).map_err(sql)?;
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, dirty) VALUES (?1, ?2)",
            params![MIGRATION_VERSION, false],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
    }

    let mut generator = Generator::new(spec);
    let mut done = 0u64;
    let mut exhausted = false;
    while !exhausted {
        let tx = conn.transaction().map_err(sql)?;
        {
            let mut stmt = tx.prepare_cached(INSERT_UNIT).map_err(sql)?;
            let batch_end = done + ROWS_PER_TRANSACTION;
            while done < batch_end {
                let Some(unit) = generator.next_unit() else {
                    exhausted = true;
                    break;
                };
                let r = unit.as_row();
                let m = &r.metrics;
                stmt.execute(params![
                    r.id,
                    r.resource_manager,
                    r.cluster_id,
                    r.uuid,
                    r.name,
                    r.project,
                    r.groupname,
                    r.username,
                    r.created_at,
                    r.started_at,
                    r.ended_at,
                    r.created_at_ts,
                    r.started_at_ts,
                    r.ended_at_ts,
                    r.elapsed,
                    r.state,
                    r.allocation,
                    r.tags,
                    m[0],
                    m[1],
                    m[2],
                    m[3],
                    m[4],
                    m[5],
                    m[6],
                    m[7],
                    m[8],
                    m[9],
                    m[10],
                    m[11],
                    m[12],
                    i64::from(r.ignore),
                    r.num_updates,
                    r.last_updated_at,
                ])
                .map_err(sql)?;
                done += 1;
                if done.is_multiple_of(PROGRESS_EVERY) {
                    progress(done);
                }
            }
        }
        tx.commit().map_err(sql)?;
    }
    progress(done);

    let users = generator.users();
    let projects = generator.projects();
    let admins = generator.admin_users();
    let tx = conn.transaction().map_err(sql)?;
    insert_members(&tx, "users", "projects", &users).map_err(sql)?;
    insert_members(&tx, "projects", "users", &projects).map_err(sql)?;
    insert_members(&tx, "admin_users", "projects", &admins).map_err(sql)?;
    tx.commit().map_err(sql)?;
    drop(conn);

    Ok(GenerateSummary {
        units: done,
        running_units: generator.running_units(),
        gpu_units: generator.gpu_units(),
        users: users.len() as u64,
        projects: projects.len() as u64,
        admin_users: admins.len() as u64,
        clusters: generator.cluster_ids().len() as u32,
    })
}

fn insert_members(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    members_column: &str,
    rows: &[CeemsMemberRow],
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare(&format!(
        "INSERT INTO {table} (uid, cluster_id, resource_manager, name, {members_column}, tags, \
         last_updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?;
    for r in rows {
        stmt.execute(params![
            r.uid,
            r.cluster_id,
            r.resource_manager,
            r.name,
            r.members,
            r.tags,
            r.last_updated_at
        ])?;
    }
    Ok(())
}
