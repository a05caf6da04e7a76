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
    rejects: Mutex<Rejects>,
}

/// Where rejects go. Standard error is unbuffered and a formatted line is several writes, so
/// lines are gathered and written in blocks: a dump whose job steps are all listed would
/// otherwise spend a third of its time in system calls. Blocks are written with the bar
/// suspended, at a commit, before a message, at the end, or when [`STDERR_BLOCK`] is full.
enum Rejects {
    File(std::io::BufWriter<std::fs::File>),
    Stderr(Vec<u8>),
}

/// Bytes of reject lines gathered before they are written to standard error.
const STDERR_BLOCK: usize = 64 << 10;

impl CliObserver {
    /// `rejects`: file for rejected rows (tab-separated), or `None` for standard error.
    pub fn new(show_bar: bool, rejects: Option<&Path>) -> anyhow::Result<Self> {
        let bar = new_bar(show_bar);
        let sink = match rejects {
            Some(p) => {
                let mut f = std::io::BufWriter::new(std::fs::File::create(p).map_err(|e| {
                    anyhow::anyhow!("cannot create rejects file {}: {e}", p.display())
                })?);
                writeln!(f, "location\tfield\tvalue\treason")?;
                Rejects::File(f)
            }
            None => Rejects::Stderr(Vec::with_capacity(STDERR_BLOCK)),
        };
        Ok(CliObserver {
            bar: Mutex::new(bar),
            show_bar,
            rejects: Mutex::new(sink),
        })
    }

    fn bar(&self) -> ProgressBar {
        self.bar.lock().expect("progress bar lock").clone()
    }

    /// Writes the gathered reject lines (standard error) or flushes the rejects file.
    fn flush_rejects(&self) {
        let Ok(mut sink) = self.rejects.lock() else {
            return;
        };
        match &mut *sink {
            Rejects::File(f) => {
                let _ = f.flush();
            }
            Rejects::Stderr(buf) => self.write_stderr(buf),
        }
    }

    fn write_stderr(&self, buf: &mut Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        self.bar().suspend(|| {
            let _ = std::io::stderr().lock().write_all(buf);
        });
        buf.clear();
    }

    /// Stops the bar and flushes the rejects; a next import through this observer gets a
    /// fresh bar.
    pub fn finish(&self) {
        self.flush_rejects();
        let mut bar = self.bar.lock().expect("progress bar lock");
        bar.finish_and_clear();
        *bar = new_bar(self.show_bar);
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
        let mut sink = self.rejects.lock().expect("rejects lock");
        match &mut *sink {
            Rejects::File(f) => {
                let _ = writeln!(
                    f,
                    "{}\t{}\t{}\t{}",
                    clean(&r.location),
                    clean(&r.field),
                    clean(&r.value),
                    clean(&r.reason)
                );
            }
            Rejects::Stderr(buf) => {
                let _ = writeln!(buf, "rejected {r}");
                if buf.len() >= STDERR_BLOCK {
                    self.write_stderr(buf);
                }
            }
        }
    }

    fn committed(&self, o: &CommitOutcome) {
        self.flush_rejects();
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
        self.flush_rejects();
        self.bar().suspend(|| tracing::info!("{msg}"));
    }
}
