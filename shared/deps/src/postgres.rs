//! Postgres: TRMM_DATABASE_URL and TRMM_DATABASE_POOL_SIZE.

use tokio_util::sync::CancellationToken;
use trmm_runtime::backoff::connect_with_backoff;
use trmm_runtime::health::{Health, CHECK_INTERVAL};

use crate::SettingsError;

/// Name of the Postgres entry in `/readyz`.
pub const DEPENDENCY: &str = "postgres";

/// Where Postgres is and how many connections to it one process holds.
#[derive(Clone, Debug, clap::Args)]
pub struct PostgresArgs {
    /// Postgres connection URL, e.g. `postgres://trmm:PASSWORD@127.0.0.1:5432/trmm`.
    #[arg(
        long,
        env = "TRMM_DATABASE_URL",
        default_value = "postgres://trmm@127.0.0.1:5432/trmm",
        global = true
    )]
    pub database_url: String,
    /// Most Postgres connections this process holds (requests waiting on agents hold none).
    #[arg(long, env = "TRMM_DATABASE_POOL_SIZE", default_value_t = trmm_db::DEFAULT_POOL_SIZE, global = true)]
    pub database_pool_size: usize,
}

impl PostgresArgs {
    /// The pool, built without connecting; connections open on first use.
    pub fn pool(&self) -> Result<trmm_db::Pool, SettingsError> {
        trmm_db::connect_sized(&self.database_url, self.database_pool_size).map_err(SettingsError::Postgres)
    }
}

/// Waits until Postgres answers (None if shutdown comes first), then keeps its readiness current.
pub async fn connect(pool: trmm_db::Pool, health: &Health, shutdown: &CancellationToken) -> Option<trmm_db::Pool> {
    connect_with_backoff(DEPENDENCY, shutdown, || async { pool.get().await.map(drop) }).await?;
    health.set_ready(DEPENDENCY, true);
    watch(&pool, health, shutdown);
    Some(pool)
}

/// Keeps Postgres's readiness current until shutdown.
pub fn watch(pool: &trmm_db::Pool, health: &Health, shutdown: &CancellationToken) {
    let watched = pool.clone();
    health.watch(DEPENDENCY, CHECK_INTERVAL, shutdown.clone(), move || {
        let pool = watched.clone();
        async move { trmm_db::ping(&pool).await }
    });
}
