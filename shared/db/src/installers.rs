//! Installer tokens: expiring, per-site credentials that open only the agent install endpoints.

use crate::GenericClient;
use chrono::{DateTime, Utc};

use crate::{DbError, SiteId};

/// A valid installer token's grant.
#[derive(Debug, Clone)]
pub struct InstallerGrant {
    /// Row id.
    pub id: i32,
    /// Site the installer enrolls into.
    pub site: SiteId,
    /// server or workstation.
    pub monitoring_type: String,
    /// Who generated it.
    pub created_by: Option<String>,
    /// When it stops working.
    pub expiry: DateTime<Utc>,
}

/// What an installer is for.
#[derive(Debug, Clone)]
pub struct NewInstaller<'a> {
    /// Site to enroll into.
    pub site: SiteId,
    /// server or workstation.
    pub monitoring_type: &'a str,
    /// windows, linux or darwin.
    pub plat: &'a str,
    /// amd64, 386, arm64 or arm.
    pub goarch: &'a str,
    /// Generating user.
    pub created_by: &'a str,
    /// Expiry time.
    pub expiry: DateTime<Utc>,
}

/// Stores a new installer token digest.
pub async fn create(db: &impl GenericClient, new: &NewInstaller<'_>, digest: &[u8]) -> Result<i32, DbError> {
    let row = db
        .query_one(
            "INSERT INTO installer_tokens (digest, site_id, monitoring_type, plat, goarch, created_by, expiry)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            &[
                &digest,
                &new.site.0,
                &new.monitoring_type,
                &new.plat,
                &new.goarch,
                &new.created_by,
                &new.expiry,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// The grant for `digest` if it exists and has not expired at `now`.
pub async fn find_valid(
    db: &impl GenericClient,
    digest: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<InstallerGrant>, DbError> {
    let row = db
        .query_opt(
            "SELECT id, site_id, monitoring_type, created_by, expiry FROM installer_tokens
             WHERE digest = $1 AND expiry > $2",
            &[&digest, &now],
        )
        .await?;
    Ok(row.map(|r| from_row! { r, InstallerGrant { id, site = "site_id", monitoring_type, created_by, expiry } }))
}
