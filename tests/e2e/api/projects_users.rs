//! `/projects`, `/projects/admin`, `/users`, `/users/admin` and who is an admin (configured ∪
//! imported).

use std::collections::BTreeSet;

use serde_json::json;

use super::model::strings;
use super::{P, Suite, expect, expect_error, expect_rows, reference_model, reference_server};

const EMPTY: &str = "{\"status\":\"success\",\"data\":[]}\n";

#[test]
fn projects_and_users() {
    let srv = reference_server(&[]);
    let m = reference_model();
    let mut s = Suite::new("projects and users");
    let me = |u: &str| vec![u.to_string()];

    s.check("fixture project-query (usr1, project=acc1) reproduced literally", || {
        let r = srv.get(&format!("{P}/projects?project=acc1"), "usr1");
        expect(
            &r,
            200,
            concat!(
                r#"{"status":"success","data":[{"cluster_id":"slurm-0","resource_manager":"slurm","name":"acc1","users":["usr1","usr15","usr8"]},"#,
                r#"{"cluster_id":"slurm-1","resource_manager":"slurm","name":"acc1","users":["usr1","usr15","usr8"]}]}"#,
                "\n"
            ),
        );
    });
    s.check(
        "fixture project-empty-query (usr1, project=acc3) → data []",
        || {
            expect(
                &srv.get(&format!("{P}/projects?project=acc3"), "usr1"),
                200,
                EMPTY,
            );
        },
    );
    s.check(
        "/projects: the caller's projects by name on every cluster",
        || {
            expect_rows(
                &srv.get(&format!("{P}/projects"), "usr1"),
                m.projects_json(Some(&me("usr1")), None, None),
            );
            let r = srv.get(
                &format!("{P}/projects?cluster_id=slurm-1&project=acc2&project=acc1"),
                "usr2",
            );
            expect_rows(
                &r,
                m.projects_json(
                    Some(&me("usr2")),
                    Some(strings(&["acc2", "acc1"])),
                    Some(strings(&["slurm-1"])),
                ),
            );
            expect(&srv.get(&format!("{P}/projects"), "nobody"), 200, EMPTY);
        },
    );
    s.check(
        "/projects/admin: every project with members; user ignored",
        || {
            let all = m.projects_json(None, None, None);
            assert_eq!(all.len(), 10);
            expect_rows(
                &srv.get(&format!("{P}/projects/admin"), "adm1"),
                all.clone(),
            );
            expect_rows(
                &srv.get(&format!("{P}/projects/admin?user=usr1"), "adm1"),
                all,
            );
            let r = srv.get(
                &format!("{P}/projects/admin?project=acc3&cluster_id=slurm-0"),
                "grafana",
            );
            expect_rows(
                &r,
                m.projects_json(None, Some(strings(&["acc3"])), Some(strings(&["slurm-0"]))),
            );
        },
    );
    s.check("/users: the caller's rows per cluster", || {
        let r = srv.get(&format!("{P}/users"), "usr1");
        expect_rows(&r, m.users_json(Some(me("usr1")), None));
        expect(
            &r,
            200,
            concat!(
                r#"{"status":"success","data":[{"cluster_id":"slurm-0","resource_manager":"slurm","name":"usr1","projects":["acc1","acc2"]},"#,
                r#"{"cluster_id":"slurm-1","resource_manager":"slurm","name":"usr1","projects":["acc1","acc2"]}]}"#,
                "\n"
            ),
        );
        let r = srv.get(&format!("{P}/users?cluster_id=slurm-1&user=usr2"), "usr1");
        expect_rows(&r, m.users_json(Some(me("usr1")), Some(strings(&["slurm-1"]))));
        expect(&srv.get(&format!("{P}/users"), "nobody"), 200, EMPTY);
    });
    s.check("/users/admin: all users or the given ones", || {
        expect_rows(
            &srv.get(&format!("{P}/users/admin"), "adm1"),
            m.users_json(None, None),
        );
        let r = srv.get(
            &format!("{P}/users/admin?user=usr2&user=usr15&cluster_id=slurm-0"),
            "admin",
        );
        expect_rows(
            &r,
            m.users_json(
                Some(strings(&["usr2", "usr15"])),
                Some(strings(&["slurm-0"])),
            ),
        );
    });
    s.check(
        "/users/admin?role=admin: configured and imported admins, other parameters ignored",
        || {
            for q in [
                "role=admin",
                "role=admin&user=usr1&cluster_id=slurm-0",
                "role=user&role=admin",
            ] {
                let r = srv.get(&format!("{P}/users/admin?{q}"), "adm1");
                assert_eq!(r.status, 200, "{}", r.text());
                let data = r.json()["data"].as_array().cloned().unwrap_or_default();
                // The imported admins come in the order of the database's admin_users rows
                // (the original has no ORDER BY there), before the configured ones.
                let listed: Vec<&str> =
                    data.iter().filter_map(|row| row["name"].as_str()).collect();
                assert_eq!(&listed[..m.admins.len()], m.admins.as_slice(), "{q}: order");
                let mut names = BTreeSet::new();
                for row in &data {
                    let name = row["name"].as_str().unwrap_or_default().to_string();
                    assert_eq!(
                        row,
                        &json!({"cluster_id": "all", "name": name, "tags": ["ceems"]}),
                        "row shape"
                    );
                    names.insert(name);
                }
                // The original also lists its internal service account when admins are configured.
                names.remove("ceems-int-svc");
                let mut want: BTreeSet<String> = m.admins.iter().cloned().collect();
                want.insert("adm1".into());
                assert_eq!(names, want, "{q}");
                let t = r.text();
                assert!(
                    t.contains(r#"{"cluster_id":"all","name":"adm1","tags":["ceems"]}"#),
                    "{t}"
                );
            }
            let r = srv.get(&format!("{P}/users/admin?role=user"), "adm1");
            expect_rows(&r, m.users_json(None, None));
        },
    );
    s.check(
        "admins: configured (adm1) and imported (grafana, admin) pass, others 403",
        || {
            assert_eq!(m.admins, ["grafana", "admin"]);
            for admin in ["adm1", "grafana", "admin"] {
                let r = srv.get(&format!("{P}/clusters/admin"), admin);
                expect_rows(&r, m.clusters_json());
            }
            for user in ["usr1", "Grafana", "adm", "adm1 x"] {
                let r = srv.get(&format!("{P}/projects/admin"), user);
                expect_error(
                    &r,
                    403,
                    "forbidden",
                    "current user does not have admin privileges",
                );
            }
        },
    );
    s.check("fixture admin-denied-query (usr1 on /units/admin) reproduced literally", || {
        let r = srv.get(&format!("{P}/units/admin"), "usr1");
        expect(
            &r,
            403,
            "{\"status\":\"error\",\"data\":null,\"errorType\":\"forbidden\",\"error\":\"current user does not have admin privileges\"}\n",
        );
    });
    s.check(
        "admins get only their own rows on non-admin endpoints",
        || {
            expect(
                &srv.get(&format!("{P}/units?from=1600000000&to=1800000000"), "adm1"),
                200,
                EMPTY,
            );
            expect(&srv.get(&format!("{P}/projects"), "grafana"), 200, EMPTY);
        },
    );
    s.finish();
}
