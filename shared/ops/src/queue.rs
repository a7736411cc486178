//! Handing work to trmm-worker: the Redis job queues (entries only; payloads are in Postgres), and the queue of
//! an offline agent (pending actions), which the worker runs when the agent is back.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;
use trmm_db::agents::AgentRef;
use trmm_db::{pending, DbError, GenericClient, Pool};
use trmm_jobs::{Job, QueuedRun, RunPending};
use trmm_protocol::calls::{AgentCall, Call};
use trmm_rpc::client::{GatewayClient, GatewayError};

use crate::OpsError;

/// The deployment's Redis job queues, once Redis is connected.
#[derive(Clone)]
pub struct JobQueue {
    /// Set once Redis answers (services keep serving while it is down).
    pub redis: Arc<OnceCell<ConnectionManager>>,
    /// `TRMM_REDIS_PREFIX`.
    pub prefix: String,
}

impl JobQueue {
    /// [`OpsError::QueueUnavailable`] unless Redis is connected: checked before writing work that needs a queue.
    pub fn require_connected(&self) -> Result<(), OpsError> {
        self.redis.get().map(|_| ()).ok_or(OpsError::QueueUnavailable)
    }

    /// Queues `job`; [`OpsError::QueueUnavailable`] when Redis is not connected or refuses it.
    pub async fn push<J: Job>(&self, job: J) -> Result<(), OpsError> {
        let redis = self.redis.get().cloned().ok_or(OpsError::QueueUnavailable)?;
        trmm_jobs::enqueue(redis, &self.prefix, job).await.map_err(|e| {
            tracing::error!(queue = J::QUEUE, error = %e, "job not queued");
            OpsError::QueueUnavailable
        })
    }
}

/// What agent work needs: Postgres, the AgentGateway, the job queues and the dashboard events.
#[derive(Clone)]
pub struct Ops {
    /// Postgres.
    pub pool: Pool,
    /// The AgentGateway.
    pub gateway: GatewayClient,
    /// The job queues.
    pub jobs: JobQueue,
    /// Where finished runs are announced.
    pub events: crate::events::Events,
}

/// What became of a call that may be queued.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivered<R> {
    /// The agent answered (or, for a call without reply, took it).
    Done(R),
    /// The agent is offline: queued, with the answer to give the dashboard.
    Queued(String),
}

impl Ops {
    /// A pooled connection (held only between agent calls, never across one).
    pub async fn conn(&self) -> Result<trmm_db::Client, DbError> {
        Ok(self.pool.get().await?)
    }

    /// Sends `call` and waits up to `wait` for the reply; when the agent is offline and `queue` is given, the
    /// call is queued for its return instead. No pooled connection is held while the agent works.
    pub async fn call_or_queue<C>(
        &self,
        agent: &AgentRef,
        call: C,
        wait: Duration,
        queue: Option<impl FnOnce(AgentCall) -> QueuedRun>,
    ) -> Result<Delivered<C::Reply>, OpsError>
    where
        C: Call + Clone + Into<AgentCall>,
    {
        let Some(queued) = queue else {
            return Ok(Delivered::Done(self.gateway.call(&agent.agent_id, call, wait).await?));
        };
        match self.gateway.call_queueable(&agent.agent_id, call.clone(), wait).await {
            Ok(reply) => Ok(Delivered::Done(reply)),
            Err(GatewayError::Offline) => self.queue_offline(agent, &queued(call.into())).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Sends `call` without waiting for a reply; queued as [`Ops::call_or_queue`] does.
    pub async fn send_or_queue<C>(
        &self,
        agent: &AgentRef,
        call: C,
        queue: Option<impl FnOnce(AgentCall) -> QueuedRun>,
    ) -> Result<Delivered<()>, OpsError>
    where
        C: Into<AgentCall> + Clone,
    {
        let Some(queued) = queue else {
            return Ok(Delivered::Done(self.gateway.send(&agent.agent_id, call).await?));
        };
        match self.gateway.send_queueable(&agent.agent_id, call.clone()).await {
            Ok(()) => Ok(Delivered::Done(())),
            Err(GatewayError::Offline) => self.queue_offline(agent, &queued(call.into())).await,
            Err(e) => Err(e.into()),
        }
    }

    async fn queue_offline<R>(&self, agent: &AgentRef, run: &QueuedRun) -> Result<Delivered<R>, OpsError> {
        let answer = queue_offline(&self.conn().await?, &self.jobs, agent, run).await?;
        Ok(Delivered::Queued(answer))
    }
}

/// Queues a command or script for an offline agent (a `runcmd` / `runscript` pending action) and returns the
/// answer to give the dashboard. trmm-worker runs it when the agent connects, or marks it expired after
/// `TRMM_PENDING_ACTION_TTL`.
async fn queue_offline(
    db: &impl GenericClient,
    jobs: &JobQueue,
    agent: &AgentRef,
    run: &QueuedRun,
) -> Result<String, DbError> {
    pending::create(db, agent.pk, run.action_type(), run).await?;
    // Covers an agent that came back while the action was written; without it the next connect runs it.
    let wake = RunPending {
        agent_id: agent.agent_id.clone(),
    };
    if jobs.push(wake).await.is_err() {
        tracing::warn!(agent_id = %agent.agent_id, "queued action waits for the agent's next connect");
    }
    Ok(format!(
        "{} is offline: queued, it will run when the agent is back online",
        agent.hostname
    ))
}
