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
        ..GenerateSpec::default()
    };
    spec.validate()?;
    Ok(spec)
}

pub async fn run(store: &Store, a: &GenerateArgs) -> anyhow::Result<()> {
    let spec = spec_of(a)?;
    let show = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started = std::time::Instant::now();
    match &a.ceems_sqlite {
        Some(path) => {
            let bar = indicatif::ProgressBar::new(spec.units);
            if !show {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            let path = path.clone();
            let summary = tokio::task::spawn_blocking(move || {
                let mut progress = |n: u64| bar.set_position(n);
                let r = write_ceems_sqlite(&spec, &path, &mut progress);
                bar.finish_and_clear();
                r
            })
            .await?
            .context("cannot write the CEEMS database")?;
            println!("{summary:?}");
            println!("{:.1} s", started.elapsed().as_secs_f64());
        }
        None => {
            let observer = CliObserver::new(show, None)?;
            let res = generate_into_store(store, &spec, a.batch_size.max(1), &observer).await;
            observer.finish();
            let s = res?;
            crate::cmd::import::report(&s, started.elapsed(), None);
        }
    }
    Ok(())
}
