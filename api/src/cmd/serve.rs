//! `ceems-lake serve`.

use ceems_lake_engine::store::Store;

use crate::cli::ServeArgs;
use crate::config::ServeSettings;

pub async fn run(store: Store, a: &ServeArgs) -> anyhow::Result<()> {
    let settings = ServeSettings::from_args(a)?;
    crate::server::serve(store, settings).await
}
