//! trmm-beat against real Redis, as a child process and in-process.

mod common;

use clap::Parser;
use common::Service;
use tokio_util::sync::CancellationToken;
use trmm_beat::Config;
use trmm_testkit::{free_port, redis_url};

const BIN: &str = env!("CARGO_BIN_EXE_trmm-beat");

fn start(redis_url: &str) -> Service {
    Service::start(BIN, "TRMM_BEAT_LISTEN", &[("TRMM_REDIS_URL", redis_url.to_owned())])
}

#[tokio::test]
async fn becomes_ready_and_exits_zero_on_sigterm() {
    let mut beat = start(&redis_url());

    assert!(beat.wait_for_status("/healthz", 200).await.contains("ok"));
    let ready = beat.wait_for_status("/readyz", 200).await;
    assert!(ready.contains("\"redis\":\"up\""), "{ready}");
    let metrics = beat.wait_for_status("/metrics", 200).await;
    assert!(
        metrics.contains("trmm_dependency_up{dependency=\"redis\"} 1"),
        "{metrics}"
    );

    let status = beat.terminate().await;
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn exits_zero_on_sigint() {
    let mut beat = start(&redis_url());
    beat.wait_for_status("/readyz", 200).await;

    let status = beat.signal("INT").await;

    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn keeps_retrying_while_redis_is_down() {
    let mut beat = start(&format!("redis://127.0.0.1:{}", free_port()));

    beat.wait_for_status("/healthz", 200).await;
    beat.wait_for_answer("/readyz", 503, "\"down\":[\"redis\"]").await;
    beat.wait_for_log("cannot connect; retrying", 2).await;
    beat.assert_running();

    let status = beat.terminate().await;
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn run_in_process_returns_ok_when_cancelled() {
    let listen = format!("127.0.0.1:{}", free_port());
    let config =
        Config::try_parse_from(["trmm-beat", "--redis-url", &redis_url(), "--listen", &listen]).expect("parsing flags");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(trmm_beat::run(config, shutdown.clone()));

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
