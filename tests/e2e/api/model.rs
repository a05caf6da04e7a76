//! An independent model of the CEEMS API over a CEEMS SQLite database: plain loops over the
//! rows, and JSON text rendered the way the original's Go encoder writes it (struct field order,
//! `omitempty`, sorted map keys, 8-decimal metric numbers, HTML-safe string escaping).
//!
//! It follows `spec/behaviour.md` with the deliberate differences of DESIGN §1: numeric
//! inclusive windows, per-cluster usage rows, weighted averages whose weights only count units
//! carrying the key, float arithmetic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::Value;

/// The metric-map columns, in the models' field order.
pub(crate) const METRICS: [&str; 13] = [
    "total_time_seconds",
    "avg_cpu_usage",
    "avg_cpu_mem_usage",
    "total_cpu_energy_usage_kwh",
    "total_cpu_emissions_gms",
    "avg_gpu_usage",
    "avg_gpu_mem_usage",
    "total_gpu_energy_usage_kwh",
    "total_gpu_emissions_gms",
    "total_io_write_stats",
    "total_io_read_stats",
    "total_ingress_stats",
    "total_outgress_stats",
];

/// The weight key (in `total_time_seconds`) of an average map; `None` for sums.
pub(crate) fn weight_key(map: &str) -> Option<&'static str> {
    match map {
        "avg_cpu_usage" => Some("alloc_cputime"),
        "avg_cpu_mem_usage" => Some("alloc_cpumemtime"),
        "avg_gpu_usage" => Some("alloc_gputime"),
        "avg_gpu_mem_usage" => Some("alloc_gpumemtime"),
        _ => None,
    }
}

/// The zone the reference database's offset-less strings are in (and the servers' data zone).
pub(crate) const DATA_TZ: Tz = chrono_tz::Europe::Paris;

pub(crate) type Metric = BTreeMap<String, f64>;

/// One row of `units`.
#[derive(Debug, Clone)]
pub(crate) struct Unit {
    pub(crate) cluster_id: String,
    pub(crate) resource_manager: String,
    pub(crate) uuid: String,
    pub(crate) name: String,
    pub(crate) project: String,
    pub(crate) groupname: String,
    pub(crate) username: String,
    pub(crate) created_at: String,
    pub(crate) started_at: String,
    pub(crate) ended_at: String,
    pub(crate) created_at_ts: i64,
    pub(crate) started_at_ts: i64,
    pub(crate) ended_at_ts: i64,
    pub(crate) elapsed: String,
    pub(crate) state: String,
    pub(crate) allocation: Value,
    pub(crate) tags: Value,
    /// Indexed like [`METRICS`]; `None` for a JSON `null`.
    pub(crate) maps: Vec<Option<Metric>>,
    pub(crate) ignore: bool,
    /// `last_updated_at` in Unix seconds.
    pub(crate) last_updated_s: i64,
}

impl Unit {
    pub(crate) fn map(&self, name: &str) -> Option<&Metric> {
        let i = METRICS
            .iter()
            .position(|m| *m == name)
            .expect("metric name");
        self.maps[i].as_ref()
    }

    fn value(&self, map: &str, key: &str) -> Option<f64> {
        self.map(map).and_then(|m| m.get(key).copied())
    }
}

/// One row of `projects`.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub(crate) uid: String,
    pub(crate) cluster_id: String,
    pub(crate) resource_manager: String,
    pub(crate) name: String,
    /// `None` when the stored list is `null`.
    pub(crate) users: Option<Vec<String>>,
    pub(crate) tags: Value,
}

/// One row of `users`.
#[derive(Debug, Clone)]
pub(crate) struct UserRow {
    pub(crate) uid: String,
    pub(crate) cluster_id: String,
    pub(crate) resource_manager: String,
    pub(crate) name: String,
    pub(crate) projects: Value,
    pub(crate) tags: Value,
}

/// Everything the API serves, read from a CEEMS SQLite file.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) units: Vec<Unit>,
    pub(crate) projects: Vec<Project>,
    pub(crate) users: Vec<UserRow>,
    /// Names in `admin_users`.
    pub(crate) admins: Vec<String>,
}

fn json(text: Option<String>) -> Value {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn metric(text: Option<String>) -> Option<Metric> {
    match json(text) {
        Value::Object(o) => Some(
            o.into_iter()
                .map(|(k, v)| (k, v.as_f64().unwrap_or(0.0)))
                .collect(),
        ),
        _ => None,
    }
}

/// `YYYY-MM-DDTHH:MM:SS` in the data zone → Unix seconds.
pub(crate) fn local_seconds(text: &str) -> i64 {
    let naive =
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").expect("local time string");
    DATA_TZ
        .from_local_datetime(&naive)
        .single()
        .expect("unambiguous local time")
        .timestamp()
}

impl Model {
    /// Reads every table the API serves.
    pub(crate) fn load(db: &Path) -> Model {
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .expect("open reference database");
        let maps = METRICS.join(", ");
        let sql = format!(
            "SELECT cluster_id, resource_manager, uuid, name, project, groupname, username, created_at, \
             started_at, ended_at, created_at_ts, started_at_ts, ended_at_ts, elapsed, state, allocation, tags, \
             ignore, last_updated_at, {maps} FROM units ORDER BY id"
        );
        let mut stmt = conn.prepare(&sql).expect("prepare units");
        let units = stmt
            .query_map([], |r| {
                let s = |i: usize| -> rusqlite::Result<String> {
                    Ok(r.get::<_, Option<String>>(i)?.unwrap_or_default())
                };
                let n = |i: usize| -> rusqlite::Result<i64> {
                    Ok(r.get::<_, Option<i64>>(i)?.unwrap_or_default())
                };
                let mut maps = Vec::new();
                for i in 0..METRICS.len() {
                    maps.push(metric(r.get(19 + i)?));
                }
                Ok(Unit {
                    cluster_id: s(0)?,
                    resource_manager: s(1)?,
                    uuid: s(2)?,
                    name: s(3)?,
                    project: s(4)?,
                    groupname: s(5)?,
                    username: s(6)?,
                    created_at: s(7)?,
                    started_at: s(8)?,
                    ended_at: s(9)?,
                    created_at_ts: n(10)?,
                    started_at_ts: n(11)?,
                    ended_at_ts: n(12)?,
                    elapsed: s(13)?,
                    state: s(14)?,
                    allocation: json(r.get(15)?),
                    tags: json(r.get(16)?),
                    ignore: n(17)? != 0,
                    last_updated_s: local_seconds(&s(18)?),
                    maps,
                })
            })
            .expect("query units")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("read units");
        let mut stmt = conn
            .prepare("SELECT uid, cluster_id, resource_manager, name, users, tags FROM projects ORDER BY id")
            .expect("prepare projects");
        let projects = stmt
            .query_map([], |r| {
                let users = match json(r.get(4)?) {
                    Value::Array(a) => Some(
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect(),
                    ),
                    _ => None,
                };
                Ok(Project {
                    uid: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    cluster_id: r.get(1)?,
                    resource_manager: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    name: r.get(3)?,
                    users,
                    tags: json(r.get(5)?),
                })
            })
            .expect("query projects")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("read projects");
        let mut stmt = conn
            .prepare("SELECT uid, cluster_id, resource_manager, name, projects, tags FROM users ORDER BY id")
            .expect("prepare users");
        let users = stmt
            .query_map([], |r| {
                Ok(UserRow {
                    uid: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    cluster_id: r.get(1)?,
                    resource_manager: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    name: r.get(3)?,
                    projects: json(r.get(4)?),
                    tags: json(r.get(5)?),
                })
            })
            .expect("query users")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("read users");
        let mut stmt = conn
            .prepare("SELECT name FROM admin_users ORDER BY id")
            .expect("prepare admins");
        let admins = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .expect("query admins")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("read admins");
        Model {
            units,
            projects,
            users,
            admins,
        }
    }

    /// Project names whose member list contains one of `users` (any cluster); with `None`, the
    /// names of projects with at least one member or a `null` member list.
    pub(crate) fn projects_of(&self, users: Option<&[String]>) -> BTreeSet<String> {
        self.projects
            .iter()
            .filter(|p| match (&p.users, users) {
                (None, None) => true,
                (None, Some(_)) => false,
                (Some(m), None) => !m.is_empty(),
                (Some(m), Some(us)) => m.iter().any(|x| us.contains(x)),
            })
            .map(|p| p.name.clone())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// JSON text

/// A JSON value with ordered object keys and the original's number rules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum J {
    Null,
    /// A plain integer.
    Int(i64),
    /// A metric-map number: integral → integer, otherwise exactly 8 decimals.
    Num(f64),
    /// A number literal written as is.
    Raw(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

/// Go's `json.Encoder` string escaping (HTML-safe).
pub(crate) fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The original's metric number rendering.
pub(crate) fn metric_number(v: f64) -> String {
    if !v.is_finite() {
        return "0".into();
    }
    if v == v.trunc() && v.abs() < 9.2e18 {
        return format!("{}", v as i64);
    }
    format!("{v:.8}")
}

impl J {
    pub(crate) fn render(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Int(i) => out.push_str(&i.to_string()),
            J::Num(v) => out.push_str(&metric_number(*v)),
            J::Raw(r) => out.push_str(r),
            J::Str(s) => go_string(s, out),
            J::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            J::Obj(o) => {
                out.push('{');
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    go_string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A generic stored JSON value (allocation, tags, lists): sorted keys, integral numbers as
/// integers, other numbers as stored.
pub(crate) fn generic(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Raw(b.to_string()),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => J::Int(i),
            (_, Some(u), _) => J::Raw(u.to_string()),
            (_, _, Some(f)) if f == f.trunc() && f.abs() < 9.2e18 => J::Int(f as i64),
            _ => J::Raw(n.to_string()),
        },
        Value::String(s) => J::Str(s.clone()),
        Value::Array(a) => J::Arr(a.iter().map(generic).collect()),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            J::Obj(
                keys.into_iter()
                    .map(|k| (k.clone(), generic(&o[k])))
                    .collect(),
            )
        }
    }
}

fn empty_generic(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// `{"status":"success","data":[…]}` plus the encoder's newline.
pub(crate) fn success(data: Vec<J>) -> String {
    format!(
        "{{\"status\":\"success\",\"data\":{}}}\n",
        J::Arr(data).render()
    )
}

/// An error envelope.
pub(crate) fn error(kind: &str, message: &str) -> String {
    let mut s = String::from("{\"status\":\"error\",\"data\":null,\"errorType\":");
    go_string(kind, &mut s);
    s.push_str(",\"error\":");
    go_string(message, &mut s);
    s.push_str("}\n");
    s
}

/// Builds an object skipping `None` members.
struct ObjBuilder(Vec<(String, J)>);

impl ObjBuilder {
    fn new() -> Self {
        ObjBuilder(Vec::new())
    }
    fn put(&mut self, k: &str, v: J) {
        self.0.push((k.to_string(), v));
    }
    fn str_o(&mut self, k: &str, v: &str) {
        if !v.is_empty() {
            self.put(k, J::Str(v.to_string()));
        }
    }
    fn int_o(&mut self, k: &str, v: i64) {
        if v != 0 {
            self.put(k, J::Int(v));
        }
    }
    fn generic_o(&mut self, k: &str, v: &Value) {
        if !empty_generic(v) {
            self.put(k, generic(v));
        }
    }
    fn done(self) -> J {
        J::Obj(self.0)
    }
}

fn metric_obj(m: &Metric) -> J {
    J::Obj(m.iter().map(|(k, v)| (k.clone(), J::Num(*v))).collect())
}

// ---------------------------------------------------------------------------------------------
// Units

/// A `/units` or `/units/admin` request.
#[derive(Debug, Clone, Default)]
pub(crate) struct UnitsQuery {
    /// `/units`: the logged user.
    pub(crate) own: Option<String>,
    /// `/units/admin?user=…`.
    pub(crate) users: Option<Vec<String>>,
    pub(crate) clusters: Option<Vec<String>>,
    pub(crate) projects: Option<Vec<String>>,
    pub(crate) uuids: Option<Vec<String>>,
    /// Inclusive window in seconds on `ended_at_ts` (ignored when `uuids` is given).
    pub(crate) window: Option<(i64, i64)>,
    pub(crate) running: bool,
}

fn within(list: &Option<Vec<String>>, v: &str) -> bool {
    list.as_ref().is_none_or(|l| l.iter().any(|x| x == v))
}

/// Strings of a list of `&str`.
pub(crate) fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Model {
    /// The units a units request lists, in response order.
    pub(crate) fn units(&self, q: &UnitsQuery) -> Vec<&Unit> {
        let mut out: Vec<&Unit> = self
            .units
            .iter()
            .filter(|u| !u.ignore)
            .filter(|u| q.own.as_ref().is_none_or(|o| *o == u.username))
            .filter(|u| within(&q.users, &u.username))
            .filter(|u| within(&q.clusters, &u.cluster_id))
            .filter(|u| within(&q.projects, &u.project))
            .filter(|u| within(&q.uuids, &u.uuid))
            .filter(|u| {
                if q.uuids.is_some() {
                    return true;
                }
                let Some((from, to)) = q.window else {
                    return true;
                };
                (u.ended_at_ts > 0 && u.ended_at_ts >= from * 1000 && u.ended_at_ts <= to * 1000)
                    || (q.running && u.ended_at_ts == 0)
            })
            .collect();
        out.sort_by(|a, b| (&a.cluster_id, &a.uuid).cmp(&(&b.cluster_id, &b.uuid)));
        out
    }
}

/// A stored time string re-rendered in `tz` (strings that are not times are kept).
pub(crate) fn convert_time(s: &str, tz: Option<Tz>) -> String {
    match (tz, DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")) {
        (Some(tz), Ok(t)) => t
            .with_timezone(&tz)
            .format("%Y-%m-%dT%H:%M:%S%z")
            .to_string(),
        _ => s.to_string(),
    }
}

/// A Unit object with field selection (`None` = all fields) and output zone.
pub(crate) fn unit_json(u: &Unit, fields: Option<&[&str]>, tz: Option<Tz>) -> J {
    let sel = |f: &str| fields.is_none_or(|s| s.contains(&f));
    let mut o = ObjBuilder::new();
    let text = [
        ("cluster_id", &u.cluster_id),
        ("resource_manager", &u.resource_manager),
        ("uuid", &u.uuid),
        ("name", &u.name),
        ("project", &u.project),
        ("groupname", &u.groupname),
        ("username", &u.username),
    ];
    for (k, v) in text {
        if k == "uuid" {
            // Never omitted, even when not selected.
            o.put(k, J::Str(if sel(k) { v.clone() } else { String::new() }));
        } else if sel(k) {
            o.str_o(k, v);
        }
    }
    for (k, v) in [
        ("created_at", &u.created_at),
        ("started_at", &u.started_at),
        ("ended_at", &u.ended_at),
    ] {
        if sel(k) {
            o.str_o(k, &convert_time(v, tz));
        }
    }
    for (k, v) in [
        ("created_at_ts", u.created_at_ts),
        ("started_at_ts", u.started_at_ts),
        ("ended_at_ts", u.ended_at_ts),
    ] {
        if sel(k) {
            o.int_o(k, v);
        }
    }
    if sel("elapsed") {
        o.str_o("elapsed", &u.elapsed);
    }
    if sel("state") {
        o.str_o("state", &u.state);
    }
    if sel("allocation") {
        o.generic_o("allocation", &u.allocation);
    }
    for (i, m) in METRICS.iter().enumerate() {
        if let (true, Some(map)) = (sel(m), &u.maps[i])
            && !map.is_empty()
        {
            o.put(m, metric_obj(map));
        }
    }
    if sel("tags") {
        o.generic_o("tags", &u.tags);
    }
    o.done()
}

// ---------------------------------------------------------------------------------------------
// Usage

/// A `/usage/{current,global}[/admin]` request.
#[derive(Debug, Clone, Default)]
pub(crate) struct UsageQuery {
    /// Users whose projects are visible; `None` = every project with members (admin, no `user`).
    pub(crate) users: Option<Vec<String>>,
    pub(crate) projects: Option<Vec<String>>,
    pub(crate) clusters: Option<Vec<String>>,
    /// Current mode: the (already rounded) inclusive window in seconds on `last_updated_at`.
    pub(crate) window: Option<(i64, i64)>,
    pub(crate) terminated: bool,
    /// Extra group columns (`groupname`, `resource_manager`).
    pub(crate) groupby: Vec<String>,
    /// Selected fields, `None` = all.
    pub(crate) fields: Option<Vec<String>>,
}

/// A value rounded to 15 significant digits (SQLite's `%!.15g` rendering of REAL results).
pub(crate) fn round15(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    format!("{v:.14e}").parse().unwrap_or(v)
}

/// The 900 s rounding of usage windows.
pub(crate) fn round_window(from: i64, to: i64) -> (i64, i64) {
    (from.div_euclid(900) * 900, (to + 899).div_euclid(900) * 900)
}

impl Model {
    fn usage_base<'a>(&'a self, q: &'a UsageQuery) -> impl Iterator<Item = &'a Unit> + 'a {
        self.units
            .iter()
            .filter(|u| within(&q.projects, &u.project) && within(&q.clusters, &u.cluster_id))
            .filter(|u| {
                q.window
                    .is_none_or(|(f, t)| u.last_updated_s >= f && u.last_updated_s <= t)
            })
            .filter(|u| !q.terminated || u.ended_at_ts > 0)
    }

    /// Usage rows in response order.
    pub(crate) fn usage(&self, q: &UsageQuery) -> Vec<J> {
        let sel = |f: &str| q.fields.as_ref().is_none_or(|s| s.iter().any(|x| x == f));
        let visible = self.projects_of(q.users.as_deref());
        // Current mode: key sets over every unit matching the filters and the window, whoever
        // it belongs to (no visibility), zero-filled in every row.
        let keysets: Vec<BTreeSet<String>> = METRICS
            .iter()
            .map(|m| {
                self.usage_base(q)
                    .filter_map(|u| u.map(m))
                    .flat_map(|mm| mm.keys().cloned())
                    .collect()
            })
            .collect();
        let mut groups: BTreeMap<Vec<String>, Vec<&Unit>> = BTreeMap::new();
        for u in self.usage_base(q).filter(|u| visible.contains(&u.project)) {
            let mut key = vec![u.cluster_id.clone(), u.username.clone(), u.project.clone()];
            for g in &q.groupby {
                key.push(match g.as_str() {
                    "groupname" => u.groupname.clone(),
                    "resource_manager" => u.resource_manager.clone(),
                    other => panic!("no groupby {other} in the model"),
                });
            }
            groups.entry(key).or_default().push(u);
        }
        let mut rows = Vec::new();
        for members in groups.values() {
            let first = members[0];
            let max = |f: fn(&Unit) -> &String| {
                members
                    .iter()
                    .map(|u| f(u))
                    .max()
                    .cloned()
                    .unwrap_or_default()
            };
            let mut o = ObjBuilder::new();
            let ident = |k: &str, v: String| J::Str(if sel(k) { v } else { String::new() });
            o.put("cluster_id", ident("cluster_id", first.cluster_id.clone()));
            o.put(
                "resource_manager",
                ident("resource_manager", max(|u| &u.resource_manager)),
            );
            o.put(
                "num_units",
                J::Int(if sel("num_units") {
                    members.len() as i64
                } else {
                    0
                }),
            );
            o.put("project", ident("project", first.project.clone()));
            o.put("groupname", ident("groupname", max(|u| &u.groupname)));
            o.put("username", ident("username", first.username.clone()));
            for (i, m) in METRICS.iter().enumerate() {
                if !sel(m) {
                    continue;
                }
                let keys: BTreeSet<String> = if q.window.is_some() {
                    keysets[i].clone()
                } else {
                    members
                        .iter()
                        .filter_map(|u| u.map(m))
                        .flat_map(|mm| mm.keys().cloned())
                        .collect()
                };
                if keys.is_empty() {
                    continue;
                }
                let mut obj = Vec::new();
                for k in keys {
                    let v = match weight_key(m) {
                        None => members.iter().filter_map(|u| u.value(m, &k)).sum(),
                        Some(w) => {
                            let (mut num, mut den) = (0.0, 0.0);
                            for u in members {
                                if let (Some(v), Some(wt)) =
                                    (u.value(m, &k), u.value("total_time_seconds", w))
                                {
                                    num += v * wt;
                                    den += wt;
                                }
                            }
                            if den == 0.0 { 0.0 } else { num / den }
                        }
                    };
                    // Current mode: SQLite's 15 significant digits before the 8-decimal rendering.
                    let v = if q.window.is_some() { round15(v) } else { v };
                    obj.push((k, J::Num(v)));
                }
                o.put(m, J::Obj(obj));
            }
            rows.push(o.done());
        }
        rows
    }
}

// ---------------------------------------------------------------------------------------------
// Projects, users, clusters, stats

impl Model {
    /// `/projects` (`users` = the logged user) and `/projects/admin` (`users` = `None`).
    pub(crate) fn projects_json(
        &self,
        users: Option<&[String]>,
        names: Option<Vec<String>>,
        clusters: Option<Vec<String>>,
    ) -> Vec<J> {
        let visible = self.projects_of(users);
        let mut rows: Vec<&Project> = self
            .projects
            .iter()
            .filter(|p| {
                visible.contains(&p.name)
                    && within(&names, &p.name)
                    && within(&clusters, &p.cluster_id)
            })
            .collect();
        rows.sort_by(|a, b| (&a.cluster_id, &a.name).cmp(&(&b.cluster_id, &b.name)));
        rows.into_iter()
            .map(|p| {
                let mut o = ObjBuilder::new();
                o.str_o("uid", &p.uid);
                o.put("cluster_id", J::Str(p.cluster_id.clone()));
                o.put("resource_manager", J::Str(p.resource_manager.clone()));
                o.put("name", J::Str(p.name.clone()));
                o.put(
                    "users",
                    match &p.users {
                        Some(u) => J::Arr(u.iter().map(|x| J::Str(x.clone())).collect()),
                        None => J::Null,
                    },
                );
                o.generic_o("tags", &p.tags);
                o.done()
            })
            .collect()
    }

    /// `/users` (`names` = the logged user) and `/users/admin`.
    pub(crate) fn users_json(
        &self,
        names: Option<Vec<String>>,
        clusters: Option<Vec<String>>,
    ) -> Vec<J> {
        let mut rows: Vec<&UserRow> = self
            .users
            .iter()
            .filter(|u| within(&names, &u.name) && within(&clusters, &u.cluster_id))
            .collect();
        rows.sort_by(|a, b| (&a.cluster_id, &a.name).cmp(&(&b.cluster_id, &b.name)));
        rows.into_iter()
            .map(|u| {
                let mut o = ObjBuilder::new();
                o.str_o("uid", &u.uid);
                o.put("cluster_id", J::Str(u.cluster_id.clone()));
                o.str_o("resource_manager", &u.resource_manager);
                o.put("name", J::Str(u.name.clone()));
                o.generic_o("projects", &u.projects);
                o.generic_o("tags", &u.tags);
                o.done()
            })
            .collect()
    }

    /// `/clusters/admin`.
    pub(crate) fn clusters_json(&self) -> Vec<J> {
        let pairs: BTreeSet<(&String, &String)> = self
            .units
            .iter()
            .map(|u| (&u.cluster_id, &u.resource_manager))
            .collect();
        pairs
            .into_iter()
            .map(|(c, m)| {
                J::Obj(vec![
                    ("id".into(), J::Str(c.clone())),
                    ("manager".into(), J::Str(m.clone())),
                ])
            })
            .collect()
    }

    /// `/stats/{global,current}/admin`: current mode keeps units that ended inside the inclusive
    /// window (seconds) and every running unit.
    pub(crate) fn stats_json(
        &self,
        window: Option<(i64, i64)>,
        clusters: Option<Vec<String>>,
    ) -> Vec<J> {
        let mut per: BTreeMap<&String, Vec<&Unit>> = BTreeMap::new();
        for u in &self.units {
            if !within(&clusters, &u.cluster_id) {
                continue;
            }
            if let Some((f, t)) = window {
                let ended_in =
                    u.ended_at_ts > 0 && u.ended_at_ts >= f * 1000 && u.ended_at_ts <= t * 1000;
                if !ended_in && u.ended_at_ts != 0 {
                    continue;
                }
            }
            per.entry(&u.cluster_id).or_default().push(u);
        }
        per.into_iter()
            .map(|(c, us)| {
                let projects: BTreeSet<&String> = us.iter().map(|u| &u.project).collect();
                let users: BTreeSet<&String> = us.iter().map(|u| &u.username).collect();
                let inactive = us.iter().filter(|u| u.ended_at_ts > 0).count() as i64;
                J::Obj(vec![
                    ("cluster_id".into(), J::Str(c.clone())),
                    (
                        "resource_manager".into(),
                        J::Str(us[0].resource_manager.clone()),
                    ),
                    ("num_units".into(), J::Int(us.len() as i64)),
                    ("num_inactive_units".into(), J::Int(inactive)),
                    (
                        "num_active_units".into(),
                        J::Int(us.len() as i64 - inactive),
                    ),
                    ("num_projects".into(), J::Int(projects.len() as i64)),
                    ("num_users".into(), J::Int(users.len() as i64)),
                ])
            })
            .collect()
    }

    /// `/units/verify` under DESIGN §1: pass iff every distinct uuid matches a unit of the
    /// clusters (narrowed by `times` ± 1 h on `started_at_ts`) and every matched unit is the
    /// user's own or in a project listing the user. (Admins pass before this.)
    pub(crate) fn verify(
        &self,
        user: &str,
        clusters: &[&str],
        uuids: &[&str],
        times_ms: &[i64],
    ) -> bool {
        if clusters.is_empty() {
            return false;
        }
        let member = self.projects_of(Some(&[user.to_string()]));
        let lo = times_ms.iter().min().map(|t| t - 3_600_000);
        let hi = times_ms.iter().max().map(|t| t + 3_600_000);
        let matched: Vec<&Unit> = self
            .units
            .iter()
            .filter(|u| {
                clusters.contains(&u.cluster_id.as_str()) && uuids.contains(&u.uuid.as_str())
            })
            .filter(|u| match (lo, hi) {
                (Some(lo), Some(hi)) => u.started_at_ts >= lo && u.started_at_ts <= hi,
                _ => true,
            })
            .collect();
        uuids.iter().all(|id| matched.iter().any(|u| u.uuid == *id))
            && matched
                .iter()
                .all(|u| u.username == user || member.contains(&u.project))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_go() {
        assert_eq!(metric_number(2962.0), "2962");
        assert_eq!(metric_number(-5.0), "-5");
        assert_eq!(metric_number(0.5), "0.50000000");
        assert_eq!(metric_number(1e-9), "0.00000000");
        assert_eq!(metric_number(21.221493941), "21.22149394");
        assert_eq!(metric_number(1e20), "100000000000000000000.00000000");
        assert_eq!(metric_number(f64::NAN), "0");
        let mut s = String::new();
        go_string("a<b>&\"c\"\u{2028}", &mut s);
        assert_eq!(s, r#""a\u003cb\u003e\u0026\"c\"\u2028""#);
        assert_eq!(
            round_window(1_700_000_123, 1_700_003_456),
            (1_700_000_100, 1_700_003_700)
        );
        assert_eq!(
            round_window(1_700_000_100, 1_700_000_100),
            (1_700_000_100, 1_700_000_100)
        );
    }

    /// The model reproduces the original's fixtures this database can show.
    #[test]
    fn model_reproduces_fixtures() {
        let m = Model::load(&ceems_lake_tests::reference_db());
        let q = UsageQuery {
            users: Some(strings(&["usr1"])),
            clusters: Some(strings(&["slurm-0"])),
            fields: Some(strings(&["username", "project", "num_units"])),
            ..Default::default()
        };
        assert_eq!(
            success(m.usage(&q)),
            concat!(
                r#"{"status":"success","data":[{"cluster_id":"","resource_manager":"","num_units":1,"project":"acc1","groupname":"","username":"usr1"},"#,
                r#"{"cluster_id":"","resource_manager":"","num_units":1,"project":"acc2","groupname":"","username":"usr1"},"#,
                r#"{"cluster_id":"","resource_manager":"","num_units":2,"project":"acc1","groupname":"","username":"usr15"},"#,
                r#"{"cluster_id":"","resource_manager":"","num_units":2,"project":"acc2","groupname":"","username":"usr2"},"#,
                r#"{"cluster_id":"","resource_manager":"","num_units":1,"project":"acc1","groupname":"","username":"usr8"}]}"#,
                "\n"
            )
        );
        let p = m.projects_json(Some(&strings(&["usr1"])), Some(strings(&["acc1"])), None);
        assert_eq!(
            J::Arr(p).render(),
            r#"[{"cluster_id":"slurm-0","resource_manager":"slurm","name":"acc1","users":["usr1","usr15","usr8"]},{"cluster_id":"slurm-1","resource_manager":"slurm","name":"acc1","users":["usr1","usr15","usr8"]}]"#
        );
        assert!(m.verify("usr1", &["slurm-0"], &["1479763", "1479765"], &[]));
        assert!(!m.verify("usr2", &["slurm-1"], &["1479763", "11508"], &[]));
        // DESIGN §1: no dilution (the original: 11.07380688).
        let q = UsageQuery {
            users: Some(strings(&["usr3"])),
            clusters: Some(strings(&["slurm-0"])),
            fields: Some(strings(&["avg_cpu_usage"])),
            window: Some((0, 2_000_000_000)),
            ..Default::default()
        };
        assert!(
            J::Arr(m.usage(&q))
                .render()
                .contains(r#""avg_cpu_usage":{"total":14.79000000}"#)
        );
    }
}
