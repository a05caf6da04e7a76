//! `ceems-lake import …`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ceems_lake_engine::ingest::estimate::EnergyModel;
use ceems_lake_engine::ingest::ndjson::ExportOptions;
use ceems_lake_engine::ingest::sacct::{self, SacctOptions};
use ceems_lake_engine::ingest::swf::{self, SwfOptions};
use ceems_lake_engine::ingest::{ImportOptions, ImportSummary, ceems_sqlite, ndjson, parquet};
use ceems_lake_engine::store::Store;
use ceems_lake_engine::time::DataTz;

use crate::cli::{EstimateArgs, ExportArgs, ImportArgs, ImportCommand};
use crate::config::FileConfig;
use crate::progress::CliObserver;

pub async fn run(store: &Store, cmd: &ImportCommand) -> anyhow::Result<()> {
    match cmd {
        ImportCommand::CeemsSqlite(a) => {
            let (opts, observer) = setup(&a.import, &[a.file.as_path()])?;
            tracing::info!(file = %a.file.display(), store = store.location(), time_zone = %opts.time_zone.name(), "importing CEEMS database");
            let started = Instant::now();
            let res = ceems_sqlite::import(store, &a.file, &opts, &observer).await;
            observer.finish();
            let summary = res.with_context(|| failed(&a.file))?;
            report(&summary, started.elapsed(), a.import.rejects.as_deref());
            if all_rejected(&summary) {
                anyhow::bail!(
                    "every unit row of {} was rejected: nothing was imported",
                    a.file.display()
                );
            }
            Ok(())
        }
        ImportCommand::Sacct(a) => {
            let (opts, observer) = setup(
                &a.import,
                &inputs(
                    &a.files,
                    &[
                        a.header_file.as_deref(),
                        a.estimate.estimate_energy.as_deref(),
                    ],
                ),
            )?;
            let fields = match (&a.fields, &a.header_file) {
                (Some(f), _) => Some(sacct::split_field_list(f)),
                (None, Some(p)) => Some(read_header_file(p)?),
                (None, None) => None,
            };
            if let Some(f) = &fields
                && f.is_empty()
            {
                anyhow::bail!("the field list is empty");
            }
            let sopts = SacctOptions {
                cluster_id: nonempty(a.cluster_id.as_deref(), "--cluster-id")?,
                fields,
                resource_manager: a.resource_manager.clone(),
                estimate: estimate(&a.estimate)?,
            };
            each_file(&a.files, &a.import, &observer, |f| {
                tracing::info!(file = %f.display(), store = store.location(), time_zone = %opts.time_zone.name(), "importing sacct dump");
                sacct::import(store, f, &sopts, &opts, &observer)
            })
            .await
        }
        ImportCommand::Swf(a) => {
            let (opts, observer) = setup(
                &a.import,
                &inputs(&a.files, &[a.estimate.estimate_energy.as_deref()]),
            )?;
            let sopts = SwfOptions {
                cluster_id: nonempty(Some(&a.cluster_id), "--cluster-id")?.unwrap_or_default(),
                resource_manager: a.resource_manager.clone(),
                // An explicit zone wins over the header's TimeZoneString.
                time_zone: explicit_zone(&a.import)?,
                unix_start_time: a.unix_start_time,
                estimate: estimate(&a.estimate)?,
            };
            each_file(&a.files, &a.import, &observer, |f| {
                tracing::info!(file = %f.display(), store = store.location(), "importing SWF log");
                swf::import(store, f, &sopts, &opts, &observer)
            })
            .await
        }
        ImportCommand::Ndjson(a) => {
            let (opts, observer) = setup(
                &a.import,
                &inputs(&a.files, &[a.estimate.estimate_energy.as_deref()]),
            )?;
            let eopts = export_options(a)?;
            each_file(&a.files, &a.import, &observer, |f| {
                tracing::info!(file = %f.display(), store = store.location(), "importing NDJSON units");
                ndjson::import(store, f, &eopts, &opts, &observer)
            })
            .await
        }
        ImportCommand::Parquet(a) => {
            let (opts, observer) = setup(
                &a.import,
                &inputs(&a.files, &[a.estimate.estimate_energy.as_deref()]),
            )?;
            let eopts = export_options(a)?;
            each_file(&a.files, &a.import, &observer, |f| {
                tracing::info!(file = %f.display(), store = store.location(), "importing Parquet units");
                parquet::import(store, f, &eopts, &opts, &observer)
            })
            .await
        }
    }
}

fn failed(file: &Path) -> String {
    format!(
        "import of {} failed; every batch committed before the failure is kept and a re-run resumes after it",
        file.display()
    )
}

/// Imports the files one after the other (each resumable on its own), printing a summary per
/// file and a total when there are several. Stops at the first file that fails.
async fn each_file<'a, F, Fut>(
    files: &'a [PathBuf],
    a: &ImportArgs,
    observer: &CliObserver,
    mut import: F,
) -> anyhow::Result<()>
where
    F: FnMut(&'a Path) -> Fut,
    Fut: std::future::Future<Output = ceems_lake_engine::error::Result<ImportSummary>>,
{
    // Check every file before committing anything, so a typo in the last name does not leave
    // the first files imported and the rest not.
    for f in files {
        if f.is_dir() {
            anyhow::bail!("{}: is a directory, not a file", f.display());
        }
        if !f.is_file() {
            anyhow::bail!("{}: no such file", f.display());
        }
    }
    let mut total = ImportSummary::default();
    let mut nothing_imported = Vec::new();
    let started = Instant::now();
    for f in files {
        let t0 = Instant::now();
        let res = import(f.as_path()).await;
        observer.finish();
        let s = res.with_context(|| failed(f))?;
        if files.len() > 1 {
            println!("== {}", f.display());
        }
        report_resumable(&s, t0.elapsed(), a.rejects.as_deref(), RESUMED_FILE_ROWS);
        if all_rejected(&s) {
            nothing_imported.push(f.display().to_string());
        }
        add(&mut total, &s);
    }
    if files.len() > 1 {
        println!("== all {} files", files.len());
        report_resumable(
            &total,
            started.elapsed(),
            a.rejects.as_deref(),
            RESUMED_FILE_ROWS,
        );
    }
    // A script must be able to tell that a file gave nothing (a wrong field list, the wrong
    // format): exit with an error, after the other files were imported.
    if !nothing_imported.is_empty() {
        anyhow::bail!(
            "every row of {} was rejected: nothing was imported from {}",
            nothing_imported.join(", "),
            if nothing_imported.len() == 1 {
                "it"
            } else {
                "them"
            }
        );
    }
    Ok(())
}

/// Rows were read and every one of them was rejected.
fn all_rejected(s: &ImportSummary) -> bool {
    s.rows_rejected > 0
        && s.units_inserted + s.units_replaced + s.units_unchanged == 0
        && s.rows_rejected + s.rows_skipped >= s.rows_read
}

fn add(t: &mut ImportSummary, s: &ImportSummary) {
    t.rows_read += s.rows_read;
    t.rows_resumed += s.rows_resumed;
    t.units_inserted += s.units_inserted;
    t.units_replaced += s.units_replaced;
    t.units_unchanged += s.units_unchanged;
    t.rows_rejected += s.rows_rejected;
    t.rows_skipped += s.rows_skipped;
    t.users += s.users;
    t.projects += s.projects;
    t.admin_users += s.admin_users;
    t.versions.extend_from_slice(&s.versions);
}

fn nonempty(v: Option<&str>, flag: &str) -> anyhow::Result<Option<String>> {
    match v {
        Some(s) if s.trim().is_empty() => anyhow::bail!("{flag} must not be empty"),
        Some(s) => Ok(Some(s.trim().to_string())),
        None => Ok(None),
    }
}

/// The field names of a header file: its first non-empty line.
fn read_header_file(p: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("cannot read header file {}", p.display()))?;
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .with_context(|| format!("header file {} is empty", p.display()))?;
    Ok(sacct::split_field_list(line))
}

fn estimate(a: &EstimateArgs) -> anyhow::Result<Option<Arc<EnergyModel>>> {
    match &a.estimate_energy {
        None => Ok(None),
        Some(p) => {
            let m = EnergyModel::from_file(p)
                .with_context(|| format!("cannot use energy estimate file {}", p.display()))?;
            tracing::info!(file = %p.display(), model = %m.describe(), "estimating energy of units without measured energy");
            Ok(Some(Arc::new(m)))
        }
    }
}

fn export_options(a: &ExportArgs) -> anyhow::Result<ExportOptions> {
    Ok(ExportOptions {
        cluster_id: nonempty(a.cluster_id.as_deref(), "--cluster-id")?,
        resource_manager: a.resource_manager.clone(),
        estimate: estimate(&a.estimate)?,
    })
}

/// The zone given with --time-zone (or its environment variable), if any.
fn explicit_zone(a: &ImportArgs) -> anyhow::Result<Option<DataTz>> {
    match &a.time_zone {
        Some(z) => Ok(Some(DataTz::parse(z).map_err(anyhow::Error::msg)?)),
        None => Ok(None),
    }
}

/// The import's zone: --time-zone, else `data.time_zone` of --config.file, else Local.
fn zone(a: &ImportArgs) -> anyhow::Result<DataTz> {
    if let Some(z) = explicit_zone(a)? {
        return Ok(z);
    }
    if let Some(p) = &a.config_file {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read configuration file {}", p.display()))?;
        let c: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            serde_yaml::from_str(&text)
                .with_context(|| format!("invalid configuration file {}", p.display()))?
        };
        if let Some(z) = &c.ceems_api_server.data.time_zone {
            return DataTz::parse(z)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("data.time_zone of {}", p.display()));
        }
    }
    Ok(DataTz::Local)
}

/// Every file an import reads: the inputs and the optional header, estimate and config files.
fn inputs<'a>(files: &'a [PathBuf], extra: &[Option<&'a Path>]) -> Vec<&'a Path> {
    files
        .iter()
        .map(PathBuf::as_path)
        .chain(extra.iter().flatten().copied())
        .collect()
}

fn setup(a: &ImportArgs, inputs: &[&Path]) -> anyhow::Result<(ImportOptions, CliObserver)> {
    let tz = zone(a)?;
    if a.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    // The rejects file is created (emptied) before anything is read: it must not be a file the
    // import reads.
    if let Some(r) = &a.rejects
        && let Some(input) = inputs
            .iter()
            .copied()
            .chain(a.config_file.as_deref())
            .find(|i| same_file(r, i))
    {
        anyhow::bail!(
            "--rejects {} is the input file {}: choose another path for the rejects",
            r.display(),
            input.display()
        );
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

/// Whether two paths name the same existing file: through links of any kind, hard links
/// included (same device and inode).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Prints the closing summary of an import.
pub fn report(s: &ImportSummary, elapsed: Duration, rejects: Option<&Path>) {
    report_resumable(s, elapsed, rejects, "committed by an earlier run");
}

/// What the file importers say of resumed rows: they are parsed again for their rejects, so
/// the rejected and skipped counts (and the rejects list) cover the whole file.
const RESUMED_FILE_ROWS: &str =
    "committed by an earlier run; rejects among them are counted and listed again";

/// [`report`] with the explanation of the resumed rows.
fn report_resumable(s: &ImportSummary, elapsed: Duration, rejects: Option<&Path>, resumed: &str) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    println!("rows read:        {}", s.rows_read);
    if s.rows_resumed > 0 {
        println!("rows resumed:     {} ({resumed})", s.rows_resumed);
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
    let listed = |n: u64| match (n, rejects) {
        (0, _) => String::new(),
        (_, Some(p)) => format!(" (see {})", p.display()),
        (_, None) => " (listed above)".to_string(),
    };
    println!(
        "rows rejected:    {}{}",
        s.rows_rejected,
        listed(s.rows_rejected)
    );
    if s.rows_skipped > 0 {
        println!(
            "rows skipped:     {} (job steps; only allocations are imported){}",
            s.rows_skipped,
            listed(s.rows_skipped)
        );
    }
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
