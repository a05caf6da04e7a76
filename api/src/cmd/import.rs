//! `ceems-lake import …`

use anyhow::Context;
use ceems_lake_engine::ingest::{ImportOptions, ImportSummary, ceems_sqlite};
use ceems_lake_engine::store::Store;
use ceems_lake_engine::time::DataTz;

use crate::cli::{ImportArgs, ImportCommand};
use crate::progress::CliObserver;

pub async fn run(store: &Store, cmd: &ImportCommand) -> anyhow::Result<()> {
    match cmd {
        ImportCommand::CeemsSqlite(a) => {
            let (opts, observer) = setup(&a.import)?;
            tracing::info!(file = %a.file.display(), store = store.location(), "importing CEEMS database");
            let started = std::time::Instant::now();
            let res = ceems_sqlite::import(store, &a.file, &opts, &observer).await;
            observer.finish();
            let summary = res.with_context(|| format!("import of {} failed; every batch committed before the failure is kept and a re-run resumes after it", a.file.display()))?;
            report(&summary, started.elapsed(), a.import.rejects.as_deref());
            Ok(())
        }
    }
}

fn setup(a: &ImportArgs) -> anyhow::Result<(ImportOptions, CliObserver)> {
    let tz = DataTz::parse(&a.time_zone).map_err(anyhow::Error::msg)?;
    if a.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    let show = !a.no_progress && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let observer = CliObserver::new(show, a.rejects.as_deref())?;
    Ok((
        ImportOptions {
            batch_rows: a.batch_size,
            time_zone: tz,
        },
        observer,
    ))
}

/// Prints the closing summary of an import.
pub fn report(s: &ImportSummary, elapsed: std::time::Duration, rejects: Option<&std::path::Path>) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!("rows read:        {}", s.rows_read);
    if s.rows_resumed > 0 {
        println!(
            "rows resumed:     {} (committed by an earlier run)",
            s.rows_resumed
        );
    }
    println!("units inserted:   {}", s.units_inserted);
    println!(
        "units replaced:   {} (newer version of a stored unit)",
        s.units_replaced
    );
    println!(
        "units unchanged:  {} (already stored, same or newer)",
        s.units_unchanged
    );
    println!(
        "rows rejected:    {}{}",
        s.rows_rejected,
        match (s.rows_rejected, rejects) {
            (0, _) => String::new(),
            (_, Some(p)) => format!(" (see {})", p.display()),
            (_, None) => " (listed above)".to_string(),
        }
    );
    println!(
        "users: {}  projects: {}  admin users: {}",
        s.users, s.projects, s.admin_users
    );
    match (s.versions.first(), s.versions.last()) {
        (Some(a), Some(b)) if a == b => println!("committed version {a}"),
        (Some(a), Some(b)) => println!("committed versions {a}..{b}"),
        _ => println!("store unchanged"),
    }
    println!("{:.1} s, {:.0} rows/s", secs, s.rows_read as f64 / secs);
}
