//! `import ndjson`: one unit per line in the API's unit JSON shape (the objects of the `data`
//! array `/api/v1/units` returns), so exports round-trip.
//!
//! `uuid` and at least one of the creation, start and end times are required, everything else
//! optional. Time strings are kept as given; a missing `*_ts` is read from its string (offset
//! or data zone) and a missing string is rendered from its `*_ts`. `allocation` and `tags` are objects, the metric maps objects of numbers. Fields
//! the API hides may be given too: `ignore`, `num_updates`, `last_updated_at`,
//! `last_updated_at_ts`. Without them `last_updated_at` is the unit's end (else start, else
//! creation), so importing the same export twice changes nothing.
//!
//! [`GenericRow`] and [`emit_generic`] are shared with the Parquet importer.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ingest::builder::UnitFields;
use crate::ingest::estimate::EnergyModel;
use crate::ingest::source::{self, Clock, Emitter, Job, LineFormat, LineKind, reject};
use crate::ingest::{ImportObserver, ImportOptions, ImportSummary};
use crate::schema::{self, METRIC_MAPS};
use crate::store::Store;

/// Latest instant a unit's time may have: 9999-12-31T23:59:59.999Z in milliseconds.
const LAST_MS: i64 = 253_402_300_799_999;

/// How an export is imported.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Cluster id of every unit; without it each unit's own `cluster_id`.
    pub cluster_id: Option<String>,
    /// `resource_manager` of units that do not name one.
    pub resource_manager: Option<String>,
    pub estimate: Option<Arc<EnergyModel>>,
}

/// What was staged of a row's metric maps (for the estimate).
#[derive(Debug, Clone, Copy, Default)]
pub struct Staged {
    pub walltime: Option<f64>,
    pub has_energy: bool,
}

/// Stages one metric entry and notes what the estimate needs.
pub fn stage(out: &mut Emitter, staged: &mut Staged, map: usize, key: &str, v: f64) {
    let v = if v.is_finite() { v } else { 0.0 };
    out.builder.stage_metric(map, key, v);
    if map == schema::TOTAL_TIME_SECONDS && key == "walltime" {
        staged.walltime = Some(v);
    }
    if METRIC_MAPS[map] == "total_cpu_energy_usage_kwh"
        || METRIC_MAPS[map] == "total_gpu_energy_usage_kwh"
    {
        staged.has_energy = true;
    }
}

/// A unit from an export, borrowed. Metric entries are staged in the builder beforehand.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenericRow<'a> {
    pub cluster_id: &'a str,
    pub resource_manager: &'a str,
    pub uuid: &'a str,
    pub name: &'a str,
    pub project: &'a str,
    pub groupname: &'a str,
    pub username: &'a str,
    pub created_at: Option<&'a str>,
    pub started_at: Option<&'a str>,
    pub ended_at: Option<&'a str>,
    pub created_at_ts: Option<i64>,
    pub started_at_ts: Option<i64>,
    pub ended_at_ts: Option<i64>,
    pub elapsed: Option<&'a str>,
    pub state: &'a str,
    /// JSON object text (empty: none).
    pub allocation: &'a str,
    /// JSON object text (empty: none).
    pub tags: &'a str,
    pub ignore: bool,
    pub num_updates: Option<i64>,
    pub last_updated_at: Option<&'a str>,
    pub last_updated_at_ts: Option<i64>,
}

/// Reused text buffers of [`emit_generic`].
#[derive(Debug, Default)]
pub struct Buffers {
    created: String,
    started: String,
    ended: String,
    elapsed: String,
    tags: String,
    last_updated: String,
}

fn num(v: &serde_json::Value, keys: &[&str]) -> f64 {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(|x| x.as_f64()))
        .unwrap_or(0.0)
}

/// Appends a unit whose metric entries are staged; rejects it (discarding the staged entries)
/// when its identity or times are unusable.
#[allow(clippy::too_many_arguments)]
pub fn emit_generic(
    out: &mut Emitter,
    clock: &mut Clock,
    bufs: &mut Buffers,
    r: &GenericRow<'_>,
    staged: Staged,
    estimate: Option<&EnergyModel>,
    location: &dyn Fn() -> String,
) {
    let fail = |out: &mut Emitter, field: &str, value: &str, why: &str| {
        out.builder.discard_row();
        out.reject(reject(&location(), field, value, why));
    };
    if r.uuid.is_empty() {
        return fail(out, "uuid", "", "missing or empty uuid");
    }
    if r.cluster_id.is_empty() {
        return fail(
            out,
            "cluster_id",
            "",
            "missing cluster_id and no --cluster-id",
        );
    }
    let mut ts = [r.created_at_ts, r.started_at_ts, r.ended_at_ts];
    let texts = [r.created_at, r.started_at, r.ended_at];
    let names = ["created_at", "started_at", "ended_at"];
    for (name, t) in [
        ("created_at_ts", r.created_at_ts),
        ("started_at_ts", r.started_at_ts),
        ("ended_at_ts", r.ended_at_ts),
        ("last_updated_at_ts", r.last_updated_at_ts),
    ] {
        if let Some(v) = t
            && !(0..=LAST_MS).contains(&v)
        {
            return fail(
                out,
                name,
                &v.to_string(),
                "not a time in milliseconds since 1970 (0 = unset) before the year 10000",
            );
        }
    }
    for k in 0..3 {
        if ts[k] == Some(0) {
            ts[k] = None;
        }
        if ts[k].is_none()
            && let Some(t) = texts[k]
        {
            match clock.parse(t) {
                Ok(v) => ts[k] = v,
                Err(why) => return fail(out, names[k], t, why),
            }
        }
    }
    if ts.iter().all(Option::is_none) {
        // Every unit is created at some time; a line without any time is not a unit record
        // (an export made with a field selection, say) and would be stored as another unit
        // beside the real one, since the start time is part of a unit's key.
        return fail(
            out,
            "created_at",
            "",
            "no creation, start or end time: a unit needs at least one",
        );
    }
    let bufs_text = [&mut bufs.created, &mut bufs.started, &mut bufs.ended];
    for (k, buf) in bufs_text.into_iter().enumerate() {
        buf.clear();
        match (texts[k], ts[k]) {
            (Some(t), _) => buf.push_str(t),
            (None, Some(ms)) => clock.render(ms, buf),
            (None, None) => buf.push_str("Unknown"),
        }
    }
    let [created, started, ended] = ts;
    let walltime = staged.walltime.unwrap_or_else(|| match (started, ended) {
        (Some(s), Some(e)) => ((e - s) / 1000).max(0) as f64,
        _ => 0.0,
    });
    bufs.elapsed.clear();
    match r.elapsed {
        Some(e) => bufs.elapsed.push_str(e),
        None => source::push_elapsed(&mut bufs.elapsed, walltime as i64),
    }
    bufs.tags.clear();
    bufs.tags.push_str(r.tags);
    if let (Some(m), false) = (estimate, staged.has_energy) {
        let alloc: serde_json::Value = serde_json::from_str(r.allocation).unwrap_or_default();
        let mut tags: serde_json::Value = serde_json::from_str(r.tags).unwrap_or_default();
        let partition = tags
            .get("partition")
            .and_then(|p| p.as_str())
            .unwrap_or("")
            .to_string();
        let cpus = num(&alloc, &["cpus", "vcpus"]);
        let gpus = num(&alloc, &["gpus", "vgpus"]);
        let est = m.estimate(r.cluster_id, &partition, cpus, gpus, walltime);
        if est.any() {
            m.stage(&mut out.builder, &est);
            if !tags.is_object() {
                tags = serde_json::Value::Object(Default::default());
            }
            if let Some(o) = tags.as_object_mut() {
                o.insert("energy_source".into(), "estimated".into());
            }
            bufs.tags.clear();
            bufs.tags.push_str(&tags.to_string());
        }
    }
    let last_ts = r
        .last_updated_at_ts
        .or_else(|| {
            r.last_updated_at
                .and_then(|t| clock.parse(t).ok().flatten())
        })
        .or(ended)
        .or(started)
        .or(created);
    bufs.last_updated.clear();
    match (r.last_updated_at, last_ts) {
        (Some(t), _) => bufs.last_updated.push_str(t),
        (None, Some(ms)) => clock.render_naive(ms, &mut bufs.last_updated),
        _ => {}
    }
    let f = UnitFields {
        cluster_id: r.cluster_id,
        resource_manager: r.resource_manager,
        uuid: r.uuid,
        name: r.name,
        project: r.project,
        groupname: r.groupname,
        username: r.username,
        created_at: &bufs.created,
        started_at: &bufs.started,
        ended_at: &bufs.ended,
        created_at_ts: created,
        started_at_ts: started,
        ended_at_ts: ended,
        elapsed: &bufs.elapsed,
        state: r.state,
        allocation: r.allocation,
        tags: &bufs.tags,
        ignore: r.ignore,
        num_updates: r.num_updates.unwrap_or(1),
        last_updated_at: &bufs.last_updated,
        last_updated_at_ts: last_ts,
    };
    out.builder.commit_row(&f);
    out.member(
        r.cluster_id,
        r.resource_manager,
        r.username,
        r.project,
        &bufs.last_updated,
    );
}

/// One NDJSON line.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Line<'a> {
    #[serde(borrow)]
    cluster_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    resource_manager: Option<Cow<'a, str>>,
    uuid: Option<serde_json::Value>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    project: Option<Cow<'a, str>>,
    #[serde(borrow)]
    groupname: Option<Cow<'a, str>>,
    #[serde(borrow)]
    username: Option<Cow<'a, str>>,
    #[serde(borrow)]
    created_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    started_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ended_at: Option<Cow<'a, str>>,
    created_at_ts: Option<i64>,
    started_at_ts: Option<i64>,
    ended_at_ts: Option<i64>,
    #[serde(borrow)]
    elapsed: Option<Cow<'a, str>>,
    #[serde(borrow)]
    state: Option<Cow<'a, str>>,
    allocation: Option<serde_json::Value>,
    tags: Option<serde_json::Value>,
    ignore: Option<serde_json::Value>,
    num_updates: Option<i64>,
    #[serde(borrow)]
    last_updated_at: Option<Cow<'a, str>>,
    last_updated_at_ts: Option<i64>,
    #[serde(flatten)]
    maps: BTreeMap<String, serde_json::Value>,
}

struct Ndjson {
    name: String,
    opts: ExportOptions,
    clock: Clock,
    bufs: Buffers,
    uuid: String,
    allocation: String,
    tags: String,
}

fn metric_value(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::Null => Some(0.0),
        serde_json::Value::String(s) => {
            let t = s.trim_start_matches(['+', '-']);
            if ["nan", "inf", "infinity"]
                .iter()
                .any(|x| t.eq_ignore_ascii_case(x))
            {
                Some(0.0)
            } else {
                s.parse().ok()
            }
        }
        _ => None,
    }
}

impl LineFormat for Ndjson {
    fn classify(&mut self, _line_no: u64, line: &str) -> Result<LineKind> {
        Ok(if line.trim().is_empty() {
            LineKind::NotData
        } else {
            LineKind::Data
        })
    }

    fn parse(&mut self, line_no: u64, line: &str, out: &mut Emitter) {
        let name = &self.name;
        let location = move || format!("{name} line {line_no}");
        let l: Line<'_> = match serde_json::from_str(line) {
            Ok(l) => l,
            Err(e) => {
                out.reject(reject(
                    &location(),
                    "(line)",
                    line,
                    format!("not a unit object: {e}"),
                ));
                return;
            }
        };
        self.uuid.clear();
        match &l.uuid {
            Some(serde_json::Value::String(s)) => self.uuid.push_str(s),
            Some(serde_json::Value::Number(n)) => self.uuid.push_str(&n.to_string()),
            _ => {}
        }
        let mut staged = Staged::default();
        for (key, value) in &l.maps {
            let Some(map) = schema::metric_map_index(key) else {
                continue;
            };
            match value {
                serde_json::Value::Null => {}
                serde_json::Value::Object(o) => {
                    for (k, v) in o {
                        match metric_value(v) {
                            Some(x) => stage(out, &mut staged, map, k, x),
                            None => {
                                out.builder.discard_row();
                                out.reject(reject(
                                    &location(),
                                    key,
                                    &v.to_string(),
                                    format!("value of {k:?} is not a number"),
                                ));
                                return;
                            }
                        }
                    }
                }
                other => {
                    out.builder.discard_row();
                    out.reject(reject(
                        &location(),
                        key,
                        &other.to_string(),
                        "a metric map must be an object of numbers",
                    ));
                    return;
                }
            }
        }
        let json_text = |v: &Option<serde_json::Value>, buf: &mut String| {
            buf.clear();
            if let Some(v) = v
                && !v.is_null()
            {
                buf.push_str(&v.to_string());
            }
        };
        json_text(&l.allocation, &mut self.allocation);
        json_text(&l.tags, &mut self.tags);
        let ignore = match &l.ignore {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0) != 0,
            _ => false,
        };
        fn s<'a>(v: &'a Option<Cow<'_, str>>) -> &'a str {
            v.as_deref().unwrap_or("")
        }
        let cluster = self
            .opts
            .cluster_id
            .as_deref()
            .unwrap_or_else(|| s(&l.cluster_id));
        let rm = l
            .resource_manager
            .as_deref()
            .or(self.opts.resource_manager.as_deref())
            .unwrap_or("");
        let row = GenericRow {
            cluster_id: cluster,
            resource_manager: rm,
            uuid: &self.uuid,
            name: s(&l.name),
            project: s(&l.project),
            groupname: s(&l.groupname),
            username: s(&l.username),
            created_at: l.created_at.as_deref(),
            started_at: l.started_at.as_deref(),
            ended_at: l.ended_at.as_deref(),
            created_at_ts: l.created_at_ts,
            started_at_ts: l.started_at_ts,
            ended_at_ts: l.ended_at_ts,
            elapsed: l.elapsed.as_deref(),
            state: s(&l.state),
            allocation: &self.allocation,
            tags: &self.tags,
            ignore,
            num_updates: l.num_updates,
            last_updated_at: l.last_updated_at.as_deref(),
            last_updated_at_ts: l.last_updated_at_ts,
        };
        emit_generic(
            out,
            &mut self.clock,
            &mut self.bufs,
            &row,
            staged,
            self.opts.estimate.as_deref(),
            &location,
        );
    }
}

/// Imports one NDJSON file (plain or gzip/xz/zstd-compressed).
pub async fn import(
    store: &Store,
    path: &Path,
    eopts: &ExportOptions,
    opts: &ImportOptions,
    observer: &dyn ImportObserver,
) -> Result<ImportSummary> {
    if !path.is_file() {
        return Err(Error::InvalidArgument(format!(
            "{}: no such file",
            path.display()
        )));
    }
    let options = format!(
        "{:?}|{:?}|{}|{}",
        eopts.cluster_id,
        eopts.resource_manager,
        opts.time_zone.name(),
        eopts
            .estimate
            .as_ref()
            .map(|m| m.describe())
            .unwrap_or_default()
    );
    let source = source::fingerprint("ndjson", path, &options)?;
    let input = source::open_input(path)?;
    let mut fmt = Ndjson {
        name: path.display().to_string(),
        opts: eopts.clone(),
        clock: Clock::new(opts.time_zone),
        bufs: Buffers::default(),
        uuid: String::new(),
        allocation: String::new(),
        tags: String::new(),
    };
    let snap = store.snapshot().await?;
    let job = Job {
        store,
        source,
        label: format!("import ndjson {}", path.display()),
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
