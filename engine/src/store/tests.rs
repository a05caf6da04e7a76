//! Commit semantics: upsert by key, newest wins, atomic versions, concurrent writers,
//! snapshot isolation, schema evolution, maintenance.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};

use crate::ingest::builder::{UnitFields, UnitsBuilder};
use crate::schema::{KeyRegistry, Table};
use crate::session::{SessionSettings, build_session};
use crate::store::Store;
use crate::store::maintenance::{compact, vacuum};
use crate::store::transaction::Transaction;
use crate::time::DataTz;

/// One test unit: (cluster, uuid, started ms, ended ms or None, last update ms, state, metrics).
struct U<'a> {
    cluster: &'a str,
    uuid: &'a str,
    started: i64,
    ended: Option<i64>,
    updated: i64,
    state: &'a str,
    metrics: &'a [(usize, &'a str, f64)],
}

fn batch(registry: &KeyRegistry, units: &[U<'_>]) -> (RecordBatch, KeyRegistry) {
    let mut b = UnitsBuilder::new(registry.clone(), DataTz::parse("UTC").unwrap());
    for u in units {
        for (m, k, v) in u.metrics {
            b.stage_metric(*m, k, *v);
        }
        b.commit_row(&UnitFields {
            cluster_id: u.cluster,
            resource_manager: "slurm",
            uuid: u.uuid,
            username: "usr1",
            project: "acc1",
            state: u.state,
            started_at_ts: Some(u.started),
            ended_at_ts: u.ended,
            last_updated_at_ts: Some(u.updated),
            num_updates: 1,
            ..Default::default()
        });
    }
    let r = b.registry().clone();
    (b.finish(), r)
}

async fn commit(store: &Store, units: &[U<'_>]) -> crate::store::transaction::CommitOutcome {
    let base = store.snapshot().await.unwrap();
    let (b, r) = batch(&base.manifest.metric_keys, units);
    let mut t = Transaction::new(store, "test");
    t.upsert_units(b, &r);
    t.commit().await.unwrap()
}

async fn query(store: &Store, sql: &str) -> Vec<RecordBatch> {
    let snap = store.snapshot().await.unwrap();
    let ctx = build_session(&SessionSettings::default(), &snap).unwrap();
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

async fn scalar_i64(store: &Store, sql: &str) -> i64 {
    let b = query(store, sql).await;
    b[0].column(0).as_primitive::<Int64Type>().value(0)
}

async fn states(store: &Store) -> Vec<(String, String)> {
    let b = query(store, "select uuid, state from units order by uuid").await;
    let mut out = Vec::new();
    for b in &b {
        let u = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        let s = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Utf8).unwrap();
        for i in 0..b.num_rows() {
            out.push((
                u.as_string::<i32>().value(i).to_string(),
                s.as_string::<i32>().value(i).to_string(),
            ));
        }
    }
    out
}

const JAN: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z
const FEB: i64 = 1_706_745_600_000; // 2024-02-01T00:00:00Z

fn u<'a>(uuid: &'a str, started: i64, updated: i64, state: &'a str) -> U<'a> {
    U {
        cluster: "c0",
        uuid,
        started,
        ended: Some(started + 1000),
        updated,
        state,
        metrics: &[],
    }
}

#[tokio::test]
async fn newest_last_update_wins_and_equal_keeps_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), &[]).unwrap();
    let o = commit(
        &store,
        &[
            u("1", JAN, 10, "RUNNING"),
            u("2", JAN, 10, "RUNNING"),
            u("3", FEB, 10, "RUNNING"),
        ],
    )
    .await;
    assert_eq!(
        (o.units_inserted, o.units_replaced, o.units_unchanged),
        (3, 0, 0)
    );
    assert_eq!(o.version, Some(1));

    // 1 newer → replaced; 2 older → ignored; 3 equal → ignored; 4 new.
    let o = commit(
        &store,
        &[
            u("1", JAN, 11, "COMPLETED"),
            u("2", JAN, 9, "FAILED"),
            u("3", FEB, 10, "TIMEOUT"),
            u("4", FEB, 1, "X"),
        ],
    )
    .await;
    assert_eq!(
        (o.units_inserted, o.units_replaced, o.units_unchanged),
        (1, 1, 2)
    );
    assert_eq!(
        states(&store).await,
        vec![
            ("1".into(), "COMPLETED".into()),
            ("2".into(), "RUNNING".into()),
            ("3".into(), "RUNNING".into()),
            ("4".into(), "X".into())
        ]
    );
    // Same uuid, other start: another unit (a reused job id).
    commit(&store, &[u("1", FEB, 1, "REUSED")]).await;
    assert_eq!(scalar_i64(&store, "select count(*) from units").await, 5);
    assert_eq!(
        scalar_i64(
            &store,
            "select count(distinct (cluster_id, uuid, started_at_ts)) from units"
        )
        .await,
        5
    );
}

#[tokio::test]
async fn duplicates_inside_one_batch_keep_the_newest() {
    let store = Store::in_memory();
    let o = commit(
        &store,
        &[
            u("1", JAN, 5, "A"),
            u("1", JAN, 7, "C"),
            u("1", JAN, 6, "B"),
        ],
    )
    .await;
    assert_eq!((o.units_inserted, o.units_unchanged), (1, 2));
    assert_eq!(states(&store).await, vec![("1".into(), "C".into())]);
}

#[tokio::test]
async fn unchanged_commit_publishes_nothing() {
    let store = Store::in_memory();
    commit(&store, &[u("1", JAN, 5, "A")]).await;
    let o = commit(&store, &[u("1", JAN, 5, "A")]).await;
    assert_eq!(o.version, None);
    assert_eq!(store.latest_version().await.unwrap(), 1);
}

#[tokio::test]
async fn concurrent_writers_both_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), &[]).unwrap();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..5 {
                let id = format!("w{w}-{i}");
                commit(&store, &[u(&id, JAN + i, 1, "A")]).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(scalar_i64(&store, "select count(*) from units").await, 20);
    assert_eq!(store.latest_version().await.unwrap(), 20);
    // Every published version lists whole commits only: version v holds exactly v units.
    for v in 1..=20u64 {
        assert_eq!(store.load(v).await.unwrap().rows(Table::Units), v);
    }
}

/// Many writers racing on every commit: with a randomised, growing pause after each lost race
/// none of them runs out of attempts (without it the slowest planner can lose every race).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_racing_writers_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), &[]).unwrap();
    let (writers, commits) = (6, 6);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..commits {
                // A few units per commit, spread over partitions, so planning takes a while.
                let ids: Vec<String> = (0..20).map(|k| format!("w{w}-{i}-{k}")).collect();
                let units: Vec<U<'_>> = ids
                    .iter()
                    .enumerate()
                    .map(|(k, id)| u(id, JAN + (k as i64 % 3) * (FEB - JAN), 1, "A"))
                    .collect();
                let base = store.snapshot().await.unwrap();
                let (b, r) = batch(&base.manifest.metric_keys, &units);
                let mut t = Transaction::new(&store, "test");
                t.upsert_units(b, &r);
                t.commit().await.expect("a racing writer gave up");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = (writers * commits * 20) as i64;
    assert_eq!(scalar_i64(&store, "select count(*) from units").await, n);
    assert_eq!(
        store.latest_version().await.unwrap(),
        (writers * commits) as u64
    );
}

#[test]
fn backoff_grows_is_randomised_and_capped() {
    use crate::store::transaction::backoff;
    for attempt in 0..30 {
        let ceiling = (20u64 << attempt.min(16)).min(2000);
        for _ in 0..50 {
            let ms = backoff(attempt).as_secs_f64() * 1000.0;
            assert!(
                ms >= ceiling as f64 * 0.5 - 1e-9 && ms <= ceiling as f64 + 1e-9,
                "attempt {attempt}: {ms} ms outside [{}, {ceiling}]",
                ceiling as f64 * 0.5
            );
        }
    }
    let distinct: std::collections::HashSet<u128> =
        (0..20).map(|_| backoff(3).as_nanos()).collect();
    assert!(distinct.len() > 1, "the pause is not randomised");
}

#[tokio::test]
async fn old_snapshots_are_stable_while_writers_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), &[]).unwrap();
    commit(&store, &[u("1", JAN, 1, "A")]).await;
    let old = store.snapshot().await.unwrap();
    let old_ctx = build_session(&SessionSettings::default(), &old).unwrap();
    commit(&store, &[u("1", JAN, 2, "B"), u("2", JAN, 2, "B")]).await;
    let b = old_ctx
        .sql("select count(*), max(state) from units")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(b[0].column(0).as_primitive::<Int64Type>().value(0), 1);
    assert_eq!(states(&store).await.len(), 2);
}

#[tokio::test]
async fn unpublished_files_are_invisible_and_vacuumed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), &[]).unwrap();
    commit(&store, &[u("1", JAN, 1, "A")]).await;
    // A crash after writing a data file but before publishing its manifest.
    let (b, _) = batch(&KeyRegistry::default(), &[u("9", JAN, 1, "GHOST")]);
    let bytes = crate::store::parquet_io::encode(&b.schema(), &[b]).unwrap();
    store
        .put("units/cluster_id=c0/month=2024-01/orphan.parquet", bytes)
        .await
        .unwrap();
    assert_eq!(scalar_i64(&store, "select count(*) from units").await, 1);
    let o = vacuum(&store, 1, std::time::Duration::ZERO).await.unwrap();
    assert_eq!(o.files_deleted, 1);
    assert!(
        !dir.path()
            .join("units/cluster_id=c0/month=2024-01/orphan.parquet")
            .exists()
    );
    assert_eq!(scalar_i64(&store, "select count(*) from units").await, 1);
}

#[tokio::test]
async fn new_metric_keys_extend_the_schema_and_old_files_read_as_null() {
    let store = Store::in_memory();
    let m1: &[(usize, &str, f64)] = &[(0, "walltime", 10.0)];
    let m2: &[(usize, &str, f64)] = &[
        (0, "walltime", 20.0),
        (0, "alloc_cputime", 40.0),
        (3, "odd-key", 1.5),
    ];
    commit(
        &store,
        &[U {
            metrics: m1,
            ..u("1", JAN, 1, "A")
        }],
    )
    .await;
    commit(
        &store,
        &[U {
            metrics: m2,
            ..u("2", FEB, 1, "A")
        }],
    )
    .await;
    let b = query(
        &store,
        "select uuid, total_time_seconds__walltime, total_time_seconds__alloc_cputime, \
         total_cpu_energy_usage_kwh['odd-key'] from units order by uuid",
    )
    .await;
    let b = &b[0];
    let wall = b.column(1).as_primitive::<Float64Type>();
    let cpu = b.column(2).as_primitive::<Float64Type>();
    assert_eq!((wall.value(0), wall.value(1)), (10.0, 20.0));
    assert!(cpu.is_null(0));
    assert_eq!(cpu.value(1), 40.0);
    let odd = b.column(3).as_primitive::<Float64Type>();
    assert!(odd.is_null(0));
    assert_eq!(odd.value(1), 1.5);
    let keys = store.snapshot().await.unwrap().manifest.metric_keys.clone();
    assert_eq!(keys.keys_of(0), ["walltime", "alloc_cputime"]);
    assert!(
        keys.keys_of(3).is_empty(),
        "odd keys stay in the overflow column"
    );
}

#[tokio::test]
async fn flat_keys_over_the_budget_after_a_concurrent_commit_move_to_overflow() {
    let store = Store::in_memory();
    // A writer snapshots the store while it has no keys, and registers two of its own.
    let (late_batch, late_registry) = batch(
        &KeyRegistry::default(),
        &[U {
            metrics: &[(0, "k0", 1.0), (0, "late", 7.0)],
            ..u("2", FEB, 1, "A")
        }],
    );
    assert_eq!(late_registry.keys_of(0), ["k0", "late"]);
    // Meanwhile another commit fills the flat-column budget of the same map.
    let full: Vec<(usize, String, f64)> = (0..crate::schema::MAX_FLAT_KEYS_PER_MAP)
        .map(|i| (0, format!("k{i}"), i as f64))
        .collect();
    let full: Vec<(usize, &str, f64)> = full.iter().map(|(m, k, v)| (*m, k.as_str(), *v)).collect();
    commit(
        &store,
        &[U {
            metrics: &full,
            ..u("1", JAN, 1, "A")
        }],
    )
    .await;
    let mut t = Transaction::new(&store, "late writer");
    t.upsert_units(late_batch, &late_registry);
    t.commit().await.unwrap();

    let keys = store.snapshot().await.unwrap().manifest.metric_keys.clone();
    assert_eq!(keys.keys_of(0).len(), crate::schema::MAX_FLAT_KEYS_PER_MAP);
    assert!(!keys.keys_of(0).iter().any(|k| k == "late"));
    let b = query(
        &store,
        "select uuid, total_time_seconds__k0, total_time_seconds['late'] \
         from units order by uuid",
    )
    .await;
    let b = &b[0];
    let k0 = b.column(1).as_primitive::<Float64Type>();
    let late = b.column(2).as_primitive::<Float64Type>();
    assert_eq!((k0.value(0), k0.value(1)), (0.0, 1.0));
    assert!(late.is_null(0));
    assert_eq!(
        late.value(1),
        7.0,
        "the value of the unregistered key is kept"
    );
}

#[tokio::test]
async fn compaction_merges_files_and_keeps_rows() {
    let store = Store::in_memory();
    for i in 0..5 {
        let id = format!("{i}");
        commit(&store, &[u(&id, JAN, 1, "A")]).await;
    }
    let before = store
        .snapshot()
        .await
        .unwrap()
        .manifest
        .files(Table::Units)
        .len();
    assert_eq!(before, 5);
    let o = compact(&store, false).await.unwrap();
    assert_eq!(
        (o.files_before, o.files_after, o.partitions_rewritten),
        (5, 1, 1)
    );
    assert_eq!(scalar_i64(&store, "select count(*) from units").await, 5);
    // Nothing left to do.
    assert_eq!(compact(&store, false).await.unwrap().version, None);
}

#[tokio::test]
async fn members_upsert_by_cluster_and_name() {
    use crate::ingest::{CeemsMemberRow, MembersBuilder};
    let store = Store::in_memory();
    let row = |c: &str, n: &str, members: &str| CeemsMemberRow {
        cluster_id: c.into(),
        name: n.into(),
        members: members.into(),
        tags: "null".into(),
        ..Default::default()
    };
    for rows in [
        vec![row("a", "usr1", r#"["p1"]"#), row("b", "usr1", r#"["p2"]"#)],
        vec![row("a", "usr1", r#"["p1","p3"]"#)],
    ] {
        let mut b = MembersBuilder::new(crate::schema::users_schema());
        for r in &rows {
            b.append(r, "t").unwrap();
        }
        let mut t = Transaction::new(&store, "members");
        t.upsert_members(Table::Users, b.finish());
        t.commit().await.unwrap();
    }
    let b = query(
        &store,
        "select cluster_id, array_to_string(projects, ',') from users order by 1",
    )
    .await;
    let b = &b[0];
    let p = arrow::compute::cast(b.column(1), &arrow::datatypes::DataType::Utf8).unwrap();
    assert_eq!(b.num_rows(), 2);
    assert_eq!(p.as_string::<i32>().value(0), "p1,p3");
    assert_eq!(p.as_string::<i32>().value(1), "p2");
}

#[tokio::test]
async fn vacuum_keeps_what_a_reader_may_still_use() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap(), &[]).unwrap();
    commit(&store, &[u("1", JAN, 1, "A"), u("2", JAN, 1, "A")]).await;
    // The first file is old on disk (written two hours ago).
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    let mut old_files = Vec::new();
    for f in store.snapshot().await.unwrap().manifest.files(Table::Units) {
        let p = dir.path().join(&f.path);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(two_hours_ago)
            .unwrap();
        old_files.push(p);
    }
    // A reader (a server that has not refreshed yet) works on this version.
    let old = store.snapshot().await.unwrap();
    let old_ctx = build_session(&SessionSettings::default(), &old).unwrap();
    // The old file is superseded just now, then many versions follow.
    compact(&store, true).await.unwrap();
    for i in 0..12 {
        commit(&store, &[u(&format!("n{i}"), JAN, 5, "B")]).await;
    }
    let o = vacuum(&store, 1, std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(o.files_deleted, 0, "every version is younger than an hour");
    assert_eq!(o.manifests_deleted, 0);
    assert!(old_files.iter().all(|p| p.exists()));
    let b = old_ctx
        .sql("select count(*) from units")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(b[0].column(0).as_primitive::<Int64Type>().value(0), 2);
    // Without a grace period only the newest version's files remain.
    let o = vacuum(&store, 1, std::time::Duration::ZERO).await.unwrap();
    assert!(o.files_deleted >= 1);
    assert!(old_files.iter().all(|p| !p.exists()));
    assert_eq!(scalar_i64(&store, "select count(*) from units").await, 14);
}
