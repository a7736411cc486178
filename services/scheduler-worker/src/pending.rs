//! Commands and scripts queued for offline agents (pending actions `runcmd` / `runscript`): run, in the order
//! they were queued, as soon as the agent is back; expired after `TRMM_PENDING_ACTION_TTL`, never run then.
//!
//! Two triggers: the AgentGateway presence stream (an agent going online starts its queue at once), and a short
//! tick over agents with queued work. The tick is needed because presence comes from `last_seen` with
//! minutes-long offline thresholds: an agent restarted within that window never goes "offline", so no
//! transition announces its return. Trying an absent agent costs one unanswered ping.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use trmm_db::pending::{self, Claimed};
use trmm_jobs::QueuedRun;
use trmm_rpc::client::{GatewayClient, GatewayError};
use trmm_runtime::clock::SharedClock;

use crate::record;

/// How often agents with queued work are tried.
const TICK: Duration = Duration::from_secs(3);
/// How often expired actions are swept (more often when the TTL is short).
const SWEEP: Duration = Duration::from_secs(60);
/// History `results` of a queued command that expired.
const EXPIRED: &str = "expired: the agent did not come back online in time";

/// What the runner needs.
#[derive(Clone)]
pub struct Runner {
    /// Postgres.
    pub pool: trmm_db::Pool,
    /// The AgentGateway.
    pub gateway: GatewayClient,
    /// Queued work older than this expires.
    pub ttl: Duration,
    /// Judges expiry and stamps claims and results.
    pub clock: SharedClock,
}

type Presence = Arc<Mutex<HashMap<String, bool>>>;

/// Runs until `shutdown`.
pub async fn serve(runner: Runner, shutdown: CancellationToken) {
    let presence: Presence = Arc::default();
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    let (wake, mut woken) = mpsc::unbounded_channel::<String>();
    tokio::spawn(watch_presence(
        runner.gateway.clone(),
        presence.clone(),
        wake,
        shutdown.clone(),
    ));
    let mut tick = tokio::time::interval(TICK);
    let mut sweep = tokio::time::interval(SWEEP.min(runner.ttl / 4).max(Duration::from_secs(1)));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = sweep.tick() => runner.expire().await,
            _ = tick.tick() => {
                for agent_id in runner.queued_agents().await {
                    let known_offline = lock(&presence).get(&agent_id) == Some(&false);
                    if !known_offline {
                        runner.start(&busy, agent_id);
                    }
                }
            }
            Some(agent_id) = woken.recv() => runner.start(&busy, agent_id),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Follows the gateway's presence stream, reconnecting, and reports agents that come online.
async fn watch_presence(
    gateway: GatewayClient,
    presence: Presence,
    wake: mpsc::UnboundedSender<String>,
    shutdown: CancellationToken,
) {
    loop {
        let stream = trmm_runtime::backoff::connect_with_backoff("agent gateway (presence)", &shutdown, || {
            gateway.watch_presence()
        })
        .await;
        let Some(stream) = stream else { return };
        let mut stream = Box::pin(stream);
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                e = stream.next() => e,
            };
            match event {
                Some(Ok(e)) => {
                    let was = lock(&presence).insert(e.agent_id.clone(), e.online);
                    if e.online && was != Some(true) {
                        let _ = wake.send(e.agent_id);
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "presence stream broke; reconnecting");
                    break;
                }
                None => break,
            }
        }
    }
}

impl Runner {
    fn cutoff(&self) -> chrono::DateTime<Utc> {
        self.clock.now() - chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::MAX)
    }

    async fn queued_agents(&self) -> Vec<String> {
        let result = async {
            let db = self.pool.get().await?;
            pending::agents_with_queued(&**db, self.cutoff(), self.clock.now()).await
        }
        .await;
        result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "listing queued actions failed");
            Vec::new()
        })
    }

    async fn expire(&self) {
        let result = async {
            let db = self.pool.get().await?;
            pending::expire(&**db, self.cutoff(), self.clock.now(), EXPIRED).await
        }
        .await;
        match result {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "queued actions expired"),
            Err(e) => tracing::warn!(error = %e, "expiring queued actions failed"),
        }
    }

    /// Drains the agent's queue in a task of its own, unless one is already at it.
    fn start(&self, busy: &Arc<Mutex<HashSet<String>>>, agent_id: String) {
        if !lock(busy).insert(agent_id.clone()) {
            return;
        }
        let (runner, busy) = (self.clone(), busy.clone());
        tokio::spawn(async move {
            if let Err(e) = runner.drain(&agent_id).await {
                tracing::warn!(agent_id, error = %e, "running queued actions failed");
            }
            lock(&busy).remove(&agent_id);
        });
    }

    /// Runs the agent's queued actions oldest first; stops at the first the agent cannot take.
    async fn drain(&self, agent_id: &str) -> Result<(), trmm_db::DbError> {
        loop {
            let claimed = {
                let db = self.pool.get().await?;
                pending::claim_next(&**db, agent_id, self.cutoff(), self.clock.now()).await?
            };
            let Some(action) = claimed else { return Ok(()) };
            if !self.run(agent_id, action).await? {
                return Ok(());
            }
        }
    }

    /// Sends one action; false when the agent turned out to be absent (the action stays queued).
    async fn run(&self, agent_id: &str, action: Claimed) -> Result<bool, trmm_db::DbError> {
        let Ok(queued) = serde_json::from_value::<QueuedRun>(action.details.clone()) else {
            let db = self.pool.get().await?;
            pending::complete(&**db, action.id, &json!({"error": "unreadable command"})).await?;
            return Ok(true);
        };
        let (hist, timeout) = (queued.history_id, Duration::from_secs(queued.timeout.max(1) as u64));
        let outcome = record::call(&self.gateway, agent_id, queued.command, timeout).await;
        match &outcome {
            Err(GatewayError::Offline | GatewayError::Unavailable(_)) => {
                pending::release(&**self.pool.get().await?, action.id).await?;
                return Ok(false);
            }
            Ok(reply) => record::reply(&self.pool, hist, action.agent, reply).await?,
            Err(e) => record::text(&self.pool, hist, action.agent, &record::marker(e)).await?,
        }
        let result = match &outcome {
            Ok(_) => "replied".to_owned(),
            Err(e) => record::marker(e),
        };
        tracing::info!(agent_id, action = action.id, kind = %action.action_type, %result, "queued action ran");
        let db = self.pool.get().await?;
        pending::complete(
            &**db,
            action.id,
            &json!({ "result": result, "ran_at": self.clock.now() }),
        )
        .await?;
        Ok(true)
    }
}
