use actix_web::{HttpMessage, HttpRequest};
use trmm_db::agents::AgentRef;
use trmm_db::installers::InstallerGrant;

use crate::debug_log::AgentSeen;
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

async fn agent_auth(req: &HttpRequest) -> Result<AgentAuth, ApiError> {
    let (state, db, digest) = super::token_digest(req).await?;
    let agent = trmm_db::agents::find_by_token(&db, &digest).await?;
    let agent = agent.ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
    req.extensions_mut().insert(AgentSeen(agent.pk));
    Ok(AgentAuth { agent, state })
}

from_request_by!(AgentAuth => agent_auth);

/// A valid, unexpired installer token. It opens only the install endpoints; dashboard extractors never
/// look at installer tokens, so they cannot be used anywhere else.
pub struct InstallerAuth {
    /// What the token allows.
    pub grant: InstallerGrant,
    /// Shared state.
    pub state: AppState,
}

async fn installer_auth(req: &HttpRequest) -> Result<InstallerAuth, ApiError> {
    let (state, db, digest) = super::token_digest(req).await?;
    let grant = trmm_db::installers::find_valid(&db, &digest, state.now()).await?;
    let grant = grant.ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
    Ok(InstallerAuth { grant, state })
}

from_request_by!(InstallerAuth => installer_auth);
