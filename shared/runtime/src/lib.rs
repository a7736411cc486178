//! Service plumbing shared by every trmm-rs binary: logging, shutdown signals, reconnect backoff,
//! and the `/healthz`, `/readyz` and `/metrics` endpoints.

pub mod backoff;
pub mod health;
pub mod shutdown;
pub mod telemetry;
