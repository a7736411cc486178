//! Service plumbing shared by every trmm-rs binary: the `main` skeleton, logging, shutdown signals,
//! the injectable clock, reconnect backoff, and the `/healthz`, `/readyz` and `/metrics` endpoints.

pub mod backoff;
pub mod clock;
pub mod duration;
#[cfg(feature = "health")]
pub mod health;
pub mod service;
pub mod shutdown;
pub mod telemetry;
