//! Helpers for the end-to-end tests: find the binary and the shared reference data, run
//! commands, spawn a server on a free port and talk raw HTTP/1.1 to it (so tests see the exact
//! bytes, headers and status lines a client sees).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `ceems-lake` binary under test: `$CEEMS_LAKE_BIN`, else the one cargo built next to the
/// test executable.
pub fn bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CEEMS_LAKE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-<hash> → target/<profile>/ceems-lake
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let p = dir.join("ceems-lake");
    assert!(
        p.exists(),
        "{} does not exist: run `cargo build -p ceems-lake-api --bin ceems-lake` first (make test does)",
        p.display()
    );
    p
}

/// The folder of shared reference material (`$CEEMS_LAKE_SHARED`, else `../shared` next to the
/// repository).
pub fn shared_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("CEEMS_LAKE_SHARED") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// The original's test database.
pub fn reference_db() -> PathBuf {
    let p = shared_dir().join("reference/ceems-testdata-80d8453.db");
    assert!(p.exists(), "reference database missing: {}", p.display());
    p
}

/// Runs `ceems-lake --data <data> <args…>` and returns its output (never panics on failure).
pub fn lake(data: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("CEEMS_LAKE_DATA")
        .env("NO_COLOR", "1")
        .output()
        .expect("spawn ceems-lake")
}

/// Like [`lake`], but panics with stdout/stderr when the command fails; returns stdout.
pub fn lake_ok(data: &Path, args: &[&str]) -> String {
    let out = lake(data, args);
    assert!(
        out.status.success(),
        "ceems-lake {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// `ceems-lake vacuum` with no grace period (`--min-age-seconds 0 --force`): what a test that
/// owns its store runs to delete everything no kept version references. `extra` adds options
/// such as `--keep-versions 1`.
pub fn vacuum_now(data: &Path, extra: &[&str]) -> String {
    let mut args = vec!["vacuum", "--min-age-seconds", "0", "--force"];
    args.extend_from_slice(extra);
    lake_ok(data, &args)
}

/// Imports the reference database into `data` (times without offset read in Europe/Paris).
pub fn import_reference(data: &Path) {
    let db = reference_db();
    lake_ok(
        data,
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

/// `ceems-lake sql --format csv` → rows of fields (header line dropped). Values are not
/// quoted-aware beyond simple CSV (fine for the ids and numbers tests query).
pub fn sql_csv(data: &Path, query: &str) -> Vec<Vec<String>> {
    let out = lake_ok(data, &["sql", "--format", "csv", query]);
    out.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `ceems-lake serve`, killed when dropped.
pub struct Server {
    pub port: u16,
    child: Child,
    _config: Option<tempfile::NamedTempFile>,
}

impl Server {
    /// Starts `ceems-lake --data <data> serve --web.listen-address 127.0.0.1:<port>` with the
    /// given YAML config (if any) and extra flags, and waits until `/health` answers.
    pub fn start(data: &Path, config_yaml: Option<&str>, extra: &[&str]) -> Server {
        let port = free_port();
        let config = config_yaml.map(|y| {
            let mut f = tempfile::Builder::new()
                .suffix(".yml")
                .tempfile()
                .expect("config file");
            f.write_all(y.as_bytes()).expect("write config");
            f
        });
        let mut cmd = Command::new(bin());
        cmd.arg("--data")
            .arg(data)
            .arg("serve")
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"))
            .env_remove("CEEMS_LAKE_DATA")
            .stdout(Stdio::null())
            // The server's log only when asked for (CEEMS_LAKE_TEST_SERVER_LOG=1): it would
            // interleave with every test's output.
            .stderr(
                if std::env::var_os("CEEMS_LAKE_TEST_SERVER_LOG").is_some() {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                },
            );
        if let Some(f) = &config {
            cmd.arg("--config.file").arg(f.path());
        }
        cmd.args(extra);
        let child = cmd.spawn().expect("spawn ceems-lake serve");
        let mut server = Server {
            port,
            child,
            _config: config,
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll server") {
                panic!("server exited before answering: {status}");
            }
            if let Ok(r) = try_request(self.port, "GET", "/health", &[]) {
                // Any HTTP answer means the listener is up (basic auth may make it 401).
                let _ = r;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server did not answer /health within 60 s"
            );
            pause(Duration::from_millis(50));
        }
    }

    /// `GET path` with `X-Grafana-User: user` (none when `user` is empty) and a User-Agent.
    pub fn get(&self, path: &str, user: &str) -> Response {
        let mut h = vec![("User-Agent", "ceems-lake-tests")];
        if !user.is_empty() {
            h.push(("X-Grafana-User", user));
        }
        self.request("GET", path, &h)
    }

    /// Any request with exactly these headers (plus Host and Connection: close).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.port, method, path, headers)
    }

    /// Sends SIGTERM and waits for the process; returns whether it exited successfully.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().expect("wait server") {
                return s.success();
            }
            if Instant::now() > deadline {
                return false;
            }
            pause(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response as received.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in received order.
    pub headers: Vec<(String, String)>,
    /// The body after de-chunking (not decompressed).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }

    /// The body parsed as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One request over a fresh connection; panics on I/O errors.
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    try_request(port, method, path, headers).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// One request over a fresh connection.
pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD").ok_or_else(|| {
        std::io::Error::other(format!(
            "malformed response: {:?}",
            String::from_utf8_lossy(&raw)
        ))
    })
}

fn parse_response(raw: &[u8], head: bool) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head_text = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Sleeps the calling thread. The tests are plain threads talking to a child process, not async
/// code, so the workspace ban on `std::thread::sleep` (it would stall a runtime) does not apply.
#[allow(
    clippy::disallowed_methods,
    reason = "synchronous test code outside any async runtime"
)]
pub fn pause(d: Duration) {
    std::thread::sleep(d);
}

/// `ceems-lake sql --format ndjson` → one JSON value per result row.
pub fn sql_ndjson(data: &Path, query: &str) -> Vec<serde_json::Value> {
    let out = lake_ok(data, &["sql", "--format", "ndjson", query]);
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// The manifest version `ceems-lake info` reports (0 for an empty store).
pub fn store_version(data: &Path) -> u64 {
    let out = lake_ok(data, &["info"]);
    out.lines()
        .find_map(|l| l.strip_prefix("version:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no version line in `info` output:\n{out}"))
}

/// Imports an original CEEMS database file into `data` (times without offset read in
/// Europe/Paris) with extra flags; returns the command's output (success not checked).
pub fn import_ceems(data: &Path, file: &Path, extra: &[&str]) -> Output {
    let file = file.to_str().expect("utf-8 path");
    let mut args = vec![
        "import",
        "ceems-sqlite",
        file,
        "--time-zone",
        "Europe/Paris",
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    lake(data, &args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chunked_and_plain_responses() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let r = parse_response(raw, false).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"abcde");
        assert_eq!(r.header("x-a"), Some("b"));
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno\n";
        let r = parse_response(raw, false).unwrap();
        assert_eq!((r.status, r.text().as_str()), (404, "no\n"));
    }
}
