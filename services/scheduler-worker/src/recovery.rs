//! Puts back the queue entries Redis lost (FLUSHALL, a restart without persistence). Every job's payload is in
//! Postgres and a mark in Redis (`<prefix>:jobs:intact`) disappears with the rest of Redis's data, so a missing
//! mark means the unfinished jobs need their queue entries again. A job queued twice runs once: bulk runs and
//! emailed script runs are leased by the attempt that runs them.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use trmm_jobs::{BulkRun, ScriptEmail, ScriptEmailPayload};

/// How often the mark is checked: the longest a loss goes unnoticed.
const CHECK: Duration = Duration::from_secs(2);

/// Watches for a loss of Redis's data until `shutdown`.
pub async fn serve(pool: trmm_db::Pool, redis: ConnectionManager, prefix: String, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(CHECK);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match trmm_jobs::mark_intact(redis.clone(), &prefix).await {
            Ok(false) => {}
            Ok(true) => {
                if let Err(e) = requeue(&pool, &redis, &prefix).await {
                    tracing::warn!(error = %e, "re-queueing unfinished jobs failed; trying again");
                    forget_mark(&redis, &prefix).await;
                }
            }
            // Redis is down: readiness reports it, and the mark is checked again when it is back.
            Err(e) => tracing::debug!(error = %e, "checking the job queues' mark failed"),
        }
    }
}

/// Queues every unfinished bulk run and emailed script run again.
async fn requeue(pool: &trmm_db::Pool, redis: &ConnectionManager, prefix: &str) -> Result<(), String> {
    let (runs, mails) = {
        let db = pool.get().await.map_err(|e| e.to_string())?;
        let runs = trmm_db::bulk::unfinished(&db).await.map_err(|e| e.to_string())?;
        let mails = trmm_db::jobs::unfinished(&db, ScriptEmailPayload::KIND)
            .await
            .map_err(|e| e.to_string())?;
        (runs, mails)
    };
    for run_id in &runs {
        trmm_jobs::enqueue(redis.clone(), prefix, BulkRun { run_id: *run_id })
            .await
            .map_err(|e| e.to_string())?;
    }
    for job in &mails {
        trmm_jobs::enqueue(redis.clone(), prefix, ScriptEmail { job_id: job.0 })
            .await
            .map_err(|e| e.to_string())?;
    }
    if !runs.is_empty() || !mails.is_empty() {
        tracing::warn!(
            bulk_runs = runs.len(),
            script_emails = mails.len(),
            "Redis had lost the job queues; unfinished jobs queued again from Postgres"
        );
    }
    Ok(())
}

/// Removes the mark, so that the next check tries again.
async fn forget_mark(redis: &ConnectionManager, prefix: &str) {
    if let Err(e) = trmm_jobs::forget_mark(redis.clone(), prefix).await {
        tracing::debug!(error = %e, "the job queues' mark could not be removed");
    }
}
