//! `import swf`: Standard Workload Format logs (the Parallel Workloads Archive, version 2.x).
//!
//! The leading `;` comment block is the header: `UnixStartTime` (the epoch all times are
//! relative to), `TimeZoneString` (the zone time strings are rendered in unless one is given),
//! `MaxNodes`/`MaxProcs` (cores per node, when they divide) and the `Partition: N name` and
//! `Queue: N name` tables. Every data line has 18 numbers; `-1` means unknown. A job becomes a
//! unit with:
//!
//! - uuid = job number; created = UnixStartTime + submit; started = created + wait;
//!   ended = started + run time; `elapsed` rendered from the run time;
//! - user `user<N>`, group `group<N>` and, since SWF has no accounts, project = the group;
//! - state from the status code (1 COMPLETED, 0 FAILED, 5 CANCELLED, 2 PREEMPTED (partial,
//!   continued), 3 COMPLETED and 4 FAILED (last partial run), -1 UNKNOWN);
//! - allocation `{"billing":0,"cpus","gpus":0,"mem","nodes"}`: cpus = allocated processors
//!   (0 when unknown), mem = requested memory per processor × cpus, nodes from cores per node;
//! - tags `{"gid","partition","queue","uid"}` with the header's names (the number when the
//!   header names none);
//! - `total_time_seconds` as for Slurm units; `avg_cpu_usage.global` = 100 × average CPU time
//!   per processor / run time and `avg_cpu_mem_usage.global` = 100 × used / requested memory,
//!   where the log has them.
//!
//! Lines whose wait or run time is unknown are rejected: their start or end cannot be placed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::ingest::builder::UnitFields;
use crate::ingest::estimate::EnergyModel;
use crate::ingest::source::{
    self, Clock, Emitter, Job, LineFormat, LineKind, push_elapsed, push_int, push_json_str, reject,
};
use crate::ingest::{ImportObserver, ImportOptions, ImportSummary};
use crate::store::Store;
use crate::time::DataTz;

/// Latest second a unit may end at: 9999-12-31T23:59:59Z.
const LAST_SECOND: i64 = 253_402_300_799;

/// How a log is imported.
#[derive(Debug, Clone)]
pub struct SwfOptions {
    /// Cluster id of every unit (required: SWF logs do not name their machine in a field).
    pub cluster_id: String,
    /// `resource_manager` of the units.
    pub resource_manager: String,
    /// Zone of the rendered time strings; `None`: the header's `TimeZoneString`, else the
    /// import's zone.
    pub time_zone: Option<DataTz>,
    /// Epoch of the relative times when the header has no `UnixStartTime`.
    pub unix_start_time: Option<i64>,
    pub estimate: Option<Arc<EnergyModel>>,
}

/// What the header says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SwfHeader {
    pub unix_start_time: Option<i64>,
    pub time_zone: Option<String>,
    pub max_nodes: Option<i64>,
    pub max_procs: Option<i64>,
    pub partitions: BTreeMap<i64, String>,
    pub queues: BTreeMap<i64, String>,
}

impl SwfHeader {
    /// Reads one comment line (`; Key: value`).
    pub fn read_comment(&mut self, line: &str) {
        let Some(body) = line.trim_start().strip_prefix(';') else {
            return;
        };
        let Some((key, value)) = body.split_once(':') else {
            return;
        };
        let (key, value) = (key.trim(), value.trim());
        let int = |v: &str| {
            v.split_whitespace()
                .next()
                .and_then(|x| x.parse::<i64>().ok())
        };
        match key {
            "UnixStartTime" => self.unix_start_time = int(value),
            "TimeZoneString" if !value.is_empty() => self.time_zone = Some(value.to_string()),
            "MaxNodes" => self.max_nodes = int(value),
            "MaxProcs" => self.max_procs = int(value),
            "Partition" | "Queue" => {
                let mut parts = value.splitn(2, char::is_whitespace);
                let Some(n) = parts.next().and_then(|n| n.parse::<i64>().ok()) else {
                    return;
                };
                let name = parts.next().unwrap_or("").trim();
                let name = if name.is_empty() {
                    n.to_string()
                } else {
                    name.to_string()
                };
                if key == "Partition" {
                    self.partitions.insert(n, name);
                } else {
                    self.queues.insert(n, name);
                }
            }
            _ => {}
        }
    }

    /// Cores per node when the header's totals divide evenly.
    pub fn cores_per_node(&self) -> Option<i64> {
        match (self.max_procs, self.max_nodes) {
            (Some(p), Some(n)) if p > 0 && n > 0 && p % n == 0 => Some(p / n),
            _ => None,
        }
    }
}

/// The state of an SWF status code.
pub fn swf_state(status: i64) -> Option<&'static str> {
    Some(match status {
        0 => "FAILED",
        1 => "COMPLETED",
        2 => "PREEMPTED",
        3 => "COMPLETED",
        4 => "FAILED",
        5 => "CANCELLED",
        -1 => "UNKNOWN",
        _ => return None,
    })
}

/// Names of the 18 SWF fields, for rejects.
pub const SWF_FIELDS: [&str; 18] = [
    "job_number",
    "submit_time",
    "wait_time",
    "run_time",
    "allocated_processors",
    "average_cpu_time",
    "used_memory",
    "requested_processors",
    "requested_time",
    "requested_memory",
    "status",
    "user_id",
    "group_id",
    "executable_number",
    "queue_number",
    "partition_number",
    "preceding_job_number",
    "think_time",
];

struct Swf {
    name: String,
    opts: SwfOptions,
    header: SwfHeader,
    base: i64,
    cores_per_node: Option<i64>,
    clock: Clock,
    values: [f64; 18],
    created_at: String,
    started_at: String,
    ended_at: String,
    elapsed: String,
    allocation: String,
    tags: String,
    user: String,
    group: String,
    job_name: String,
    last_updated: String,
    partition: String,
}

impl LineFormat for Swf {
    fn classify(&mut self, _line_no: u64, line: &str) -> Result<LineKind> {
        let t = line.trim_start();
        if t.is_empty() {
            return Ok(LineKind::NotData);
        }
        if t.starts_with(';') {
            return Ok(LineKind::NotData);
        }
        Ok(LineKind::Data)
    }

    fn parse(&mut self, line_no: u64, line: &str, out: &mut Emitter) {
        let loc = || format!("{} line {line_no}", self.name);
        let mut n = 0;
        let mut uuid = "";
        for tok in line.split_ascii_whitespace() {
            if n == 18 {
                n += 1;
                break;
            }
            if n == 0 {
                uuid = tok;
            }
            let v = if n == 5 {
                tok.parse::<f64>().ok().filter(|v| v.is_finite())
            } else {
                tok.parse::<i64>().ok().map(|v| v as f64)
            };
            match v {
                Some(v) => self.values[n] = v,
                None => {
                    out.reject(reject(
                        &loc(),
                        SWF_FIELDS[n],
                        tok,
                        if n == 5 {
                            "not a number"
                        } else {
                            "not an integer"
                        },
                    ));
                    return;
                }
            }
            n += 1;
        }
        if n != 18 {
            out.reject(reject(
                &loc(),
                "(line)",
                line,
                format!(
                    "expected 18 whitespace-separated fields, found {}",
                    if n > 18 {
                        "more".to_string()
                    } else {
                        n.to_string()
                    }
                ),
            ));
            return;
        }
        let v = self.values;
        let i = |k: usize| v[k] as i64;
        if i(0) < 0 {
            out.reject(reject(&loc(), "job_number", uuid, "negative job number"));
            return;
        }
        let Some(state) = swf_state(i(10)) else {
            out.reject(reject(
                &loc(),
                "status",
                &i(10).to_string(),
                "unknown status code (expected -1, 0, 1, 2, 3, 4 or 5)",
            ));
            return;
        };
        if i(1) < 0 {
            out.reject(reject(
                &loc(),
                "submit_time",
                &i(1).to_string(),
                format!(
                    "submit time {} ({}): the job cannot be placed in time",
                    i(1),
                    if i(1) == -1 { "unknown" } else { "negative" }
                ),
            ));
            return;
        }
        if i(2) < 0 {
            out.reject(reject(
                &loc(),
                "wait_time",
                &i(2).to_string(),
                format!(
                    "wait time {} ({}): the start and end times cannot be derived",
                    i(2),
                    if i(2) == -1 { "unknown" } else { "negative" }
                ),
            ));
            return;
        }
        if i(3) < 0 {
            out.reject(reject(
                &loc(),
                "run_time",
                &i(3).to_string(),
                format!(
                    "run time {} ({}): the end time cannot be derived",
                    i(3),
                    if i(3) == -1 { "unknown" } else { "negative" }
                ),
            ));
            return;
        }
        // Checked: a corrupt line with huge numbers is rejected, never wrapped or a panic.
        let Some((submit, start, end)) = self
            .base
            .checked_add(i(1))
            .and_then(|s| Some((s, s.checked_add(i(2))?)))
            .and_then(|(s, st)| Some((s, st, st.checked_add(i(3))?)))
            .filter(|(_, _, en)| *en <= LAST_SECOND)
            .map(|(s, st, en)| (s * 1000, st * 1000, en * 1000))
        else {
            out.reject(reject(
                &loc(),
                "submit_time",
                &format!("{} + {} + {}", i(1), i(2), i(3)),
                "submit, wait and run times end after the year 9999",
            ));
            return;
        };
        let run = i(3);
        let cpus = i(4).max(0);
        if cpus.checked_mul(run).is_none() {
            out.reject(reject(
                &loc(),
                "allocated_processors",
                &cpus.to_string(),
                "allocated processors × run time is out of range",
            ));
            return;
        }
        let mem = if i(9) >= 0 {
            match i(9).checked_mul(1024).and_then(|m| m.checked_mul(cpus)) {
                Some(m) => m,
                None => {
                    out.reject(reject(
                        &loc(),
                        "requested_memory",
                        &i(9).to_string(),
                        "requested memory × processors is out of range",
                    ));
                    return;
                }
            }
        } else {
            0
        };
        let nodes = match self.cores_per_node {
            Some(c) if cpus > 0 => (cpus + c - 1) / c,
            _ => 0,
        };
        let e = run;
        let b = &mut out.builder;
        b.stage_metric(0, "walltime", e as f64);
        b.stage_metric(0, "alloc_cputime", (cpus * e) as f64);
        b.stage_metric(
            0,
            "alloc_cpumemtime",
            if mem > 0 {
                mem as f64 / 1_048_576.0 * e as f64
            } else {
                e as f64
            },
        );
        b.stage_metric(0, "alloc_gputime", 0.0);
        b.stage_metric(0, "alloc_gpumemtime", 0.0);
        if v[5] >= 0.0 && run > 0 {
            b.stage_metric(1, "global", 100.0 * v[5] / run as f64);
        }
        if v[6] >= 0.0 && v[9] > 0.0 {
            b.stage_metric(2, "global", 100.0 * v[6] / v[9]);
        }
        // The partition's name from the header (its number when the header names none), in a
        // reused buffer: no allocation per line.
        self.partition.clear();
        if i(15) >= 0 {
            match self.header.partitions.get(&i(15)) {
                Some(name) => self.partition.push_str(name),
                None => push_int(&mut self.partition, i(15)),
            }
        }
        let partition = (i(15) >= 0).then_some(self.partition.as_str());
        let mut estimated = false;
        if let Some(m) = &self.opts.estimate {
            let est = m.estimate(
                &self.opts.cluster_id,
                partition.unwrap_or(""),
                cpus as f64,
                0.0,
                e as f64,
            );
            if est.any() {
                m.stage(b, &est);
                estimated = true;
            }
        }

        for (ms, s) in [
            (submit, &mut self.created_at),
            (start, &mut self.started_at),
            (end, &mut self.ended_at),
        ] {
            s.clear();
            self.clock.render(ms, s);
        }
        self.last_updated.clear();
        self.clock.render_naive(end, &mut self.last_updated);
        self.elapsed.clear();
        push_elapsed(&mut self.elapsed, run);
        let a = &mut self.allocation;
        a.clear();
        a.push_str("{\"billing\":0,\"cpus\":");
        push_int(a, cpus);
        a.push_str(",\"gpus\":0,\"mem\":");
        push_int(a, mem);
        a.push_str(",\"nodes\":");
        push_int(a, nodes);
        a.push('}');
        let t = &mut self.tags;
        t.clear();
        t.push('{');
        if estimated {
            t.push_str("\"energy_source\":\"estimated\",");
        }
        if i(12) >= 0 {
            t.push_str("\"gid\":");
            push_int(t, i(12));
            t.push(',');
        }
        if let Some(p) = partition {
            t.push_str("\"partition\":");
            push_json_str(t, p);
            t.push(',');
        }
        if i(14) >= 0 {
            t.push_str("\"queue\":");
            match self.header.queues.get(&i(14)) {
                Some(q) => push_json_str(t, q),
                None => {
                    t.push('"');
                    push_int(t, i(14));
                    t.push('"');
                }
            }
            t.push(',');
        }
        if i(11) >= 0 {
            t.push_str("\"uid\":");
            push_int(t, i(11));
            t.push(',');
        }
        if t.ends_with(',') {
            t.pop();
        }
        t.push('}');
        let named = |s: &mut String, prefix: &str, n: i64| {
            s.clear();
            if n >= 0 {
                s.push_str(prefix);
                push_int(s, n);
            }
        };
        named(&mut self.user, "user", i(11));
        named(&mut self.group, "group", i(12));
        named(&mut self.job_name, "app", i(13));

        let f = UnitFields {
            cluster_id: &self.opts.cluster_id,
            resource_manager: &self.opts.resource_manager,
            uuid,
            name: &self.job_name,
            project: &self.group,
            groupname: &self.group,
            username: &self.user,
            created_at: &self.created_at,
            started_at: &self.started_at,
            ended_at: &self.ended_at,
            created_at_ts: Some(submit),
            started_at_ts: Some(start),
            ended_at_ts: Some(end),
            elapsed: &self.elapsed,
            state,
            allocation: &self.allocation,
            tags: &self.tags,
            ignore: false,
            num_updates: 1,
            last_updated_at: &self.last_updated,
            last_updated_at_ts: Some(end),
        };
        out.builder.commit_row(&f);
        out.member(
            &self.opts.cluster_id,
            &self.opts.resource_manager,
            &self.user,
            &self.group,
            &self.last_updated,
        );
    }
}

/// Reads the leading comment block of a log.
pub fn read_header(path: &Path) -> Result<SwfHeader> {
    let mut input = source::open_input(path)?;
    let mut h = SwfHeader::default();
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        line.clear();
        let n = std::io::BufRead::read_until(&mut input.reader, b'\n', &mut line).map_err(|e| {
            Error::Io {
                path: path.display().to_string(),
                source: e,
            }
        })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = String::from_utf8_lossy(&line);
        let t = source::without_bom(line_no, &text).trim();
        if t.is_empty() {
            continue;
        }
        if !t.starts_with(';') {
            break;
        }
        h.read_comment(t);
    }
    Ok(h)
}

/// Imports one SWF log (plain or gzip/xz/zstd-compressed).
pub async fn import(
    store: &Store,
    path: &Path,
    sopts: &SwfOptions,
    opts: &ImportOptions,
    observer: &dyn ImportObserver,
) -> Result<ImportSummary> {
    if !path.is_file() {
        return Err(Error::InvalidArgument(format!(
            "{}: no such file",
            path.display()
        )));
    }
    if sopts.cluster_id.is_empty() {
        return Err(Error::InvalidArgument(
            "an SWF import needs a cluster id (--cluster-id)".into(),
        ));
    }
    let header = read_header(path)?;
    let base = sopts
        .unix_start_time
        .or(header.unix_start_time)
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{}: the header has no UnixStartTime; give --unix-start-time",
                path.display()
            ))
        })?;
    let tz = match (sopts.time_zone, &header.time_zone) {
        (Some(tz), _) => tz,
        (None, Some(name)) => DataTz::parse(name).map_err(|e| {
            Error::InvalidArgument(format!(
                "{}: TimeZoneString of the header: {e}; give --time-zone",
                path.display()
            ))
        })?,
        (None, None) => opts.time_zone,
    };
    let options = format!(
        "{}|{}|{}|{base}|{}",
        sopts.cluster_id,
        sopts.resource_manager,
        tz.name(),
        sopts
            .estimate
            .as_ref()
            .map(|m| m.describe())
            .unwrap_or_default()
    );
    let source = source::fingerprint("swf", path, &options)?;
    let input = source::open_input(path)?;
    let mut fmt = Swf {
        name: path.display().to_string(),
        opts: sopts.clone(),
        cores_per_node: header.cores_per_node(),
        header: header.clone(),
        base,
        clock: Clock::new(tz),
        values: [0.0; 18],
        created_at: String::new(),
        started_at: String::new(),
        ended_at: String::new(),
        elapsed: String::new(),
        allocation: String::new(),
        tags: String::new(),
        user: String::new(),
        group: String::new(),
        job_name: String::new(),
        last_updated: String::new(),
        partition: String::new(),
    };
    let snap = store.snapshot().await?;
    let job = Job {
        store,
        source,
        label: format!("import swf {}", path.display()),
        batch_rows: opts.batch_rows,
        file_bytes: input.file_bytes,
        total_rows: None,
        observer,
    };
    source::run(
        job,
        snap.manifest.metric_keys.clone(),
        tz,
        move |resume_after, em| source::read_lines(input, resume_after, &mut fmt, em),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_states() {
        assert_eq!(swf_state(1), Some("COMPLETED"));
        assert_eq!(swf_state(0), Some("FAILED"));
        assert_eq!(swf_state(5), Some("CANCELLED"));
        assert_eq!(swf_state(-1), Some("UNKNOWN"));
        assert_eq!(swf_state(2), Some("PREEMPTED"));
        assert_eq!(swf_state(3), Some("COMPLETED"));
        assert_eq!(swf_state(4), Some("FAILED"));
        assert_eq!(swf_state(6), None);
    }

    #[test]
    fn header_comments() {
        let mut h = SwfHeader::default();
        for l in [
            "; UnixStartTime: 1296571124",
            ";",
            "; TimeZoneString: Europe/Paris",
            "; MaxNodes: 5544",
            "; MaxProcs: 93312",
            "; Queue:  1  ",
            "; Partition:  1  test",
            "; Partition: 19  `;",
            "; Partition: 18  z+i5U=:",
            "; Note: hybrid nodes: not counted",
        ] {
            h.read_comment(l);
        }
        assert_eq!(h.unix_start_time, Some(1_296_571_124));
        assert_eq!(h.time_zone.as_deref(), Some("Europe/Paris"));
        assert_eq!(h.partitions.get(&1).map(String::as_str), Some("test"));
        assert_eq!(h.partitions.get(&19).map(String::as_str), Some("`;"));
        assert_eq!(h.partitions.get(&18).map(String::as_str), Some("z+i5U=:"));
        assert_eq!(h.queues.get(&1).map(String::as_str), Some("1"));
        assert_eq!(h.cores_per_node(), None, "93312 / 5544 does not divide");
        h.max_procs = Some(240);
        h.max_nodes = Some(120);
        assert_eq!(h.cores_per_node(), Some(2));
    }
}
