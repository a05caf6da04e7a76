//! OpenAPI document and Swagger UI tests.
//!
//! The document must cover every path and query parameter of the original's Swagger 2 document
//! (read from the shared reference at test time), and the Swagger UI page must render the
//! operations in a real browser (headless Chromium, Debian's `chromium` package: `make deps`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ceems_lake_tests::{Server, shared_dir};
use serde_json::Value;

fn reference() -> Value {
    let p = shared_dir().join("reference/ceems-swagger-1.0.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("reference document is JSON")
}

/// A server over an empty store (the document and the UI need no data).
fn start() -> (tempfile::TempDir, Server) {
    let data = tempfile::tempdir().expect("temp dir");
    let server = Server::start(data.path(), None, &[]);
    (data, server)
}

/// Expands `{name}` segments with the enum values of the matching path parameter:
/// `/usage/{mode}` → `/usage/current`, `/usage/global`.
fn expand(path: &str, params: &[Value]) -> Vec<String> {
    let mut out = vec![String::new()];
    for seg in path.split('/').skip(1) {
        let values: Vec<String> = match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let p = params
                    .iter()
                    .find(|p| p["in"] == "path" && p["name"] == name)
                    .unwrap_or_else(|| panic!("{path}: path parameter {name} not declared"));
                p["enum"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{path}: {name} has no enum to expand"))
                    .iter()
                    .map(|v| v.as_str().expect("string enum").to_string())
                    .collect()
            }
            None => vec![seg.to_string()],
        };
        out = out
            .iter()
            .flat_map(|prefix| values.iter().map(move |v| format!("{prefix}/{v}")))
            .collect();
    }
    out
}

#[test]
fn document_covers_every_reference_path_and_parameter() {
    let reference = reference();
    let base = reference["basePath"]
        .as_str()
        .expect("basePath")
        .trim_end_matches('/');
    let (_data, server) = start();
    let r = server.get("/swagger/doc.json", "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/json"),
        "content type {:?}",
        r.header("content-type")
    );
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3.0"),
        "not OpenAPI 3.0"
    );

    let mut problems = Vec::new();
    let mut checked = 0;
    for (path, item) in reference["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for concrete in expand(path, &params) {
                let full = format!("{base}{concrete}");
                let ours = &doc["paths"][&full][method];
                if !ours.is_object() {
                    problems.push(format!("{method} {full}: missing"));
                    continue;
                }
                checked += 1;
                let have: BTreeSet<(String, String)> = ours["parameters"]
                    .as_array()
                    .map(|a| a.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .map(|p| {
                        (
                            p["in"].as_str().unwrap_or("").to_string(),
                            p["name"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                for p in params.iter().filter(|p| p["in"] != "path") {
                    let key = (
                        p["in"].as_str().unwrap().to_string(),
                        p["name"].as_str().unwrap().to_string(),
                    );
                    if !have.contains(&key) {
                        problems.push(format!(
                            "{method} {full}: {} parameter {} missing",
                            key.0, key.1
                        ));
                        continue;
                    }
                    // A list in the reference must stay a list (repeatable) in ours.
                    if p["type"] == "array" {
                        let mine = ours["parameters"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|q| q["in"] == key.0.as_str() && q["name"] == key.1.as_str())
                            .unwrap();
                        if mine["schema"]["type"] != "array" {
                            problems.push(format!("{method} {full}: {} is not an array", key.1));
                        }
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "document differs from the reference:\n{}",
        problems.join("\n")
    );
    assert!(checked >= 16, "only {checked} operations compared");

    // Every documented path is routed (no 404/405), whatever the caller may see.
    for path in doc["paths"].as_object().unwrap().keys() {
        let r = server.get(path, "admin");
        assert!(
            r.status != 404 && r.status != 405,
            "GET {path} answered {}",
            r.status
        );
    }
}

#[test]
fn swagger_redirects_and_assets() {
    let (_data, server) = start();
    for path in ["/swagger", "/swagger/"] {
        let r = server.get(path, "");
        assert!((300..400).contains(&r.status), "{path}: {}", r.status);
        assert!(
            r.header("location").unwrap_or("").ends_with("index.html"),
            "{path}: {:?}",
            r.headers
        );
    }
    let r = server.get("/swagger/index.html", "");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    let r = server.get("/swagger/swagger-ui-bundle.js", "");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .contains("javascript")
    );
    let r = server.get("/swagger/swagger-ui.css", "");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/css")
    );
}

/// Debian's Chromium: `/usr/bin/chromium`, else `chromium` on PATH.
fn chromium() -> PathBuf {
    let fixed = PathBuf::from("/usr/bin/chromium");
    if fixed.exists() {
        return fixed;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("chromium");
            if p.exists() {
                return p;
            }
        }
    }
    panic!(
        "chromium is not installed, so the Swagger UI cannot be checked in a browser. Install it \
         with `make deps` (as root), or `sudo apt-get install -y --no-install-recommends chromium`."
    );
}

/// The DOM of `url` after its scripts ran (headless Chromium, virtual time 15 s).
fn rendered_dom(url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=15000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn chromium");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(180)) {
        Ok(out) => {
            let out = out.expect("wait for chromium");
            assert!(
                out.status.success(),
                "chromium failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("chromium did not finish within 180 s");
        }
    }
}

#[test]
fn swagger_ui_renders_the_operations_in_a_browser() {
    let (_data, server) = start();
    let doc = server.get("/swagger/doc.json", "").json();
    let dom = rendered_dom(&format!(
        "http://127.0.0.1:{}/swagger/index.html",
        server.port
    ));
    assert!(
        dom.contains("id=\"swagger-ui\""),
        "no swagger-ui root:\n{dom}"
    );
    assert!(
        !dom.contains("Failed to load API definition"),
        "Swagger UI could not load doc.json:\n{dom}"
    );
    assert!(dom.contains("opblock"), "no operation rendered:\n{dom}");
    for path in doc["paths"].as_object().expect("paths").keys() {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "operation {path} not rendered:\n{dom}"
        );
    }
    let gets = dom.matches("opblock opblock-get").count();
    assert!(gets >= 18, "{gets} GET operations rendered");
}
