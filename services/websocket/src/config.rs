//! Command-line flags and `TRMM_*` environment variables of trmm-websocket.

use std::net::SocketAddr;

use trmm_runtime::telemetry::LogArgs;

trmm_runtime::logging_service_config!(Config);

/// trmm-websocket: live dashboard updates over websockets, plus /healthz, /readyz and /metrics.
#[derive(Clone, clap::Parser)]
#[command(name = "trmm-websocket", version, about)]
pub struct Config {
    /// Postgres settings.
    #[command(flatten)]
    pub postgres: trmm_deps::PostgresArgs,
    /// Address the HTTP server (websockets and health endpoints) listens on.
    #[arg(long, env = "TRMM_WEBSOCKET_LISTEN", default_value = "0.0.0.0:8001")]
    pub listen: SocketAddr,
    /// AgentGateway settings (command output and the dashboard events come through it).
    #[command(flatten)]
    pub gateway: trmm_deps::GatewayArgs,
    /// Client-IP settings.
    #[command(flatten)]
    pub proxy: trmm_authz::ProxyArgs,
    /// Logging options.
    #[command(flatten)]
    pub log: LogArgs,
}

#[cfg(test)]
mod tests {
    use trmm_testkit::cli::parse_with_help;

    use super::Config;

    #[test]
    fn parses_the_shared_dependency_flags_and_lists_their_variables() {
        let config: Config = parse_with_help(
            &[
                "trmm-websocket",
                "--database-url",
                "postgres://u@db:5432/x",
                "--database-pool-size",
                "3",
                "--gateway-url",
                "http://g:50051",
            ],
            &["TRMM_DATABASE_URL", "TRMM_DATABASE_POOL_SIZE", "TRMM_GATEWAY_URL"],
            &["TRMM_REDIS_URL"],
        );
        assert_eq!(config.postgres.database_url, "postgres://u@db:5432/x");
        assert_eq!(config.postgres.database_pool_size, 3);
        assert_eq!(config.gateway.gateway_url, "http://g:50051");
    }
}
