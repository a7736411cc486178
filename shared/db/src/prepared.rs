//! Statements on the agents' hot paths (authentication, telemetry, check results), prepared once per pooled
//! connection and reused: preparing anew costs a round trip and a parse and plan in Postgres each time, which
//! was most of Postgres' CPU under the check results of 10,000 agents. Only fixed SQL belongs here; the cache
//! keeps every distinct text for the life of the connection.

use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::{DbError, GenericClient};

/// Parameters as tokio-postgres takes them.
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// `query` with a cached statement.
pub(crate) async fn query(db: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DbError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query(&statement, params).await?)
}

/// `query_opt` with a cached statement.
pub(crate) async fn query_opt(db: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Option<Row>, DbError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query_opt(&statement, params).await?)
}

/// `query_one` with a cached statement.
pub(crate) async fn query_one(db: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<Row, DbError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.query_one(&statement, params).await?)
}

/// `execute` with a cached statement.
pub(crate) async fn execute(db: &impl GenericClient, sql: &str, params: Params<'_>) -> Result<u64, DbError> {
    let statement = db.prepare_cached(sql).await?;
    Ok(db.execute(&statement, params).await?)
}
