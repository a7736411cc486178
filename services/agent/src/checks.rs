//! The check loop (Go agent `CheckRunner`, agent-protocol.md 3.5): ask `checkinterval/`, fetch the due
//! checks from `checkrunner/`, sleep the interval, repeat. The `runchecks` command fetches every check from
//! `runchecks/`. Check execution itself is not implemented by this agent yet: fetched checks are logged
//! and skipped, exactly as the Go agent skips check types it does not know.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use trmm_protocol::checks::CheckRunnerResponse;
use trmm_protocol::rest::CheckIntervalResponse;

use crate::svc::Agent;

/// The Go agent's wait after a failed `checkinterval/`.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(120);
/// The server never schedules check runs closer than this.
const MIN_INTERVAL: Duration = Duration::from_secs(15);

/// Runs until shutdown.
pub async fn run_loop(agent: Arc<Agent>) {
    // Upstream waits 14–22 s so a fleet that boots together does not hit the API at once.
    let first = Duration::from_secs(rand::thread_rng().gen_range(14..=22));
    if !sleep(&agent, first).await {
        return;
    }
    loop {
        let path = format!("/api/v3/{}/checkinterval/", agent.config.agent_id);
        let wait = match agent.api.get::<CheckIntervalResponse>(&path).await {
            Ok(r) => {
                run_checks(&agent, false).await;
                Duration::from_secs(u64::try_from(r.check_interval).unwrap_or(0)).max(MIN_INTERVAL)
            }
            Err(e) => {
                tracing::warn!(error = %e, "check interval unavailable");
                RETRY_AFTER_ERROR
            }
        };
        if !sleep(&agent, wait).await {
            return;
        }
    }
}

/// One check run: the due checks (`all` = false, `checkrunner/`) or every check (`all` = true,
/// `runchecks/`). Skipped if a run is already in progress.
pub async fn run_checks(agent: &Agent, all: bool) {
    if agent.checks_running.swap(true, Ordering::AcqRel) {
        tracing::debug!("checks already running");
        return;
    }
    let endpoint = if all { "runchecks" } else { "checkrunner" };
    let path = format!("/api/v3/{}/{endpoint}/", agent.config.agent_id);
    match agent.api.get::<CheckRunnerResponse>(&path).await {
        Ok(resp) if resp.checks.is_empty() => tracing::debug!(endpoint, "no checks due"),
        Ok(resp) => {
            for check in &resp.checks {
                tracing::warn!(
                    id = check.id,
                    check_type = check.check_type.as_str(),
                    "check type not supported by this agent; skipped"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, endpoint, "checks unavailable"),
    }
    agent.checks_running.store(false, Ordering::Release);
}

/// Sleeps unless shutdown comes first; false means stop.
async fn sleep(agent: &Agent, d: Duration) -> bool {
    tokio::select! {
        () = agent.shutdown.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}
