//! What every job queue of the worker shares: the retry backoff and the supervision of its apalis worker.

use std::future::Future;
use std::time::Duration;

use apalis::layers::retry::backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use apalis::layers::retry::HasherRng;
use tokio_util::sync::CancellationToken;

/// Exponential backoff between job attempts: 0.5 s growing to 10 s, jittered by half.
fn job_backoff() -> Option<ExponentialBackoff<HasherRng>> {
    let made = ExponentialBackoffMaker::new(
        Duration::from_millis(500),
        Duration::from_secs(10),
        0.5,
        HasherRng::default(),
    )
    .map(|mut m| m.make_backoff());
    match made {
        Ok(backoff) => Some(backoff),
        Err(e) => {
            tracing::error!(error = %e, "invalid retry backoff");
            None
        }
    }
}

/// Keeps one queue's apalis worker running until `shutdown`: `run` builds the worker with the backoff and runs it
/// until its stop signal ([`stopped`]); when Redis drops it, it is built again 2 s later.
pub(crate) async fn supervise<F, Fut, E>(queue: &str, shutdown: CancellationToken, mut run: F)
where
    F: FnMut(ExponentialBackoff<HasherRng>, CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    loop {
        let Some(backoff) = job_backoff() else {
            return;
        };
        let result = run(backoff, shutdown.clone()).await;
        if shutdown.is_cancelled() {
            return;
        }
        if let Err(e) = result {
            tracing::warn!(queue, error = %e, "job worker stopped; restarting");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

/// The stop signal apalis's `run_until` takes: resolves on `shutdown`.
pub(crate) async fn stopped(shutdown: CancellationToken) -> Result<(), std::io::Error> {
    shutdown.cancelled().await;
    Ok(())
}

/// The apalis worker name of `queue` in this process. Unique per host and process (containers all run as pid 1):
/// apalis re-queues the jobs of workers whose heartbeats stop, by name.
pub(crate) fn worker_name(queue: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "worker".into());
    format!("trmm-worker-{queue}-{}-{}", host.trim(), std::process::id())
}
