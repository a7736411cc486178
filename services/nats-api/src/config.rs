//! Command-line flags and `TRMM_*` environment variables of trmm-nats-api.

use std::net::SocketAddr;

use async_nats::ServerAddr;
use trmm_runtime::telemetry::LogArgs;

/// trmm-nats-api: the agent plane; consumes agent messages from NATS and records them in Postgres.
#[derive(Clone, clap::Parser)]
#[command(name = "trmm-nats-api", version, about)]
pub struct Config {
    /// Postgres URL, e.g. `postgres://trmm:PASSWORD@127.0.0.1:5432/trmm`.
    #[arg(
        long,
        env = "TRMM_DATABASE_URL",
        default_value = "postgres://trmm@127.0.0.1:5432/trmm"
    )]
    pub database_url: String,
    /// NATS server URL (nats-server 2.10 or newer), e.g. `nats://127.0.0.1:4222`.
    #[arg(long, env = "TRMM_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: ServerAddr,
    /// Address for the /healthz, /readyz and /metrics endpoints.
    #[arg(long, env = "TRMM_NATS_API_LISTEN", default_value = "0.0.0.0:8002")]
    pub listen: SocketAddr,
    /// Address of the AgentGateway gRPC server.
    #[arg(long, env = "TRMM_GATEWAY_LISTEN", default_value = "0.0.0.0:50051")]
    pub gateway_listen: SocketAddr,
    /// Logging options.
    #[command(flatten)]
    pub log: LogArgs,
}
