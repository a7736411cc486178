//! The harness lives in `trmm_api::testing` (feature `testing`), shared with trmm-agent's tests.
pub use trmm_api::testing::*;
