//! `import sacct`: Slurm accounting dumps (`sacct --parsable2`, fields separated by `|`).
//!
//! A dump may start with a header line (`JobIDRaw|Partition|…`, as sacct prints without
//! `--noheader`); without one, the fields are those CEEMS itself asks sacct for (see
//! [`DEFAULT_FIELDS`]) or the list given by the caller. Field names are case-insensitive and
//! unknown ones are ignored. Each job allocation becomes one unit shaped like the original's
//! Slurm units:
//!
//! - `allocation` `{"billing","cpus","gpus","mem" (bytes),"nodes"}` from AllocTRES (ReqTRES,
//!   then NCPUS/NNodes when AllocTRES is empty); `mem` takes the integer part times the unit
//!   (`320.5G` → 320·2³⁰; no unit → 0), GPUs come from `gres/gpu=N`, or the sum of the typed
//!   `gres/gpu:TYPE=N` when the untyped entry is absent;
//! - `tags` `{"exit_code","gid","nodelist","nodelistexp","partition","qos","uid","workdir"}`,
//!   `nodelistexp` being the expanded host list joined by `|` (empty for `None assigned`);
//! - `total_time_seconds`: with e the run time (end − start; for a running job the dump's
//!   Elapsed; 0 without a start): walltime = e, alloc_cputime = cpus·e, alloc_cpumemtime =
//!   mem/MiB·e (e when mem = 0), alloc_gputime = gpus·e, alloc_gpumemtime = e when gpus > 0;
//! - times rendered `YYYY-MM-DDTHH:MM:SS±hhmm` in the data zone, `Unknown` when unset; times
//!   without an offset are read in the data zone (DST-correct);
//! - `ConsumedEnergyRaw` (joules), when dumped, as measured `total_cpu_energy_usage_kwh`.
//!
//! Job steps (ids with a `.`) are skipped and listed with the rejects. `last_updated_at` is the
//! job's end (start + Elapsed for a running job), so a later dump of a job that was running
//! replaces it and a re-import of the same dump changes nothing.

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::ingest::builder::UnitFields;
use crate::ingest::estimate::EnergyModel;
use crate::ingest::source::{
    self, Clock, Emitter, Job, LineFormat, LineKind, parse_duration, push_elapsed, push_int,
    push_json_str, push_uint, reject, trim,
};
use crate::ingest::{ImportObserver, ImportOptions, ImportSummary};
use crate::schema::METRIC_MAPS;
use crate::store::Store;

/// The fields CEEMS asks sacct for (behaviour §8.2), the layout of a dump without a header.
pub const DEFAULT_FIELDS: [&str; 19] = [
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

/// How a dump is imported.
#[derive(Debug, Clone)]
pub struct SacctOptions {
    /// Cluster id of every unit; without it the dump's `cluster` column is used.
    pub cluster_id: Option<String>,
    /// Field list of a dump without a header line (default [`DEFAULT_FIELDS`]).
    pub fields: Option<Vec<String>>,
    /// `resource_manager` of the units.
    pub resource_manager: String,
    /// Estimated energy for units without measured energy.
    pub estimate: Option<Arc<EnergyModel>>,
}

impl Default for SacctOptions {
    fn default() -> Self {
        SacctOptions {
            cluster_id: None,
            fields: None,
            resource_manager: "slurm".into(),
            estimate: None,
        }
    }
}

/// The sacct fields the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    JobIdRaw,
    JobId,
    Cluster,
    Partition,
    Qos,
    Account,
    Group,
    Gid,
    User,
    Uid,
    Submit,
    Start,
    End,
    Elapsed,
    ElapsedRaw,
    ExitCode,
    State,
    NNodes,
    NCpus,
    AllocCpus,
    AllocNodes,
    ReqTres,
    AllocTres,
    NodeList,
    JobName,
    WorkDir,
    ConsumedEnergyRaw,
}

const ALL_F: [(F, &str); 27] = [
    (F::JobIdRaw, "jobidraw"),
    (F::JobId, "jobid"),
    (F::Cluster, "cluster"),
    (F::Partition, "partition"),
    (F::Qos, "qos"),
    (F::Account, "account"),
    (F::Group, "group"),
    (F::Gid, "gid"),
    (F::User, "user"),
    (F::Uid, "uid"),
    (F::Submit, "submit"),
    (F::Start, "start"),
    (F::End, "end"),
    (F::Elapsed, "elapsed"),
    (F::ElapsedRaw, "elapsedraw"),
    (F::ExitCode, "exitcode"),
    (F::State, "state"),
    (F::NNodes, "nnodes"),
    (F::NCpus, "ncpus"),
    (F::AllocCpus, "alloccpus"),
    (F::AllocNodes, "allocnodes"),
    (F::ReqTres, "reqtres"),
    (F::AllocTres, "alloctres"),
    (F::NodeList, "nodelist"),
    (F::JobName, "jobname"),
    (F::WorkDir, "workdir"),
    (F::ConsumedEnergyRaw, "consumedenergyraw"),
];

/// Where each known field is in a line.
#[derive(Debug, Clone)]
struct Layout {
    names: Vec<String>,
    at: [Option<usize>; ALL_F.len()],
}

impl Layout {
    fn new(names: &[String]) -> Layout {
        let mut at = [None; ALL_F.len()];
        for (i, n) in names.iter().enumerate() {
            let n = n.trim().to_ascii_lowercase();
            if let Some(k) = ALL_F.iter().position(|(_, name)| *name == n)
                && at[k].is_none()
            {
                at[k] = Some(i);
            }
        }
        Layout {
            names: names.iter().map(|n| n.trim().to_string()).collect(),
            at,
        }
    }

    fn idx(&self, f: F) -> Option<usize> {
        self.at[f as usize]
    }
}

/// Whether `line` is a sacct header line.
fn is_header(line: &str) -> bool {
    let mut has_id = false;
    for t in line.split('|') {
        let t = t.trim();
        if t.is_empty()
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            || t.as_bytes()[0].is_ascii_digit()
        {
            return false;
        }
        if t.eq_ignore_ascii_case("jobid") || t.eq_ignore_ascii_case("jobidraw") {
            has_id = true;
        }
    }
    has_id
}

// ---------------------------------------------------------------------------------------------
// TRES

/// Resources of a TRES string (`billing=12,cpu=12,gres/gpu=2,mem=31000M,node=1`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tres {
    pub cpus: Option<i64>,
    pub mem_bytes: Option<i64>,
    pub nodes: Option<i64>,
    pub billing: Option<i64>,
    /// `gres/gpu=N` (any type).
    pub gpus: Option<i64>,
    /// Sum of `gres/gpu:TYPE=N`.
    pub typed_gpus: Option<i64>,
}

impl Tres {
    /// GPUs: the untyped count, else the sum of typed counts.
    pub fn gpu_count(&self) -> Option<i64> {
        self.gpus.or(self.typed_gpus)
    }

    pub fn is_empty(&self) -> bool {
        *self == Tres::default()
    }
}

/// Memory of a TRES `mem=` value in bytes, as the original reads it: the integer part times
/// the unit (K, M, G, T, P; powers of 1024); a value without a unit counts 0.
pub fn parse_tres_mem(v: &str) -> std::result::Result<i64, String> {
    let b = trim(v).as_bytes();
    let int_end = b
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(b.len());
    if int_end == 0 {
        return Err(format!("memory {v:?} does not start with a number"));
    }
    let int: i64 = trim(v)[..int_end]
        .parse()
        .map_err(|_| format!("memory {v:?} is out of range"))?;
    let mut i = int_end;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    let shift = match &b[i..] {
        [] => return Ok(0),
        [u] | [u, b'B' | b'b'] => match u.to_ascii_uppercase() {
            b'K' => 10,
            b'M' => 20,
            b'G' => 30,
            b'T' => 40,
            b'P' => 50,
            _ => return Err(format!("memory {v:?} has an unknown unit")),
        },
        _ => return Err(format!("memory {v:?} has an unknown unit")),
    };
    int.checked_mul(1i64 << shift)
        .ok_or_else(|| format!("memory {v:?} is out of range"))
}

fn tres_int(k: &str, v: &str) -> std::result::Result<i64, String> {
    trim(v)
        .parse::<i64>()
        .map_err(|_| format!("{k}={v:?} is not an integer"))
}

/// Parses a TRES list. Unknown resources are ignored.
pub fn parse_tres(s: &str) -> std::result::Result<Tres, String> {
    let mut t = Tres::default();
    let s = trim(s);
    if s.is_empty() {
        return Ok(t);
    }
    for item in s.split(',') {
        let item = trim(item);
        if item.is_empty() {
            continue;
        }
        let Some((k, v)) = item.split_once('=') else {
            return Err(format!("{item:?} is not name=value"));
        };
        match k {
            "cpu" => t.cpus = Some(tres_int(k, v)?),
            "mem" => t.mem_bytes = Some(parse_tres_mem(v)?),
            "node" => t.nodes = Some(tres_int(k, v)?),
            "billing" => t.billing = Some(tres_int(k, v)?),
            "gres/gpu" => t.gpus = Some(tres_int(k, v)?),
            _ if k.starts_with("gres/gpu:") => {
                let n = tres_int(k, v)?;
                t.typed_gpus = Some(t.typed_gpus.unwrap_or(0) + n);
            }
            _ => {}
        }
    }
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// Node lists

/// Most hosts one node list may expand to.
pub const MAX_HOSTS: usize = 1 << 16;

fn expand_expr(
    expr: &str,
    cur: &mut String,
    out: &mut String,
    n: &mut usize,
) -> std::result::Result<(), String> {
    match expr.find('[') {
        None => {
            if expr.contains(']') {
                return Err("unbalanced ']'".into());
            }
            if *n > 0 {
                out.push('|');
            }
            out.push_str(cur);
            out.push_str(expr);
            *n += 1;
            if *n > MAX_HOSTS {
                return Err(format!("expands to more than {MAX_HOSTS} hosts"));
            }
            Ok(())
        }
        Some(open) => {
            let close = expr[open..]
                .find(']')
                .map(|c| c + open)
                .ok_or("unbalanced '['")?;
            let (prefix, inner, rest) = (&expr[..open], &expr[open + 1..close], &expr[close + 1..]);
            if inner.contains('[') {
                return Err("nested '['".into());
            }
            let base = cur.len();
            cur.push_str(prefix);
            let base2 = cur.len();
            for item in inner.split(',') {
                let item = trim(item);
                let (lo, hi) = item.split_once('-').unwrap_or((item, item));
                let ok = |s: &str| {
                    !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit())
                };
                if !ok(lo) || !ok(hi) {
                    return Err(format!("range {item:?} is not N or N-M"));
                }
                let (a, b): (u64, u64) = (
                    lo.parse().map_err(|_| format!("range {item:?}"))?,
                    hi.parse().map_err(|_| format!("range {item:?}"))?,
                );
                if b < a {
                    return Err(format!("range {item:?} runs backwards"));
                }
                if b - a > MAX_HOSTS as u64 {
                    return Err(format!("expands to more than {MAX_HOSTS} hosts"));
                }
                let width = lo.len();
                for v in a..=b {
                    cur.truncate(base2);
                    push_uint(cur, v, width);
                    expand_expr(rest, cur, out, n)?;
                }
            }
            cur.truncate(base);
            Ok(())
        }
    }
}

/// Expands a Slurm host list (`compute-[0-2,7],gpu[01-02]-[a-b]` is not valid, but
/// `rack[1-2]-n[01-02]` is) into `out`, hosts joined by `|`; `scratch` is a reused buffer.
/// Returns the number of hosts. `None assigned` and empty lists give no host.
pub fn expand_nodelist(
    list: &str,
    scratch: &mut String,
    out: &mut String,
) -> std::result::Result<usize, String> {
    let list = trim(list);
    let mut n = 0;
    if list.is_empty() || list.eq_ignore_ascii_case("none assigned") || list == "(null)" {
        return Ok(0);
    }
    let b = list.as_bytes();
    let mut depth = 0i32;
    let mut start = 0;
    for i in 0..=b.len() {
        let c = b.get(i).copied();
        match c {
            Some(b'[') => depth += 1,
            Some(b']') => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced ']'".into());
                }
            }
            Some(b',') | None if depth == 0 => {
                let expr = trim(&list[start..i]);
                if !expr.is_empty() {
                    scratch.clear();
                    expand_expr(expr, scratch, out, &mut n)?;
                }
                start = i + 1;
            }
            None => return Err("unbalanced '['".into()),
            _ => {}
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// The importer

struct Sacct {
    name: String,
    layout: Layout,
    /// Line number of the header, 0 when the dump has none.
    header_line: u64,
    expected: usize,
    opts: SacctOptions,
    clock: Clock,
    spans: Vec<(usize, usize)>,
    created_at: String,
    started_at: String,
    ended_at: String,
    elapsed: String,
    allocation: String,
    tags: String,
    nodes_exp: String,
    scratch: String,
    last_updated: String,
    energy_key: String,
}

const MIB: f64 = 1_048_576.0;

impl Sacct {
    fn field<'l>(&self, line: &'l str, f: F) -> Option<&'l str> {
        self.layout
            .idx(f)
            .map(|i| self.spans[i])
            .map(|(s, e)| &line[s..e])
    }

    fn location(&self, line_no: u64) -> String {
        format!("{} line {line_no}", self.name)
    }
}

/// Pushes `"key":<integer or string>` (integer when the text is one).
fn push_num_or_str(out: &mut String, key: &str, v: &str) {
    push_json_str(out, key);
    out.push(':');
    let v = trim(v);
    match v.parse::<i64>() {
        Ok(i) => push_int(out, i),
        Err(_) => push_json_str(out, v),
    }
}

impl LineFormat for Sacct {
    fn classify(&mut self, line_no: u64, line: &str) -> Result<LineKind> {
        if line_no == self.header_line || trim(line).is_empty() {
            return Ok(LineKind::NotData);
        }
        Ok(LineKind::Data)
    }

    fn parse(&mut self, line_no: u64, line: &str, out: &mut Emitter) {
        self.spans.clear();
        let mut start = 0;
        for (i, b) in line.bytes().enumerate() {
            if b == b'|' {
                self.spans.push((start, i));
                start = i + 1;
            }
        }
        self.spans.push((start, line.len()));
        if self.spans.len() != self.expected {
            let reason = format!(
                "expected {} fields separated by '|' ({}), found {}",
                self.expected,
                if self.spans.len() < self.expected {
                    "too few"
                } else {
                    "too many"
                },
                self.spans.len()
            );
            out.reject(reject(&self.location(line_no), "(line)", line, reason));
            return;
        }
        let loc = |s: &Sacct| s.location(line_no);
        let (id_field, id) = match (self.field(line, F::JobIdRaw), self.field(line, F::JobId)) {
            (Some(raw), _) if !trim(raw).is_empty() => ("jobidraw", trim(raw)),
            (_, Some(id)) => ("jobid", trim(id)),
            (Some(raw), None) => ("jobidraw", trim(raw)),
            (None, None) => ("jobid", ""),
        };
        if id.is_empty() {
            out.reject(reject(&loc(self), id_field, id, "empty job id"));
            return;
        }
        if id.contains('.') {
            out.skip(reject(
                &loc(self),
                id_field,
                id,
                "job step: skipped, only job allocations are imported",
            ));
            return;
        }
        let cluster = match &self.opts.cluster_id {
            Some(c) => c.as_str(),
            None => trim(self.field(line, F::Cluster).unwrap_or("")),
        };
        if cluster.is_empty() {
            out.reject(reject(
                &loc(self),
                "cluster",
                "",
                "empty cluster and no --cluster-id",
            ));
            return;
        }

        let mut times = [None; 3];
        for (k, f, name) in [
            (0, F::Submit, "submit"),
            (1, F::Start, "start"),
            (2, F::End, "end"),
        ] {
            let v = self.field(line, f).unwrap_or("");
            match self.clock.parse(v) {
                Ok(t) => times[k] = t,
                Err(why) => {
                    out.reject(reject(&loc(self), name, v, why));
                    return;
                }
            }
        }
        let [submit, start, end] = times;
        let elapsed_field = self.field(line, F::Elapsed).map(trim).unwrap_or("");
        let dump_elapsed = self
            .field(line, F::ElapsedRaw)
            .and_then(|v| trim(v).parse::<i64>().ok())
            .or_else(|| parse_duration(elapsed_field));
        let e: i64 = match (start, end) {
            (Some(s), Some(en)) => ((en - s) / 1000).max(0),
            (Some(_), None) => dump_elapsed.unwrap_or(0).max(0),
            _ => 0,
        };

        // Allocation.
        let mut tres = Tres::default();
        for (f, name) in [(F::AllocTres, "alloctres"), (F::ReqTres, "reqtres")] {
            let Some(v) = self.field(line, f) else {
                continue;
            };
            match parse_tres(v) {
                Ok(t) if !t.is_empty() => {
                    tres = t;
                    break;
                }
                Ok(_) => {}
                Err(why) => {
                    out.reject(reject(&loc(self), name, v, why));
                    return;
                }
            }
        }
        let int_field =
            |s: &Sacct, f: F| s.field(line, f).and_then(|v| trim(v).parse::<i64>().ok());
        let cpus = tres
            .cpus
            .or_else(|| int_field(self, F::AllocCpus))
            .or_else(|| int_field(self, F::NCpus))
            .unwrap_or(0);
        let nodes = tres
            .nodes
            .or_else(|| int_field(self, F::AllocNodes))
            .or_else(|| int_field(self, F::NNodes))
            .unwrap_or(0);
        let gpus = tres.gpu_count().unwrap_or(0);
        let mem = tres.mem_bytes.unwrap_or(0);
        let billing = tres.billing.unwrap_or(0);

        // Node list.
        let nodelist = self.field(line, F::NodeList).map(trim);
        self.nodes_exp.clear();
        if let Some(nl) = nodelist
            && let Err(why) = expand_nodelist(nl, &mut self.scratch, &mut self.nodes_exp)
        {
            out.reject(reject(&loc(self), "nodelist", nl, why));
            return;
        }

        let partition = self.field(line, F::Partition).map(trim).unwrap_or("");
        // Measured energy, else an estimate.
        let measured_j = self
            .field(line, F::ConsumedEnergyRaw)
            .and_then(|v| trim(v).parse::<f64>().ok())
            .filter(|j| j.is_finite() && *j > 0.0);
        let b = &mut out.builder;
        b.stage_metric(0, "walltime", e as f64);
        b.stage_metric(0, "alloc_cputime", (cpus * e) as f64);
        b.stage_metric(
            0,
            "alloc_cpumemtime",
            if mem > 0 {
                mem as f64 / MIB * e as f64
            } else {
                e as f64
            },
        );
        b.stage_metric(0, "alloc_gputime", (gpus * e) as f64);
        b.stage_metric(0, "alloc_gpumemtime", if gpus > 0 { e as f64 } else { 0.0 });
        let mut estimated = false;
        if let Some(j) = measured_j {
            b.stage_metric(3, &self.energy_key, j / 3.6e6);
        } else if let Some(m) = &self.opts.estimate {
            let est = m.estimate(cluster, partition, cpus as f64, gpus as f64, e as f64);
            if est.any() {
                m.stage(b, &est);
                estimated = true;
            }
        }
        debug_assert_eq!(METRIC_MAPS[3], "total_cpu_energy_usage_kwh");

        // Text columns.
        let render = |clock: &mut Clock, t: Option<i64>, s: &mut String| {
            s.clear();
            match t {
                Some(ms) => clock.render(ms, s),
                None => s.push_str("Unknown"),
            }
        };
        render(&mut self.clock, submit, &mut self.created_at);
        render(&mut self.clock, start, &mut self.started_at);
        render(&mut self.clock, end, &mut self.ended_at);
        self.elapsed.clear();
        if elapsed_field.is_empty() {
            push_elapsed(&mut self.elapsed, e);
        } else {
            self.elapsed.push_str(elapsed_field);
        }
        let a = &mut self.allocation;
        a.clear();
        a.push_str("{\"billing\":");
        push_int(a, billing);
        a.push_str(",\"cpus\":");
        push_int(a, cpus);
        a.push_str(",\"gpus\":");
        push_int(a, gpus);
        a.push_str(",\"mem\":");
        push_int(a, mem);
        a.push_str(",\"nodes\":");
        push_int(a, nodes);
        a.push('}');

        let t = &mut self.tags;
        t.clear();
        t.push('{');
        let mut first = true;
        let mut sep = |t: &mut String| {
            if !first {
                t.push(',');
            }
            first = false;
        };
        if estimated {
            sep(t);
            t.push_str("\"energy_source\":\"estimated\"");
        } else if measured_j.is_some() {
            sep(t);
            t.push_str("\"energy_source\":\"measured\"");
        }
        let lay = &self.layout;
        let get = |f: F| {
            lay.idx(f)
                .map(|i| self.spans[i])
                .map(|(s, e)| trim(&line[s..e]))
        };
        if let Some(v) = get(F::ExitCode) {
            sep(t);
            push_json_str(t, "exit_code");
            t.push(':');
            push_json_str(t, v);
        }
        if let Some(v) = get(F::Gid).filter(|v| !v.is_empty()) {
            sep(t);
            push_num_or_str(t, "gid", v);
        }
        if let Some(v) = nodelist {
            sep(t);
            push_json_str(t, "nodelist");
            t.push(':');
            push_json_str(t, v);
            t.push_str(",\"nodelistexp\":");
            push_json_str(t, &self.nodes_exp);
        }
        if get(F::Partition).is_some() {
            sep(t);
            push_json_str(t, "partition");
            t.push(':');
            push_json_str(t, partition);
        }
        if let Some(v) = get(F::Qos) {
            sep(t);
            push_json_str(t, "qos");
            t.push(':');
            push_json_str(t, v);
        }
        if let Some(v) = get(F::Uid).filter(|v| !v.is_empty()) {
            sep(t);
            push_num_or_str(t, "uid", v);
        }
        if let Some(v) = get(F::WorkDir) {
            sep(t);
            push_json_str(t, "workdir");
            t.push(':');
            push_json_str(t, v);
        }
        t.push('}');

        let last_updated = end.or(start.map(|s| s + e * 1000)).or(submit);
        self.last_updated.clear();
        if let Some(ms) = last_updated {
            self.clock.render_naive(ms, &mut self.last_updated);
        }
        let user = get(F::User).unwrap_or("");
        let account = get(F::Account).unwrap_or("");
        let f = UnitFields {
            cluster_id: cluster,
            resource_manager: &self.opts.resource_manager,
            uuid: id,
            name: get(F::JobName).unwrap_or(""),
            project: account,
            groupname: get(F::Group).unwrap_or(""),
            username: user,
            created_at: &self.created_at,
            started_at: &self.started_at,
            ended_at: &self.ended_at,
            created_at_ts: submit,
            started_at_ts: start,
            ended_at_ts: end,
            elapsed: &self.elapsed,
            state: get(F::State).unwrap_or(""),
            allocation: &self.allocation,
            tags: &self.tags,
            ignore: false,
            num_updates: 1,
            last_updated_at: &self.last_updated,
            last_updated_at_ts: last_updated,
        };
        out.builder.commit_row(&f);
        out.member(
            cluster,
            &self.opts.resource_manager,
            user,
            account,
            &self.last_updated,
        );
    }
}

/// The field layout of a dump: its header line (and that line's number), or the given list.
fn resolve_layout(path: &Path, fields: &Option<Vec<String>>) -> Result<(Layout, u64)> {
    let mut input = source::open_input(path)?;
    let mut line = Vec::new();
    let mut no = 0u64;
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
        no += 1;
        let text = String::from_utf8_lossy(&line);
        let text = source::without_bom(no, text.trim_end_matches(['\n', '\r']));
        if text.trim().is_empty() {
            continue;
        }
        if is_header(text) {
            let names: Vec<String> = text.split('|').map(str::to_string).collect();
            return Ok((Layout::new(&names), no));
        }
        break;
    }
    let names: Vec<String> = match fields {
        Some(f) => f.clone(),
        None => DEFAULT_FIELDS.iter().map(|s| s.to_string()).collect(),
    };
    Ok((Layout::new(&names), 0))
}

/// Splits a field list given as `a,b,c` or `a|b|c` (a header line).
pub fn split_field_list(s: &str) -> Vec<String> {
    s.trim()
        .split(['|', ','])
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect()
}

/// Imports one sacct dump (plain or gzip/xz/zstd-compressed).
pub async fn import(
    store: &Store,
    path: &Path,
    sopts: &SacctOptions,
    opts: &ImportOptions,
    observer: &dyn ImportObserver,
) -> Result<ImportSummary> {
    if !path.is_file() {
        return Err(Error::InvalidArgument(format!(
            "{}: no such file",
            path.display()
        )));
    }
    let (layout, header_line) = resolve_layout(path, &sopts.fields)?;
    if layout.idx(F::JobIdRaw).is_none() && layout.idx(F::JobId).is_none() {
        return Err(Error::InvalidArgument(format!(
            "{}: the fields ({}) include neither JobIDRaw nor JobID",
            path.display(),
            layout.names.join(",")
        )));
    }
    if sopts.cluster_id.is_none() && layout.idx(F::Cluster).is_none() {
        return Err(Error::InvalidArgument(format!(
            "{}: the dump has no cluster column: give --cluster-id",
            path.display()
        )));
    }
    let options = format!(
        "{:?}|{}|{}|{}|{}",
        sopts.cluster_id,
        layout.names.join(","),
        sopts.resource_manager,
        opts.time_zone.name(),
        sopts
            .estimate
            .as_ref()
            .map(|m| m.describe())
            .unwrap_or_default()
    );
    let source = source::fingerprint("sacct", path, &options)?;
    let input = source::open_input(path)?;
    let energy_key = sopts
        .estimate
        .as_ref()
        .map(|m| m.energy_key.clone())
        .unwrap_or_else(|| "total".into());
    let mut fmt = Sacct {
        name: path.display().to_string(),
        expected: layout.names.len(),
        layout,
        header_line,
        opts: sopts.clone(),
        clock: Clock::new(opts.time_zone),
        spans: Vec::with_capacity(32),
        created_at: String::new(),
        started_at: String::new(),
        ended_at: String::new(),
        elapsed: String::new(),
        allocation: String::new(),
        tags: String::new(),
        nodes_exp: String::new(),
        scratch: String::new(),
        last_updated: String::new(),
        energy_key,
    };
    let snap = store.snapshot().await?;
    let job = Job {
        store,
        source,
        label: format!("import sacct {}", path.display()),
        batch_rows: opts.batch_rows,
        file_bytes: input.file_bytes,
        total_rows: None,
        observer,
    };
    source::run(
        job,
        snap.manifest.metric_keys.clone(),
        opts.time_zone,
        move |resume_after, em| source::read_lines(input, resume_after, &mut fmt, em),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tres_memory_takes_the_integer_part_times_the_unit() {
        assert_eq!(parse_tres_mem("320.5G"), Ok(320 << 30));
        assert_eq!(parse_tres_mem("31000M"), Ok(31000 << 20));
        assert_eq!(parse_tres_mem("62.50G"), Ok(62 << 30));
        assert_eq!(parse_tres_mem("2T"), Ok(2 << 40));
        assert_eq!(parse_tres_mem("512K"), Ok(512 << 10));
        assert_eq!(parse_tres_mem("4096"), Ok(0), "no unit counts 0");
        assert!(parse_tres_mem("G").is_err());
        assert!(parse_tres_mem("12X").is_err());
    }

    #[test]
    fn tres_lists() {
        let t = parse_tres("billing=12,cpu=12,gres/gpu=2,mem=31000M,node=1").unwrap();
        assert_eq!(
            t,
            Tres {
                cpus: Some(12),
                mem_bytes: Some(31000 << 20),
                nodes: Some(1),
                billing: Some(12),
                gpus: Some(2),
                typed_gpus: None,
            }
        );
        let t = parse_tres("cpu=64,gres/gpu:a100=4,mem=320.5G,node=2").unwrap();
        assert_eq!((t.gpu_count(), t.mem_bytes), (Some(4), Some(320 << 30)));
        // Typed counts add up; the untyped one, when present, is the total.
        let t = parse_tres("gres/gpu:a100=2,gres/gpu:v100=1").unwrap();
        assert_eq!(t.gpu_count(), Some(3));
        let t = parse_tres("gres/gpu=4,gres/gpu:a100=4").unwrap();
        assert_eq!(t.gpu_count(), Some(4));
        assert_eq!(parse_tres("").unwrap(), Tres::default());
        assert_eq!(parse_tres("energy=17,fs/disk=3").unwrap(), Tres::default());
        assert!(parse_tres("cpu=x").is_err());
        assert!(parse_tres("cpu").is_err());
    }

    fn expand(s: &str) -> Result<String, String> {
        let (mut a, mut b) = (String::new(), String::new());
        expand_nodelist(s, &mut a, &mut b).map(|_| b)
    }

    #[test]
    fn node_lists_expand() {
        assert_eq!(
            expand("compute-[0-2,7]").unwrap(),
            "compute-0|compute-1|compute-2|compute-7"
        );
        assert_eq!(
            expand("cpn-f15-[06,08,11-12]").unwrap(),
            "cpn-f15-06|cpn-f15-08|cpn-f15-11|cpn-f15-12"
        );
        assert_eq!(
            expand("cpn-f13-03-[01-02],cpn-f13-04-[01-02]").unwrap(),
            "cpn-f13-03-01|cpn-f13-03-02|cpn-f13-04-01|cpn-f13-04-02"
        );
        assert_eq!(
            expand("rack[1-2]-n[08-09],login").unwrap(),
            "rack1-n08|rack1-n09|rack2-n08|rack2-n09|login"
        );
        assert_eq!(expand("node[8-11]").unwrap(), "node8|node9|node10|node11");
        assert_eq!(expand("cpn-f11-31").unwrap(), "cpn-f11-31");
        assert_eq!(expand("None assigned").unwrap(), "");
        assert_eq!(expand("").unwrap(), "");
        for bad in ["a[1-2", "a]1", "a[2-1]", "a[x]", "a[1-99999999]", "a[[1]]"] {
            assert!(expand(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn headers_are_recognised() {
        assert!(is_header("JobIDRaw|Partition|QOS|Account|User|Start|End"));
        assert!(is_header("jobid|jobidraw|cluster"));
        assert!(!is_header("163485|163485|phillips|focaccia"));
        assert!(!is_header("Partition|QOS"), "no job id column");
        assert!(!is_header("JobID|2016-12-22T07:15:12"));
        assert_eq!(
            split_field_list("jobid|jobidraw|cluster\n"),
            vec!["jobid", "jobidraw", "cluster"]
        );
        assert_eq!(split_field_list("a, b,c"), vec!["a", "b", "c"]);
    }
}
