//! Logging to standard error, human-readable or JSON.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `level` is a level or a full filter directive.
pub fn init(level: &str, format: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(level)
        .or_else(|_| EnvFilter::try_new(format!("ceems_lake={level}")))
        .map_err(|e| anyhow::anyhow!("invalid --log.level {level:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if format == "json" {
        builder
            .json()
            .try_init()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    } else {
        builder
            .with_target(false)
            .try_init()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}
