//! Who may connect: an agent whose CONNECT carries user = its agent_id and password = its token,
//! checked against the token's SHA-256 digest in Postgres (the token itself is never stored).

use trmm_protocol::AgentId;

use super::claims::ConnectOpts;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// CONNECT had no user or no password.
    NoCredentials,
    /// The user cannot be an agent id (empty, or it contains `.`, `*`, `>`, `$` or whitespace).
    NotAnAgentId,
    /// No agent with that id (never enrolled, or deleted).
    UnknownAgent,
    /// The agent exists but the password is not its token.
    WrongToken,
    /// Postgres could not be asked; the agent retries.
    Database,
}

impl Denial {
    /// Every reason, so that each metric series exists from the start.
    pub const ALL: [Denial; 5] = [
        Denial::NoCredentials,
        Denial::NotAnAgentId,
        Denial::UnknownAgent,
        Denial::WrongToken,
        Denial::Database,
    ];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            Denial::NoCredentials => "no_credentials",
            Denial::NotAnAgentId => "not_an_agent_id",
            Denial::UnknownAgent => "unknown_agent",
            Denial::WrongToken => "wrong_token",
            Denial::Database => "database",
        }
    }

    /// The error sent back to nats-server, which logs it (the client sees "Authorization Violation").
    pub fn message(self) -> &'static str {
        match self {
            Denial::NoCredentials => "no user or password",
            Denial::NotAnAgentId => "user is not an agent id",
            Denial::UnknownAgent => "unknown agent",
            Denial::WrongToken => "wrong agent token",
            Denial::Database => "agent database unavailable",
        }
    }
}

/// Returns the agent id the connection may act as, or why not.
pub async fn check(pool: &trmm_db::Pool, connect: &ConnectOpts) -> Result<String, Denial> {
    let (agent_id, token) = (connect.user.as_str(), connect.pass.as_str());
    if agent_id.is_empty() || token.is_empty() {
        return Err(Denial::NoCredentials);
    }
    if AgentId::parse(agent_id).is_err() {
        return Err(Denial::NotAnAgentId);
    }
    let db = pool.get().await.map_err(|e| {
        tracing::warn!(error = %e, "auth callout cannot reach Postgres");
        Denial::Database
    })?;
    let database = |e: trmm_db::DbError| {
        tracing::warn!(error = %e, "auth callout query failed");
        Denial::Database
    };
    let digest = trmm_auth::digest_token(token);
    match trmm_db::agents::find_by_token(&db, &digest).await.map_err(database)? {
        Some(agent) if agent.agent_id == agent_id => Ok(agent.agent_id),
        // Another agent's token: as wrong as any other password.
        Some(_) => Err(Denial::WrongToken),
        None => match trmm_db::agents::find_by_agent_id(&db, agent_id)
            .await
            .map_err(database)?
        {
            Some(_) => Err(Denial::WrongToken),
            None => Err(Denial::UnknownAgent),
        },
    }
}
