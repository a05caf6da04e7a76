//! The project's own OpenAPI 3.0 document, and the Swagger UI that renders it.
//!
//! The document is generated from code: [`ROUTES`] is a typed table of every route (path,
//! summary, tag, who may call it, query parameters, response model) and the model schemas are
//! built from the field lists the engine exports ([`UNIT_FIELDS`], [`USAGE_FIELDS`],
//! [`METRIC_MAPS`]). A field added to the engine therefore shows up in the `field` enums and in
//! the schemas without anyone editing JSON by hand.
//!
//! [`router`] serves the document at `/swagger/doc.json` and Swagger UI at
//! `/swagger/index.html`. The Swagger UI files (bundle, CSS, icons) come from the
//! `swagger-ui-redist` crate, which ships them inside its package and `include_bytes!`es them:
//! nothing is downloaded at build or run time.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ceems_lake_engine::query::api::{GROUPBY_ALLOWED, UNIT_FIELDS, USAGE_FIELDS};
use ceems_lake_engine::schema::METRIC_MAPS;
use serde_json::{Map, Value, json};
use swagger_ui_redist::{SwaggerUi, SwaggerUiStaticFile};

/// Version of the API contract (the CEEMS API the routes reproduce).
pub const API_VERSION: &str = "1.0";

/// The header that identifies the caller on every non-exempt route.
pub const USER_HEADER: &str = "X-Grafana-User";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No identity needed (`/health`, `/metrics`, demo).
    Exempt,
    /// Any identified user (`X-Grafana-User`).
    User,
    /// An identified user who is an admin; others get 403.
    Admin,
}

/// What a query parameter holds; decides its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Free text matched verbatim (ids, names).
    Text,
    /// Presence flag: true when the key appears, whatever its value.
    Flag,
    /// Unix seconds (a value ≥ 10^11 is read as milliseconds).
    Seconds,
    /// Unix milliseconds.
    Millis,
    /// IANA time zone name, `UTC` or `Local`.
    TimeZone,
    /// One of [`UNIT_FIELDS`].
    UnitField,
    /// One of [`USAGE_FIELDS`].
    UsageField,
    /// One of [`groupby_values`].
    GroupBy,
    /// `admin` lists the admin users.
    Role,
}

/// One query parameter of a route.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    /// May be given several times (`?uuid=1&uuid=2`); never split on commas.
    pub repeatable: bool,
    pub required: bool,
    pub description: &'static str,
}

/// The models of the API responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Unit,
    Usage,
    Project,
    User,
    Stat,
    Cluster,
}

impl Model {
    pub const ALL: [Model; 6] = [
        Model::Unit,
        Model::Usage,
        Model::Project,
        Model::User,
        Model::Stat,
        Model::Cluster,
    ];

    /// Schema name of the model (`components/schemas/<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Model::Unit => "Unit",
            Model::Usage => "Usage",
            Model::Project => "Project",
            Model::User => "User",
            Model::Stat => "Stat",
            Model::Cluster => "Cluster",
        }
    }

    /// Schema name of the envelope whose `data` lists this model.
    pub fn envelope_name(self) -> String {
        format!("{}Response", self.name())
    }
}

/// What a successful response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body200 {
    /// Envelope whose `data` is a list of the model (`[]` when nothing matches).
    List(Model),
    /// Envelope whose `data` is `null` (ownership check passed).
    Null,
    /// Plain text health message.
    Health,
    /// Prometheus text exposition.
    Metrics,
}

/// One GET route of the server.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// Path below `<route prefix>/api/v1` when `api` is true, else from the server root.
    pub path: &'static str,
    pub api: bool,
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub tag: &'static str,
    pub access: Access,
    pub params: &'static [Param],
    pub response: Body200,
}

const fn list(name: &'static str, description: &'static str) -> Param {
    Param {
        name,
        kind: ParamKind::Text,
        repeatable: true,
        required: false,
        description,
    }
}

const fn param(name: &'static str, kind: ParamKind, description: &'static str) -> Param {
    Param {
        name,
        kind,
        repeatable: false,
        required: false,
        description,
    }
}

const fn repeated(name: &'static str, kind: ParamKind, description: &'static str) -> Param {
    Param {
        name,
        kind,
        repeatable: true,
        required: false,
        description,
    }
}

const CLUSTER_ID: Param = list(
    "cluster_id",
    "Only rows of these cluster ids (repeat the parameter for several).",
);
const PROJECT: Param = list(
    "project",
    "Only rows of these projects (repeat the parameter for several).",
);
const UUID: Param = list(
    "uuid",
    "Only these units (repeat for several). When given, `from`, `to` and `running` are ignored.",
);
const UNIT_USER: Param = list(
    "user",
    "Only units of these users (repeat for several); all users when absent.",
);
const RUNNING: Param = param(
    "running",
    ParamKind::Flag,
    "Presence flag: also list units that have not ended. Any value, even `false`, turns it on; \
     leave the parameter out to turn it off.",
);
const FROM: Param = param(
    "from",
    ParamKind::Seconds,
    "Start of the window on the end time, Unix **seconds** (a value of 10^11 or more is read as \
     milliseconds). Defaults to `to` minus 24 hours.",
);
const TO: Param = param(
    "to",
    ParamKind::Seconds,
    "End of the window (inclusive), Unix **seconds** (a value of 10^11 or more is read as \
     milliseconds). Defaults to now.",
);
const TIMEZONE: Param = param(
    "timezone",
    ParamKind::TimeZone,
    "Render `created_at`, `started_at` and `ended_at` in this IANA time zone (e.g. \
     `Europe/Paris`). Filtering is not affected.",
);
const UNIT_FIELD: Param = repeated(
    "field",
    ParamKind::UnitField,
    "Return only these fields (repeat for several). Unknown names are ignored; 400 when none is \
     valid. All fields when absent.",
);
const USAGE_FIELD: Param = repeated(
    "field",
    ParamKind::UsageField,
    "Return only these fields (repeat for several). Unknown names are ignored; 400 when none is \
     valid. All fields when absent.",
);
const USAGE_FROM: Param = param(
    "from",
    ParamKind::Seconds,
    "Start of the window on the last update of units, Unix **seconds** (a value of 10^11 or \
     more is read as milliseconds), rounded down to 15 minutes. Defaults to `to` minus 24 hours.",
);
const USAGE_TO: Param = param(
    "to",
    ParamKind::Seconds,
    "End of the window, Unix **seconds** (a value of 10^11 or more is read as milliseconds), \
     rounded up to 15 minutes. Defaults to now.",
);
const GLOBAL_FROM: Param = param(
    "from",
    ParamKind::Seconds,
    "Accepted for compatibility and ignored: global usage covers all retained units.",
);
const GLOBAL_TO: Param = param(
    "to",
    ParamKind::Seconds,
    "Accepted for compatibility and ignored: global usage covers all retained units.",
);
const GROUPBY: Param = repeated(
    "groupby",
    ParamKind::GroupBy,
    "Extra grouping columns (repeat for several). Rows are always per cluster, user and project; \
     any other value is a 400.",
);
const USAGE_USER: Param = list(
    "user",
    "Usage of the projects these users belong to (every member's rows); all projects with \
     members when absent.",
);
const STATS_FROM: Param = param(
    "from",
    ParamKind::Seconds,
    "Start of the window on the end time (current mode; ignored in global mode), Unix \
     **seconds** (a value of 10^11 or more is read as milliseconds). Running units always count.",
);
const STATS_TO: Param = param(
    "to",
    ParamKind::Seconds,
    "End of the window (current mode; ignored in global mode), Unix **seconds** (a value of \
     10^11 or more is read as milliseconds). Defaults to now.",
);

const UNITS_PARAMS: &[Param] = &[
    CLUSTER_ID, UUID, PROJECT, RUNNING, FROM, TO, TIMEZONE, UNIT_FIELD,
];
const UNITS_ADMIN_PARAMS: &[Param] = &[
    CLUSTER_ID, UUID, PROJECT, UNIT_USER, RUNNING, FROM, TO, TIMEZONE, UNIT_FIELD,
];
const VERIFY_PARAMS: &[Param] = &[
    Param {
        name: "uuid",
        kind: ParamKind::Text,
        repeatable: true,
        required: true,
        description: "Units to check (repeat for several); 400 when absent.",
    },
    Param {
        name: "cluster_id",
        kind: ParamKind::Text,
        repeatable: true,
        required: true,
        description: "Clusters the units belong to (repeat for several); the check fails without one.",
    },
    Param {
        name: "time",
        kind: ParamKind::Millis,
        repeatable: true,
        required: false,
        description: "Times around the units' start, Unix **milliseconds** (repeat for several): \
                      only units started within one hour of them count. Unparsable values are \
                      ignored.",
    },
];
const USERS_PARAMS: &[Param] = &[CLUSTER_ID];
const USERS_ADMIN_PARAMS: &[Param] = &[
    list(
        "user",
        "Only these users (repeat for several); all users when absent.",
    ),
    CLUSTER_ID,
    param(
        "role",
        ParamKind::Role,
        "`admin` lists the admin users instead (then `user` and `cluster_id` are ignored).",
    ),
];
const PROJECTS_PARAMS: &[Param] = &[PROJECT, CLUSTER_ID];
const USAGE_CURRENT_PARAMS: &[Param] = &[
    CLUSTER_ID,
    PROJECT,
    USAGE_FROM,
    USAGE_TO,
    USAGE_FIELD,
    GROUPBY,
];
const USAGE_GLOBAL_PARAMS: &[Param] = &[
    CLUSTER_ID,
    PROJECT,
    GLOBAL_FROM,
    GLOBAL_TO,
    USAGE_FIELD,
    GROUPBY,
];
const USAGE_CURRENT_ADMIN_PARAMS: &[Param] = &[
    CLUSTER_ID,
    PROJECT,
    USAGE_USER,
    USAGE_FROM,
    USAGE_TO,
    USAGE_FIELD,
    GROUPBY,
];
const USAGE_GLOBAL_ADMIN_PARAMS: &[Param] = &[
    CLUSTER_ID,
    PROJECT,
    USAGE_USER,
    GLOBAL_FROM,
    GLOBAL_TO,
    USAGE_FIELD,
    GROUPBY,
];
const STATS_PARAMS: &[Param] = &[CLUSTER_ID, STATS_FROM, STATS_TO];

const UNITS_DESCRIPTION: &str = "Compute units (Slurm jobs, OpenStack VMs, Kubernetes pods) that \
ended inside the window `[from, to]`, plus running ones with `running`. Several filters \
intersect. Ignored units are never listed. Ordered by cluster id then uuid.";

const USAGE_CURRENT_DESCRIPTION: &str = "Usage aggregated over the units updated inside the \
window: one row per cluster, user and project (and `groupby` columns), with sums of the `total_*` \
maps and time-weighted `avg_*` maps. Rows of every member of the projects the subject users \
belong to are visible. The window is rounded to 15 minutes and results are cached for 15 minutes \
per user and query; a cached answer carries an `Expires` header.";

const USAGE_GLOBAL_DESCRIPTION: &str = "Usage aggregated over all retained units: one row per \
cluster, user and project (and `groupby` columns). Rows of every member of the projects the \
subject users belong to are visible. `from` and `to` are ignored. Never cached.";

/// Every GET route of the server, in the order the document lists them.
pub const ROUTES: &[Route] = &[
    Route {
        path: "/units",
        api: true,
        operation_id: "listUnits",
        summary: "Units of the current user",
        description: UNITS_DESCRIPTION,
        tag: "units",
        access: Access::User,
        params: UNITS_PARAMS,
        response: Body200::List(Model::Unit),
    },
    Route {
        path: "/units/admin",
        api: true,
        operation_id: "listUnitsAdmin",
        summary: "Units of any user",
        description: UNITS_DESCRIPTION,
        tag: "units",
        access: Access::Admin,
        params: UNITS_ADMIN_PARAMS,
        response: Body200::List(Model::Unit),
    },
    Route {
        path: "/units/verify",
        api: true,
        operation_id: "verifyUnits",
        summary: "Check that the current user may see units",
        description: "200 when every requested uuid matches a unit of the requested clusters \
                      and every matched unit belongs to the current user or to a project that \
                      lists the current user (admins always pass); 403 otherwise. Any answer \
                      other than 200 means the check failed.",
        tag: "units",
        access: Access::User,
        params: VERIFY_PARAMS,
        response: Body200::Null,
    },
    Route {
        path: "/users",
        api: true,
        operation_id: "listUsers",
        summary: "The current user, per cluster",
        description: "The current user's rows (one per cluster where the user exists) with \
                      their projects. Ordered by cluster id.",
        tag: "users",
        access: Access::User,
        params: USERS_PARAMS,
        response: Body200::List(Model::User),
    },
    Route {
        path: "/users/admin",
        api: true,
        operation_id: "listUsersAdmin",
        summary: "Any users, or the admin users",
        description: "Rows of the requested users (all users when `user` is absent), ordered \
                      by cluster id and name. With `role=admin`, the admin users instead, each \
                      with cluster id `all` and the source of the grant in `tags`.",
        tag: "users",
        access: Access::Admin,
        params: USERS_ADMIN_PARAMS,
        response: Body200::List(Model::User),
    },
    Route {
        path: "/projects",
        api: true,
        operation_id: "listProjects",
        summary: "Projects of the current user",
        description: "Projects whose name lists the current user as a member (in any \
                      cluster), with their members. A project the user is not part of gives an \
                      empty list. Ordered by cluster id and name.",
        tag: "projects",
        access: Access::User,
        params: PROJECTS_PARAMS,
        response: Body200::List(Model::Project),
    },
    Route {
        path: "/projects/admin",
        api: true,
        operation_id: "listProjectsAdmin",
        summary: "Any projects",
        description: "Every project that has at least one member, with its members. Ordered \
                      by cluster id and name.",
        tag: "projects",
        access: Access::Admin,
        params: PROJECTS_PARAMS,
        response: Body200::List(Model::Project),
    },
    Route {
        path: "/clusters/admin",
        api: true,
        operation_id: "listClustersAdmin",
        summary: "Clusters in the store",
        description: "Distinct cluster ids and resource managers of the stored units, ordered \
                      by cluster id (used to check a load balancer's backend ids).",
        tag: "clusters",
        access: Access::Admin,
        params: &[],
        response: Body200::List(Model::Cluster),
    },
    Route {
        path: "/usage/current",
        api: true,
        operation_id: "usageCurrent",
        summary: "Usage of the current user's projects in a window",
        description: USAGE_CURRENT_DESCRIPTION,
        tag: "usage",
        access: Access::User,
        params: USAGE_CURRENT_PARAMS,
        response: Body200::List(Model::Usage),
    },
    Route {
        path: "/usage/global",
        api: true,
        operation_id: "usageGlobal",
        summary: "All-time usage of the current user's projects",
        description: USAGE_GLOBAL_DESCRIPTION,
        tag: "usage",
        access: Access::User,
        params: USAGE_GLOBAL_PARAMS,
        response: Body200::List(Model::Usage),
    },
    Route {
        path: "/usage/current/admin",
        api: true,
        operation_id: "usageCurrentAdmin",
        summary: "Usage of any projects in a window",
        description: USAGE_CURRENT_DESCRIPTION,
        tag: "usage",
        access: Access::Admin,
        params: USAGE_CURRENT_ADMIN_PARAMS,
        response: Body200::List(Model::Usage),
    },
    Route {
        path: "/usage/global/admin",
        api: true,
        operation_id: "usageGlobalAdmin",
        summary: "All-time usage of any projects",
        description: USAGE_GLOBAL_DESCRIPTION,
        tag: "usage",
        access: Access::Admin,
        params: USAGE_GLOBAL_ADMIN_PARAMS,
        response: Body200::List(Model::Usage),
    },
    Route {
        path: "/stats/current/admin",
        api: true,
        operation_id: "statsCurrentAdmin",
        summary: "Per-cluster counters in a window",
        description: "Per cluster: units that ended inside the window plus running ones, how \
                      many are active and inactive, and distinct projects and users.",
        tag: "stats",
        access: Access::Admin,
        params: STATS_PARAMS,
        response: Body200::List(Model::Stat),
    },
    Route {
        path: "/stats/global/admin",
        api: true,
        operation_id: "statsGlobalAdmin",
        summary: "Per-cluster counters of all units",
        description: "Per cluster: all retained units, how many are active and inactive, and \
                      distinct projects and users. `from` and `to` are ignored.",
        tag: "stats",
        access: Access::Admin,
        params: STATS_PARAMS,
        response: Body200::List(Model::Stat),
    },
    Route {
        path: "/demo/units",
        api: true,
        operation_id: "demoUnits",
        summary: "Random sample units",
        description: "100 randomly generated units, new on every call, to look at the Unit \
                      model. No identity needed, no data read.",
        tag: "demo",
        access: Access::Exempt,
        params: &[],
        response: Body200::List(Model::Unit),
    },
    Route {
        path: "/demo/usage",
        api: true,
        operation_id: "demoUsage",
        summary: "Random sample usage rows",
        description: "Randomly generated usage rows, new on every call, to look at the Usage \
                      model. No identity needed, no data read.",
        tag: "demo",
        access: Access::Exempt,
        params: &[],
        response: Body200::List(Model::Usage),
    },
    Route {
        path: "/health",
        api: false,
        operation_id: "health",
        summary: "Liveness and store check",
        description: "200 with a short text when the store answers, 503 otherwise. Not under \
                      the route prefix; no identity needed.",
        tag: "server",
        access: Access::Exempt,
        params: &[],
        response: Body200::Health,
    },
    Route {
        path: "/metrics",
        api: false,
        operation_id: "metrics",
        summary: "Prometheus metrics",
        description: "Server metrics (requests, latencies, cache hits) in the Prometheus text \
                      format. Not under the route prefix; no identity needed.",
        tag: "server",
        access: Access::Exempt,
        params: &[],
        response: Body200::Metrics,
    },
];

/// Tags in display order, with their descriptions.
const TAGS: &[(&str, &str)] = &[
    ("units", "Compute units: jobs, VMs, pods"),
    ("usage", "Aggregated usage per cluster, user and project"),
    ("users", "Users and their projects"),
    ("projects", "Projects and their members"),
    ("clusters", "Clusters present in the store"),
    ("stats", "Per-cluster counters"),
    ("demo", "Random sample data showing the models"),
    ("server", "Health and metrics of the server itself"),
];

const INFO_DESCRIPTION: &str = "The CEEMS REST API (compute energy and emissions monitoring, API \
version 1.0) served by ceems-lake from Parquet files.

**Identity.** Every route except `/health`, `/metrics`, `/swagger` and the demo routes needs the \
`X-Grafana-User` header naming the caller (401 without it). Routes ending in `/admin` also need \
the caller to be an admin (403 otherwise). Requests without a `User-Agent` header are answered \
400 (browsers always send one).

**Basic auth.** When the server enables it, every route needs HTTP basic credentials.

**Time.** `from` and `to` are Unix **seconds**; a value of 10^11 or more is read as \
milliseconds. Windows are inclusive and compare numeric timestamps. `time` of `/units/verify` is \
in milliseconds. Timestamps in responses (`*_ts`) are milliseconds.

**Lists.** Repeatable parameters are given once per value (`?uuid=1&uuid=2`); values are never \
split on commas. An empty value (`?project=`) matches nothing.

**Envelope.** Every JSON answer is `{\"status\", \"data\", \"errorType\", \"error\", \
\"warnings\"}` in that key order; `data` is always present (a list, `[]` when nothing matches, or \
`null` on errors and on a passed ownership check); the other three are omitted when empty.";

/// Values accepted by `groupby`: the always-grouped columns plus the engine's extra ones.
pub fn groupby_values() -> Vec<&'static str> {
    let mut v = vec!["cluster_id"];
    v.extend(GROUPBY_ALLOWED);
    v.extend(["username", "project"]);
    v
}

/// `errorType` values the server answers with.
const ERROR_TYPES: [&str; 7] = [
    "bad_data",
    "unauthorized",
    "forbidden",
    "not_found",
    "timeout",
    "internal",
    "unavailable",
];

/// The `/api/v1` base for a route prefix: `/` (or empty) gives `/api/v1`, `/ceems` or `/ceems/`
/// gives `/ceems/api/v1`.
pub fn api_base(route_prefix: &str) -> String {
    let p = route_prefix.trim_end_matches('/');
    if p.is_empty() {
        "/api/v1".to_string()
    } else if p.starts_with('/') {
        format!("{p}/api/v1")
    } else {
        format!("/{p}/api/v1")
    }
}

impl Route {
    /// The route's full path for a route prefix.
    pub fn full_path(&self, route_prefix: &str) -> String {
        if self.api {
            format!("{}{}", api_base(route_prefix), self.path)
        } else {
            self.path.to_string()
        }
    }
}

fn metric_map_description(name: &str) -> &'static str {
    match name {
        "total_time_seconds" => {
            "Times in seconds by kind: `walltime`, `alloc_cputime`, `alloc_cpumemtime`, \
             `alloc_gputime`, `alloc_gpumemtime` (the latter four also weigh the averages)"
        }
        "avg_cpu_usage" => "Average CPU usage in percent, by key (e.g. `global`)",
        "avg_cpu_mem_usage" => "Average CPU memory usage in percent, by key (e.g. `global`)",
        "total_cpu_energy_usage_kwh" => "CPU energy in kWh, by key (e.g. `total`)",
        "total_cpu_emissions_gms" => {
            "Emissions of the CPU energy in grams CO2eq, by source of emission factors"
        }
        "avg_gpu_usage" => "Average GPU usage in percent, by key (e.g. `global`)",
        "avg_gpu_mem_usage" => "Average GPU memory usage in percent, by key (e.g. `global`)",
        "total_gpu_energy_usage_kwh" => "GPU energy in kWh, by key (e.g. `total`)",
        "total_gpu_emissions_gms" => {
            "Emissions of the GPU energy in grams CO2eq, by source of emission factors"
        }
        "total_io_write_stats" => "Storage writes (e.g. `bytes`, `requests`)",
        "total_io_read_stats" => "Storage reads (e.g. `bytes`, `requests`)",
        "total_ingress_stats" => "Network traffic received (e.g. `bytes`, `packets`)",
        "total_outgress_stats" => "Network traffic sent (e.g. `bytes`, `packets`)",
        _ => "Metric values by key",
    }
}

/// Schema of one field of the Unit or Usage model; `None` for a name it does not know.
fn field_schema(name: &str) -> Option<Value> {
    if METRIC_MAPS.contains(&name) {
        return Some(json!({
            "type": "object",
            "description": format!(
                "{}. Numbers are integers when integral, else printed with 8 decimals.",
                metric_map_description(name)
            ),
            "additionalProperties": {"type": "number"},
            "example": {"global": 42.5},
        }));
    }
    let (ty, description, example) = match name {
        "cluster_id" => ("string", "Cluster identifier", json!("slurm-0")),
        "resource_manager" => (
            "string",
            "Resource manager: slurm, openstack, k8s…",
            json!("slurm"),
        ),
        "uuid" => (
            "string",
            "Identifier of the unit in its cluster (job id, VM or pod uuid)",
            json!("1479763"),
        ),
        "name" => ("string", "Name of the unit", json!("train-model")),
        "project" => (
            "string",
            "Project: Slurm account, OpenStack tenant or Kubernetes namespace",
            json!("acc1"),
        ),
        "groupname" => ("string", "Unix group of the user", json!("grp1")),
        "username" => ("string", "User name", json!("usr1")),
        "created_at" => (
            "string",
            "Creation time as recorded (`Unknown` when not known)",
            json!("2023-02-21T15:48:20+0100"),
        ),
        "started_at" => (
            "string",
            "Start time as recorded (`Unknown` when not started)",
            json!("2023-02-21T15:49:06+0100"),
        ),
        "ended_at" => (
            "string",
            "End time as recorded (`Unknown` while running)",
            json!("2023-02-21T15:57:23+0100"),
        ),
        "created_at_ts" | "started_at_ts" | "ended_at_ts" => (
            "integer",
            "Same time as Unix milliseconds (absent or 0 when not known)",
            json!(1676990900000_i64),
        ),
        "elapsed" => ("string", "Elapsed time as recorded", json!("00:08:17")),
        "state" => (
            "string",
            "State reported by the resource manager",
            json!("COMPLETED"),
        ),
        "num_units" => (
            "integer",
            "Number of units aggregated in the row",
            json!(12),
        ),
        "allocation" | "tags" => {
            let d = if name == "allocation" {
                "Allocated resources (e.g. `cpus`, `mem`, `gpus`)"
            } else {
                "Metadata of the unit (e.g. `qos`, `partition`)"
            };
            return Some(json!({"type": "object", "description": d, "additionalProperties": true}));
        }
        _ => return None,
    };
    let mut s = json!({"type": ty, "description": description, "example": example});
    if ty == "integer" {
        s["format"] = json!("int64");
    }
    Some(s)
}

fn object(properties: Map<String, Value>, required: &[&str], description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "required": required,
        "properties": properties,
    })
}

fn fields_object(fields: &[&str], required: &[&str], description: &str) -> Value {
    let props = fields
        .iter()
        .map(|f| {
            let s = field_schema(f).unwrap_or_else(|| panic!("no schema for field {f}"));
            (f.to_string(), s)
        })
        .collect();
    object(props, required, description)
}

fn props(list: &[(&str, Value)]) -> Map<String, Value> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn int(description: &str) -> Value {
    json!({"type": "integer", "format": "int64", "description": description})
}

fn model_schema(m: Model) -> Value {
    match m {
        Model::Unit => fields_object(
            &UNIT_FIELDS,
            &["uuid"],
            "A compute unit. Every field but `uuid` is omitted when empty (maps with no key, \
             running units' `ended_at_ts`); with `field`, unselected fields are omitted.",
        ),
        Model::Usage => fields_object(
            &USAGE_FIELDS,
            &USAGE_FIELDS[..6],
            "Usage of one user in one project on one cluster. The six identity fields are always \
             present (empty when not selected); metric maps are omitted when empty.",
        ),
        Model::Project => object(
            props(&[
                (
                    "uid",
                    string("Identifier of the project in its cluster (omitted when empty)"),
                ),
                ("cluster_id", string("Cluster identifier")),
                (
                    "resource_manager",
                    string("Resource manager of the cluster"),
                ),
                ("name", string("Project name")),
                (
                    "users",
                    json!({"type": "array", "items": {"type": "string"}, "nullable": true,
                           "description": "Members of the project"}),
                ),
                (
                    "tags",
                    json!({"type": "array", "items": {}, "description": "Metadata tags (omitted when empty)"}),
                ),
            ]),
            &["cluster_id", "resource_manager", "name", "users"],
            "A project (account, tenant, namespace) of one cluster.",
        ),
        Model::User => object(
            props(&[
                (
                    "uid",
                    string("Identifier of the user in its cluster (omitted when empty)"),
                ),
                (
                    "cluster_id",
                    string("Cluster identifier, `all` for admin users"),
                ),
                (
                    "resource_manager",
                    string("Resource manager of the cluster (omitted when empty)"),
                ),
                ("name", string("User name")),
                (
                    "projects",
                    json!({"type": "array", "items": {"type": "string"},
                           "description": "Projects of the user (omitted when empty)"}),
                ),
                (
                    "tags",
                    json!({"type": "array", "items": {},
                           "description": "Metadata tags; for admin users the source of the grant"}),
                ),
            ]),
            &["cluster_id", "name"],
            "A user of one cluster.",
        ),
        Model::Stat => object(
            props(&[
                ("cluster_id", string("Cluster identifier")),
                (
                    "resource_manager",
                    string("Resource manager of the cluster"),
                ),
                ("num_units", int("Units counted")),
                ("num_inactive_units", int("Units that have ended")),
                ("num_active_units", int("Units still running")),
                ("num_projects", int("Distinct projects")),
                ("num_users", int("Distinct users")),
            ]),
            &[
                "cluster_id",
                "resource_manager",
                "num_units",
                "num_inactive_units",
                "num_active_units",
                "num_projects",
                "num_users",
            ],
            "Counters of one cluster.",
        ),
        Model::Cluster => object(
            props(&[
                ("id", string("Cluster identifier")),
                ("manager", string("Resource manager")),
            ]),
            &["id", "manager"],
            "A cluster present in the store.",
        ),
    }
}

fn envelope_schema(data: Value, status: &[&str], required: &[&str], description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "required": required,
        "properties": {
            "status": {"type": "string", "enum": status},
            "data": data,
            "errorType": {"$ref": "#/components/schemas/ErrorType"},
            "error": {"type": "string", "description": "Error message (errors only)"},
            "warnings": {"type": "array", "items": {"type": "string"},
                         "description": "Non-fatal problems (omitted when none)"},
        },
    })
}

fn schemas() -> Map<String, Value> {
    let mut s = Map::new();
    for m in Model::ALL {
        s.insert(m.name().to_string(), model_schema(m));
        s.insert(
            m.envelope_name(),
            envelope_schema(
                json!({"type": "array", "nullable": true,
                       "items": {"$ref": format!("#/components/schemas/{}", m.name())}}),
                &["success", "error"],
                &["status", "data"],
                &format!("Envelope whose `data` lists {} objects.", m.name()),
            ),
        );
    }
    s.insert(
        "NullResponse".into(),
        envelope_schema(
            json!({"type": "array", "items": {}, "nullable": true, "description": "Always null"}),
            &["success"],
            &["status", "data"],
            "Envelope of a success without data: `{\"status\":\"success\",\"data\":null}`.",
        ),
    );
    s.insert(
        "ErrorResponse".into(),
        envelope_schema(
            json!({"type": "array", "items": {}, "nullable": true, "description": "Always null"}),
            &["error"],
            &["status", "data", "errorType", "error"],
            "Envelope of an error.",
        ),
    );
    s.insert(
        "ErrorType".into(),
        json!({"type": "string", "enum": ERROR_TYPES, "description": "Class of an error"}),
    );
    s
}

fn item_schema(kind: ParamKind) -> Value {
    match kind {
        ParamKind::Text => json!({"type": "string"}),
        ParamKind::Flag => json!({"type": "boolean"}),
        ParamKind::Seconds => json!({"type": "integer", "format": "int64", "example": 1676934000}),
        ParamKind::Millis => {
            json!({"type": "integer", "format": "int64", "example": 1676990900000_i64})
        }
        ParamKind::TimeZone => json!({"type": "string", "example": "Europe/Paris"}),
        ParamKind::UnitField => json!({"type": "string", "enum": UNIT_FIELDS}),
        ParamKind::UsageField => json!({"type": "string", "enum": USAGE_FIELDS}),
        ParamKind::GroupBy => json!({"type": "string", "enum": groupby_values()}),
        ParamKind::Role => json!({"type": "string", "enum": ["admin"]}),
    }
}

fn query_param(p: &Param) -> Value {
    let item = item_schema(p.kind);
    let schema = if p.repeatable {
        json!({"type": "array", "items": item})
    } else {
        item
    };
    let mut v = json!({
        "name": p.name,
        "in": "query",
        "description": p.description,
        "required": p.required,
        "schema": schema,
    });
    if p.repeatable {
        v["style"] = json!("form");
        v["explode"] = json!(true);
    }
    if p.kind == ParamKind::Flag {
        v["allowEmptyValue"] = json!(true);
    }
    v
}

fn user_header() -> Value {
    json!({
        "name": USER_HEADER,
        "in": "header",
        "required": true,
        "description": "Name of the calling user.",
        "schema": {"type": "string", "example": "usr1"},
    })
}

fn json_content(schema: &str) -> Value {
    json!({"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}})
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": json_content("ErrorResponse")})
}

fn responses(r: &Route) -> Value {
    let mut out = Map::new();
    let ok = match r.response {
        Body200::List(m) => json!({
            "description": format!("{} list (`[]` when nothing matches)", m.name()),
            "content": json_content(&m.envelope_name()),
        }),
        Body200::Null => {
            json!({"description": "Check passed", "content": json_content("NullResponse")})
        }
        Body200::Health => json!({
            "description": "The server and its store answer",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }),
        Body200::Metrics => json!({
            "description": "Metrics in the Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }),
    };
    out.insert("200".into(), ok);
    match r.access {
        Access::Exempt => {
            out.insert("401".into(), json!({"description": "Basic auth is enabled and credentials are missing or wrong"}));
        }
        Access::User | Access::Admin => {
            out.insert(
                "400".into(),
                error_response(
                    "Invalid request (`bad_data`): malformed timestamp, no valid `field`, window \
                     longer than the maximum, invalid `groupby`, missing `User-Agent`…",
                ),
            );
            out.insert(
                "401".into(),
                error_response("No user identified (`unauthorized`), or basic auth credentials missing or wrong"),
            );
            if r.access == Access::Admin {
                out.insert(
                    "403".into(),
                    error_response("The current user is not an admin (`forbidden`)"),
                );
            } else if r.response == Body200::Null {
                out.insert(
                    "403".into(),
                    error_response("The check failed (`forbidden`)"),
                );
            }
            out.insert("500".into(), error_response("Internal error (`internal`)"));
            out.insert(
                "503".into(),
                error_response("Store unavailable or query timed out"),
            );
        }
    }
    if r.response == Body200::Health {
        out.insert(
            "503".into(),
            json!({"description": "The store does not answer",
                   "content": {"text/plain": {"schema": {"type": "string"}}}}),
        );
    }
    Value::Object(out)
}

fn operation(r: &Route) -> Value {
    let mut params: Vec<Value> = Vec::new();
    if r.access != Access::Exempt {
        params.push(user_header());
    }
    params.extend(r.params.iter().map(query_param));
    let mut description = r.description.to_string();
    match r.access {
        Access::Admin => description.push_str("\n\nThe current user must be an admin."),
        Access::User => {}
        Access::Exempt => description.push_str("\n\nNo `X-Grafana-User` header needed."),
    }
    json!({
        "tags": [r.tag],
        "summary": r.summary,
        "description": description,
        "operationId": r.operation_id,
        "parameters": params,
        "responses": responses(r),
        // Basic auth applies only when the server enables it: the empty requirement makes it
        // optional.
        "security": [{"BasicAuth": []}, {}],
    })
}

/// The OpenAPI 3.0 document for a route prefix (`/` by default) and, when known, the URL
/// clients reach the server at (else paths resolve against the page that loaded the document).
pub fn document(route_prefix: &str, server_url: Option<&str>) -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        paths.insert(r.full_path(route_prefix), json!({"get": operation(r)}));
    }
    let servers = match server_url {
        Some(u) => json!([{"url": u.trim_end_matches('/'), "description": "This server"}]),
        None => json!([{"url": "/", "description": "This server"}]),
    };
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "CEEMS API (ceems-lake)",
            "description": INFO_DESCRIPTION,
            "version": API_VERSION,
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
            "x-ceems-lake-version": env!("CARGO_PKG_VERSION"),
        },
        "servers": servers,
        "tags": TAGS.iter().map(|(n, d)| json!({"name": n, "description": d})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "BasicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "Only when the server's web config enables basic auth.",
                },
            },
        },
    })
}

/// The Swagger UI page. Relative URLs: it lives at `/swagger/index.html` next to its assets.
/// `validatorUrl: null` keeps the browser from calling the public validator.
const INDEX_HTML: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>ceems-lake API</title>
  <link rel="stylesheet" type="text/css" href="swagger-ui.css">
  <link rel="stylesheet" type="text/css" href="index.css">
  <link rel="icon" type="image/png" href="favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="swagger-ui-bundle.js" charset="utf-8"></script>
  <script src="swagger-ui-standalone-preset.js" charset="utf-8"></script>
  <script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({
        url: "doc.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        docExpansion: "list",
        validatorUrl: null,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
        plugins: [SwaggerUIBundle.plugins.DownloadUrl],
        layout: "StandaloneLayout"
      });
    };
  </script>
</body>
</html>
"##;

/// Content type of an embedded asset, by extension.
fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn asset(content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut r = (StatusCode::OK, body.into()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn redirect(location: &'static str) -> Response {
    let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    r
}

/// Paths of the embedded Swagger UI files under `/swagger/`.
pub fn asset_paths() -> Vec<String> {
    SwaggerUiStaticFile::all()
        .iter()
        .map(|f| format!("/swagger/{}", f.file_name()))
        .collect()
}

/// `/swagger/index.html`, `/swagger/doc.json` (the given document), the Swagger UI assets, and
/// redirects from `/swagger` and `/swagger/` to the page. Stateless; mount it without a prefix.
pub fn router(doc: Value) -> Router {
    let doc = Bytes::from(serde_json::to_vec(&doc).expect("a JSON value always serialises"));
    let mut router = Router::new()
        // Relative locations keep working behind a proxy that adds a path prefix.
        .route("/swagger", get(|| async { redirect("swagger/index.html") }))
        .route("/swagger/", get(|| async { redirect("index.html") }))
        .route(
            "/swagger/index.html",
            get(|| async { asset(content_type("index.html"), INDEX_HTML) }),
        )
        .route(
            "/swagger/doc.json",
            get(move || {
                let doc = doc.clone();
                async move { asset(content_type("doc.json"), doc) }
            }),
        );
    for (file, bytes) in SwaggerUi::static_files() {
        let name = file.file_name();
        let bytes: &'static [u8] = bytes;
        router = router.route(
            &format!("/swagger/{name}"),
            get(move || async move { asset(content_type(name), bytes) }),
        );
    }
    router
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    fn op<'a>(doc: &'a Value, path: &str) -> &'a Value {
        let get = &doc["paths"][path]["get"];
        assert!(get.is_object(), "{path} has no get");
        get
    }

    fn query_param<'a>(doc: &'a Value, path: &str, name: &str) -> &'a Value {
        op(doc, path)["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name && p["in"] == "query")
            .unwrap_or_else(|| panic!("{path} has no query parameter {name}"))
    }

    fn collect_refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref" {
                        out.push(x.as_str().unwrap().to_string());
                    } else {
                        collect_refs(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn document_is_openapi_3_with_every_route() {
        let doc = document("/", None);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.0."));
        assert_eq!(doc["info"]["version"], API_VERSION);
        assert!(doc["info"]["title"].is_string());
        let expected = [
            "/api/v1/units",
            "/api/v1/units/admin",
            "/api/v1/units/verify",
            "/api/v1/users",
            "/api/v1/users/admin",
            "/api/v1/projects",
            "/api/v1/projects/admin",
            "/api/v1/clusters/admin",
            "/api/v1/usage/current",
            "/api/v1/usage/global",
            "/api/v1/usage/current/admin",
            "/api/v1/usage/global/admin",
            "/api/v1/stats/current/admin",
            "/api/v1/stats/global/admin",
            "/api/v1/demo/units",
            "/api/v1/demo/usage",
            "/health",
            "/metrics",
        ];
        let paths = doc["paths"].as_object().unwrap();
        assert_eq!(
            paths.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            expected.into_iter().collect()
        );
        let tags: BTreeSet<&str> = doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        let mut ids = BTreeSet::new();
        for (path, item) in paths {
            let item = item.as_object().unwrap();
            assert_eq!(item.keys().collect::<Vec<_>>(), ["get"], "{path}");
            let get = &item["get"];
            assert!(
                ids.insert(get["operationId"].as_str().unwrap()),
                "duplicate operationId at {path}"
            );
            assert!(
                tags.contains(get["tags"][0].as_str().unwrap()),
                "{path}: unknown tag"
            );
            assert!(
                get["summary"].is_string() && get["description"].is_string(),
                "{path}"
            );
            let responses = get["responses"].as_object().unwrap();
            assert!(responses.contains_key("200"), "{path}");
            for (code, r) in responses {
                assert!(r["description"].is_string(), "{path} {code}");
            }
            let mut seen = BTreeSet::new();
            for p in get["parameters"].as_array().unwrap() {
                let name = p["name"].as_str().unwrap();
                let loc = p["in"].as_str().unwrap();
                assert!(["query", "header"].contains(&loc), "{path} {name}");
                assert!(seen.insert((loc, name)), "{path}: {name} twice");
                assert!(p["schema"]["type"].is_string(), "{path} {name}: no schema");
                assert!(p["required"].is_boolean(), "{path} {name}");
                if p["schema"]["type"] == "array" {
                    assert!(p["schema"]["items"]["type"].is_string(), "{path} {name}");
                }
            }
            let identity = seen.contains(&("header", USER_HEADER));
            let exempt = path.starts_with("/api/v1/demo") || !path.starts_with("/api/v1");
            assert_eq!(identity, !exempt, "{path}: identity header");
            if path.ends_with("/admin") {
                assert!(responses.contains_key("403"), "{path}");
            }
            if !exempt {
                for code in ["400", "401", "500"] {
                    assert_eq!(
                        responses[code]["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorResponse",
                        "{path} {code}"
                    );
                }
            }
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["BasicAuth"]["scheme"],
            "basic"
        );
    }

    #[test]
    fn every_ref_resolves() {
        let doc = document("/", None);
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{r}"));
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{r} does not resolve"
            );
        }
    }

    #[test]
    fn field_enums_and_schemas_follow_the_engine() {
        let doc = document("/", None);
        for path in ["/api/v1/units", "/api/v1/units/admin"] {
            let p = query_param(&doc, path, "field");
            assert_eq!(p["schema"]["type"], "array");
            assert_eq!(p["schema"]["items"]["enum"], json!(UNIT_FIELDS), "{path}");
        }
        for path in [
            "/api/v1/usage/current",
            "/api/v1/usage/global",
            "/api/v1/usage/current/admin",
            "/api/v1/usage/global/admin",
        ] {
            assert_eq!(
                query_param(&doc, path, "field")["schema"]["items"]["enum"],
                json!(USAGE_FIELDS),
                "{path}"
            );
            let g = query_param(&doc, path, "groupby");
            let values: BTreeSet<&str> = g["schema"]["items"]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(
                values,
                [
                    "cluster_id",
                    "groupname",
                    "resource_manager",
                    "username",
                    "project"
                ]
                .into_iter()
                .collect()
            );
        }
        let schemas = &doc["components"]["schemas"];
        let keys = |m: &str| {
            schemas[m]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(
            keys("Unit"),
            UNIT_FIELDS.iter().map(|s| s.to_string()).collect()
        );
        assert_eq!(
            keys("Usage"),
            USAGE_FIELDS.iter().map(|s| s.to_string()).collect()
        );
        for m in METRIC_MAPS {
            assert_eq!(
                schemas["Unit"]["properties"][m]["additionalProperties"]["type"], "number",
                "{m}"
            );
            assert_eq!(
                schemas["Usage"]["properties"][m]["additionalProperties"]["type"], "number",
                "{m}"
            );
        }
        assert_eq!(
            schemas["Unit"]["properties"]["ended_at_ts"]["type"],
            "integer"
        );
        assert_eq!(keys("Stat").len(), 7);
        assert_eq!(
            keys("Cluster"),
            ["id", "manager"].iter().map(|s| s.to_string()).collect()
        );
        let env = keys("UnitResponse");
        assert_eq!(
            env,
            ["status", "data", "errorType", "error", "warnings"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
    }

    #[test]
    fn time_parameters_and_flags() {
        let doc = document("/", None);
        let from = query_param(&doc, "/api/v1/units", "from");
        assert_eq!(from["schema"]["type"], "integer");
        assert!(from["description"].as_str().unwrap().contains("seconds"));
        let time = query_param(&doc, "/api/v1/units/verify", "time");
        assert!(
            time["description"]
                .as_str()
                .unwrap()
                .contains("milliseconds")
        );
        assert_eq!(
            query_param(&doc, "/api/v1/units/verify", "uuid")["required"],
            true
        );
        let running = query_param(&doc, "/api/v1/units", "running");
        assert_eq!(running["schema"]["type"], "boolean");
        assert_eq!(running["allowEmptyValue"], true);
    }

    #[test]
    fn route_prefix_and_server_url() {
        let doc = document("/ceems/", Some("https://ceems.example.org:9020/"));
        assert!(doc["paths"].get("/ceems/api/v1/units").is_some());
        assert!(doc["paths"].get("/ceems/api/v1/demo/usage").is_some());
        assert!(doc["paths"].get("/health").is_some());
        assert!(doc["paths"].get("/metrics").is_some());
        assert!(doc["paths"].get("/api/v1/units").is_none());
        assert_eq!(doc["servers"][0]["url"], "https://ceems.example.org:9020");
        assert_eq!(api_base(""), "/api/v1");
        assert_eq!(api_base("/"), "/api/v1");
        assert_eq!(api_base("ceems"), "/ceems/api/v1");
        assert_eq!(document("/", None)["servers"][0]["url"], "/");
    }

    async fn get(router: &Router, path: &str) -> (StatusCode, Vec<(String, String)>, Vec<u8>) {
        let req = Request::builder().uri(path).body(Body::empty()).unwrap();
        let res = router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        (status, headers, body)
    }

    fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
        h.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    #[tokio::test]
    async fn router_serves_page_document_and_assets() {
        let doc = document("/", None);
        let router = router(doc.clone());

        let (s, h, b) = get(&router, "/swagger/doc.json").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(header(&h, "content-type"), "application/json");
        assert_eq!(serde_json::from_slice::<Value>(&b).unwrap(), doc);

        let (s, h, b) = get(&router, "/swagger/index.html").await;
        assert_eq!(s, StatusCode::OK);
        assert!(header(&h, "content-type").starts_with("text/html"));
        let html = String::from_utf8(b).unwrap();
        for needle in [
            "id=\"swagger-ui\"",
            "url: \"doc.json\"",
            "deepLinking: true",
            "docExpansion: \"list\"",
            "swagger-ui-bundle.js",
            "swagger-ui.css",
        ] {
            assert!(html.contains(needle), "index.html lacks {needle}");
        }

        for (path, to) in [
            ("/swagger", "swagger/index.html"),
            ("/swagger/", "index.html"),
        ] {
            let (s, h, _) = get(&router, path).await;
            assert_eq!(s, StatusCode::MOVED_PERMANENTLY, "{path}");
            assert_eq!(header(&h, "location"), to, "{path}");
        }

        let expected = [
            ("/swagger/swagger-ui-bundle.js", "text/javascript"),
            (
                "/swagger/swagger-ui-standalone-preset.js",
                "text/javascript",
            ),
            ("/swagger/swagger-ui.css", "text/css"),
            ("/swagger/index.css", "text/css"),
            ("/swagger/favicon-16x16.png", "image/png"),
            ("/swagger/favicon-32x32.png", "image/png"),
        ];
        assert_eq!(asset_paths().len(), expected.len());
        for (path, ty) in expected {
            let (s, h, b) = get(&router, path).await;
            assert_eq!(s, StatusCode::OK, "{path}");
            assert!(header(&h, "content-type").starts_with(ty), "{path}");
            assert!(b.len() > 100, "{path}: {} bytes", b.len());
        }
        let (_, _, js) = get(&router, "/swagger/swagger-ui-bundle.js").await;
        assert!(String::from_utf8_lossy(&js).contains("SwaggerUIBundle"));

        let (s, _, _) = get(&router, "/swagger/nope.js").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
}
