use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use trmm_db::agents::AgentRef;
use trmm_db::installers::InstallerGrant;

use crate::error::ApiError;
use crate::state::AppState;
use trmm_authz::INVALID_TOKEN;

/// An agent authenticated by its static token. The `<agentid>` in agent URLs is never trusted: every agent
/// endpoint acts on this agent (TRMM apiv3/views.py looks the agent up by `request.user`).
pub struct AgentAuth {
    /// The calling agent.
    pub agent: AgentRef,
    /// Shared state.
    pub state: AppState,
}

impl FromRequest for AgentAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (state, db, digest) = super::token_digest(&req).await?;
            let agent = trmm_db::agents::find_by_token(&**db, &digest)
                .await?
                .ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
            Ok(AgentAuth { agent, state })
        })
    }
}

/// A valid, unexpired installer token. It opens only the install endpoints; dashboard extractors never
/// look at installer tokens, so they cannot be used anywhere else.
pub struct InstallerAuth {
    /// What the token allows.
    pub grant: InstallerGrant,
    /// Shared state.
    pub state: AppState,
}

impl FromRequest for InstallerAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (state, db, digest) = super::token_digest(&req).await?;
            let grant = trmm_db::installers::find_valid(&**db, &digest, state.now())
                .await?
                .ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
            Ok(InstallerAuth { grant, state })
        })
    }
}
