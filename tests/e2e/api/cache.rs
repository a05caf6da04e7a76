//! The 15-minute `/usage/current` cache: keyed per user, path and normalised query (window
//! rounded to 900 s, keys sorted); `Expires` only on hits; empty results and errors never
//! stored; `/usage/global` never cached.

use ceems_lake_tests::Response;

use super::model::{UsageQuery, round_window, strings};
use super::{P, Suite, expect_error, expect_rows, reference_model, reference_server};

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Asserts an HTTP-date `Expires` (`Mon, 02 Jan 2006 15:04:05 GMT`, RFC 9110 IMF-fixdate)
/// about 15 min from now.
#[track_caller]
fn hit(r: &Response) {
    assert_eq!(r.status, 200);
    let e = r
        .header("expires")
        .unwrap_or_else(|| panic!("no Expires on a hit: {:?}", r.headers));
    let parts: Vec<&str> = e.split(' ').collect();
    assert!(
        parts.len() == 6
            && parts[0].ends_with(',')
            && DAYS.contains(&parts[0].trim_end_matches(',')),
        "{e}"
    );
    assert!(
        MONTHS.contains(&parts[2]) && parts[1].len() == 2 && parts[4].len() == 8,
        "{e}"
    );
    assert_eq!(parts[5], "GMT", "an HTTP-date is in GMT: {e}");
    let t = chrono::NaiveDateTime::parse_from_str(&parts[1..5].join(" "), "%d %b %Y %H:%M:%S")
        .expect("expires time");
    assert_eq!(
        t.and_utc().format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        e,
        "weekday and fields agree"
    );
    let left = t.and_utc().timestamp() - chrono::Utc::now().timestamp();
    assert!(
        (14 * 60..=15 * 60 + 5).contains(&left),
        "expires in {left} s: {e}"
    );
}

#[track_caller]
fn miss(r: &Response) {
    assert_eq!(r.status, 200);
    assert_eq!(r.header("expires"), None, "Expires on a miss");
}

fn cache_hits(srv: &ceems_lake_tests::Server) -> f64 {
    let t = srv.request("GET", "/metrics", &[]).text();
    t.lines()
        .filter(|l| !l.starts_with('#') && l.contains("cache") && l.contains("hit"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn usage_cache() {
    let srv = reference_server(&[]);
    let m = reference_model();
    let mut s = Suite::new("usage cache");
    let rows = |user: &str, from: i64, to: i64| {
        m.usage(&UsageQuery {
            users: Some(strings(&[user])),
            window: Some(round_window(from, to)),
            ..Default::default()
        })
    };

    s.check(
        "second identical request is a hit with Expires and the same body",
        || {
            let path = format!("{P}/usage/current?from=1719900000&to=1719950000");
            let a = srv.get(&path, "usr1");
            miss(&a);
            expect_rows(&a, rows("usr1", 1_719_900_000, 1_719_950_000));
            let hits = cache_hits(&srv);
            let b = srv.get(&path, "usr1");
            hit(&b);
            assert_eq!(a.body, b.body);
            assert_eq!(b.header("content-type"), Some("application/json"));
            assert!(cache_hits(&srv) > hits, "cache hit counter did not grow");
        },
    );
    s.check("same 900 s buckets and reordered keys hit", || {
        let a = srv.get(
            &format!("{P}/usage/current?from=1719899100&to=1719951000"),
            "usr2",
        );
        miss(&a);
        let b = srv.get(
            &format!("{P}/usage/current?from=1719899999&to=1719951299"),
            "usr2",
        );
        hit(&b);
        let c = srv.get(
            &format!("{P}/usage/current?to=1719950500&from=1719899101"),
            "usr2",
        );
        hit(&c);
        assert_eq!(a.body, c.body);
        // Another bucket is another entry.
        miss(&srv.get(
            &format!("{P}/usage/current?from=1719898200&to=1719951000"),
            "usr2",
        ));
    });
    s.check("entries are per user and per path", || {
        let q = "from=1719800000&to=1719950000";
        miss(&srv.get(&format!("{P}/usage/current?{q}"), "usr15"));
        miss(&srv.get(&format!("{P}/usage/current?{q}"), "usr8"));
        hit(&srv.get(&format!("{P}/usage/current?{q}"), "usr15"));
        miss(&srv.get(&format!("{P}/usage/current?{q}"), "adm1"));
        let a = srv.get(&format!("{P}/usage/current/admin?{q}"), "adm1");
        miss(&a);
        expect_rows(
            &a,
            m.usage(&UsageQuery {
                window: Some(round_window(1_719_800_000, 1_719_950_000)),
                ..Default::default()
            }),
        );
        hit(&srv.get(&format!("{P}/usage/current/admin?{q}"), "adm1"));
        miss(&srv.get(&format!("{P}/usage/current/admin?{q}"), "grafana"));
        // Other parameters are part of the key.
        miss(&srv.get(&format!("{P}/usage/current/admin?{q}&user=usr1"), "adm1"));
        miss(&srv.get(
            &format!("{P}/usage/current/admin?{q}&field=num_units&field=username"),
            "adm1",
        ));
    });
    s.check("empty results are not cached", || {
        let path = format!("{P}/usage/current?from=1500000000&to=1500003600");
        miss(&srv.get(&path, "usr1"));
        miss(&srv.get(&path, "usr1"));
    });
    s.check("errors are not cached", || {
        let path = format!("{P}/usage/current?from=1719900000&to=1719950000&groupby=nope");
        expect_error(&srv.get(&path, "usr1"), 400, "bad_data", "invalid groupby");
        expect_error(&srv.get(&path, "usr1"), 400, "bad_data", "invalid groupby");
    });
    s.check("global usage and other endpoints are never cached", || {
        for path in [
            format!("{P}/usage/global"),
            format!("{P}/units?from=1600000000&to=1800000000"),
            format!("{P}/projects"),
        ] {
            miss(&srv.get(&path, "usr1"));
            miss(&srv.get(&path, "usr1"));
        }
    });
    s.finish();
}
