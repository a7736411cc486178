use std::marker::PhantomData;

use actix_web::HttpRequest;
use trmm_authz::perms::Permission;
use trmm_authz::Identity;
use trmm_db::agents::AgentRef;

use crate::error::ApiError;
use crate::state::AppState;

/// The state and a connection for resolving the request's `Authorization` token.
pub(super) async fn prepare(req: &HttpRequest) -> Result<(AppState, trmm_db::Client), ApiError> {
    let state = super::state_of(req)?;
    // No token is a 401 without touching Postgres.
    trmm_authz::bearer_token(req).ok_or(trmm_authz::Denial::NoCredentials)?;
    let db = state.conn().await?;
    Ok((state, db))
}

/// A user with a full session and permission `P`.
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
        let (state, db) = prepare(req).await?;
        let ip = super::client_ip(req, &state);
        let identity = trmm_authz::authorize::<P>(&db, trmm_authz::bearer_token(req), ip, state.now()).await?;
        Ok(Authed::new(identity, state))
    }
}

from_request_by!(impl<P: Permission> Authed<P> => Authed::<P>::resolve);

/// Any session, including the TOTP-setup-only one.
pub struct TotpSetupUser {
    /// Who is calling.
    pub identity: Identity,
    /// Shared state.
    pub state: AppState,
}

async fn totp_setup_user(req: &HttpRequest) -> Result<TotpSetupUser, ApiError> {
    let (state, db) = prepare(req).await?;
    let ip = super::client_ip(req, &state);
    let identity = trmm_authz::session(&db, trmm_authz::bearer_token(req), ip, state.now()).await?;
    Ok(TotpSetupUser { identity, state })
}

from_request_by!(TotpSetupUser => totp_setup_user);

/// A user with permission `P` and the agent named by the `{agent_id}` path segment, which the user may see.
/// An unknown agent is a 404, one outside the user's clients and sites a 403 (the check trmm-websocket's
/// command socket makes too: `trmm_authz::authorize_agent`).
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
        let (state, db) = prepare(req).await?;
        let token = trmm_authz::bearer_token(req);
        let agent_id = req.match_info().get("agent_id").ok_or(ApiError::NotFound)?;
        let ip = super::client_ip(req, &state);
        let (identity, agent) = trmm_authz::authorize_agent::<P>(&db, token, ip, agent_id, state.now()).await?;
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
