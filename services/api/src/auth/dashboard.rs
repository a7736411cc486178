use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use chrono::Duration;
use trmm_db::access::{self, Access};
use trmm_db::agents::AgentRef;
use trmm_db::roles::{RolePermissions, Scope};
use trmm_db::sessions::{self, Session};
use trmm_db::users::User;
use trmm_db::{ClientId, SiteId};

use super::perms::Permission;
use super::INVALID_TOKEN;
use crate::error::ApiError;
use crate::state::AppState;

/// Dashboard sessions live this long after their last use (TRMM settings.py REST_KNOX TOKEN_TTL = 5 h).
pub const SESSION_TTL: Duration = Duration::hours(5);
/// The expiry is written back only when it moves by more than this (knox MIN_REFRESH_INTERVAL).
const MIN_REFRESH: Duration = Duration::minutes(10);

const NO_PERMISSION: &str = "You do not have permission to perform this action.";
const TOTP_REQUIRED: &str = "Two-factor authentication must be set up before this token can be used.";

/// An authenticated dashboard user.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user.
    pub user: User,
    /// Digest of the session token that authenticated the request.
    pub session_digest: Vec<u8>,
    /// Whether 2FA was completed for this session.
    pub scope: sessions::Scope,
    /// The user's role, if any.
    pub role: Option<RolePermissions>,
}

impl Identity {
    /// Superuser flag on the user or on its role.
    pub fn is_superuser(&self) -> bool {
        access::is_superuser(&self.user, self.role.as_ref())
    }

    fn has(&self, flag: Option<&str>) -> bool {
        flag.is_none_or(|flag| access::has(&self.user, self.role.as_ref(), flag))
    }

    /// Which clients and sites this user may see.
    pub fn visibility(&self) -> Scope {
        access::visibility(&self.user, self.role.as_ref())
    }

    /// Fails with 403 unless the site is visible to this user.
    pub fn require_site(&self, client: ClientId, site: SiteId) -> Result<(), ApiError> {
        if self.visibility().allows_site(client, site) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(NO_PERMISSION))
        }
    }

    /// Fails with 403 unless the client (or one of its sites) is visible to this user.
    pub fn require_client(&self, client: ClientId) -> Result<(), ApiError> {
        let scope = self.visibility();
        if scope.unrestricted || scope.clients.contains(&client.0) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(NO_PERMISSION))
        }
    }

    /// The username recorded in audit rows and `created_by` columns.
    pub fn username(&self) -> &str {
        &self.user.username
    }
}

/// Resolves and refreshes the session named by the Authorization header.
async fn authenticate(req: &HttpRequest) -> Result<(AppState, Identity), ApiError> {
    let (state, db, digest) = super::token_digest(req).await?;
    let now = state.now();
    let Access {
        session: Session {
            scope, expiry, user, ..
        },
        role,
    } = access::by_session(&**db, &digest, now)
        .await?
        .ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
    if scope == sessions::Scope::Full && now + SESSION_TTL - expiry > MIN_REFRESH {
        sessions::extend(&**db, &digest, now + SESSION_TTL).await?;
    }
    Ok((
        state,
        Identity {
            user,
            session_digest: digest,
            scope,
            role,
        },
    ))
}

/// A user with a full session and permission `P`.
pub struct Authed<P: Permission> {
    /// Who is calling.
    pub identity: Identity,
    /// Shared state.
    pub state: AppState,
    _perm: PhantomData<P>,
}

impl<P: Permission> FromRequest for Authed<P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (state, identity) = authenticate(&req).await?;
            if identity.scope != sessions::Scope::Full {
                return Err(ApiError::Forbidden(TOTP_REQUIRED));
            }
            if !identity.has(P::FLAG) {
                return Err(ApiError::Forbidden(NO_PERMISSION));
            }
            Ok(Authed {
                identity,
                state,
                _perm: PhantomData,
            })
        })
    }
}

/// Any session, including the TOTP-setup-only one.
pub struct TotpSetupUser {
    /// Who is calling.
    pub identity: Identity,
    /// Shared state.
    pub state: AppState,
}

impl FromRequest for TotpSetupUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (state, identity) = authenticate(&req).await?;
            Ok(TotpSetupUser { identity, state })
        })
    }
}

/// A user with permission `P` and the agent named by the `{agent_id}` path segment, which the user may see.
/// An unknown agent is a 404, one outside the user's clients and sites a 403.
pub struct ScopedAgent<P: Permission> {
    /// Who is calling.
    pub identity: Identity,
    /// Shared state.
    pub state: AppState,
    /// The agent.
    pub agent: AgentRef,
    _perm: PhantomData<P>,
}

impl<P: Permission> FromRequest for ScopedAgent<P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authed = Authed::<P>::from_request(req, payload);
        let agent_id = req.match_info().get("agent_id").map(str::to_owned);
        Box::pin(async move {
            let Authed { identity, state, .. } = authed.await?;
            let agent_id = agent_id.ok_or(ApiError::NotFound)?;
            let db = state.conn().await?;
            let agent = trmm_db::agents::find_by_agent_id(&**db, &agent_id)
                .await?
                .ok_or(ApiError::NotFound)?;
            identity.require_site(agent.client, agent.site)?;
            Ok(ScopedAgent {
                identity,
                state,
                agent,
                _perm: PhantomData,
            })
        })
    }
}
