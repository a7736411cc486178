//! The settings of the dependencies trmm-rs's services share (Postgres, Redis, NATS, the AgentGateway), each
//! defined once as a clap `Args` struct to `#[command(flatten)]` into a service's config, and the helpers that
//! turn them into a pool or client, wait for the dependency and keep its `/readyz` entry current.

pub mod gateway;
pub mod nats;
pub mod postgres;
pub mod redis;

pub use gateway::GatewayArgs;
pub use nats::NatsArgs;
pub use postgres::PostgresArgs;
pub use redis::{RedisArgs, RedisPrefixArgs};

/// A setting that cannot be used; the message says which variable to fix and what it should look like.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// TRMM_DATABASE_URL.
    #[error("TRMM_DATABASE_URL is not a usable Postgres URL (expected postgres://user:password@host:port/database)")]
    Postgres(#[source] trmm_db::DbError),
    /// TRMM_REDIS_URL.
    #[error("TRMM_REDIS_URL is not a usable Redis URL (expected redis://host:port/db)")]
    Redis(#[source] ::redis::RedisError),
    /// TRMM_GATEWAY_URL.
    #[error("TRMM_GATEWAY_URL is not a usable URL (expected http://host:port of trmm-nats-api's gateway)")]
    Gateway(#[source] trmm_rpc::client::GatewayError),
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn unusable_urls_name_the_variable_to_fix_and_keep_the_cause() {
        let postgres = PostgresArgs {
            database_url: "bogus".into(),
            database_pool_size: 1,
        };
        let redis = RedisArgs {
            redis_url: "bogus".into(),
        };
        let gateway = GatewayArgs {
            gateway_url: "not a url".into(),
        };
        let errors = [
            ("TRMM_DATABASE_URL", postgres.pool().map(drop).unwrap_err()),
            ("TRMM_REDIS_URL", redis.client().map(drop).unwrap_err()),
            ("TRMM_GATEWAY_URL", gateway.client().map(drop).unwrap_err()),
        ];
        for (variable, error) in errors {
            assert!(error.to_string().starts_with(variable), "{error}");
            assert!(error.source().is_some(), "{error:?}");
        }
    }
}
