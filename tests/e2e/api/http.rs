//! HTTP surface: envelope and headers, the error catalogue (401/403/400/404/405), CORS and
//! preflights, the User-Agent rule, health, demo, compression, `/metrics`, and the server flags
//! (route prefix, user header names, CORS origin, max period, basic auth).

use std::io::Read;

use ceems_lake_tests::{Response, Server};

use super::model::{UnitsQuery, strings, unit_json};
use super::{
    CONFIG, P, Suite, expect, expect_error, expect_rows, reference_model, reference_server,
    reference_store, scratch,
};

const EMPTY: &str = "{\"status\":\"success\",\"data\":[]}\n";
const UA: (&str, &str) = ("User-Agent", "ceems-lake-tests");

/// No header of the CORS family.
#[track_caller]
fn no_cors(r: &Response) {
    let cors: Vec<_> = r
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "unexpected CORS headers {cors:?}");
}

/// The middleware's 401/403: JSON text, but neither a JSON content type, nosniff nor CORS.
#[track_caller]
fn middleware_rejection(r: &Response, status: u16, kind: &str, message: &str) {
    expect_error(r, status, kind, message);
    let ct = r.header("content-type").unwrap_or("text/plain");
    assert!(ct.starts_with("text/plain"), "content type {ct}");
    assert_eq!(r.header("x-content-type-options"), None);
    no_cors(r);
}

#[track_caller]
fn json_headers(r: &Response) {
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{:?}",
        r.headers
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
}

/// The exact preflight answer: these headers plus `Date` and nothing else.
#[track_caller]
fn preflight(r: &Response, origin: Option<&str>, allow_headers: &str) {
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty(), "preflight body {:?}", r.text());
    let mut want = vec![
        (
            "access-control-allow-headers".to_string(),
            allow_headers.to_string(),
        ),
        (
            "access-control-allow-methods".to_string(),
            "GET".to_string(),
        ),
        (
            "access-control-expose-headers".to_string(),
            "Date".to_string(),
        ),
        ("vary".to_string(), "Origin".to_string()),
        ("content-length".to_string(), "0".to_string()),
    ];
    if let Some(o) = origin {
        want.push(("access-control-allow-origin".to_string(), o.to_string()));
    }
    want.sort();
    let mut got: Vec<(String, String)> = r
        .headers
        .iter()
        // `Date` varies; `Connection: close` answers this client's own request header.
        .filter(|(k, _)| k != "date" && k != "connection")
        .cloned()
        .collect();
    got.sort();
    assert_eq!(got, want);
}

fn basic(user: &str, password: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// Samples of `/metrics` whose name starts with `prefix`, summed.
fn metric_sum(text: &str, filter: impl Fn(&str) -> bool) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter(|l| filter(l))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn http_surface() {
    let srv = reference_server(&[]);
    let m = reference_model();
    let mut s = Suite::new("http surface");
    let units = format!("{P}/units?from=1600000000&to=1800000000");

    s.check(
        "success: JSON content type, nosniff, envelope order, trailing newline",
        || {
            let r = srv.get(&units, "usr1");
            json_headers(&r);
            let t = r.text();
            assert!(
                t.starts_with("{\"status\":\"success\",\"data\":[{") && t.ends_with("}]}\n"),
                "{t}"
            );
            assert_eq!(t.matches('\n').count(), 1, "compact JSON");
        },
    );
    s.check("handler errors: JSON content type and nosniff", || {
        let r = srv.get(&format!("{P}/units?from=x"), "usr1");
        json_headers(&r);
        let r = srv.get(
            &format!("{P}/units/verify?cluster_id=slurm-0&uuid=147975"),
            "usr1",
        );
        json_headers(&r);
        assert_eq!(r.status, 403);
    });
    s.check("401 without identity: no JSON type, no CORS", || {
        let r = srv.request(
            "GET",
            &units,
            &[UA, ("Origin", "https://grafana.example.org")],
        );
        middleware_rejection(&r, 401, "unauthorized", "no user identified");
        let r = srv.request("GET", &units, &[UA, ("X-Grafana-User", "")]);
        middleware_rejection(&r, 401, "unauthorized", "no user identified");
        for path in [
            "units/admin",
            "users",
            "projects",
            "usage/current",
            "usage/global/admin",
            "stats/global/admin",
        ] {
            let r = srv.request("GET", &format!("{P}/{path}"), &[UA]);
            middleware_rejection(&r, 401, "unauthorized", "no user identified");
        }
    });
    s.check("403 for non-admins: no JSON type, no CORS", || {
        let r = srv.request(
            "GET",
            &format!("{P}/units/admin"),
            &[UA, ("X-Grafana-User", "usr1"), ("Origin", "https://x.org")],
        );
        middleware_rejection(
            &r,
            403,
            "forbidden",
            "current user does not have admin privileges",
        );
    });
    s.check("identity header name is case-insensitive", || {
        let r = srv.request("GET", &units, &[UA, ("x-grafana-user", "usr1")]);
        let q = UnitsQuery {
            own: Some("usr1".into()),
            window: Some((1_600_000_000, 1_800_000_000)),
            ..Default::default()
        };
        expect_rows(
            &r,
            m.units(&q)
                .iter()
                .map(|u| unit_json(u, None, None))
                .collect(),
        );
    });
    s.check(
        "missing User-Agent → 400 after the identity and admin checks",
        || {
            let r = srv.request("GET", &units, &[("X-Grafana-User", "usr1")]);
            expect_error(&r, 400, "bad_data", "missing User-Agent header");
            let r = srv.request(
                "GET",
                &format!("{P}/clusters/admin"),
                &[("X-Grafana-User", "adm1")],
            );
            expect_error(&r, 400, "bad_data", "missing User-Agent header");
            // No identity: 401 first; non-admin on an admin path: 403 first.
            let r = srv.request("GET", &units, &[]);
            middleware_rejection(&r, 401, "unauthorized", "no user identified");
            let r = srv.request(
                "GET",
                &format!("{P}/units/admin"),
                &[("X-Grafana-User", "usr1")],
            );
            middleware_rejection(
                &r,
                403,
                "forbidden",
                "current user does not have admin privileges",
            );
        },
    );
    s.check(
        "exempt from identity and User-Agent: health, demo, OPTIONS",
        || {
            let r = srv.request("GET", "/health", &[]);
            assert_eq!(
                (r.status, r.text().as_str()),
                (200, "CEEMS API Server is healthy")
            );
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(
                srv.request("GET", &format!("{P}/demo/units"), &[]).status,
                200
            );
            assert_eq!(
                srv.request("OPTIONS", &format!("{P}/units/admin"), &[])
                    .status,
                200
            );
        },
    );
    s.check(
        "unknown paths: 404 page not found, no auth, no envelope",
        || {
            for path in [
                format!("{P}/nope"),
                format!("{P}/units/"),
                "/nope".to_string(),
                format!("{P}/units/admin/x"),
            ] {
                let r = srv.request("GET", &path, &[]);
                expect(&r, 404, "404 page not found\n");
                assert!(
                    r.header("content-type")
                        .unwrap_or("")
                        .starts_with("text/plain"),
                    "{:?}",
                    r.headers
                );
                no_cors(&r);
            }
        },
    );
    s.check(
        "other methods on API routes: 405, empty body, no auth",
        || {
            for method in ["POST", "PUT", "DELETE", "PATCH"] {
                let r = srv.request(method, &format!("{P}/units"), &[("Content-Length", "0")]);
                assert_eq!(r.status, 405, "{method}");
                assert!(r.body.is_empty(), "{method}: {:?}", r.text());
            }
            let r = srv.request(
                "POST",
                &format!("{P}/usage/current/admin"),
                &[("Content-Length", "0"), ("X-Grafana-User", "usr1")],
            );
            assert_eq!(r.status, 405);
        },
    );
    s.check("fixture preflight-query reproduced exactly", || {
        let r = srv.request(
            "OPTIONS",
            &format!("{P}/units"),
            &[("Origin", "https://reqbin.com")],
        );
        preflight(
            &r,
            Some("https://reqbin.com"),
            "Accept, Authorization, Content-Type, Origin, X-Grafana-User",
        );
    });
    s.check("preflights on health, admin and demo routes", || {
        for path in [
            "/health".to_string(),
            format!("{P}/usage/global/admin"),
            format!("{P}/demo/usage"),
        ] {
            let r = srv.request("OPTIONS", &path, &[("Origin", "http://localhost:3000")]);
            preflight(
                &r,
                Some("http://localhost:3000"),
                "Accept, Authorization, Content-Type, Origin, X-Grafana-User",
            );
        }
    });
    s.check(
        "CORS on GET echoes the Origin; nothing without Origin",
        || {
            let r = srv.request(
                "GET",
                &units,
                &[
                    UA,
                    ("X-Grafana-User", "usr1"),
                    ("Origin", "https://grafana.example.org"),
                ],
            );
            assert_eq!(r.status, 200);
            assert_eq!(
                r.header("access-control-allow-origin"),
                Some("https://grafana.example.org")
            );
            assert_eq!(r.header("access-control-allow-methods"), Some("GET"));
            assert_eq!(r.header("access-control-expose-headers"), Some("Date"));
            assert!(
                r.headers
                    .iter()
                    .any(|(k, v)| k == "vary" && v.contains("Origin"))
            );
            assert_eq!(r.header("access-control-allow-credentials"), None);
            assert_eq!(r.header("access-control-max-age"), None);
            no_cors(&srv.get(&units, "usr1"));
            let r = srv.request("GET", "/health", &[("Origin", "https://a.b")]);
            assert_eq!(r.header("access-control-allow-origin"), Some("https://a.b"));
            // Handler errors carry CORS (the helper runs inside the handler).
            let r = srv.request(
                "GET",
                &format!("{P}/units?from=x"),
                &[UA, ("X-Grafana-User", "usr1"), ("Origin", "https://a.b")],
            );
            assert_eq!(
                (r.status, r.header("access-control-allow-origin")),
                (400, Some("https://a.b"))
            );
        },
    );
    s.check(
        "demo: 100 mock units, 7–21 usage rows with empty cluster_id",
        || {
            let r = srv.request("GET", &format!("{P}/demo/units"), &[]);
            json_headers(&r);
            let j = r.json();
            assert_eq!(j["status"], "success");
            let data = j["data"].as_array().expect("units");
            assert_eq!(data.len(), 100);
            assert!(
                data.iter()
                    .all(|u| u["username"] == "user1" && u["uuid"].is_string())
            );
            let r = srv.request("GET", &format!("{P}/demo/usage"), &[]);
            let data = r.json()["data"].as_array().cloned().expect("usage");
            assert!((7..=21).contains(&data.len()), "{}", data.len());
            assert!(data.iter().all(|u| u["cluster_id"] == ""));
            assert!(r.text().contains("\"cluster_id\":\"\""));
        },
    );
    s.check("gzip and zstd when asked; identity otherwise", || {
        let plain = srv.get(
            &format!("{P}/units/admin?from=1600000000&to=1800000000"),
            "adm1",
        );
        assert_eq!(plain.header("content-encoding"), None);
        let h = |enc: &'static str| vec![UA, ("X-Grafana-User", "adm1"), ("Accept-Encoding", enc)];
        let path = format!("{P}/units/admin?from=1600000000&to=1800000000");
        let r = srv.request("GET", &path, &h("gzip"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&r.body[..])
            .read_to_end(&mut out)
            .expect("gzip body");
        assert_eq!(out, plain.body);
        let r = srv.request("GET", &path, &h("zstd"));
        assert_eq!(r.header("content-encoding"), Some("zstd"));
        assert_eq!(
            zstd::decode_all(&r.body[..]).expect("zstd body"),
            plain.body
        );
        let r = srv.request("GET", &path, &h("identity"));
        assert_eq!((r.header("content-encoding"), &r.body), (None, &plain.body));
    });
    s.check("/metrics: Prometheus text; request counters grow", || {
        let before = srv.request("GET", "/metrics", &[]);
        assert_eq!(before.status, 200);
        assert!(
            before
                .header("content-type")
                .unwrap_or("")
                .starts_with("text/plain"),
            "{:?}",
            before.headers
        );
        let requests = |t: &str| {
            metric_sum(t, |l| {
                l.contains("request") && l.split(['{', ' ']).next().unwrap().ends_with("_total")
            })
        };
        let b = requests(&before.text());
        for _ in 0..3 {
            srv.get(&format!("{P}/clusters/admin"), "adm1");
        }
        let after = srv.request("GET", "/metrics", &[]).text();
        assert!(
            requests(&after) >= b + 3.0,
            "request counters did not grow:\n{after}"
        );
        assert!(after.contains("# TYPE"), "{after}");
        assert!(after.contains("_bucket{"), "a latency histogram: {after}");
        // /clusters/admin reads the cluster and manager of every unit: the scans read at
        // least the whole units table three times.
        let scanned = |t: &str| metric_sum(t, |l| l.starts_with("ceems_lake_rows_scanned_total"));
        let units = m.units.len() as f64;
        assert!(
            scanned(&after) >= scanned(&before.text()) + 3.0 * units,
            "rows scanned did not grow by 3 × {units}:\n{after}"
        );
        assert!(
            after.contains("ceems_lake_store_version "),
            "the served store version: {after}"
        );
    });
    s.check("`;` pairs are dropped from the query (Go's parser)", || {
        let r = srv.get(
            &format!("{P}/units?uuid=1479763;x&from=1600000000&to=1800000000"),
            "usr1",
        );
        let q = UnitsQuery {
            own: Some("usr1".into()),
            window: Some((1_600_000_000, 1_800_000_000)),
            ..Default::default()
        };
        expect_rows(
            &r,
            m.units(&q)
                .iter()
                .map(|u| unit_json(u, None, None))
                .collect(),
        );
    });
    s.check("SIGTERM: clean exit", || {
        let other = reference_server(&[]);
        assert!(other.terminate(), "server did not exit cleanly on SIGTERM");
    });
    s.finish();
}

#[test]
fn http_flags() {
    let srv = reference_server(&[
        "--web.route-prefix",
        "/ceems",
        "--web.user-header-name",
        "X-Remote-User",
        "--web.user-header-name",
        "X-Other-User",
        "--web.cors.origin",
        r"https://grafana\.example\.(org|com)",
        "--query.max-period",
        "2h",
    ]);
    let m = reference_model();
    let mut s = Suite::new("http flags");
    let p = "/ceems/api/v1";
    let who = |u: &'static str| [UA, ("X-Remote-User", u)];
    let usr1_units = |w: (i64, i64)| {
        let q = UnitsQuery {
            own: Some("usr1".into()),
            window: Some(w),
            ..Default::default()
        };
        m.units(&q)
            .iter()
            .map(|u| unit_json(u, None, None))
            .collect::<Vec<_>>()
    };
    let day = (1_676_930_000, 1_676_934_000 + 3600);

    s.check(
        "route prefix: API under the prefix only; health unprefixed",
        || {
            let r = srv.request("GET", &format!("{p}/projects?project=acc1"), &who("usr1"));
            expect_rows(
                &r,
                m.projects_json(Some(&strings(&["usr1"])), Some(strings(&["acc1"])), None),
            );
            let r = srv.request("GET", &format!("{P}/projects"), &who("usr1"));
            expect(&r, 404, "404 page not found\n");
            assert_eq!(srv.request("GET", "/health", &[]).status, 200);
            assert_eq!(
                srv.request("GET", &format!("{p}/demo/units"), &[]).status,
                200
            );
            assert_eq!(srv.request("GET", "/ceems/health", &[]).status, 404);
        },
    );
    s.check(
        "user header names replace X-Grafana-User; the first non-empty wins",
        || {
            let r = srv.request(
                "GET",
                &format!("{p}/users"),
                &[UA, ("X-Grafana-User", "usr1")],
            );
            middleware_rejection(&r, 401, "unauthorized", "no user identified");
            let r = srv.request(
                "GET",
                &format!("{p}/users"),
                &[UA, ("X-Other-User", "usr2")],
            );
            expect_rows(&r, m.users_json(Some(strings(&["usr2"])), None));
            let r = srv.request(
                "GET",
                &format!("{p}/users"),
                &[UA, ("X-Other-User", "usr2"), ("X-Remote-User", "usr1")],
            );
            expect_rows(&r, m.users_json(Some(strings(&["usr1"])), None));
            let r = srv.request(
                "GET",
                &format!("{p}/users"),
                &[UA, ("X-Remote-User", ""), ("X-Other-User", "usr2")],
            );
            expect_rows(&r, m.users_json(Some(strings(&["usr2"])), None));
        },
    );
    s.check("preflight lists the configured user headers", || {
        let r = srv.request(
            "OPTIONS",
            &format!("{p}/units"),
            &[("Origin", "https://grafana.example.com")],
        );
        preflight(
            &r,
            Some("https://grafana.example.com"),
            "Accept, Authorization, Content-Type, Origin, X-Remote-User, X-Other-User",
        );
    });
    s.check(
        "CORS origin regex is anchored; other CORS headers stay",
        || {
            for origin in [
                "https://evil.org",
                "https://grafana.example.org.evil.org",
                "http://grafana.example.org",
            ] {
                let r = srv.request("OPTIONS", &format!("{p}/units"), &[("Origin", origin)]);
                preflight(
                    &r,
                    None,
                    "Accept, Authorization, Content-Type, Origin, X-Remote-User, X-Other-User",
                );
            }
            let r = srv.request(
                "GET",
                &format!("{p}/users"),
                &[
                    UA,
                    ("X-Remote-User", "usr1"),
                    ("Origin", "https://grafana.example.org"),
                ],
            );
            assert_eq!(
                r.header("access-control-allow-origin"),
                Some("https://grafana.example.org")
            );
        },
    );
    s.check(
        "max period: longer windows → 400, up to the limit OK",
        || {
            let (f, t) = (1_645_450_000, 1_645_450_000 + 7200);
            let r = srv.request("GET", &format!("{p}/units?from={f}&to={t}"), &who("usr1"));
            expect_rows(&r, usr1_units((f, t)));
            let r = srv.request(
                "GET",
                &format!("{p}/units?from={f}&to={}", t + 1),
                &who("usr1"),
            );
            expect_error(&r, 400, "bad_data", "maximum query window exceeded");
            // Negative windows never trip it.
            let r = srv.request("GET", &format!("{p}/units?from={t}&to={f}"), &who("usr1"));
            expect(&r, 200, EMPTY);
            // The default window is 24 h.
            let r = srv.request("GET", &format!("{p}/units"), &who("usr1"));
            expect_error(&r, 400, "bad_data", "maximum query window exceeded");
            let r = srv.request(
                "GET",
                &format!("{p}/stats/current/admin?from={}&to={}", day.0, day.1),
                &[UA, ("X-Remote-User", "adm1")],
            );
            expect_error(&r, 400, "bad_data", "maximum query window exceeded");
            // uuid skips the window and its limit.
            let r = srv.request("GET", &format!("{p}/units?uuid=1479763"), &who("usr1"));
            assert_eq!(r.status, 200);
            // Global modes have no window.
            assert_eq!(
                srv.request("GET", &format!("{p}/usage/global"), &who("usr1"))
                    .status,
                200
            );
        },
    );
    s.check("max period sees the rounded usage window", || {
        // 7200 s apart, but rounding to 900 s widens it to 8100 s.
        let r = srv.request(
            "GET",
            &format!("{p}/usage/current?from=1700000123&to=1700007323"),
            &who("usr1"),
        );
        expect_error(&r, 400, "bad_data", "maximum query window exceeded");
        let r = srv.request(
            "GET",
            &format!("{p}/usage/current?from=1700000100&to=1700007300"),
            &who("usr1"),
        );
        expect(&r, 200, EMPTY);
    });
    s.finish();
}

#[test]
fn basic_auth() {
    let dir = scratch("basic-auth");
    let hash = bcrypt::hash("s3cret", 4).expect("bcrypt");
    let web = dir.join("web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  alice: {hash}\n")).expect("web config");
    let srv = Server::start(
        reference_store(),
        Some(CONFIG),
        &["--web.config.file", web.to_str().expect("utf-8")],
    );
    let mut s = Suite::new("basic auth");
    let ok = basic("alice", "s3cret");
    let unauthorized = |r: &Response| {
        assert_eq!(r.status, 401);
        assert!(
            r.header("www-authenticate")
                .unwrap_or("")
                .starts_with("Basic"),
            "{:?}",
            r.headers
        );
        assert_eq!(r.text().trim_end(), "Unauthorized");
        no_cors(r);
    };
    s.check(
        "every request needs credentials: API, health, preflight, unknown paths, demo",
        || {
            for (method, path) in [
                ("GET", format!("{P}/units")),
                ("GET", "/health".to_string()),
                ("OPTIONS", format!("{P}/units")),
                ("GET", format!("{P}/nope")),
                ("GET", format!("{P}/demo/units")),
                ("GET", "/metrics".to_string()),
            ] {
                let r = srv.request(
                    method,
                    &path,
                    &[UA, ("X-Grafana-User", "usr1"), ("Origin", "https://a.b")],
                );
                unauthorized(&r);
            }
        },
    );
    s.check(
        "wrong password, unknown user, malformed header → 401",
        || {
            for auth in [
                basic("alice", "wrong"),
                basic("bob", "s3cret"),
                "Basic !!!".to_string(),
                "Bearer x".to_string(),
            ] {
                let r = srv.request("GET", "/health", &[("Authorization", auth.as_str())]);
                unauthorized(&r);
            }
        },
    );
    s.check("valid credentials: normal answers", || {
        let r = srv.request("GET", "/health", &[("Authorization", ok.as_str())]);
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "CEEMS API Server is healthy")
        );
        let r = srv.request(
            "GET",
            &format!("{P}/projects?project=acc3"),
            &[
                UA,
                ("X-Grafana-User", "usr3"),
                ("Authorization", ok.as_str()),
            ],
        );
        expect_rows(
            &r,
            reference_model().projects_json(
                Some(&strings(&["usr3"])),
                Some(strings(&["acc3"])),
                None,
            ),
        );
        let r = srv.request(
            "GET",
            &format!("{P}/projects"),
            &[UA, ("Authorization", ok.as_str())],
        );
        middleware_rejection(&r, 401, "unauthorized", "no user identified");
        let r = srv.request(
            "GET",
            &format!("{P}/nope"),
            &[("Authorization", ok.as_str())],
        );
        expect(&r, 404, "404 page not found\n");
    });
    s.finish();
}
