//! Dashboard sessions (Tactical RMM's knox `AuthToken`): looked up by the SHA-256 digest of the bearer token.

use std::net::IpAddr;

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::users::User;
use crate::{DbError, UserId};

/// What a session token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A normal dashboard session.
    Full,
    /// Issued by checkcreds to a user without 2FA: it can only set up TOTP.
    TotpSetup,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Full => "full",
            Scope::TotpSetup => "totp_setup",
        }
    }

    fn parse(s: &str) -> Scope {
        if s == "full" {
            Scope::Full
        } else {
            Scope::TotpSetup
        }
    }
}

/// A live session together with its user.
#[derive(Debug, Clone)]
pub struct Session {
    /// Digest of the bearer token.
    pub digest: Vec<u8>,
    /// What the token may do.
    pub scope: Scope,
    /// When it stops working unless refreshed.
    pub expiry: DateTime<Utc>,
    /// When it was last used (recorded at most once a minute).
    pub last_used: DateTime<Utc>,
    /// Its owner.
    pub user: User,
}

/// A session to store.
#[derive(Debug, Clone, Copy)]
pub struct NewSession<'a> {
    /// Its owner.
    pub user: UserId,
    /// Digest of the bearer token.
    pub digest: &'a [u8],
    /// What the token may do.
    pub scope: Scope,
    /// Now: its creation and first use.
    pub created: DateTime<Utc>,
    /// When it stops working unless refreshed.
    pub expiry: DateTime<Utc>,
    /// Where the login came from.
    pub ip: Option<IpAddr>,
}

/// Stores a new session token digest.
pub async fn create(db: &impl GenericClient, s: &NewSession<'_>) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO auth_tokens (digest, user_id, scope, created, last_used, expiry, ip_address)
         VALUES ($1, $2, $3, $4, $4, $5, $6)",
        &[&s.digest, &s.user.0, &s.scope.as_str(), &s.created, &s.expiry, &s.ip],
    )
    .await?;
    Ok(())
}

/// The session for `digest` if it exists, has not expired at `now`, and belongs to an active user.
/// Expired tokens are deleted when they are next presented, as knox does.
pub async fn find_valid(
    db: &impl GenericClient,
    digest: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Session>, DbError> {
    let row = db
        .query_opt(
            "SELECT t.scope, t.expiry, t.last_used, u.id, u.username, u.password_hash, u.email, u.is_active,
                    u.is_superuser, u.block_dashboard_login, u.totp_key, u.role_id
             FROM auth_tokens t JOIN users u ON u.id = t.user_id WHERE t.digest = $1",
            &[&digest],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let expiry: DateTime<Utc> = row.get("expiry");
    if expiry <= now {
        delete(db, digest).await?;
        return Ok(None);
    }
    let user = crate::users::from_row(&row);
    if !user.is_active {
        return Ok(None);
    }
    Ok(Some(Session {
        digest: digest.to_vec(),
        scope: Scope::parse(row.get("scope")),
        expiry,
        last_used: row.get("last_used"),
        user,
    }))
}

/// Records a use of the session at `now` from `ip`, and moves its expiry when `expiry` is given (sliding expiry).
pub async fn touch(
    db: &impl GenericClient,
    digest: &[u8],
    now: DateTime<Utc>,
    ip: Option<IpAddr>,
    expiry: Option<DateTime<Utc>>,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE auth_tokens SET last_used = $2, ip_address = COALESCE($3, ip_address), expiry = COALESCE($4, expiry)
         WHERE digest = $1",
        &[&digest, &now, &ip, &expiry],
    )
    .await?;
    Ok(())
}

/// Deletes one session (logout, or an admin ending it); returns its owner's username, `None` when there was none.
pub async fn delete(db: &impl GenericClient, digest: &[u8]) -> Result<Option<String>, DbError> {
    let row = db
        .query_opt(
            "DELETE FROM auth_tokens t USING users u WHERE t.digest = $1 AND u.id = t.user_id RETURNING u.username",
            &[&digest],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// A session as the accounts page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// Digest of the bearer token, in hex (it names the session in `DELETE /accounts/sessions/<digest>/`).
    #[serde(serialize_with = "hex_digest")]
    pub digest: Vec<u8>,
    /// The owner's username.
    pub user: String,
    /// When it was issued.
    pub created: DateTime<Utc>,
    /// When it stops working unless used.
    pub expiry: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_used: DateTime<Utc>,
    /// The client address of its last use.
    pub ip_address: Option<IpAddr>,
}

fn hex_digest<S: serde::Serializer>(digest: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(digest))
}

/// The user's sessions that have not expired at `now`, oldest first.
pub async fn list_for_user(
    db: &impl GenericClient,
    user: UserId,
    now: DateTime<Utc>,
) -> Result<Vec<SessionInfo>, DbError> {
    let rows = db
        .query(
            "SELECT t.digest, u.username, t.created, t.expiry, t.last_used, t.ip_address
             FROM auth_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.user_id = $1 AND t.expiry > $2 ORDER BY t.created, t.digest",
            &[&user.0, &now],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            from_row! { row, SessionInfo { digest, user: row.get("username"), created, expiry, last_used,
            ip_address } }
        })
        .collect())
}

/// Ends every session of `user` except `keep` (the caller's own, when users act on themselves); returns how
/// many ended.
pub async fn revoke_for_user(db: &impl GenericClient, user: UserId, keep: Option<&[u8]>) -> Result<u64, DbError> {
    Ok(db
        .execute(
            "DELETE FROM auth_tokens WHERE user_id = $1 AND digest IS DISTINCT FROM $2",
            &[&user.0, &keep],
        )
        .await?)
}
