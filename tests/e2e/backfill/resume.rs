//! Idempotent and resumable imports. Importing the same dumps twice (also with another batch
//! size) changes nothing. An import killed with SIGKILL leaves a store holding exactly the units
//! of a prefix of the dump, each once; re-running it finishes the dump without duplicates, and
//! its rejects file still lists every bad line of the whole dump.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ceems_lake_tests::{bin, sql_csv, sql_ndjson, store_version};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{import, import_ok, read_rejects, real, scratch, summaries, summary, utf8, write};

/// Every file under `dir` with its size.
fn tree(dir: &Path) -> BTreeSet<(PathBuf, u64)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                out.insert((e.path(), meta.len()));
            }
        }
    }
    out
}

/// Units, users and projects of a store as text, in a fixed order.
fn content(data: &Path) -> String {
    [
        "select * from units order by cluster_id, uuid, started_at_ts",
        "select * from users order by cluster_id, name",
        "select * from projects order by cluster_id, name",
    ]
    .iter()
    .map(|q| ceems_lake_tests::lake_ok(data, &["sql", "--format", "ndjson", q]))
    .collect()
}

#[test]
fn importing_the_same_dumps_again_changes_nothing() {
    let dir = scratch("idempotent");
    let data = dir.path().join("lake");
    let header = real("slurm-xdmod-reference/xdmod-sacct.header");
    let dumps = [
        real("slurm-xdmod-reference/phillips.log.xz"),
        real("slurm-xdmod-reference/pozidriv.log.xz"),
    ];
    let files: Vec<&Path> = dumps.iter().map(PathBuf::as_path).collect();
    let args = |batch: &'static str| {
        vec![
            "--header-file",
            utf8(&header),
            "--time-zone",
            "America/New_York",
            "--batch-size",
            batch,
        ]
    };
    let first = summaries(&import_ok(&data, "sacct", &files, &args("5000")));
    let total = &first["all 2 files"];
    assert_eq!(total.inserted, 4285 + 11_704, "{first:?}");
    let version = store_version(&data);
    let before = content(&data);
    let files_before = tree(&data);

    for batch in ["5000", "3000"] {
        let again = summaries(&import_ok(&data, "sacct", &files, &args(batch)));
        for (name, rows) in [(utf8(&dumps[0]), 4285), (utf8(&dumps[1]), 11_704)] {
            let s = &again[name];
            assert_eq!(
                (s.read, s.inserted, s.replaced, s.unchanged),
                (rows, 0, 0, rows),
                "{name} (batch size {batch})"
            );
            assert!(
                s.store_unchanged,
                "{name}: should say the store is unchanged"
            );
        }
        assert_eq!(store_version(&data), version, "a version was published");
        assert!(tree(&data) == files_before, "files changed");
        assert!(content(&data) == before, "the store's content changed");
    }
}

/// A generated dump: `units` jobs with a few job steps, short lines and bad times among them.
struct Dump {
    text: String,
    data_lines: u64,
    /// uuid → (user, project, walltime).
    units: BTreeMap<u64, (String, String, f64)>,
    /// line → field of every line that must be listed in the rejects file.
    bad: BTreeMap<u64, &'static str>,
}

fn generate(jobs: u64) -> Dump {
    let mut text = String::from(
        "JobIDRaw|Cluster|Partition|Account|User|Submit|Start|End|State|AllocTRES|NodeList\n",
    );
    let mut units = BTreeMap::new();
    let mut bad = BTreeMap::new();
    let t = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .expect("valid time")
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string()
    };
    let mut line = 1;
    for i in 0..jobs {
        line += 1;
        let id = 500_000 + i;
        let start = 1_700_000_000 + i as i64 * 37;
        let e = (i as i64 * 7919) % 20_000;
        let (user, account) = (format!("u{}", i % 13), format!("acc{}", i % 5));
        let good = format!(
            "{id}|gen|p{}|{account}|{user}|{}|{}|{}|COMPLETED|cpu={},mem={}G,node=1|n[{}-{}]",
            i % 3,
            t(start - 60),
            t(start),
            t(start + e),
            1 + i % 16,
            1 + i % 64,
            i % 10,
            i % 10 + 1
        );
        if i % 1000 == 999 {
            text.push_str(&format!(
                "{id}.batch|gen|p0|{account}|{user}||||RUNNING||\n"
            ));
            bad.insert(line, "jobidraw");
        } else if i % 1500 == 777 {
            text.push_str(&format!("{id}|gen|p0|{account}\n"));
            bad.insert(line, "(line)");
        } else if i % 2100 == 1000 {
            text.push_str(&good.replacen(&t(start - 60), "2023-13-01T00:00:00", 1));
            text.push('\n');
            bad.insert(line, "submit");
        } else {
            text.push_str(&good);
            text.push('\n');
            units.insert(id, (user, account, e as f64));
        }
    }
    Dump {
        text,
        data_lines: jobs,
        units,
        bad,
    }
}

/// Checks the store holds the units of a prefix of the dump, each once; returns how many.
fn check_prefix(data: &Path, dump: &Dump, ctx: &str) -> u64 {
    let rows = sql_ndjson(
        data,
        "select uuid, username, project, total_time_seconds['walltime'] as wt from units",
    );
    let mut stored = BTreeSet::new();
    for r in &rows {
        let id: u64 = r["uuid"].as_str().unwrap().parse().unwrap();
        let want = dump
            .units
            .get(&id)
            .unwrap_or_else(|| panic!("{ctx}: unit {id} is not a unit of the dump"));
        assert_eq!(
            (
                r["username"].as_str().unwrap(),
                r["project"].as_str().unwrap(),
                r["wt"].as_f64().unwrap()
            ),
            (want.0.as_str(), want.1.as_str(), want.2),
            "{ctx}: unit {id}"
        );
        assert!(stored.insert(id), "{ctx}: unit {id} stored twice");
    }
    if let Some(max) = stored.last() {
        let prefix = dump.units.range(..=max).count();
        assert_eq!(stored.len(), prefix, "{ctx}: not a prefix of the dump");
    }
    let counts = sql_csv(
        data,
        "select count(*), count(distinct uuid || '/' || cluster_id) from units",
    );
    let n = rows.len().to_string();
    assert_eq!(counts, vec![vec![n.clone(), n]], "{ctx}: duplicates");
    rows.len() as u64
}

fn spawn(data: &Path, file: &Path, rejects: &Path, batch: &str) -> std::process::Child {
    Command::new(bin())
        .arg("--data")
        .arg(data)
        .args(["import", "sacct"])
        .arg(file)
        .args(["--time-zone", "UTC", "--no-progress", "--batch-size", batch])
        .arg("--rejects")
        .arg(rejects)
        .env_remove("CEEMS_LAKE_DATA")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn import")
}

/// Waits `ms` milliseconds.
// Plain threads, no async runtime here: sleeping blocks nobody.
#[allow(clippy::disallowed_methods)]
fn pause(ms: u64) {
    ceems_lake_tests::pause(Duration::from_millis(ms));
}

/// How many manifest versions the store has published.
fn manifests(data: &Path) -> usize {
    std::fs::read_dir(data.join("_manifest"))
        .map(|d| d.flatten().count())
        .unwrap_or(0)
}

/// The rejects file lists every bad line of the dump exactly once.
fn check_rejects(rejects: &Path, file: &Path, dump: &Dump, ctx: &str) {
    let got: Vec<(u64, String)> = read_rejects(rejects)
        .into_iter()
        .map(|r| {
            assert_eq!(r.file, utf8(file), "{ctx}");
            (r.line, r.field)
        })
        .collect();
    let want: Vec<(u64, String)> = dump.bad.iter().map(|(l, f)| (*l, f.to_string())).collect();
    assert_eq!(got, want, "{ctx}: rejects file");
}

#[test]
fn killed_imports_resume_without_duplicates_or_lost_rejects() {
    const BATCH: &str = "300";
    let dir = scratch("resume");
    let dump = generate(12_000);
    let file = dir.path().join("gen.sacct");
    write(&file, &dump.text);
    let bad_steps = dump.bad.values().filter(|f| **f == "jobidraw").count() as u64;

    // One uninterrupted import: the reference timing and the complete result.
    let rejects = dir.path().join("full.rejects");
    let started = Instant::now();
    let full = dir.path().join("full");
    let out = import_ok(
        &full,
        "sacct",
        &[&file],
        &[
            "--time-zone",
            "UTC",
            "--batch-size",
            BATCH,
            "--rejects",
            utf8(&rejects),
        ],
    );
    let full_ms = started.elapsed().as_millis() as u64;
    let s = summary(&out);
    assert_eq!(s.read, dump.data_lines);
    assert_eq!(s.inserted, dump.units.len() as u64);
    assert_eq!(s.skipped, bad_steps);
    assert_eq!(s.rejected + s.skipped, dump.bad.len() as u64);
    assert_eq!(
        check_prefix(&full, &dump, "uninterrupted"),
        dump.units.len() as u64
    );
    check_rejects(&rejects, &file, &dump, "uninterrupted");

    // Killed at random moments, then finished.
    let data = dir.path().join("lake");
    let mut rng = StdRng::seed_from_u64(0x0bac_f111);
    let mut previous = 0;
    for round in 0..3 {
        let delay = rng.random_range(100..=(full_ms * 8 / 10).max(150));
        let mut child = spawn(&data, &file, &dir.path().join("r.rejects"), BATCH);
        pause(delay);
        let running = child.try_wait().expect("poll").is_none();
        child.kill().ok();
        let status = child.wait().expect("wait");
        assert!(running || status.success(), "round {round}: {status}");
        let n = check_prefix(&data, &dump, &format!("round {round} ({delay} ms)"));
        assert!(n >= previous, "round {round}: units disappeared");
        previous = n;
    }
    import_ok(
        &data,
        "sacct",
        &[&file],
        &["--time-zone", "UTC", "--batch-size", BATCH],
    );
    assert_eq!(
        check_prefix(&data, &dump, "after the random kills"),
        dump.units.len() as u64
    );

    // Killed once some batches are committed (not all), then resumed: every line is counted
    // once, and the rejects of the part committed before the kill are still listed.
    let data = dir.path().join("resumed");
    let mut child = spawn(&data, &file, &dir.path().join("killed.rejects"), BATCH);
    let deadline = Instant::now() + Duration::from_secs(120);
    while manifests(&data) < 4 {
        assert!(
            child.try_wait().expect("poll").is_none(),
            "finished too soon"
        );
        assert!(Instant::now() < deadline, "no commit within 120 s");
        pause(5);
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let committed = check_prefix(&data, &dump, "killed");
    assert!(
        committed > 0 && committed < dump.units.len() as u64,
        "the kill should leave a partial import ({committed} units)"
    );
    let rejects = dir.path().join("resumed.rejects");
    let out = import(
        &data,
        "sacct",
        &[&file],
        &[
            "--time-zone",
            "UTC",
            "--batch-size",
            BATCH,
            "--rejects",
            utf8(&rejects),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let s = summary(&String::from_utf8_lossy(&out.stdout));
    assert!(s.resumed > 0, "the re-run should resume: {s:?}");
    assert_eq!(s.read + s.resumed, dump.data_lines, "{s:?}");
    assert_eq!(s.inserted, dump.units.len() as u64 - committed, "{s:?}");
    assert_eq!(
        (s.rejected + s.skipped, s.skipped),
        (dump.bad.len() as u64, bad_steps),
        "rejects of the whole dump: {s:?}"
    );
    assert_eq!(
        check_prefix(&data, &dump, "resumed"),
        dump.units.len() as u64
    );
    check_rejects(&rejects, &file, &dump, "resumed");
    assert!(
        content(&data) == content(&full),
        "the resumed store differs from the uninterrupted one"
    );
}
