//! trmm-beat against real Redis, as a child process and in-process.

mod common;

use common::{InProcess, Service};
use trmm_testkit::{free_port, redis_url, RedisKeys};

const BIN: &str = env!("CARGO_BIN_EXE_trmm-beat");

/// Beat as a child process, on its own key prefix (`keys`): it takes the lease and enqueues the schedule.
fn start(redis_url: &str, keys: &RedisKeys) -> Service {
    Service::start(
        BIN,
        "TRMM_BEAT_LISTEN",
        &[
            ("TRMM_REDIS_URL", redis_url.to_owned()),
            ("TRMM_REDIS_PREFIX", keys.prefix().to_owned()),
        ],
    )
}

#[tokio::test]
async fn becomes_ready_and_exits_zero_on_sigterm() {
    let keys = RedisKeys::fresh();
    let mut beat = start(&redis_url(), &keys);

    beat.wait_until_up(&["redis"]).await;
    beat.wait_for_answer("/metrics", 200, "trmm_beat_leader 1").await;

    beat.stop().await;
}

#[tokio::test]
async fn exits_zero_on_sigint() {
    let keys = RedisKeys::fresh();
    let mut beat = start(&redis_url(), &keys);
    beat.wait_for_status("/readyz", 200).await;

    let status = beat.signal("INT").await;

    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn refuses_a_tick_that_would_let_the_lease_lapse() {
    let keys = RedisKeys::fresh();
    let mut beat = Service::start(
        BIN,
        "TRMM_BEAT_LISTEN",
        &[
            ("TRMM_REDIS_URL", redis_url()),
            ("TRMM_REDIS_PREFIX", keys.prefix().to_owned()),
            ("TRMM_BEAT_LEASE", "2s".to_owned()),
            ("TRMM_BEAT_TICK", "1s".to_owned()),
        ],
    );

    let status = beat.wait_for_exit().await;

    assert!(!status.success());
    assert!(
        beat.log()
            .contains("TRMM_BEAT_TICK (1s) must be at most a third of TRMM_BEAT_LEASE (2s)"),
        "{}",
        beat.log()
    );
}

#[tokio::test]
async fn keeps_retrying_while_redis_is_down() {
    let keys = RedisKeys::fresh();
    let mut beat = start(&format!("redis://127.0.0.1:{}", free_port()), &keys);

    beat.wait_until_retrying("redis").await;

    beat.stop().await;
}

#[tokio::test]
async fn run_in_process_returns_ok_when_cancelled() {
    let keys = RedisKeys::fresh();
    let args = [
        "trmm-beat",
        "--redis-url",
        &redis_url(),
        "--redis-prefix",
        keys.prefix(),
    ];
    let beat = InProcess::start(&args, trmm_beat::run);
    beat.wait_ready().await;
    beat.stop().await;
}
