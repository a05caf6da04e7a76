//! The population behind the synthetic units: clusters, their projects and their users.
//!
//! Sizes grow with the number of units (about `2·√n` users per cluster, a quarter as many
//! projects). Activity is heavy-tailed the way accounting data is: users are drawn with
//! Zipf weights (a few users submit most units) and each user's primary project is drawn with
//! Zipf weights too (a few projects have most users). The same people and project names recur
//! across clusters of one kind, as they do on real sites.

use rand::Rng;
use rand::rngs::StdRng;

use super::format::hex_id;

/// The resource manager of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Manager {
    Slurm,
    Openstack,
    K8s,
}

impl Manager {
    /// The `resource_manager` column value.
    pub(super) fn name(self) -> &'static str {
        match self {
            Manager::Slurm => "slurm",
            Manager::Openstack => "openstack",
            Manager::K8s => "k8s",
        }
    }

    fn cluster_prefix(self) -> &'static str {
        match self {
            Manager::Slurm => "slurm",
            Manager::Openstack => "os",
            Manager::K8s => "k8s",
        }
    }

    /// Cluster `i` runs manager `i mod 3`: `slurm-0`, `os-0`, `k8s-0`, `slurm-1`, …
    fn of_cluster(i: u32) -> Manager {
        match i % 3 {
            0 => Manager::Slurm,
            1 => Manager::Openstack,
            _ => Manager::K8s,
        }
    }

    /// Relative number of units: batch jobs outnumber pods, which outnumber VMs.
    fn unit_weight(self) -> f64 {
        match self {
            Manager::Slurm => 1.0,
            Manager::Openstack => 0.25,
            Manager::K8s => 0.5,
        }
    }
}

/// One user of one cluster.
#[derive(Debug)]
pub(super) struct User {
    pub(super) name: String,
    /// Keystone user id (OpenStack), else empty.
    pub(super) uid: String,
    pub(super) unix_uid: u32,
    /// Primary unix group (SLURM `groupname`).
    pub(super) group: String,
    pub(super) gid: u32,
    /// Projects the user may submit to; the first is the primary one. At most 8.
    pub(super) projects: Vec<u32>,
    /// Bit `i` is set once a unit was emitted for `projects[i]`.
    pub(super) used: u8,
    /// Share of the user's units that use GPUs.
    pub(super) gpu_affinity: f64,
    /// Typical CPU and GPU utilisation (percent) of the user's units.
    pub(super) cpu_efficiency: f64,
    pub(super) gpu_efficiency: f64,
}

/// One project (SLURM account, OpenStack tenant, k8s namespace) of one cluster.
#[derive(Debug)]
pub(super) struct Project {
    pub(super) name: String,
    /// Keystone project id (OpenStack), else empty.
    pub(super) uid: String,
    /// Index in [`DOMAINS`]; also names the unix group of its members.
    pub(super) domain: usize,
    /// The namespace's service-account user (k8s only), index in [`Cluster::users`].
    pub(super) service_user: Option<u32>,
}

/// One cluster with its population.
#[derive(Debug)]
pub(super) struct Cluster {
    pub(super) id: String,
    pub(super) manager: Manager,
    /// People first (`users[..people]`), then k8s service accounts.
    pub(super) users: Vec<User>,
    pub(super) projects: Vec<Project>,
    /// Cumulative Zipf weights over `users[..people]`.
    pub(super) user_cdf: Vec<f64>,
    /// Cumulative Zipf weights over `projects`.
    pub(super) project_cdf: Vec<f64>,
    /// Next SLURM job id (increasing).
    pub(super) next_job_id: u64,
    /// Whether the cluster collects network statistics (eBPF) for its units.
    pub(super) network_monitoring: bool,
}

/// All clusters and how units are spread over them.
#[derive(Debug)]
pub(super) struct Population {
    pub(super) clusters: Vec<Cluster>,
    pub(super) cluster_cdf: Vec<f64>,
}

const SURNAMES: [&str; 64] = [
    "martin",
    "bernard",
    "dubois",
    "thomas",
    "robert",
    "richard",
    "petit",
    "durand",
    "leroy",
    "moreau",
    "simon",
    "laurent",
    "lefebvre",
    "michel",
    "garcia",
    "david",
    "bertrand",
    "roux",
    "vincent",
    "fournier",
    "morel",
    "girard",
    "mercier",
    "dupont",
    "lambert",
    "bonnet",
    "legrand",
    "garnier",
    "faure",
    "rousseau",
    "blanc",
    "guerin",
    "muller",
    "henry",
    "perrin",
    "morin",
    "mathieu",
    "clement",
    "gauthier",
    "fontaine",
    "chevalier",
    "robin",
    "masson",
    "nguyen",
    "smith",
    "jones",
    "brown",
    "wilson",
    "taylor",
    "schmidt",
    "schneider",
    "fischer",
    "weber",
    "rossi",
    "russo",
    "ferrari",
    "kumar",
    "singh",
    "wang",
    "zhang",
    "tanaka",
    "suzuki",
    "novak",
    "kowalski",
];

const INITIALS: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

/// Research domains; project names and unix groups derive from them.
pub(super) const DOMAINS: [&str; 32] = [
    "astro",
    "bioinfo",
    "chem",
    "climate",
    "cfd",
    "genomics",
    "hep",
    "ml",
    "nlp",
    "materials",
    "neuro",
    "fusion",
    "seismo",
    "ocean",
    "quantum",
    "optics",
    "robotics",
    "vision",
    "epidem",
    "finance",
    "linguist",
    "mathphys",
    "nuclear",
    "plasma",
    "polymer",
    "proteomics",
    "geo",
    "hydro",
    "aero",
    "energy",
    "cosmo",
    "imaging",
];

const NAMESPACE_ENVS: [&str; 4] = ["dev", "prod", "staging", "ci"];

/// The `i`-th person of the global name pool: `jdupont`, …, then `jdupont2`, …
fn person_name(i: u32) -> String {
    let n = SURNAMES.len() as u32;
    let surname = SURNAMES[(i % n) as usize];
    let initial = char::from(INITIALS[((i / n) % 26) as usize]);
    let round = i / (n * 26);
    if round == 0 {
        format!("{initial}{surname}")
    } else {
        format!("{initial}{surname}{}", round + 1)
    }
}

/// The `i`-th project name of the pool of a manager.
fn project_name(manager: Manager, i: u32) -> String {
    let d = DOMAINS.len() as u32;
    let domain = DOMAINS[(i % d) as usize];
    match manager {
        Manager::Slurm => format!("{domain}{:03}", i / d + 1),
        Manager::Openstack => format!("{domain}-{}", i / d + 1),
        Manager::K8s => {
            let env = NAMESPACE_ENVS[((i / d) % 4) as usize];
            match i / (d * 4) {
                0 => format!("{domain}-{env}"),
                k => format!("{domain}-{env}-{}", k + 1),
            }
        }
    }
}

/// Cumulative, normalised Zipf weights `1/(k+1)^s` for `n` ranks.
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (0..n)
        .map(|k| {
            acc += 1.0 / ((k + 1) as f64).powf(s);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

/// Index drawn from a cumulative distribution.
pub(super) fn sample_cdf(cdf: &[f64], rng: &mut StdRng) -> usize {
    let u: f64 = rng.random();
    cdf.partition_point(|&c| c <= u).min(cdf.len() - 1)
}

/// `n` distinct indices from `0..pool`, in random order (partial Fisher–Yates).
fn distinct_indices(rng: &mut StdRng, pool: u32, n: usize) -> Vec<u32> {
    let mut all: Vec<u32> = (0..pool).collect();
    for k in 0..n {
        let j = rng.random_range(k..all.len());
        all.swap(k, j);
    }
    all.truncate(n);
    all
}

impl Population {
    /// Builds `clusters` clusters sized for `units` units in total.
    pub(super) fn new(rng: &mut StdRng, clusters: u32, units: u64) -> Population {
        let managers: Vec<Manager> = (0..clusters).map(Manager::of_cluster).collect();
        let weights: Vec<f64> = managers
            .iter()
            .map(|m| m.unit_weight() * rng.random_range(0.6..1.4))
            .collect();
        let total_weight: f64 = weights.iter().sum();
        let sizes: Vec<(usize, usize)> = weights
            .iter()
            .map(|w| {
                let expected = units as f64 * w / total_weight;
                let people = (2.0 * expected.sqrt()).round().clamp(3.0, 20_000.0) as usize;
                (people, (people / 4).clamp(2, 5_000))
            })
            .collect();
        // Pools twice the largest cluster, so clusters share some but not all names.
        let person_pool = (sizes.iter().map(|s| s.0).max().unwrap_or(3) * 2) as u32;
        let project_pool = (sizes.iter().map(|s| s.1).max().unwrap_or(2) * 2) as u32;

        let mut per_kind = [0u32; 3];
        let clusters: Vec<Cluster> = managers
            .iter()
            .zip(&sizes)
            .map(|(&manager, &(people, projects))| {
                let kind = manager as usize;
                let id = format!("{}-{}", manager.cluster_prefix(), per_kind[kind]);
                per_kind[kind] += 1;
                build_cluster(
                    rng,
                    id,
                    manager,
                    people,
                    projects,
                    person_pool,
                    project_pool,
                )
            })
            .collect();
        let mut acc = 0.0;
        let cluster_cdf = weights
            .iter()
            .map(|w| {
                acc += w / total_weight;
                acc
            })
            .collect();
        Population {
            clusters,
            cluster_cdf,
        }
    }
}

fn build_cluster(
    rng: &mut StdRng,
    id: String,
    manager: Manager,
    people: usize,
    n_projects: usize,
    person_pool: u32,
    project_pool: u32,
) -> Cluster {
    let mut projects: Vec<Project> = distinct_indices(rng, project_pool, n_projects)
        .into_iter()
        .map(|i| Project {
            name: project_name(manager, i),
            uid: if manager == Manager::Openstack {
                hex_id(rng.random(), rng.random())
            } else {
                String::new()
            },
            domain: i as usize % DOMAINS.len(),
            service_user: None,
        })
        .collect();
    let project_cdf = zipf_cdf(n_projects, 1.0);

    let mut users: Vec<User> = distinct_indices(rng, person_pool, people)
        .into_iter()
        .map(|i| {
            let primary = sample_cdf(&project_cdf, rng) as u32;
            let mut assoc = vec![primary];
            let extras = match rng.random::<f64>() {
                r if r < 0.08 => 2,
                r if r < 0.30 => 1,
                _ => 0,
            };
            for _ in 0..extras {
                // A few tries: small clusters may not have another project to offer.
                for _ in 0..8 {
                    let p = sample_cdf(&project_cdf, rng) as u32;
                    if !assoc.contains(&p) {
                        assoc.push(p);
                        break;
                    }
                }
            }
            let domain = projects[primary as usize].domain;
            // 30% of people are GPU users; the rest rarely touch a GPU.
            let gpu_affinity = if rng.random_bool(0.3) {
                rng.random_range(0.75..0.98)
            } else {
                rng.random_range(0.0..0.08)
            };
            User {
                name: person_name(i),
                uid: if manager == Manager::Openstack {
                    hex_id(rng.random(), rng.random())
                } else {
                    String::new()
                },
                unix_uid: 10_000 + i,
                group: DOMAINS[domain].to_string(),
                gid: 20_000 + domain as u32,
                projects: assoc,
                used: 0,
                gpu_affinity,
                cpu_efficiency: 15.0 + 80.0 * (rng.random::<f64>() + rng.random::<f64>()) / 2.0,
                gpu_efficiency: 10.0 + 85.0 * (rng.random::<f64>() + rng.random::<f64>()) / 2.0,
            }
        })
        .collect();

    if manager == Manager::K8s {
        // Pods without a `ceems.io/created-by` annotation are accounted to `<namespace>:svc`.
        for (p, project) in projects.iter_mut().enumerate() {
            project.service_user = Some(users.len() as u32);
            users.push(User {
                name: format!("{}:svc", project.name),
                uid: String::new(),
                unix_uid: 0,
                group: String::new(),
                gid: 0,
                projects: vec![p as u32],
                used: 0,
                gpu_affinity: 0.02,
                cpu_efficiency: rng.random_range(5.0..60.0),
                gpu_efficiency: rng.random_range(10.0..60.0),
            });
        }
    }

    Cluster {
        network_monitoring: manager != Manager::Slurm || id.ends_with(['0', '2', '4', '6', '8']),
        id,
        manager,
        users,
        projects,
        user_cdf: zipf_cdf(people, 1.0),
        project_cdf,
        next_job_id: rng.random_range(100_000..3_000_000),
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn names_are_unique_in_their_pools() {
        let people: std::collections::HashSet<String> = (0..5_000).map(person_name).collect();
        assert_eq!(people.len(), 5_000);
        for m in [Manager::Slurm, Manager::Openstack, Manager::K8s] {
            let projects: std::collections::HashSet<String> =
                (0..2_000).map(|i| project_name(m, i)).collect();
            assert_eq!(projects.len(), 2_000);
        }
    }

    #[test]
    fn clusters_cycle_managers() {
        let mut rng = StdRng::seed_from_u64(1);
        let pop = Population::new(&mut rng, 5, 1_000);
        let ids: Vec<&str> = pop.clusters.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["slurm-0", "os-0", "k8s-0", "slurm-1", "os-1"]);
        assert!((pop.cluster_cdf.last().unwrap() - 1.0).abs() < 1e-9);
    }
}
