//! Progress bars and reject reports for long commands.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use ceems_lake_engine::ingest::{ImportObserver, RowReject};
use ceems_lake_engine::store::transaction::CommitOutcome;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows a progress bar (rows, rows/s, ETA) and writes rejects to a file or standard error.
pub struct CliObserver {
    /// Replaced for every file of a multi-file import.
    bar: Mutex<ProgressBar>,
    show_bar: bool,
    rejects: Mutex<Box<dyn Write + Send>>,
    to_file: bool,
}

impl CliObserver {
    /// `rejects`: file for rejected rows (tab-separated), or `None` for standard error.
    pub fn new(show_bar: bool, rejects: Option<&Path>) -> anyhow::Result<Self> {
        let bar = new_bar(show_bar);
        let (w, to_file): (Box<dyn Write + Send>, bool) = match rejects {
            Some(p) => {
                let mut f = std::io::BufWriter::new(std::fs::File::create(p).map_err(|e| {
                    anyhow::anyhow!("cannot create rejects file {}: {e}", p.display())
                })?);
                writeln!(f, "location\tfield\tvalue\treason")?;
                (Box::new(f), true)
            }
            None => (Box::new(std::io::stderr()), false),
        };
        Ok(CliObserver {
            bar: Mutex::new(bar),
            show_bar,
            rejects: Mutex::new(w),
            to_file,
        })
    }

    fn bar(&self) -> ProgressBar {
        self.bar.lock().expect("progress bar lock").clone()
    }

    /// Stops the bar and flushes the rejects; a next import through this observer gets a
    /// fresh bar.
    pub fn finish(&self) {
        let mut bar = self.bar.lock().expect("progress bar lock");
        bar.finish_and_clear();
        *bar = new_bar(self.show_bar);
        drop(bar);
        if let Ok(mut w) = self.rejects.lock() {
            let _ = w.flush();
        }
    }
}

fn new_bar(show: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        None,
        if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} rows  {per_sec}  ETA {eta}  {msg}",
        )
        .expect("valid template"),
    );
    bar
}

fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

impl ImportObserver for CliObserver {
    fn total(&self, rows: u64) {
        self.bar().set_length(rows);
    }

    fn advance(&self, rows: u64) {
        self.bar().inc(rows);
    }

    fn reject(&self, r: &RowReject) {
        let mut w = self.rejects.lock().expect("rejects lock");
        if self.to_file {
            let _ = writeln!(
                w,
                "{}\t{}\t{}\t{}",
                clean(&r.location),
                clean(&r.field),
                clean(&r.value),
                clean(&r.reason)
            );
        } else {
            self.bar().suspend(|| {
                let _ = writeln!(w, "rejected {r}");
            });
        }
    }

    fn committed(&self, o: &CommitOutcome) {
        if let Some(v) = o.version {
            self.bar().set_message(format!("version {v}"));
            tracing::debug!(
                version = v,
                inserted = o.units_inserted,
                replaced = o.units_replaced,
                unchanged = o.units_unchanged,
                "committed"
            );
        }
    }

    fn message(&self, msg: &str) {
        self.bar().suspend(|| tracing::info!("{msg}"));
    }
}
