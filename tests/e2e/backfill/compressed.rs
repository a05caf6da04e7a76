//! Compressed input is read directly: gzip (also several concatenated members), xz and zstd
//! copies of the same SWF log import to exactly the same store content as the plain file.

use std::io::Write;
use std::path::{Path, PathBuf};

use ceems_lake_tests::lake_ok;

use super::{import_ok, real, scratch, summary, utf8, write, xz_text};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(data).expect("xz");
    e.finish().expect("xz")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).expect("zstd")
}

/// What a store holds, as text: every unit, user and project row in a fixed order.
fn content(data: &Path) -> String {
    let mut out = String::new();
    for q in [
        "select * from units order by cluster_id, uuid, started_at_ts",
        "select * from users order by cluster_id, name",
        "select * from projects order by cluster_id, name",
    ] {
        out.push_str(&lake_ok(data, &["sql", "--format", "ndjson", q]));
    }
    out
}

#[test]
fn gzip_xz_and_zstd_inputs_import_like_the_plain_file() {
    let dir = scratch("compressed");
    // The header and the first 10,000 jobs of the KTH log.
    let full = xz_text(&real("pwa-swf/KTH-SP2-1996-2.1-cln.swf.xz"));
    let mut text = String::new();
    let mut jobs = 0;
    for line in full.lines() {
        let data_line = !line.trim().is_empty() && !line.trim_start().starts_with(';');
        if data_line {
            if jobs == 10_000 {
                break;
            }
            jobs += 1;
        }
        text.push_str(line);
        text.push('\n');
    }
    assert_eq!(jobs, 10_000);
    let bytes = text.as_bytes();
    let half = text[..text.len() / 2].rfind('\n').expect("a line break") + 1;

    let plain = dir.path().join("kth.swf");
    write(&plain, &text);
    let mut variants: Vec<(&str, PathBuf, Vec<u8>)> = vec![
        ("gzip", dir.path().join("kth.swf.gz"), gzip(bytes)),
        ("xz", dir.path().join("kth.swf.xz"), xz(bytes)),
        // No telling extension: the format is recognised by its magic bytes.
        ("zstd", dir.path().join("kth.log"), zstd(bytes)),
    ];
    // Two gzip members, as `cat a.gz b.gz` makes.
    let mut two = gzip(&bytes[..half]);
    two.extend(gzip(&bytes[half..]));
    variants.push(("gzip, two members", dir.path().join("kth-2.swf.gz"), two));

    let import = |name: &str, file: &Path| {
        let data = dir
            .path()
            .join(format!("lake-{}", name.replace([' ', ','], "")));
        let out = import_ok(&data, "swf", &[file], &["--cluster-id", "kth-sp2"]);
        (data, summary(&out))
    };
    let (plain_store, plain_summary) = import("plain", &plain);
    assert_eq!(plain_summary.read, 10_000);
    assert_eq!(plain_summary.inserted, 10_000);
    let expected = content(&plain_store);
    assert!(expected.lines().count() > 10_000);
    for (name, path, compressed) in &variants {
        assert!(
            compressed.len() < bytes.len() / 3,
            "{name}: not compressed ({} of {} bytes)",
            compressed.len(),
            bytes.len()
        );
        std::fs::write(path, compressed).expect("write compressed copy");
        let (store, s) = import(name, path);
        assert_eq!(s, plain_summary, "{name}: summary ({})", utf8(path));
        assert!(
            content(&store) == expected,
            "{name}: the store differs from the plain file's"
        );
    }
}
