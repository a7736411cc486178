//! trmm-websocket against real Postgres, as a child process and in-process.

mod common;

use clap::Parser;
use common::Service;
use tokio_util::sync::CancellationToken;
use trmm_testkit::{free_port, TestDb};
use trmm_websocket::Config;

const BIN: &str = env!("CARGO_BIN_EXE_trmm-websocket");

fn start(database_url: &str) -> Service {
    Service::start(
        BIN,
        "TRMM_WEBSOCKET_LISTEN",
        &[("TRMM_DATABASE_URL", database_url.to_owned())],
    )
}

#[tokio::test]
async fn becomes_ready_and_exits_zero_on_sigterm() {
    let db = TestDb::new().await;
    let mut websocket = start(db.url());

    assert!(websocket.wait_for_status("/healthz", 200).await.contains("ok"));
    let ready = websocket.wait_for_status("/readyz", 200).await;
    assert!(ready.contains("\"postgres\":\"up\""), "{ready}");
    let metrics = websocket.wait_for_status("/metrics", 200).await;
    assert!(
        metrics.contains("trmm_dependency_up{dependency=\"postgres\"} 1"),
        "{metrics}"
    );

    let status = websocket.terminate().await;
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn keeps_retrying_while_postgres_is_down() {
    let mut websocket = start(&format!("postgres://postgres@127.0.0.1:{}/trmm", free_port()));

    websocket.wait_for_status("/healthz", 200).await;
    websocket
        .wait_for_answer("/readyz", 503, "\"down\":[\"postgres\"]")
        .await;
    websocket.wait_for_log("cannot connect; retrying", 2).await;
    websocket.assert_running();

    let status = websocket.terminate().await;
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn run_in_process_returns_ok_when_cancelled() {
    let db = TestDb::new().await;
    let listen = format!("127.0.0.1:{}", free_port());
    let config = Config::try_parse_from(["trmm-websocket", "--database-url", db.url(), "--listen", &listen])
        .expect("parsing flags");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(trmm_websocket::run(config, shutdown.clone()));

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
