//! Postgres access for trmm-rs: the connection pool, versioned migrations, and one module of queries per aggregate.

/// Builds `$ty` from `$row`: a field reads the column of its name, or the column named after `=`; a field
/// followed by `:` takes that value instead.
macro_rules! from_row {
    ($row:expr, $ty:ident { $($field:ident $(= $column:literal)? $(: $value:expr)?),* $(,)? }) => {
        $ty { $($field: from_row!(@field $row, $field $(= $column)? $(: $value)?)),* }
    };
    (@field $row:expr, $field:ident) => {
        $row.get(stringify!($field))
    };
    (@field $row:expr, $field:ident = $column:literal) => {
        $row.get($column)
    };
    (@field $row:expr, $field:ident : $value:expr) => {
        $value
    };
}

/// The columns of an `agents::AgentRef` from `agents a` and `sites s` (a macro, for `concat!`).
macro_rules! ref_columns {
    () => {
        "a.id, a.agent_id, a.hostname, a.site_id, s.client_id, a.check_interval"
    };
}

pub mod access;
pub mod agents;
pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod bulk;
pub mod checks;
pub mod clients;
pub mod core_settings;
pub mod counts;
pub mod custom_fields;
pub mod debug_log;
mod error;
pub mod history;
mod ids;
pub mod installers;
pub mod jobs;
pub mod keystore;
pub mod maintenance;
pub mod migrate;
pub mod notes;
pub mod pending;
mod prepared;
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
pub mod url_actions;
pub mod users;

pub use deadpool_postgres::GenericClient;
pub use deadpool_postgres::{Client, Pool};
pub use error::DbError;
pub use ids::{
    AgentPk, AlertId, AlertTemplateId, ApiKeyId, ClientId, CustomFieldId, JobId, KeyStoreId, RoleId, ScriptId, SiteId,
    SnippetId, UrlActionId, UserId,
};
pub use tokio_postgres::Error as PgError;

use std::str::FromStr;

use tokio_postgres::types::ToSql;

/// Connections a pool holds at most unless told otherwise: Postgres does its best work with a few busy
/// connections per core, and the four services of one suite (64) then fit Postgres' default
/// `max_connections` of 100 with room for psql and backups.
pub const DEFAULT_POOL_SIZE: usize = 16;

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

/// Deletes the row of `table` with primary key `id`; false when there was none.
async fn delete_by_id(db: &impl GenericClient, table: &str, id: &(dyn ToSql + Sync)) -> Result<bool, DbError> {
    Ok(db.execute(&format!("DELETE FROM {table} WHERE id = $1"), &[id]).await? == 1)
}

/// Connection slots Postgres still gives ordinary clients: `max_connections` less the superuser-reserved
/// ones and the client connections open now, the asking one counted as free.
pub async fn free_connection_slots(db: &impl GenericClient) -> Result<i64, DbError> {
    let row = db
        .query_one(
            "SELECT current_setting('max_connections')::bigint
                  - current_setting('superuser_reserved_connections')::bigint
                  - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') + 1",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Whether the database answers `SELECT 1` right now.
pub async fn ping(pool: &Pool) -> bool {
    match pool.get().await {
        Ok(client) => client.simple_query("SELECT 1").await.is_ok(),
        Err(_) => false,
    }
}
