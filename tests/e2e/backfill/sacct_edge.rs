//! `import sacct` edge cases on a small hand-written dump: offset-less times across the
//! 2024-03-31 DST change in Europe/Paris, `mem=320.5G`, `gres/gpu:a100=4`, an `Unknown` end
//! (running job), a job that never started (`None`, `None assigned`), job steps, a state with a
//! suffix (`CANCELLED by 1001`), a node-list range and a line with too few fields. The same
//! jobs are imported four ways (header line; no header with the default field list; no header
//! with `--fields` in another order; times with UTC offsets in another zone) and must come out
//! the same; a later dump of the running job, now ended, replaces it. Expected values are
//! written out by hand below.

use std::collections::BTreeMap;

use ceems_lake_tests::Server;
use serde_json::{Value, json};

use super::{
    ALL, CONFIG, Reject, admin_get, assert_json, f, import_ok, read_rejects, s, scratch, summary,
    utc_ms, utf8, write,
};

/// The field list CEEMS asks sacct for (behaviour §8.2): the layout of a dump without a header.
const FIELDS: [&str; 19] = [
    "jobidraw",
    "partition",
    "qos",
    "account",
    "group",
    "gid",
    "user",
    "uid",
    "submit",
    "start",
    "end",
    "elapsed",
    "elapsedraw",
    "exitcode",
    "state",
    "alloctres",
    "nodelist",
    "jobname",
    "workdir",
];

/// The dump's data rows in field order, times without an offset (Europe/Paris wall clock).
/// Row 6 has too few fields; rows 3 and 4 are job steps.
pub(super) const ROWS: [&str; 8] = [
    "100|cpu|normal|acc1|grp1|1001|alice|2001|2024-03-31T01:00:00|2024-03-31T01:30:00|2024-03-31T03:30:00|01:00:00|3600|0:0|COMPLETED|billing=8,cpu=8,mem=320.5G,node=4|compute-[0-2,7]|dst|/home/alice",
    "101|gpu|high|acc2|grp2|1002|bob|2002|2024-04-01T09:00:00|2024-04-01T10:00:00|2024-04-01T12:30:00|02:30:00|9000|0:0|COMPLETED|billing=64,cpu=32,gres/gpu:a100=4,mem=500G,node=2|gpu-a[01-02]|train|/home/bob",
    "101.batch|gpu|high|acc2|grp2|1002|bob|2002|2024-04-01T09:00:00|2024-04-01T10:00:00|2024-04-01T12:30:00|02:30:00|9000|0:0|COMPLETED|cpu=32,gres/gpu:a100=4,mem=500G,node=1|gpu-a01|batch|/home/bob",
    "101.0|gpu|high|acc2|grp2|1002|bob|2002|2024-04-01T10:00:01|2024-04-01T10:00:01|2024-04-01T12:29:00|02:28:59|8939|0:0|COMPLETED|cpu=32,gres/gpu:a100=4,mem=500G,node=2|gpu-a[01-02]|python|/home/bob",
    "102|cpu|normal|acc1|grp1|1001|alice|2001|2024-04-02T10:00:00|2024-04-02T10:00:05|2024-04-02T10:20:05|00:20:00|1200|0:15|CANCELLED by 1001|billing=2,cpu=2,mem=4000M,node=1|compute-3|cancelled|/home/alice",
    "103|cpu|normal|acc1",
    "104|gpu|high|acc2|grp2|1002|bob|2002|2024-04-03T08:00:00|2024-04-03T08:00:00|Unknown|01:15:00|4500|0:0|RUNNING|billing=16,cpu=16,gres/gpu=2,mem=64G,node=1|gpu-b07|running|/home/bob",
    "105|cpu|normal|acc3|grp1|1001|carol|2003|2024-04-04T08:00:00|None|2024-04-04T08:05:00|00:00:00|0|0:0|CANCELLED by 2003||None assigned|never|/home/carol",
];

/// The same rows with their times written with UTC offsets (several spellings).
const ROWS_WITH_OFFSETS: [&str; 8] = [
    "100|cpu|normal|acc1|grp1|1001|alice|2001|2024-03-31T01:00:00+0100|2024-03-31T01:30:00+01:00|2024-03-31T01:30:00Z|01:00:00|3600|0:0|COMPLETED|billing=8,cpu=8,mem=320.5G,node=4|compute-[0-2,7]|dst|/home/alice",
    "101|gpu|high|acc2|grp2|1002|bob|2002|2024-04-01T07:00:00Z|2024-04-01T10:00:00+0200|2024-04-01T06:30:00-04:00|02:30:00|9000|0:0|COMPLETED|billing=64,cpu=32,gres/gpu:a100=4,mem=500G,node=2|gpu-a[01-02]|train|/home/bob",
    "101.batch|gpu|high|acc2|grp2|1002|bob|2002|2024-04-01T07:00:00Z|2024-04-01T08:00:00Z|2024-04-01T10:30:00Z|02:30:00|9000|0:0|COMPLETED|cpu=32,gres/gpu:a100=4,mem=500G,node=1|gpu-a01|batch|/home/bob",
    "101.0|gpu|high|acc2|grp2|1002|bob|2002|2024-04-01T08:00:01Z|2024-04-01T08:00:01Z|2024-04-01T10:29:00Z|02:28:59|8939|0:0|COMPLETED|cpu=32,gres/gpu:a100=4,mem=500G,node=2|gpu-a[01-02]|python|/home/bob",
    "102|cpu|normal|acc1|grp1|1001|alice|2001|2024-04-02T10:00:00+0200|2024-04-02T10:00:05+0200|2024-04-02T10:20:05+0200|00:20:00|1200|0:15|CANCELLED by 1001|billing=2,cpu=2,mem=4000M,node=1|compute-3|cancelled|/home/alice",
    "103|cpu|normal|acc1",
    "104|gpu|high|acc2|grp2|1002|bob|2002|2024-04-03T08:00:00+0200|2024-04-03T06:00:00Z|Unknown|01:15:00|4500|0:0|RUNNING|billing=16,cpu=16,gres/gpu=2,mem=64G,node=1|gpu-b07|running|/home/bob",
    "105|cpu|normal|acc3|grp1|1001|carol|2003|2024-04-04T08:00:00+0200|None|2024-04-04T08:05:00+0200|00:00:00|0|0:0|CANCELLED by 2003||None assigned|never|/home/carol",
];

/// A unit as the dump describes it, worked out by hand.
struct Want {
    uuid: &'static str,
    name: &'static str,
    user: &'static str,
    project: &'static str,
    group: &'static str,
    /// created, started, ended: UTC epoch ms and the Paris wall-clock rendering.
    times: [Option<(i64, &'static str)>; 3],
    /// Run time in seconds: end − start in UTC, or the dump's ElapsedRaw while running.
    e: i64,
    elapsed: &'static str,
    state: &'static str,
    /// billing, cpus, gpus, mem (bytes), nodes.
    alloc: [i64; 5],
    nodelist: &'static str,
    nodelistexp: &'static str,
    partition: &'static str,
    qos: &'static str,
    exit_code: &'static str,
    uid: i64,
    gid: i64,
    workdir: &'static str,
}

const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;

fn wanted() -> Vec<Want> {
    vec![
        Want {
            uuid: "100",
            name: "dst",
            user: "alice",
            project: "acc1",
            group: "grp1",
            // 01:00 and 01:30 are CET (UTC+1); 03:30 is CEST (UTC+2): the clocks jumped from
            // 02:00 to 03:00, so the job ran one hour.
            times: [
                Some((utc_ms(2024, 3, 31, 0, 0, 0), "2024-03-31T01:00:00+0100")),
                Some((utc_ms(2024, 3, 31, 0, 30, 0), "2024-03-31T01:30:00+0100")),
                Some((utc_ms(2024, 3, 31, 1, 30, 0), "2024-03-31T03:30:00+0200")),
            ],
            e: 3600,
            elapsed: "01:00:00",
            state: "COMPLETED",
            // mem=320.5G: the integer part times 2^30.
            alloc: [8, 8, 0, 320 * GIB, 4],
            nodelist: "compute-[0-2,7]",
            nodelistexp: "compute-0|compute-1|compute-2|compute-7",
            partition: "cpu",
            qos: "normal",
            exit_code: "0:0",
            uid: 2001,
            gid: 1001,
            workdir: "/home/alice",
        },
        Want {
            uuid: "101",
            name: "train",
            user: "bob",
            project: "acc2",
            group: "grp2",
            times: [
                Some((utc_ms(2024, 4, 1, 7, 0, 0), "2024-04-01T09:00:00+0200")),
                Some((utc_ms(2024, 4, 1, 8, 0, 0), "2024-04-01T10:00:00+0200")),
                Some((utc_ms(2024, 4, 1, 10, 30, 0), "2024-04-01T12:30:00+0200")),
            ],
            e: 9000,
            elapsed: "02:30:00",
            state: "COMPLETED",
            // gres/gpu:a100=4: a typed GPU count.
            alloc: [64, 32, 4, 500 * GIB, 2],
            nodelist: "gpu-a[01-02]",
            nodelistexp: "gpu-a01|gpu-a02",
            partition: "gpu",
            qos: "high",
            exit_code: "0:0",
            uid: 2002,
            gid: 1002,
            workdir: "/home/bob",
        },
        Want {
            uuid: "102",
            name: "cancelled",
            user: "alice",
            project: "acc1",
            group: "grp1",
            times: [
                Some((utc_ms(2024, 4, 2, 8, 0, 0), "2024-04-02T10:00:00+0200")),
                Some((utc_ms(2024, 4, 2, 8, 0, 5), "2024-04-02T10:00:05+0200")),
                Some((utc_ms(2024, 4, 2, 8, 20, 5), "2024-04-02T10:20:05+0200")),
            ],
            e: 1200,
            elapsed: "00:20:00",
            state: "CANCELLED by 1001",
            alloc: [2, 2, 0, 4000 * MIB, 1],
            nodelist: "compute-3",
            nodelistexp: "compute-3",
            partition: "cpu",
            qos: "normal",
            exit_code: "0:15",
            uid: 2001,
            gid: 1001,
            workdir: "/home/alice",
        },
        Want {
            uuid: "104",
            name: "running",
            user: "bob",
            project: "acc2",
            group: "grp2",
            times: [
                Some((utc_ms(2024, 4, 3, 6, 0, 0), "2024-04-03T08:00:00+0200")),
                Some((utc_ms(2024, 4, 3, 6, 0, 0), "2024-04-03T08:00:00+0200")),
                None,
            ],
            // Still running: the dump's ElapsedRaw.
            e: 4500,
            elapsed: "01:15:00",
            state: "RUNNING",
            alloc: [16, 16, 2, 64 * GIB, 1],
            nodelist: "gpu-b07",
            nodelistexp: "gpu-b07",
            partition: "gpu",
            qos: "high",
            exit_code: "0:0",
            uid: 2002,
            gid: 1002,
            workdir: "/home/bob",
        },
        Want {
            uuid: "105",
            name: "never",
            user: "carol",
            project: "acc3",
            group: "grp1",
            times: [
                Some((utc_ms(2024, 4, 4, 6, 0, 0), "2024-04-04T08:00:00+0200")),
                None,
                Some((utc_ms(2024, 4, 4, 6, 5, 0), "2024-04-04T08:05:00+0200")),
            ],
            // Never started: no run time, no allocation.
            e: 0,
            elapsed: "00:00:00",
            state: "CANCELLED by 2003",
            alloc: [0, 0, 0, 0, 0],
            nodelist: "None assigned",
            nodelistexp: "",
            partition: "cpu",
            qos: "normal",
            exit_code: "0:0",
            uid: 2003,
            gid: 1001,
            workdir: "/home/carol",
        },
    ]
}

/// The API's JSON of a wanted unit in `cluster`; `utc` renders the time strings in UTC instead
/// of Paris.
fn unit_json(w: &Want, cluster: &str, utc: bool) -> Value {
    let [billing, cpus, gpus, mem, nodes] = w.alloc;
    let e = w.e;
    let text = |t: Option<(i64, &str)>| match t {
        None => "Unknown".to_string(),
        Some((_, paris)) if !utc => paris.to_string(),
        Some((ms, _)) => chrono::DateTime::from_timestamp_millis(ms)
            .expect("valid instant")
            .format("%Y-%m-%dT%H:%M:%S+0000")
            .to_string(),
    };
    let mut u = json!({
        "cluster_id": cluster,
        "resource_manager": "slurm",
        "uuid": w.uuid,
        "name": w.name,
        "project": w.project,
        "groupname": w.group,
        "username": w.user,
        "created_at": text(w.times[0]),
        "started_at": text(w.times[1]),
        "ended_at": text(w.times[2]),
        "elapsed": w.elapsed,
        "state": w.state,
        "allocation": {"billing": billing, "cpus": cpus, "gpus": gpus, "mem": mem, "nodes": nodes},
        "total_time_seconds": {
            "walltime": e,
            "alloc_cputime": cpus * e,
            // mem/MiB × e, or e when no memory is allocated.
            "alloc_cpumemtime": if mem > 0 { mem / MIB * e } else { e },
            "alloc_gputime": gpus * e,
            "alloc_gpumemtime": if gpus > 0 { e } else { 0 },
        },
        "tags": {
            "exit_code": w.exit_code,
            "gid": w.gid,
            "nodelist": w.nodelist,
            "nodelistexp": w.nodelistexp,
            "partition": w.partition,
            "qos": w.qos,
            "uid": w.uid,
            "workdir": w.workdir,
        },
    });
    // Unset times have no `*_ts` (the API omits zero timestamps).
    for (k, t) in ["created_at_ts", "started_at_ts", "ended_at_ts"]
        .iter()
        .zip(w.times)
    {
        if let Some((ms, _)) = t {
            u[*k] = json!(ms);
        }
    }
    u
}

/// The rejects of one import: line → (field, value), and that every reason is the right one.
fn check_rejects(rejects: &[Reject], file: &str, want: &[(u64, &str, &str, &str)]) {
    let got: Vec<(u64, &str, &str)> = rejects
        .iter()
        .map(|r| {
            assert_eq!(r.file, file);
            (r.line, r.field.as_str(), r.value.as_str())
        })
        .collect();
    let expected: Vec<(u64, &str, &str)> = want.iter().map(|w| (w.0, w.1, w.2)).collect();
    assert_eq!(got, expected, "{file}: rejected lines");
    for (r, w) in rejects.iter().zip(want) {
        assert!(
            r.reason.contains(w.3),
            "{file} line {}: reason {:?} should say {:?}",
            r.line,
            r.reason,
            w.3
        );
    }
}

#[test]
fn sacct_edge_cases_in_every_layout() {
    let dir = scratch("sacct-edge");
    let data = dir.path().join("lake");
    let header = FIELDS.join("|");
    // Field order reversed, for --fields.
    let reversed: Vec<&str> = FIELDS.iter().rev().copied().collect();
    let reverse_row = |r: &str| r.split('|').rev().collect::<Vec<_>>().join("|");

    let with_header = dir.path().join("with-header.sacct");
    write(&with_header, &format!("{header}\n{}\n", ROWS.join("\n")));
    let no_header = dir.path().join("no-header.sacct");
    write(&no_header, &format!("{}\n", ROWS.join("\n")));
    let other_order = dir.path().join("other-order.sacct");
    let rows: Vec<String> = ROWS.iter().map(|r| reverse_row(r)).collect();
    write(&other_order, &format!("{}\n", rows.join("\n")));
    let offsets = dir.path().join("offsets.sacct");
    write(
        &offsets,
        &format!("{header}\n{}\n", ROWS_WITH_OFFSETS.join("\n")),
    );

    let fields_arg = reversed.join(",");
    // (cluster, file, whether it has a header line, time zone, extra flags)
    let imports: [(&str, &std::path::Path, bool, &str, Vec<&str>); 4] = [
        ("c1", &with_header, true, "Europe/Paris", vec![]),
        ("c2", &no_header, false, "Europe/Paris", vec![]),
        (
            "c3",
            &other_order,
            false,
            "Europe/Paris",
            vec!["--fields", &fields_arg],
        ),
        ("c4", &offsets, true, "UTC", vec![]),
    ];
    for (cluster, file, has_header, tz, extra) in &imports {
        let rejects_file = dir.path().join(format!("{cluster}.rejects"));
        let mut args = vec![
            "--cluster-id",
            cluster,
            "--time-zone",
            tz,
            "--rejects",
            utf8(&rejects_file),
        ];
        args.extend(extra.iter().copied());
        // Exit code 0 although a line is rejected.
        let out = import_ok(&data, "sacct", &[file], &args);
        let s = summary(&out);
        assert_eq!(
            (s.read, s.inserted, s.rejected, s.skipped),
            (8, 5, 1, 2),
            "{cluster}: 8 data lines = 5 units + 1 rejected + 2 job steps:\n{out}"
        );
        // Line numbers count the header line when there is one.
        let h = u64::from(*has_header);
        let short = if *cluster == "c3" {
            reverse_row(ROWS[5])
        } else {
            ROWS[5].to_string()
        };
        check_rejects(
            &read_rejects(&rejects_file),
            utf8(file),
            &[
                (h + 3, "jobidraw", "101.batch", "job step"),
                (h + 4, "jobidraw", "101.0", "job step"),
                (h + 6, "(line)", &short, "too few"),
            ],
        );
    }

    // c5: the dump, then a later one in which job 104 has ended: its newer version replaces
    // the running one (same cluster, job id and start).
    let later = dir.path().join("later.sacct");
    write(
        &later,
        &format!(
            "{header}\n{}\n",
            ROWS[6]
                .replace(
                    "|Unknown|01:15:00|4500|",
                    "|2024-04-03T10:00:00|02:00:00|7200|"
                )
                .replace("|RUNNING|", "|COMPLETED|")
        ),
    );
    for (file, want) in [(&with_header, (8, 5, 0)), (&later, (1, 0, 1))] {
        let s = summary(&import_ok(
            &data,
            "sacct",
            &[file],
            &["--cluster-id", "c5", "--time-zone", "Europe/Paris"],
        ));
        assert_eq!((s.read, s.inserted, s.replaced), want, "c5: {s:?}");
    }

    let srv = Server::start(&data, Some(CONFIG), &[]);
    for cluster in ["c1", "c2", "c3", "c4", "c5"] {
        let utc = cluster == "c4";
        let mut want = wanted();
        if cluster == "c5" {
            let w = &mut want[3];
            w.times[2] = Some((utc_ms(2024, 4, 3, 8, 0, 0), "2024-04-03T10:00:00+0200"));
            (w.e, w.elapsed, w.state) = (7200, "02:00:00", "COMPLETED");
        }
        let rows = admin_get(
            &srv,
            &format!("/api/v1/units/admin?cluster_id={cluster}&{ALL}&running"),
        );
        assert_eq!(
            rows.iter().map(|r| s(r, "uuid")).collect::<Vec<_>>(),
            want.iter().map(|w| w.uuid).collect::<Vec<_>>(),
            "{cluster}: units"
        );
        for (r, w) in rows.iter().zip(&want) {
            assert_json(
                r,
                &unit_json(w, cluster, utc),
                &format!("{cluster}/{}", w.uuid),
            );
        }
        // Without `running` the job without an end is not listed.
        let ended = admin_get(
            &srv,
            &format!("/api/v1/units/admin?cluster_id={cluster}&{ALL}&field=uuid"),
        );
        let ended: Vec<String> = ended.iter().map(|r| s(r, "uuid")).collect();
        if cluster == "c5" {
            assert_eq!(ended, ["100", "101", "102", "104", "105"], "{cluster}");
        } else {
            assert_eq!(ended, ["100", "101", "102", "105"], "{cluster}");
        }
    }

    // Users and projects come from the jobs.
    let members = |path: &str, list: &str| -> BTreeMap<String, Vec<String>> {
        admin_get(&srv, path)
            .iter()
            .map(|r| {
                let l = r[list].as_array().cloned().unwrap_or_default();
                (
                    s(r, "name"),
                    l.iter().map(|v| v.as_str().unwrap().to_string()).collect(),
                )
            })
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> BTreeMap<String, Vec<String>> {
        v.iter()
            .map(|(a, b)| (a.to_string(), vec![b.to_string()]))
            .collect()
    };
    assert_eq!(
        members("/api/v1/users/admin?cluster_id=c1", "projects"),
        pairs(&[("alice", "acc1"), ("bob", "acc2"), ("carol", "acc3")])
    );
    assert_eq!(
        members("/api/v1/projects/admin?cluster_id=c1", "users"),
        pairs(&[("acc1", "alice"), ("acc2", "bob"), ("acc3", "carol")])
    );

    // Stats: 5 units, 4 ended, 1 running (none in c5), 3 users, 3 projects per cluster.
    let stats = admin_get(&srv, "/api/v1/stats/global/admin");
    assert_eq!(stats.len(), 5);
    for r in &stats {
        let got = [
            "num_units",
            "num_inactive_units",
            "num_active_units",
            "num_users",
            "num_projects",
        ]
        .map(|k| f(r, k) as u64);
        if s(r, "cluster_id") == "c5" {
            assert_eq!(got, [5, 5, 0, 3, 3], "{r}");
        } else {
            assert_eq!(got, [5, 4, 1, 3, 3], "{r}");
        }
    }
    assert!(srv.terminate());
}
