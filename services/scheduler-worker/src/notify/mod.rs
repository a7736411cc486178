//! Delivers what alert state changes owe (`alert_notifications`, written by the alert engine in trmm-api's and
//! this worker's transactions): emails, SMS and template actions. A row is leased before it is worked on, so
//! two workers never deliver the same one, and a worker that dies mid-send leaves a lease that expires: the
//! sweep ([`sweep`]) hands the row to a worker again. Transient failures (an SMTP server, Twilio or a webhook
//! that does not answer) are retried with backoff: quickly by apalis, then by the sweep once `next_attempt`
//! comes, up to [`MAX_TOTAL_ATTEMPTS`].

mod deliver;

use std::time::Duration;

use apalis::prelude::*;
use chrono::TimeDelta;
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use trmm_db::alerts::notifications::{self, Leased, NotificationId};
use trmm_db::debug_log::LogType;
use trmm_jobs::Notify;
use trmm_ops::JobQueue;
use trmm_rpc::client::GatewayClient;
use trmm_runtime::clock::SharedClock;

/// Quick attempts apalis makes at one queue entry.
const QUEUE_ATTEMPTS: usize = 4;
/// Attempts at one notification in all, across queue entries, workers and restarts.
pub const MAX_TOTAL_ATTEMPTS: i32 = 12;
/// How long a worker holds a notification while delivering it (longer than any send or action may take).
pub(crate) const LEASE: TimeDelta = TimeDelta::seconds(180);
/// How often an idle worker looks for entries.
const POLL: Duration = Duration::from_millis(200);
/// Entries delivered at once by one worker.
const CONCURRENCY: usize = 8;
/// A stranded row must be at least this old before the sweep re-queues it (its own entry may be in flight).
const STRANDED_AFTER: TimeDelta = TimeDelta::seconds(30);

/// What delivering needs.
#[derive(Clone)]
pub struct NotifyContext {
    /// Postgres.
    pub pool: trmm_db::Pool,
    /// Agents, for script actions.
    pub gateway: GatewayClient,
    /// Mail, SMS and webhooks with the core settings.
    pub notifier: trmm_notify::Notifier,
    /// Times leases and retries.
    pub clock: SharedClock,
}

/// A failed attempt that may pass later.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Retry(String);

fn is_retry(e: &BoxDynError) -> bool {
    e.downcast_ref::<Retry>().is_some()
}

/// Runs the notification queue until `shutdown`; restarts the apalis worker when Redis drops it.
pub async fn serve(ctx: NotifyContext, redis: ConnectionManager, prefix: String, shutdown: CancellationToken) {
    let name = crate::queue::worker_name("notify");
    crate::queue::supervise("notify", shutdown, |backoff, stop| {
        let policy = RetryPolicy::retries(QUEUE_ATTEMPTS - 1)
            .with_backoff(backoff)
            .retry_if(is_retry);
        let storage = trmm_jobs::storage::<Notify>(redis.clone(), &prefix).poll_with_interval(POLL);
        WorkerBuilder::new(name.as_str())
            .backend(storage)
            .retry(policy)
            .concurrency(CONCURRENCY)
            .data(ctx.clone())
            .build(run_job)
            .run_until(crate::queue::stopped(stop))
    })
    .await
}

/// Backoff of the sweep's retries: 1 min doubling to 1 h.
fn next_attempt_after(attempts: i32) -> TimeDelta {
    let minutes = 1i64 << attempts.clamp(1, 7).saturating_sub(1);
    TimeDelta::minutes(minutes.min(60))
}

async fn run_job(job: Notify, ctx: Data<NotifyContext>) -> Result<(), BoxDynError> {
    let id = NotificationId(job.notification_id);
    let now = ctx.clock.now();
    let leased = {
        let db = ctx
            .pool
            .get()
            .await
            .map_err(|e| Box::new(Retry(e.to_string())) as BoxDynError)?;
        notifications::lease(&db, id, now, now + LEASE)
            .await
            .map_err(|e| Box::new(Retry(e.to_string())) as BoxDynError)?
    };
    let Some(n) = leased else {
        tracing::debug!(notification_id = id.0, "already delivered or being delivered; skipped");
        return Ok(());
    };
    let outcome = deliver::deliver(&ctx, &n).await;
    settle(&ctx, &n, outcome).await
}

/// Records an attempt's outcome; a transient failure with attempts left is given back for a retry.
async fn settle(
    ctx: &NotifyContext,
    n: &Leased,
    outcome: Result<deliver::Done, deliver::Failed>,
) -> Result<(), BoxDynError> {
    let now = ctx.clock.now();
    let db = ctx
        .pool
        .get()
        .await
        .map_err(|e| Box::new(Retry(e.to_string())) as BoxDynError)?;
    let result = match outcome {
        Ok(done) => {
            tracing::info!(notification_id = n.id.0, alert_id = n.alert.0, kind = n.kind.as_str(), outcome = %done.outcome, "notification done");
            notifications::finish(&db, n, &done.outcome, done.delivered, now).await
        }
        Err(f) if f.transient && n.attempts < MAX_TOTAL_ATTEMPTS => {
            tracing::warn!(notification_id = n.id.0, attempt = n.attempts, error = %f.reason, "notification failed; will retry");
            notifications::release(&db, n, &f.reason, now + next_attempt_after(n.attempts)).await?;
            return Err(Box::new(Retry(f.reason)));
        }
        Err(f) => {
            tracing::error!(notification_id = n.id.0, attempt = n.attempts, error = %f.reason, "notification failed for good");
            let message = format!(
                "Alert {} notification ({}) failed after {} attempts: {}",
                n.alert.0,
                n.kind.as_str(),
                n.attempts,
                f.reason
            );
            crate::debug_log::failed(&ctx.pool, None, LogType::SystemIssues, &message).await;
            notifications::finish(&db, n, &format!("failed: {}", f.reason), false, now).await
        }
    };
    result.map_err(|e| Box::new(Retry(e.to_string())) as BoxDynError)
}

/// Hands every stranded notification (its queue entry lost with Redis, its worker dead, or its retry due) to a
/// worker again; run by the periodic `notification-sweep` entry. Returns how many.
pub async fn sweep(
    pool: &trmm_db::Pool,
    jobs: &JobQueue,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<usize, trmm_ops::OpsError> {
    let db = pool.get().await.map_err(trmm_db::DbError::from)?;
    let ids = notifications::stranded(&db, now, now - STRANDED_AFTER, 10_000).await?;
    drop(db);
    jobs.hand_over(&ids).await;
    Ok(ids.len())
}
