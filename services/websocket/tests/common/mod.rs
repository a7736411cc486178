//! The shared service-process harness lives in trmm-testkit.
pub use trmm_testkit::service::*;
