//! trmm-worker against real Postgres and Redis, as a child process and in-process.

mod common;
#[path = "common/redis_server.rs"]
mod redis_server;

use clap::Parser;
use common::Service;
use redis_server::RedisServer;
use tokio_util::sync::CancellationToken;
use trmm_testkit::{free_port, redis_url, RedisKeys, TestDb};
use trmm_worker::Config;

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
        ],
    )
}

#[tokio::test]
async fn becomes_ready_and_exits_zero_on_sigterm() {
    let db = TestDb::new().await;
    let keys = RedisKeys::fresh();
    let mut worker = start(db.url(), &redis_url(), &keys);

    assert!(worker.wait_for_status("/healthz", 200).await.contains("ok"));
    let ready = worker.wait_for_status("/readyz", 200).await;
    assert!(ready.contains("postgres") && ready.contains("redis"), "{ready}");
    let metrics = worker.wait_for_status("/metrics", 200).await;
    assert!(
        metrics.contains("trmm_dependency_up{dependency=\"redis\"} 1"),
        "{metrics}"
    );

    let status = worker.terminate().await;
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn keeps_retrying_while_redis_is_down() {
    let db = TestDb::new().await;
    let keys = RedisKeys::fresh();
    let mut worker = start(db.url(), &format!("redis://127.0.0.1:{}", free_port()), &keys);

    worker.wait_for_status("/healthz", 200).await;
    worker.wait_for_answer("/readyz", 503, "\"down\":[\"redis\"]").await;
    worker.wait_for_log("cannot connect; retrying", 2).await;
    worker.assert_running();

    let status = worker.terminate().await;
    assert!(status.success(), "exit status {status}");
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

    let status = worker.terminate().await;
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn run_in_process_returns_ok_when_cancelled() {
    let db = TestDb::new().await;
    let listen = format!("127.0.0.1:{}", free_port());
    let keys = RedisKeys::fresh();
    let config = Config::try_parse_from([
        "trmm-worker",
        "--database-url",
        db.url(),
        "--redis-url",
        &redis_url(),
        "--redis-prefix",
        keys.prefix(),
        "--listen",
        &listen,
    ])
    .expect("parsing flags");
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(trmm_worker::run(config, shutdown.clone()));

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
