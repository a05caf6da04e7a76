//! HTTP API end-to-end tests.
//!
//! Expected answers come from [`model`], an independent reference model over the same SQLite
//! file the store was imported from. Each test function starts one server and runs a list of
//! named checks against it ([`Suite`]), so a failing check does not hide the others and no
//! server outlives its test. Stores are imported once per test binary.

mod cache;
mod edge;
mod hardening;
mod http;
mod model;
mod projects_users;
mod refresh;
mod stats_clusters;
mod units;
mod usage;
mod verify;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ceems_lake_tests::{Response, Server, import_reference, lake_ok, reference_db};

use model::Model;

/// The API prefix with the default route prefix.
pub(crate) const P: &str = "/api/v1";

/// The servers' configuration: the reference data's zone, one configured admin, and a fast
/// store refresh.
pub(crate) const CONFIG: &str = "\
ceems_api_server:
  data:
    time_zone: Europe/Paris
  admin:
    users: [adm1]
ceems_lake:
  refresh_interval: 1s
";

/// A folder for this test process under cargo's scratch space; folders left by test processes
/// that no longer run are removed first.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-api");
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries.flatten() {
            let file_name = e.file_name();
            let pid = file_name
                .to_string_lossy()
                .split('-')
                .next()
                .unwrap_or("")
                .to_string();
            let alive = Path::new("/proc").join(&pid).exists() || !Path::new("/proc/self").exists();
            if pid != std::process::id().to_string() && !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = root.join(format!("{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// The reference database imported into a store (once per test binary).
pub(crate) fn reference_store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = scratch("reference");
        import_reference(&dir);
        dir
    })
}

/// The reference model of the reference database.
pub(crate) fn reference_model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::load(&reference_db()))
}

/// A server on the reference store with [`CONFIG`].
pub(crate) fn reference_server(extra: &[&str]) -> Server {
    Server::start(reference_store(), Some(CONFIG), extra)
}

/// The edge-case database ([`edge::build_db`]) and its store.
pub(crate) fn edge_fixture() -> &'static (PathBuf, PathBuf, Model) {
    static EDGE: OnceLock<(PathBuf, PathBuf, Model)> = OnceLock::new();
    EDGE.get_or_init(|| {
        let dir = scratch("edge");
        let db = dir.join("edge.db");
        edge::build_db(&reference_db(), &db);
        let store = dir.join("store");
        std::fs::create_dir_all(&store).expect("store folder");
        import_db(&store, &db);
        let model = Model::load(&db);
        (db, store, model)
    })
}

/// Imports a CEEMS SQLite file (offset-less times in Europe/Paris).
pub(crate) fn import_db(store: &Path, db: &Path) {
    lake_ok(
        store,
        &[
            "import",
            "ceems-sqlite",
            db.to_str().expect("utf-8 path"),
            "--time-zone",
            "Europe/Paris",
            "--no-progress",
        ],
    );
}

/// Named checks against one server; failures are collected and reported together.
pub(crate) struct Suite {
    name: &'static str,
    failures: Vec<String>,
    passed: usize,
}

impl Suite {
    pub(crate) fn new(name: &'static str) -> Suite {
        Suite {
            name,
            failures: Vec::new(),
            passed: 0,
        }
    }

    /// Runs one check, recording a panic as a failure.
    pub(crate) fn check(&mut self, what: &str, f: impl FnOnce()) {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(()) => self.passed += 1,
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                self.failures.push(format!("  ✗ {what}: {msg}"));
            }
        }
    }

    /// Panics listing every failed check.
    pub(crate) fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} checks failed:\n{}",
            self.name,
            self.failures.len(),
            self.failures.len() + self.passed,
            self.failures.join("\n")
        );
    }
}

/// Where two texts first differ, with context.
pub(crate) fn first_difference(actual: &str, expected: &str) -> Option<String> {
    if actual == expected {
        return None;
    }
    let at = actual
        .bytes()
        .zip(expected.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let ctx = |s: &str| {
        let lo = s.floor_char_boundary(at.saturating_sub(120));
        let hi = s.ceil_char_boundary((at + 120).min(s.len()));
        s[lo..hi].to_string()
    };
    Some(format!(
        "bodies differ at byte {at} (lengths {} vs {}):\n   got: …{}…\n  want: …{}…",
        actual.len(),
        expected.len(),
        ctx(actual),
        ctx(expected)
    ))
}

/// Asserts status and exact body text.
#[track_caller]
pub(crate) fn expect(r: &Response, status: u16, body: &str) {
    let text = String::from_utf8_lossy(&r.body).to_string();
    assert_eq!(r.status, status, "status (body {text:?})");
    if let Some(d) = first_difference(&text, body) {
        panic!("{d}");
    }
}

/// Asserts a success envelope with exactly these rows.
#[track_caller]
pub(crate) fn expect_rows(r: &Response, rows: Vec<model::J>) {
    expect(r, 200, &model::success(rows));
}

/// Asserts an error envelope.
#[track_caller]
pub(crate) fn expect_error(r: &Response, status: u16, kind: &str, message: &str) {
    expect(r, status, &model::error(kind, message));
}

/// Percent-encodes a query value.
pub(crate) fn enc(v: &str) -> String {
    let mut s = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}
