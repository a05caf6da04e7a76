//! Every real log imports: the three Parallel Workloads Archive SWF logs and both Open XDMoD
//! sacct dumps. Per file, imported + rejected + skipped equals the data lines counted here, and
//! every reject is one this test expects from the raw line (SWF lines whose wait or run time is
//! `-1`). Then the API over that store answers `/units/admin`, `/usage/global/admin` and
//! `/stats/global/admin` with the totals computed here from the raw files: units per user,
//! walltime and allocated CPU time per project, units, users and projects per cluster, and a few
//! units field by field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ceems_lake_tests::Server;
use chrono::{NaiveDateTime, TimeZone};
use serde_json::Value;

use super::{
    ALL, CONFIG, Reject, admin_get, f, finish, key, read_rejects, real, s, scratch, spawn_import,
    summaries, utf8, xz_text,
};

/// What a unit should look like (the fields checked one by one for sampled units).
#[derive(Debug, Clone, PartialEq)]
struct Unit {
    uuid: String,
    user: String,
    project: String,
    state: String,
    submit_ms: Option<i64>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    walltime: f64,
    cputime: f64,
    cpus: i64,
    gpus: i64,
    mem: i64,
    /// Expected tags (a subset of the unit's tags).
    tags: BTreeMap<String, Value>,
}

/// Totals of one cluster, computed from the raw lines.
#[derive(Debug)]
struct Expected {
    /// Zone the importer renders time strings in.
    tz: chrono_tz::Tz,
    units: u64,
    per_user: BTreeMap<String, u64>,
    /// (user, project) → units, walltime, alloc_cputime.
    per_user_project: BTreeMap<(String, String), (u64, f64, f64)>,
    projects: BTreeSet<String>,
    samples: Vec<Unit>,
}

impl Expected {
    fn new(tz: chrono_tz::Tz) -> Expected {
        Expected {
            tz,
            units: 0,
            per_user: BTreeMap::new(),
            per_user_project: BTreeMap::new(),
            projects: BTreeSet::new(),
            samples: Vec::new(),
        }
    }

    fn add(&mut self, user: &str, project: &str, walltime: f64, cputime: f64) {
        self.units += 1;
        *self.per_user.entry(user.to_string()).or_default() += 1;
        let e = self
            .per_user_project
            .entry((user.to_string(), project.to_string()))
            .or_default();
        e.0 += 1;
        e.1 += walltime;
        e.2 += cputime;
        self.projects.insert(project.to_string());
    }
}

/// One input file: data lines and the rejects it must produce (line → field, value).
#[derive(Debug, Default)]
struct FileCheck {
    data_lines: u64,
    rejects: BTreeMap<u64, (String, String)>,
}

/// Renders epoch ms in a zone as the original's `YYYY-MM-DDTHH:MM:SS±hhmm`.
fn render(ms: i64, tz: chrono_tz::Tz) -> String {
    tz.timestamp_millis_opt(ms)
        .single()
        .expect("valid instant")
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string()
}

/// Reads an SWF log the simple way: `;` lines are the header, every other non-blank line has
/// 18 whitespace-separated numbers. Time strings are expected in `tz` (the header's zone).
fn swf_expected(text: &str, tz: chrono_tz::Tz) -> (FileCheck, Expected) {
    let mut check = FileCheck::default();
    let mut exp = Expected::new(tz);
    let mut start_time = None;
    let mut partitions = BTreeMap::new();
    let mut statuses_seen = BTreeSet::new();
    let last_data_line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim().starts_with(';'))
        .map(|(i, _)| i as u64 + 1)
        .last()
        .unwrap_or(0);
    for (i, line) in text.lines().enumerate() {
        let no = i as u64 + 1;
        let t = line.trim();
        if let Some(h) = t.strip_prefix(';') {
            if let Some((k, v)) = h.split_once(':') {
                match k.trim() {
                    "UnixStartTime" => start_time = Some(v.trim().parse::<i64>().unwrap()),
                    "Partition" => {
                        let mut p = v.split_whitespace();
                        let n: i64 = p.next().unwrap().parse().unwrap();
                        partitions.insert(n, p.next().unwrap_or("").to_string());
                    }
                    _ => {}
                }
            }
            continue;
        }
        if t.is_empty() {
            continue;
        }
        check.data_lines += 1;
        let fields: Vec<&str> = t.split_whitespace().collect();
        assert_eq!(fields.len(), 18, "line {no}");
        let n = |k: usize| -> i64 { fields[k].parse().unwrap() };
        let (submit, wait, run) = (n(1), n(2), n(3));
        if submit < 0 || wait < 0 || run < 0 {
            let k = if submit < 0 {
                1
            } else if wait < 0 {
                2
            } else {
                3
            };
            let name = ["", "submit_time", "wait_time", "run_time"][k];
            check
                .rejects
                .insert(no, (name.to_string(), fields[k].to_string()));
            continue;
        }
        let base = start_time.expect("UnixStartTime before the data");
        let cpus = n(4).max(0);
        // Requested memory is KB per processor (HPC2N only).
        let mem = if n(9) >= 0 { n(9) * 1024 * cpus } else { 0 };
        let submit_ms = (base + submit) * 1000;
        let start_ms = submit_ms + wait * 1000;
        let end_ms = start_ms + run * 1000;
        let user = format!("user{}", n(11));
        let project = format!("group{}", n(12));
        exp.add(&user, &project, run as f64, (cpus * run) as f64);
        // Samples: the first unit, the first of each status, the first without allocated
        // processors, the first with requested memory, and the last.
        let new_status = statuses_seen.insert(n(10));
        let sample = exp.samples.is_empty()
            || new_status
            || (n(4) < 0 && !exp.samples.iter().any(|s| s.cpus == 0))
            || (mem > 0 && !exp.samples.iter().any(|s| s.mem > 0));
        let last_line = no == last_data_line;
        if !sample && !last_line {
            continue;
        }
        let state = match n(10) {
            1 => "COMPLETED",
            0 => "FAILED",
            5 => "CANCELLED",
            -1 => "UNKNOWN",
            other => panic!("status {other} is not in these logs (line {no})"),
        };
        let mut tags = BTreeMap::new();
        if n(15) >= 0 {
            tags.insert(
                "partition".to_string(),
                Value::from(partitions.get(&n(15)).cloned().unwrap_or_default()),
            );
        }
        tags.insert("uid".to_string(), Value::from(n(11)));
        tags.insert("gid".to_string(), Value::from(n(12)));
        exp.samples.push(Unit {
            uuid: fields[0].to_string(),
            user,
            project,
            state: state.to_string(),
            submit_ms: Some(submit_ms),
            start_ms: Some(start_ms),
            end_ms: Some(end_ms),
            walltime: run as f64,
            cputime: (cpus * run) as f64,
            cpus,
            gpus: 0,
            mem,
            tags,
        });
    }
    (check, exp)
}

/// Bytes of a TRES `mem=` value: integer part times the unit (behaviour §8.2).
fn tres_mem(v: &str) -> i64 {
    let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
    let n: i64 = digits.parse().unwrap();
    let shift = match v.trim_end_matches('B').chars().last() {
        Some('K') => 10,
        Some('M') => 20,
        Some('G') => 30,
        Some('T') => 40,
        _ => return 0,
    };
    n << shift
}

/// Reads XDMoD sacct dumps: `|`-separated lines in the header file's order, times without an
/// offset in `tz`. Returns per file the line check, and per cluster the totals.
fn sacct_expected(
    files: &[String],
    header: &str,
    tz: chrono_tz::Tz,
) -> (Vec<FileCheck>, BTreeMap<String, Expected>) {
    let names: Vec<&str> = header.trim().split('|').collect();
    let col = |n: &str| names.iter().position(|x| *x == n).unwrap();
    let (c_id, c_cluster, c_part, c_acct, c_user, c_submit, c_start, c_end, c_state, c_tres) = (
        col("jobidraw"),
        col("cluster"),
        col("partition"),
        col("account"),
        col("user"),
        col("submit"),
        col("start"),
        col("end"),
        col("state"),
        col("alloctres"),
    );
    let (c_nodes, c_uid, c_gid) = (col("nodelist"), col("uid"), col("gid"));
    let ms = |t: &str| -> Option<i64> {
        let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S").ok()?;
        Some(
            tz.from_local_datetime(&naive)
                .single()
                .expect("no DST ambiguity in these dumps")
                .timestamp_millis(),
        )
    };
    let mut checks = Vec::new();
    let mut per_cluster: BTreeMap<String, Expected> = BTreeMap::new();
    for text in files {
        let mut check = FileCheck::default();
        let mut first = true;
        for (i, line) in text.lines().enumerate() {
            let no = i as u64 + 1;
            if line.trim().is_empty() {
                continue;
            }
            check.data_lines += 1;
            let v: Vec<&str> = line.split('|').collect();
            if v.len() != names.len() {
                check
                    .rejects
                    .insert(no, ("(line)".to_string(), line.to_string()));
                continue;
            }
            if v[c_id].contains('.') {
                check
                    .rejects
                    .insert(no, ("jobidraw".to_string(), v[c_id].to_string()));
                continue;
            }
            let (start, end) = (ms(v[c_start]), ms(v[c_end]));
            let e = match (start, end) {
                (Some(s), Some(e)) => ((e - s) / 1000).max(0),
                _ => 0,
            };
            let mut cpus = 0;
            let mut gpus = 0;
            let mut mem = 0;
            for item in v[c_tres].split(',').filter(|x| !x.is_empty()) {
                let (k, val) = item.split_once('=').unwrap();
                match k {
                    "cpu" => cpus = val.parse().unwrap(),
                    "gres/gpu" => gpus = val.parse().unwrap(),
                    "mem" => mem = tres_mem(val),
                    _ => {}
                }
            }
            let exp = per_cluster
                .entry(v[c_cluster].to_string())
                .or_insert_with(|| Expected::new(tz));
            exp.add(v[c_user], v[c_acct], e as f64, (cpus * e) as f64);
            // Samples: the first job of each file, the first with GPUs, the first that never
            // ran on a node.
            let pick = first
                || (gpus > 0 && !exp.samples.iter().any(|s| s.gpus > 0))
                || (v[c_nodes] == "None assigned"
                    && !exp
                        .samples
                        .iter()
                        .any(|s| s.tags["nodelist"] == "None assigned"));
            first = false;
            if !pick {
                continue;
            }
            let mut tags = BTreeMap::new();
            tags.insert("partition".to_string(), Value::from(v[c_part]));
            tags.insert("nodelist".to_string(), Value::from(v[c_nodes]));
            tags.insert(
                "uid".to_string(),
                Value::from(v[c_uid].parse::<i64>().unwrap()),
            );
            tags.insert(
                "gid".to_string(),
                Value::from(v[c_gid].parse::<i64>().unwrap()),
            );
            exp.samples.push(Unit {
                uuid: v[c_id].to_string(),
                user: v[c_user].to_string(),
                project: v[c_acct].to_string(),
                state: v[c_state].to_string(),
                submit_ms: ms(v[c_submit]),
                start_ms: start,
                end_ms: end,
                walltime: e as f64,
                cputime: (cpus * e) as f64,
                cpus,
                gpus,
                mem,
                tags,
            });
        }
        checks.push(check);
    }
    (checks, per_cluster)
}

/// Checks one file's summary and rejects against the raw lines.
fn check_file(name: &str, check: &FileCheck, summary: &super::Summary, rejects: &[&Reject]) {
    let skipped = check
        .rejects
        .values()
        .filter(|(f, _)| f == "jobidraw")
        .count() as u64;
    let rejected = check.rejects.len() as u64 - skipped;
    assert_eq!(summary.read, check.data_lines, "{name}: rows read");
    assert_eq!(
        summary.inserted + summary.rejected + summary.skipped,
        check.data_lines,
        "{name}: imported + rejected + skipped must be the data lines"
    );
    assert_eq!(
        (summary.rejected, summary.skipped),
        (rejected, skipped),
        "{name}"
    );
    let got: BTreeMap<u64, (String, String)> = rejects
        .iter()
        .map(|r| (r.line, (r.field.clone(), r.value.clone())))
        .collect();
    assert_eq!(got.len(), rejects.len(), "{name}: a line is listed twice");
    assert_eq!(got, check.rejects, "{name}: rejected lines");
    for r in rejects {
        if r.field.ends_with("_time") {
            assert!(
                r.value == "-1" && r.reason.contains("unknown"),
                "{name}: unjustified reason for line {}: {r:?}",
                r.line
            );
        }
    }
}

/// Sampled units through `/units/admin?uuid=…`, time strings as stored (rendered by the
/// importer in the log's zone).
fn check_samples(srv: &Server, cluster: &str, samples: &[Unit], tz: chrono_tz::Tz) {
    let mut q = format!("/api/v1/units/admin?cluster_id={cluster}");
    for u in samples {
        q.push_str(&format!("&uuid={}", u.uuid));
    }
    let rows = admin_get(srv, &q);
    assert_eq!(rows.len(), samples.len(), "{q}: {rows:?}");
    for u in samples {
        let r = rows
            .iter()
            .find(|r| s(r, "uuid") == u.uuid)
            .unwrap_or_else(|| panic!("{cluster}/{} not returned", u.uuid));
        check_sample(cluster, u, r, tz);
    }
}

fn check_sample(cluster: &str, u: &Unit, r: &Value, tz: chrono_tz::Tz) {
    let ctx = format!("{cluster}/{}", u.uuid);
    assert_eq!(s(r, "username"), u.user, "{ctx}");
    assert_eq!(s(r, "project"), u.project, "{ctx}");
    assert_eq!(s(r, "state"), u.state, "{ctx}");
    assert_eq!(s(r, "resource_manager"), "slurm", "{ctx}");
    let ts = |k: &str| r.get(k).and_then(Value::as_i64);
    assert_eq!(ts("created_at_ts"), u.submit_ms, "{ctx}");
    assert_eq!(ts("started_at_ts"), u.start_ms, "{ctx}");
    assert_eq!(ts("ended_at_ts"), u.end_ms, "{ctx}");
    let started_at = u.start_ms.map_or("Unknown".into(), |t| render(t, tz));
    assert_eq!(s(r, "started_at"), started_at, "{ctx}");
    assert_eq!(
        key(r, "total_time_seconds", "walltime"),
        u.walltime,
        "{ctx}"
    );
    assert_eq!(
        key(r, "total_time_seconds", "alloc_cputime"),
        u.cputime,
        "{ctx}"
    );
    for (k, v) in [("cpus", u.cpus), ("gpus", u.gpus), ("mem", u.mem)] {
        assert_eq!(
            r["allocation"][k].as_i64(),
            Some(v),
            "{ctx}: allocation.{k}"
        );
    }
    for (k, v) in &u.tags {
        assert_eq!(&r["tags"][k], v, "{ctx}: tags.{k}");
    }
}

fn check_cluster(srv: &Server, cluster: &str, exp: &Expected) {
    // Units per user, from every unit of the cluster.
    let units = admin_get(
        srv,
        &format!("/api/v1/units/admin?cluster_id={cluster}&{ALL}&field=username"),
    );
    let mut per_user: BTreeMap<String, u64> = BTreeMap::new();
    for u in &units {
        *per_user.entry(s(u, "username")).or_default() += 1;
    }
    assert_eq!(units.len() as u64, exp.units, "{cluster}: units listed");
    assert_eq!(per_user, exp.per_user, "{cluster}: units per user");

    // Units, walltime and CPU time per (user, project), and per project.
    let rows = admin_get(
        srv,
        &format!(
            "/api/v1/usage/global/admin?cluster_id={cluster}&field=cluster_id&field=username\
             &field=project&field=num_units&field=total_time_seconds"
        ),
    );
    let mut got: BTreeMap<(String, String), (u64, f64, f64)> = BTreeMap::new();
    for r in &rows {
        assert_eq!(s(r, "cluster_id"), cluster);
        let prev = got.insert(
            (s(r, "username"), s(r, "project")),
            (
                f(r, "num_units") as u64,
                key(r, "total_time_seconds", "walltime"),
                key(r, "total_time_seconds", "alloc_cputime"),
            ),
        );
        assert!(prev.is_none(), "{cluster}: usage row twice: {r}");
    }
    assert_eq!(
        got, exp.per_user_project,
        "{cluster}: usage per user and project"
    );
    let per_project = |m: &BTreeMap<(String, String), (u64, f64, f64)>| {
        let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for ((_, p), (_, w, c)) in m {
            let e = out.entry(p.clone()).or_default();
            e.0 += w;
            e.1 += c;
        }
        out
    };
    assert_eq!(
        per_project(&got),
        per_project(&exp.per_user_project),
        "{cluster}: walltime and CPU time per project"
    );

    check_samples(srv, cluster, &exp.samples, exp.tz);
}

#[test]
fn real_logs_import_completely_and_the_api_agrees_with_the_raw_files() {
    let dir = scratch("real-logs");
    let data = dir.path().join("lake");
    let batch = ["--batch-size", "200000"];
    let mut clusters: BTreeMap<String, Expected> = BTreeMap::new();

    // SWF: one cluster per log, times in each header's zone.
    for (file, cluster, tz) in [
        (
            "pwa-swf/CEA-Curie-2011-2.1-cln.swf.xz",
            "cea-curie",
            chrono_tz::Europe::Paris,
        ),
        (
            "pwa-swf/HPC2N-2002-2.2-cln.swf.xz",
            "hpc2n",
            chrono_tz::Europe::Stockholm,
        ),
        (
            "pwa-swf/KTH-SP2-1996-2.1-cln.swf.xz",
            "kth-sp2",
            chrono_tz::Europe::Stockholm,
        ),
    ] {
        let path = real(file);
        let rejects_file = dir.path().join(format!("{cluster}.rejects"));
        let child = spawn_import(
            &data,
            "swf",
            &[&path],
            &[
                "--cluster-id",
                cluster,
                "--rejects",
                utf8(&rejects_file),
                batch[0],
                batch[1],
            ],
        );
        let (check, exp) = swf_expected(&xz_text(&path), tz);
        let summary = super::summary(&finish(child));
        let rejects = read_rejects(&rejects_file);
        assert!(rejects.iter().all(|r| r.file == utf8(&path)), "{rejects:?}");
        check_file(file, &check, &summary, &rejects.iter().collect::<Vec<_>>());
        clusters.insert(cluster.to_string(), exp);
    }
    // The one reject of these logs, as SOURCE.md counts them: HPC2N's unknown wait time.
    assert_eq!(clusters["hpc2n"].units, 202_871 - 1);

    // sacct: both dumps in one command, with the header file; clusters from the dumps.
    let header = real("slurm-xdmod-reference/xdmod-sacct.header");
    let dumps: Vec<PathBuf> = ["phillips.log.xz", "pozidriv.log.xz"]
        .iter()
        .map(|f| real(&format!("slurm-xdmod-reference/{f}")))
        .collect();
    let rejects_file = dir.path().join("sacct.rejects");
    let paths: Vec<&Path> = dumps.iter().map(PathBuf::as_path).collect();
    let child = spawn_import(
        &data,
        "sacct",
        &paths,
        &[
            "--header-file",
            utf8(&header),
            "--time-zone",
            "America/New_York",
            "--rejects",
            utf8(&rejects_file),
            batch[0],
            batch[1],
        ],
    );
    let texts: Vec<String> = dumps.iter().map(|p| xz_text(p)).collect();
    let header_line = std::fs::read_to_string(&header).expect("header file");
    let tz = chrono_tz::America::New_York;
    let (checks, per_cluster) = sacct_expected(&texts, &header_line, tz);
    let sections = summaries(&finish(child));
    let rejects = read_rejects(&rejects_file);
    for (p, check) in dumps.iter().zip(&checks) {
        let name = utf8(p);
        let of_file: Vec<&Reject> = rejects.iter().filter(|r| r.file == name).collect();
        check_file(name, check, &sections[name], &of_file);
    }
    assert_eq!(
        rejects.len() as u64,
        checks.iter().map(|c| c.rejects.len() as u64).sum::<u64>()
    );
    assert_eq!(per_cluster.len(), 2, "{:?}", per_cluster.keys());
    for (c, exp) in per_cluster {
        clusters.insert(c, exp);
    }

    // The API over the store.
    let srv = Server::start(&data, Some(CONFIG), &[]);
    let stats = admin_get(&srv, "/api/v1/stats/global/admin");
    let got: BTreeMap<String, [u64; 5]> = stats
        .iter()
        .map(|r| {
            assert_eq!(s(r, "resource_manager"), "slurm");
            (
                s(r, "cluster_id"),
                [
                    "num_units",
                    "num_inactive_units",
                    "num_active_units",
                    "num_users",
                    "num_projects",
                ]
                .map(|k| f(r, k) as u64),
            )
        })
        .collect();
    let want: BTreeMap<String, [u64; 5]> = clusters
        .iter()
        .map(|(c, e)| {
            (
                c.clone(),
                [
                    e.units,
                    e.units,
                    0,
                    e.per_user.len() as u64,
                    e.projects.len() as u64,
                ],
            )
        })
        .collect();
    assert_eq!(got, want, "stats per cluster");
    for (cluster, exp) in &clusters {
        check_cluster(&srv, cluster, exp);
    }
    assert!(srv.terminate(), "the server did not stop cleanly");
}
