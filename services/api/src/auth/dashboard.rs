use std::marker::PhantomData;

use actix_web::HttpRequest;
use trmm_authz::perms::Permission;
use trmm_authz::{Credentials, Denial, Identity, Via};
use trmm_db::agents::AgentRef;
use trmm_db::users::User;

use crate::error::ApiError;
use crate::state::AppState;

/// The state, a connection and the request's credentials (a session token or an API key).
pub(super) async fn prepare(req: &HttpRequest) -> Result<(AppState, trmm_db::Client, Credentials<'_>), ApiError> {
    let state = super::state_of(req)?;
    // No credentials is a 401 without touching Postgres.
    let credentials = trmm_authz::credentials(req).ok_or(Denial::NoCredentials)?;
    let db = state.conn().await?;
    Ok((state, db, credentials))
}

/// A user with a full session or an API key, and permission `P`.
pub struct Authed<P: Permission> {
    /// Who is calling.
    pub identity: Identity,
    /// Shared state.
    pub state: AppState,
    _perm: PhantomData<P>,
}

impl<P: Permission> Authed<P> {
    pub(super) fn new(identity: Identity, state: AppState) -> Self {
        Authed {
            identity,
            state,
            _perm: PhantomData,
        }
    }

    async fn resolve(req: &HttpRequest) -> Result<Self, ApiError> {
        let (state, db, credentials) = prepare(req).await?;
        let ip = super::client_ip(req, &state);
        let identity = trmm_authz::authorize_with::<P>(&db, credentials, ip, state.now()).await?;
        Ok(Authed::new(identity, state))
    }
}

from_request_by!(impl<P: Permission> Authed<P> => Authed::<P>::resolve);

/// Any session, including the TOTP-setup-only one, and never an API key: for the endpoints that act on the
/// session itself (TOTP setup, logout).
pub struct TotpSetupUser {
    /// Who is calling.
    pub identity: SessionUser,
    /// Shared state.
    pub state: AppState,
}

/// The user of a session and the session's token digest.
pub struct SessionUser {
    /// The user.
    pub user: User,
    /// Digest of the session token.
    pub session_digest: Vec<u8>,
}

async fn totp_setup_user(req: &HttpRequest) -> Result<TotpSetupUser, ApiError> {
    let state = super::state_of(req)?;
    let token = trmm_authz::bearer_token(req).ok_or(Denial::NoCredentials)?;
    let db = state.conn().await?;
    let ip = super::client_ip(req, &state);
    let Identity { user, via, .. } = trmm_authz::session(&db, Some(token), ip, state.now()).await?;
    let Via::Session { digest, .. } = via else {
        return Err(Denial::InvalidToken.into());
    };
    let identity = SessionUser {
        user,
        session_digest: digest,
    };
    Ok(TotpSetupUser { identity, state })
}

from_request_by!(TotpSetupUser => totp_setup_user);

/// A user with permission `P` and the agent named by the `{agent_id}` path segment, which the user may see.
/// An unknown agent is a 404, one outside the user's clients and sites a 403 (the check trmm-websocket's
/// command socket makes too: `trmm_authz::agent_in_scope`).
pub struct ScopedAgent<P: Permission> {
    /// Who is calling.
    pub identity: Identity,
    /// Shared state.
    pub state: AppState,
    /// The agent.
    pub agent: AgentRef,
    _perm: PhantomData<P>,
}

impl<P: Permission> ScopedAgent<P> {
    async fn resolve(req: &HttpRequest) -> Result<Self, ApiError> {
        let (state, db, credentials) = prepare(req).await?;
        let agent_id = req.match_info().get("agent_id").ok_or(ApiError::NotFound)?;
        let ip = super::client_ip(req, &state);
        let identity = trmm_authz::authorize_with::<P>(&db, credentials, ip, state.now()).await?;
        let agent = trmm_authz::agent_in_scope(&db, &identity, agent_id).await?;
        let _perm = PhantomData;
        Ok(ScopedAgent {
            identity,
            state,
            agent,
            _perm,
        })
    }
}

from_request_by!(impl<P: Permission> ScopedAgent<P> => ScopedAgent::<P>::resolve);
