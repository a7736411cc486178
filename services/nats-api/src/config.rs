//! Command-line flags and `TRMM_*` environment variables of trmm-nats-api.

use std::net::SocketAddr;

use trmm_runtime::service::ServiceConfig;
use trmm_runtime::telemetry::LogArgs;

/// trmm-nats-api: the agent plane; consumes agent messages from NATS and records them in Postgres.
#[derive(Clone, clap::Parser)]
#[command(name = "trmm-nats-api", version, about)]
pub struct Config {
    /// Postgres settings.
    #[command(flatten)]
    pub postgres: trmm_deps::PostgresArgs,
    /// NATS settings.
    #[command(flatten)]
    pub nats: trmm_deps::NatsArgs,
    /// Address for the /healthz, /readyz and /metrics endpoints.
    #[arg(long, env = "TRMM_NATS_API_LISTEN", default_value = "0.0.0.0:8002")]
    pub listen: SocketAddr,
    /// Address of the AgentGateway gRPC server.
    #[arg(long, env = "TRMM_GATEWAY_LISTEN", default_value = "0.0.0.0:50051")]
    pub gateway_listen: SocketAddr,
    /// Largest agent telemetry message (bytes) that is decoded and stored; larger ones are dropped and counted
    /// in trmm_telemetry_dropped_total{reason="oversized"}. nats-server's max_payload is a separate, outer limit.
    #[arg(long, env = "TRMM_MAX_TELEMETRY_BYTES", default_value_t = crate::ingest::DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_telemetry_bytes: usize,
    /// NATS credentials and auth callout options.
    #[command(flatten)]
    pub nats_auth: NatsAuthArgs,
    /// Logging options.
    #[command(flatten)]
    pub log: LogArgs,
    /// Without a subcommand the service runs.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl ServiceConfig for Config {
    /// `nats-config` prints only its own output.
    fn log(&self) -> Option<&LogArgs> {
        match self.command {
            Some(Command::NatsConfig(_)) => None,
            None => Some(&self.log),
        }
    }

    fn runs_until_shutdown(&self) -> bool {
        self.command.is_none()
    }
}

/// Subcommands of trmm-nats-api.
#[derive(Clone, clap::Subcommand)]
pub enum Command {
    /// Generates the NATS keys and passwords of a deployment: `nats-server.env` (public keys and bcrypt
    /// hashes, read by config/nats/nats-server.conf) and `services.env` (secrets for the trmm services).
    NatsConfig(crate::natsconf::NatsConfigArgs),
}

/// NATS identities of trmm-nats-api (see config/nats/nats-server.conf). With none set it connects
/// without credentials and serves no auth callout, for a nats-server without authentication.
#[derive(Clone, clap::Args)]
pub struct NatsAuthArgs {
    /// User of the main NATS connection (AgentGateway, telemetry): the services' identity in account APP.
    #[arg(long, env = "TRMM_NATS_USER", default_value = "trmm-service")]
    pub nats_user: String,
    /// Password of TRMM_NATS_USER; unset for a nats-server without authentication.
    #[arg(long, env = "TRMM_NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,
    /// User of the auth callout connection (account AUTH, listed in auth_callout.auth_users).
    #[arg(long, env = "TRMM_NATS_AUTH_USER", default_value = "trmm-auth")]
    pub nats_auth_user: String,
    /// Password of TRMM_NATS_AUTH_USER; setting it turns the auth callout on (needs TRMM_NATS_ISSUER_SEED).
    #[arg(long, env = "TRMM_NATS_AUTH_PASSWORD", hide_env_values = true)]
    pub nats_auth_password: Option<String>,
    /// Seed (`SA...`) of the account nkey whose public key is auth_callout.issuer; signs the answers.
    #[arg(long, env = "TRMM_NATS_ISSUER_SEED", hide_env_values = true)]
    pub nats_issuer_seed: Option<String>,
    /// Seed (`SX...`) of the curve key whose public key is auth_callout.xkey; decrypts the requests.
    #[arg(long, env = "TRMM_NATS_XKEY_SEED", hide_env_values = true)]
    pub nats_xkey_seed: Option<String>,
    /// Account that authenticated agents are placed in.
    #[arg(long, env = "TRMM_NATS_AGENT_ACCOUNT", default_value = "APP")]
    pub nats_agent_account: String,
    /// User of the system-account connection that closes a deleted agent's connections (CONNZ, KICK).
    #[arg(long, env = "TRMM_NATS_SYSTEM_USER", default_value = "trmm-system")]
    pub nats_system_user: String,
    /// Password of TRMM_NATS_SYSTEM_USER; without it the AgentGateway cannot disconnect agents.
    #[arg(long, env = "TRMM_NATS_SYSTEM_PASSWORD", hide_env_values = true)]
    pub nats_system_password: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use trmm_runtime::service::ServiceConfig;
    use trmm_testkit::cli::parse_with_help;

    use super::{Command, Config};

    #[test]
    fn parses_the_shared_dependency_flags_and_lists_their_variables() {
        let config: Config = parse_with_help(
            &[
                "trmm-nats-api",
                "--database-url",
                "postgres://u@db:5432/x",
                "--database-pool-size",
                "5",
                "--nats-url",
                "nats://n:4222",
            ],
            &["TRMM_DATABASE_URL", "TRMM_DATABASE_POOL_SIZE", "TRMM_NATS_URL"],
            &[],
        );
        assert_eq!(config.postgres.database_url, "postgres://u@db:5432/x");
        assert_eq!(config.postgres.database_pool_size, 5);
        assert_eq!(config.nats.nats_url.host(), "n");
        assert_eq!(config.nats.nats_url.port(), 4222);
        assert!(config.runs_until_shutdown() && config.log().is_some());
    }

    #[test]
    fn nats_config_is_a_one_shot_without_logging() {
        let config = Config::try_parse_from(["trmm-nats-api", "nats-config", "--out-dir", "/tmp/x"]).unwrap();
        assert!(matches!(config.command, Some(Command::NatsConfig(_))));
        assert!(!config.runs_until_shutdown() && config.log().is_none());
    }
}
