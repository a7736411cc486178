use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use trmm_authz::perms::Permission;
use trmm_authz::Identity;
use trmm_db::agents::AgentRef;

use crate::error::ApiError;
use crate::state::AppState;

/// The state and a connection for resolving the request's `Authorization` token.
async fn prepare(req: &HttpRequest) -> Result<(AppState, trmm_db::Client), ApiError> {
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
}

impl<P: Permission> FromRequest for Authed<P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (state, db) = prepare(&req).await?;
            let identity = trmm_authz::authorize::<P>(&**db, trmm_authz::bearer_token(&req), state.now()).await?;
            Ok(Authed::new(identity, state))
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
            let (state, db) = prepare(&req).await?;
            let identity = trmm_authz::session(&**db, trmm_authz::bearer_token(&req), state.now()).await?;
            Ok(TotpSetupUser { identity, state })
        })
    }
}

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

impl<P: Permission> FromRequest for ScopedAgent<P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (state, db) = prepare(&req).await?;
            let token = trmm_authz::bearer_token(&req);
            let agent_id = req.match_info().get("agent_id").ok_or(ApiError::NotFound)?;
            let (identity, agent) = trmm_authz::authorize_agent::<P>(&**db, token, agent_id, state.now()).await?;
            Ok(ScopedAgent {
                identity,
                state,
                agent,
                _perm: PhantomData,
            })
        })
    }
}
