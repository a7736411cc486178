//! Commands and scripts queued for offline agents (pending actions `runcmd` / `runscript`): run, in the order
//! they were queued, as soon as the agent is back; expired after `TRMM_PENDING_ACTION_TTL`, never run then.
//!
//! What starts an agent's queue: the AgentGateway's presence stream (nats-server's own connect events), a
//! `RunPending` job from trmm-api (for an agent that came back while its action was being written), and a
//! catch-up over every agent with queued work each time the presence stream is (re)subscribed. Only where the
//! gateway does not track presence (a nats-server without the system account) is that catch-up repeated on a tick.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use apalis::prelude::*;
use chrono::Utc;
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use trmm_db::pending::{self, Claimed};
use trmm_jobs::{QueuedRun, RunPending};
use trmm_rpc::client::{GatewayClient, GatewayError};
use trmm_runtime::clock::SharedClock;

use crate::record;

/// How often the catch-up runs while the gateway does not track presence.
const UNTRACKED_TICK: Duration = Duration::from_secs(3);
/// How often expired actions are swept (more often when the TTL is short).
const SWEEP: Duration = Duration::from_secs(60);
/// How often an idle worker looks for `RunPending` jobs.
const POLL: Duration = Duration::from_millis(500);
/// Agent ids per presence question (the gateway's limit is 10,000).
const PAGE: usize = 5000;
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
    /// Where finished runs are announced.
    pub events: trmm_ops::events::Events,
}

/// Why the runner should look at queues.
#[derive(Debug)]
enum Wake {
    /// This agent is back (or may be).
    Agent(String),
    /// Events may have been missed: every queue whose agent is connected.
    CatchUp,
}

type Busy = Arc<Mutex<HashSet<String>>>;

/// The agents whose queues are being run, one task each; shutdown waits for them.
#[derive(Default)]
struct Drains {
    busy: Busy,
    tasks: JoinSet<()>,
}

/// Runs until `shutdown`.
pub async fn serve(runner: Runner, redis: ConnectionManager, prefix: String, shutdown: CancellationToken) {
    let (wake, woken) = mpsc::unbounded_channel::<Wake>();
    tokio::join!(
        watch_presence(runner.gateway.clone(), wake.clone(), shutdown.clone()),
        run_pending_jobs(wake, redis, prefix, shutdown.clone()),
        runner.dispatch(woken, shutdown),
    );
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Follows the gateway's presence stream, reconnecting; a catch-up follows every (re)subscription.
async fn watch_presence(gateway: GatewayClient, wake: mpsc::UnboundedSender<Wake>, shutdown: CancellationToken) {
    loop {
        let stream = trmm_runtime::backoff::connect_with_backoff("agent gateway (presence)", &shutdown, || {
            gateway.watch_presence()
        })
        .await;
        let Some(stream) = stream else { return };
        let _ = wake.send(Wake::CatchUp);
        let mut stream = Box::pin(stream);
        loop {
            let event = tokio::select! {
                () = shutdown.cancelled() => return,
                e = stream.next() => e,
            };
            match event {
                Some(Ok(e)) if e.online => {
                    let _ = wake.send(Wake::Agent(e.agent_id));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "presence stream broke; reconnecting");
                    break;
                }
                None => break,
            }
        }
    }
}

/// Consumes the `RunPending` queue until `shutdown`: each entry wakes its agent's queue.
async fn run_pending_jobs(
    wake: mpsc::UnboundedSender<Wake>,
    redis: ConnectionManager,
    prefix: String,
    shutdown: CancellationToken,
) {
    let name = crate::queue::worker_name("run-pending");
    crate::queue::supervise("run_pending", shutdown, |_, stop| {
        let storage = trmm_jobs::storage::<RunPending>(redis.clone(), &prefix).poll_with_interval(POLL);
        WorkerBuilder::new(name.as_str())
            .backend(storage)
            .data(wake.clone())
            .build(on_run_pending)
            .run_until(crate::queue::stopped(stop))
    })
    .await
}

async fn on_run_pending(job: RunPending, wake: Data<mpsc::UnboundedSender<Wake>>) -> Result<(), BoxDynError> {
    let _ = wake.send(Wake::Agent(job.agent_id));
    Ok(())
}

impl Runner {
    /// Starts queues as wakes arrive and sweeps expired actions, until `shutdown`.
    async fn dispatch(self, mut woken: mpsc::UnboundedReceiver<Wake>, shutdown: CancellationToken) {
        let mut drains = Drains::default();
        let mut untracked = false;
        let mut tick = tokio::time::interval(UNTRACKED_TICK);
        let mut sweep = tokio::time::interval(SWEEP.min(self.ttl / 4).max(Duration::from_secs(1)));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = sweep.tick() => self.expire().await,
                _ = tick.tick(), if untracked => untracked = self.catch_up(&mut drains, &shutdown).await,
                Some(wake) = woken.recv() => match wake {
                    Wake::Agent(agent_id) => self.start(&mut drains, agent_id, &shutdown),
                    Wake::CatchUp => untracked = self.catch_up(&mut drains, &shutdown).await,
                },
                Some(_) = drains.tasks.join_next(), if !drains.tasks.is_empty() => {}
            }
        }
        // Each drain stops at shutdown and gives back the action it was sending.
        while drains.tasks.join_next().await.is_some() {}
    }

    /// Starts the queue of every connected agent with queued work; returns whether presence is untracked (then
    /// every such agent is tried: the gateway pings it).
    async fn catch_up(&self, drains: &mut Drains, shutdown: &CancellationToken) -> bool {
        let queued = self.queued_agents().await;
        let mut untracked = false;
        // With nothing queued the question is still asked: the answer says whether presence is tracked.
        let pages: Vec<&[String]> = if queued.is_empty() {
            vec![&[]]
        } else {
            queued.chunks(PAGE).collect()
        };
        for page in pages {
            match self.gateway.connected(page.to_vec()).await {
                Ok(connected) => page
                    .iter()
                    .filter(|id| connected.contains(*id))
                    .for_each(|id| self.start(drains, id.clone(), shutdown)),
                Err(e) => {
                    tracing::debug!(error = %e, "presence unknown; trying every agent with queued work");
                    untracked = true;
                    page.iter().for_each(|id| self.start(drains, id.clone(), shutdown));
                }
            }
        }
        untracked
    }

    fn cutoff(&self) -> chrono::DateTime<Utc> {
        self.clock.now() - chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::MAX)
    }

    async fn queued_agents(&self) -> Vec<String> {
        let result = async {
            let db = self.pool.get().await?;
            pending::agents_with_queued(&db, self.cutoff(), self.clock.now()).await
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
            pending::expire(&db, self.cutoff(), self.clock.now(), EXPIRED).await
        }
        .await;
        match result {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "queued actions expired"),
            Err(e) => tracing::warn!(error = %e, "expiring queued actions failed"),
        }
    }

    /// Drains the agent's queue in a task of its own, unless one is already at it.
    fn start(&self, drains: &mut Drains, agent_id: String, shutdown: &CancellationToken) {
        if !lock(&drains.busy).insert(agent_id.clone()) {
            return;
        }
        let (runner, busy, shutdown) = (self.clone(), drains.busy.clone(), shutdown.clone());
        drains.tasks.spawn(async move {
            if let Err(e) = runner.drain(&agent_id, &shutdown).await {
                tracing::warn!(agent_id, error = %e, "running queued actions failed");
            }
            lock(&busy).remove(&agent_id);
        });
    }

    /// Runs the agent's queued actions oldest first; stops at the first the agent cannot take, and at shutdown.
    async fn drain(&self, agent_id: &str, shutdown: &CancellationToken) -> Result<(), trmm_db::DbError> {
        while !shutdown.is_cancelled() {
            let claimed = {
                let db = self.pool.get().await?;
                pending::claim_next(&db, agent_id, self.cutoff(), self.clock.now()).await?
            };
            let Some(action) = claimed else { return Ok(()) };
            if !self.run(agent_id, action, shutdown).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Sends one action; false when the agent turned out to be absent (the action stays queued).
    async fn run(
        &self,
        agent_id: &str,
        action: Claimed,
        shutdown: &CancellationToken,
    ) -> Result<bool, trmm_db::DbError> {
        let Ok(queued) = serde_json::from_value::<QueuedRun>(action.details.clone()) else {
            let db = self.pool.get().await?;
            pending::complete(&db, action.id, &json!({"error": "unreadable command"})).await?;
            return Ok(true);
        };
        let (hist, timeout) = (queued.history_id, Duration::from_secs(queued.timeout.max(1) as u64));
        let outcome = tokio::select! {
            outcome = record::call(&self.gateway, agent_id, queued.command, timeout) => outcome,
            // Given back, so that the next worker sends it rather than waiting out the claim.
            () = shutdown.cancelled() => Err(GatewayError::Unavailable("the worker is shutting down".into())),
        };
        match &outcome {
            Err(GatewayError::Offline | GatewayError::Unavailable(_)) => {
                pending::release(&self.pool.get().await?, action.id).await?;
                return Ok(false);
            }
            Ok(reply) => record::reply(&self.pool, &self.events, hist, action.agent, reply).await?,
            Err(e) => record::text(&self.pool, &self.events, hist, action.agent, &record::marker(e)).await?,
        }
        let result = match &outcome {
            Ok(_) => "replied".to_owned(),
            Err(e) => record::marker(e),
        };
        tracing::info!(agent_id, action = action.id, kind = %action.action_type, %result, "queued action ran");
        let db = self.pool.get().await?;
        pending::complete(&db, action.id, &json!({ "result": result, "ran_at": self.clock.now() })).await?;
        Ok(true)
    }
}
