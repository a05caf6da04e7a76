//! `--estimate-energy FILE`: estimated energy and emissions for units that carry no measured
//! energy (historic accounting data predates any energy monitoring).
//!
//! The estimate is the allocation times the run time times a configured power: watts per
//! allocated CPU core and per allocated GPU, per cluster and optionally per partition, falling
//! back to a default. Emissions are the estimated energy times a configured factor in g/kWh.
//! Estimated units get the tag `"energy_source": "estimated"` so dashboards can tell them from
//! measured ones. See `data/energy-estimate.example.yml` for the file format.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ingest::builder::UnitsBuilder;
use crate::schema::{self, METRIC_MAPS};

/// Power figures of one level (default, cluster or partition); unset fields fall back to the
/// level above.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Power {
    /// Average power drawn per allocated CPU core, in watts.
    pub cpu_watts_per_core: Option<f64>,
    /// Average power drawn per allocated GPU, in watts.
    pub gpu_watts_per_gpu: Option<f64>,
    /// Carbon intensity of the electricity, in grams of CO2-equivalent per kWh.
    pub emission_factor_g_per_kwh: Option<f64>,
}

/// A cluster's figures and its partitions' overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterPower {
    pub cpu_watts_per_core: Option<f64>,
    pub gpu_watts_per_gpu: Option<f64>,
    pub emission_factor_g_per_kwh: Option<f64>,
    #[serde(default)]
    pub partitions: BTreeMap<String, Power>,
}

fn default_energy_key() -> String {
    "total".into()
}

fn default_emissions_key() -> String {
    "estimated_total".into()
}

/// The whole estimate configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyModel {
    /// Key of the estimate in `total_cpu_energy_usage_kwh` / `total_gpu_energy_usage_kwh`.
    #[serde(default = "default_energy_key")]
    pub energy_key: String,
    /// Key of the estimate in `total_cpu_emissions_gms` / `total_gpu_emissions_gms`.
    #[serde(default = "default_emissions_key")]
    pub emissions_key: String,
    /// Figures for clusters (and fields) not configured below.
    #[serde(default)]
    pub default: Power,
    /// Per cluster id.
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterPower>,
}

/// Estimated values of one unit (`None`: not estimated).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Estimate {
    pub cpu_kwh: Option<f64>,
    pub gpu_kwh: Option<f64>,
    pub cpu_gms: Option<f64>,
    pub gpu_gms: Option<f64>,
}

impl Estimate {
    /// Whether anything was estimated.
    pub fn any(&self) -> bool {
        self.cpu_kwh.is_some() || self.gpu_kwh.is_some()
    }
}

const J_PER_KWH: f64 = 3.6e6;

fn check(v: Option<f64>, what: &str) -> Result<()> {
    match v {
        Some(x) if !x.is_finite() || x < 0.0 => Err(Error::InvalidArgument(format!(
            "energy estimate: {what} must be a finite number >= 0, got {x}"
        ))),
        _ => Ok(()),
    }
}

impl EnergyModel {
    /// Parses and validates the YAML text of an estimate file.
    pub fn from_yaml(text: &str) -> Result<EnergyModel> {
        let m: EnergyModel = serde_yaml::from_str(text)
            .map_err(|e| Error::InvalidArgument(format!("energy estimate file: {e}")))?;
        m.validate()?;
        Ok(m)
    }

    /// Reads and validates an estimate file.
    pub fn from_file(path: &std::path::Path) -> Result<EnergyModel> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Self::from_yaml(&text)
            .map_err(|e| Error::InvalidArgument(format!("{}: {e}", path.display())))
    }

    fn validate(&self) -> Result<()> {
        for (what, k) in [
            ("energy_key", &self.energy_key),
            ("emissions_key", &self.emissions_key),
        ] {
            if !schema::is_flat_key(k) {
                return Err(Error::InvalidArgument(format!(
                    "energy estimate: {what} {k:?} must be a lower-case identifier (letters, digits, _)"
                )));
            }
        }
        let p = |w: &Power, at: &str| -> Result<()> {
            check(w.cpu_watts_per_core, &format!("{at}.cpu_watts_per_core"))?;
            check(w.gpu_watts_per_gpu, &format!("{at}.gpu_watts_per_gpu"))?;
            check(
                w.emission_factor_g_per_kwh,
                &format!("{at}.emission_factor_g_per_kwh"),
            )
        };
        p(&self.default, "default")?;
        for (name, c) in &self.clusters {
            p(
                &Power {
                    cpu_watts_per_core: c.cpu_watts_per_core,
                    gpu_watts_per_gpu: c.gpu_watts_per_gpu,
                    emission_factor_g_per_kwh: c.emission_factor_g_per_kwh,
                },
                &format!("clusters.{name}"),
            )?;
            for (part, w) in &c.partitions {
                p(w, &format!("clusters.{name}.partitions.{part}"))?;
            }
        }
        Ok(())
    }

    /// A stable description (part of the source fingerprint: other figures, other data).
    pub fn describe(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The figures that apply to a unit of `cluster` in `partition`.
    pub fn power_for(&self, cluster: &str, partition: &str) -> Power {
        let mut p = self.default.clone();
        if let Some(c) = self.clusters.get(cluster) {
            let over = |dst: &mut Option<f64>, src: Option<f64>| {
                if src.is_some() {
                    *dst = src;
                }
            };
            over(&mut p.cpu_watts_per_core, c.cpu_watts_per_core);
            over(&mut p.gpu_watts_per_gpu, c.gpu_watts_per_gpu);
            over(
                &mut p.emission_factor_g_per_kwh,
                c.emission_factor_g_per_kwh,
            );
            if let Some(w) = c.partitions.get(partition) {
                over(&mut p.cpu_watts_per_core, w.cpu_watts_per_core);
                over(&mut p.gpu_watts_per_gpu, w.gpu_watts_per_gpu);
                over(
                    &mut p.emission_factor_g_per_kwh,
                    w.emission_factor_g_per_kwh,
                );
            }
        }
        p
    }

    /// The estimate for `cpus` cores and `gpus` GPUs allocated for `walltime_s` seconds.
    pub fn estimate(
        &self,
        cluster: &str,
        partition: &str,
        cpus: f64,
        gpus: f64,
        walltime_s: f64,
    ) -> Estimate {
        let p = self.power_for(cluster, partition);
        let t = walltime_s.max(0.0);
        let cpu_kwh = p
            .cpu_watts_per_core
            .map(|w| cpus.max(0.0) * t * w / J_PER_KWH);
        let gpu_kwh = if gpus > 0.0 {
            p.gpu_watts_per_gpu.map(|w| gpus * t * w / J_PER_KWH)
        } else {
            None
        };
        let f = p.emission_factor_g_per_kwh;
        Estimate {
            cpu_kwh,
            gpu_kwh,
            cpu_gms: f.and_then(|f| cpu_kwh.map(|e| e * f)),
            gpu_gms: f.and_then(|f| gpu_kwh.map(|e| e * f)),
        }
    }

    /// Stages the estimated values as metric entries of the row being built.
    pub fn stage(&self, b: &mut UnitsBuilder, e: &Estimate) {
        let idx = |name: &str| METRIC_MAPS.iter().position(|m| *m == name).unwrap_or(0);
        for (map, key, v) in [
            ("total_cpu_energy_usage_kwh", &self.energy_key, e.cpu_kwh),
            ("total_cpu_emissions_gms", &self.emissions_key, e.cpu_gms),
            ("total_gpu_energy_usage_kwh", &self.energy_key, e.gpu_kwh),
            ("total_gpu_emissions_gms", &self.emissions_key, e.gpu_gms),
        ] {
            if let Some(v) = v {
                b.stage_metric(idx(map), key, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_resolves() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data/energy-estimate.example.yml");
        let m = EnergyModel::from_file(&path).expect("example estimate file");
        // Every cluster of the example resolves to a CPU figure.
        assert!(!m.clusters.is_empty());
        for name in m.clusters.keys() {
            assert!(m.power_for(name, "").cpu_watts_per_core.is_some(), "{name}");
        }
        assert!(schema::is_flat_key(&m.energy_key));
    }

    #[test]
    fn levels_fall_back_and_numbers_add_up() {
        let m = EnergyModel::from_yaml(
            "default: {cpu_watts_per_core: 10, emission_factor_g_per_kwh: 100}\n\
             clusters:\n  c1:\n    gpu_watts_per_gpu: 300\n    partitions:\n      big: {cpu_watts_per_core: 20}\n",
        )
        .unwrap();
        // 4 cores × 1 h × 10 W = 0.04 kWh; × 100 g/kWh = 4 g.
        let e = m.estimate("other", "x", 4.0, 2.0, 3600.0);
        assert_eq!(e.cpu_kwh, Some(0.04));
        assert_eq!(e.gpu_kwh, None, "no GPU figure outside c1");
        assert!((e.cpu_gms.unwrap() - 4.0).abs() < 1e-12);
        let e = m.estimate("c1", "big", 4.0, 2.0, 3600.0);
        assert_eq!(e.cpu_kwh, Some(0.08));
        assert_eq!(e.gpu_kwh, Some(0.6));
        assert!((e.gpu_gms.unwrap() - 60.0).abs() < 1e-9);
        let e = m.estimate("c1", "small", 4.0, 0.0, 3600.0);
        assert_eq!(e.cpu_kwh, Some(0.04));
        assert_eq!(e.gpu_kwh, None, "no GPUs allocated");
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(EnergyModel::from_yaml("default: {cpu_watts_per_core: -1}").is_err());
        assert!(EnergyModel::from_yaml("defaults: {}").is_err());
        assert!(EnergyModel::from_yaml("energy_key: Total").is_err());
        assert!(EnergyModel::from_yaml("clusters: {a: {partitions: {p: {watts: 3}}}}").is_err());
    }
}
