//! Server configuration: the YAML file (`--config.file`), the web configuration file
//! (`--web.config.file`) and the serve flags, validated once into typed settings. A bad value is
//! a clear error at start, naming the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use ceems_lake_engine::time::DataTz;
use serde::Deserialize;

use crate::cli::ServeArgs;

/// The YAML configuration file. Unknown keys are ignored, as the original does.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FileConfig {
    pub ceems_api_server: ApiServerSection,
    pub ceems_lake: LakeSection,
}

/// Keys shared with the original's `ceems_api_server` section.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ApiServerSection {
    pub data: DataSection,
    pub admin: AdminSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DataSection {
    /// Zone of stored time strings: an IANA name, `UTC` or `Local` (default).
    pub time_zone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AdminSection {
    /// Users who may call the `…/admin` routes.
    pub users: Vec<String>,
}

/// ceems-lake's own settings.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LakeSection {
    /// How often the server looks for a newer store version (default 2s).
    pub refresh_interval: Option<String>,
    /// Memory limit of query execution, e.g. `4GiB` or a number of bytes (default 4GiB).
    pub query_memory_limit: Option<String>,
}

/// The exporter-toolkit web configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WebConfig {
    pub tls_server_config: Option<TlsServerConfig>,
    pub http_server_config: HttpServerConfig,
    /// User name → bcrypt hash.
    pub basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TlsServerConfig {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HttpServerConfig {
    /// Extra response headers (Content-Security-Policy, X-Frame-Options, …).
    pub headers: BTreeMap<String, String>,
}

/// TLS material, read at start.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// Upper bound of `--web.max-connections`.
const MAX_CONNECTIONS: usize = 1_000_000;

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub listen: Vec<String>,
    pub route_prefix: String,
    pub cors_origin: regex::Regex,
    pub user_headers: Vec<axum::http::HeaderName>,
    pub max_period: Option<Duration>,
    pub request_timeout: Duration,
    pub read_header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub refresh_interval: Duration,
    pub data_tz: DataTz,
    pub config_admins: Vec<String>,
    pub memory_limit: usize,
    pub basic_auth_users: BTreeMap<String, String>,
    pub extra_headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>,
    pub tls: Option<TlsMaterial>,
}

/// Parses a Prometheus-style duration: `1y2w3d4h5m6s7ms`, or `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    let mut total_ms: u128 = 0;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(format!(
                "not a duration: {s:?} (expected e.g. 30s, 15m, 1h30m, 7d)"
            ));
        }
        let n: u128 = s[start..i]
            .parse()
            .map_err(|_| format!("number too large in {s:?}"))?;
        let ustart = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit_ms: u128 = match &s[ustart..i] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            u => {
                return Err(format!(
                    "unknown unit {u:?} in duration {s:?} (use ms, s, m, h, d, w, y)"
                ));
            }
        };
        total_ms = total_ms.saturating_add(n.saturating_mul(unit_ms));
    }
    Ok(Duration::from_millis(
        u64::try_from(total_ms).unwrap_or(u64::MAX),
    ))
}

/// Parses a byte size: a plain number, or with KiB/MiB/GiB/TiB (or KB/MB/GB/TB, base 1000).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: usize = s[..split]
        .parse()
        .map_err(|_| format!("not a size: {s:?}"))?;
    let mult: usize = match s[split..].trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        u => return Err(format!("unknown size unit {u:?} in {s:?}")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

fn read_yaml<T: for<'de> Deserialize<'de> + Default>(path: &Path, what: &str) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_yaml::from_str(&text).with_context(|| format!("invalid {what} {}", path.display()))
}

fn read_relative(base: &Path, p: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let full = if p.is_relative() {
        base.join(p)
    } else {
        p.to_path_buf()
    };
    std::fs::read(&full).with_context(|| format!("cannot read {what} {}", full.display()))
}

impl ServeSettings {
    /// Validates the flags and reads the configuration files they name.
    pub fn from_args(a: &ServeArgs) -> anyhow::Result<ServeSettings> {
        let file: FileConfig = match &a.config_file {
            Some(p) => read_yaml(p, "configuration file")?,
            None => FileConfig::default(),
        };
        let tz_name = file
            .ceems_api_server
            .data
            .time_zone
            .as_deref()
            .unwrap_or("Local");
        let data_tz = DataTz::parse(tz_name)
            .map_err(|e| anyhow::anyhow!("ceems_api_server.data.time_zone: {e}"))?;

        let prefix = a.route_prefix.trim();
        if !prefix.starts_with('/') || (prefix.len() > 1 && prefix.ends_with('/')) {
            bail!("--web.route-prefix must start with / and must not end with / (got {prefix:?})");
        }
        let route_prefix = if prefix == "/" {
            String::new()
        } else {
            prefix.to_string()
        };

        let cors_origin =
            regex::Regex::new(&format!("^(?s:{})$", a.cors_origin)).with_context(|| {
                format!(
                    "--web.cors.origin is not a valid regular expression: {:?}",
                    a.cors_origin
                )
            })?;

        let mut user_headers = Vec::new();
        for h in &a.user_header_names {
            user_headers.push(
                axum::http::HeaderName::from_bytes(h.trim().as_bytes()).with_context(|| {
                    format!("--web.user-header-name: invalid header name {h:?}")
                })?,
            );
        }
        if user_headers.is_empty() {
            bail!("--web.user-header-name: at least one header name is needed");
        }

        let max_period = parse_duration(&a.max_period)
            .map_err(|e| anyhow::anyhow!("--query.max-period: {e}"))?;
        let request_timeout = parse_duration(&a.request_timeout)
            .map_err(|e| anyhow::anyhow!("--web.request-timeout: {e}"))?;
        if request_timeout.is_zero() {
            bail!("--web.request-timeout must be more than 0s");
        }
        let read_header_timeout = parse_duration(&a.read_header_timeout)
            .map_err(|e| anyhow::anyhow!("--web.read-header-timeout: {e}"))?;
        if read_header_timeout.is_zero() {
            bail!("--web.read-header-timeout must be more than 0s");
        }
        let idle_timeout = parse_duration(&a.idle_timeout)
            .map_err(|e| anyhow::anyhow!("--web.idle-timeout: {e}"))?;
        if idle_timeout.is_zero() {
            bail!("--web.idle-timeout must be more than 0s");
        }
        if !(1..=MAX_CONNECTIONS).contains(&a.max_connections) {
            bail!(
                "--web.max-connections must be between 1 and {MAX_CONNECTIONS} (got {})",
                a.max_connections
            );
        }
        let refresh_interval = match &file.ceems_lake.refresh_interval {
            Some(s) => parse_duration(s)
                .map_err(|e| anyhow::anyhow!("ceems_lake.refresh_interval: {e}"))?,
            None => Duration::from_secs(2),
        };
        if refresh_interval.is_zero() {
            bail!("ceems_lake.refresh_interval must be more than 0s");
        }
        let memory_limit = match &file.ceems_lake.query_memory_limit {
            Some(s) => {
                parse_bytes(s).map_err(|e| anyhow::anyhow!("ceems_lake.query_memory_limit: {e}"))?
            }
            None => 4 << 30,
        };
        if memory_limit == 0 {
            bail!("ceems_lake.query_memory_limit must be more than 0 (every query would fail)");
        }
        let admins: Vec<String> = file
            .ceems_api_server
            .admin
            .users
            .iter()
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect();

        let mut basic_auth_users = BTreeMap::new();
        let mut extra_headers = Vec::new();
        let mut tls = None;
        if let Some(p) = &a.web_config_file {
            let web: WebConfig = read_yaml(p, "web configuration file")?;
            let base = p.parent().unwrap_or(Path::new("."));
            for (user, hash) in web.basic_auth_users {
                if !hash.starts_with("$2") {
                    bail!("web configuration: basic_auth_users.{user} is not a bcrypt hash");
                }
                basic_auth_users.insert(user, hash);
            }
            for (k, v) in web.http_server_config.headers {
                let name = axum::http::HeaderName::from_bytes(k.as_bytes())
                    .with_context(|| format!("web configuration: invalid header name {k:?}"))?;
                let value = axum::http::HeaderValue::from_str(&v)
                    .with_context(|| format!("web configuration: invalid value of header {k}"))?;
                extra_headers.push((name, value));
            }
            if let Some(t) = web.tls_server_config {
                let cert_pem = match (&t.cert, &t.cert_file) {
                    (Some(c), _) => c.as_bytes().to_vec(),
                    (None, Some(f)) => read_relative(base, f, "TLS certificate")?,
                    (None, None) => {
                        bail!("web configuration: tls_server_config needs cert_file or cert")
                    }
                };
                let key_pem = match (&t.key, &t.key_file) {
                    (Some(k), _) => k.as_bytes().to_vec(),
                    (None, Some(f)) => read_relative(base, f, "TLS key")?,
                    (None, None) => {
                        bail!("web configuration: tls_server_config needs key_file or key")
                    }
                };
                tls = Some(TlsMaterial { cert_pem, key_pem });
            }
        }
        if a.listen_addresses.is_empty() {
            bail!("--web.listen-address: at least one address is needed");
        }
        Ok(ServeSettings {
            listen: a.listen_addresses.clone(),
            route_prefix,
            cors_origin,
            user_headers,
            max_period: (!max_period.is_zero()).then_some(max_period),
            request_timeout,
            read_header_timeout,
            idle_timeout,
            max_connections: a.max_connections,
            refresh_interval,
            data_tz,
            config_admins: admins,
            memory_limit,
            basic_auth_users,
            extra_headers,
            tls,
        })
    }
}

/// `:9020` → `0.0.0.0:9020`; host names are resolved.
pub fn socket_addrs(listen: &str) -> anyhow::Result<Vec<std::net::SocketAddr>> {
    use std::net::ToSocketAddrs;
    let full = if listen.starts_with(':') {
        format!("[::]{listen}")
    } else {
        listen.to_string()
    };
    let addrs: Vec<_> = full
        .to_socket_addrs()
        .with_context(|| format!("--web.listen-address: cannot resolve {listen:?}"))?
        .collect();
    if addrs.is_empty() {
        bail!("--web.listen-address: {listen:?} resolves to no address");
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_prometheus_syntax() {
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("1w"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("3 MB"), Ok(3_000_000));
        assert!(parse_bytes("3 parsecs").is_err());
    }

    #[test]
    fn yaml_keys_of_the_original_are_read_and_unknown_keys_ignored() {
        let c: FileConfig = serde_yaml::from_str(
            "ceems_api_server:\n  data:\n    path: data\n    time_zone: Europe/Paris\n  admin:\n    users: [adm1, adm2]\n  web:\n    requests_limit: 30\nclusters: []\nceems_lake:\n  refresh_interval: 1s\n",
        )
        .unwrap();
        assert_eq!(
            c.ceems_api_server.data.time_zone.as_deref(),
            Some("Europe/Paris")
        );
        assert_eq!(c.ceems_api_server.admin.users, vec!["adm1", "adm2"]);
        assert_eq!(c.ceems_lake.refresh_interval.as_deref(), Some("1s"));
    }

    #[test]
    fn the_sample_configuration_is_valid() {
        use clap::Parser;
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/ceems-lake.yml");
        let cli = crate::cli::Cli::try_parse_from([
            "ceems-lake",
            "serve",
            "--config.file",
            sample.to_str().unwrap(),
        ])
        .unwrap();
        let crate::cli::Command::Serve(args) = cli.command else {
            panic!("not the serve command")
        };
        let s = ServeSettings::from_args(&args).unwrap();
        assert_eq!(s.data_tz, DataTz::parse("Europe/Paris").unwrap());
        assert_eq!(s.config_admins, vec!["admin"]);
        assert_eq!(s.refresh_interval, Duration::from_secs(2));
        assert_eq!(s.memory_limit, 2 << 30);
    }

    #[test]
    fn listen_address_without_host_binds_everywhere() {
        let a = socket_addrs(":9020").unwrap();
        assert!(
            a.iter()
                .all(|a| a.port() == 9020 && a.ip().is_unspecified())
        );
    }
}
