//! Test harness: real Postgres databases, nats-server processes and helpers shared by every test suite.

pub mod cli;
mod db;
pub mod http_receiver;
mod live;
mod nats;
mod nats_auth;
mod redis_keys;
mod redis_server;
pub mod service;
pub mod smtp;

pub use db::TestDb;
pub use live::{agent_commands, subscribe_live};
pub use nats::{free_port, nats_server_bin, NatsServer};
pub use nats_auth::NatsAuth;
pub use redis_keys::RedisKeys;
pub use redis_server::RedisServer;

/// The `TRMM_SECRET_KEY` test services run with (never a real deployment's).
pub const SECRET_KEY: &str = "74726d6d2d72732074657374206b65792c206e6f742061207265616c206f6e65";

/// Redis URL the tests use (env `TRMM_TEST_REDIS_URL`, default the local server).
pub fn redis_url() -> String {
    std::env::var("TRMM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}
