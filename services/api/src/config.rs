//! Command line and environment configuration of trmm-api.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

/// trmm-api: the dashboard and agent REST API of trmm-rs.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server options, used when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeConfig,
    /// Logging options.
    #[command(flatten)]
    pub log: trmm_runtime::telemetry::LogArgs,
}

impl trmm_runtime::service::ServiceConfig for Cli {
    fn log(&self) -> Option<&trmm_runtime::telemetry::LogArgs> {
        Some(&self.log)
    }

    fn runs_until_shutdown(&self) -> bool {
        matches!(self.command, None | Some(Command::Serve))
    }
}

/// trmm-api subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a superuser (prompts for missing values on a terminal).
    Createsuperuser(SuperuserArgs),
}

/// Options of `createsuperuser`.
#[derive(Debug, Args)]
pub struct SuperuserArgs {
    /// Login name.
    #[arg(long)]
    pub username: Option<String>,
    /// Email address.
    #[arg(long)]
    pub email: Option<String>,
    /// Password (prefer the TRMM_SUPERUSER_PASSWORD variable to keep it out of the process list).
    #[arg(long, env = "TRMM_SUPERUSER_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Base32 TOTP secret to enroll 2FA right away; without it the user must set up 2FA at first login.
    #[arg(long, env = "TRMM_SUPERUSER_TOTP_SECRET", hide_env_values = true)]
    pub totp_secret: Option<String>,
    /// If the user exists, reset its password, email and TOTP secret instead of failing.
    #[arg(long)]
    pub update_existing: bool,
}

/// Everything `trmm-api serve` needs.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Postgres settings (global: `migrate` and `createsuperuser` use them too).
    #[command(flatten)]
    pub postgres: trmm_deps::PostgresArgs,
    /// Redis settings (job queue and login rate limits).
    #[command(flatten)]
    pub redis: trmm_deps::RedisArgs,
    /// Address and port to listen on.
    #[arg(long, env = "TRMM_API_LISTEN", default_value = "0.0.0.0:8000")]
    pub listen: SocketAddr,
    /// Public base URL of this API, written into generated agent install commands.
    #[arg(long, env = "TRMM_PUBLIC_URL", default_value = "http://127.0.0.1:8000")]
    pub public_url: String,
    /// NATS URL agents connect to, written into generated trmm-agent install commands.
    #[arg(long, env = "TRMM_AGENT_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub agent_nats_url: String,
    /// AgentGateway settings.
    #[command(flatten)]
    pub gateway: trmm_deps::GatewayArgs,
    /// Notification settings (the key that encrypts the SMTP password and Twilio token).
    #[command(flatten)]
    pub notify: trmm_notify::NotifyArgs,
    /// Do not apply migrations at start (run `trmm-api migrate` separately).
    #[arg(long, env = "TRMM_NO_MIGRATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_migrate: bool,
    /// Range in seconds, "MIN,MAX", from which each agent's heartbeat interval is drawn (upstream 30,60).
    #[arg(long, env = "TRMM_CHECKIN_HELLO", default_value = "30,60", value_parser = parse_range)]
    pub checkin_hello: (u32, u32),
    /// Lowest agent version `POST /api/v3/installer/` accepts.
    #[arg(long, env = "TRMM_MIN_AGENT_VERSION", default_value = "2.9.0")]
    pub min_agent_version: String,
    /// Client-IP settings.
    #[command(flatten)]
    pub proxy: trmm_authz::ProxyArgs,
    /// checkcreds/login attempts allowed per client IP per minute.
    #[arg(long, env = "TRMM_LOGIN_RATE_LIMIT", default_value_t = 10)]
    pub login_rate_limit: u32,
    /// Redis key namespace.
    #[command(flatten)]
    pub redis_keys: trmm_deps::RedisPrefixArgs,
    /// Username of the protected root user: other users cannot edit, delete or reset its password or 2FA
    /// (usually the superuser created at install).
    #[arg(long, env = "TRMM_ROOT_USER")]
    pub root_user: Option<String>,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "TRMM_API_WORKERS")]
    pub workers: Option<usize>,
    /// Token that monitoring tools send in the X-Mon-Token header to read GET /core/v2/status/ (upstream's
    /// MON_TOKEN); without it that endpoint answers 404.
    #[arg(long, env = "TRMM_MONITORING_TOKEN", hide_env_values = true)]
    pub monitoring_token: Option<String>,
}

/// Parses "MIN,MAX" with 1 <= MIN <= MAX.
fn parse_range(s: &str) -> Result<(u32, u32), String> {
    let (lo, hi) = s.split_once(',').ok_or("expected MIN,MAX, e.g. 30,60")?;
    let lo: u32 = lo.trim().parse().map_err(|_| format!("{lo:?} is not a whole number"))?;
    let hi: u32 = hi.trim().parse().map_err(|_| format!("{hi:?} is not a whole number"))?;
    if lo == 0 || lo > hi {
        return Err("need 1 <= MIN <= MAX".into());
    }
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use trmm_runtime::service::ServiceConfig;
    use trmm_testkit::cli::parse_with_help;

    use super::{Cli, Command};

    #[test]
    fn parses_the_shared_dependency_flags_and_lists_their_variables() {
        let cli: Cli = parse_with_help(
            &[
                "trmm-api",
                "--database-url",
                "postgres://u@db:5432/x",
                "--database-pool-size",
                "4",
                "--redis-url",
                "redis://r:6379/1",
                "--redis-prefix",
                "p1",
                "--gateway-url",
                "http://g:50051",
                "--listen",
                "127.0.0.1:9000",
            ],
            &[
                "TRMM_DATABASE_URL",
                "TRMM_DATABASE_POOL_SIZE",
                "TRMM_REDIS_URL",
                "TRMM_REDIS_PREFIX",
                "TRMM_GATEWAY_URL",
                "TRMM_API_LISTEN",
            ],
            &[],
        );
        let serve = &cli.serve;
        assert_eq!(serve.postgres.database_url, "postgres://u@db:5432/x");
        assert_eq!(serve.postgres.database_pool_size, 4);
        assert_eq!(serve.redis.redis_url, "redis://r:6379/1");
        assert_eq!(serve.redis_keys.redis_prefix, "p1");
        assert_eq!(serve.gateway.gateway_url, "http://g:50051");
        assert!(cli.runs_until_shutdown());
    }

    #[test]
    fn subcommands_take_the_postgres_flags_and_stop_on_ctrl_c() {
        let cli = Cli::try_parse_from([
            "trmm-api",
            "migrate",
            "--database-url",
            "postgres://u@db:5432/x",
            "--database-pool-size",
            "2",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::Migrate)));
        assert_eq!(cli.serve.postgres.database_url, "postgres://u@db:5432/x");
        assert_eq!(cli.serve.postgres.database_pool_size, 2);
        assert!(!cli.runs_until_shutdown());
    }
}
