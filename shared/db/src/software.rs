//! Installed software lists reported by agents (`POST /api/v3/software/`).

use tokio_postgres::GenericClient;

use crate::{AgentPk, DbError};

/// Replaces the agent's software list.
pub async fn upsert(db: &impl GenericClient, agent: AgentPk, software: &serde_json::Value) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO installed_software (agent_pk, software) VALUES ($1, $2)
         ON CONFLICT (agent_pk) DO UPDATE SET software = EXCLUDED.software",
        &[&agent.0, &software],
    )
    .await?;
    Ok(())
}
