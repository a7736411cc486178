//! The periodic jobs trmm-beat enqueues (`trmm_jobs::Periodic`). Each run is idempotent, so two workers, or a
//! run redelivered after a worker died, do no harm; a run whose entry has fallen due again since is skipped,
//! so a queue that backed up while no worker ran collapses to the latest run of each entry.

use std::time::Duration;

use apalis::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use trmm_db::debug_log::LogType;
use trmm_db::maintenance::{self, Prune};
use trmm_db::{alerts, core_settings, pending, DbError};
use trmm_jobs::{Periodic, PeriodicJob};
use trmm_runtime::clock::SharedClock;
use trmm_runtime::health::Health;

/// Attempts at one run (a failed one is retried with backoff; the entry's next due time comes anyway).
const MAX_ATTEMPTS: usize = 3;
/// How often an idle worker looks for runs.
const POLL: Duration = Duration::from_millis(500);
/// Rows one prune statement deletes at most.
const PRUNE_BATCH: i64 = 5000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntryLabel {
    entry: &'static str,
}

/// Runs by entry: done, and skipped as superseded.
#[derive(Clone, Default)]
pub struct Metrics {
    ran: Family<EntryLabel, Counter>,
    superseded: Family<EntryLabel, Counter>,
}

impl Metrics {
    /// The metrics, registered with the service's health state.
    pub fn registered(health: &Health) -> Self {
        let metrics = Metrics::default();
        health.register(
            "trmm_periodic_runs",
            "Periodic jobs this worker ran, by schedule entry",
            metrics.ran.clone(),
        );
        health.register(
            "trmm_periodic_superseded",
            "Periodic jobs this worker skipped because their entry had fallen due again, by schedule entry",
            metrics.superseded.clone(),
        );
        metrics
    }
}

/// What the periodic jobs need.
#[derive(Clone)]
pub struct PeriodicContext {
    /// Postgres.
    pub pool: trmm_db::Pool,
    /// "Now" for snoozes, agent status and supersession.
    pub clock: SharedClock,
    /// Runs by entry.
    pub metrics: Metrics,
    /// Stops a long sweep between batches (the next run finishes it).
    pub shutdown: CancellationToken,
    /// Where the notifications owed by availability alerts go.
    pub jobs: trmm_ops::JobQueue,
    /// Where opened and resolved availability alerts are announced.
    pub events: trmm_ops::events::Events,
}

/// Runs the periodic queue until `shutdown`; restarts the apalis worker when Redis drops it.
pub async fn serve(ctx: PeriodicContext, redis: ConnectionManager, prefix: String, shutdown: CancellationToken) {
    let name = crate::queue::worker_name("periodic");
    crate::queue::supervise("periodic", shutdown, |backoff, stop| {
        let policy = RetryPolicy::retries(MAX_ATTEMPTS - 1).with_backoff(backoff);
        let storage = trmm_jobs::storage::<Periodic>(redis.clone(), &prefix).poll_with_interval(POLL);
        WorkerBuilder::new(name.as_str())
            .backend(storage)
            .retry(policy)
            .concurrency(PeriodicJob::ALL.len())
            .data(ctx.clone())
            .build(run_job)
            .run_until(crate::queue::stopped(stop))
    })
    .await
}

async fn run_job(run: Periodic, ctx: Data<PeriodicContext>, attempt: Attempt) -> Result<(), BoxDynError> {
    let entry = EntryLabel { entry: run.job.name() };
    let now = ctx.clock.now();
    if run.superseded(now) {
        tracing::info!(entry = entry.entry, due = %run.due, "superseded by a later due time; skipped");
        ctx.metrics.superseded.get_or_create(&entry).inc();
        return Ok(());
    }
    let outcome: Result<(), BoxDynError> = match run.job {
        PeriodicJob::UnsnoozeAlerts => unsnooze(&ctx, now).await.map_err(Into::into),
        PeriodicJob::CoreMaintenance => maintain(&ctx, run.due).await.map_err(Into::into),
        PeriodicJob::ResolvePendingActions => resolve_pending(&ctx, now).await.map_err(Into::into),
        PeriodicJob::AgentOutages => availability(&ctx, now, false).await.map_err(Into::into),
        PeriodicJob::ResolveAlerts => availability(&ctx, now, true).await.map_err(Into::into),
        PeriodicJob::NotificationSweep => sweep_notifications(&ctx, now).await.map_err(Into::into),
    };
    if let Err(e) = outcome {
        tracing::warn!(entry = entry.entry, due = %run.due, error = %e, "periodic job failed");
        if attempt.current() >= MAX_ATTEMPTS {
            let message = format!("Periodic job {} due at {} failed: {e}", entry.entry, run.due);
            crate::debug_log::failed(&ctx.pool, None, LogType::SystemIssues, &message).await;
        }
        return Err(e);
    }
    ctx.metrics.ran.get_or_create(&entry).inc();
    Ok(())
}

/// Overdue agents raise availability alerts (`resolve` false), agents back online resolve them (true).
async fn availability(ctx: &PeriodicContext, now: DateTime<Utc>, resolve: bool) -> Result<(), trmm_ops::OpsError> {
    use trmm_ops::alerts::availability;
    let pass = if resolve {
        availability::returns(&ctx.pool, &ctx.jobs, &ctx.events, now).await?
    } else {
        availability::outages(&ctx.pool, &ctx.jobs, &ctx.events, now).await?
    };
    if pass.owed > 0 || (resolve && pass.agents > 0) {
        tracing::info!(
            agents = pass.agents,
            notifications = pass.owed,
            resolve,
            "availability alerts"
        );
    }
    Ok(())
}

async fn sweep_notifications(ctx: &PeriodicContext, now: DateTime<Utc>) -> Result<(), trmm_ops::OpsError> {
    let n = crate::notify::sweep(&ctx.pool, &ctx.jobs, now).await?;
    if n > 0 {
        tracing::info!(notifications = n, "stranded notifications handed to workers again");
    }
    Ok(())
}

async fn unsnooze(ctx: &PeriodicContext, now: DateTime<Utc>) -> Result<(), DbError> {
    let n = alerts::unsnooze_due(&ctx.pool.get().await?, now).await?;
    if n > 0 {
        tracing::info!(alerts = n, "unsnoozed");
    }
    Ok(())
}

async fn resolve_pending(ctx: &PeriodicContext, now: DateTime<Utc>) -> Result<(), DbError> {
    let n = pending::resolve_agent_updates(&ctx.pool.get().await?, now).await?;
    if n > 0 {
        tracing::info!(actions = n, "pending agent updates completed");
    }
    Ok(())
}

/// Every prune whose retention is set (days > 0), counted back from the run's due time, so that a late run
/// deletes no more than an on-time one; then the check history of deleted agents.
async fn maintain(ctx: &PeriodicContext, due: DateTime<Utc>) -> Result<(), DbError> {
    let r = core_settings::retention(&ctx.pool.get().await?).await?;
    type ByAge = fn(DateTime<Utc>) -> Prune;
    let by_age: [(i32, ByAge); 5] = [
        (r.check_history_days, Prune::CheckHistory),
        (r.resolved_alerts_days, Prune::ResolvedAlerts),
        (r.agent_history_days, Prune::AgentHistory),
        (r.audit_log_days, Prune::AuditLog),
        (r.debug_log_days, Prune::DebugLog),
    ];
    // A retention so long that its cutoff precedes every representable time keeps everything.
    let cutoff = |days: i32| due.checked_sub_signed(TimeDelta::try_days(i64::from(days))?);
    let prunes = by_age
        .into_iter()
        .filter(|(days, _)| *days > 0)
        .filter_map(|(days, prune)| Some(prune(cutoff(days)?)))
        .chain([Prune::OrphanedCheckHistory]);
    for prune in prunes {
        sweep(ctx, prune).await?;
    }
    Ok(())
}

/// Deletes batch after batch until nothing is left or the worker shuts down.
async fn sweep(ctx: &PeriodicContext, prune: Prune) -> Result<(), DbError> {
    let mut total = 0;
    while !ctx.shutdown.is_cancelled() {
        let deleted = maintenance::prune_batch(&ctx.pool.get().await?, prune, PRUNE_BATCH).await?;
        total += deleted;
        if deleted < PRUNE_BATCH as u64 {
            break;
        }
    }
    if total > 0 {
        tracing::info!(job = prune.name(), deleted = total, "pruned");
    }
    Ok(())
}
