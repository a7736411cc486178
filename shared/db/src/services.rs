//! The service list an agent last reported (`agents.services`), read and written by the services views.

use crate::GenericClient;

use crate::{AgentPk, DbError};

/// Stores the agent's live service list (upstream `agent.services = r; agent.save()`).
pub async fn save(db: &impl GenericClient, agent: AgentPk, services: &serde_json::Value) -> Result<(), DbError> {
    db.execute("UPDATE agents SET services = $2 WHERE id = $1", &[&agent.0, services])
        .await?;
    Ok(())
}

/// The agent's platform (`linux`, `windows`, `darwin`), which decides how a service is restarted.
pub async fn platform(db: &impl GenericClient, agent: AgentPk) -> Result<Option<String>, DbError> {
    let row = db
        .query_opt("SELECT plat FROM agents WHERE id = $1", &[&agent.0])
        .await?;
    Ok(row.map(|r| r.get(0)))
}
