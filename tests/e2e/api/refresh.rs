//! A running server picks up new store versions: it starts on an empty store, sees an import of
//! part of the reference data, caches a usage answer, then sees the full import — and the new
//! version drops the cache.

use std::time::{Duration, Instant};

use ceems_lake_tests::{Server, reference_db};

use super::model::{Model, UnitsQuery, UsageQuery, round_window, unit_json};
use super::{CONFIG, P, Suite, expect, expect_rows, import_db, scratch};

const ALL: &str = "from=1600000000&to=1800000000&running";
const USAGE: &str = "from=1719900000&to=1719950000";

/// Polls `path` until its body equals `want` (30 s at most).
// Plain threads, no async runtime here: sleeping blocks nobody.
#[allow(clippy::disallowed_methods)]
fn wait_for(srv: &Server, path: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = srv.get(path, "adm1");
        if r.status == 200 && r.text() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never showed the new data; last answer {}: {}",
            r.status,
            r.text()
        );
        ceems_lake_tests::pause(Duration::from_millis(200));
    }
}

fn units_body(m: &Model) -> String {
    let q = UnitsQuery {
        window: Some((1_600_000_000, 1_800_000_000)),
        running: true,
        ..Default::default()
    };
    super::model::success(
        m.units(&q)
            .iter()
            .map(|u| unit_json(u, None, None))
            .collect(),
    )
}

fn usage_rows(m: &Model) -> Vec<super::model::J> {
    m.usage(&UsageQuery {
        window: Some(round_window(1_719_900_000, 1_719_950_000)),
        ..Default::default()
    })
}

#[test]
fn store_refresh() {
    let dir = scratch("refresh");
    let partial = dir.join("partial.db");
    std::fs::copy(reference_db(), &partial).expect("copy reference");
    rusqlite::Connection::open(&partial)
        .and_then(|c| c.execute("DELETE FROM units WHERE cluster_id = 'slurm-1'", []))
        .expect("partial database");
    let (partial_model, full_model) = (Model::load(&partial), Model::load(&reference_db()));
    let store = dir.join("store");
    std::fs::create_dir_all(&store).expect("store folder");

    let srv = Server::start(&store, Some(CONFIG), &[]);
    let mut s = Suite::new("store refresh");
    s.check("an empty store answers empty lists", || {
        expect(
            &srv.get(&format!("{P}/units/admin?{ALL}"), "adm1"),
            200,
            "{\"status\":\"success\",\"data\":[]}\n",
        );
        expect(
            &srv.get(&format!("{P}/clusters/admin"), "adm1"),
            200,
            "{\"status\":\"success\",\"data\":[]}\n",
        );
        assert_eq!(srv.request("GET", "/health", &[]).status, 200);
    });
    s.check("an import while running shows up", || {
        import_db(&store, &partial);
        wait_for(
            &srv,
            &format!("{P}/units/admin?{ALL}"),
            &units_body(&partial_model),
        );
        expect_rows(
            &srv.get(&format!("{P}/clusters/admin"), "adm1"),
            partial_model.clusters_json(),
        );
    });
    s.check("a new version drops cached usage", || {
        let path = format!("{P}/usage/current/admin?{USAGE}");
        let a = srv.get(&path, "adm1");
        expect_rows(&a, usage_rows(&partial_model));
        let b = srv.get(&path, "adm1");
        assert!(
            b.header("expires").is_some(),
            "second call should be a cache hit"
        );
        assert_eq!(a.body, b.body);
        // Global usage is computed once per version: asked twice, then after the import.
        let global = format!("{P}/usage/global/admin");
        for _ in 0..2 {
            expect_rows(
                &srv.get(&global, "adm1"),
                partial_model.usage(&UsageQuery::default()),
            );
        }

        import_db(&store, &reference_db());
        wait_for(
            &srv,
            &format!("{P}/units/admin?{ALL}"),
            &units_body(&full_model),
        );
        let c = srv.get(&path, "adm1");
        assert_eq!(
            c.header("expires"),
            None,
            "stale cache entry served after a new store version"
        );
        expect_rows(&c, usage_rows(&full_model));
        expect_rows(
            &srv.get(&global, "adm1"),
            full_model.usage(&UsageQuery::default()),
        );
        expect_rows(
            &srv.get(&format!("{P}/usage/global?project=acc1"), "usr1"),
            full_model.usage(&UsageQuery {
                users: Some(vec!["usr1".to_string()]),
                projects: Some(vec!["acc1".to_string()]),
                ..Default::default()
            }),
        );
        expect_rows(
            &srv.get(&format!("{P}/stats/global/admin"), "adm1"),
            full_model.stats_json(None, None),
        );
    });
    s.finish();
    assert!(srv.terminate(), "server did not exit cleanly on SIGTERM");
}
