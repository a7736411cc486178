//! trmm-nats-api against real Postgres and a nats-server ≥ 2.10, as a child process and in-process.

mod common;

use common::Service;
use trmm_testkit::{free_port, NatsServer, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_trmm-nats-api");

fn start(database_url: &str, nats_url: &str) -> Service {
    Service::start(
        BIN,
        "TRMM_NATS_API_LISTEN",
        &[
            ("TRMM_DATABASE_URL", database_url.to_owned()),
            ("TRMM_NATS_URL", nats_url.to_owned()),
            ("TRMM_GATEWAY_LISTEN", format!("127.0.0.1:{}", free_port())),
        ],
    )
}

/// trmm-nats-api over a fresh database and nats-server, once it is ready.
async fn ready() -> (TestDb, NatsServer, Service) {
    let db = TestDb::new().await;
    let nats = NatsServer::start().await;
    let mut nats_api = start(db.url(), &nats.url());
    nats_api.wait_until_up(&["nats", "postgres"]).await;
    (db, nats, nats_api)
}

#[tokio::test]
async fn becomes_ready_and_exits_zero_on_sigterm() {
    let (_db, _nats, mut nats_api) = ready().await;
    nats_api.stop().await;
}

#[tokio::test]
async fn waits_for_nats_to_start_and_survives_a_restart() {
    let db = TestDb::new().await;
    let port = free_port();
    let mut nats_api = start(db.url(), &format!("nats://127.0.0.1:{port}"));

    nats_api.wait_until_retrying("nats").await;

    let mut nats = NatsServer::start_on(port).await;
    nats_api.wait_for_status("/readyz", 200).await;

    nats.stop().await;
    nats_api.wait_for_answer("/readyz", 503, "\"down\":[\"nats\"]").await;
    nats.restart().await;
    nats_api.wait_for_status("/readyz", 200).await;

    nats_api.stop().await;
}

#[tokio::test]
async fn a_frozen_nats_server_turns_readiness_down_within_5_s() {
    let (_db, nats, mut nats_api) = ready().await;
    nats.freeze().await;
    let frozen = std::time::Instant::now();
    nats_api.wait_for_answer("/readyz", 503, "\"down\":[\"nats\"]").await;
    let noticed = frozen.elapsed();
    nats.thaw().await;
    nats_api.wait_for_status("/readyz", 200).await;

    assert!(noticed < std::time::Duration::from_secs(5), "503 after {noticed:?}");
    nats_api.stop().await;
}

#[tokio::test]
async fn rejects_an_unusable_nats_url_at_startup() {
    let mut nats_api = start("postgres://postgres@127.0.0.1/trmm", "nats://127.0.0.1:notaport");

    let status = nats_api.wait_for_exit().await;

    assert_eq!(status.code(), Some(2), "clap usage errors exit 2");
    assert!(
        nats_api.log().contains("TRMM_NATS_URL") || nats_api.log().contains("--nats-url"),
        "{}",
        nats_api.log()
    );
}

#[tokio::test]
async fn run_in_process_returns_ok_when_cancelled() {
    let db = TestDb::new().await;
    let nats = NatsServer::start().await;
    let nats_api = common::in_process(db.url(), &nats.url());
    nats_api.wait_ready().await;
    nats_api.stop().await;
}
