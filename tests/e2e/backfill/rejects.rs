//! The rejects file: every line that is not imported is listed with its file, line number,
//! field, value and reason, in a sacct dump, an SWF log, an NDJSON export and a Parquet file
//! full of broken lines; the good lines around them are imported, the command succeeds, and
//! imported + rejected + skipped is every data line. Without `--rejects` the same list goes
//! to standard error.

use std::collections::BTreeSet;
use std::path::Path;

use ceems_lake_tests::{lake_ok, sql_csv};

use super::{import, import_ok, read_rejects, scratch, summary, utf8, write};

/// An expected reject: line, field, value, and a phrase of the reason.
type Want<'a> = (u64, &'a str, &'a str, &'a str);

fn check(rejects_file: &Path, input: &Path, want: &[Want<'_>]) {
    let got = read_rejects(rejects_file);
    let lines: Vec<u64> = got.iter().map(|r| r.line).collect();
    let want_lines: Vec<u64> = want.iter().map(|w| w.0).collect();
    assert_eq!(lines, want_lines, "{}: rejected lines", input.display());
    for (r, (line, field, value, reason)) in got.iter().zip(want) {
        let ctx = format!("{} line {line}: {r:?}", input.display());
        assert_eq!(r.file, utf8(input), "{ctx}");
        assert_eq!(r.field, *field, "{ctx}");
        assert_eq!(r.value, *value, "{ctx}");
        assert!(
            r.reason.contains(reason),
            "{ctx}: reason should say {reason:?}"
        );
    }
}

/// The uuids stored for a cluster.
fn uuids(data: &Path, cluster: &str) -> BTreeSet<String> {
    sql_csv(data, "select cluster_id, uuid from units")
        .into_iter()
        .filter(|r| r[0] == cluster)
        .map(|r| r[1].clone())
        .collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

const SACCT: &str = "\
JobIDRaw|Cluster|Partition|Account|User|Submit|Start|End|State|AllocTRES|NodeList
1|sc|p|a|u|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|cpu=1|n1
2|sc|p|a|u|yesterday|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|cpu=1|n1
3|sc|p|a|u|2024-01-01T00:00:00|2024-02-30T00:00:00|2024-03-01T01:00:00|COMPLETED|cpu=1|n1
4|sc|p|a|u|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00+2|COMPLETED|cpu=1|n1
5|sc|p|a|u|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|cpu=x,node=1|n1
6|sc|p|a|u|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|cpu=1,mem=12X|n1
7|sc|p|a|u|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|cpu=1|n[3-1]
8|sc|p|a|u|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|cpu=1|n1|extra
|sc|p|a|u|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|cpu=1|n1
10||p|a|u|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|cpu=1|n1
11.extern|sc|p|a|u|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|cpu=1|n1

12|sc|p|a|u|2024-01-01T00:00:00|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|cpu=1|n[1-2]
";

const SWF: &str = "\
; UnixStartTime: 1700000000
1 0 10 3600 4 -1 -1 4 7200 -1 1 1 1 -1 -1 -1 -1 -1
2 0 x 3600 4 -1 -1 4 7200 -1 1 1 1 -1 -1 -1 -1 -1
3 0 10 3600 4 -1 -1 4 7200 -1 1 1 1 -1 -1 -1 -1
4 0 10 3600 4 -1 -1 4 7200 -1 1 1 1 -1 -1 -1 -1 -1 7
5 0 10 3600 4 -1 -1 4 7200 -1 9 1 1 -1 -1 -1 -1 -1
6 -1 10 3600 4 -1 -1 4 7200 -1 1 1 1 -1 -1 -1 -1 -1
7 0 10 -1 4 -1 -1 4 7200 -1 0 1 1 -1 -1 -1 -1 -1
-8 0 10 3600 4 -1 -1 4 7200 -1 1 1 1 -1 -1 -1 -1 -1
9 0 10 3600 4 abc -1 4 7200 -1 1 1 1 -1 -1 -1 -1 -1
10 20 0 60 1 30.5 -1 1 60 -1 1 2 1 -1 -1 -1 -1 -1
11 9007199254740991 0 100 4 -1 -1 4 53940 -1 1 12 12 -1 -1 -1 -1 -1
12 0 5 100 100000000000000000 -1 -1 4 53940 -1 1 12 12 -1 -1 -1 -1 -1
13 0 -5 100 4 -1 -1 4 53940 -1 1 12 12 -1 -1 -1 -1 -1
";

const NDJSON: &str = r#"{"cluster_id":"nd","uuid":"a","started_at_ts":1700000000000}
not json
{"cluster_id":"nd"}
{"uuid":"b"}
{"cluster_id":"nd","uuid":"c","total_time_seconds":5}
{"cluster_id":"nd","uuid":"d","total_time_seconds":{"walltime":"abc"}}
{"cluster_id":"nd","uuid":"e","started_at":"soon"}
{"cluster_id":"nd","uuid":"f","ended_at":"2024-01-01T00:00:00Z"}
{"cluster_id":"nd","uuid":"g","ended_at_ts":-1}
{"cluster_id":"nd","uuid":"a","state":"COMPLETED"}
"#;

#[test]
fn every_line_not_imported_is_listed_with_its_reason() {
    let dir = scratch("rejects");
    let data = dir.path().join("lake");

    // sacct.
    let dump = dir.path().join("bad.sacct");
    write(&dump, SACCT);
    let rejects = dir.path().join("sacct.rejects");
    let s = summary(&import_ok(
        &data,
        "sacct",
        &[&dump],
        &["--time-zone", "UTC", "--rejects", utf8(&rejects)],
    ));
    // 12 data lines (the header and the blank line are not data).
    assert_eq!((s.read, s.inserted, s.rejected, s.skipped), (12, 2, 9, 1));
    let line8 = SACCT.lines().nth(8).unwrap();
    check(
        &rejects,
        &dump,
        &[
            (3, "submit", "yesterday", "not a time"),
            (4, "start", "2024-02-30T00:00:00", "invalid date"),
            (5, "end", "2024-01-01T01:00:00+2", "offset"),
            (6, "alloctres", "cpu=x,node=1", "not an integer"),
            (7, "alloctres", "cpu=1,mem=12X", "unknown unit"),
            (8, "nodelist", "n[3-1]", "backwards"),
            (9, "(line)", line8, "too many"),
            (10, "jobidraw", "", "empty job id"),
            (11, "cluster", "", "empty cluster"),
            (12, "jobidraw", "11.extern", "job step"),
        ],
    );
    assert_eq!(uuids(&data, "sc"), set(&["1", "12"]));

    // Without --rejects, the same list on standard error.
    let out = import(
        &dir.path().join("other"),
        "sacct",
        &[&dump],
        &["--time-zone", "UTC"],
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [3, 4, 5, 6, 7, 8, 9, 10, 11, 12] {
        let at = format!("rejected {} line {line}: field ", utf8(&dump));
        assert!(
            stderr.contains(&at),
            "{at:?} not on standard error:\n{stderr}"
        );
    }

    // SWF.
    let log = dir.path().join("bad.swf");
    write(&log, SWF);
    let rejects = dir.path().join("swf.rejects");
    let s = summary(&import_ok(
        &data,
        "swf",
        &[&log],
        &["--cluster-id", "sw", "--rejects", utf8(&rejects)],
    ));
    assert_eq!((s.read, s.inserted, s.rejected), (13, 2, 11));
    let line3 = SWF.lines().nth(3).unwrap();
    let line4 = SWF.lines().nth(4).unwrap();
    check(
        &rejects,
        &log,
        &[
            (3, "wait_time", "x", "not an integer"),
            (4, "(line)", line3, "found 17"),
            (5, "(line)", line4, "found more"),
            (6, "status", "9", "unknown status"),
            (7, "submit_time", "-1", "unknown"),
            (8, "run_time", "-1", "unknown"),
            (9, "job_number", "-8", "negative"),
            (10, "average_cpu_time", "abc", "not a number"),
            (
                12,
                "submit_time",
                "9007199254740991 + 0 + 100",
                "after the year 9999",
            ),
            (
                13,
                "allocated_processors",
                "100000000000000000",
                "out of range",
            ),
            (14, "wait_time", "-5", "negative"),
        ],
    );
    assert_eq!(uuids(&data, "sw"), set(&["1", "10"]));

    // NDJSON.
    let export = dir.path().join("bad.ndjson");
    write(&export, NDJSON);
    let rejects = dir.path().join("ndjson.rejects");
    let s = summary(&import_ok(
        &data,
        "ndjson",
        &[&export],
        &["--time-zone", "UTC", "--rejects", utf8(&rejects)],
    ));
    assert_eq!((s.read, s.inserted, s.rejected), (10, 2, 8));
    check(
        &rejects,
        &export,
        &[
            (2, "(line)", "not json", "not a unit object"),
            (3, "uuid", "", "missing"),
            (4, "cluster_id", "", "missing cluster_id"),
            (5, "total_time_seconds", "5", "object"),
            (6, "total_time_seconds", "\"abc\"", "not a number"),
            (7, "started_at", "soon", "not a time"),
            (9, "ended_at_ts", "-1", "milliseconds since 1970"),
            // No time at all (e.g. an export made with a field selection): it would become
            // a second unit "a" beside the one of line 1.
            (10, "created_at", "", "no creation, start or end time"),
        ],
    );
    assert_eq!(uuids(&data, "nd"), set(&["a", "f"]));
    assert_eq!(
        sql_csv(&data, "select count(*) from units where cluster_id = 'nd'")[0][0],
        "2"
    );

    // Parquet, written by `sql --format parquet`: rows are numbered from 1.
    let parquet = dir.path().join("bad.parquet");
    lake_ok(
        &data,
        &[
            "sql",
            "--format",
            "parquet",
            "--output",
            utf8(&parquet),
            "select * from (values ('pq', 'x', 1700000000000), ('pq', '', 1700000000000), \
             ('', 'y', 1700000000000), ('pq', 'z', 1700000000000), ('pq', 'w', NULL)) \
             as t(cluster_id, uuid, started_at_ts)",
        ],
    );
    let rejects = dir.path().join("parquet.rejects");
    let s = summary(&import_ok(
        &data,
        "parquet",
        &[&parquet],
        &["--time-zone", "UTC", "--rejects", utf8(&rejects)],
    ));
    assert_eq!((s.read, s.inserted, s.rejected), (5, 2, 3));
    check(
        &rejects,
        &parquet,
        &[
            (2, "uuid", "", "missing"),
            (3, "cluster_id", "", "missing cluster_id"),
            (5, "created_at", "", "no creation, start or end time"),
        ],
    );
    assert_eq!(uuids(&data, "pq"), set(&["x", "z"]));
}

/// Files saved by Windows tools: a UTF-8 byte order mark before the first line and CRLF line
/// ends. They import exactly like their plain versions, with nothing rejected.
#[test]
fn byte_order_marks_and_crlf_line_ends_are_accepted() {
    let dir = scratch("bom");
    let sacct = "JobIDRaw|Cluster|Account|User|Start|End|AllocTRES\n\
                 1|w|a|u|2024-01-01T00:00:00|2024-01-01T01:00:00|cpu=2\n\
                 2|w|a|v|2024-01-01T00:00:00|2024-01-01T03:00:00|cpu=4\n";
    let swf = "; UnixStartTime: 1700000000\n\
               ; Partition: 1 batch\n\
               1 0 10 3600 4 -1 -1 4 7200 -1 1 1 1 -1 -1 1 -1 -1\n\
               2 20 0 60 1 30.5 -1 1 60 -1 1 2 1 -1 -1 1 -1 -1\n";
    let ndjson = "{\"cluster_id\":\"n\",\"uuid\":\"a\",\"started_at_ts\":1700000000000}\n";
    for (kind, text, extra) in [
        ("sacct", sacct.to_string(), vec!["--time-zone", "UTC"]),
        ("swf", swf.to_string(), vec!["--cluster-id", "s"]),
        ("ndjson", ndjson.to_string(), vec!["--time-zone", "UTC"]),
    ] {
        let plain = dir.path().join(format!("plain.{kind}"));
        write(&plain, &text);
        let windows = dir.path().join(format!("windows.{kind}"));
        write(&windows, &format!("\u{feff}{}", text.replace('\n', "\r\n")));
        let a = dir.path().join(format!("lake-plain-{kind}"));
        let b = dir.path().join(format!("lake-windows-{kind}"));
        let sa = summary(&import_ok(&a, kind, &[&plain], &extra));
        let sb = summary(&import_ok(&b, kind, &[&windows], &extra));
        assert_eq!(sa.rejected, 0, "{kind}");
        assert!(sa.inserted > 0, "{kind}");
        assert_eq!(sb, sa, "{kind}: the Windows file imports differently");
        let q = "select * from units order by cluster_id, uuid";
        assert_eq!(
            lake_ok(&b, &["sql", "--format", "ndjson", q]),
            lake_ok(&a, &["sql", "--format", "ndjson", q]),
            "{kind}"
        );
    }
}

/// A file of which every row is rejected (here: a header-less dump read with the wrong field
/// list) makes the command fail, after the other files were imported, so scripts notice.
#[test]
fn a_file_that_gives_nothing_fails_the_command() {
    let dir = scratch("nothing");
    let data = dir.path().join("lake");
    let good = dir.path().join("good.log");
    write(
        &good,
        "JobIDRaw|Cluster|Account|User|Start|End|State|AllocTRES\n\
         1|c|p|u|2024-01-01T00:00:00|2024-01-01T01:00:00|COMPLETED|cpu=1\n",
    );
    let wrong = dir.path().join("wrong.log");
    // Three fields per line, but the default field list has nineteen.
    write(&wrong, "1|c|p\n2|c|p\n");
    let out = import(
        &data,
        "sacct",
        &[&good, &wrong],
        &["--time-zone", "UTC", "--cluster-id", "c"],
    );
    assert!(!out.status.success(), "a file that gave nothing succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("every row of") && stderr.contains("wrong.log"),
        "{stderr}"
    );
    assert!(!stderr.contains("good.log:"), "{stderr}");
    // The good file was imported all the same.
    assert_eq!(
        sql_csv(&data, "select uuid from units"),
        vec![vec!["1".to_string()]]
    );

    // A directory is named as such.
    let out = import(&data, "swf", &[dir.path()], &["--cluster-id", "x"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is a directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The rejects file is emptied before the input is read, so it may not be the input, however
/// the path is spelled; the input stays as it was and nothing is imported.
#[test]
fn a_rejects_file_that_is_the_input_is_refused() {
    let dir = scratch("rejects-input");
    let data = dir.path().join("lake");
    let dump = dir.path().join("jobs.sacct");
    write(&dump, SACCT);
    let same = dir.path().join(".").join("jobs.sacct");
    let hard = dir.path().join("hard-link.sacct");
    std::fs::hard_link(&dump, &hard).expect("hard link");
    for rejects in [&dump, &same, &hard] {
        let out = import(
            &data,
            "sacct",
            &[&dump],
            &["--time-zone", "UTC", "--rejects", utf8(rejects)],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted: {stderr}");
        assert!(stderr.contains("is the input file"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&dump).unwrap(), SACCT);
    }
    // Nor may it be the header file the field names are read from.
    let header = dir.path().join("fields.header");
    write(&header, "JobIDRaw|Cluster|Account|User|Start|End\n");
    let out = import(
        &data,
        "sacct",
        &[&dump],
        &["--header-file", utf8(&header), "--rejects", utf8(&header)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {stderr}");
    assert!(stderr.contains("is the input file"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&header).unwrap(),
        "JobIDRaw|Cluster|Account|User|Start|End\n"
    );
    assert!(!data.join("_manifest").exists() || ceems_lake_tests::store_version(&data) == 0);
}
