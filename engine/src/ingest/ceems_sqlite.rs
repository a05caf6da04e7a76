//! `import ceems-sqlite`: the whole history of an original CEEMS database.
//!
//! The database is opened read-only. `units` is cut into id ranges of about one batch each,
//! read and parsed by a few threads (one connection each; SQLite's row decoding is most of the
//! work) while the importer merges, writes and commits the batches strictly in id order, each
//! together with the highest `id` it contains, so an interrupted import resumes after the last
//! committed batch. `users`, `projects` and `admin_users` are small and committed first, so
//! every version the import publishes has the projects (which decide who sees a unit) of the
//! units it holds.
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
    /// The reader finished the id range it was given.
    ChunkEnd,
    /// Rejected rows among those an earlier run committed (read again only to list them).
    Replayed {
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

    // The small tables first, in one commit of their own (nothing when they are unchanged).
    let mut members = Transaction::new(
        store,
        format!("import ceems-sqlite {} (users, projects)", path.display()),
    );
    for table in [Table::Users, Table::Projects, Table::AdminUsers] {
        let (batch, rejects) = read_members(&conn, path, table)?;
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
    let o = members.commit().await?;
    summary.add(&o);
    observer.committed(&o);

    let select = format!(
        "SELECT {} FROM units WHERE id BETWEEN ?1 AND ?2 ORDER BY id",
        select_list(&UNIT_COLUMNS, &unit_cols)
    );
    let rowid = id_is_rowid(&conn, path)?;
    let tz = opts.time_zone;
    let batch_rows = opts.batch_rows.max(1);
    let mut registry = base.manifest.metric_keys.clone();

    // With `replay`, a resumed import first reads the committed rows again, only to list their
    // rejects (the rejects file of the interrupted run is rewritten); the units they build are
    // dropped.
    if replay {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(1);
        let reader = spawn_reader(path, "ceems-sqlite-replay", tx, {
            let (path, select, registry) = (path.to_path_buf(), select.clone(), registry.clone());
            move |tx| {
                let conn = open(&path)?;
                let mut builder = UnitsBuilder::new(registry, tz);
                let range = IdRange {
                    lo: i64::MIN,
                    hi: resume_after,
                };
                read_range(
                    &conn,
                    &path,
                    &select,
                    range,
                    true,
                    &mut builder,
                    batch_rows,
                    tx,
                )
                .map(|_| ())
            }
        })?;
        let mut failed = None;
        while let Some(msg) = rx.recv().await {
            match msg {
                Msg::Replayed { rejects } => {
                    summary.rows_rejected += rejects.len() as u64;
                    listed_total += rejects.len() as u64;
                    for r in &rejects {
                        observer.reject(r);
                    }
                }
                Msg::Failed(e) => {
                    failed = Some(e);
                    break;
                }
                _ => {}
            }
        }
        drop(rx);
        let _ = reader.join();
        if let Some(e) = failed {
            return Err(e);
        }
    }

    // The rest is cut into id ranges of about one batch each, read by several threads (SQLite
    // decoding is most of an import's work) and committed strictly in id order, so that the
    // position recorded with each commit means "every unit up to here".
    let start = if resume_after > 0 {
        resume_after + 1
    } else {
        i64::MIN
    };
    let ranges = if rowid {
        split_ids(&conn, path, start, remaining.max(0) as u64, batch_rows)?
    } else {
        // Without an integer primary key a range query scans the whole table: one reader.
        vec![IdRange {
            lo: start,
            hi: i64::MAX,
        }]
    };
    let readers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, MAX_READERS)
        .min(ranges.len().max(1));
    let mut channels = Vec::with_capacity(readers);
    let mut threads = Vec::with_capacity(readers);
    for r in 0..readers {
        let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(1);
        channels.push(rx);
        let mine: Vec<IdRange> = ranges.iter().copied().skip(r).step_by(readers).collect();
        let (path, select, registry) = (path.to_path_buf(), select.clone(), registry.clone());
        let name = format!("ceems-sqlite-reader-{r}");
        threads.push(spawn_reader(&path.clone(), &name, tx, move |tx| {
            let conn = open(&path)?;
            let mut builder = UnitsBuilder::new(registry, tz);
            for range in mine {
                if !read_range(
                    &conn,
                    &path,
                    &select,
                    range,
                    false,
                    &mut builder,
                    batch_rows,
                    tx,
                )? || tx.blocking_send(Msg::ChunkEnd).is_err()
                {
                    return Ok(());
                }
            }
            Ok(())
        })?);
    }
    drop(conn);

    let mut result = Ok(());
    let mut last_committed_id = resume_after;
    let mut turn = 0usize;
    // The units, range after range, each from the reader that was given it.
    let mut ranges_left = ranges.len();
    while ranges_left > 0 {
        let rx = &mut channels[turn % readers];
        let Some(msg) = rx.recv().await else {
            result = Err(Error::InvalidArgument(format!(
                "{}: a reader thread stopped before the end of its id range",
                path.display()
            )));
            break;
        };
        match msg {
            Msg::ChunkEnd => {
                ranges_left -= 1;
                turn += 1;
            }
            Msg::Batch {
                batch,
                registry: batch_registry,
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
                registry.merge(&batch_registry);
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
            Msg::Replayed { .. } => {}
            Msg::Failed(e) => {
                result = Err(e);
                break;
            }
        }
    }
    drop(channels);
    for t in threads {
        let _ = t.join();
    }
    result?;
    let mut done = Transaction::new(
        store,
        format!("import ceems-sqlite {} (complete)", path.display()),
    );
    done.set_source_progress(
        &source,
        SourceProgress {
            position: last_committed_id.max(0) as u64,
            complete: true,
            listed: listed_total,
        },
    );
    let o = done.commit().await?;
    summary.add(&o);
    observer.committed(&o);
    Ok(summary)
}

/// At most this many threads read a database at once.
const MAX_READERS: usize = 4;

/// Units with `lo <= id <= hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdRange {
    lo: i64,
    hi: i64,
}

fn open(path: &Path) -> Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_err(path))
}

/// Runs `work` on a thread named `name`; an error it returns is sent on `tx` as the last
/// message.
fn spawn_reader(
    path: &Path,
    name: &str,
    tx: tokio::sync::mpsc::Sender<Msg>,
    work: impl FnOnce(&tokio::sync::mpsc::Sender<Msg>) -> Result<()> + Send + 'static,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            if let Err(e) = work(&tx) {
                let _ = tx.blocking_send(Msg::Failed(e));
            }
        })
        .map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })
}

/// Whether `units.id` is the table's integer primary key (an alias of the rowid), so that a
/// range of ids is read without scanning the rest of the table.
fn id_is_rowid(conn: &Connection, path: &Path) -> Result<bool> {
    let mut stmt = conn
        .prepare("SELECT name, type, pk FROM pragma_table_info('units') WHERE pk > 0")
        .map_err(sqlite_err(path))?;
    let pks = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(sqlite_err(path))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(sqlite_err(path))?;
    Ok(
        matches!(pks.as_slice(), [(name, ty, 1)] if name == "id" && ty.eq_ignore_ascii_case("integer")),
    )
}

/// Cuts the ids from `start` on into consecutive ranges of about `batch_rows` units each,
/// assuming ids spread evenly between the smallest and the largest (`rows` of them). Ranges
/// that turn out fuller are still committed in batches of at most `batch_rows`.
fn split_ids(
    conn: &Connection,
    path: &Path,
    start: i64,
    rows: u64,
    batch_rows: usize,
) -> Result<Vec<IdRange>> {
    // Two single-row lookups on the rowid b-tree: `min(id), max(id)` together would scan it.
    let (lo, hi): (Option<i64>, Option<i64>) = conn
        .query_row(
            "SELECT (SELECT id FROM units WHERE id >= ?1 ORDER BY id LIMIT 1), \
                    (SELECT id FROM units ORDER BY id DESC LIMIT 1)",
            [start],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sqlite_err(path))?;
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok(Vec::new());
    };
    Ok(id_ranges(lo, hi, rows, batch_rows))
}

/// `lo..=hi` cut into `ceil(rows / batch_rows)` ranges of equal width (the last one shorter).
fn id_ranges(lo: i64, hi: i64, rows: u64, batch_rows: usize) -> Vec<IdRange> {
    let ceil = |a: i128, b: i128| (a + b - 1) / b;
    let span = i128::from(hi) - i128::from(lo) + 1;
    let count = ceil(i128::from(rows.max(1)), batch_rows.max(1) as i128).max(1);
    let width = ceil(span, count).max(1);
    let mut out = Vec::new();
    let mut from = i128::from(lo);
    while from <= i128::from(hi) {
        let to = (from + width - 1).min(i128::from(hi));
        // Both ends lie within lo..=hi, so they fit in i64.
        out.push(IdRange {
            lo: from as i64,
            hi: to as i64,
        });
        from = to + 1;
    }
    out
}

/// Reads the units with an id in `range`, in id order, into `builder`. Unless `replay`, sends
/// a [`Msg::Batch`] every `batch_rows` rows and one for the rest; with `replay` (rows an earlier
/// run committed) only their rejects are sent, as [`Msg::Replayed`]. Returns false when the
/// importer stopped listening.
#[allow(clippy::too_many_arguments)]
fn read_range(
    conn: &Connection,
    path: &Path,
    select: &str,
    range: IdRange,
    replay: bool,
    builder: &mut UnitsBuilder,
    batch_rows: usize,
    tx: &tokio::sync::mpsc::Sender<Msg>,
) -> Result<bool> {
    let mut stmt = conn.prepare_cached(select).map_err(sqlite_err(path))?;
    let mut rows = stmt.query([range.lo, range.hi]).map_err(sqlite_err(path))?;
    let mut bufs: Vec<String> = (0..UNIT_COLUMNS.len())
        .map(|_| String::with_capacity(64))
        .collect();
    let mut rejects = Vec::new();
    let mut read = 0u64;
    let mut last_id = range.lo;
    while let Some(row) = rows.next().map_err(sqlite_err(path))? {
        read += 1;
        last_id = append_row(row, &mut bufs, builder, &mut rejects);
        if replay {
            if builder.len() >= batch_rows {
                drop(builder.finish());
            }
            if rejects.len() >= batch_rows {
                let msg = Msg::Replayed {
                    rejects: std::mem::take(&mut rejects),
                };
                if tx.blocking_send(msg).is_err() {
                    return Ok(false);
                }
            }
        } else if read as usize >= batch_rows {
            let msg = Msg::Batch {
                batch: builder.finish(),
                registry: builder.registry().clone(),
                last_id,
                rows: read,
                rejects: std::mem::take(&mut rejects),
            };
            if tx.blocking_send(msg).is_err() {
                return Ok(false);
            }
            read = 0;
        }
    }
    let msg = if replay {
        drop(builder.finish());
        if rejects.is_empty() {
            return Ok(true);
        }
        Msg::Replayed { rejects }
    } else {
        if read == 0 && rejects.is_empty() {
            return Ok(true);
        }
        Msg::Batch {
            batch: builder.finish(),
            registry: builder.registry().clone(),
            last_id,
            rows: read,
            rejects,
        }
    };
    Ok(tx.blocking_send(msg).is_ok())
}

/// Parses one row of `units` into `builder`, or into `rejects` with the column at fault.
/// Returns the row's id.
fn append_row(
    row: &rusqlite::Row<'_>,
    bufs: &mut [String],
    builder: &mut UnitsBuilder,
    rejects: &mut Vec<RowReject>,
) -> i64 {
    let id = row
        .get_ref(0)
        .ok()
        .and_then(|v| int_of(v).ok())
        .unwrap_or(0);
    let parsed = row_texts(row, bufs).and_then(|texts| -> ParsedRow<'_> {
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
            return id;
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
    id
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

#[cfg(test)]
mod tests {
    use super::*;

    fn r(lo: i64, hi: i64) -> IdRange {
        IdRange { lo, hi }
    }

    /// The ranges cover `lo..=hi` exactly, in order, without overlap.
    fn covers(ranges: &[IdRange], lo: i64, hi: i64) -> bool {
        ranges.first().map(|x| x.lo) == Some(lo)
            && ranges.last().map(|x| x.hi) == Some(hi)
            && ranges.iter().all(|x| x.lo <= x.hi)
            && ranges
                .windows(2)
                .all(|w| w[0].hi.checked_add(1) == Some(w[1].lo))
    }

    #[test]
    fn dense_ids_split_into_batches() {
        let v = id_ranges(1, 2000, 2000, 500);
        assert_eq!(v, [r(1, 500), r(501, 1000), r(1001, 1500), r(1501, 2000)]);
        // A remainder gets a range of its own width, cut at the end.
        let v = id_ranges(1, 1001, 1001, 500);
        assert_eq!(v, [r(1, 334), r(335, 668), r(669, 1001)]);
    }

    #[test]
    fn sparse_and_degenerate_ids() {
        // 10 rows spread over a million ids, batch of 4: three ranges.
        let v = id_ranges(1, 1_000_000, 10, 4);
        assert_eq!(v.len(), 3);
        assert!(covers(&v, 1, 1_000_000));
        assert_eq!(id_ranges(7, 7, 1, 100), [r(7, 7)]);
        // Fewer rows than a batch: one range.
        assert_eq!(id_ranges(-5, 5, 3, 100), [r(-5, 5)]);
        // Batch size 1 over dense ids: one range per id.
        assert_eq!(id_ranges(1, 3, 3, 1), [r(1, 1), r(2, 2), r(3, 3)]);
    }

    #[test]
    fn the_whole_id_space_does_not_overflow() {
        let v = id_ranges(i64::MIN, i64::MAX, 3, 1);
        assert_eq!(v.len(), 3);
        assert!(covers(&v, i64::MIN, i64::MAX));
        let v = id_ranges(i64::MAX - 1, i64::MAX, 2, 1);
        assert_eq!(v, [r(i64::MAX - 1, i64::MAX - 1), r(i64::MAX, i64::MAX)]);
    }

    /// Who may see a unit follows from the projects table: every version an import publishes
    /// that holds units also holds every user and project of the database.
    #[tokio::test]
    async fn every_version_with_units_has_the_users_and_projects() {
        use crate::generate::{GenerateSpec, write_ceems_sqlite};
        use crate::ingest::Quiet;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ceems.db");
        let spec = GenerateSpec {
            units: 400,
            seed: 7,
            ..GenerateSpec::default()
        };
        write_ceems_sqlite(&spec, &db, &mut |_| {}).unwrap();
        let conn = Connection::open(&db).unwrap();
        let count = |t: &str| {
            conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap() as u64
        };
        let (users, projects) = (count("users"), count("projects"));
        assert!(users > 0 && projects > 0);

        let store = Store::open(dir.path().join("lake").to_str().unwrap(), &[]).unwrap();
        let opts = ImportOptions {
            batch_rows: 50,
            ..ImportOptions::default()
        };
        import(&store, &db, &opts, &Quiet).await.unwrap();
        let versions = store.versions().await.unwrap();
        assert!(versions.len() >= 400 / 50, "{versions:?}");
        let mut with_units = 0;
        for v in versions {
            let m = store.load(v).await.unwrap();
            if m.rows(Table::Units) > 0 {
                with_units += 1;
                assert_eq!(m.rows(Table::Users), users, "version {v}");
                assert_eq!(m.rows(Table::Projects), projects, "version {v}");
            }
        }
        assert!(with_units >= 8);
        assert_eq!(
            store.snapshot().await.unwrap().manifest.rows(Table::Units),
            400
        );
    }

    #[test]
    fn only_an_integer_primary_key_named_id_is_a_rowid() {
        let conn = Connection::open_in_memory().unwrap();
        let path = Path::new("test.db");
        conn.execute_batch("CREATE TABLE units (id integer not null primary key, uuid text)")
            .unwrap();
        assert!(id_is_rowid(&conn, path).unwrap());
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE units (id text primary key, uuid text)")
            .unwrap();
        assert!(!id_is_rowid(&conn, path).unwrap());
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE units (id integer, uuid text)")
            .unwrap();
        assert!(!id_is_rowid(&conn, path).unwrap());
    }
}
