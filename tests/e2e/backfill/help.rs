//! `import <format> --help` reads well: what the command does, its own flags first (with the
//! ones every importer shares), the global flags apart under their own heading, and no line
//! wider than the wrapped width.

use ceems_lake_tests::bin;

fn help(args: &[&str]) -> String {
    let out = std::process::Command::new(bin())
        .args(args)
        .env_remove("CEEMS_LAKE_DATA")
        .env("COLUMNS", "100")
        .output()
        .expect("run ceems-lake");
    assert!(out.status.success(), "{args:?}: {}", out.status);
    String::from_utf8(out.stdout).expect("utf-8 help")
}

#[test]
fn import_help_texts() {
    let overview = help(&["import", "--help"]);
    for cmd in ["ceems-sqlite", "sacct", "swf", "ndjson", "parquet"] {
        assert!(
            overview.contains(&format!("\n  {cmd} ")),
            "`import --help` does not list {cmd}:\n{overview}"
        );
    }

    let shared = [
        "--batch-size <BATCH_SIZE>",
        "--time-zone <TIME_ZONE>",
        "--rejects <FILE>",
        "--no-progress",
    ];
    let own: [(&str, &[&str]); 5] = [
        ("ceems-sqlite", &["<FILE>", "CEEMS SQLite"]),
        (
            "sacct",
            &[
                "--cluster-id <CLUSTER_ID>",
                "--fields <FIELDS>",
                "--header-file <FILE>",
                "--estimate-energy <FILE>",
                "job steps are skipped",
                "gzip/xz/zstd",
            ],
        ),
        (
            "swf",
            &[
                "--cluster-id <CLUSTER_ID>",
                "--unix-start-time",
                "TimeZoneString",
                "--estimate-energy <FILE>",
                "rejected",
            ],
        ),
        ("ndjson", &["--cluster-id <CLUSTER_ID>", "/api/v1/units"]),
        (
            "parquet",
            &["--cluster-id <CLUSTER_ID>", "--format parquet"],
        ),
    ];
    for (cmd, words) in own {
        let text = help(&["import", cmd, "--help"]);
        let ctx = format!("import {cmd} --help:\n{text}");
        assert!(
            !text.starts_with("Usage"),
            "{ctx}\nshould start with a description"
        );
        assert!(
            text.contains(&format!("Usage: ceems-lake import {cmd} ")),
            "{ctx}"
        );
        let global = text
            .find("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("{ctx}\nhas no Global options heading"));
        let (own_part, global_part) = text.split_at(global);
        for w in words.iter().chain(shared.iter()) {
            assert!(
                own_part.contains(w),
                "{ctx}\nlacks {w:?} before the global options"
            );
        }
        for g in ["--data <DATA>", "--log.level", "--log.format"] {
            assert!(
                !own_part.contains(g),
                "{ctx}\n{g} is mixed into the command's flags"
            );
            assert!(global_part.contains(g), "{ctx}\nlacks {g}");
        }
        for line in text.lines() {
            assert!(
                line.chars().count() <= 100,
                "{ctx}\nline too wide: {line:?}"
            );
        }
    }
}
