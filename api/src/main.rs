//! The `ceems-lake` binary: parse the command line, run the command, report errors.

use std::process::ExitCode;

use ceems_lake_api::cli::{Cli, Command};
use ceems_lake_api::{cmd, logging};
use ceems_lake_engine::store::Store;
use clap::Parser;

/// Stack of the thread that runs the command, and so plans its queries. Planning and optimising
/// walk expression trees recursively: a `WHERE` of a few hundred `OR`s overflows the default
/// 8 MiB of the main thread in a debug build. Untouched pages cost nothing, so it is generous.
const PLANNER_STACK: usize = 512 << 20;
/// Stack of the runtime's worker threads, which evaluate those trees.
const WORKER_STACK: usize = 64 << 20;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    if let Err(e) = logging::init(&cli.global.log_level, &cli.global.log_format) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    match std::thread::Builder::new()
        .name("main-planner".into())
        .stack_size(PLANNER_STACK)
        .spawn(move || run_command(cli))
    {
        Ok(t) => t.join().unwrap_or(ExitCode::FAILURE),
        Err(e) => {
            eprintln!("error: cannot start the main thread: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_command(cli: Cli) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", cmd::error_text(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Writing a CEEMS SQLite file touches no store: do not create one.
    if let Command::Generate(a) = &cli.command
        && let Some(path) = &a.ceems_sqlite
    {
        return cmd::generate::run_ceems_sqlite(a, path).await;
    }
    let store = Store::open(&cli.global.data, &store_options())?;
    if matches!(
        cli.command,
        Command::Sql(_) | Command::Info | Command::Compact(_) | Command::Vacuum(_)
    ) && store
        .snapshot()
        .await
        .is_ok_and(|s| s.manifest.version == 0)
    {
        // Most likely a mistyped --data: say so instead of answering from nothing in silence.
        tracing::warn!(
            store = store.location(),
            "the store is empty (nothing was ever committed to it); check --data"
        );
    }
    match &cli.command {
        Command::Serve(a) => cmd::serve::run(store, a).await,
        Command::Import(c) => cmd::import::run(&store, c).await,
        Command::Sql(a) => cmd::sql::run(store, a).await,
        Command::Generate(a) => cmd::generate::run(&store, a).await,
        Command::Compact(a) => cmd::maintenance::run_compact(&store, a).await,
        Command::Vacuum(a) => cmd::maintenance::run_vacuum(&store, a).await,
        Command::Info => cmd::maintenance::run_info(&store).await,
    }
}

/// Object store options from the environment (`AWS_*` for S3), read here and passed down.
fn store_options() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("AWS_") || k.starts_with("GOOGLE_") || k.starts_with("AZURE_")
        })
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// `ceems-lake info | head` closes standard output early; printing then fails with a broken
/// pipe. Like other command-line tools, end quietly (status 141, as a SIGPIPE death would
/// report) instead of printing a panic.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
