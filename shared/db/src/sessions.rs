//! Dashboard sessions (Tactical RMM's knox `AuthToken`): looked up by the SHA-256 digest of the bearer token.

use crate::GenericClient;
use chrono::{DateTime, Utc};

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
    /// Its owner.
    pub user: User,
}

/// Stores a new session token digest.
pub async fn create(
    db: &impl GenericClient,
    user: UserId,
    digest: &[u8],
    scope: Scope,
    expiry: DateTime<Utc>,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO auth_tokens (digest, user_id, scope, expiry) VALUES ($1, $2, $3, $4)",
        &[&digest, &user.0, &scope.as_str(), &expiry],
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
            "SELECT t.scope, t.expiry, u.id, u.username, u.password_hash, u.email, u.is_active, u.is_superuser,
                    u.block_dashboard_login, u.totp_key, u.role_id
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
        user,
    }))
}

/// Moves a session's expiry (sliding expiry).
pub async fn extend(db: &impl GenericClient, digest: &[u8], expiry: DateTime<Utc>) -> Result<(), DbError> {
    db.execute(
        "UPDATE auth_tokens SET expiry = $2 WHERE digest = $1",
        &[&digest, &expiry],
    )
    .await?;
    Ok(())
}

/// Deletes one session (logout).
pub async fn delete(db: &impl GenericClient, digest: &[u8]) -> Result<(), DbError> {
    db.execute("DELETE FROM auth_tokens WHERE digest = $1", &[&digest])
        .await?;
    Ok(())
}
