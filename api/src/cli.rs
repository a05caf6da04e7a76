//! Command-line interface: every flag has a long name, an environment variable where it makes
//! sense, and a doc comment that is its `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ceems-lake: the CEEMS API (compute energy & emissions monitoring) served from a columnar
/// store of Parquet files, queried with Apache DataFusion.
#[derive(Debug, Parser)]
#[command(name = "ceems-lake", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes (listed after each command's own flags in `--help`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Where the store lives: a local folder (created if missing) or a URL such as
    /// s3://bucket/prefix or file:///var/lib/ceems-lake.
    #[arg(long, global = true, env = "CEEMS_LAKE_DATA", default_value = "./lake")]
    pub data: String,

    /// Log level: error, warn, info, debug or trace.
    #[arg(
        long = "log.level",
        global = true,
        env = "CEEMS_LAKE_LOG_LEVEL",
        default_value = "info"
    )]
    pub log_level: String,

    /// Log format: logfmt (human-readable lines) or json.
    #[arg(long = "log.format", global = true, env = "CEEMS_LAKE_LOG_FORMAT", default_value = "logfmt", value_parser = ["logfmt", "json"])]
    pub log_format: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the CEEMS API (and /health, /metrics, /swagger) over the store.
    Serve(ServeArgs),
    /// Bulk-load history into the store (resumable, idempotent, atomic per batch).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Run SQL against the store: one query, or an interactive prompt when none is given.
    Sql(SqlArgs),
    /// Generate realistic synthetic data into the store or as a CEEMS SQLite file.
    Generate(GenerateArgs),
    /// Rewrite partitions into one sorted file each, without superseded unit versions.
    Compact(CompactArgs),
    /// Delete data files and old manifests that no kept version references.
    Vacuum(VacuumArgs),
    /// Show the store's version, tables, rows, files and metric columns.
    Info,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import an original CEEMS SQLite database (tables units, users, projects, admin_users).
    CeemsSqlite(CeemsSqliteArgs),
    /// Import Slurm accounting dumps (`sacct --parsable2`, with or without a header line).
    ///
    /// Job allocations become units shaped like the original's Slurm units (allocation from
    /// AllocTRES, times in the data zone, walltime and allocated CPU/GPU/memory time); job
    /// steps are skipped and listed with the rejects. Users and projects are derived from the
    /// jobs. A dump without a header line uses the field list the original asks sacct for,
    /// or --fields / --header-file.
    Sacct(SacctArgs),
    /// Import Standard Workload Format logs (Parallel Workloads Archive, SWF 2.x).
    ///
    /// Times are relative to the header's UnixStartTime and rendered in its TimeZoneString
    /// (--time-zone overrides it); users and groups become `user<N>` and `group<N>` (the group
    /// is also the project); partition and queue names from the header go into the tags;
    /// allocated processors into the cpus. Lines whose wait or run time is unknown (-1) cannot
    /// be placed in time and are rejected.
    Swf(SwfArgs),
    /// Import units in the API's unit JSON shape, one object per line (round-trips an export of
    /// /api/v1/units, e.g. `jq -c '.data[]'`).
    Ndjson(ExportArgs),
    /// Import units from a Parquet file in the store's schema (round-trips
    /// `ceems-lake sql --format parquet "select * from units"`).
    Parquet(ExportArgs),
}

/// Options shared by the importers.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Units per commit. Memory use grows with it; each batch is committed atomically.
    #[arg(long, default_value_t = 100_000)]
    pub batch_size: usize,

    /// Time zone of time strings without a UTC offset and of the time strings the importer
    /// writes (IANA name such as Europe/Paris, UTC or Local). Default: `data.time_zone` of
    /// --config.file, else Local.
    #[arg(long, visible_alias = "timezone", env = "CEEMS_LAKE_TIME_ZONE")]
    pub time_zone: Option<String>,

    /// The server's YAML configuration; its `ceems_api_server.data.time_zone` is the default
    /// of --time-zone.
    #[arg(long = "config.file", env = "CEEMS_LAKE_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,

    /// Write every row that was not imported (location, field, value, reason) to this file as
    /// tab-separated lines (sacct job steps, skipped by design, included). Without it, they are
    /// printed to standard error. It may not be one of the input files.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,

    /// Do not show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct CeemsSqliteArgs {
    /// The CEEMS database file (ceems.db).
    pub file: PathBuf,
    #[command(flatten)]
    pub import: ImportArgs,
}

/// Energy estimates shared by the accounting-log importers.
#[derive(Debug, Args)]
pub struct EstimateArgs {
    /// For units without measured energy, estimate CPU and GPU energy (kWh) from allocated
    /// cores and GPUs x run time x watts, and emissions from a g/kWh factor, as configured in
    /// this YAML file (per cluster, optionally per partition; see
    /// data/energy-estimate.example.yml). Estimated units get the tag
    /// `"energy_source":"estimated"`.
    #[arg(long, value_name = "FILE")]
    pub estimate_energy: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SacctArgs {
    /// Dump files (plain, or gzip/xz/zstd-compressed: detected from their first bytes).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Cluster id of the units. Without it the dump's `cluster` column is used.
    #[arg(long)]
    pub cluster_id: Option<String>,
    /// Field names of a dump without a header line, comma- or `|`-separated (default: the
    /// original's list jobidraw,partition,qos,account,group,gid,user,uid,submit,start,end,
    /// elapsed,elapsedraw,exitcode,state,alloctres,nodelist,jobname,workdir).
    #[arg(long, conflicts_with = "header_file")]
    pub fields: Option<String>,
    /// A file whose first line is the header (`jobid|jobidraw|cluster|…`) of dumps that were
    /// written without one.
    #[arg(long, value_name = "FILE")]
    pub header_file: Option<PathBuf>,
    /// `resource_manager` of the units.
    #[arg(long, default_value = "slurm")]
    pub resource_manager: String,
    #[command(flatten)]
    pub estimate: EstimateArgs,
    #[command(flatten)]
    pub import: ImportArgs,
}

#[derive(Debug, Args)]
pub struct SwfArgs {
    /// SWF logs (plain, or gzip/xz/zstd-compressed).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Cluster id of the units (SWF logs do not name their machine in a field).
    #[arg(long, required = true)]
    pub cluster_id: String,
    /// `resource_manager` of the units.
    #[arg(long, default_value = "slurm")]
    pub resource_manager: String,
    /// Epoch (Unix seconds) of the relative times, for logs whose header has no UnixStartTime.
    #[arg(long)]
    pub unix_start_time: Option<i64>,
    #[command(flatten)]
    pub estimate: EstimateArgs,
    #[command(flatten)]
    pub import: ImportArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Files to import (NDJSON files may be gzip/xz/zstd-compressed; Parquet files are read as
    /// they are).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Cluster id of every unit, overriding the units' own `cluster_id`.
    #[arg(long)]
    pub cluster_id: Option<String>,
    /// `resource_manager` of units that do not name one.
    #[arg(long)]
    pub resource_manager: Option<String>,
    #[command(flatten)]
    pub estimate: EstimateArgs,
    #[command(flatten)]
    pub import: ImportArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned text table.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// A Parquet file (needs --output, or a redirected standard output).
    Parquet,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query. Without it, statements are read from standard input (an interactive prompt
    /// on a terminal; statements end with ';').
    pub query: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// Write results to this file instead of standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,

    /// Stop a statement that runs longer than this many seconds (0: no limit).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of compute units.
    #[arg(long, default_value_t = 10_000)]
    pub units: u64,
    /// Number of clusters (resource managers cycle through slurm, openstack, k8s).
    #[arg(long, default_value_t = 3)]
    pub clusters: u32,
    /// Random seed; the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Time zone the time strings are rendered in.
    #[arg(long, default_value = "Europe/Paris")]
    pub time_zone: String,
    /// Newest instant of the data (the last ingest cycle): `now`, a date such as 2026-11-01 or
    /// 2026-11-01T12:00:00Z, or Unix seconds. The default is fixed so output is reproducible.
    #[arg(long, default_value = "2026-11-01")]
    pub end: String,
    /// Span before `--end` over which units start, in years.
    #[arg(long, default_value_t = 3.0)]
    pub years: f64,
    /// Write a CEEMS-format SQLite database to this file instead of the store.
    #[arg(long)]
    pub ceems_sqlite: Option<PathBuf>,
    /// Units per commit when writing to the store.
    #[arg(long, default_value_t = 100_000)]
    pub batch_size: usize,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Also rewrite partitions that already have a single file (to the current schema).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// Keep the files of at least this many newest versions.
    #[arg(long, default_value_t = 10)]
    pub keep_versions: usize,
    /// Grace period for readers and writers: keep the files of every version that was the
    /// newest at some moment within this many seconds (a server or query still reading it),
    /// and never delete an unreferenced file younger than this (a commit in flight).
    /// Below 600 it is refused unless --force is given.
    #[arg(long, default_value_t = 3600)]
    pub min_age_seconds: u64,
    /// Allow --min-age-seconds below 600. Only safe while no other process (an import, a
    /// compaction, a server or query) uses the store: a commit in flight writes its files
    /// before publishing them, and vacuum would delete them as unreferenced.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// YAML configuration (keys of the original's `ceems_api_server` section: data.time_zone,
    /// admin.users; plus a `ceems_lake` section). See data/ceems-lake.yml.
    #[arg(long = "config.file", env = "CEEMS_LAKE_CONFIG_FILE")]
    pub config_file: Option<PathBuf>,

    /// Address to listen on (repeatable), e.g. :9020 or 127.0.0.1:9020.
    #[arg(long = "web.listen-address", default_value = ":9020")]
    pub listen_addresses: Vec<String>,

    /// Web configuration file for TLS and basic authentication (exporter-toolkit format:
    /// tls_server_config, http_server_config.headers, basic_auth_users with bcrypt hashes).
    #[arg(long = "web.config.file", env = "CEEMS_LAKE_WEB_CONFIG_FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Prefix of the /api/v1 routes (must start with / and not end with one, or be /).
    #[arg(long = "web.route-prefix", default_value = "/")]
    pub route_prefix: String,

    /// Regular expression (anchored) of the origins allowed by CORS; the origin is echoed back.
    #[arg(long = "web.cors.origin", default_value = ".*")]
    pub cors_origin: String,

    /// Request header carrying the user identity (repeatable; the first non-empty one wins).
    #[arg(long = "web.user-header-name", default_value = "X-Grafana-User")]
    pub user_header_names: Vec<String>,

    /// Longest accepted window `to - from` (e.g. 30d, 1h30m); 0s means unlimited.
    #[arg(long = "query.max-period", default_value = "0s")]
    pub max_period: String,

    /// Time after which a request is abandoned with a 503 timeout error (a response already
    /// streaming is cut off).
    #[arg(long = "web.request-timeout", default_value = "5m")]
    pub request_timeout: String,

    /// Time a client has to send a request's headers: from the connection's start for its
    /// first request, from the first byte for later ones.
    #[arg(long = "web.read-header-timeout", default_value = "2s")]
    pub read_header_timeout: String,

    /// Time a keep-alive connection may wait for its next request before it is closed.
    #[arg(long = "web.idle-timeout", default_value = "10s")]
    pub idle_timeout: String,

    /// Most connections served at once; further clients wait until one closes.
    #[arg(long = "web.max-connections", default_value_t = 4096)]
    pub max_connections: usize,
}
