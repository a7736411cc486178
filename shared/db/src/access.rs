//! Who a dashboard session token (or an API key, `trmm_authz::api_key`) belongs to and what that user may do.
//! trmm-api's extractors and trmm-websocket's `?access_token=` check both go through here, so they apply the same
//! rules.

use crate::GenericClient;
use chrono::{DateTime, Utc};

use crate::roles::{self, RolePermissions, Scope};
use crate::sessions::{self, Session};
use crate::users::User;
use crate::DbError;

/// A live session, its user and the user's role.
#[derive(Debug, Clone)]
pub struct Access {
    /// The session (and its user).
    pub session: Session,
    /// The user's role, if any.
    pub role: Option<RolePermissions>,
}

impl Access {
    /// Superuser flag on the user or on its role.
    pub fn is_superuser(&self) -> bool {
        is_superuser(&self.session.user, self.role.as_ref())
    }

    /// Whether the `can_*` flag is granted.
    pub fn has(&self, flag: &str) -> bool {
        has(&self.session.user, self.role.as_ref(), flag)
    }

    /// Which clients and sites the user may see.
    pub fn visibility(&self) -> Scope {
        visibility(&self.session.user, self.role.as_ref())
    }
}

/// The session with this token digest (valid at `now`, active user) together with the user's role.
pub async fn by_session(db: &impl GenericClient, digest: &[u8], now: DateTime<Utc>) -> Result<Option<Access>, DbError> {
    let Some(session) = sessions::find_valid(db, digest, now).await? else {
        return Ok(None);
    };
    let role = role_of(db, &session.user).await?;
    Ok(Some(Access { session, role }))
}

/// The user's role, if any.
pub async fn role_of(db: &impl GenericClient, user: &User) -> Result<Option<RolePermissions>, DbError> {
    match user.role_id {
        Some(id) => roles::load(db, id).await,
        None => Ok(None),
    }
}

/// Superuser flag on the user or on its role.
pub fn is_superuser(user: &User, role: Option<&RolePermissions>) -> bool {
    user.is_superuser || role.is_some_and(|r| r.is_superuser)
}

/// Whether `flag` is granted: superusers have every flag, and a non-superuser without a role has none
/// (TRMM tacticalrmm/permissions.py::_has_perm).
pub fn has(user: &User, role: Option<&RolePermissions>, flag: &str) -> bool {
    is_superuser(user, role) || role.is_some_and(|r| r.granted.contains(flag))
}

/// Which clients and sites the user may see; superusers and users without a role see everything.
pub fn visibility(user: &User, role: Option<&RolePermissions>) -> Scope {
    if is_superuser(user, role) {
        return Scope::all();
    }
    role.map(RolePermissions::scope).unwrap_or_else(Scope::all)
}
