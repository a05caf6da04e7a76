//! Realistic, reproducible synthetic CEEMS data for demos, tests and benchmarks.
//!
//! A [`GenerateSpec`] (unit count, cluster count, seed, time span, data time zone) fully
//! determines the output: the same spec always yields the same rows. [`Generator`] streams
//! units one at a time ([`Generator::next_unit`], reusing its buffers) and then gives the
//! `users`, `projects` and `admin_users` rows that match exactly the units it emitted.
//! [`write_ceems_sqlite`] writes all of it as a database with the original CEEMS schema.
//!
//! # The model
//! - Clusters cycle through the resource managers: `slurm-0`, `os-0` (OpenStack), `k8s-0`,
//!   `slurm-1`, … Batch jobs outnumber pods, which outnumber VMs.
//! - Each cluster has about `2·√n` users and a quarter as many projects (SLURM accounts,
//!   OpenStack tenants, k8s namespaces). Users are drawn with Zipf weights, so a few users own
//!   most units; primary projects are Zipf-drawn too, so a few projects have most users. A
//!   third of the users also work in one or two other projects. k8s pods without an owner
//!   annotation belong to the namespace's `<namespace>:svc` user, as in CEEMS.
//! - Start times cover `years` before `end_ms`, with load growing over time and a weekly cycle
//!   (busy weekday office hours, quiet nights and weekends) in the data time zone. Units are
//!   emitted in start order; SLURM job ids increase.
//! - Durations are lognormal: SLURM jobs have a median of one hour and a tail of days (cut at
//!   the partition limit as `TIMEOUT`), VMs live hours to months, pods minutes (jobs) to weeks
//!   (services). Units not finished at `end_ms` are still running (`ended_at_ts = 0`):
//!   a few percent, mostly long-lived VMs.
//! - About 30% of units use GPUs (GPU partitions, vGPU flavors, `nvidia.com/gpu` limits).
//! - Columns follow §4 and §8.2 of the behaviour document: allocation and tags JSON as each
//!   manager writes them, `total_time_seconds` derived from allocation × active time, averages
//!   in percent, energy in kWh from a simple power model, emissions as energy × a grid factor
//!   (seasonal for RTE), IO and network counters. Units shorter than 30 s and ~2% of the
//!   others have no monitoring data (`{}`); ~0.3% have `null` IO/network maps.
//! - `last_updated_at` is the first 15-minute ingest cycle end at or after the unit's end (the
//!   span end for running units) and `num_updates` counts the cycles the unit spans; `ignore`
//!   is 1 for ended units shorter than 30 s (about 1%).

mod format;
mod population;
mod sqlite;
#[cfg(test)]
mod tests;

use chrono_tz::Tz;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, StandardNormal};

use self::format::{
    MetricMapWriter, offset_seconds, push_plain_number, set_elapsed, set_time_naive,
    set_time_with_offset, set_uuid_v4,
};
use self::population::{Cluster, Manager, Population, sample_cdf};
use crate::ingest::ceems_row::{CeemsMemberRow, CeemsUnitRow};
use crate::{Error, Result};

pub use self::sqlite::{GenerateSummary, write_ceems_sqlite};

/// What to generate. Every field takes part in the output; equal specs give equal data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateSpec {
    /// Number of compute units.
    pub units: u64,
    /// Number of clusters (at least 1); managers cycle slurm, openstack, k8s.
    pub clusters: u32,
    /// Seed of the random generator.
    pub seed: u64,
    /// The newest instant of the data (the last ingest cycle), Unix milliseconds.
    pub end_ms: i64,
    /// Length of the span before `end_ms` over which units start, in years of 365.25 days.
    pub years: f64,
    /// Zone in which time strings are rendered (the original's data time zone).
    pub time_zone: Tz,
}

impl Default for GenerateSpec {
    /// 10 000 units on 3 clusters over the 3 years before 2026-11-01T00:00:00Z, seed 42,
    /// rendered in Europe/Paris. A fixed end keeps the default output reproducible.
    fn default() -> Self {
        GenerateSpec {
            units: 10_000,
            clusters: 3,
            seed: 42,
            end_ms: 1_793_491_200_000,
            years: 3.0,
            time_zone: chrono_tz::Europe::Paris,
        }
    }
}

/// Longest accepted span; beyond it the time model is meaningless.
const MAX_YEARS: f64 = 100.0;
const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;
/// Length of one ingest cycle of the modelled CEEMS server.
const CYCLE_S: i64 = 900;
/// Ended units shorter than this are marked `ignore` and have no monitoring data.
const MIN_MONITORED_S: i64 = 30;

impl GenerateSpec {
    /// Checks the spec: at least one cluster, a positive finite span of at most 100 years that
    /// starts after 1900, and an end before year 10000.
    pub fn validate(&self) -> Result<()> {
        if self.clusters == 0 {
            return Err(Error::InvalidArgument("clusters must be at least 1".into()));
        }
        if !self.years.is_finite() || self.years <= 0.0 || self.years > MAX_YEARS {
            return Err(Error::InvalidArgument(format!(
                "years must be in (0, {MAX_YEARS}], got {}",
                self.years
            )));
        }
        // 1900-01-01 and 9999-12-31 in Unix seconds.
        let (min_s, max_s) = (-2_208_988_800_i64, 253_402_214_400_i64);
        let end_s = self.end_ms.div_euclid(1000);
        if end_s > max_s || end_s - span_seconds(self.years) < min_s {
            return Err(Error::InvalidArgument(format!(
                "end_ms {} with a span of {} years is outside 1900..9999",
                self.end_ms, self.years
            )));
        }
        Ok(())
    }
}

fn span_seconds(years: f64) -> i64 {
    (years * SECONDS_PER_YEAR).round().max(1.0) as i64
}

/// One generated unit: the columns of a CEEMS `units` row, owned. Buffers are reused from
/// unit to unit by [`Generator::next_unit`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SynthUnit {
    /// Row id, 1-based, in emission order.
    pub id: i64,
    pub resource_manager: String,
    pub cluster_id: String,
    pub uuid: String,
    pub name: String,
    pub project: String,
    pub groupname: String,
    pub username: String,
    pub created_at: String,
    pub started_at: String,
    pub ended_at: String,
    pub created_at_ts: i64,
    pub started_at_ts: i64,
    pub ended_at_ts: i64,
    pub elapsed: String,
    pub state: String,
    pub allocation: String,
    pub tags: String,
    /// The thirteen metric maps in [`crate::schema::METRIC_MAPS`] order (JSON text).
    pub metrics: [String; 13],
    pub ignore: bool,
    pub num_updates: i64,
    pub last_updated_at: String,
}

impl SynthUnit {
    /// Borrowed view in the importers' row type.
    pub fn as_row(&self) -> CeemsUnitRow<'_> {
        CeemsUnitRow {
            id: self.id,
            resource_manager: &self.resource_manager,
            cluster_id: &self.cluster_id,
            uuid: &self.uuid,
            name: &self.name,
            project: &self.project,
            groupname: &self.groupname,
            username: &self.username,
            created_at: &self.created_at,
            started_at: &self.started_at,
            ended_at: &self.ended_at,
            created_at_ts: self.created_at_ts,
            started_at_ts: self.started_at_ts,
            ended_at_ts: self.ended_at_ts,
            elapsed: &self.elapsed,
            state: &self.state,
            allocation: &self.allocation,
            tags: &self.tags,
            metrics: std::array::from_fn(|i| self.metrics[i].as_str()),
            ignore: self.ignore,
            num_updates: self.num_updates,
            last_updated_at: &self.last_updated_at,
        }
    }

    /// Whether the unit is still running (not ended at the end of the span).
    pub fn is_running(&self) -> bool {
        self.ended_at_ts == 0
    }
}

/// The distributions sampled per unit, built once.
#[derive(Debug)]
struct Dists {
    slurm_duration: LogNormal<f64>,
    slurm_wait: LogNormal<f64>,
    vm_short: LogNormal<f64>,
    vm_long: LogNormal<f64>,
    pod_job: LogNormal<f64>,
    pod_service: LogNormal<f64>,
    io_rate: LogNormal<f64>,
    io_request: LogNormal<f64>,
    net_rate: LogNormal<f64>,
    net_ratio: LogNormal<f64>,
}

impl Dists {
    fn new() -> Dists {
        let ln = |median: f64, sigma: f64| {
            LogNormal::new(median.ln(), sigma).expect("constant lognormal parameters are valid")
        };
        Dists {
            slurm_duration: ln(3_600.0, 1.6),
            slurm_wait: ln(120.0, 2.0),
            vm_short: ln(7_200.0, 1.5),
            vm_long: ln(60.0 * 86_400.0, 1.5),
            pod_job: ln(600.0, 1.5),
            pod_service: ln(20.0 * 86_400.0, 1.5),
            io_rate: ln(20_000.0, 1.5),
            io_request: ln(65_536.0, 0.8),
            net_rate: ln(50_000.0, 1.8),
            net_ratio: ln(0.5, 1.0),
        }
    }
}

/// Start-time density over a week (168 hourly bins from Monday 00:00 local time), as a
/// cumulative table used to warp uniform times.
#[derive(Debug)]
struct WeekProfile {
    cdf: [f64; 169],
}

const WEEK_S: i64 = 7 * 86_400;
/// 1970-01-05 was a Monday: weeks are counted from there.
const FIRST_MONDAY_S: i64 = 4 * 86_400;

impl WeekProfile {
    fn new() -> WeekProfile {
        let mut cdf = [0.0; 169];
        for h in 0..168 {
            let (day, hour) = (h / 24, h % 24);
            let weekday = [
                0.35, 0.3, 0.3, 0.3, 0.3, 0.3, 0.35, 0.6, 0.9, 1.0, 1.0, 1.0, 0.85, 0.85, 1.0, 1.0,
                1.0, 1.0, 0.8, 0.6, 0.6, 0.55, 0.45, 0.4,
            ][hour];
            let w = if day < 5 {
                weekday
            } else {
                0.3 + 0.15 * weekday
            };
            cdf[h + 1] = cdf[h] + w;
        }
        let total = cdf[168];
        for c in &mut cdf {
            *c /= total;
        }
        WeekProfile { cdf }
    }

    /// Maps a uniform position in a week (`0..1`) to seconds into the week.
    fn warp(&self, f: f64) -> f64 {
        let bin = self.cdf.partition_point(|&c| c <= f).clamp(1, 168) - 1;
        let (lo, hi) = (self.cdf[bin], self.cdf[bin + 1]);
        let within = if hi > lo { (f - lo) / (hi - lo) } else { 0.0 };
        (bin as f64 + within.clamp(0.0, 1.0)) * 3_600.0
    }
}

/// The facts of one unit the metric maps derive from.
#[derive(Debug, Default, Clone, Copy)]
struct Facts {
    start_s: i64,
    /// `None` while running.
    end_s: Option<i64>,
    /// End of the last ingest cycle that saw the unit.
    last_update_s: i64,
    /// Active (accounted) seconds: `walltime`.
    active_s: f64,
    cpus: f64,
    /// Multiplier of active time for `alloc_cpumemtime` (MiB for SLURM/OpenStack, bytes for k8s).
    cpumem_factor: f64,
    gpus: f64,
    /// Multiplier of active time for `alloc_gpumemtime`.
    gpumem_factor: f64,
    cpu_efficiency: f64,
    gpu_efficiency: f64,
}

/// When a unit ends and when CEEMS last saw it.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    end_s: Option<i64>,
    last_update_s: i64,
}

/// End of the ingest cycle at or after `end_s`, or the span end for running units.
fn timeline(start_s: i64, duration_s: i64, horizon_s: i64) -> Timeline {
    let end = start_s + duration_s.max(1);
    if end > horizon_s {
        Timeline {
            end_s: None,
            last_update_s: horizon_s,
        }
    } else {
        Timeline {
            end_s: Some(end),
            last_update_s: ((end + CYCLE_S - 1).div_euclid(CYCLE_S) * CYCLE_S).min(horizon_s),
        }
    }
}

/// Streams synthetic units for a [`GenerateSpec`], then the matching member tables.
#[derive(Debug)]
pub struct Generator {
    spec: GenerateSpec,
    rng: StdRng,
    pop: Population,
    dists: Dists,
    week: WeekProfile,
    /// Units emitted so far.
    emitted: u64,
    /// Last uniform order statistic of the start-time process (`0..1`).
    order: f64,
    begin_s: i64,
    span_s: i64,
    /// Last second of the span (the last ingest cycle end).
    horizon_s: i64,
    /// Offset used to place the weekly cycle in local time.
    week_offset_s: i64,
    running: u64,
    gpu_units: u64,
    unit: SynthUnit,
}

impl Generator {
    /// A generator for `spec`. An invalid spec is made usable rather than rejected (at least
    /// one cluster, span clamped); [`GenerateSpec::validate`] reports it.
    pub fn new(spec: &GenerateSpec) -> Generator {
        let mut spec = *spec;
        spec.clusters = spec.clusters.max(1);
        if !spec.years.is_finite() || spec.years <= 0.0 {
            spec.years = 3.0;
        }
        spec.years = spec.years.min(MAX_YEARS);
        // The population has its own stream so that its shape does not depend on how many
        // numbers the units draw.
        let mut pop_rng = StdRng::seed_from_u64(spec.seed ^ 0x5eed_c0de_cee5_1a4e);
        let pop = Population::new(&mut pop_rng, spec.clusters, spec.units);
        let horizon_s = spec.end_ms.div_euclid(1000);
        let span_s = span_seconds(spec.years);
        Generator {
            rng: StdRng::seed_from_u64(spec.seed),
            pop,
            dists: Dists::new(),
            week: WeekProfile::new(),
            emitted: 0,
            order: 0.0,
            begin_s: horizon_s - span_s,
            span_s,
            horizon_s,
            week_offset_s: i64::from(offset_seconds(spec.time_zone, horizon_s)),
            running: 0,
            gpu_units: 0,
            unit: SynthUnit::default(),
            spec,
        }
    }

    /// The spec in use (after the adjustments of [`Generator::new`]).
    pub fn spec(&self) -> &GenerateSpec {
        &self.spec
    }

    /// Units emitted so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Units emitted so far that are still running.
    pub fn running_units(&self) -> u64 {
        self.running
    }

    /// Units emitted so far that have GPUs.
    pub fn gpu_units(&self) -> u64 {
        self.gpu_units
    }

    /// `(cluster_id, resource_manager)` of every cluster, in order.
    pub fn cluster_ids(&self) -> Vec<(String, &'static str)> {
        self.pop
            .clusters
            .iter()
            .map(|c| (c.id.clone(), c.manager.name()))
            .collect()
    }

    /// The next unit, or `None` once `spec.units` were emitted. Units come in start order.
    pub fn next_unit(&mut self) -> Option<&SynthUnit> {
        if self.emitted >= self.spec.units {
            return None;
        }
        let start_s = self.next_start();
        self.emitted += 1;
        self.fill_unit(start_s);
        Some(&self.unit)
    }

    /// The next start time: ascending uniform order statistics (drawn one at a time, so no
    /// sorting and no memory), mapped through a growing load and the weekly cycle.
    fn next_start(&mut self) -> i64 {
        let remaining = (self.spec.units - self.emitted) as f64;
        // (0, 1]: the minimum of `remaining` uniforms on (order, 1).
        let v = 1.0 - self.rng.random::<f64>();
        self.order += (1.0 - self.order) * -(v.ln() / remaining).exp_m1();
        // Load density ∝ 1 + g·x over the span (three times busier at the end with g = 2).
        const G: f64 = 2.0;
        let y = self.order.clamp(0.0, 1.0);
        let x = ((1.0 + 2.0 * G * y * (1.0 + G / 2.0)).sqrt() - 1.0) / G;
        let linear = self.begin_s as f64 + x * self.span_s as f64;
        // Weekly cycle, in local time: warp the position within the week.
        let local = linear + self.week_offset_s as f64 - FIRST_MONDAY_S as f64;
        let week_start = (local / WEEK_S as f64).floor() * WEEK_S as f64;
        let warped = week_start + self.week.warp((local - week_start) / WEEK_S as f64);
        let t = warped - self.week_offset_s as f64 + FIRST_MONDAY_S as f64;
        (t.floor() as i64).clamp(self.begin_s, self.horizon_s - 1)
    }

    fn fill_unit(&mut self, start_s: i64) {
        let Generator {
            spec,
            rng,
            pop,
            dists,
            horizon_s,
            emitted,
            unit,
            running,
            gpu_units,
            ..
        } = self;
        let ci = sample_cdf(&pop.cluster_cdf, rng);
        let cluster = &mut pop.clusters[ci];

        // Who and where: a k8s pod may belong to its namespace's service account.
        let service_pod = cluster.manager == Manager::K8s && rng.random_bool(0.15);
        let (ui, slot) = if service_pod {
            let p = sample_cdf(&cluster.project_cdf, rng);
            let ui = cluster.projects[p]
                .service_user
                .expect("k8s namespaces have a service user");
            (ui as usize, 0)
        } else {
            let ui = sample_cdf(&cluster.user_cdf, rng);
            let n = cluster.users[ui].projects.len();
            let slot = if n > 1 && rng.random_bool(0.3) {
                rng.random_range(1..n)
            } else {
                0
            };
            (ui, slot)
        };
        cluster.users[ui].used |= 1 << slot;
        let pi = cluster.users[ui].projects[slot] as usize;

        unit.id = *emitted as i64;
        set(&mut unit.resource_manager, cluster.manager.name());
        set(&mut unit.cluster_id, &cluster.id);
        set(&mut unit.username, &cluster.users[ui].name);
        set(&mut unit.project, &cluster.projects[pi].name);
        let ctx = UnitCtx {
            rng,
            dists,
            tz: spec.time_zone,
            horizon_s: *horizon_s,
        };
        let facts = match cluster.manager {
            Manager::Slurm => slurm_unit(ctx, cluster, ui, pi, start_s, unit),
            Manager::Openstack => openstack_unit(ctx, cluster, ui, pi, start_s, unit),
            Manager::K8s => k8s_unit(ctx, cluster, ui, pi, start_s, unit),
        };
        let network = cluster.network_monitoring;
        fill_metrics(rng, dists, network, &facts, &mut unit.metrics);

        // `last_updated_at` has no offset and is read back as the first pass of a repeated
        // hour: an update in the second pass moves to the next cycle that reads back right, so
        // the stored last update never comes before the unit's end.
        let mut tl_last = facts.last_update_s;
        while format::wall_clock_reads_earlier(spec.time_zone, tl_last)
            && tl_last + CYCLE_S <= *horizon_s
        {
            tl_last += CYCLE_S;
        }
        unit.started_at_ts = facts.start_s * 1000;
        set_time_with_offset(&mut unit.started_at, spec.time_zone, facts.start_s);
        unit.ended_at_ts = facts.end_s.map_or(0, |e| e * 1000);
        if let Some(end) = facts.end_s {
            set_time_with_offset(&mut unit.ended_at, spec.time_zone, end);
        }
        unit.ignore = facts
            .end_s
            .is_some_and(|e| e - facts.start_s < MIN_MONITORED_S);
        unit.num_updates = ((tl_last + CYCLE_S - 1).div_euclid(CYCLE_S)
            - facts.start_s.div_euclid(CYCLE_S))
        .max(1);
        set_time_naive(&mut unit.last_updated_at, spec.time_zone, tl_last);
        if facts.end_s.is_none() {
            *running += 1;
        }
        if facts.gpus > 0.0 {
            *gpu_units += 1;
        }
    }

    /// `users` rows: one per (cluster, user) that has units, with the sorted projects the user
    /// has units in. Sorted by cluster, then name. SLURM rows have an empty uid and `null`
    /// tags; OpenStack rows carry the Keystone id and, like k8s rows, an offset time.
    pub fn users(&self) -> Vec<CeemsMemberRow> {
        let mut rows = Vec::new();
        for c in &self.pop.clusters {
            let last_updated_at = self.member_time(c.manager);
            let mut users: Vec<CeemsMemberRow> = c
                .users
                .iter()
                .filter(|u| u.used != 0)
                .map(|u| {
                    let mut projects: Vec<&str> = u
                        .projects
                        .iter()
                        .enumerate()
                        .filter(|(slot, _)| u.used & (1 << slot) != 0)
                        .map(|(_, &p)| c.projects[p as usize].name.as_str())
                        .collect();
                    projects.sort_unstable();
                    projects.dedup();
                    CeemsMemberRow {
                        uid: u.uid.clone(),
                        cluster_id: c.id.clone(),
                        resource_manager: c.manager.name().to_string(),
                        name: u.name.clone(),
                        members: json_string_array(&projects),
                        tags: "null".to_string(),
                        last_updated_at: last_updated_at.clone(),
                    }
                })
                .collect();
            users.sort_by(|a, b| a.name.cmp(&b.name));
            rows.extend(users);
        }
        rows
    }

    /// `projects` rows: one per (cluster, project) that has units, with the sorted users that
    /// have units in it. Sorted by cluster, then name.
    pub fn projects(&self) -> Vec<CeemsMemberRow> {
        let mut rows = Vec::new();
        for c in &self.pop.clusters {
            let last_updated_at = self.member_time(c.manager);
            let mut members: Vec<Vec<&str>> = vec![Vec::new(); c.projects.len()];
            for u in &c.users {
                for (slot, &p) in u.projects.iter().enumerate() {
                    if u.used & (1 << slot) != 0 {
                        members[p as usize].push(&u.name);
                    }
                }
            }
            let mut projects: Vec<CeemsMemberRow> = c
                .projects
                .iter()
                .zip(members)
                .filter(|(_, users)| !users.is_empty())
                .map(|(p, mut users)| {
                    users.sort_unstable();
                    users.dedup();
                    CeemsMemberRow {
                        uid: p.uid.clone(),
                        cluster_id: c.id.clone(),
                        resource_manager: c.manager.name().to_string(),
                        name: p.name.clone(),
                        members: json_string_array(&users),
                        tags: "null".to_string(),
                        last_updated_at: last_updated_at.clone(),
                    }
                })
                .collect();
            projects.sort_by(|a, b| a.name.cmp(&b.name));
            rows.extend(projects);
        }
        rows
    }

    /// `admin_users` rows as migration 8 writes them: cluster `all`, no projects, the source
    /// (`ceems`, i.e. the configuration) as tag.
    pub fn admin_users(&self) -> Vec<CeemsMemberRow> {
        let mut last_updated_at = String::new();
        set_time_naive(&mut last_updated_at, self.spec.time_zone, self.horizon_s);
        ["admin", "ceems-int-svc"]
            .into_iter()
            .map(|name| CeemsMemberRow {
                uid: String::new(),
                cluster_id: "all".to_string(),
                resource_manager: String::new(),
                name: name.to_string(),
                members: "[]".to_string(),
                tags: "[\"ceems\"]".to_string(),
                last_updated_at: last_updated_at.clone(),
            })
            .collect()
    }

    /// Member-table time: SLURM writes wall-clock time, OpenStack and k8s the offset form.
    fn member_time(&self, manager: Manager) -> String {
        let mut s = String::new();
        match manager {
            Manager::Slurm => set_time_naive(&mut s, self.spec.time_zone, self.horizon_s),
            Manager::Openstack | Manager::K8s => {
                set_time_with_offset(&mut s, self.spec.time_zone, self.horizon_s)
            }
        }
        s
    }
}

fn set(buf: &mut String, s: &str) {
    buf.clear();
    buf.push_str(s);
}

fn json_string_array(items: &[&str]) -> String {
    serde_json::to_string(items).expect("a list of strings always serialises")
}

/// What the per-manager builders need besides the cluster.
struct UnitCtx<'a> {
    rng: &'a mut StdRng,
    dists: &'a Dists,
    tz: Tz,
    horizon_s: i64,
}

/// Index drawn from small relative weights.
fn pick(rng: &mut StdRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

fn sample_seconds(d: &LogNormal<f64>, rng: &mut StdRng) -> i64 {
    d.sample(rng).clamp(1.0, 50.0 * SECONDS_PER_YEAR) as i64
}

const GIB: f64 = 1_073_741_824.0;
const MIB: f64 = 1_048_576.0;

const SLURM_JOB_NAMES: [&str; 24] = [
    "bash",
    "interactive",
    "jupyter",
    "run.sh",
    "job.sh",
    "submit.sh",
    "train.py",
    "infer.py",
    "md_run",
    "relax",
    "scf",
    "vasp_std",
    "gmx_mdrun",
    "lmp",
    "cp2k",
    "wrf",
    "namd2",
    "python",
    "snakejob",
    "nextflow",
    "sim",
    "postproc",
    "preprocess",
    "eval",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlurmEnd {
    Completed,
    Failed,
    Cancelled,
    NodeFail,
    Preempted,
    Timeout,
}

fn slurm_unit(
    ctx: UnitCtx<'_>,
    cluster: &mut Cluster,
    ui: usize,
    pi: usize,
    start_s: i64,
    unit: &mut SynthUnit,
) -> Facts {
    let UnitCtx {
        rng,
        dists,
        tz,
        horizon_s,
    } = ctx;
    let user = &cluster.users[ui];
    let gpu = rng.random_bool(0.6 * 0.3 + 0.4 * user.gpu_affinity);

    // Partition, QOS, time limit, node naming.
    let (partition, limit_s, node_prefix, node_total, pad) = if gpu {
        ("gpu", 24 * 3600, "gn", 64u32, 3usize)
    } else {
        match rng.random::<f64>() {
            r if r < 0.05 => ("debug", 1800, "cn", 512, 4),
            r if r < 0.15 => ("long", 7 * 86_400, "cn", 512, 4),
            _ => ("cpu", 48 * 3600, "cn", 512, 4),
        }
    };
    let qos = match partition {
        "debug" => "debug",
        "long" => "long",
        _ if rng.random_bool(0.12) => "high",
        _ => "normal",
    };

    // Resources: CPU jobs mostly on one node; multi-node jobs take whole nodes.
    let (nodes, cpus, gpus, mem_bytes): (u32, u32, u32, f64) = if gpu {
        if rng.random_bool(0.88) {
            let g = [1, 2, 4, 8][pick(rng, &[0.5, 0.2, 0.15, 0.15])];
            (1, g * 8, g, f64::from(g) * 64.0 * GIB)
        } else {
            let n = [2, 4, 8, 16][pick(rng, &[0.5, 0.3, 0.15, 0.05])];
            (n, n * 64, n * 8, f64::from(n) * 512.0 * GIB)
        }
    } else if rng.random_bool(0.85) {
        let c = [1, 2, 4, 8, 16, 32, 64, 128]
            [pick(rng, &[0.25, 0.12, 0.15, 0.15, 0.12, 0.09, 0.07, 0.05])];
        let per_cpu = [2.0, 4.0, 8.0][pick(rng, &[0.3, 0.5, 0.2])];
        (1, c, 0, f64::from(c) * per_cpu * GIB)
    } else {
        let n = [2, 4, 8, 16, 32, 64][pick(rng, &[0.4, 0.25, 0.15, 0.1, 0.07, 0.03])];
        (n, n * 128, 0, f64::from(n) * 256.0 * GIB)
    };

    // Duration and final state.
    let mut duration = sample_seconds(&dists.slurm_duration, rng);
    if partition == "debug" {
        duration = (duration / 8).max(1);
    }
    let mut end_state = [
        SlurmEnd::Completed,
        SlurmEnd::Failed,
        SlurmEnd::Cancelled,
        SlurmEnd::NodeFail,
        SlurmEnd::Preempted,
    ][pick(rng, &[0.72, 0.13, 0.11, 0.02, 0.02])];
    match end_state {
        SlurmEnd::Failed if rng.random_bool(0.35) => duration = rng.random_range(5..300),
        SlurmEnd::Cancelled => {
            duration = ((duration as f64) * rng.random_range(0.05..1.0)).max(1.0) as i64
        }
        _ => {}
    }
    if duration > limit_s {
        end_state = SlurmEnd::Timeout;
        duration = limit_s + rng.random_range(0..90);
    }
    let wait = sample_seconds(&dists.slurm_wait, rng).min(7 * 86_400);
    let tl = timeline(start_s, duration, horizon_s);
    let last = tl.end_s.unwrap_or(tl.last_update_s);

    // Identity and text columns.
    cluster.next_job_id += if rng.random_bool(0.2) {
        rng.random_range(2..40)
    } else {
        1
    };
    let job_id = cluster.next_job_id;
    let user = &cluster.users[ui];
    unit.uuid.clear();
    push_display(&mut unit.uuid, job_id);
    set(
        &mut unit.name,
        SLURM_JOB_NAMES[rng.random_range(0..SLURM_JOB_NAMES.len())],
    );
    if rng.random_bool(0.3) {
        unit.name.push('_');
        push_display(&mut unit.name, rng.random_range(0..1000u32));
    }
    set(&mut unit.groupname, &user.group);
    unit.created_at_ts = (start_s - wait) * 1000;
    set_time_with_offset(&mut unit.created_at, tz, start_s - wait);
    if tl.end_s.is_none() {
        set(&mut unit.ended_at, "Unknown");
    }
    set_elapsed(&mut unit.elapsed, last - start_s);
    let (state, exit_code) = match (tl.end_s, end_state) {
        (None, _) => ("RUNNING", "0:0"),
        (_, SlurmEnd::Completed) => ("COMPLETED", "0:0"),
        (_, SlurmEnd::Failed) => (
            "FAILED",
            ["1:0", "2:0", "127:0", "137:0", "255:0"][pick(rng, &[0.6, 0.15, 0.1, 0.1, 0.05])],
        ),
        (_, SlurmEnd::Cancelled) => ("CANCELLED", "0:15"),
        (_, SlurmEnd::NodeFail) => ("NODE_FAIL", "0:0"),
        (_, SlurmEnd::Preempted) => ("PREEMPTED", "0:0"),
        (_, SlurmEnd::Timeout) => ("TIMEOUT", "0:0"),
    };
    set(&mut unit.state, state);
    if state == "CANCELLED" {
        // Mostly by the owner, sometimes by root (an administrator).
        let by = if rng.random_bool(0.85) {
            user.unix_uid
        } else {
            0
        };
        unit.state.push_str(" by ");
        push_display(&mut unit.state, by);
    }

    let a = &mut unit.allocation;
    a.clear();
    a.push_str("{\"billing\":");
    push_display(a, cpus * 10);
    a.push_str(",\"cpus\":");
    push_display(a, cpus);
    a.push_str(",\"gpus\":");
    push_display(a, gpus);
    a.push_str(",\"mem\":");
    push_display(a, mem_bytes as u64);
    a.push_str(",\"nodes\":");
    push_display(a, nodes);
    a.push('}');

    let first_node = rng.random_range(0..=node_total - nodes);
    let t = &mut unit.tags;
    t.clear();
    t.push_str("{\"exit_code\":\"");
    t.push_str(exit_code);
    t.push_str("\",\"gid\":");
    push_display(t, user.gid);
    t.push_str(",\"nodelist\":\"");
    t.push_str(node_prefix);
    if nodes == 1 {
        push_padded(t, first_node, pad);
    } else {
        t.push('[');
        push_padded(t, first_node, pad);
        t.push('-');
        push_padded(t, first_node + nodes - 1, pad);
        t.push(']');
    }
    t.push_str("\",\"nodelistexp\":\"");
    for n in first_node..first_node + nodes {
        if n > first_node {
            t.push('|');
        }
        t.push_str(node_prefix);
        push_padded(t, n, pad);
    }
    t.push_str("\",\"partition\":\"");
    t.push_str(partition);
    t.push_str("\",\"qos\":\"");
    t.push_str(qos);
    t.push_str("\",\"uid\":");
    push_display(t, user.unix_uid);
    t.push_str(",\"workdir\":\"");
    if rng.random_bool(0.4) {
        t.push_str("/home/");
        t.push_str(&user.name);
    } else {
        t.push_str("/scratch/");
        t.push_str(&cluster.projects[pi].name);
        t.push('/');
        t.push_str(&user.name);
    }
    t.push_str("\"}");

    let mem_mib = (mem_bytes / MIB).floor();
    Facts {
        start_s,
        end_s: tl.end_s,
        last_update_s: tl.last_update_s,
        active_s: (last - start_s) as f64,
        cpus: f64::from(cpus),
        cpumem_factor: if mem_mib > 0.0 { mem_mib } else { 1.0 },
        gpus: f64::from(gpus),
        gpumem_factor: if gpus > 0 { 1.0 } else { 0.0 },
        cpu_efficiency: user.cpu_efficiency,
        gpu_efficiency: user.gpu_efficiency,
    }
}

/// OpenStack flavors: name, vCPUs, RAM (MiB), disk (GB), vGPUs, relative popularity.
const CPU_FLAVORS: [(&str, u32, u32, u32, u32, f64); 7] = [
    ("m1.tiny", 1, 512, 1, 0, 0.05),
    ("m1.small", 1, 2048, 20, 0, 0.2),
    ("m1.medium", 2, 4096, 40, 0, 0.3),
    ("m1.large", 4, 8192, 80, 0, 0.22),
    ("m1.xlarge", 8, 16384, 160, 0, 0.13),
    ("c1.4xlarge", 16, 32768, 160, 0, 0.06),
    ("r1.2xlarge", 8, 65536, 160, 0, 0.04),
];
const GPU_FLAVORS: [(&str, u32, u32, u32, u32, f64); 3] = [
    ("g1.large", 8, 32768, 100, 1, 0.5),
    ("g1.xlarge", 16, 65536, 200, 2, 0.3),
    ("g2.4xlarge", 32, 131072, 400, 4, 0.2),
];
const VM_NAMES: [&str; 14] = [
    "jupyter",
    "webserver",
    "db",
    "worker",
    "build",
    "test",
    "dev",
    "analysis",
    "gitlab-runner",
    "k8s-node",
    "notebook",
    "mlflow",
    "postgres",
    "nginx",
];

fn openstack_unit(
    ctx: UnitCtx<'_>,
    cluster: &mut Cluster,
    ui: usize,
    _pi: usize,
    start_s: i64,
    unit: &mut SynthUnit,
) -> Facts {
    let UnitCtx {
        rng,
        dists,
        tz,
        horizon_s,
    } = ctx;
    let user = &cluster.users[ui];
    let gpu = rng.random_bool(0.6 * 0.3 + 0.4 * user.gpu_affinity);
    let flavor = if gpu {
        GPU_FLAVORS[pick(rng, &GPU_FLAVORS.map(|f| f.5))]
    } else {
        CPU_FLAVORS[pick(rng, &CPU_FLAVORS.map(|f| f.5))]
    };
    let (flavor_name, vcpus, ram_mib, disk, vgpus, _) = flavor;
    let lifetime = if rng.random_bool(0.5) {
        &dists.vm_short
    } else {
        &dists.vm_long
    };
    let duration = sample_seconds(lifetime, rng);
    let build = rng.random_range(15..180);
    let tl = timeline(start_s, duration, horizon_s);
    let last = tl.end_s.unwrap_or(tl.last_update_s);

    set_uuid_v4(&mut unit.uuid, rng.random(), rng.random());
    set(
        &mut unit.name,
        VM_NAMES[rng.random_range(0..VM_NAMES.len())],
    );
    unit.name.push('-');
    push_padded(&mut unit.name, rng.random_range(1..100), 2);
    unit.groupname.clear();
    unit.created_at_ts = (start_s - build) * 1000;
    set_time_with_offset(&mut unit.created_at, tz, start_s - build);
    set_elapsed(&mut unit.elapsed, last - start_s);

    // Not deleted: still accounted. Stopped VMs stopped accruing time at their last change.
    let (state, power_state, active_s) = match tl.end_s {
        Some(_) => {
            let state = if rng.random_bool(0.96) {
                "DELETED"
            } else {
                "SOFT_DELETED"
            };
            (state, "NOSTATE", last - start_s)
        }
        None => {
            let state = ["ACTIVE", "SHUTOFF", "SUSPENDED", "SHELVED_OFFLOADED"]
                [pick(rng, &[0.8, 0.13, 0.04, 0.03])];
            let active = if state == "ACTIVE" {
                last - start_s
            } else {
                ((last - start_s) as f64 * rng.random_range(0.2..0.95)) as i64
            };
            let power = match state {
                "ACTIVE" => "RUNNING",
                "SUSPENDED" => "SUSPENDED",
                _ => "SHUTDOWN",
            };
            (state, power, active)
        }
    };
    set(&mut unit.state, state);
    if tl.end_s.is_none() {
        set(&mut unit.ended_at, "N/A");
    }

    let a = &mut unit.allocation;
    a.clear();
    a.push_str("{\"disk\":");
    push_display(a, disk);
    a.push_str(",\"extra_specs\":{");
    if vgpus > 0 {
        a.push_str("\"resources:VGPU\":\"");
        push_display(a, vgpus);
        a.push('"');
    } else if flavor_name.starts_with("c1.") {
        a.push_str("\"hw:cpu_policy\":\"dedicated\"");
    }
    a.push_str("},\"mem\":");
    push_display(a, ram_mib);
    a.push_str(",\"name\":\"");
    a.push_str(flavor_name);
    a.push_str("\",\"swap\":0,\"vcpus\":");
    push_display(a, vcpus);
    a.push('}');

    let t = &mut unit.tags;
    t.clear();
    t.push_str("{\"az\":\"");
    t.push_str(["nova", "az-1", "az-2"][pick(rng, &[0.6, 0.2, 0.2])]);
    t.push_str("\",\"metadata\":{");
    if rng.random_bool(0.2) {
        t.push_str("\"role\":\"");
        t.push_str(VM_NAMES[rng.random_range(0..VM_NAMES.len())]);
        t.push('"');
    }
    t.push_str("},\"power_state\":\"");
    t.push_str(power_state);
    t.push_str("\",\"reservation_id\":\"r-");
    for _ in 0..8 {
        t.push(char::from(
            b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)],
        ));
    }
    t.push_str("\",\"tags\":[");
    match rng.random::<f64>() {
        r if r < 0.1 => t.push_str("\"prod\""),
        r if r < 0.15 => t.push_str("\"test\""),
        _ => {}
    }
    t.push_str("]}");

    Facts {
        start_s,
        end_s: tl.end_s,
        last_update_s: tl.last_update_s,
        active_s: active_s.max(0) as f64,
        cpus: f64::from(vcpus),
        cpumem_factor: f64::from(ram_mib),
        gpus: f64::from(vgpus),
        gpumem_factor: f64::from(vgpus),
        cpu_efficiency: user.cpu_efficiency,
        gpu_efficiency: user.gpu_efficiency,
    }
}

const POD_APPS: [&str; 16] = [
    "api",
    "frontend",
    "worker",
    "redis",
    "postgres",
    "train",
    "infer",
    "etl",
    "notebook",
    "scheduler",
    "ingest",
    "batch",
    "indexer",
    "exporter",
    "webhook",
    "builder",
];
/// Characters of k8s generated name suffixes.
const POD_SUFFIX: &[u8; 27] = b"bcdfghjklmnpqrstvwxz2456789";

fn k8s_unit(
    ctx: UnitCtx<'_>,
    cluster: &mut Cluster,
    ui: usize,
    pi: usize,
    start_s: i64,
    unit: &mut SynthUnit,
) -> Facts {
    let UnitCtx {
        rng,
        dists,
        tz,
        horizon_s,
    } = ctx;
    let user = &cluster.users[ui];
    let service = rng.random_bool(0.3);
    let gpu = if service {
        rng.random_bool(0.05)
    } else {
        rng.random_bool(0.6 * 0.3 + 0.4 * user.gpu_affinity)
    };
    let (cpus, mem_bytes, gpus): (f64, f64, u32) = if gpu {
        let g = [1, 2, 4, 8][pick(rng, &[0.55, 0.2, 0.15, 0.1])];
        (f64::from(g * 8), f64::from(g) * 32.0 * GIB, g)
    } else if service {
        let c = [0.1, 0.25, 0.5, 1.0, 2.0][pick(rng, &[0.15, 0.3, 0.3, 0.15, 0.1])];
        let m = [128.0, 256.0, 512.0, 1024.0, 2048.0][pick(rng, &[0.15, 0.25, 0.3, 0.2, 0.1])];
        (c, m * MIB, 0)
    } else {
        let c = [1.0, 2.0, 4.0, 8.0, 16.0][pick(rng, &[0.3, 0.3, 0.2, 0.15, 0.05])];
        (c, c * 4.0 * GIB, 0)
    };
    let duration = sample_seconds(
        if service {
            &dists.pod_service
        } else {
            &dists.pod_job
        },
        rng,
    );
    let pending = rng.random_range(1..20);
    let tl = timeline(start_s, duration, horizon_s);
    let last = tl.end_s.unwrap_or(tl.last_update_s);
    let created_s = start_s - pending;

    set_uuid_v4(&mut unit.uuid, rng.random(), rng.random());
    let app = POD_APPS[rng.random_range(0..POD_APPS.len())];
    set(&mut unit.name, app);
    unit.name.push('-');
    if service {
        for _ in 0..10 {
            unit.name.push(char::from(
                POD_SUFFIX[rng.random_range(0..POD_SUFFIX.len())],
            ));
        }
        unit.name.push('-');
    }
    for _ in 0..5 {
        unit.name.push(char::from(
            POD_SUFFIX[rng.random_range(0..POD_SUFFIX.len())],
        ));
    }
    unit.groupname.clear();
    unit.created_at_ts = created_s * 1000;
    set_time_with_offset(&mut unit.created_at, tz, created_s);
    // CEEMS measures pod elapsed time from creation.
    set_elapsed(&mut unit.elapsed, last - created_s);
    let state = match tl.end_s {
        None if rng.random_bool(0.95) => "Running/Ready",
        None => "Running/ContainersNotReady",
        Some(_) if rng.random_bool(if service { 0.8 } else { 0.85 }) => "Succeeded",
        Some(_) => "Failed",
    };
    set(&mut unit.state, state);
    if tl.end_s.is_none() {
        set(&mut unit.ended_at, "N/A");
    }

    let a = &mut unit.allocation;
    a.clear();
    a.push_str("{\"mem\":");
    push_plain_number(a, mem_bytes);
    if gpus > 0 {
        a.push_str(",\"nvidia.com/gpu\":");
        push_display(a, gpus);
    }
    a.push_str(",\"vcpus\":");
    push_plain_number(a, cpus);
    a.push('}');

    let service_account = cluster.projects[pi].service_user == Some(ui as u32);
    let t = &mut unit.tags;
    t.clear();
    t.push_str("{\"annotations\":{\"ceems.io/created-by\":\"");
    if service_account {
        t.push_str("system:serviceaccount:");
        t.push_str(&cluster.projects[pi].name);
        t.push_str(":default");
    } else {
        t.push_str(&user.name);
    }
    t.push_str("\"},\"labels\":{\"app\":\"");
    t.push_str(app);
    t.push_str("\"},\"qos\":\"");
    t.push_str(if gpu {
        "Guaranteed"
    } else if service && rng.random_bool(0.1) {
        "BestEffort"
    } else {
        "Burstable"
    });
    t.push_str("\"}");

    Facts {
        start_s,
        end_s: tl.end_s,
        last_update_s: tl.last_update_s,
        active_s: (last - start_s) as f64,
        cpus,
        cpumem_factor: mem_bytes,
        gpus: f64::from(gpus),
        gpumem_factor: f64::from(gpus),
        cpu_efficiency: user.cpu_efficiency,
        gpu_efficiency: user.gpu_efficiency,
    }
}

fn push_display(buf: &mut String, v: impl std::fmt::Display) {
    use std::fmt::Write as _;
    let _ = write!(buf, "{v}");
}

fn push_padded(buf: &mut String, v: u32, width: usize) {
    use std::fmt::Write as _;
    let _ = write!(buf, "{v:0width$}");
}

/// Grid carbon intensity (g/kWh) for a unit starting at `s`: RTE (France) is seasonal, higher
/// in winter; Electricity Maps runs somewhat above it; OWID is a yearly average.
fn emission_factors(rng: &mut StdRng, s: i64) -> (f64, f64, f64) {
    let year_pos = (s as f64).rem_euclid(SECONDS_PER_YEAR) / SECONDS_PER_YEAR;
    let noise: f64 = rng.sample(StandardNormal);
    let rte = (45.0 + 25.0 * (std::f64::consts::TAU * year_pos).cos() + 5.0 * noise).max(8.0);
    let emaps = rte * rng.random_range(1.0..1.35);
    let year = 1970 + (s as f64 / SECONDS_PER_YEAR).floor() as i64;
    let owid = match year {
        ..=2022 => 58.5,
        2023 => 56.04,
        2024 => 53.2,
        _ => 51.3,
    };
    (rte, emaps, owid)
}

/// The thirteen metric maps of a unit.
fn fill_metrics(rng: &mut StdRng, d: &Dists, network: bool, f: &Facts, metrics: &mut [String; 13]) {
    let t = f.active_s;
    MetricMapWriter::new(&mut metrics[0])
        .entry("alloc_cpumemtime", f.cpumem_factor * t)
        .entry("alloc_cputime", f.cpus * t)
        .entry("alloc_gpumemtime", f.gpumem_factor * t)
        .entry("alloc_gputime", f.gpus * t)
        .entry("walltime", t)
        .finish();

    // Too short to be scraped, or a monitoring gap: no data at all.
    if t < MIN_MONITORED_S as f64 || rng.random_bool(0.02) {
        for m in &mut metrics[1..] {
            set(m, "{}");
        }
        return;
    }
    let hours = t / 3_600.0;
    let (rte, emaps, owid) = emission_factors(rng, f.start_s);
    let emissions = |buf: &mut String, kwh: f64| {
        MetricMapWriter::new(buf)
            .entry("emaps_total", kwh * emaps)
            .entry("owid_total", kwh * owid)
            .entry("rte_total", kwh * rte)
            .finish();
    };

    let noise: f64 = rng.sample(StandardNormal);
    let cpu_usage = (f.cpu_efficiency + 12.0 * noise).clamp(0.5, 100.0);
    let cpu_mem_usage = (rng.random_range(5.0..60.0) + 0.3 * cpu_usage).min(100.0);
    MetricMapWriter::new(&mut metrics[1])
        .entry("global", cpu_usage)
        .finish();
    MetricMapWriter::new(&mut metrics[2])
        .entry("global", cpu_mem_usage)
        .finish();
    // ~3 W per core idle, ~12 W at full load.
    let cpu_kwh = f.cpus * (3.0 + 9.0 * cpu_usage / 100.0) * hours / 1_000.0;
    MetricMapWriter::new(&mut metrics[3])
        .entry("total", cpu_kwh)
        .finish();
    emissions(&mut metrics[4], cpu_kwh);

    if f.gpus > 0.0 {
        let noise: f64 = rng.sample(StandardNormal);
        let gpu_usage = (f.gpu_efficiency + 15.0 * noise).clamp(0.0, 100.0);
        let gpu_mem_usage = (0.6 * gpu_usage + rng.random_range(5.0..40.0)).min(100.0);
        MetricMapWriter::new(&mut metrics[5])
            .entry("global", gpu_usage)
            .finish();
        MetricMapWriter::new(&mut metrics[6])
            .entry("global", gpu_mem_usage)
            .finish();
        // ~60 W idle, ~400 W at full load per GPU.
        let gpu_kwh = f.gpus * (60.0 + 340.0 * gpu_usage / 100.0) * hours / 1_000.0;
        MetricMapWriter::new(&mut metrics[7])
            .entry("total", gpu_kwh)
            .finish();
        emissions(&mut metrics[8], gpu_kwh);
    } else {
        for m in &mut metrics[5..9] {
            set(m, "{}");
        }
    }

    // A cluster whose configuration lacked these collectors on first insert stores `null`.
    if rng.random_bool(0.003) {
        for m in &mut metrics[9..13] {
            set(m, "null");
        }
        return;
    }
    let scale = f.cpus.max(0.1) * t;
    let io = |buf: &mut String, rng: &mut StdRng| {
        let bytes = (scale * d.io_rate.sample(rng).min(5e7)).round();
        let requests = (bytes / d.io_request.sample(rng)).round().max(1.0);
        MetricMapWriter::new(buf)
            .entry("bytes", bytes)
            .entry("requests", requests)
            .finish();
    };
    io(&mut metrics[9], rng);
    io(&mut metrics[10], rng);
    if network {
        let ingress = (t * f.cpus.max(0.1).sqrt() * d.net_rate.sample(rng).min(1e9)).round();
        let egress = (ingress * d.net_ratio.sample(rng).min(20.0)).round();
        for (m, bytes) in [(11, ingress), (12, egress)] {
            let packets = (bytes / rng.random_range(400.0..1_400.0)).round();
            MetricMapWriter::new(&mut metrics[m])
                .entry("bytes", bytes)
                .entry("packets", packets)
                .finish();
        }
    } else {
        set(&mut metrics[11], "{}");
        set(&mut metrics[12], "{}");
    }
}
