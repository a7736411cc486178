//! Command-line flags and `TRMM_*` environment variables of trmm-websocket.

use std::net::SocketAddr;

use trmm_runtime::telemetry::LogArgs;

/// trmm-websocket: live dashboard updates over websockets, plus /healthz, /readyz and /metrics.
#[derive(Clone, clap::Parser)]
#[command(name = "trmm-websocket", version, about)]
pub struct Config {
    /// Postgres URL, e.g. `postgres://trmm:PASSWORD@127.0.0.1:5432/trmm`.
    #[arg(
        long,
        env = "TRMM_DATABASE_URL",
        default_value = "postgres://trmm@127.0.0.1:5432/trmm"
    )]
    pub database_url: String,
    /// Address the HTTP server (websockets and health endpoints) listens on.
    #[arg(long, env = "TRMM_WEBSOCKET_LISTEN", default_value = "0.0.0.0:8001")]
    pub listen: SocketAddr,
    /// URL of the AgentGateway gRPC service (served by trmm-nats-api), which streams command output.
    #[arg(long, env = "TRMM_GATEWAY_URL", default_value = "http://127.0.0.1:50051")]
    pub gateway_url: String,
    #[command(flatten)]
    pub proxy: trmm_authz::ProxyArgs,
    #[command(flatten)]
    pub log: LogArgs,
}
