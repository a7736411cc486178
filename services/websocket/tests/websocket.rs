//! trmm-websocket against real Postgres, as a child process and in-process.

mod common;

use common::{InProcess, Service};
use trmm_testkit::{free_port, TestDb};

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

    websocket.wait_until_up(&["postgres"]).await;

    websocket.stop().await;
}

#[tokio::test]
async fn keeps_retrying_while_postgres_is_down() {
    let mut websocket = start(&format!("postgres://postgres@127.0.0.1:{}/trmm", free_port()));

    websocket.wait_until_retrying("postgres").await;

    websocket.stop().await;
}

#[tokio::test]
async fn run_in_process_returns_ok_when_cancelled() {
    let db = TestDb::new().await;
    let websocket = InProcess::start(&["trmm-websocket", "--database-url", db.url()], trmm_websocket::run);
    websocket.wait_ready().await;
    websocket.stop().await;
}
