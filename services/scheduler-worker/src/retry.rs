//! The retry backoff every job queue of the worker uses.

use std::time::Duration;

use apalis::layers::retry::backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use apalis::layers::retry::HasherRng;

/// Exponential backoff between job attempts: 0.5 s growing to 10 s, jittered by half.
pub(crate) fn job_backoff() -> Option<ExponentialBackoff<HasherRng>> {
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
