//! `/demo/units` and `/demo/usage`: random mock data in the shapes of the real models, for
//! trying dashboards without a store. No identity needed.

use axum::response::Response;
use chrono::{Local, TimeZone};
use rand::Rng;

use crate::encode::push_metric;
use crate::envelope::push_json_string;
use crate::handlers::{now_s, ok};

const MANAGERS: [&str; 3] = ["slurm", "openstack", "k8s"];

fn projects_of(rm: &str) -> [&'static str; 2] {
    match rm {
        "slurm" => ["acc1", "acc2"],
        "openstack" => ["tenant1", "tenant2"],
        _ => ["ns1", "ns2"],
    }
}

fn running_state(rm: &str) -> &'static str {
    match rm {
        "slurm" => "RUNNING",
        "openstack" => "ACTIVE",
        _ => "Running",
    }
}

fn states(rm: &str) -> &'static [&'static str] {
    match rm {
        "slurm" => &[
            "CANCELLED",
            "COMPLETED",
            "PENDING",
            "RUNNING",
            "REQUEUED",
            "STOPPED",
            "TIMEOUT",
        ],
        "openstack" => &[
            "ACTIVE",
            "BUILD",
            "DELETED",
            "ERROR",
            "HARD_REBOOT",
            "MIGRATING",
            "PAUSED",
            "REBOOT",
            "SHUTOFF",
            "SOFT_DELETED",
            "SUSPENDED",
            "UNKNOWN",
        ],
        _ => &["Pending", "Running", "Succeeded", "Failed"],
    }
}

/// Go's `time.RFC1123` in the server's zone.
fn rfc1123(s: i64) -> String {
    match Local.timestamp_opt(s, 0).single() {
        Some(t) => t.format("%a, %d %b %Y %H:%M:%S %Z").to_string(),
        None => "Unknown".into(),
    }
}

/// Go's `time.Duration.String()` for whole seconds: `5h3m2s`, `0s`, `-1m5s`.
pub fn go_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let neg = secs < 0;
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, (a % 3600) / 60, a % 60);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if h > 0 {
        out.push_str(&format!("{h}h{m}m{s}s"));
    } else if m > 0 {
        out.push_str(&format!("{m}m{s}s"));
    } else {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn push_map(out: &mut Vec<u8>, name: &str, entries: &[(&str, f64)]) {
    out.push(b',');
    push_json_string(out, name);
    out.push(b':');
    out.push(b'{');
    let mut sorted: Vec<_> = entries.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_string(out, k);
        out.push(b':');
        push_metric(out, *v, false);
    }
    out.push(b'}');
}

fn push_str_field(out: &mut Vec<u8>, name: &str, v: &str, first: bool) {
    if !first {
        out.push(b',');
    }
    push_json_string(out, name);
    out.push(b':');
    push_json_string(out, v);
}

fn push_int_field(out: &mut Vec<u8>, name: &str, v: i64) {
    out.push(b',');
    push_json_string(out, name);
    out.push(b':');
    out.extend_from_slice(v.to_string().as_bytes());
}

fn push_io_maps(out: &mut Vec<u8>, rng: &mut impl Rng) {
    for name in ["total_io_write_stats", "total_io_read_stats"] {
        let (b, r) = (
            rng.random_range(1_000_000..1_000_000_000),
            rng.random_range(1_000_000..1_000_000_000),
        );
        push_map(out, name, &[("bytes", b as f64), ("requests", r as f64)]);
    }
    for name in ["total_ingress_stats", "total_outgress_stats"] {
        let (b, p) = (
            rng.random_range(1_000_000..1_000_000_000),
            rng.random_range(1_000_000..1_000_000_000),
        );
        push_map(out, name, &[("bytes", b as f64), ("packets", p as f64)]);
    }
}

fn uuid_v4(rng: &mut impl Rng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// 100 random units.
pub async fn units() -> Response {
    let mut rng = rand::rng();
    let now = now_s();
    let mut out = Vec::with_capacity(100 * 1500);
    out.push(b'[');
    for i in 0..100i64 {
        if i > 0 {
            out.push(b',');
        }
        let rm = MANAGERS[rng.random_range(0..3)];
        let cluster = format!("{rm}-{}", rng.random_range(0..3));
        let uuid = if rm == "slurm" {
            (now + i).to_string()
        } else {
            uuid_v4(&mut rng)
        };
        let project = projects_of(rm)[rng.random_range(0..2)];
        let start = rng.random_range(now - 86_400..now);
        let created = start - rng.random_range(5..7200);
        let (state, mut end) = if i < 20 {
            (running_state(rm), 0)
        } else {
            let s = states(rm);
            (
                s[rng.random_range(0..s.len())],
                rng.random_range(now - 1800..now),
            )
        };
        let pending = matches!(
            state,
            "PENDING" | "Pending" | "REQUEUED" | "BUILD" | "UNKNOWN"
        );
        let mut start_ts = start;
        let elapsed = if pending {
            start_ts = 0;
            end = 0;
            0
        } else if i < 20 {
            now - start
        } else {
            end - start
        };
        let start_s = if pending {
            "Unknown".to_string()
        } else {
            rfc1123(start)
        };
        let end_s = if end == 0 {
            "Unknown".to_string()
        } else {
            rfc1123(end)
        };
        out.push(b'{');
        push_str_field(&mut out, "cluster_id", &cluster, true);
        push_str_field(&mut out, "resource_manager", rm, false);
        push_str_field(&mut out, "uuid", &uuid, false);
        push_str_field(&mut out, "name", &format!("demo-{}", 100 - i), false);
        push_str_field(&mut out, "project", project, false);
        push_str_field(&mut out, "groupname", "group", false);
        push_str_field(&mut out, "username", "user1", false);
        push_str_field(&mut out, "created_at", &rfc1123(created), false);
        push_str_field(&mut out, "started_at", &start_s, false);
        push_str_field(&mut out, "ended_at", &end_s, false);
        push_int_field(&mut out, "created_at_ts", created);
        if start_ts != 0 {
            push_int_field(&mut out, "started_at_ts", start_ts);
        }
        if end != 0 {
            push_int_field(&mut out, "ended_at_ts", end);
        }
        push_str_field(&mut out, "elapsed", &go_duration(elapsed), false);
        push_str_field(&mut out, "state", state, false);
        let e = elapsed as f64;
        push_map(
            &mut out,
            "total_time_seconds",
            &[
                ("walltime", e),
                ("alloc_cputime", 2.0 * e),
                ("alloc_gputime", 5.0 * e),
                ("alloc_cpumemtime", 4000.0 * e),
                ("alloc_gpumemtime", 40000.0 * e),
            ],
        );
        let flag = if pending { 0.0 } else { 1.0 };
        for name in ["avg_cpu_usage", "avg_cpu_mem_usage"] {
            push_map(
                &mut out,
                name,
                &[("usage", rng.random_range(0.0..100.0) * flag)],
            );
        }
        push_map(
            &mut out,
            "total_cpu_energy_usage_kwh",
            &[("usage", 1.1 * e)],
        );
        push_map(&mut out, "total_cpu_emissions_gms", &[("rte", 17.0 * e)]);
        for name in ["avg_gpu_usage", "avg_gpu_mem_usage"] {
            push_map(
                &mut out,
                name,
                &[("usage", rng.random_range(0.0..100.0) * flag)],
            );
        }
        push_map(
            &mut out,
            "total_gpu_energy_usage_kwh",
            &[("usage", 15.0 * e)],
        );
        push_map(&mut out, "total_gpu_emissions_gms", &[("rte", 158.0 * e)]);
        push_io_maps(&mut out, &mut rng);
        out.push(b'}');
    }
    out.push(b']');
    ok(&out)
}

/// 7–21 random usage rows for `user1`…`user7`.
pub async fn usage() -> Response {
    const PROJECTS: [&str; 14] = [
        "acc1", "acc2", "acc3", "acc4", "acc5", "tenant1", "tenant2", "tenant3", "ns1", "ns2",
        "ns3", "ns4", "ns5", "ns6",
    ];
    let mut rng = rand::rng();
    let mut out = Vec::with_capacity(21 * 1200);
    out.push(b'[');
    let mut first = true;
    for u in 1..=7 {
        for _ in 0..rng.random_range(1..4) {
            if !first {
                out.push(b',');
            }
            first = false;
            let project = PROJECTS[rng.random_range(0..PROJECTS.len())];
            let rm = if project.starts_with("acc") {
                "slurm"
            } else if project.starts_with("tenant") {
                "openstack"
            } else {
                "k8s"
            };
            out.push(b'{');
            push_str_field(&mut out, "cluster_id", "", true);
            push_str_field(&mut out, "resource_manager", rm, false);
            push_int_field(&mut out, "num_units", rng.random_range(0..1000));
            push_str_field(&mut out, "project", project, false);
            push_str_field(&mut out, "groupname", "group", false);
            push_str_field(&mut out, "username", &format!("user{u}"), false);
            push_map(
                &mut out,
                "total_time_seconds",
                &[
                    ("walltime", rng.random_range(0..10_000) as f64),
                    ("alloc_cputime", rng.random_range(0..100_000) as f64),
                    ("alloc_gputime", rng.random_range(0..10_000) as f64),
                    ("alloc_cpumemtime", rng.random_range(0..100_000_000) as f64),
                    ("alloc_gpumemtime", rng.random_range(0..100_000_000) as f64),
                ],
            );
            for name in ["avg_cpu_usage", "avg_cpu_mem_usage"] {
                push_map(&mut out, name, &[("usage", rng.random_range(0.0..100.0))]);
            }
            push_map(
                &mut out,
                "total_cpu_energy_usage_kwh",
                &[("usage", rng.random_range(0.0..5e3))],
            );
            push_map(
                &mut out,
                "total_cpu_emissions_gms",
                &[("rte", rng.random_range(0.0..5e4))],
            );
            for name in ["avg_gpu_usage", "avg_gpu_mem_usage"] {
                push_map(&mut out, name, &[("usage", rng.random_range(0.0..100.0))]);
            }
            push_map(
                &mut out,
                "total_gpu_energy_usage_kwh",
                &[("usage", rng.random_range(0.0..5e4))],
            );
            push_map(
                &mut out,
                "total_gpu_emissions_gms",
                &[("rte", rng.random_range(0.0..5e5))],
            );
            push_io_maps(&mut out, &mut rng);
            out.push(b'}');
        }
    }
    out.push(b']');
    ok(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(59), "59s");
        assert_eq!(go_duration(61), "1m1s");
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(5 * 3600 + 3 * 60 + 2), "5h3m2s");
        assert_eq!(go_duration(-65), "-1m5s");
    }
}
