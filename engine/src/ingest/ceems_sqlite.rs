//! `import ceems-sqlite`: the whole history of an original CEEMS database.
//!
//! The database is opened read-only. Units are read in `id` order in batches; each batch is
//! parsed on a reader thread while the previous one is merged and written, and committed
//! together with the highest `id` it contains, so an interrupted import resumes after the last
//! committed batch. `users`, `projects` and `admin_users` are small and committed last.
//! Either network column spelling (`total_outgress_stats`, later `total_egress_stats`) is read.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};
use crate::ingest::builder::{MembersBuilder, UnitsBuilder};
use crate::ingest::ceems_row::{CeemsMemberRow, CeemsUnitRow};
use crate::ingest::{ImportObserver, ImportOptions, ImportSummary, RowReject};
use crate::schema::{self, Table};
use crate::store::transaction::Transaction;
use crate::store::{SourceProgress, Store};

/// The text of every column of a unit row (numeric columns left empty), its timestamps, ignore
/// flag and update count; or the column that failed and why.
type ParsedRow<'r> =
    std::result::Result<([&'r str; UNIT_COLUMNS.len()], i64, i64, i64, bool, i64), (usize, String)>;

/// Columns read from `units`, in the order of [`CeemsUnitRow`]'s fields.
const UNIT_COLUMNS: [&str; 34] = [
    "id",
    "resource_manager",
    "cluster_id",
    "uuid",
    "name",
    "project",
    "groupname",
    "username",
    "created_at",
    "started_at",
    "ended_at",
    "created_at_ts",
    "started_at_ts",
    "ended_at_ts",
    "elapsed",
    "state",
    "allocation",
    "tags",
    "total_time_seconds",
    "avg_cpu_usage",
    "avg_cpu_mem_usage",
    "total_cpu_energy_usage_kwh",
    "total_cpu_emissions_gms",
    "avg_gpu_usage",
    "avg_gpu_mem_usage",
    "total_gpu_energy_usage_kwh",
    "total_gpu_emissions_gms",
    "total_io_write_stats",
    "total_io_read_stats",
    "total_ingress_stats",
    "total_outgress_stats",
    "ignore",
    "num_updates",
    "last_updated_at",
];

fn sqlite_err(path: &Path) -> impl Fn(rusqlite::Error) -> Error + '_ {
    move |source| Error::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

fn table_columns(conn: &Connection, table: &str, path: &Path) -> Result<HashSet<String>> {
    // Table names here are constants of this module, never user input.
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info(\"{table}\")"))
        .map_err(sqlite_err(path))?;
    let cols = stmt
        .query_map([], |r| r.get::<_, String>(1))
        .map_err(sqlite_err(path))?
        .collect::<std::result::Result<HashSet<_>, _>>()
        .map_err(sqlite_err(path))?;
    Ok(cols)
}

/// SELECT list for the expected columns: present ones quoted, missing ones as NULL, and the
/// network column under either spelling.
fn select_list(expected: &[&str], present: &HashSet<String>) -> String {
    expected
        .iter()
        .map(|c| {
            if present.contains(*c) {
                format!("\"{c}\"")
            } else if *c == "total_outgress_stats" && present.contains("total_egress_stats") {
                "\"total_egress_stats\"".to_string()
            } else {
                "NULL".to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Copies a text-ish value into `buf` (NULL → empty; numbers formatted).
fn text_into(v: ValueRef<'_>, buf: &mut String) -> std::result::Result<(), String> {
    buf.clear();
    match v {
        ValueRef::Null => Ok(()),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => {
                buf.push_str(s);
                Ok(())
            }
            Err(_) => Err("text is not valid UTF-8".into()),
        },
        ValueRef::Integer(i) => {
            use std::fmt::Write;
            let _ = write!(buf, "{i}");
            Ok(())
        }
        ValueRef::Real(f) => {
            use std::fmt::Write;
            let _ = write!(buf, "{f}");
            Ok(())
        }
        ValueRef::Blob(_) => Err("value is a blob".into()),
    }
}

/// The text columns of a unit row: borrowed from SQLite's row buffer when the value is text
/// (no copy: this is the bulk of what a row holds), rendered into `bufs` when it is a number, ""
/// for NULL. The integer columns (id, `*_ts`, ignore, num_updates) are left empty.
fn row_texts<'r>(
    row: &'r rusqlite::Row<'_>,
    bufs: &'r mut [String],
) -> std::result::Result<[&'r str; UNIT_COLUMNS.len()], (usize, String)> {
    let mut texts = [""; UNIT_COLUMNS.len()];
    for ((i, buf), slot) in bufs.iter_mut().enumerate().zip(texts.iter_mut()) {
        if matches!(i, 0 | 11 | 12 | 13 | 31 | 32) {
            continue;
        }
        *slot = match row.get_ref(i).map_err(|e| (i, e.to_string()))? {
            ValueRef::Text(t) => {
                std::str::from_utf8(t).map_err(|_| (i, "text is not valid UTF-8".to_string()))?
            }
            ValueRef::Null => "",
            other => {
                text_into(other, buf).map_err(|e| (i, e))?;
                buf.as_str()
            }
        };
    }
    Ok(texts)
}

fn int_of(v: ValueRef<'_>) -> std::result::Result<i64, String> {
    match v {
        ValueRef::Null => Ok(0),
        ValueRef::Integer(i) => Ok(i),
        ValueRef::Real(f) if f.is_finite() => Ok(f as i64),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| format!("not an integer: {:?}", String::from_utf8_lossy(t))),
        _ => Err("not an integer".into()),
    }
}

/// Identifies one version of a source file, so progress of an interrupted import applies only
/// to the same file.
fn fingerprint(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(format!(
        "ceems-sqlite:{}:{}:{}",
        canon.display(),
        meta.len(),
        mtime
    ))
}

enum Msg {
    Batch {
        batch: arrow::record_batch::RecordBatch,
        registry: schema::KeyRegistry,
        last_id: i64,
        rows: u64,
        rejects: Vec<RowReject>,
    },
    /// Rejected rows among those an earlier run committed (read again only to list them).
    Replayed {
        rejects: Vec<RowReject>,
    },
    Members {
        table: Table,
        batch: arrow::record_batch::RecordBatch,
        rejects: Vec<RowReject>,
    },
    Failed(Error),
}

/// Imports a CEEMS SQLite database into `store`.
pub async fn import(
    store: &Store,
    path: &Path,
    opts: &ImportOptions,
    observer: &dyn ImportObserver,
) -> Result<ImportSummary> {
    if !path.is_file() {
        return Err(Error::InvalidArgument(format!(
            "{}: no such file",
            path.display()
        )));
    }
    let source = fingerprint(path)?;
    let base = store.snapshot().await?;
    let (resume_after, listed_before) = match base.manifest.sources.get(&source) {
        Some(p) if !p.complete => (p.position as i64, p.listed),
        _ => (0, 0),
    };
    // The committed part is read again only when it had rejects, to list them once more.
    let replay = resume_after > 0 && listed_before > 0;
    let mut listed_total = if replay { 0 } else { listed_before };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err(path))?;
    let unit_cols = table_columns(&conn, "units", path)?;
    if unit_cols.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{} is not a CEEMS database (no units table)",
            path.display()
        )));
    }
    for required in ["id", "uuid", "cluster_id"] {
        if !unit_cols.contains(required) {
            return Err(Error::InvalidArgument(format!(
                "{}: table units has no column {required}",
                path.display()
            )));
        }
    }
    let mut summary = ImportSummary::default();
    // A bare count(*) is answered from the smallest index; a filtered count walks the table's
    // own b-tree, which holds whole rows: reading the entire file before the import starts.
    let total: i64 = conn
        .query_row("SELECT count(*) FROM units", [], |r| r.get(0))
        .map_err(sqlite_err(path))?;
    let resumed: i64 = if resume_after > 0 {
        conn.query_row(
            "SELECT count(*) FROM units WHERE id <= ?1",
            [resume_after],
            |r| r.get(0),
        )
        .map_err(sqlite_err(path))?
    } else {
        0
    };
    let remaining = total - resumed;
    summary.rows_resumed = resumed as u64;
    if resumed > 0 {
        observer.message(&format!(
            "resuming after unit id {resume_after}: {resumed} units were committed by an earlier run"
        ));
    }
    observer.total(remaining as u64);

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(1);
    let reader_path = path.to_path_buf();
    let registry = base.manifest.metric_keys.clone();
    let tz = opts.time_zone;
    let batch_rows = opts.batch_rows.max(1);
    let reader = std::thread::Builder::new()
        .name("ceems-sqlite-reader".into())
        .spawn(move || {
            if let Err(e) = read_all(
                conn,
                &reader_path,
                unit_cols,
                resume_after,
                replay,
                registry,
                tz,
                batch_rows,
                &tx,
            ) {
                let _ = tx.blocking_send(Msg::Failed(e));
            }
        })
        .map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;

    let mut members = Transaction::new(
        store,
        format!("import ceems-sqlite {} (users, projects)", path.display()),
    );
    let mut result = Ok(());
    let mut last_committed_id = resume_after;
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Batch {
                batch,
                registry,
                last_id,
                rows,
                rejects,
            } => {
                summary.rows_read += rows;
                summary.rows_rejected += rejects.len() as u64;
                listed_total += rejects.len() as u64;
                for r in &rejects {
                    observer.reject(r);
                }
                let mut t = Transaction::new(
                    store,
                    format!(
                        "import ceems-sqlite {} (units up to id {last_id})",
                        path.display()
                    ),
                );
                t.upsert_units(batch, &registry);
                t.set_source_progress(
                    &source,
                    SourceProgress {
                        position: last_id.max(0) as u64,
                        complete: false,
                        listed: listed_total,
                    },
                );
                match t.commit().await {
                    Ok(o) => {
                        last_committed_id = last_id;
                        summary.add(&o);
                        observer.committed(&o);
                        observer.advance(rows);
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            Msg::Replayed { rejects } => {
                summary.rows_rejected += rejects.len() as u64;
                listed_total += rejects.len() as u64;
                for r in &rejects {
                    observer.reject(r);
                }
            }
            Msg::Members {
                table,
                batch,
                rejects,
            } => {
                summary.rows_rejected += rejects.len() as u64;
                for r in &rejects {
                    observer.reject(r);
                }
                let n = batch.num_rows() as u64;
                match table {
                    Table::Users => summary.users += n,
                    Table::Projects => summary.projects += n,
                    Table::AdminUsers => summary.admin_users += n,
                    Table::Units => {}
                }
                members.upsert_members(table, batch);
            }
            Msg::Failed(e) => {
                result = Err(e);
                break;
            }
        }
    }
    drop(rx);
    let _ = reader.join();
    result?;
    members.set_source_progress(
        &source,
        SourceProgress {
            position: last_committed_id.max(0) as u64,
            complete: true,
            listed: listed_total,
        },
    );
    let o = members.commit().await?;
    summary.add(&o);
    observer.committed(&o);
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn read_all(
    conn: Connection,
    path: &Path,
    unit_cols: HashSet<String>,
    resume_after: i64,
    replay: bool,
    registry: schema::KeyRegistry,
    tz: crate::time::DataTz,
    batch_rows: usize,
    tx: &tokio::sync::mpsc::Sender<Msg>,
) -> Result<()> {
    // With `replay`, a resumed import reads the committed rows again, only to list their
    // rejects (the rejects file of the interrupted run is rewritten); the units they build are
    // dropped. Without, it starts after them.
    let sql = format!(
        "SELECT {} FROM units WHERE id > ?1 ORDER BY id",
        select_list(&UNIT_COLUMNS, &unit_cols)
    );
    let mut stmt = conn.prepare(&sql).map_err(sqlite_err(path))?;
    let mut rows = stmt
        .query([if replay { i64::MIN } else { resume_after }])
        .map_err(sqlite_err(path))?;
    let mut replaying = replay;
    let mut builder = UnitsBuilder::new(registry, tz);
    let mut bufs: Vec<String> = (0..UNIT_COLUMNS.len())
        .map(|_| String::with_capacity(64))
        .collect();
    let mut rejects = Vec::new();
    let mut read = 0u64;
    let mut last_id = resume_after;
    let send = |builder: &mut UnitsBuilder,
                last_id: i64,
                read: u64,
                rejects: &mut Vec<RowReject>|
     -> bool {
        let msg = Msg::Batch {
            batch: builder.finish(),
            registry: builder.registry().clone(),
            last_id,
            rows: read,
            rejects: std::mem::take(rejects),
        };
        tx.blocking_send(msg).is_ok()
    };
    while let Some(row) = rows.next().map_err(sqlite_err(path))? {
        let id = row
            .get_ref(0)
            .ok()
            .and_then(|v| int_of(v).ok())
            .unwrap_or(0);
        if replaying && (id > resume_after || rejects.len() >= batch_rows) {
            drop(builder.finish());
            let msg = Msg::Replayed {
                rejects: std::mem::take(&mut rejects),
            };
            if tx.blocking_send(msg).is_err() {
                return Ok(());
            }
            replaying = id <= resume_after;
        }
        if replaying && builder.len() >= batch_rows {
            drop(builder.finish());
        }
        if !replaying {
            read += 1;
            last_id = id;
        }
        let parsed = row_texts(row, &mut bufs).and_then(|texts| -> ParsedRow<'_> {
            let int = |i: usize| -> std::result::Result<i64, (usize, String)> {
                let v = row.get_ref(i).map_err(|e| (i, e.to_string()))?;
                int_of(v).map_err(|e| (i, e))
            };
            Ok((texts, int(11)?, int(12)?, int(13)?, int(31)? != 0, int(32)?))
        });
        let (b, created, started, ended, ignore, num_updates) = match parsed {
            Ok(v) => v,
            Err((col, reason)) => {
                let value = row
                    .get_ref(col)
                    .map(|v| match v {
                        ValueRef::Text(t) => String::from_utf8_lossy(t).chars().take(200).collect(),
                        other => format!("{other:?}"),
                    })
                    .unwrap_or_default();
                rejects.push(RowReject {
                    location: format!("id {id}"),
                    field: UNIT_COLUMNS[col].to_string(),
                    value,
                    reason,
                });
                continue;
            }
        };
        let r = CeemsUnitRow {
            id,
            resource_manager: b[1],
            cluster_id: b[2],
            uuid: b[3],
            name: b[4],
            project: b[5],
            groupname: b[6],
            username: b[7],
            created_at: b[8],
            started_at: b[9],
            ended_at: b[10],
            created_at_ts: created,
            started_at_ts: started,
            ended_at_ts: ended,
            elapsed: b[14],
            state: b[15],
            allocation: b[16],
            tags: b[17],
            metrics: [
                b[18], b[19], b[20], b[21], b[22], b[23], b[24], b[25], b[26], b[27], b[28], b[29],
                b[30],
            ],
            ignore,
            num_updates,
            last_updated_at: b[33],
        };
        if let Err(rej) = builder.append_ceems(&r) {
            rejects.push(rej);
        }
        if !replaying && read as usize >= batch_rows {
            if !send(&mut builder, last_id, read, &mut rejects) {
                return Ok(());
            }
            read = 0;
        }
    }
    if replaying {
        // Every row was committed already.
        drop(builder.finish());
        if !rejects.is_empty()
            && tx
                .blocking_send(Msg::Replayed {
                    rejects: std::mem::take(&mut rejects),
                })
                .is_err()
        {
            return Ok(());
        }
    }
    if (read > 0 || !rejects.is_empty()) && !send(&mut builder, last_id, read, &mut rejects) {
        return Ok(());
    }
    drop(rows);
    drop(stmt);

    for table in [Table::Users, Table::Projects, Table::AdminUsers] {
        let (batch, rejects) = read_members(&conn, path, table)?;
        if tx
            .blocking_send(Msg::Members {
                table,
                batch,
                rejects,
            })
            .is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}

fn read_members(
    conn: &Connection,
    path: &Path,
    table: Table,
) -> Result<(arrow::record_batch::RecordBatch, Vec<RowReject>)> {
    let schema = match table {
        Table::Projects => schema::projects_schema(),
        _ => schema::users_schema(),
    };
    let mut builder = MembersBuilder::new(schema);
    let mut rejects = Vec::new();
    let cols = table_columns(conn, table.name(), path)?;
    if cols.is_empty() {
        return Ok((builder.finish(), rejects));
    }
    let list_col = if table == Table::Projects {
        "users"
    } else {
        "projects"
    };
    if table == Table::AdminUsers && !cols.contains("name") && cols.contains("users") {
        // Layout before CEEMS migration 8: one row per source with a JSON array of names.
        let has_source = cols.contains("source");
        let sql = format!(
            "SELECT {}, users, last_updated_at FROM admin_users ORDER BY id",
            if has_source { "source" } else { "'ceems'" }
        );
        let mut stmt = conn.prepare(&sql).map_err(sqlite_err(path))?;
        let mut rows = stmt.query([]).map_err(sqlite_err(path))?;
        while let Some(row) = rows.next().map_err(sqlite_err(path))? {
            let source: String = row
                .get::<_, Option<String>>(0)
                .map_err(sqlite_err(path))?
                .unwrap_or_default();
            let users: String = row
                .get::<_, Option<String>>(1)
                .map_err(sqlite_err(path))?
                .unwrap_or_default();
            let updated: String = row
                .get::<_, Option<String>>(2)
                .map_err(sqlite_err(path))?
                .unwrap_or_default();
            let names: Vec<String> = serde_json::from_str(&users).unwrap_or_default();
            for name in names {
                let r = CeemsMemberRow {
                    uid: String::new(),
                    cluster_id: "all".into(),
                    resource_manager: String::new(),
                    name,
                    members: "[]".into(),
                    tags: serde_json::json!([source]).to_string(),
                    last_updated_at: updated.clone(),
                };
                if let Err(e) = builder.append(&r, "admin_users") {
                    rejects.push(e);
                }
            }
        }
        return Ok((builder.finish(), rejects));
    }
    let expected = [
        "id",
        "uid",
        "cluster_id",
        "resource_manager",
        "name",
        list_col,
        "tags",
        "last_updated_at",
    ];
    let order = if cols.contains("id") {
        " ORDER BY id"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {} FROM \"{}\"{order}",
        select_list(&expected, &cols),
        table.name()
    );
    let mut stmt = conn.prepare(&sql).map_err(sqlite_err(path))?;
    let mut rows = stmt.query([]).map_err(sqlite_err(path))?;
    let mut buf = String::new();
    while let Some(row) = rows.next().map_err(sqlite_err(path))? {
        let id = row
            .get_ref(0)
            .ok()
            .and_then(|v| int_of(v).ok())
            .unwrap_or(0);
        let location = format!("{} id {id}", table.name());
        let mut vals: Vec<String> = Vec::with_capacity(7);
        let mut bad = None;
        for (i, name) in expected.iter().enumerate().skip(1) {
            match row
                .get_ref(i)
                .map_err(|e| e.to_string())
                .and_then(|v| text_into(v, &mut buf))
            {
                Ok(()) => vals.push(buf.clone()),
                Err(e) => {
                    bad = Some(RowReject {
                        location: location.clone(),
                        field: (*name).into(),
                        value: String::new(),
                        reason: e,
                    });
                    break;
                }
            }
        }
        if let Some(r) = bad {
            rejects.push(r);
            continue;
        }
        let r = CeemsMemberRow {
            uid: vals[0].clone(),
            cluster_id: vals[1].clone(),
            resource_manager: vals[2].clone(),
            name: vals[3].clone(),
            members: vals[4].clone(),
            tags: vals[5].clone(),
            last_updated_at: vals[6].clone(),
        };
        if let Err(mut e) = builder.append(&r, &location) {
            if e.field == "members" {
                e.field = list_col.into();
            }
            rejects.push(e);
        }
    }
    Ok((builder.finish(), rejects))
}
