//! The independent side of the store tests: reading original CEEMS SQLite files with rusqlite,
//! parsing their metric maps with a small parser of our own, and aggregating with plain loops.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

/// The 13 metric-map columns of `units`, in the original's order.
pub(crate) const METRIC_MAPS: [&str; 13] = [
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

/// Index of a metric map in [`METRIC_MAPS`].
pub(crate) fn map_index(name: &str) -> usize {
    METRIC_MAPS
        .iter()
        .position(|m| *m == name)
        .unwrap_or_else(|| panic!("unknown metric map {name}"))
}

/// A metric map as the tests see it: key → value, sorted.
pub(crate) type MetricMap = BTreeMap<String, f64>;

/// Parses the text of a metric-map column the way the original's functions read it: a flat
/// JSON object of numbers; the spellings NaN/Inf/Infinity (quoted or not, any sign and case)
/// and JSON `null` values count as 0 (the key is present); SQL NULL, empty text, the literal
/// `null` and `{}` are empty maps. Anything else is an error (the row is rejected).
pub(crate) fn parse_metric(text: Option<&str>) -> Result<MetricMap, String> {
    let mut out = MetricMap::new();
    let Some(t) = text else { return Ok(out) };
    let t = t.trim();
    if t.is_empty() || t == "null" {
        return Ok(out);
    }
    let mut rest = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| format!("not a JSON object: {t:?}"))?
        .trim();
    while !rest.is_empty() {
        let r = rest
            .strip_prefix('"')
            .ok_or_else(|| format!("expected a quoted key in {t:?}"))?;
        let end = r
            .find('"')
            .ok_or_else(|| format!("unterminated key in {t:?}"))?;
        let key = &r[..end];
        let r = r[end + 1..]
            .trim_start()
            .strip_prefix(':')
            .ok_or_else(|| format!("expected ':' in {t:?}"))?
            .trim_start();
        let (raw, quoted, r) = match r.strip_prefix('"') {
            Some(q) => {
                let e = q
                    .find('"')
                    .ok_or_else(|| format!("unterminated string in {t:?}"))?;
                (&q[..e], true, &q[e + 1..])
            }
            None => {
                let e = r.find(',').unwrap_or(r.len());
                (r[..e].trim(), false, &r[e..])
            }
        };
        out.insert(key.to_string(), metric_value(raw, quoted)?);
        rest = r.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return Err(format!("trailing comma in {t:?}"));
            }
        } else if !rest.is_empty() {
            return Err(format!("expected ',' in {t:?}"));
        }
    }
    Ok(out)
}

fn metric_value(raw: &str, quoted: bool) -> Result<f64, String> {
    let unsigned = raw.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if matches!(unsigned.as_str(), "nan" | "inf" | "infinity") {
        return Ok(0.0);
    }
    if quoted {
        return Err(format!("string value {raw:?}"));
    }
    if raw == "null" {
        return Ok(0.0);
    }
    let v: f64 = raw.parse().map_err(|_| format!("not a number: {raw:?}"))?;
    Ok(if v.is_finite() { v } else { 0.0 })
}

/// One row of an original `units` table.
#[derive(Debug, Clone)]
pub(crate) struct SqliteUnit {
    pub id: i64,
    pub cluster_id: String,
    pub uuid: String,
    pub username: String,
    pub project: String,
    pub started_at_ts: i64,
    pub num_updates: i64,
    pub last_updated_at: String,
    /// The 13 metric maps as stored (SQL NULL → `None`).
    pub maps: Vec<Option<String>>,
    /// Why a non-metric column makes the row unimportable, if it does.
    pub problem: Option<&'static str>,
}

impl SqliteUnit {
    /// The unit key of the store.
    pub(crate) fn key(&self) -> (String, String, i64) {
        (
            self.cluster_id.clone(),
            self.uuid.clone(),
            self.started_at_ts,
        )
    }

    /// A metric map parsed (panics on malformed text: only call it on importable rows).
    pub(crate) fn map(&self, name: &str) -> MetricMap {
        let i = map_index(name);
        parse_metric(self.maps[i].as_deref())
            .unwrap_or_else(|e| panic!("unit id {}: {name}: {e}", self.id))
    }

    /// Whether the row is importable: every metric map parses and [`row_problem`] finds
    /// nothing.
    pub(crate) fn is_valid(&self) -> bool {
        self.problem.is_none() && self.maps.iter().all(|m| parse_metric(m.as_deref()).is_ok())
    }
}

/// What makes a row unimportable apart from its metric maps: a `*_ts` outside
/// [0, 9999-12-31T23:59:59.999Z] ms (NULL reads as 0, unset), a `last_updated_at` that is not a
/// `YYYY-MM-DDTHH:MM:SS` time (the usage window needs it), `allocation`/`tags` that are not JSON.
pub(crate) fn row_problem(
    ts: [Option<i64>; 3],
    last_updated_at: Option<&str>,
    json: [Option<String>; 2],
) -> Option<&'static str> {
    if ts
        .iter()
        .any(|t| !(0..=253_402_300_799_999).contains(&t.unwrap_or(0)))
    {
        return Some("timestamp out of range");
    }
    let lu = last_updated_at.unwrap_or("").trim();
    let head = lu.get(..19).unwrap_or("");
    if chrono::NaiveDateTime::parse_from_str(head, "%Y-%m-%dT%H:%M:%S").is_err() {
        return Some("last_updated_at is not a time");
    }
    for text in json.iter().flatten() {
        if !text.trim().is_empty() && serde_json::from_str::<serde_json::Value>(text).is_err() {
            return Some("not JSON");
        }
    }
    None
}

/// Opens an SQLite file read-only.
pub(crate) fn open_ro(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// Opens an SQLite file for writing (a test's own copy).
pub(crate) fn open_rw(path: &Path) -> Connection {
    Connection::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// All rows of `units`, in `id` order.
pub(crate) fn read_units(path: &Path) -> Vec<SqliteUnit> {
    let conn = open_ro(path);
    let sql = format!(
        "SELECT id, cluster_id, uuid, username, project, started_at_ts, NULL, num_updates, \
         last_updated_at, {}, created_at_ts, ended_at_ts, allocation, tags FROM units ORDER BY id",
        METRIC_MAPS.join(", ")
    );
    let mut stmt = conn.prepare(&sql).expect("prepare units query");
    stmt.query_map([], |r| {
        let mut maps = Vec::with_capacity(METRIC_MAPS.len());
        for i in 0..METRIC_MAPS.len() {
            maps.push(r.get::<_, Option<String>>(9 + i)?);
        }
        Ok(SqliteUnit {
            id: r.get(0)?,
            cluster_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            uuid: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            username: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            project: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
            started_at_ts: r.get::<_, Option<i64>>(5)?.unwrap_or_default(),
            num_updates: r.get::<_, Option<i64>>(7)?.unwrap_or_default(),
            last_updated_at: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
            problem: row_problem(
                [
                    r.get::<_, Option<i64>>(9 + METRIC_MAPS.len())?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<i64>>(10 + METRIC_MAPS.len())?,
                ],
                r.get::<_, Option<String>>(8)?.as_deref(),
                [
                    r.get::<_, Option<String>>(11 + METRIC_MAPS.len())?,
                    r.get::<_, Option<String>>(12 + METRIC_MAPS.len())?,
                ],
            ),
            maps,
        })
    })
    .expect("query units")
    .collect::<Result<Vec<_>, _>>()
    .expect("read units")
}

/// `SELECT count(*) FROM <table>`.
pub(crate) fn count_rows(path: &Path, table: &str) -> u64 {
    let conn = open_ro(path);
    conn.query_row(&format!("SELECT count(*) FROM \"{table}\""), [], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap_or_else(|e| panic!("count {table}: {e}")) as u64
}

/// Units per cluster.
pub(crate) fn counts_per_cluster(units: &[SqliteUnit]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for u in units {
        *out.entry(u.cluster_id.clone()).or_insert(0) += 1;
    }
    out
}

/// One aggregate column of the comparison query.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Agg {
    /// `sum_metric_map(<map>)` (or its alias when the flag is set).
    Sum(&'static str, bool),
    /// `avg_metric_map(<map>, total_time_seconds['<weight key>'])` (alias when the flag is set).
    Avg(&'static str, &'static str, bool),
}

impl Agg {
    fn sql(&self) -> String {
        match *self {
            Agg::Sum(m, alias) => {
                let f = if alias {
                    "sum_metric_map_agg"
                } else {
                    "sum_metric_map"
                };
                format!("{f}({m})")
            }
            Agg::Avg(m, w, alias) => {
                let f = if alias {
                    "avg_metric_map_agg"
                } else {
                    "avg_metric_map"
                };
                format!("{f}({m}, total_time_seconds['{w}'])")
            }
        }
    }
}

/// Every map once: the four averages weighted by their original weight keys (one by
/// walltime instead), the nine totals summed; some through the aliases.
pub(crate) const ALL_AGGS: [Agg; 13] = [
    Agg::Sum("total_time_seconds", false),
    Agg::Avg("avg_cpu_usage", "alloc_cputime", false),
    Agg::Avg("avg_cpu_mem_usage", "walltime", true),
    Agg::Sum("total_cpu_energy_usage_kwh", false),
    Agg::Sum("total_cpu_emissions_gms", true),
    Agg::Avg("avg_gpu_usage", "alloc_gputime", false),
    Agg::Avg("avg_gpu_mem_usage", "alloc_gpumemtime", false),
    Agg::Sum("total_gpu_energy_usage_kwh", false),
    Agg::Sum("total_gpu_emissions_gms", false),
    Agg::Sum("total_io_write_stats", false),
    Agg::Sum("total_io_read_stats", true),
    Agg::Sum("total_ingress_stats", false),
    Agg::Sum("total_outgress_stats", false),
];

/// The query: `cluster_id, username, project` (grouped, ordered) and then `a0, a1, …`. With
/// `grouped = false`, one row over the whole table and no key columns.
pub(crate) fn aggregate_query(aggs: &[Agg], grouped: bool) -> String {
    let cols = aggs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{} AS a{i}", a.sql()))
        .collect::<Vec<_>>()
        .join(", ");
    if grouped {
        format!(
            "SELECT cluster_id, username, project, {cols} FROM units \
             GROUP BY cluster_id, username, project ORDER BY cluster_id, username, project"
        )
    } else {
        format!("SELECT {cols} FROM units")
    }
}

/// Group key of the comparison query.
pub(crate) type GroupKey = (String, String, String);

/// Per-key sum accumulator and weighted-average accumulator of one group.
#[derive(Default, Clone)]
struct Acc {
    sums: MetricMap,
    /// key → (Σ v·w, Σ w)
    weighted: BTreeMap<String, (f64, f64)>,
}

/// Computes every aggregate with plain loops over the rows. Sums: per key, over the rows
/// carrying it. Weighted averages: a row takes part when its weight (the key of its
/// `total_time_seconds`) exists; per key, Σ(v·w)/Σ(w) over the taking-part rows carrying the
/// key, 0 when Σw = 0. Non-finite values count as 0 (done by [`parse_metric`]).
pub(crate) fn reference_aggregates<'a>(
    units: impl IntoIterator<Item = &'a SqliteUnit>,
    aggs: &[Agg],
    grouped: bool,
) -> BTreeMap<GroupKey, Vec<MetricMap>> {
    let mut groups: BTreeMap<GroupKey, Vec<Acc>> = BTreeMap::new();
    for u in units {
        let key = if grouped {
            (u.cluster_id.clone(), u.username.clone(), u.project.clone())
        } else {
            Default::default()
        };
        let accs = groups
            .entry(key)
            .or_insert_with(|| vec![Acc::default(); aggs.len()]);
        let tts = u.map("total_time_seconds");
        for (acc, agg) in accs.iter_mut().zip(aggs) {
            match *agg {
                Agg::Sum(m, _) => {
                    for (k, v) in u.map(m) {
                        *acc.sums.entry(k).or_insert(0.0) += v;
                    }
                }
                Agg::Avg(m, w, _) => {
                    let Some(&weight) = tts.get(w) else { continue };
                    for (k, v) in u.map(m) {
                        let e = acc.weighted.entry(k).or_insert((0.0, 0.0));
                        e.0 += v * weight;
                        e.1 += weight;
                    }
                }
            }
        }
    }
    if !grouped && groups.is_empty() {
        groups.insert(Default::default(), vec![Acc::default(); aggs.len()]);
    }
    groups
        .into_iter()
        .map(|(k, accs)| {
            let maps = accs
                .into_iter()
                .zip(aggs)
                .map(|(acc, agg)| match agg {
                    Agg::Sum(..) => acc.sums,
                    Agg::Avg(..) => acc
                        .weighted
                        .into_iter()
                        .map(|(k, (num, den))| (k, if den == 0.0 { 0.0 } else { num / den }))
                        .collect(),
                })
                .collect();
            (k, maps)
        })
        .collect()
}

/// Relative closeness with tolerance 1e-9 (absolute near 0).
pub(crate) fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12)
}

/// A metric map as returned in JSON output (an object of numbers).
pub(crate) fn json_map(v: &Value, ctx: &str) -> MetricMap {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{ctx}: expected a JSON object (map), got {v}"));
    obj.iter()
        .map(|(k, x)| {
            let f = x
                .as_f64()
                .unwrap_or_else(|| panic!("{ctx}: value of {k:?} is not a number: {x}"));
            (k.clone(), f)
        })
        .collect()
}

/// Asserts two metric maps have the same keys and values within the tolerance.
pub(crate) fn assert_maps_close(actual: &MetricMap, expected: &MetricMap, ctx: &str) {
    let ak: BTreeSet<_> = actual.keys().collect();
    let ek: BTreeSet<_> = expected.keys().collect();
    assert_eq!(
        ak, ek,
        "{ctx}: keys differ (actual {actual:?}, expected {expected:?})"
    );
    for (k, e) in expected {
        let a = actual[k];
        assert!(
            close(a, *e),
            "{ctx}: key {k:?}: got {a:e}, expected {e:e} (actual {actual:?}, expected {expected:?})"
        );
    }
}

/// A string field of a JSON row.
pub(crate) fn json_str(row: &Value, field: &str) -> String {
    match &row[field] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An integer field of a JSON row (numbers or numeric strings).
pub(crate) fn json_i64(row: &Value, field: &str) -> i64 {
    match &row[field] {
        Value::Number(n) => n
            .as_i64()
            .unwrap_or_else(|| panic!("{field} is not an integer: {n}")),
        Value::String(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{field} is not an integer: {s:?}")),
        other => panic!("{field} is not an integer: {other} in {row}"),
    }
}

/// Runs the comparison query against the store and checks every group, key and value against
/// the reference computed from `units`.
pub(crate) fn check_aggregates<'a>(
    data: &Path,
    units: impl IntoIterator<Item = &'a SqliteUnit> + Clone,
    aggs: &[Agg],
) {
    let expected = reference_aggregates(units.clone(), aggs, true);
    let rows = ceems_lake_tests::sql_ndjson(data, &aggregate_query(aggs, true));
    let mut seen = BTreeSet::new();
    for row in &rows {
        let key = (
            json_str(row, "cluster_id"),
            json_str(row, "username"),
            json_str(row, "project"),
        );
        let exp = expected
            .get(&key)
            .unwrap_or_else(|| panic!("group {key:?} is not in the SQLite data: {row}"));
        assert!(seen.insert(key.clone()), "group {key:?} returned twice");
        for (i, (agg, e)) in aggs.iter().zip(exp).enumerate() {
            let a = json_map(&row[format!("a{i}")], &format!("{key:?} {agg:?}"));
            assert_maps_close(&a, e, &format!("group {key:?}, {agg:?}"));
        }
    }
    let missing: Vec<_> = expected.keys().filter(|k| !seen.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "groups missing from the output: {missing:?}"
    );

    // The same aggregates over the whole table (no GROUP BY: the plain accumulator path).
    let total = reference_aggregates(units, aggs, false);
    let rows = ceems_lake_tests::sql_ndjson(data, &aggregate_query(aggs, false));
    assert_eq!(rows.len(), 1, "ungrouped aggregate returned {rows:?}");
    let exp = total.values().next().expect("one group");
    for (i, (agg, e)) in aggs.iter().zip(exp).enumerate() {
        let a = json_map(&rows[0][format!("a{i}")], &format!("whole table {agg:?}"));
        assert_maps_close(&a, e, &format!("whole table, {agg:?}"));
    }
}

/// `select cluster_id, count(*) … group by 1` from the store.
pub(crate) fn store_counts_per_cluster(data: &Path) -> BTreeMap<String, u64> {
    ceems_lake_tests::sql_csv(
        data,
        "select cluster_id, count(*) from units group by 1 order by 1",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].parse().expect("count")))
    .collect()
}

/// `select count(*) from <table>` from the store.
pub(crate) fn store_count(data: &Path, table: &str) -> u64 {
    let rows = ceems_lake_tests::sql_csv(data, &format!("select count(*) from {table}"));
    rows[0][0].parse().expect("count")
}

/// Copies an SQLite file (tests modify their own copies).
pub(crate) fn copy_db(src: &Path, dst: &Path) {
    std::fs::copy(src, dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_metric_text_like_the_original() {
        let m = parse_metric(Some(
            r#"{"a":1,"b":"NaN","c":-Infinity,"d":null,"e":2.5e1}"#,
        ))
        .unwrap();
        assert_eq!(m.len(), 5);
        assert_eq!(
            (m["a"], m["b"], m["c"], m["d"], m["e"]),
            (1.0, 0.0, 0.0, 0.0, 25.0)
        );
        assert!(parse_metric(None).unwrap().is_empty());
        assert!(parse_metric(Some("null")).unwrap().is_empty());
        assert!(parse_metric(Some("{}")).unwrap().is_empty());
        assert!(parse_metric(Some(r#"{"walltime": tru"#)).is_err());
        assert!(parse_metric(Some(r#"{"a":"x"}"#)).is_err());
        assert!(parse_metric(Some("[1]")).is_err());
    }
}
