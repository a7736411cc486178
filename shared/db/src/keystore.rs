//! The global key store (Tactical RMM `core.GlobalKVStore`): name/value pairs used as `{{global.name}}`.

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;

use crate::{DbError, KeyStoreId};

/// One entry; serializes as TRMM's `KeyStoreSerializer` (`__all__`).
#[derive(Debug, Clone, Serialize)]
pub struct KeyStoreEntry {
    /// Primary key.
    pub id: KeyStoreId,
    /// Unique name (at most 25 characters).
    pub name: String,
    /// The value (stored in plaintext, as upstream).
    pub value: String,
    /// Who created it.
    pub created_by: Option<String>,
    /// When it was created.
    pub created_time: DateTime<Utc>,
    /// Who changed it last.
    pub modified_by: Option<String>,
    /// When it was changed last.
    pub modified_time: DateTime<Utc>,
}

const SELECT: &str =
    "SELECT id, name, value, created_by, created_time, modified_by, modified_time FROM global_kv_store";

fn from_row(row: &Row) -> KeyStoreEntry {
    from_row! { row, KeyStoreEntry { id, name, value, created_by, created_time, modified_by, modified_time } }
}

/// Every entry, by id.
pub async fn list(db: &impl GenericClient) -> Result<Vec<KeyStoreEntry>, DbError> {
    let sql = format!("{SELECT} ORDER BY id");
    Ok(db.query(&sql, &[]).await?.iter().map(from_row).collect())
}

/// One entry.
pub async fn get(db: &impl GenericClient, id: KeyStoreId) -> Result<Option<KeyStoreEntry>, DbError> {
    let sql = format!("{SELECT} WHERE id = $1");
    Ok(db.query_opt(&sql, &[&id.0]).await?.as_ref().map(from_row))
}

/// Inserts an entry; a duplicate name is a unique violation.
pub async fn create(db: &impl GenericClient, name: &str, value: &str, by: &str) -> Result<KeyStoreId, DbError> {
    let row = db
        .query_one(
            "INSERT INTO global_kv_store (name, value, created_by) VALUES ($1, $2, $3) RETURNING id",
            &[&name, &value, &by],
        )
        .await?;
    Ok(KeyStoreId(row.get(0)))
}

/// Changes the name and/or value; `None` leaves a field alone. A duplicate name is a unique violation.
pub async fn update(
    db: &impl GenericClient,
    id: KeyStoreId,
    name: Option<&str>,
    value: Option<&str>,
    by: &str,
) -> Result<bool, DbError> {
    let n = db
        .execute(
            "UPDATE global_kv_store SET name = COALESCE($2, name), value = COALESCE($3, value),
                    modified_by = $4, modified_time = now()
             WHERE id = $1",
            &[&id.0, &name, &value, &by],
        )
        .await?;
    Ok(n == 1)
}

/// Deletes an entry.
pub async fn delete(db: &impl GenericClient, id: KeyStoreId) -> Result<bool, DbError> {
    crate::delete_by_id(db, "global_kv_store", &id.0).await
}
