//! Bulk runs (`trmm_jobs::BulkRun`): the command goes to every agent of the run through AgentGateway
//! PublishMany, a bounded number of batches at a time, and each agent's outcome lands on its history row.
//!
//! Upstream publishes and forgets; here each batch waits for replies: the gateway sends the command to the batch's
//! connected agents (presence; a ping only where presence is not tracked) and reports each agent as replied (with
//! the result), timeout or offline.
//! So a run is accounted for without waiting on agents to report back by HTTP (they still do, through
//! `histresult`; the first result stored wins). `dispatched_at` is set before sending, so a retried job never
//! sends the command to the same agent twice.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use futures_util::{stream, StreamExt};
use prometheus_client::metrics::counter::Counter;
use redis::aio::ConnectionManager;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use trmm_db::bulk::{self, Run, Unanswered};
use trmm_db::debug_log::LogType;
use trmm_jobs::{BulkRun, BulkWork};
use trmm_protocol::calls::{AgentCall, RawCmd, RunScriptFull};
use trmm_rpc::client::{GatewayClient, GatewayError};
use trmm_runtime::clock::SharedClock;

use crate::debug_log;
use crate::record::{self, Reply};

/// Attempts at a run while the gateway is unreachable; after the last, the agents not reached get an error.
const MAX_ATTEMPTS: usize = 6;
/// How often an idle worker looks for new runs.
const POLL: Duration = Duration::from_millis(500);
/// Bulk runs processed at once by one worker (each with its own per-agent concurrency).
const RUNS_AT_ONCE: usize = 2;
/// Most agents per PublishMany (and marked dispatched per statement).
const BATCH: usize = 500;
/// Most results stored per statement.
const WRITE_BATCH: usize = 500;
/// How long a run's lease lasts unless renewed (every third of it while the attempt runs). Shorter than apalis's
/// orphan timeout (3 missed 30 s heartbeats), so the entry re-queued from a crashed worker finds the run free.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// What a bulk job needs.
#[derive(Clone)]
pub struct BulkContext {
    /// Postgres.
    pub pool: trmm_db::Pool,
    /// The AgentGateway.
    pub gateway: GatewayClient,
    /// Agents waited on at once (in batches of at most [`BATCH`]).
    pub concurrency: usize,
    /// Cancelled on shutdown: no new agent is started.
    pub shutdown: CancellationToken,
    /// Attempts that failed transiently and were retried.
    pub retries: Counter,
    /// Times the run's lease.
    pub clock: SharedClock,
    /// Where finished runs are announced.
    pub events: trmm_ops::events::Events,
}

/// A failure worth retrying (gateway unreachable, database blip, shutdown); anything else is not retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Transient(String);

fn transient(e: impl std::fmt::Display) -> BoxDynError {
    Box::new(Transient(e.to_string()))
}

fn is_transient(e: &BoxDynError) -> bool {
    e.downcast_ref::<Transient>().is_some()
}

/// Runs the bulk queue until `shutdown`; restarts the apalis worker when Redis drops it.
pub async fn serve(ctx: BulkContext, redis: ConnectionManager, prefix: String, shutdown: CancellationToken) {
    let name = crate::queue::worker_name("bulk");
    crate::queue::supervise("bulk", shutdown, |backoff, stop| {
        let policy = RetryPolicy::retries(MAX_ATTEMPTS - 1)
            .with_backoff(backoff)
            .retry_if(is_transient);
        let storage = trmm_jobs::storage::<BulkRun>(redis.clone(), &prefix).poll_with_interval(POLL);
        WorkerBuilder::new(name.as_str())
            .backend(storage)
            .retry(policy)
            .concurrency(RUNS_AT_ONCE)
            .data(ctx.clone())
            .build(run_bulk)
            .run_until(crate::queue::stopped(stop))
    })
    .await
}

/// One queue entry of a bulk run: the attempt that leases the run runs it, holding the lease until it ends; a
/// duplicate entry (re-queued after a Redis loss or at a worker's start) finds it held or finished and does
/// nothing, so it cannot time out agents the running attempt still waits on.
async fn run_bulk(job: BulkRun, ctx: Data<BulkContext>, attempt: Attempt) -> Result<(), BoxDynError> {
    let now = ctx.clock.now();
    let run = {
        let db = ctx.pool.get().await.map_err(transient)?;
        let Some(run) = bulk::get(&db, job.run_id).await.map_err(transient)? else {
            tracing::warn!(run_id = job.run_id, "bulk run not found; dropped");
            return Ok(());
        };
        if !bulk::lease(&db, run.id, now, now + LEASE).await.map_err(transient)? {
            tracing::debug!(
                run_id = run.id,
                "bulk run finished or held by another attempt; entry dropped"
            );
            return Ok(());
        }
        run
    };
    let run_id = run.id;
    let ran = holding_lease(&ctx, run_id, run_leased(run, &ctx, &attempt)).await;
    // Given back for a retry; a finished run keeps its summary, so later entries still do nothing.
    if let Err(e) = bulk::release(&ctx.pool.get().await.map_err(transient)?, run_id).await {
        tracing::warn!(run_id, error = %e, "bulk run lease not released; it expires by itself");
    }
    if let Err(e) = &ran {
        if !is_transient(e) || attempt.current() >= MAX_ATTEMPTS {
            let message = format!("Bulk run {run_id} failed: {e}");
            debug_log::failed(&ctx.pool, None, LogType::Scripting, &message).await;
        }
    }
    ran
}

/// Runs `work`, renewing the run's lease until it ends.
async fn holding_lease<T>(ctx: &BulkContext, run_id: i64, work: impl Future<Output = T>) -> T {
    let mut work = std::pin::pin!(work);
    let mut renew = tokio::time::interval((LEASE / 3).to_std().unwrap_or(Duration::from_secs(20)));
    renew.tick().await;
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = renew.tick() => {
                let until = ctx.clock.now() + LEASE;
                let renewed = async { bulk::extend(&ctx.pool.get().await?, run_id, until).await }.await;
                if let Err(e) = renewed {
                    tracing::warn!(run_id, error = %e, "bulk run lease not renewed");
                }
            }
        }
    }
}

/// The leased run: every agent not yet sent the command gets it; then silent leftovers of an interrupted
/// attempt are timed out and the outcome counts are stored.
async fn run_leased(run: Run, ctx: &BulkContext, attempt: &Attempt) -> Result<(), BoxDynError> {
    let work = trmm_ops::bulk::work(&run)
        .map_err(|e| AbortError::new(format!("bulk run {} has an unreadable command: {e}", run.id)))?;
    let todo = bulk::undispatched(&ctx.pool.get().await.map_err(transient)?, run.id)
        .await
        .map_err(transient)?;
    tracing::info!(
        run_id = run.id,
        agents = todo.len(),
        attempt = attempt.current(),
        "bulk run started"
    );
    let (writes, rx) = mpsc::channel(WRITE_BATCH);
    let writer = tokio::spawn(write_outcomes(ctx.pool.clone(), ctx.events.clone(), rx));
    let run = Arc::new(run);
    let ctx = Arc::new(ctx.clone());
    let pool = ctx.pool.clone();
    let batch = BATCH.min(ctx.concurrency).max(1);
    // Agents are claimed a batch at a time, just before they are sent the command.
    let batches = stream::iter(todo.chunks(batch).map(<[Unanswered]>::to_vec).collect::<Vec<_>>())
        .then(move |chunk| claim(pool.clone(), chunk));
    let fan_out = batches
        .map(|claimed| {
            let (ctx, run, work, writes) = (ctx.clone(), run.clone(), &work, writes.clone());
            async move { one_batch(ctx, run, work, claimed?, writes).await }
        })
        .buffer_unordered((ctx.concurrency / batch).max(1))
        .collect::<Vec<Result<(), String>>>();
    // On shutdown the agents in flight keep their dispatch mark: their histresult may still come, and the
    // retried job times out the rest instead of sending the command again.
    let results = tokio::select! {
        results = fan_out => results,
        () = ctx.shutdown.cancelled() => return Err(transient("the worker is shutting down")),
    };
    drop(writes);
    let written = writer.await.map_err(transient)?;
    let mut failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    failed.extend(written.err());
    let db = ctx.pool.get().await.map_err(transient)?;
    if let Some(first) = failed.first() {
        if attempt.current() < MAX_ATTEMPTS {
            ctx.retries.inc();
            tracing::warn!(run_id = run.id, failed = failed.len(), error = %first, "bulk run will be retried");
            return Err(transient(format!("{} batches not delivered: {first}", failed.len())));
        }
        let why = format!("not delivered after {MAX_ATTEMPTS} attempts: {first}");
        bulk::abandon(&db, run.id, &why).await.map_err(transient)?;
        let message = format!("Bulk run {}: {} batches {why}", run.id, failed.len());
        debug_log::failed(&ctx.pool, None, LogType::Scripting, &message).await;
    }
    // Agents sent the command by an interrupted attempt are given until their deadline, then timed out.
    if let Some(wait) = bulk::awaiting_secs(&db, run.id).await.map_err(transient)? {
        tokio::time::sleep(Duration::from_secs_f64(wait.max(0.0))).await;
        bulk::time_out_silent(&db, run.id).await.map_err(transient)?;
    }
    let s = bulk::finish(&db, run.id).await.map_err(transient)?;
    tracing::info!(
        run_id = run.id,
        total = s.total,
        replied = s.replied,
        timeout = s.timeout,
        offline = s.offline,
        error = s.error,
        unanswered = s.unanswered,
        "bulk run finished"
    );
    Ok(())
}

/// Marks a batch of agents dispatched; those another worker took already are skipped.
async fn claim(pool: trmm_db::Pool, chunk: Vec<Unanswered>) -> Result<Vec<Unanswered>, String> {
    let ids: Vec<i64> = chunk.iter().map(|u| u.history_id).collect();
    let db = pool.get().await.map_err(|e| e.to_string())?;
    let mine = bulk::mark_dispatched(&db, &ids).await.map_err(|e| e.to_string())?;
    Ok(chunk.into_iter().filter(|u| mine.contains(&u.history_id)).collect())
}

/// A result to store.
enum Write {
    Text(i64, String),
    Script(i64, Value),
}

/// Stores outcomes in batches (as many as have queued up while the previous batch was written), retrying a
/// failed batch a few times; an error means some agents were left without their outcome.
async fn write_outcomes(
    pool: trmm_db::Pool,
    events: trmm_ops::events::Events,
    mut rx: mpsc::Receiver<Write>,
) -> Result<(), String> {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let (mut texts, mut scripts) = (Vec::new(), Vec::new());
        for w in batch {
            match w {
                Write::Text(id, t) => texts.push((id, t)),
                Write::Script(id, v) => scripts.push((id, v)),
            }
        }
        let mut tries = 0;
        loop {
            let stored = async {
                let db = pool.get().await?;
                bulk::record_many(&db, &texts, &scripts).await
            }
            .await;
            match stored {
                Ok(finished) => {
                    finished.iter().for_each(|f| events.history_finished(f));
                    break;
                }
                Err(e) if tries < 3 => {
                    tries += 1;
                    tracing::warn!(error = %e, "storing bulk results failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500 * tries)).await;
                }
                Err(e) => return Err(format!("storing results: {e}")),
            }
        }
    }
    Ok(())
}

/// Sends the command to a batch of (claimed) agents and queues their outcomes for storing; Err leaves the whole
/// batch for a retry.
async fn one_batch(
    ctx: Arc<BulkContext>,
    run: Arc<Run>,
    work: &BulkWork,
    batch: Vec<Unanswered>,
    writes: mpsc::Sender<Write>,
) -> Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    let timeout = Duration::from_secs(run.reply_timeout.max(1) as u64);
    let outcomes = match send(&ctx, work, &batch, timeout).await {
        Ok(outcomes) if outcomes.len() == batch.len() => outcomes,
        sent => {
            let e = match sent {
                Err(e) => e.to_string(),
                Ok(o) => format!("the gateway answered {} of {} agents", o.len(), batch.len()),
            };
            let ids: Vec<i64> = batch.iter().map(|u| u.history_id).collect();
            if let Ok(db) = ctx.pool.get().await {
                let _ = bulk::undo_dispatch(&db, &ids).await;
            }
            return Err(e);
        }
    };
    let mut handled = Vec::new();
    for (u, outcome) in batch.into_iter().zip(outcomes) {
        let write = match outcome {
            // Output that feeds a custom field or note is stored the way that applies it (rare; one by one).
            Ok(reply @ Reply::Script(_)) if run.handled_output => {
                handled.push((u, reply));
                continue;
            }
            Ok(Reply::Script(results)) => {
                Write::Script(u.history_id, serde_json::to_value(results).unwrap_or_default())
            }
            Ok(Reply::Text(text)) => Write::Text(u.history_id, text),
            Err(e) => Write::Text(u.history_id, record::marker(&e)),
        };
        writes
            .send(write)
            .await
            .map_err(|_| "the result writer stopped".to_owned())?;
    }
    let pool = &ctx.pool;
    let recorded = futures_util::future::join_all(
        handled
            .iter()
            .map(|(u, reply)| record::reply(pool, &ctx.events, u.history_id, u.agent, reply)),
    )
    .await;
    match recorded.into_iter().find_map(Result::err) {
        Some(e) => Err(format!("recording a result: {e}")),
        None => Ok(()),
    }
}

/// Sends each agent of the batch the run's call, with its own history id (and script inputs), in one
/// PublishMany; one typed outcome per agent, in order.
async fn send(
    ctx: &BulkContext,
    work: &BulkWork,
    batch: &[Unanswered],
    timeout: Duration,
) -> Result<Vec<Result<Reply, GatewayError>>, GatewayError> {
    match &work.call {
        AgentCall::RawCmd(t) => {
            let calls = batch
                .iter()
                .map(|u| {
                    (
                        u.agent_id.clone(),
                        RawCmd {
                            history_id: Some(u.history_id),
                            ..t.clone()
                        },
                    )
                })
                .collect();
            Ok(typed(ctx.gateway.call_many(calls, timeout).await?, Reply::Text))
        }
        AgentCall::RunScriptFull(t) => {
            let calls = batch
                .iter()
                .map(|u| {
                    let mut script = t.0.clone();
                    script.history_id = Some(u.history_id);
                    if let Some(inputs) = work.per_agent.get(&u.history_id) {
                        script.args.clone_from(&inputs.script_args);
                        script.env_vars.clone_from(&inputs.env_vars);
                    }
                    (u.agent_id.clone(), RunScriptFull(script))
                })
                .collect();
            Ok(typed(ctx.gateway.call_many(calls, timeout).await?, Reply::Script))
        }
        other => Err(GatewayError::Invalid(format!(
            "a bulk run cannot send {}",
            other.func()
        ))),
    }
}

/// One outcome per agent, its reply made a [`Reply`].
fn typed<T>(outcomes: Vec<Result<T, GatewayError>>, reply: fn(T) -> Reply) -> Vec<Result<Reply, GatewayError>> {
    outcomes.into_iter().map(|o| o.map(reply)).collect()
}
