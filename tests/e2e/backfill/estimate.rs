//! `--estimate-energy`: units without measured energy get CPU and GPU energy estimated as
//! allocated cores (GPUs) × run time × watts / 3.6e6 kWh and emissions as that × a g/kWh
//! factor, with figures per cluster and per partition falling back to the defaults, and the tag
//! `"energy_source":"estimated"`; units with measured energy (sacct `ConsumedEnergyRaw`, or an
//! energy map in an export) keep it and are not tagged estimated. Expected values are computed
//! here by hand from the same numbers.

use std::collections::BTreeMap;

use ceems_lake_tests::Server;
use serde_json::Value;

use super::{ALL, CONFIG, admin_get, close, import_ok, s, scratch, summary, utf8, write};

const MODEL: &str = "\
energy_key: total
emissions_key: estimated_total
default:
  cpu_watts_per_core: 10
  gpu_watts_per_gpu: 300
  emission_factor_g_per_kwh: 100
clusters:
  alpha:
    cpu_watts_per_core: 12
    emission_factor_g_per_kwh: 50
    partitions:
      big:
        cpu_watts_per_core: 20
      gpu:
        gpu_watts_per_gpu: 400
        emission_factor_g_per_kwh: 20
  swfc:
    cpu_watts_per_core: 5
    partitions:
      big:
        cpu_watts_per_core: 7
";

/// What a unit should carry: CPU and GPU energy (kWh) and emissions (g), and the tag.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Energy {
    cpu_kwh: Option<f64>,
    gpu_kwh: Option<f64>,
    cpu_g: Option<f64>,
    gpu_g: Option<f64>,
    estimated: bool,
}

/// `n` devices × `secs` × `watts` in kWh.
fn kwh(n: f64, secs: f64, watts: f64) -> f64 {
    n * secs * watts / 3.6e6
}

fn estimated(cpu_kwh: f64, gpu_kwh: Option<f64>, factor: f64) -> Energy {
    Energy {
        cpu_kwh: Some(cpu_kwh),
        gpu_kwh,
        cpu_g: Some(cpu_kwh * factor),
        gpu_g: gpu_kwh.map(|g| g * factor),
        estimated: true,
    }
}

fn measured(cpu_kwh: f64) -> Energy {
    Energy {
        cpu_kwh: Some(cpu_kwh),
        gpu_kwh: None,
        cpu_g: None,
        gpu_g: None,
        estimated: false,
    }
}

fn check(unit: &Value, want: &Energy, ctx: &str) {
    let get = |map: &str, key: &str| {
        unit.get(map)
            .and_then(|m| m.get(key))
            .and_then(Value::as_f64)
    };
    for (name, got, want) in [
        (
            "cpu kWh",
            get("total_cpu_energy_usage_kwh", "total"),
            want.cpu_kwh,
        ),
        (
            "gpu kWh",
            get("total_gpu_energy_usage_kwh", "total"),
            want.gpu_kwh,
        ),
        (
            "cpu g",
            get("total_cpu_emissions_gms", "estimated_total"),
            want.cpu_g,
        ),
        (
            "gpu g",
            get("total_gpu_emissions_gms", "estimated_total"),
            want.gpu_g,
        ),
    ] {
        match (got, want) {
            (Some(g), Some(w)) => assert!(close(g, w), "{ctx}: {name} {g} != {w}"),
            (g, w) => assert_eq!(g, w, "{ctx}: {name}"),
        }
    }
    let tag = unit["tags"]["energy_source"].as_str();
    if want.estimated {
        assert_eq!(tag, Some("estimated"), "{ctx}: {}", unit["tags"]);
    } else {
        assert_ne!(tag, Some("estimated"), "{ctx}: {}", unit["tags"]);
    }
}

#[test]
fn energy_is_estimated_only_where_none_was_measured() {
    let dir = scratch("estimate");
    let data = dir.path().join("lake");
    let model = dir.path().join("estimate.yml");
    write(&model, MODEL);
    let est = ["--estimate-energy", utf8(&model)];
    let mut want: BTreeMap<(&str, &str), Energy> = BTreeMap::new();

    // sacct: clusters from the dump's column; `beta` has no figures of its own.
    let dump = dir.path().join("jobs.sacct");
    write(
        &dump,
        "JobIDRaw|Cluster|Partition|Account|User|Start|End|AllocTRES|ConsumedEnergyRaw\n\
         1|alpha|small|a|u1|2024-01-01T00:00:00|2024-01-01T01:00:00|cpu=4,node=1|\n\
         2|alpha|big|a|u1|2024-01-01T00:00:00|2024-01-01T02:00:00|cpu=8,node=1|0\n\
         3|alpha|gpu|b|u2|2024-01-01T00:00:00|2024-01-01T00:30:00|cpu=16,gres/gpu=2,node=1|\n\
         4|alpha|big|b|u2|2024-01-01T00:00:00|2024-01-01T02:00:00|cpu=8,node=1|7200000\n\
         5|beta|x|a|u1|2024-01-01T00:00:00|2024-01-01T01:00:00|cpu=2,gres/gpu:v100=1,node=1|\n",
    );
    let s1 = summary(&import_ok(
        &data,
        "sacct",
        &[&dump],
        &[est[0], est[1], "--time-zone", "UTC"],
    ));
    assert_eq!((s1.inserted, s1.rejected), (5, 0));
    // alpha: 12 W per core, 50 g/kWh.
    want.insert(
        ("alpha", "1"),
        estimated(kwh(4.0, 3600.0, 12.0), None, 50.0),
    );
    // A ConsumedEnergyRaw of 0 is no measurement; partition big: 20 W per core.
    want.insert(
        ("alpha", "2"),
        estimated(kwh(8.0, 7200.0, 20.0), None, 50.0),
    );
    // Partition gpu: 400 W per GPU and 20 g/kWh; cores at the cluster's 12 W.
    want.insert(
        ("alpha", "3"),
        estimated(kwh(16.0, 1800.0, 12.0), Some(kwh(2.0, 1800.0, 400.0)), 20.0),
    );
    // Measured: 7.2 MJ = 2 kWh, kept as it is.
    want.insert(("alpha", "4"), measured(7_200_000.0 / 3.6e6));
    // beta: the defaults, 10 W per core, 300 W per GPU, 100 g/kWh.
    want.insert(
        ("beta", "5"),
        estimated(kwh(2.0, 3600.0, 10.0), Some(kwh(1.0, 3600.0, 300.0)), 100.0),
    );

    // SWF: partitions named in the header.
    let log = dir.path().join("small.swf");
    write(
        &log,
        "; UnixStartTime: 1700000000\n\
         ; TimeZoneString: UTC\n\
         ; Partition: 1 big\n\
         ; Partition: 2 small\n\
         1 0 10 3600 10 -1 -1 10 7200 -1 1 1 1 -1 -1 1 -1 -1\n\
         2 5 10 1800 4 -1 -1 4 7200 -1 1 2 1 -1 -1 2 -1 -1\n\
         3 9 0 0 -1 -1 -1 8 7200 -1 5 2 1 -1 -1 2 -1 -1\n",
    );
    let s2 = summary(&import_ok(
        &data,
        "swf",
        &[&log],
        &["--cluster-id", "swfc", est[0], est[1]],
    ));
    assert_eq!((s2.inserted, s2.rejected), (3, 0));
    // swfc: 5 W per core, big 7 W; the default factor.
    want.insert(
        ("swfc", "1"),
        estimated(kwh(10.0, 3600.0, 7.0), None, 100.0),
    );
    want.insert(("swfc", "2"), estimated(kwh(4.0, 1800.0, 5.0), None, 100.0));
    // No processors were allocated: nothing was drawn.
    want.insert(("swfc", "3"), estimated(0.0, None, 100.0));

    // NDJSON: a unit with measured energy keeps it; one without gets an estimate for its
    // partition tag.
    let export = dir.path().join("units.ndjson");
    write(
        &export,
        "{\"cluster_id\":\"alpha\",\"uuid\":\"n1\",\"project\":\"a\",\"username\":\"u1\",\
          \"started_at_ts\":1704067200000,\"ended_at_ts\":1704070800000,\
          \"allocation\":{\"cpus\":6,\"gpus\":0},\"tags\":{\"partition\":\"big\"},\
          \"total_time_seconds\":{\"walltime\":3600}}\n\
         {\"cluster_id\":\"alpha\",\"uuid\":\"n2\",\"project\":\"a\",\"username\":\"u1\",\
          \"started_at_ts\":1704067200000,\"ended_at_ts\":1704070800000,\
          \"allocation\":{\"cpus\":6,\"gpus\":0},\"tags\":{\"partition\":\"big\"},\
          \"total_time_seconds\":{\"walltime\":3600},\
          \"total_cpu_energy_usage_kwh\":{\"total\":1.25}}\n",
    );
    let s3 = summary(&import_ok(
        &data,
        "ndjson",
        &[&export],
        &[est[0], est[1], "--time-zone", "UTC"],
    ));
    assert_eq!((s3.inserted, s3.rejected), (2, 0));
    want.insert(
        ("alpha", "n1"),
        estimated(kwh(6.0, 3600.0, 20.0), None, 50.0),
    );
    want.insert(("alpha", "n2"), measured(1.25));

    let srv = Server::start(&data, Some(CONFIG), &[]);
    let units = admin_get(&srv, &format!("/api/v1/units/admin?{ALL}"));
    assert_eq!(units.len(), want.len());
    let mut per_project: BTreeMap<(String, String), f64> = BTreeMap::new();
    for u in &units {
        let (cluster, uuid) = (s(u, "cluster_id"), s(u, "uuid"));
        let w = want
            .get(&(cluster.as_str(), uuid.as_str()))
            .unwrap_or_else(|| panic!("unexpected unit {cluster}/{uuid}"));
        check(u, w, &format!("{cluster}/{uuid}"));
        *per_project
            .entry((cluster.clone(), s(u, "project")))
            .or_default() += w.cpu_kwh.unwrap_or(0.0);
    }

    // Dashboards see the sums per project.
    let rows = admin_get(
        &srv,
        "/api/v1/usage/global/admin?field=cluster_id&field=project&field=total_cpu_energy_usage_kwh",
    );
    let mut got: BTreeMap<(String, String), f64> = BTreeMap::new();
    for r in &rows {
        *got.entry((s(r, "cluster_id"), s(r, "project")))
            .or_default() += r["total_cpu_energy_usage_kwh"]["total"]
            .as_f64()
            .unwrap_or(0.0);
    }
    assert_eq!(got.len(), per_project.len(), "{got:?}");
    for (k, v) in &per_project {
        assert!(close(got[k], *v), "{k:?}: {} != {v}", got[k]);
    }
    assert!(srv.terminate());
}
