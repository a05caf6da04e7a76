//! Plans behind the CEEMS API endpoints.
//!
//! Every endpoint takes a typed spec and builds a DataFusion plan with the DataFrame API: user
//! input only ever becomes literals, never SQL text. Plans read the stored `units` table (flat
//! metric columns), so aggregates are plain `SUM`s over primitive columns; keys that live in a
//! map's overflow column go through the metric-map aggregate functions.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::{count, count_distinct, max, sum};
use datafusion::logical_expr::{Expr, SortExpr, col, lit, when};
use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::schema::{self, KeyRegistry, METRIC_MAPS};
use crate::session::{UNITS_STORED_TABLE, collect_counted};

/// An inclusive window of Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from_ms: i64,
    pub to_ms: i64,
}

fn ts(ms: i64) -> Expr {
    lit(ScalarValue::TimestampMillisecond(
        Some(ms),
        Some("UTC".into()),
    ))
}

fn in_strings(column: &str, values: &[String]) -> Expr {
    col(column).in_list(values.iter().map(|v| lit(v.as_str())).collect(), false)
}

fn and_all(filters: Vec<Expr>) -> Option<Expr> {
    filters.into_iter().reduce(|a, b| a.and(b))
}

fn with_filters(df: DataFrame, filters: Vec<Expr>) -> Result<DataFrame> {
    Ok(match and_all(filters) {
        Some(f) => df.filter(f)?,
        None => df,
    })
}

/// The JSON field names of the Unit model, in output order.
pub const UNIT_FIELDS: [&str; 30] = [
    "cluster_id",
    "resource_manager",
    "uuid",
    "name",
    "project",
    "groupname",
    "username",
    "created_at",
    "started_at",
    "ended_at",
    "created_at_ts",
    "started_at_ts",
    "ended_at_ts",
    "elapsed",
    "state",
    "allocation",
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
    "tags",
];

/// The JSON field names of the Usage model, in output order.
pub const USAGE_FIELDS: [&str; 19] = [
    "cluster_id",
    "resource_manager",
    "num_units",
    "project",
    "groupname",
    "username",
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

/// `/units` and `/units/admin`.
#[derive(Debug, Clone, Default)]
pub struct UnitsSpec {
    /// `/units`: only this user's units.
    pub own_user: Option<String>,
    /// `/units/admin?user=…`.
    pub users: Option<Vec<String>>,
    pub clusters: Option<Vec<String>>,
    pub projects: Option<Vec<String>>,
    pub uuids: Option<Vec<String>>,
    /// Window on `ended_at_ts`; `None` when uuids are given.
    pub window: Option<Window>,
    /// Also units that have not ended.
    pub running: bool,
    /// Selected fields (names of [`UNIT_FIELDS`]), all when `None`.
    pub fields: Option<BTreeSet<&'static str>>,
}

/// Stored columns needed to render `fields`.
fn unit_columns(registry: &KeyRegistry, fields: &Option<BTreeSet<&'static str>>) -> Vec<String> {
    let mut cols = Vec::new();
    for f in UNIT_FIELDS {
        if fields.as_ref().is_some_and(|sel| !sel.contains(f)) {
            continue;
        }
        match schema::metric_map_index(f) {
            Some(i) => {
                for k in registry.keys_of(i) {
                    cols.push(schema::flat_column_name(f, k));
                }
                cols.push(schema::overflow_column_name(f));
            }
            None => cols.push(f.to_string()),
        }
    }
    cols
}

/// The units a `/units` request lists, ordered by cluster and uuid (as text).
pub async fn units(
    ctx: &SessionContext,
    registry: &KeyRegistry,
    spec: &UnitsSpec,
) -> Result<Vec<RecordBatch>> {
    collect_counted(units_frame(ctx, registry, spec).await?).await
}

/// The plan of [`units`], for callers that stream its batches (`execute_stream`).
pub async fn units_frame(
    ctx: &SessionContext,
    registry: &KeyRegistry,
    spec: &UnitsSpec,
) -> Result<DataFrame> {
    let df = ctx.table(UNITS_STORED_TABLE).await?;
    let mut f = vec![col("ignore").eq(lit(false))];
    if let Some(u) = &spec.own_user {
        f.push(col("username").eq(lit(u.as_str())));
    }
    if let Some(v) = &spec.users {
        f.push(in_strings("username", v));
    }
    if let Some(v) = &spec.projects {
        f.push(in_strings("project", v));
    }
    if let Some(v) = &spec.clusters {
        f.push(in_strings("cluster_id", v));
    }
    if let Some(v) = &spec.uuids {
        f.push(in_strings("uuid", v));
    }
    if let Some(w) = spec.window {
        let ended = col("ended_at_ts").between(ts(w.from_ms), ts(w.to_ms));
        f.push(if spec.running {
            ended.or(col("ended_at_ts").is_null())
        } else {
            ended
        });
    }
    let df = with_filters(df, f)?;
    let mut cols = unit_columns(registry, &spec.fields);
    // Ordering columns must be selected to sort after projection.
    for c in ["cluster_id", "uuid"] {
        if !cols.iter().any(|x| x == c) {
            cols.push(c.to_string());
        }
    }
    Ok(df
        .select(cols.iter().map(|c| col(c.as_str())).collect::<Vec<_>>())?
        .sort(vec![
            col("cluster_id").sort(true, false),
            col("uuid").sort(true, false),
        ])?)
}

/// Project names whose member list contains one of `users` (any cluster); with `None`, names of
/// projects with at least one member or a null member list (the original's `json_each`).
pub async fn projects_of(
    ctx: &SessionContext,
    users: Option<&[String]>,
) -> Result<BTreeSet<String>> {
    let batches = collect_counted(
        ctx.table("projects")
            .await?
            .select_columns(&["name", "users"])?,
    )
    .await?;
    let mut out = BTreeSet::new();
    for b in &batches {
        let names = arrow::compute::cast(b.column(0), &DataType::Utf8)?;
        let names = names.as_string::<i32>();
        let lists = b.column(1).as_list::<i32>();
        for i in 0..b.num_rows() {
            let keep = if lists.is_null(i) {
                users.is_none()
            } else {
                let members = arrow::compute::cast(&lists.value(i), &DataType::Utf8)?;
                let members = members.as_string::<i32>();
                match users {
                    None => !members.is_empty(),
                    Some(us) => (0..members.len())
                        .any(|j| members.is_valid(j) && us.iter().any(|u| u == members.value(j))),
                }
            };
            if keep {
                out.insert(names.value(i).to_string());
            }
        }
    }
    Ok(out)
}

/// `/units/verify`: whether every distinct uuid matches a unit in `clusters` (narrowed by
/// `times` ± 1 h on `started_at_ts` when given) and every matched unit belongs to `user` or to a
/// project listing `user`.
pub async fn verify(
    ctx: &SessionContext,
    user: &str,
    clusters: &[String],
    uuids: &[String],
    times_ms: &[i64],
) -> Result<bool> {
    let mut f = vec![
        in_strings("cluster_id", clusters),
        in_strings("uuid", uuids),
    ];
    if let (Some(lo), Some(hi)) = (times_ms.iter().min(), times_ms.iter().max()) {
        f.push(col("started_at_ts").between(
            ts(lo.saturating_sub(3_600_000)),
            ts(hi.saturating_add(3_600_000)),
        ));
    }
    let df = with_filters(ctx.table(UNITS_STORED_TABLE).await?, f)?
        .select_columns(&["uuid", "username", "project"])?;
    let batches = collect_counted(df).await?;
    let member_of = projects_of(ctx, Some(&[user.to_string()])).await?;
    let mut matched: BTreeSet<String> = BTreeSet::new();
    for b in &batches {
        let cast = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8);
        let (u, n, p) = (cast(0)?, cast(1)?, cast(2)?);
        let (u, n, p) = (
            u.as_string::<i32>(),
            n.as_string::<i32>(),
            p.as_string::<i32>(),
        );
        for i in 0..b.num_rows() {
            let own = n.is_valid(i) && n.value(i) == user;
            let shared = p.is_valid(i) && member_of.contains(p.value(i));
            if !own && !shared {
                return Ok(false);
            }
            matched.insert(u.value(i).to_string());
        }
    }
    let wanted: BTreeSet<&String> = uuids.iter().collect();
    Ok(wanted.iter().all(|u| matched.contains(u.as_str())))
}

/// `/users`, `/users/admin`.
pub async fn users(
    ctx: &SessionContext,
    names: Option<&[String]>,
    clusters: Option<&[String]>,
) -> Result<Vec<RecordBatch>> {
    let mut f = vec![col("name").is_not_null()];
    if let Some(n) = names {
        f.push(in_strings("name", n));
    }
    if let Some(c) = clusters {
        f.push(in_strings("cluster_id", c));
    }
    let df = with_filters(ctx.table("users").await?, f)?.sort(vec![
        col("cluster_id").sort(true, false),
        col("name").sort(true, false),
    ])?;
    collect_counted(df).await
}

/// `admin_users` rows in stored order.
pub async fn admin_users(ctx: &SessionContext) -> Result<Vec<RecordBatch>> {
    collect_counted(ctx.table("admin_users").await?).await
}

/// `/projects`, `/projects/admin`: projects named in `visible`, optionally filtered.
pub async fn projects(
    ctx: &SessionContext,
    visible: &BTreeSet<String>,
    names: Option<&[String]>,
    clusters: Option<&[String]>,
) -> Result<Vec<RecordBatch>> {
    let visible: Vec<String> = visible.iter().cloned().collect();
    let mut f = vec![in_strings("name", &visible)];
    if let Some(n) = names {
        f.push(in_strings("name", n));
    }
    if let Some(c) = clusters {
        f.push(in_strings("cluster_id", c));
    }
    let df = with_filters(ctx.table("projects").await?, f)?.sort(vec![
        col("cluster_id").sort(true, false),
        col("name").sort(true, false),
    ])?;
    collect_counted(df).await
}

/// `/clusters/admin`: distinct (cluster, resource manager) pairs of all units.
pub async fn clusters(ctx: &SessionContext) -> Result<Vec<RecordBatch>> {
    let df = ctx
        .table(UNITS_STORED_TABLE)
        .await?
        .aggregate(vec![col("cluster_id"), col("resource_manager")], vec![])?
        .sort(vec![
            col("cluster_id").sort(true, false),
            col("resource_manager").sort(true, false),
        ])?;
    collect_counted(df).await
}

/// `/stats/{current,global}/admin`: per-cluster counters; `window` (current mode) keeps units
/// that ended in it and all running units.
pub async fn stats(
    ctx: &SessionContext,
    window: Option<Window>,
    clusters: Option<&[String]>,
) -> Result<Vec<RecordBatch>> {
    let mut f = Vec::new();
    if let Some(w) = window {
        f.push(
            col("ended_at_ts")
                .between(ts(w.from_ms), ts(w.to_ms))
                .or(col("ended_at_ts").is_null()),
        );
    }
    if let Some(c) = clusters {
        f.push(in_strings("cluster_id", c));
    }
    let df = with_filters(ctx.table(UNITS_STORED_TABLE).await?, f)?
        .aggregate(
            vec![col("cluster_id")],
            vec![
                max(col("resource_manager")).alias("resource_manager"),
                count(lit(1)).alias("num_units"),
                count(col("ended_at_ts")).alias("num_inactive_units"),
                count_distinct(col("project")).alias("num_projects"),
                count_distinct(col("username")).alias("num_users"),
            ],
        )?
        .sort(vec![col("cluster_id").sort(true, false)])?;
    collect_counted(df).await
}

/// Extra grouping columns accepted by `groupby` (besides the always-grouped cluster, user and
/// project).
pub const GROUPBY_ALLOWED: [&str; 2] = ["groupname", "resource_manager"];

/// `/usage/{current,global}`.
#[derive(Debug, Clone, Default)]
pub struct UsageSpec {
    /// Rows of projects named here only (visibility, already resolved).
    pub visible_projects: BTreeSet<String>,
    pub projects: Option<Vec<String>>,
    pub clusters: Option<Vec<String>>,
    /// Current mode: window on `last_updated_at_ts`; `None` = global mode.
    pub window: Option<Window>,
    /// Only units that ended (`__terminated`).
    pub terminated: bool,
    /// Extra group keys from [`GROUPBY_ALLOWED`].
    pub groupby: BTreeSet<&'static str>,
    /// Selected fields (names of [`USAGE_FIELDS`]), all when `None`.
    pub fields: Option<BTreeSet<&'static str>>,
}

/// One aggregated metric value column of a usage result.
#[derive(Debug, Clone, PartialEq)]
pub enum UsageValue {
    /// `SUM(<map>__<key>)` in column `column`.
    Sum { key: String, column: String },
    /// Weighted average: numerator and denominator columns.
    Avg {
        key: String,
        num: String,
        den: String,
    },
    /// Result column of a metric-map aggregate over the overflow column (a map of key → value).
    OverflowSum { column: String },
    /// Result column of the weighted metric-map average over the overflow column.
    OverflowAvg { column: String },
}

/// How to render a usage result: for each requested metric map, its value columns, and whether
/// keys missing from a row are zero-filled (current mode) or omitted (global mode).
#[derive(Debug, Clone, Default)]
pub struct UsageLayout {
    pub maps: BTreeMap<usize, Vec<UsageValue>>,
    /// Keys every row shows per map (current mode's zero-filled key sets).
    pub zero_fill: BTreeMap<usize, BTreeSet<String>>,
}

fn selected(fields: &Option<BTreeSet<&'static str>>, name: &str) -> bool {
    fields.as_ref().map(|s| s.contains(name)).unwrap_or(true)
}

fn usage_filters(spec: &UsageSpec, with_visibility: bool) -> Vec<Expr> {
    let mut f = Vec::new();
    if with_visibility {
        let v: Vec<String> = spec.visible_projects.iter().cloned().collect();
        f.push(in_strings("project", &v));
    }
    if let Some(p) = &spec.projects {
        f.push(in_strings("project", p));
    }
    if let Some(c) = &spec.clusters {
        f.push(in_strings("cluster_id", c));
    }
    if let Some(w) = spec.window {
        f.push(col("last_updated_at_ts").between(ts(w.from_ms), ts(w.to_ms)));
    }
    if spec.terminated {
        f.push(col("ended_at_ts").is_not_null());
    }
    f
}

/// Usage rows and how to render them.
///
/// Current mode shows, in every row, the keys each map has over the window for the requested
/// clusters and projects, whoever the units belong to. Both the key sets and the rows come from
/// one scan: units are grouped without the visibility filter, with a presence count per flat key
/// column and the key-wise sum of each overflow map, and the visibility filter is applied to the
/// grouped rows.
pub async fn usage(
    ctx: &SessionContext,
    registry: &KeyRegistry,
    spec: &UsageSpec,
) -> Result<(Vec<RecordBatch>, UsageLayout)> {
    usage_rows(ctx, registry, spec, true).await
}

/// Global usage of every (cluster, user, project), all metric maps, no filter: the whole
/// all-time answer, small (one row per group) and the same for every caller of one store
/// version, so a server computes it once per version and narrows it per request with
/// [`narrow_usage_rows`].
pub async fn usage_global_all(
    ctx: &SessionContext,
    registry: &KeyRegistry,
) -> Result<(Vec<RecordBatch>, UsageLayout)> {
    let spec = UsageSpec {
        visible_projects: BTreeSet::new(),
        projects: None,
        clusters: None,
        window: None,
        terminated: false,
        groupby: BTreeSet::new(),
        fields: None,
    };
    usage_rows(ctx, registry, &spec, false).await
}

/// Keeps the grouped usage rows of `spec`'s visible projects, and of its `projects` and
/// `clusters` filters when given (a null project or cluster never matches). Order is kept.
pub fn narrow_usage_rows(batches: &[RecordBatch], spec: &UsageSpec) -> Result<Vec<RecordBatch>> {
    let as_text = |b: &RecordBatch, name: &str| -> Result<Option<ArrayRef>> {
        Ok(match b.column_by_name(name) {
            Some(c) => Some(arrow::compute::cast(c, &DataType::Utf8)?),
            None => None,
        })
    };
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let (Some(projects), clusters) = (as_text(b, "project")?, as_text(b, "cluster_id")?) else {
            continue;
        };
        let projects = projects.as_string::<i32>();
        let clusters = clusters.as_ref().map(|c| c.as_string::<i32>());
        let listed = |list: &Option<Vec<String>>, v: Option<&str>| match list {
            None => true,
            Some(l) => v.is_some_and(|v| l.iter().any(|x| x == v)),
        };
        let keep: BooleanArray = (0..b.num_rows())
            .map(|i| {
                let p = projects.is_valid(i).then(|| projects.value(i));
                let c = clusters.and_then(|c| c.is_valid(i).then(|| c.value(i)));
                Some(
                    p.is_some_and(|p| spec.visible_projects.contains(p))
                        && listed(&spec.projects, p)
                        && listed(&spec.clusters, c),
                )
            })
            .collect();
        let kept = arrow::compute::filter_record_batch(b, &keep)?;
        if kept.num_rows() > 0 {
            out.push(kept);
        }
    }
    Ok(out)
}

async fn usage_rows(
    ctx: &SessionContext,
    registry: &KeyRegistry,
    spec: &UsageSpec,
    visibility: bool,
) -> Result<(Vec<RecordBatch>, UsageLayout)> {
    let mut layout = UsageLayout::default();
    let maps: Vec<usize> = (0..METRIC_MAPS.len())
        .filter(|i| selected(&spec.fields, METRIC_MAPS[*i]))
        .collect();

    let discover = spec.window.is_some() && !maps.is_empty();

    let mut group = vec![col("cluster_id"), col("username"), col("project")];
    for g in &spec.groupby {
        group.push(col(*g));
    }
    let mut aggs: Vec<Expr> = Vec::new();
    if !spec.groupby.contains("resource_manager") {
        aggs.push(max(col("resource_manager")).alias("resource_manager"));
    }
    if !spec.groupby.contains("groupname") {
        aggs.push(max(col("groupname")).alias("groupname"));
    }
    aggs.push(count(lit(1)).alias("num_units"));
    for &m in &maps {
        let map = METRIC_MAPS[m];
        let weight = schema::weight_key(m).and_then(|wk| {
            registry
                .keys_of(schema::TOTAL_TIME_SECONDS)
                .iter()
                .any(|k| k == wk)
                .then(|| {
                    col(
                        schema::flat_column_name(METRIC_MAPS[schema::TOTAL_TIME_SECONDS], wk)
                            .as_str(),
                    )
                })
        });
        let mut values = Vec::new();
        for k in registry.keys_of(m) {
            let v = col(schema::flat_column_name(map, k).as_str());
            let n = aggs.len();
            match schema::weight_key(m) {
                None => {
                    let c = format!("v{n}");
                    aggs.push(sum(v).alias(&c));
                    values.push(UsageValue::Sum {
                        key: k.clone(),
                        column: c,
                    });
                }
                Some(_) => {
                    let (num, den) = (format!("v{n}n"), format!("v{n}d"));
                    match &weight {
                        Some(w) => {
                            aggs.push(sum(v.clone() * w.clone()).alias(&num));
                            aggs.push(sum(when(v.is_not_null(), w.clone()).end()?).alias(&den));
                        }
                        None => {
                            aggs.push(sum(lit(ScalarValue::Float64(None))).alias(&num));
                            aggs.push(sum(lit(ScalarValue::Float64(None))).alias(&den));
                        }
                    }
                    values.push(UsageValue::Avg {
                        key: k.clone(),
                        num,
                        den,
                    });
                }
            }
        }
        let overflow = col(schema::overflow_column_name(map).as_str());
        let n = aggs.len();
        match (schema::weight_key(m), &weight) {
            (None, _) => {
                let c = format!("o{n}");
                aggs.push(
                    crate::udaf::sum_metric_map_udaf()
                        .call(vec![overflow])
                        .alias(&c),
                );
                values.push(UsageValue::OverflowSum { column: c });
            }
            (Some(_), Some(w)) => {
                // The metric-map average has exactly the weighted-average semantics per key.
                let c = format!("o{n}");
                aggs.push(
                    crate::udaf::avg_metric_map_udaf()
                        .call(vec![overflow, w.clone()])
                        .alias(&c),
                );
                values.push(UsageValue::OverflowAvg { column: c });
            }
            (Some(_), None) => {}
        }
        layout.maps.insert(m, values);
    }
    // Key presence per group (current mode): (map, flat key or None for the overflow map,
    // result column).
    let mut presence: Vec<(usize, Option<String>, String)> = Vec::new();
    if discover {
        for &m in &maps {
            for k in registry.keys_of(m) {
                let c = format!("p{}", aggs.len());
                let flat = schema::flat_column_name(METRIC_MAPS[m], k);
                aggs.push(count(col(flat.as_str())).alias(&c));
                presence.push((m, Some(k.clone()), c));
            }
            let c = format!("p{}", aggs.len());
            aggs.push(
                crate::udaf::sum_metric_map_udaf()
                    .call(vec![col(schema::overflow_column_name(METRIC_MAPS[m]))])
                    .alias(&c),
            );
            presence.push((m, None, c));
        }
    }
    let df = with_filters(
        ctx.table(UNITS_STORED_TABLE).await?,
        usage_filters(spec, visibility && !discover),
    )?
    .aggregate(group, aggs)?
    .sort(vec![
        col("cluster_id").sort(true, false),
        col("username").sort(true, false),
        col("project").sort(true, false),
    ])?;
    let batches = collect_counted(df).await?;
    if !discover {
        return Ok((batches, layout));
    }

    for &m in &maps {
        layout.zero_fill.entry(m).or_default();
    }
    for b in &batches {
        for (m, key, c) in &presence {
            let set = layout.zero_fill.entry(*m).or_default();
            let Some(column) = b.column_by_name(c) else {
                continue;
            };
            match key {
                Some(k) => {
                    let counts = column.as_primitive::<arrow::datatypes::Int64Type>();
                    if (0..counts.len()).any(|i| counts.is_valid(i) && counts.value(i) > 0) {
                        set.insert(k.clone());
                    }
                }
                None => {
                    let sums = column.as_map();
                    for i in 0..sums.len() {
                        if !sums.is_valid(i) {
                            continue;
                        }
                        let keys = arrow::compute::cast(sums.value(i).column(0), &DataType::Utf8)?;
                        let keys = keys.as_string::<i32>();
                        for j in 0..keys.len() {
                            set.insert(keys.value(j).to_string());
                        }
                    }
                }
            }
        }
    }

    // Visibility: rows of the visible projects only (a null project is never visible).
    let visible_rows = if visibility {
        narrow_usage_rows(&batches, spec)?
    } else {
        batches
    };
    Ok((visible_rows, layout))
}

/// Sort expressions shared by list endpoints (kept for plan builders that need them).
pub fn by_cluster_then(column: &str) -> Vec<SortExpr> {
    vec![
        col("cluster_id").sort(true, false),
        col(column).sort(true, false),
    ]
}
