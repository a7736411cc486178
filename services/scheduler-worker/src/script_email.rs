//! Emailed script runs (`trmm_jobs::ScriptEmail`, upstream agents/tasks.py::run_script_email_results_task):
//! the script runs through the AgentGateway, its result lands on the history row, then the mail goes out through
//! trmm-notify with the core settings. A failed send is retried by apalis; a retry whose history row already holds the
//! result mails that result instead of running the script again.

use std::time::Duration;

use apalis::prelude::*;
use redis::aio::ConnectionManager;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use trmm_db::debug_log::LogType;
use trmm_db::{agents, history};
use trmm_db::{jobs, JobId};
use trmm_jobs::{ScriptEmail, ScriptEmailPayload};
use trmm_notify::mail::{Email, SMTP_TIMEOUT};
use trmm_notify::{Notifier, NotifyError};
use trmm_rpc::client::{GatewayClient, GatewayError};
use trmm_runtime::clock::SharedClock;

use crate::{debug_log, record};

/// Attempts at one job (the script runs at most once; later attempts only retry the mail).
const MAX_ATTEMPTS: usize = 5;
/// How often an idle worker looks for new jobs.
const POLL: Duration = Duration::from_millis(500);
/// How long an attempt holds its job beyond the script's own timeout before another worker may take it.
const LEASE_MARGIN: Duration = Duration::from_secs(600);

/// What an emailed script run needs.
#[derive(Clone)]
pub struct EmailContext {
    /// Postgres.
    pub pool: trmm_db::Pool,
    /// The AgentGateway.
    pub gateway: GatewayClient,
    /// Times the job leases.
    pub clock: SharedClock,
    /// Sends the mail.
    pub notifier: Notifier,
    /// Where finished runs are announced.
    pub events: trmm_ops::events::Events,
}

/// Why an attempt failed; every such failure is retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Retry(String);

fn retry(e: impl std::fmt::Display) -> BoxDynError {
    Box::new(Retry(e.to_string()))
}

/// A failed send is retried only when it may pass.
fn mail_error(e: NotifyError) -> BoxDynError {
    if e.is_transient() {
        retry(e)
    } else {
        Box::new(AbortError::new(e.to_string()))
    }
}

fn is_retry(e: &BoxDynError) -> bool {
    e.downcast_ref::<Retry>().is_some()
}

/// Runs the script-email queue until `shutdown`; restarts the apalis worker when Redis drops it.
pub async fn serve(ctx: EmailContext, redis: ConnectionManager, prefix: String, shutdown: CancellationToken) {
    let name = crate::queue::worker_name("script-email");
    crate::queue::supervise("script_email", shutdown, |backoff, stop| {
        let policy = RetryPolicy::retries(MAX_ATTEMPTS - 1)
            .with_backoff(backoff)
            .retry_if(is_retry);
        let storage = trmm_jobs::storage::<ScriptEmail>(redis.clone(), &prefix).poll_with_interval(POLL);
        WorkerBuilder::new(name.as_str())
            .backend(storage)
            .retry(policy)
            .concurrency(4)
            .data(ctx.clone())
            .build(run_job)
            .run_until(crate::queue::stopped(stop))
    })
    .await
}

/// Leases the job's payload from Postgres (a second queue entry for the same job finds it taken or finished and
/// does nothing), runs it, and records its outcome; a failed attempt gives the lease back for the retry.
async fn run_job(job: ScriptEmail, ctx: Data<EmailContext>, attempt: Attempt) -> Result<(), BoxDynError> {
    let id = JobId(job.job_id);
    let job = {
        let db = ctx.pool.get().await.map_err(retry)?;
        let now = ctx.clock.now();
        let until = now + LEASE_MARGIN;
        let Some(job) = jobs::lease::<ScriptEmailPayload>(&db, ScriptEmailPayload::KIND, id, now, until)
            .await
            .map_err(retry)?
        else {
            tracing::info!(job_id = id.0, "emailed script run already done or taken; skipped");
            return Ok(());
        };
        let run = trmm_ops::script::reply_wait(job.script.0.timeout) + SMTP_TIMEOUT;
        jobs::extend(&db, id, until + run).await.map_err(retry)?;
        job
    };
    let outcome = attempt_job(&job, &ctx).await;
    let db = ctx.pool.get().await.map_err(retry)?;
    match &outcome {
        Ok(done) => jobs::finish(&db, id, done).await.map_err(retry)?,
        Err(e) => {
            let last = attempt.current() >= MAX_ATTEMPTS || !is_retry(e);
            tracing::warn!(history_id = job.history_id, attempt = attempt.current(), last, error = %e, "script email failed");
            if last {
                jobs::finish(&db, id, &format!("failed: {e}")).await.map_err(retry)?;
                let agent = history::get(&db, job.history_id).await.ok().flatten().map(|h| h.agent);
                let message = format!("Emailing the results of script run {} failed: {e}", job.history_id);
                debug_log::failed(&ctx.pool, agent, LogType::Scripting, &message).await;
            } else {
                jobs::release(&db, id).await.map_err(retry)?;
            }
        }
    }
    outcome.map(drop)
}

/// Runs the script unless its result is in, then mails it; returns what became of the job.
async fn attempt_job(job: &ScriptEmailPayload, ctx: &EmailContext) -> Result<&'static str, BoxDynError> {
    let (row, agent, mail) = {
        let db = ctx.pool.get().await.map_err(retry)?;
        let Some(row) = history::get(&db, job.history_id).await.map_err(retry)? else {
            tracing::warn!(
                history_id = job.history_id,
                "history entry of an emailed script run is gone; dropped"
            );
            return Ok("dropped: the run's history entry is gone");
        };
        let Some(agent) = agents::find_by_agent_id(&db, &row.agent_id).await.map_err(retry)? else {
            return Ok("dropped: the agent is gone");
        };
        (row, agent, ctx.notifier.mailer(&db).await.map_err(mail_error)?)
    };
    let results = match (row.script_results, row.results) {
        (Some(results), _) => results,
        // The run ended without a script result (offline, timeout, refused): there is nothing to mail.
        (None, Some(_)) => return Ok("nothing to mail: the run has no script result"),
        (None, None) => match run_script(job, ctx, &agent).await? {
            Some(results) => results,
            None => return Ok("nothing to mail: the run has no script result"),
        },
    };
    let to = match job.email_mode.as_str() {
        "custom" => job.emails.clone(),
        _ => mail.default_recipients().to_vec(),
    };
    if to.is_empty() {
        tracing::warn!(
            history_id = job.history_id,
            "no recipients for the script results; nothing mailed"
        );
        return Ok("nothing mailed: no recipients");
    }
    let script = row.script_name.as_deref().unwrap_or("Script");
    let subject = format!("{} {script} Results", agent.hostname);
    let email = Email {
        to: &to,
        subject: &subject,
        body: &body(&subject, &results),
        idempotency_key: Some(&format!("script-email:{}", job.history_id)),
        ..Email::default()
    };
    mail.send(&email).await.map_err(mail_error)?;
    tracing::info!(
        history_id = job.history_id,
        recipients = to.len(),
        "script results mailed"
    );
    Ok("sent")
}

/// Runs the script and stores its outcome; the stored script result (this reply's, or the agent's
/// `histresult` if that came first), or None when the script produced none.
async fn run_script(
    job: &ScriptEmailPayload,
    ctx: &EmailContext,
    agent: &agents::AgentRef,
) -> Result<Option<Value>, BoxDynError> {
    let wait = trmm_ops::script::reply_wait(job.script.0.timeout.max(1));
    let hist = job.history_id;
    let reply = ctx.gateway.call(&agent.agent_id, job.script.clone(), wait).await;
    match reply {
        Ok(results) => {
            let mut db = ctx.pool.get().await.map_err(retry)?;
            if trmm_ops::record::script_reply(&mut db, &ctx.events, agent, hist, &results)
                .await
                .map_err(retry)?
            {
                return Ok(Some(
                    serde_json::to_value(results).map_err(|e| AbortError::new(e.to_string()))?,
                ));
            }
            // The agent's histresult came first: that is the stored result.
            let row = history::get(&db, hist).await.map_err(retry)?;
            Ok(row.and_then(|r| r.script_results))
        }
        Err(e @ GatewayError::Unavailable(_)) => Err(retry(e)),
        Err(e) => {
            let text = record::marker(&e);
            record::text(&ctx.pool, &ctx.events, hist, agent.pk, &text)
                .await
                .map_err(retry)?;
            // Upstream's run_script_email_results_task logs a run that never answered.
            let message = format!(
                "{}: the script whose results were to be mailed did not run: {text}",
                agent.hostname
            );
            debug_log::failed(&ctx.pool, Some(agent.pk), LogType::Scripting, &message).await;
            Ok(None)
        }
    }
}

/// The mail text (upstream's layout).
fn body(subject: &str, r: &Value) -> String {
    let field = |k: &str| match r.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    format!(
        "{subject}\nReturn code: {}\nExecution time: {} seconds\nStdout: {}\nStderr: {}",
        field("retcode"),
        field("execution_time"),
        field("stdout"),
        field("stderr")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_lists_the_result() {
        let r = json!({"stdout": "hi\n", "stderr": "", "retcode": 0, "execution_time": 0.5});
        assert_eq!(
            body("h s Results", &r),
            "h s Results\nReturn code: 0\nExecution time: 0.5 seconds\nStdout: hi\n\nStderr: "
        );
    }
}
