//! Postgres access for trmm-rs: the connection pool, versioned migrations, and one module of queries per aggregate.

pub mod access;
pub mod agents;
pub mod audit;
pub mod bulk;
pub mod clients;
pub mod core_settings;
pub mod custom_fields;
mod error;
pub mod history;
mod ids;
pub mod installers;
pub mod jobs;
pub mod keystore;
pub mod migrate;
pub mod notes;
pub mod pending;
pub mod roles;
pub mod script_output;
pub mod scripts;
pub mod services;
pub mod sessions;
pub mod sites;
pub mod snippets;
pub mod software;
pub mod telemetry;
pub mod templates;
pub mod users;

pub use deadpool_postgres::{Client, Pool};
pub use error::DbError;
pub use ids::{AgentPk, ClientId, CustomFieldId, JobId, KeyStoreId, RoleId, ScriptId, SiteId, SnippetId, UserId};
pub use tokio_postgres::{Error as PgError, GenericClient};

use std::str::FromStr;

/// Connections a pool holds at most unless told otherwise.
pub const DEFAULT_POOL_SIZE: usize = 32;

/// Builds a pool for `database_url` without connecting; connections are opened on first use.
pub fn connect(database_url: &str) -> Result<Pool, DbError> {
    connect_sized(database_url, DEFAULT_POOL_SIZE)
}

/// [`connect`] with at most `max_size` connections.
pub fn connect_sized(database_url: &str, max_size: usize) -> Result<Pool, DbError> {
    let mut pg = tokio_postgres::Config::from_str(database_url).map_err(|e| DbError::Config(e.to_string()))?;
    // Timestamps rendered by Postgres itself (to_jsonb) must be UTC, like the API's own.
    pg.options("-c TimeZone=UTC");
    let mgr = deadpool_postgres::Manager::from_config(
        pg,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    Pool::builder(mgr)
        .max_size(max_size.max(1))
        .wait_timeout(Some(std::time::Duration::from_secs(10)))
        .create_timeout(Some(std::time::Duration::from_secs(5)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| DbError::Config(e.to_string()))
}

/// Whether the database answers `SELECT 1` right now.
pub async fn ping(pool: &Pool) -> bool {
    match pool.get().await {
        Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
        Err(_) => false,
    }
}
