//! Availability alerts (upstream `agent_outages_task` every 150 s and `resolve_alerts_task` every 80 s): overdue
//! agents raise them, agents back online resolve them. Each agent is handled in its own transaction, so one
//! agent's failure does not hold back the others.

use chrono::{DateTime, Utc};
use trmm_db::alerts::{self, Subject};
use trmm_db::{AgentPk, Pool};

use super::{Cause, Changed};
use crate::events::Events;
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
    (jobs, events): (&JobQueue, &Events),
    agents: Vec<AgentPk>,
    now: DateTime<Utc>,
    resolve: bool,
) -> Result<Pass, OpsError> {
    let mut pass = Pass {
        agents: agents.len(),
        owed: 0,
    };
    for agent in agents {
        match one(pool, agent, now, resolve).await {
            Ok(changed) => {
                pass.owed += changed.owed.len();
                changed.after_commit(jobs, events).await;
            }
            Err(e) => tracing::warn!(agent = agent.0, resolve, error = %e, "availability alert not updated"),
        }
    }
    Ok(pass)
}

/// One agent, if it is still overdue (or, when resolving, online) now that its row is read again.
async fn one(pool: &Pool, agent: AgentPk, now: DateTime<Utc>, resolve: bool) -> Result<Changed, OpsError> {
    let mut db = pool.get().await.map_err(trmm_db::DbError::from)?;
    let tx = db.transaction().await.map_err(trmm_db::DbError::from)?;
    let status = alerts::agent_status(&tx, agent, now).await?;
    let subject = Subject::Availability(agent);
    let changed = match (resolve, status.as_deref()) {
        (true, Some("online")) => super::resolve(&tx, subject, now).await?,
        (false, Some("overdue")) => super::failure(&tx, subject, Cause::Availability, now).await?,
        _ => Changed::default(),
    };
    tx.commit().await.map_err(trmm_db::DbError::from)?;
    Ok(changed)
}

/// Raises (or refreshes) the availability alert of every overdue agent.
pub async fn outages(pool: &Pool, jobs: &JobQueue, events: &Events, now: DateTime<Utc>) -> Result<Pass, OpsError> {
    let agents = alerts::overdue_agents(&pool.get().await.map_err(trmm_db::DbError::from)?, now).await?;
    each(pool, (jobs, events), agents, now, false).await
}

/// Resolves the availability alert of every agent that is back online.
pub async fn returns(pool: &Pool, jobs: &JobQueue, events: &Events, now: DateTime<Utc>) -> Result<Pass, OpsError> {
    let agents = alerts::returned_agents(&pool.get().await.map_err(trmm_db::DbError::from)?, now).await?;
    each(pool, (jobs, events), agents, now, true).await
}
