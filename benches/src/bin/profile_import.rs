//! Runs one import through the engine (no command line around it) into a fresh temporary store,
//! so that a profiler sees the importer with the line tables of the `bench` profile:
//!
//!   cargo build --profile bench -p ceems-lake-benches --benches --bins
//!   perf record --call-graph dwarf -- \
//!     $CARGO_TARGET_DIR/release/profile_import sacct data/generated/sacct-1000000.log
//!   valgrind --tool=callgrind --separate-threads=yes \
//!     $CARGO_TARGET_DIR/release/profile_import swf CEA-Curie-2011-2.1-cln.swf
//!
//! (Build with `--benches --bins` as `cargo bench` does: another target selection unifies the
//! dependencies' features differently and rebuilds DataFusion.)
//!
//! Arguments: `swf|sacct|ceems-sqlite FILE [BATCH_ROWS=100000] [STORE]`; with STORE the store
//! is kept there (it must not exist), otherwise a temporary one is deleted at the end. Prints the
//! wall time, when each commit ended (seconds since the start) and the units inserted. The time
//! zone is Europe/Paris, the SWF and sacct cluster id `bench`.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use ceems_lake_engine::ingest::sacct::{self, SacctOptions};
use ceems_lake_engine::ingest::swf::{self, SwfOptions};
use ceems_lake_engine::ingest::{ImportObserver, ImportOptions, ceems_sqlite};
use ceems_lake_engine::store::Store;
use ceems_lake_engine::store::transaction::CommitOutcome;
use ceems_lake_engine::time::DataTz;

/// Records when each commit finished.
struct Commits {
    start: Instant,
    at: Mutex<Vec<f64>>,
}

impl ImportObserver for Commits {
    fn committed(&self, _outcome: &CommitOutcome) {
        self.at
            .lock()
            .unwrap()
            .push(self.start.elapsed().as_secs_f64());
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (kind, file) = match (args.get(1), args.get(2)) {
        (Some(k), Some(f)) => (k.as_str(), PathBuf::from(f)),
        _ => {
            eprintln!("usage: profile_import swf|sacct|ceems-sqlite FILE [BATCH_ROWS] [STORE]");
            std::process::exit(2);
        }
    };
    let batch_rows = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let keep = args.get(4).map(PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ceems-lake-profile-{}", std::process::id()))
    });
    let store = Store::open(dir.to_str().unwrap(), &[]).unwrap();
    let opts = ImportOptions {
        batch_rows,
        time_zone: DataTz::parse("Europe/Paris").unwrap(),
    };
    let obs = Commits {
        start: Instant::now(),
        at: Mutex::new(Vec::new()),
    };
    let summary = match kind {
        "swf" => {
            let sopts = SwfOptions {
                cluster_id: "bench".into(),
                resource_manager: "slurm".into(),
                time_zone: None,
                unix_start_time: None,
                estimate: None,
            };
            swf::import(&store, &file, &sopts, &opts, &obs).await
        }
        "sacct" => {
            let sopts = SacctOptions {
                cluster_id: Some("bench".into()),
                ..SacctOptions::default()
            };
            sacct::import(&store, &file, &sopts, &opts, &obs).await
        }
        "ceems-sqlite" => ceems_sqlite::import(&store, &file, &opts, &obs).await,
        other => {
            eprintln!("unknown kind {other}");
            std::process::exit(2);
        }
    }
    .unwrap();
    let wall = obs.start.elapsed().as_secs_f64();
    let at = obs.at.lock().unwrap().clone();
    println!(
        "{kind} {}: {wall:.2} s, {} units inserted, {:.0} units/s",
        file.display(),
        summary.units_inserted,
        summary.units_inserted as f64 / wall
    );
    println!(
        "commit ends (s): {}",
        at.iter()
            .map(|t| format!("{t:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
