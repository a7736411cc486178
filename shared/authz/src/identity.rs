//! Session token or API key -> [`Identity`], and what that identity may do.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use trmm_db::access::{self, Access};
use trmm_db::agents::AgentRef;
use trmm_db::api_keys::{self, KeyOwner};
use trmm_db::roles::{RolePermissions, Scope};
use trmm_db::sessions::{self, Session};
use trmm_db::users::User;
use trmm_db::{ApiKeyId, ClientId, GenericClient, RoleId, SiteId};

use crate::perms::Permission;
use crate::tokens::Credentials;
use crate::Denial;

/// Dashboard sessions live this long after their last use (TRMM settings.py REST_KNOX TOKEN_TTL = 5 h).
pub const SESSION_TTL: Duration = Duration::hours(5);
/// A session's last use, client IP and sliding expiry, and an API key's last use, are written back at most this
/// often, so a busy dashboard does not write on every request (knox's MIN_REFRESH_INTERVAL is 10 min; last use
/// shown to the minute needs 1).
const TOUCH_INTERVAL: Duration = Duration::minutes(1);

/// An authenticated dashboard user.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user.
    pub user: User,
    /// How the request proved it is this user.
    pub via: Via,
    /// The user's role, if any.
    pub role: Option<RolePermissions>,
}

/// How a request authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// A dashboard session.
    Session {
        /// Digest of the session token.
        digest: Vec<u8>,
        /// Whether 2FA was completed for this session.
        scope: sessions::Scope,
    },
    /// An API key: there is no session behind it, to refresh, to log out of or to complete 2FA on.
    ApiKey(ApiKeyId),
}

impl Identity {
    /// Superuser flag on the user or on its role.
    pub fn is_superuser(&self) -> bool {
        access::is_superuser(&self.user, self.role.as_ref())
    }

    /// Whether the identity holds permission `P` (superusers hold every one).
    pub fn holds<P: Permission>(&self) -> bool {
        P::FLAG.is_none_or(|flag| access::has(&self.user, self.role.as_ref(), flag))
    }

    /// Which clients and sites this user may see.
    pub fn visibility(&self) -> Scope {
        access::visibility(&self.user, self.role.as_ref())
    }

    /// Refused unless the site is visible to this user (TRMM `_has_perm_on_site`).
    pub fn allow_site(&self, client: ClientId, site: SiteId) -> Result<(), Denial> {
        if self.visibility().allows_site(client, site) {
            Ok(())
        } else {
            Err(Denial::NoPermission)
        }
    }

    /// Refused unless the whole client is granted to this user (TRMM `_has_perm_on_client`): a role that
    /// lists only some of a client's sites sees the client in its tree but may not act on the client itself.
    pub fn allow_client(&self, client: ClientId) -> Result<(), Denial> {
        let scope = self.visibility();
        if scope.unrestricted || scope.clients.contains(&client.0) {
            Ok(())
        } else {
            Err(Denial::NoPermission)
        }
    }

    /// The user's role with its id, when it limits the user to some clients or sites: what such a user creates
    /// joins the role (TRMM clients/views.py), or the user could not see it.
    pub fn restricting_role(&self) -> Option<(RoleId, &RolePermissions)> {
        let (id, role) = (self.user.role_id?, self.role.as_ref()?);
        let restricted = !self.is_superuser() && (!role.clients.is_empty() || !role.sites.is_empty());
        restricted.then_some((id, role))
    }

    /// The digest of the session the request came with; `None` for an API key.
    pub fn session_digest(&self) -> Option<&[u8]> {
        match &self.via {
            Via::Session { digest, .. } => Some(digest),
            Via::ApiKey(_) => None,
        }
    }

    /// The username recorded in audit rows and `created_by` columns.
    pub fn username(&self) -> &str {
        &self.user.username
    }
}

/// The live session named by `token`, used now from `ip`: its last use is recorded and, for a full session, its
/// expiry slides.
///
/// `block_dashboard_login` refuses every session of its user, in every service: upstream lets a blocked user's
/// existing knox tokens keep working on REST while its websockets refuse them (server-api.md 2.6). Here
/// sessions are only ever dashboard logins, and an API-only user works through API keys ([`api_key`]), which
/// blocking leaves alone; so blocking a user ends its sessions everywhere instead of leaving them alive for REST
/// only.
pub async fn session(
    db: &impl GenericClient,
    token: Option<&str>,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<Identity, Denial> {
    let token = token.filter(|t| !t.is_empty()).ok_or(Denial::NoCredentials)?;
    let digest = trmm_auth::digest_token(token);
    let Access {
        session: Session {
            scope, last_used, user, ..
        },
        role,
    } = access::by_session(db, &digest, now)
        .await?
        .ok_or(Denial::InvalidToken)?;
    if user.block_dashboard_login {
        return Err(Denial::NoPermission);
    }
    if now - last_used >= TOUCH_INTERVAL {
        let expiry = (scope == sessions::Scope::Full).then(|| now + SESSION_TTL);
        sessions::touch(db, &digest, now, ip, expiry).await?;
    }
    Ok(Identity {
        user,
        via: Via::Session { digest, scope },
        role,
    })
}

/// The user of the API key `key`, with that user's role, until the key's expiration (TRMM
/// tacticalrmm/auth.py::APIAuthentication). `block_dashboard_login` does not stop it: API keys are how an
/// API-only user works (server-api.md 2.6). Its last use is recorded, to the minute.
pub async fn api_key(db: &impl GenericClient, key: &str, now: DateTime<Utc>) -> Result<Identity, Denial> {
    let KeyOwner {
        id,
        expiration,
        last_used,
        user,
    } = api_keys::find_by_digest(db, &trmm_auth::digest_token(key))
        .await?
        .ok_or(Denial::InvalidToken)?;
    if !user.is_active {
        return Err(Denial::UserInactive);
    }
    if expiration.is_some_and(|e| e < now) {
        return Err(Denial::KeyExpired);
    }
    if last_used.is_none_or(|t| now - t >= TOUCH_INTERVAL) {
        api_keys::touch(db, id, now).await?;
    }
    let role = access::role_of(db, &user).await?;
    Ok(Identity {
        user,
        via: Via::ApiKey(id),
        role,
    })
}

/// A full (2FA-completed) session whose user holds permission `P`. Websockets authorize this way: a browser
/// cannot set headers on a websocket, upstream's sockets take only `?access_token=`, and a user barred from the
/// dashboard must be refused there while its API keys keep working on REST (server-api.md 2.6).
pub async fn authorize<P: Permission>(
    db: &impl GenericClient,
    token: Option<&str>,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<Identity, Denial> {
    let token = token.ok_or(Denial::NoCredentials)?;
    authorize_with::<P>(db, Credentials::Session(token), ip, now).await
}

/// A full session or a live API key, used now from `ip`, whose user holds permission `P`.
pub async fn authorize_with<P: Permission>(
    db: &impl GenericClient,
    credentials: Credentials<'_>,
    ip: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<Identity, Denial> {
    let identity = match credentials {
        Credentials::Session(token) => session(db, Some(token), ip, now).await?,
        Credentials::ApiKey(key) => api_key(db, key, now).await?,
    };
    if let Via::Session {
        scope: sessions::Scope::TotpSetup,
        ..
    } = identity.via
    {
        return Err(Denial::TotpRequired);
    }
    if !identity.holds::<P>() {
        return Err(Denial::NoPermission);
    }
    Ok(identity)
}

/// [`authorize`] (a session: websockets take no API keys), plus the agent `agent_id`, which must be inside the
/// user's clients/sites: unknown is [`Denial::NotFound`], outside the scope [`Denial::NoPermission`].
pub async fn authorize_agent<P: Permission>(
    db: &impl GenericClient,
    token: Option<&str>,
    ip: Option<IpAddr>,
    agent_id: &str,
    now: DateTime<Utc>,
) -> Result<(Identity, AgentRef), Denial> {
    let identity = authorize::<P>(db, token, ip, now).await?;
    let agent = agent_in_scope(db, &identity, agent_id).await?;
    Ok((identity, agent))
}

/// The agent `agent_id` if it exists ([`Denial::NotFound`]) and `who` may see it ([`Denial::NoPermission`];
/// TRMM `_has_perm_on_agent`).
pub async fn agent_in_scope(db: &impl GenericClient, who: &Identity, agent_id: &str) -> Result<AgentRef, Denial> {
    let agent = trmm_db::agents::find_by_agent_id(db, agent_id)
        .await?
        .ok_or(Denial::NotFound)?;
    who.allow_site(agent.client, agent.site)?;
    Ok(agent)
}
