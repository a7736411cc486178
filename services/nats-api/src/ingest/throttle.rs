//! Rate limiting for per-message log lines: a flood of bad messages (or a long Postgres outage) must not turn
//! into a flood of identical log lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Allows one event per `every`; counts the ones it suppressed in between.
pub struct Throttle {
    every: Duration,
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl Throttle {
    /// A throttle that lets one event through per `every`.
    pub const fn new(every: Duration) -> Self {
        Throttle {
            every,
            last: Mutex::new(None),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when the caller may log now, `n` being how many events were suppressed since the last
    /// one logged; `None` when this event should stay silent.
    pub fn allow(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match *last {
            Some(at) if now.duration_since(at) < self.every => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_through_then_counts_the_rest() {
        let throttle = Throttle::new(Duration::from_secs(3600));
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        let zero = Throttle::new(Duration::ZERO);
        assert_eq!(zero.allow(), Some(0));
        assert_eq!(zero.allow(), Some(0));
    }
}
