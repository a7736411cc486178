//! Availability alerts (upstream `agent_outages_task` every 150 s and `resolve_alerts_task` every 80 s): overdue
//! agents raise them, agents back online resolve them. Each agent is handled in its own transaction, so one
//! agent's failure does not hold back the others.

use chrono::{DateTime, Utc};
use trmm_db::alerts::{self, Subject};
use trmm_db::{AgentPk, Pool};

use super::Cause;
use crate::{JobQueue, OpsError};

/// What one availability pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Agents looked at.
    pub agents: usize,
    /// Notifications now owed.
    pub owed: usize,
}

async fn each(
    pool: &Pool,
    jobs: &JobQueue,
    agents: Vec<AgentPk>,
    now: DateTime<Utc>,
    resolve: bool,
) -> Result<Pass, OpsError> {
    let mut pass = Pass {
        agents: agents.len(),
        owed: 0,
    };
    for agent in agents {
        let mut db = pool.get().await.map_err(trmm_db::DbError::from)?;
        let tx = db.transaction().await.map_err(trmm_db::DbError::from)?;
        let subject = Subject::Availability(agent);
        let owed = if resolve {
            super::resolve(&*tx, subject, now).await?
        } else {
            super::failure(&*tx, subject, Cause::Availability, now).await?
        };
        tx.commit().await.map_err(trmm_db::DbError::from)?;
        pass.owed += owed.len();
        jobs.hand_over(&owed).await;
    }
    Ok(pass)
}

/// Raises (or refreshes) the availability alert of every overdue agent.
pub async fn outages(pool: &Pool, jobs: &JobQueue, now: DateTime<Utc>) -> Result<Pass, OpsError> {
    let agents = alerts::overdue_agents(&**pool.get().await.map_err(trmm_db::DbError::from)?, now).await?;
    each(pool, jobs, agents, now, false).await
}

/// Resolves the availability alert of every agent that is back online.
pub async fn returns(pool: &Pool, jobs: &JobQueue, now: DateTime<Utc>) -> Result<Pass, OpsError> {
    let agents = alerts::returned_agents(&**pool.get().await.map_err(trmm_db::DbError::from)?, now).await?;
    each(pool, jobs, agents, now, true).await
}
