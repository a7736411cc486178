//! trmm-worker against real Postgres and Redis, as a child process and in-process.

mod common;

use common::{InProcess, Service};
use trmm_testkit::{free_port, redis_url, RedisKeys, RedisServer, TestDb};

const BIN: &str = env!("CARGO_BIN_EXE_trmm-worker");

/// The worker as a child process, on its own Redis key prefix (`keys`).
fn start(database_url: &str, redis_url: &str, keys: &RedisKeys) -> Service {
    Service::start(
        BIN,
        "TRMM_WORKER_LISTEN",
        &[
            ("TRMM_DATABASE_URL", database_url.to_owned()),
            ("TRMM_REDIS_URL", redis_url.to_owned()),
            ("TRMM_REDIS_PREFIX", keys.prefix().to_owned()),
            ("TRMM_SECRET_KEY", trmm_testkit::SECRET_KEY.to_owned()),
        ],
    )
}

#[tokio::test]
async fn becomes_ready_and_exits_zero_on_sigterm() {
    let db = TestDb::new().await;
    let keys = RedisKeys::fresh();
    let mut worker = start(db.url(), &redis_url(), &keys);

    worker.wait_until_up(&["postgres", "redis"]).await;

    worker.stop().await;
}

#[tokio::test]
async fn keeps_retrying_while_redis_is_down() {
    let db = TestDb::new().await;
    let keys = RedisKeys::fresh();
    let mut worker = start(db.url(), &format!("redis://127.0.0.1:{}", free_port()), &keys);

    worker.wait_until_retrying("redis").await;

    worker.stop().await;
}

#[tokio::test]
async fn recovers_when_redis_comes_up_and_after_it_restarts() {
    let db = TestDb::new().await;
    let port = free_port();
    let keys = RedisKeys::fresh();
    let mut worker = start(db.url(), &format!("redis://127.0.0.1:{port}"), &keys);
    worker.wait_for_status("/readyz", 503).await;

    let redis = RedisServer::start_on(port).await;
    worker.wait_for_status("/readyz", 200).await;

    drop(redis);
    worker.wait_for_answer("/readyz", 503, "\"down\":[\"redis\"]").await;

    let _redis = RedisServer::start_on(port).await;
    worker.wait_for_status("/readyz", 200).await;

    worker.stop().await;
}

#[tokio::test]
async fn run_in_process_returns_ok_when_cancelled() {
    let db = TestDb::new().await;
    let keys = RedisKeys::fresh();
    let args = [
        "trmm-worker",
        "--database-url",
        db.url(),
        "--redis-url",
        &redis_url(),
        "--redis-prefix",
        keys.prefix(),
        "--secret-key",
        trmm_testkit::SECRET_KEY,
    ];
    let worker = InProcess::start(&args, trmm_worker::run);
    worker.wait_ready().await;
    worker.stop().await;
}

#[test]
fn refuses_to_start_without_a_usable_secret_key_and_says_how_to_make_one() {
    for key in [None, Some("too short")] {
        let mut command = std::process::Command::new(BIN);
        for (name, _) in std::env::vars_os().filter(|(n, _)| n.to_string_lossy().starts_with("TRMM_")) {
            command.env_remove(name);
        }
        if let Some(key) = key {
            command.env("TRMM_SECRET_KEY", key);
        }
        let out = command
            .env("TRMM_WORKER_LISTEN", format!("127.0.0.1:{}", free_port()))
            .output()
            .expect("running trmm-worker");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("TRMM_SECRET_KEY"), "{stderr}");
        assert!(stderr.contains("openssl rand -hex 32"), "{stderr}");
    }
}
