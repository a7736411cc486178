//! trmm-nats-api against real Postgres and a nats-server ≥ 2.10, as a child process and in-process.

mod common;

use clap::Parser;
use common::Service;
use tokio_util::sync::CancellationToken;
use trmm_nats_api::Config;
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

#[tokio::test]
async fn becomes_ready_and_exits_zero_on_sigterm() {
    let db = TestDb::new().await;
    let nats = NatsServer::start().await;
    let mut nats_api = start(db.url(), &nats.url());

    assert!(nats_api.wait_for_status("/healthz", 200).await.contains("ok"));
    let ready = nats_api.wait_for_status("/readyz", 200).await;
    assert!(
        ready.contains("\"nats\":\"up\"") && ready.contains("\"postgres\":\"up\""),
        "{ready}"
    );
    let metrics = nats_api.wait_for_status("/metrics", 200).await;
    assert!(
        metrics.contains("trmm_dependency_up{dependency=\"nats\"} 1"),
        "{metrics}"
    );

    let status = nats_api.terminate().await;
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn waits_for_nats_to_start_and_survives_a_restart() {
    let db = TestDb::new().await;
    let port = free_port();
    let mut nats_api = start(db.url(), &format!("nats://127.0.0.1:{port}"));

    nats_api.wait_for_status("/healthz", 200).await;
    nats_api.wait_for_answer("/readyz", 503, "\"down\":[\"nats\"]").await;
    nats_api.wait_for_log("cannot connect; retrying", 2).await;

    let mut nats = NatsServer::start_on(port).await;
    nats_api.wait_for_status("/readyz", 200).await;

    nats.stop().await;
    nats_api.wait_for_answer("/readyz", 503, "\"down\":[\"nats\"]").await;
    nats.restart().await;
    nats_api.wait_for_status("/readyz", 200).await;

    let status = nats_api.terminate().await;
    assert!(status.success(), "exit status {status}");
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
    let listen = format!("127.0.0.1:{}", free_port());
    let config = Config::try_parse_from([
        "trmm-nats-api",
        "--database-url",
        db.url(),
        "--nats-url",
        &nats.url(),
        "--listen",
        &listen,
        "--gateway-listen",
        &format!("127.0.0.1:{}", free_port()),
    ])
    .expect("parsing flags");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(trmm_nats_api::run(config, shutdown.clone()));

    let http = reqwest::Client::new();
    common::poll_answer(&http, &format!("http://{listen}/readyz"), 200, "", || {
        assert!(!running.is_finished())
    })
    .await;
    shutdown.cancel();

    let result = tokio::time::timeout(common::EXIT_DEADLINE, running)
        .await
        .expect("run did not return after cancel");
    result.expect("run panicked").expect("run failed");
}
