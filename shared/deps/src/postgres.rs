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
    check_slots(&pool).await;
    watch(&pool, health, shutdown);
    Some(pool)
}

/// Warns when this process's pool may open more connections than Postgres has left: under load the surplus
/// would fail with "remaining connection slots are reserved" instead of waiting for a pooled connection.
pub async fn check_slots(pool: &trmm_db::Pool) {
    let size = pool.status().max_size;
    let free = match pool.get().await {
        Ok(db) => trmm_db::free_connection_slots(&db).await,
        Err(e) => Err(e.into()),
    };
    match free {
        Ok(free) => {
            if let Some(advice) = slot_shortfall(free, size) {
                tracing::warn!(free, pool_size = size, "{advice}");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read Postgres' free connection slots"),
    }
}

/// The advice to log when a pool of `size` may outgrow the `free` connection slots.
fn slot_shortfall(free: i64, size: usize) -> Option<String> {
    (i64::try_from(size).unwrap_or(i64::MAX) > free).then(|| {
        format!(
            "Postgres has {free} connection slots left and this process may open {size}: raise max_connections \
             in postgresql.conf, or lower TRMM_DATABASE_POOL_SIZE so that the pools of every trmm-rs process fit"
        )
    })
}

/// Keeps Postgres's readiness current until shutdown.
pub fn watch(pool: &trmm_db::Pool, health: &Health, shutdown: &CancellationToken) {
    let watched = pool.clone();
    health.watch(DEPENDENCY, CHECK_INTERVAL, shutdown.clone(), move || {
        let pool = watched.clone();
        async move { trmm_db::ping(&pool).await }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_larger_than_the_free_slots_gets_advice_naming_both_fixes() {
        assert_eq!(slot_shortfall(64, 16), None);
        assert_eq!(slot_shortfall(16, 16), None);
        let advice = slot_shortfall(10, 16).unwrap();
        assert!(advice.contains("10 connection slots left"), "{advice}");
        assert!(
            advice.contains("max_connections") && advice.contains("TRMM_DATABASE_POOL_SIZE"),
            "{advice}"
        );
    }
}
