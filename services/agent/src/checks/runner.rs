//! The check loop (Go agent `CheckRunner` and `RunChecks`, agent-protocol.md 3.5): ask `checkinterval/`, run
//! the due checks from `checkrunner/`, sleep the interval, repeat. The `runchecks` command runs every check
//! from `runchecks/`. Checks run concurrently, each after a random 300–950 ms delay (cpuload without one,
//! its sample takes long enough), except winsvc and eventlog checks, which run one after another in a task
//! per type. Each result is sent with `PATCH /api/v3/checkrunner/` as soon as it is ready.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join_all, BoxFuture, FutureExt};
use rand::Rng;
use reqwest::Method;
use trmm_protocol::checks::{CheckDefinition, CheckRunnerResponse, CheckType};
use trmm_protocol::rest::CheckIntervalResponse;

use super::{CheckReportBody, Executor};
use crate::svc::Agent;

/// The Go agent's wait after a failed `checkinterval/`.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(120);
/// The server never schedules check runs closer than this.
const MIN_INTERVAL: Duration = Duration::from_secs(15);
/// Where every result goes.
pub const RESULT_PATH: &str = "/api/v3/checkrunner/";

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

/// Marks a check run in progress; dropping it ends the run, whichever way the run ended.
pub struct RunGuard<'a>(&'a AtomicBool);

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Starts a run unless `running` says one is already going (the `runchecks` reply is "busy" then).
pub fn try_start(running: &AtomicBool) -> Option<RunGuard<'_>> {
    let busy = running.swap(true, Ordering::AcqRel);
    (!busy).then_some(RunGuard(running))
}

/// One check run: the due checks (`all` = false, `checkrunner/`) or every check (`all` = true,
/// `runchecks/`). Skipped if a run is already in progress.
pub async fn run_checks(agent: &Agent, all: bool) {
    match try_start(&agent.checks_running) {
        Some(guard) => run_started(agent, all, guard).await,
        None => tracing::debug!("checks already running"),
    }
}

/// [`run_checks`] for a run already marked by `guard`; returns when every result was sent or on shutdown.
pub async fn run_started(agent: &Agent, all: bool, guard: RunGuard<'_>) {
    let endpoint = if all { "runchecks" } else { "checkrunner" };
    let path = format!("/api/v3/{}/{endpoint}/", agent.config.agent_id);
    let checks = match agent.api.get::<CheckRunnerResponse>(&path).await {
        Ok(resp) => resp.checks,
        Err(e) => {
            tracing::warn!(error = %e, endpoint, "checks unavailable");
            return;
        }
    };
    tracing::debug!(endpoint, count = checks.len(), "running checks");
    let executor = Executor::for_agent(agent);
    let send = |body: CheckReportBody| async move {
        if let Err(e) = agent.api.send(Method::PATCH, RESULT_PATH, &body).await {
            tracing::warn!(id = body.id, error = %e, "check result not sent");
        }
    };
    tokio::select! {
        () = agent.shutdown.cancelled() => {}
        () = run_all(&executor, &checks, send) => {}
    }
    drop(guard);
}

/// Runs `checks` as the Go agent schedules them and hands each result to `send` as soon as it is ready.
pub async fn run_all<F, Fut>(executor: &Executor, checks: &[CheckDefinition], send: F)
where
    F: Fn(CheckReportBody) -> Fut + Sync,
    Fut: Future<Output = ()> + Send,
{
    let send = &send;
    let mut runs: Vec<BoxFuture<'_, ()>> = Vec::new();
    for check in checks {
        if matches!(check.check_type, CheckType::Winsvc | CheckType::Eventlog) {
            continue;
        }
        runs.push(
            async move {
                if check.check_type != CheckType::Cpuload {
                    spread().await;
                }
                if let Some(body) = executor.run_one(check).await {
                    send(body).await;
                }
            }
            .boxed(),
        );
    }
    for serial in [CheckType::Winsvc, CheckType::Eventlog] {
        runs.push(
            async move {
                for check in checks.iter().filter(|c| c.check_type == serial) {
                    if let Some(body) = executor.run_one(check).await {
                        send(body).await;
                    }
                }
            }
            .boxed(),
        );
    }
    join_all(runs).await;
}

/// The Go agent's `randomCheckDelay`, so concurrent checks do not all start (and report) at once.
async fn spread() {
    let ms = rand::thread_rng().gen_range(300..950);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Sleeps unless shutdown comes first; false means stop.
async fn sleep(agent: &Agent, d: Duration) -> bool {
    tokio::select! {
        () = agent.shutdown.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_never_overlap_and_a_finished_run_frees_the_next() {
        let running = AtomicBool::new(false);
        let first = try_start(&running).expect("idle");
        assert!(try_start(&running).is_none(), "busy while the first run goes");
        drop(first);
        assert!(try_start(&running).is_some());
    }
}
