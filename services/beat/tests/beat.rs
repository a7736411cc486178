//! trmm-beat against real Redis, as a child process and in-process.

mod common;

use common::{InProcess, Service};
use trmm_testkit::{free_port, redis_url};

const BIN: &str = env!("CARGO_BIN_EXE_trmm-beat");

fn start(redis_url: &str) -> Service {
    Service::start(BIN, "TRMM_BEAT_LISTEN", &[("TRMM_REDIS_URL", redis_url.to_owned())])
}

#[tokio::test]
async fn becomes_ready_and_exits_zero_on_sigterm() {
    let mut beat = start(&redis_url());

    beat.wait_until_up(&["redis"]).await;

    beat.stop().await;
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

    beat.wait_until_retrying("redis").await;

    beat.stop().await;
}

#[tokio::test]
async fn run_in_process_returns_ok_when_cancelled() {
    let beat = InProcess::start(&["trmm-beat", "--redis-url", &redis_url()], trmm_beat::run);
    beat.wait_ready().await;
    beat.stop().await;
}
