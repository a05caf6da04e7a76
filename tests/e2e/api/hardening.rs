//! The server under hostile or unusual conditions: slow and idle clients, a connection flood,
//! large answers streamed batch by batch (and cut off visibly), parameters at the limits of
//! 64-bit integers, non-ASCII identities, failing stores, and a few header details (`Expires`,
//! `Allow`, `timezone=Local`).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ceems_lake_tests::{bin, free_port, lake_ok, pause, reference_db, sql_csv, try_request};

use super::model::{Model, UnitsQuery, unit_json};
use super::{
    CONFIG, P, Suite, expect, expect_error, expect_rows, import_db, reference_model,
    reference_server, reference_store, scratch,
};

const EMPTY: &str = "{\"status\":\"success\",\"data\":[]}\n";
const ALL: (i64, i64) = (1_600_000_000, 1_800_000_000);

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    s
}

/// Reads until the server closes the connection; panics when it is still open after 10 s.
/// Returns what was read.
#[track_caller]
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return out,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server kept the connection open for 10 s")
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Reads one response with a `Content-Length` from a keep-alive connection; returns its status.
fn read_one_response(s: &mut TcpStream) -> u16 {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("response head");
        assert!(n == 1, "connection closed inside a response head");
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).expect("utf-8 head");
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .expect("content-length");
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).expect("response body");
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status")
}

/// A server started with extra environment variables and its log kept in a file.
struct Spawned {
    port: u16,
    child: Child,
    log: PathBuf,
}

impl Spawned {
    fn start(
        dir: &Path,
        store: &Path,
        config: &str,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> Spawned {
        let port = free_port();
        let config_file = dir.join(format!("config-{port}.yml"));
        std::fs::write(&config_file, config).expect("config file");
        let log = dir.join(format!("server-{port}.log"));
        let mut cmd = Command::new(bin());
        cmd.arg("--data")
            .arg(store)
            .arg("serve")
            .arg("--config.file")
            .arg(&config_file)
            .arg("--web.listen-address")
            .arg(format!("127.0.0.1:{port}"))
            .args(flags)
            .env_remove("CEEMS_LAKE_DATA")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut s = Spawned {
            port,
            child: cmd.spawn().expect("spawn ceems-lake serve"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while try_request(port, "GET", "/health", &[]).is_err() {
            if let Some(status) = s.child.try_wait().expect("poll server") {
                panic!("server exited: {status}\n{}", s.log());
            }
            assert!(Instant::now() < deadline, "server did not start");
            pause(Duration::from_millis(50));
        }
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str, user: &str) -> ceems_lake_tests::Response {
        ceems_lake_tests::request(
            self.port,
            "GET",
            path,
            &[("User-Agent", "ceems-lake-tests"), ("X-Grafana-User", user)],
        )
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn slow_and_idle_clients() {
    let srv = reference_server(&["--web.idle-timeout", "1s"]);
    let port = srv.port;
    let mut s = Suite::new("slow and idle clients");

    s.check(
        "partial request heads are dropped after 2 s; /health answers meanwhile",
        || {
            let mut quiet: Vec<TcpStream> = (0..50)
                .map(|_| {
                    let mut c = connect(port);
                    c.write_all(b"GET /api/v1/users HTTP/1.1\r\nHost: x\r\n")
                        .expect("partial head");
                    c
                })
                .collect();
            let r = srv.request("GET", "/health", &[]);
            assert_eq!(
                (r.status, r.text().as_str()),
                (200, "CEEMS API Server is healthy")
            );
            for c in &mut quiet {
                assert!(
                    read_until_closed(c).is_empty(),
                    "no answer to a partial head"
                );
            }
        },
    );
    s.check("a head trickled byte by byte is cut off", || {
        let mut c = connect(port);
        let mut w = c.try_clone().expect("clone socket");
        let writer = std::thread::spawn(move || {
            // 40 bytes over 8 s, never a complete head.
            for b in b"GET /health HTTP/1.1\r\nX-Slow: abcdefghijk".iter() {
                if w.write_all(&[*b]).is_err() {
                    return;
                }
                pause(Duration::from_millis(200));
            }
        });
        assert!(read_until_closed(&mut c).is_empty());
        writer.join().expect("writer");
    });
    s.check(
        "keep-alive: requests in a row are served, then the idle connection is closed",
        || {
            let mut c = connect(port);
            for _ in 0..2 {
                c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    .expect("request");
                assert_eq!(read_one_response(&mut c), 200);
            }
            assert!(read_until_closed(&mut c).is_empty());
        },
    );
    s.finish();
}

#[test]
fn connection_cap() {
    let srv = reference_server(&["--web.max-connections", "2"]);
    let port = srv.port;
    let mut s = Suite::new("connection cap");
    s.check(
        "beyond the cap a client waits until a connection closes",
        || {
            let mut held: Vec<TcpStream> = (0..2)
                .map(|_| {
                    let mut c = connect(port);
                    c.write_all(b"GET /health HTTP/1.1\r\n")
                        .expect("partial head");
                    c
                })
                .collect();
            let mut third = connect(port);
            third
                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .expect("request");
            // Both permits are held for the 2 s header timeout: no answer yet.
            third
                .set_read_timeout(Some(Duration::from_secs(1)))
                .expect("read timeout");
            let mut buf = [0u8; 64];
            match third.read(&mut buf) {
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                other => panic!("answered beyond the cap: {other:?}"),
            }
            third
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("read timeout");
            let answer = read_until_closed(&mut third);
            assert!(
                answer.starts_with(b"HTTP/1.1 200 OK"),
                "{}",
                String::from_utf8_lossy(&answer)
            );
            // It was answered because the quiet connections were closed.
            for c in &mut held {
                assert!(read_until_closed(c).is_empty());
            }
        },
    );
    s.finish();
}

/// A generated store of 10 000 units (more than one 8192-row batch).
fn generated_store() -> PathBuf {
    let dir = scratch("hardening-generated");
    lake_ok(
        &dir,
        &[
            "generate",
            "--units",
            "10000",
            "--clusters",
            "3",
            "--seed",
            "11",
            "--end",
            "2025-06-01",
            "--years",
            "1",
        ],
    );
    dir
}

#[test]
fn streamed_units() {
    let store = generated_store();
    let srv = ceems_lake_tests::Server::start(&store, Some(CONFIG), &[]);
    let short =
        ceems_lake_tests::Server::start(&store, Some(CONFIG), &["--web.request-timeout", "8s"]);
    let mut s = Suite::new("streamed units");
    let path = format!("{P}/units/admin?from=0&to=2000000000&running");

    s.check(
        "many batches: every unit once, in order, chunked; gzip decodes to the same bytes",
        || {
            let want = sql_csv(
                &store,
                "select cluster_id, uuid from units where not ignore order by cluster_id, uuid",
            );
            assert!(want.len() > 8192, "{} units", want.len());
            let r = srv.get(&path, "adm1");
            assert_eq!(r.status, 200);
            assert_eq!(r.header("transfer-encoding"), Some("chunked"));
            assert_eq!(r.header("content-length"), None);
            let t = r.text();
            assert!(t.ends_with("}]}\n") && t.matches('\n').count() == 1);
            let j = r.json();
            let got: Vec<Vec<String>> = j["data"]
                .as_array()
                .expect("data array")
                .iter()
                .map(|u| {
                    vec![
                        u["cluster_id"].as_str().expect("cluster").to_string(),
                        u["uuid"].as_str().expect("uuid").to_string(),
                    ]
                })
                .collect();
            assert_eq!(got.len(), want.len());
            assert!(got == want, "units differ from the store's");
            let gz = srv.request(
                "GET",
                &path,
                &[
                    ("User-Agent", "t"),
                    ("X-Grafana-User", "adm1"),
                    ("Accept-Encoding", "gzip"),
                ],
            );
            assert_eq!(gz.header("content-encoding"), Some("gzip"));
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&gz.body[..])
                .read_to_end(&mut out)
                .expect("gzip body");
            assert!(out == r.body, "gzip body differs");
        },
    );
    s.check("an empty list is one small complete answer", || {
        let r = srv.get(&format!("{P}/units/admin?from=0&to=1"), "adm1");
        expect(&r, 200, EMPTY);
        assert_eq!(r.header("content-length"), Some("31"));
    });
    s.check(
        "a client that stops reading loses the connection after the request timeout; the body is visibly cut",
        || {
            let mut c = connect(short.port);
            c.write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nX-Grafana-User: adm1\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .expect("request");
            let mut head = [0u8; 15];
            c.read_exact(&mut head).expect("status line");
            assert_eq!(&head, b"HTTP/1.1 200 OK");
            // 8 s timeout + 5 s grace to deliver: stop reading for longer.
            pause(Duration::from_secs(16));
            let rest = read_until_closed(&mut c);
            assert!(
                !rest.ends_with(b"\r\n0\r\n\r\n"),
                "the chunked body was completed ({} bytes) although the client stalled",
                rest.len()
            );
            assert!(!rest.ends_with(b"}]}\n"), "a complete-looking document");
        },
    );
    s.finish();
}

#[test]
fn extreme_parameters() {
    let srv = reference_server(&[]);
    let m = reference_model();
    let mut s = Suite::new("extreme parameters");
    let malformed = |key: &str| format!("query parameter '{key}': malformed timestamp");
    s.check(
        "bounds whose milliseconds overflow 64 bits → 400 naming the parameter",
        || {
            for (path, user, key) in [
                ("units?from=-9223372036854775808", "usr1", "from"),
                ("units/admin?to=-9223372036854775807", "adm1", "to"),
                ("units?from=-9223372036854775001", "usr1", "from"),
                (
                    "units/admin?from=-9223372036854775808&to=9223372036854775807",
                    "adm1",
                    "from",
                ),
                ("usage/current?to=9223372036854775807", "usr1", "to"),
                (
                    "usage/current/admin?from=-9223372036854775808",
                    "adm1",
                    "from",
                ),
                (
                    "stats/current/admin?from=-9223372036854775808",
                    "adm1",
                    "from",
                ),
                ("stats/current/admin?to=-9223372036854775808", "adm1", "to"),
            ] {
                let r = srv.get(&format!("{P}/{path}"), user);
                expect_error(&r, 400, "bad_data", &malformed(key));
            }
        },
    );
    s.check(
        "the largest bounds that fit are windows like any other",
        || {
            // 9223372036854775807 ms is 9223372036854775 s: far beyond every unit.
            let r = srv.get(&format!("{P}/units?to=9223372036854775807"), "usr1");
            expect(&r, 200, EMPTY);
            // From the earliest second whose milliseconds fit: every ended unit of usr1.
            let r = srv.get(
                &format!("{P}/units?from=-9223372036854775000&to={}", ALL.1),
                "usr1",
            );
            let q = UnitsQuery {
                own: Some("usr1".into()),
                window: Some((i64::MIN / 1000, ALL.1)),
                ..Default::default()
            };
            let rows: Vec<_> = m
                .units(&q)
                .iter()
                .map(|u| unit_json(u, None, None))
                .collect();
            assert!(!rows.is_empty());
            expect_rows(&r, rows);
        },
    );
    s.check(
        "verify: extreme times narrow the window without overflowing",
        || {
            // usr1's unit 1479763 on slurm-0 started at 1645450627000 ms.
            let base = format!("{P}/units/verify?uuid=1479763&cluster_id=slurm-0");
            let r = srv.get(&format!("{base}&time=9223372036854775807"), "usr1");
            expect_error(
                &r,
                403,
                "forbidden",
                "user do not have permissions on uuids",
            );
            let r = srv.get(&format!("{base}&time=-9223372036854775808"), "usr1");
            expect_error(
                &r,
                403,
                "forbidden",
                "user do not have permissions on uuids",
            );
            let r = srv.get(
                &format!("{base}&time=1645450627000&time=9223372036854775807"),
                "usr1",
            );
            expect(&r, 200, "{\"status\":\"success\",\"data\":null}\n");
            let r = srv.get(
                &format!("{base}&time=-9223372036854775808&time=1645450627000"),
                "usr1",
            );
            expect(&r, 200, "{\"status\":\"success\",\"data\":null}\n");
        },
    );
    s.check("405 names the methods that work", || {
        for method in ["POST", "HEAD", "DELETE"] {
            let r = srv.request(method, &format!("{P}/units"), &[("Content-Length", "0")]);
            assert_eq!(r.status, 405, "{method}");
            assert_eq!(r.header("allow"), Some("GET, OPTIONS"), "{method}");
        }
        let r = srv.request("OPTIONS", &format!("{P}/units"), &[]);
        assert_eq!(r.status, 200);
    });
    s.finish();
}

/// The reference database with usr2's units and memberships renamed to `usré`.
fn accented_db(dir: &Path) -> PathBuf {
    let db = dir.join("accented.db");
    std::fs::copy(reference_db(), &db).expect("copy db");
    let c = rusqlite::Connection::open(&db).expect("open db");
    c.execute(
        "update units set username = 'usré' where username = 'usr2'",
        [],
    )
    .expect("rename units");
    c.execute(
        "update projects set users = replace(users, '\"usr2\"', '\"usré\"')",
        [],
    )
    .expect("rename members");
    db
}

#[test]
fn identities_failures_and_zones() {
    let dir = scratch("hardening-misc");
    let db = accented_db(&dir);
    let store = dir.join("store");
    std::fs::create_dir_all(&store).expect("store folder");
    import_db(&store, &db);
    let model = Model::load(&db);
    let mut s = Suite::new("identities, failures and zones");

    let srv = Spawned::start(&dir, &store, CONFIG, &[], &[]);
    s.check("a UTF-8 identity is taken as sent", || {
        let q = UnitsQuery {
            own: Some("usré".into()),
            window: Some(ALL),
            ..Default::default()
        };
        let rows: Vec<_> = model
            .units(&q)
            .iter()
            .map(|u| unit_json(u, None, None))
            .collect();
        assert!(!rows.is_empty());
        expect_rows(
            &srv.get(&format!("{P}/units?from={}&to={}", ALL.0, ALL.1), "usré"),
            rows,
        );
    });
    s.check(
        "other bytes in the identity are decoded lossily, not refused",
        || {
            let mut c = connect(srv.port);
            let mut req = format!("GET {P}/units HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\nConnection: close\r\nX-Grafana-User: usr")
                .into_bytes();
            req.extend_from_slice(b"\xe9\r\n\r\n");
            c.write_all(&req).expect("request");
            let raw = read_until_closed(&mut c);
            let text = String::from_utf8_lossy(&raw);
            assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
            assert!(text.ends_with(EMPTY), "{text}");
        },
    );
    s.check("timezone=Local is the server's zone", || {
        let q = UnitsQuery {
            window: Some(ALL),
            running: true,
            ..Default::default()
        };
        let units = model.units(&q);
        // A fixed UTC−3 zone given as a POSIX TZ rule.
        let minus3 = Spawned::start(&dir, &store, CONFIG, &[], &[("TZ", "<-03>3")]);
        let path = format!(
            "{P}/units/admin?from={}&to={}&running&timezone=Local",
            ALL.0, ALL.1
        );
        expect_rows(
            &minus3.get(&path, "adm1"),
            units
                .iter()
                .map(|u| unit_json(u, None, Some(chrono_tz::Etc::GMTPlus3)))
                .collect(),
        );
        // Data zone configured as `Local`: the same name, no conversion.
        let local = CONFIG.replace("time_zone: Europe/Paris", "time_zone: Local");
        let same = Spawned::start(&dir, &store, &local, &[], &[("TZ", "<-03>3")]);
        expect_rows(
            &same.get(&path, "adm1"),
            units.iter().map(|u| unit_json(u, None, None)).collect(),
        );
    });

    // A store that lost a data file: the failure is a 500 with an opaque body, detailed in the log.
    let broken = dir.join("broken");
    copy_dir(&store, &broken);
    let victim = first_parquet(&broken.join("units"));
    std::fs::remove_file(&victim).expect("remove a data file");
    let bad = Spawned::start(&dir, &broken, CONFIG, &[], &[]);
    s.check("5xx bodies are opaque; the detail is logged", || {
        let r = bad.get(
            &format!("{P}/units/admin?from={}&to={}", ALL.0, ALL.1),
            "adm1",
        );
        expect_error(&r, 500, "internal", "internal server error");
        let file = victim
            .file_name()
            .and_then(|f| f.to_str())
            .expect("file name");
        let log = bad.log();
        assert!(
            log.lines()
                .any(|l| l.contains("request failed") && l.contains(file)),
            "the log does not name the missing file:\n{log}"
        );
    });

    s.check(
        "query_memory_limit 0 is refused at start, naming the key",
        || {
            let cfg = dir.join("zero-memory.yml");
            std::fs::write(&cfg, format!("{CONFIG}  query_memory_limit: \"0\"\n")).expect("config");
            let mut child = Command::new(bin())
                .arg("--data")
                .arg(reference_store())
                .args(["serve", "--web.listen-address"])
                .arg(format!("127.0.0.1:{}", free_port()))
                .arg("--config.file")
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn");
            let deadline = Instant::now() + Duration::from_secs(30);
            let status = loop {
                if let Some(st) = child.try_wait().expect("wait") {
                    break st;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the server started with a zero memory limit");
                }
                pause(Duration::from_millis(50));
            };
            let mut err = String::new();
            child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut err)
                .expect("read stderr");
            assert!(!status.success());
            assert!(err.contains("ceems_lake.query_memory_limit"), "{err}");
        },
    );
    s.finish();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for e in std::fs::read_dir(from).expect("read folder").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy file");
        }
    }
}

fn first_parquet(dir: &Path) -> PathBuf {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read folder").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                found.push(p);
            }
        }
    }
    found.sort();
    found.into_iter().next().expect("a parquet file")
}
