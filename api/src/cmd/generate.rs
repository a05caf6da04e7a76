//! `ceems-lake generate`

use anyhow::Context;
use ceems_lake_engine::generate::{GenerateSpec, write_ceems_sqlite};
use ceems_lake_engine::ingest::generated::generate_into_store;
use ceems_lake_engine::store::Store;

use crate::cli::GenerateArgs;
use crate::progress::CliObserver;

pub fn spec_of(a: &GenerateArgs) -> anyhow::Result<GenerateSpec> {
    let tz: chrono_tz::Tz = a
        .time_zone
        .parse()
        .map_err(|_| anyhow::anyhow!("unknown time zone {:?}", a.time_zone))?;
    let spec = GenerateSpec {
        units: a.units,
        clusters: a.clusters,
        seed: a.seed,
        time_zone: tz,
        end_ms: parse_end(&a.end)?,
        years: a.years,
    };
    spec.validate()?;
    Ok(spec)
}

/// `now`, `YYYY-MM-DD` (midnight UTC), an RFC 3339 instant, or Unix seconds → Unix ms.
fn parse_end(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(chrono::Utc::now().timestamp_millis());
    }
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs.saturating_mul(1000));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_millis());
    }
    anyhow::bail!("--end {s:?}: expected now, YYYY-MM-DD, an RFC 3339 time or Unix seconds")
}

/// `generate --ceems-sqlite FILE`: writes a CEEMS-format SQLite file; no store is involved.
pub async fn run_ceems_sqlite(a: &GenerateArgs, path: &std::path::Path) -> anyhow::Result<()> {
    let spec = spec_of(a)?;
    let show = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started = std::time::Instant::now();
    let bar = indicatif::ProgressBar::new(spec.units);
    if !show {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let path = path.to_path_buf();
    let file = path.display().to_string();
    let s = tokio::task::spawn_blocking(move || {
        let mut progress = |n: u64| bar.set_position(n);
        let r = write_ceems_sqlite(&spec, &path, &mut progress);
        bar.finish_and_clear();
        r
    })
    .await?
    .context("cannot write the CEEMS database")?;
    println!("wrote {file}");
    println!(
        "units:       {} ({} running, {} with GPUs) on {} clusters",
        s.units, s.running_units, s.gpu_units, s.clusters
    );
    println!(
        "users: {}  projects: {}  admin users: {}",
        s.users, s.projects, s.admin_users
    );
    println!("{:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `generate` into the store, through the importers' commit path.
pub async fn run(store: &Store, a: &GenerateArgs) -> anyhow::Result<()> {
    let spec = spec_of(a)?;
    let show = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started = std::time::Instant::now();
    let observer = CliObserver::new(show, None)?;
    let res = generate_into_store(store, &spec, a.batch_size.max(1), &observer).await;
    observer.finish();
    let s = res?;
    crate::cmd::import::report(&s, started.elapsed(), None);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_end;

    #[test]
    fn end_spellings() {
        // 2026-11-01T00:00:00Z, the default end of the generator.
        assert_eq!(parse_end("2026-11-01").unwrap(), 1_793_491_200_000);
        assert_eq!(
            parse_end("2026-11-01T01:00:00+01:00").unwrap(),
            1_793_491_200_000
        );
        assert_eq!(parse_end("1793491200").unwrap(), 1_793_491_200_000);
        let now = chrono::Utc::now().timestamp_millis();
        assert!((parse_end("now").unwrap() - now).abs() < 60_000);
        assert!(parse_end("yesterday").is_err());
    }
}
