//! API keys (Tactical RMM `accounts.APIKey`), stored as the SHA-256 digest of the key and its first characters:
//! upstream keeps the key itself, here it exists only in the response that created it.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::users::User;
use crate::{ApiKeyId, DbError, GenericClient, UserId};

/// A key as the key list shows it.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// Primary key.
    pub id: ApiKeyId,
    /// Unique name (at most 25 characters).
    pub name: String,
    /// The key's first characters, so that a user can tell keys apart.
    pub key_prefix: String,
    /// The user the key acts as.
    pub user: UserId,
    /// That user's name.
    pub username: String,
    /// When the key stops working; never when `None`.
    pub expiration: Option<DateTime<Utc>>,
    /// When the key was last used (to the minute).
    pub last_used: Option<DateTime<Utc>>,
    /// Who created it.
    pub created_by: Option<String>,
    /// When it was created.
    pub created_time: DateTime<Utc>,
    /// Who changed it last.
    pub modified_by: Option<String>,
    /// When it was changed last.
    pub modified_time: DateTime<Utc>,
}

const SELECT: &str = "SELECT k.id, k.name, k.key_prefix, k.user_id, u.username, k.expiration, k.last_used,
                             k.created_by, k.created_time, k.modified_by, k.modified_time
                      FROM api_keys k JOIN users u ON u.id = k.user_id";

fn from_row(row: &Row) -> ApiKey {
    from_row! { row, ApiKey {
        id, name, key_prefix, user = "user_id", username, expiration, last_used, created_by, created_time,
        modified_by, modified_time,
    } }
}

/// Every key, by id.
pub async fn list(db: &impl GenericClient) -> Result<Vec<ApiKey>, DbError> {
    let sql = format!("{SELECT} ORDER BY k.id");
    Ok(db.query(&sql, &[]).await?.iter().map(from_row).collect())
}

/// One key.
pub async fn get(db: &impl GenericClient, id: ApiKeyId) -> Result<Option<ApiKey>, DbError> {
    let sql = format!("{SELECT} WHERE k.id = $1");
    Ok(db.query_opt(&sql, &[&id]).await?.as_ref().map(from_row))
}

/// A key to store.
pub struct NewKey<'a> {
    /// Unique name.
    pub name: &'a str,
    /// Digest of the key (`trmm_auth::digest_token`).
    pub digest: &'a [u8],
    /// The key's first characters.
    pub prefix: &'a str,
    /// The user the key acts as.
    pub user: UserId,
    /// When it stops working.
    pub expiration: Option<DateTime<Utc>>,
}

/// Stores a key. A taken name is a unique violation, an unknown user a foreign key violation.
pub async fn create(db: &impl GenericClient, key: &NewKey<'_>, by: &str) -> Result<ApiKeyId, DbError> {
    let row = db
        .query_one(
            "INSERT INTO api_keys (name, key_digest, key_prefix, user_id, expiration, created_by)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&key.name, &key.digest, &key.prefix, &key.user, &key.expiration, &by],
        )
        .await?;
    Ok(ApiKeyId(row.get(0)))
}

/// What an edit changes; `None` leaves a field alone. The key itself never changes.
#[derive(Debug, Default)]
pub struct KeyChanges<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New user.
    pub user: Option<UserId>,
    /// New expiration (`Some(None)`: never).
    pub expiration: Option<Option<DateTime<Utc>>>,
}

/// Edits a key. A taken name is a unique violation, an unknown user a foreign key violation.
pub async fn update(
    db: &impl GenericClient,
    id: ApiKeyId,
    changes: &KeyChanges<'_>,
    by: &str,
) -> Result<bool, DbError> {
    let n = db
        .execute(
            "UPDATE api_keys SET name = COALESCE($2, name), user_id = COALESCE($3, user_id),
                    expiration = CASE WHEN $4 THEN $5 ELSE expiration END,
                    modified_by = $6, modified_time = now()
             WHERE id = $1",
            &[
                &id,
                &changes.name,
                &changes.user,
                &changes.expiration.is_some(),
                &changes.expiration.flatten(),
                &by,
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Deletes a key; it stops working at once.
pub async fn delete(db: &impl GenericClient, id: ApiKeyId) -> Result<bool, DbError> {
    crate::delete_by_id(db, "api_keys", &id).await
}

/// A key presented with a request, and whose it is.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    /// The key.
    pub id: ApiKeyId,
    /// When it stops working.
    pub expiration: Option<DateTime<Utc>>,
    /// When it was last used.
    pub last_used: Option<DateTime<Utc>>,
    /// The user it acts as.
    pub user: User,
}

/// The key with this digest and its user, whatever the key's expiry and the user's state.
pub async fn find_by_digest(db: &impl GenericClient, digest: &[u8]) -> Result<Option<KeyOwner>, DbError> {
    let row = db
        .query_opt(
            "SELECT k.id AS key_id, k.expiration, k.last_used, u.id, u.username, u.password_hash, u.email,
                    u.is_active, u.is_superuser, u.block_dashboard_login, u.totp_key, u.role_id
             FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_digest = $1",
            &[&digest],
        )
        .await?;
    Ok(row.map(|row| KeyOwner {
        id: row.get("key_id"),
        expiration: row.get("expiration"),
        last_used: row.get("last_used"),
        user: crate::users::from_row(&row),
    }))
}

/// Records a use of the key at `at` (never moving the time back).
pub async fn touch(db: &impl GenericClient, id: ApiKeyId, at: DateTime<Utc>) -> Result<(), DbError> {
    db.execute(
        "UPDATE api_keys SET last_used = $2 WHERE id = $1 AND (last_used IS NULL OR last_used < $2)",
        &[&id, &at],
    )
    .await?;
    Ok(())
}
