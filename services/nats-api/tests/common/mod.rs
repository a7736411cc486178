//! The shared service-process harness lives in trmm-testkit.
pub use trmm_testkit::service::*;

use trmm_testkit::free_port;

/// trmm-nats-api in-process on `database_url` and `nats_url`, its AgentGateway on a free port.
pub fn in_process(database_url: &str, nats_url: &str) -> InProcess {
    let gateway = format!("127.0.0.1:{}", free_port());
    let args = [
        "trmm-nats-api",
        "--database-url",
        database_url,
        "--nats-url",
        nats_url,
        "--gateway-listen",
        &gateway,
    ];
    InProcess::start(&args, trmm_nats_api::run)
}
