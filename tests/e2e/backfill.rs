//! Bulk backfill end-to-end tests: `import sacct|swf|ndjson|parquet` run by the real binary on
//! the real accounting logs under `../shared/data/real` and on small inputs written here, then
//! read back through `ceems-lake sql` and the HTTP API. Expected values come from the plain
//! parsers in this module (split on `|` or whitespace, loops and sums), never from the
//! importers' own output.

mod compressed;
mod estimate;
mod help;
mod real_logs;
mod rejects;
mod resume;
mod round_trip;
mod sacct_edge;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use ceems_lake_tests::{Server, bin, lake, shared_dir};
use serde_json::Value;

/// The servers' configuration: one configured admin and UTC as the data zone.
pub(crate) const CONFIG: &str = "\
ceems_api_server:
  data:
    time_zone: UTC
  admin:
    users: [adm1]
";

/// A window (Unix seconds) holding every unit of the test data: 1970 to 2100.
pub(crate) const ALL: &str = "from=0&to=4102444800";

/// A file of the real accounting logs.
pub(crate) fn real(rel: &str) -> PathBuf {
    let p = shared_dir().join("data/real").join(rel);
    assert!(p.exists(), "real log missing: {}", p.display());
    p
}

/// The text of an xz-compressed file (decompressed by the system's `xz`, which is optimised
/// even when the tests are not).
pub(crate) fn xz_text(path: &Path) -> String {
    let out = Command::new("xz")
        .arg("-dc")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("xz -dc {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "xz -dc {}: {}",
        path.display(),
        out.status
    );
    String::from_utf8(out.stdout).expect("utf-8 log")
}

pub(crate) fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

pub(crate) fn utf8(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `ceems-lake --data <data> import <kind> <files…> --no-progress <extra…>`.
pub(crate) fn import(data: &Path, kind: &str, files: &[&Path], extra: &[&str]) -> Output {
    let mut args = vec!["import", kind];
    args.extend(files.iter().map(|f| utf8(f)));
    args.push("--no-progress");
    args.extend_from_slice(extra);
    lake(data, &args)
}

/// Starts [`import`] in the background (the caller can compute its expectations meanwhile);
/// [`finish`] waits for it.
pub(crate) fn spawn_import(data: &Path, kind: &str, files: &[&Path], extra: &[&str]) -> Child {
    Command::new(bin())
        .arg("--data")
        .arg(data)
        .args(["import", kind])
        .args(files)
        .arg("--no-progress")
        .args(extra)
        .env_remove("CEEMS_LAKE_DATA")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceems-lake import")
}

/// Waits for a [`spawn_import`]; panics with its output when it failed; returns stdout.
pub(crate) fn finish(child: Child) -> String {
    let out = child.wait_with_output().expect("wait for the import");
    assert!(
        out.status.success(),
        "import failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Like [`import`], but panics with the output when the command fails; returns stdout.
pub(crate) fn import_ok(data: &Path, kind: &str, files: &[&Path], extra: &[&str]) -> String {
    let out = import(data, kind, files, extra);
    assert!(
        out.status.success(),
        "import {kind} {files:?} {extra:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// The closing summary of one imported file (or of all files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    pub read: u64,
    pub resumed: u64,
    pub inserted: u64,
    pub replaced: u64,
    pub unchanged: u64,
    pub rejected: u64,
    pub skipped: u64,
    /// "store unchanged" was printed.
    pub store_unchanged: bool,
}

/// The number after `label` at the start of a summary line.
fn count_after(line: &str, label: &str) -> Option<u64> {
    let rest = line.strip_prefix(label)?;
    let n: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(
        n.parse()
            .unwrap_or_else(|_| panic!("no count in summary line {line:?}")),
    )
}

/// Every summary of an import's standard output, by section: `""` for a single file, else the
/// file name of its `== FILE` heading (and `all N files` for the total).
pub(crate) fn summaries(stdout: &str) -> BTreeMap<String, Summary> {
    let mut out: BTreeMap<String, Summary> = BTreeMap::new();
    let mut section = String::new();
    for line in stdout.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            section = name.to_string();
            continue;
        }
        let s = out.entry(section.clone()).or_default();
        for (label, slot) in [
            ("rows read:", &mut s.read),
            ("rows resumed:", &mut s.resumed),
            ("units inserted:", &mut s.inserted),
            ("units replaced:", &mut s.replaced),
            ("units unchanged:", &mut s.unchanged),
            ("rows rejected:", &mut s.rejected),
            ("rows skipped:", &mut s.skipped),
        ] {
            if let Some(n) = count_after(line, label) {
                *slot = n;
            }
        }
        if line == "store unchanged" {
            s.store_unchanged = true;
        }
    }
    out
}

/// The summary of a single-file import.
pub(crate) fn summary(stdout: &str) -> Summary {
    let all = summaries(stdout);
    assert_eq!(all.len(), 1, "expected one summary:\n{stdout}");
    all.into_values().next().expect("one summary")
}

/// One line of a rejects file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Reject {
    /// The input file as named on the command line.
    pub file: String,
    /// Line number (row number for Parquet), counting from 1.
    pub line: u64,
    pub field: String,
    pub value: String,
    pub reason: String,
}

/// Reads a rejects file: a header line, then `location\tfield\tvalue\treason` with locations
/// `FILE line N` (or `FILE row N`).
pub(crate) fn read_rejects(path: &Path) -> Vec<Reject> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("location\tfield\tvalue\treason"),
        "header of {}",
        path.display()
    );
    lines
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 4, "rejects line {l:?} does not have 4 columns");
            let (file, n) = cols[0]
                .rsplit_once(" line ")
                .or_else(|| cols[0].rsplit_once(" row "))
                .unwrap_or_else(|| panic!("location {:?} has no line number", cols[0]));
            assert!(!cols[3].trim().is_empty(), "reject without a reason: {l:?}");
            Reject {
                file: file.to_string(),
                line: n
                    .parse()
                    .unwrap_or_else(|_| panic!("bad line number in {l:?}")),
                field: cols[1].to_string(),
                value: cols[2].to_string(),
                reason: cols[3].to_string(),
            }
        })
        .collect()
}

/// `GET path` as the configured admin; asserts a 200 success envelope and returns `data`.
pub(crate) fn admin_get(srv: &Server, path: &str) -> Vec<Value> {
    let r = srv.get(path, "adm1");
    assert_eq!(
        r.status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let v = r.json();
    assert_eq!(v["status"], "success", "GET {path}");
    v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("GET {path}: data is not an array"))
        .clone()
}

/// A string field of a JSON object ("" when absent).
pub(crate) fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// A number field of a JSON object.
pub(crate) fn f(v: &Value, k: &str) -> f64 {
    v.get(k)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{k} is not a number in {v}"))
}

/// A key of a metric map (or other object) of a JSON object.
pub(crate) fn key(v: &Value, map: &str, k: &str) -> f64 {
    v.get(map)
        .and_then(|m| m.get(k))
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{map}.{k} is not a number in {v}"))
}

/// Epoch milliseconds of a UTC date and time.
pub(crate) fn utc_ms(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, mo, d)
        .and_then(|date| date.and_hms_opt(h, mi, s))
        .expect("valid date")
        .and_utc()
        .timestamp_millis()
}

/// Whether two floats agree to 1e-9 relative, or 1e-8 absolute (the API renders numbers with
/// at most 8 decimals).
pub(crate) fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-8_f64.max(1e-9 * a.abs().max(b.abs()))
}

/// A fresh folder under cargo's scratch space for this test process.
pub(crate) fn scratch(name: &str) -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-backfill");
    std::fs::create_dir_all(&root).expect("scratch root");
    tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(root)
        .expect("scratch folder")
}

/// Asserts two JSON values are equal, numbers compared as f64 (so `3600` equals `3600.0`) and
/// objects regardless of key order.
#[track_caller]
pub(crate) fn assert_json(actual: &Value, expected: &Value, ctx: &str) {
    fn walk(a: &Value, e: &Value, path: &str, out: &mut Vec<String>) {
        match (a, e) {
            (Value::Number(x), Value::Number(y)) => {
                if x.as_f64() != y.as_f64() {
                    out.push(format!("{path}: {x} != {y}"));
                }
            }
            (Value::Object(x), Value::Object(y)) => {
                for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                    match (x.get(k), y.get(k)) {
                        (Some(p), Some(q)) => walk(p, q, &format!("{path}.{k}"), out),
                        (p, q) => out.push(format!("{path}.{k}: {p:?} != {q:?}")),
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(p, q, &format!("{path}[{i}]"), out);
                }
            }
            _ => {
                if a != e {
                    out.push(format!("{path}: {a} != {e}"));
                }
            }
        }
    }
    let mut diffs = Vec::new();
    walk(actual, expected, "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "{ctx}: got (left) differs from expected (right):\n  {}",
        diffs.join("\n  ")
    );
}
