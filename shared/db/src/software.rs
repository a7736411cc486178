//! Installed software lists reported by agents (`POST /api/v3/software/`, the `softwarelist` refresh).

use crate::GenericClient;

use crate::roles::Scope;
use crate::{AgentPk, DbError};

/// One agent's stored list (upstream `InstalledSoftware`; one row per agent here).
#[derive(Debug, Clone, PartialEq)]
pub struct InstalledSoftware {
    /// The agent it belongs to.
    pub agent: AgentPk,
    /// WinSoftwareList records as reported.
    pub software: serde_json::Value,
}

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

/// The agent's stored list, if it ever reported one.
pub async fn get(db: &impl GenericClient, agent: AgentPk) -> Result<Option<InstalledSoftware>, DbError> {
    let row = db
        .query_opt(
            "SELECT agent_pk, software FROM installed_software WHERE agent_pk = $1",
            &[&agent.0],
        )
        .await?;
    Ok(row.map(|r| InstalledSoftware {
        agent: AgentPk(r.get(0)),
        software: r.get(1),
    }))
}

/// Every stored list of the agents `scope` can see, by agent.
pub async fn list(db: &impl GenericClient, scope: &Scope) -> Result<Vec<InstalledSoftware>, DbError> {
    let rows = db
        .query(
            "SELECT i.agent_pk, i.software FROM installed_software i
             JOIN agents a ON a.id = i.agent_pk JOIN sites s ON s.id = a.site_id
             WHERE $1::bool OR s.client_id = ANY($2::int[]) OR s.id = ANY($3::int[])
             ORDER BY i.agent_pk",
            &scope.params(),
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| InstalledSoftware {
            agent: AgentPk(r.get(0)),
            software: r.get(1),
        })
        .collect())
}
