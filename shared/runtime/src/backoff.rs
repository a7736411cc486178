//! Reconnecting to a dependency (Postgres, Redis, NATS) that may be down for a while.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

/// First retry delay of [`connect_with_backoff`].
pub const INITIAL_DELAY: Duration = Duration::from_millis(200);
/// Longest retry delay of [`connect_with_backoff`].
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// Exponential backoff with jitter: each delay doubles up to a cap.
#[derive(Clone, Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `initial` and doubles each step until `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { next: initial, max }
    }

    /// The delay to wait now: the current step with "equal jitter" (between half and all of it),
    /// so that replicas that lost a dependency together do not retry in lockstep.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = step / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(INITIAL_DELAY, MAX_DELAY)
    }
}

/// Calls `connect` until it succeeds (exponential backoff 200 ms → 10 s with jitter, each failure
/// logged at warn with `what`), or returns None once `shutdown` is cancelled.
///
/// Cancellation also interrupts an attempt that is still in progress. Errors are logged with
/// `{:#}`, so an `anyhow::Error` shows its whole cause chain.
pub async fn connect_with_backoff<T, E, F, Fut>(what: &str, shutdown: &CancellationToken, mut connect: F) -> Option<T>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::default();
    let mut attempt: u32 = 0;
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        attempt += 1;
        let result = tokio::select! {
            biased;
            () = shutdown.cancelled() => return None,
            result = connect() => result,
        };
        match result {
            Ok(value) => {
                if attempt > 1 {
                    tracing::info!(dependency = what, attempt, "connected after retrying");
                }
                return Some(value);
            }
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(
                    dependency = what,
                    attempt,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %format_args!("{e:#}"),
                    "cannot connect; retrying"
                );
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stay_within_jitter_bounds() {
        let mut backoff = Backoff::default();
        let mut step = INITIAL_DELAY;
        for _ in 0..20 {
            let delay = backoff.next_delay();
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} outside [{:?}, {step:?}]",
                step / 2
            );
            step = (step * 2).min(MAX_DELAY);
        }
        assert_eq!(step, MAX_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success() {
        let calls = AtomicU32::new(0);
        let shutdown = CancellationToken::new();

        let result = connect_with_backoff("test", &shutdown, || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n < 4 {
                    Err(format!("attempt {n} refused"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;

        assert_eq!(result, Some(4));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_when_shutdown_is_cancelled() {
        let calls = Arc::new(AtomicU32::new(0));
        let shutdown = CancellationToken::new();
        let canceller = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            canceller.cancel();
        });

        let counter = Arc::clone(&calls);
        let result: Option<()> = connect_with_backoff("test", &shutdown, || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Err("down") }
        })
        .await;

        assert_eq!(result, None);
        assert!(
            calls.load(Ordering::SeqCst) > 1,
            "it should have retried before giving up"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_interrupts_a_hanging_attempt() {
        let shutdown = CancellationToken::new();
        let canceller = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            canceller.cancel();
        });

        let result: Option<()> =
            connect_with_backoff("test", &shutdown, std::future::pending::<Result<(), &str>>).await;

        assert_eq!(result, None);
    }
}
