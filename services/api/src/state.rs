//! Shared application state handed to every handler.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

use crate::clock::Clock;
use crate::version::Version;

/// Runtime settings derived from the configuration (plain values so tests can build them directly).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Public base URL of this API.
    pub public_url: String,
    /// NATS URL handed to agents.
    pub agent_nats_url: String,
    /// Seconds range of agents' heartbeat interval.
    pub checkin_hello: (u32, u32),
    /// Lowest agent version allowed to install.
    pub min_agent_version: Version,
    /// Trust proxy headers for the client IP.
    pub trust_proxy_headers: bool,
    /// Login attempts per IP per minute.
    pub login_rate_limit: u32,
    /// Prefix of Redis keys.
    pub redis_prefix: String,
    /// Digest of the token `GET /core/v2/status/` wants in `X-Mon-Token`; None turns the endpoint off.
    pub monitoring_token: Option<trmm_auth::TokenDigest>,
    /// The protected root user, whom other users cannot edit, delete or reset (upstream `ROOT_USER`).
    pub root_user: Option<String>,
}

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Postgres pool.
    pub db: trmm_db::Pool,
    /// Redis, once connected (the API keeps serving while Redis is down).
    pub redis: Arc<OnceCell<ConnectionManager>>,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// The AgentGateway, through which commands reach agents.
    pub gateway: trmm_rpc::client::GatewayClient,
    /// Mail, SMS and webhook senders, and the key of the secrets they use.
    pub notifier: trmm_notify::Notifier,
    /// Dashboard events (alerts opened and resolved, finished runs).
    pub events: trmm_ops::events::Events,
}

impl AppState {
    /// Current time from the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Agent work (commands, scripts, queues) on this state's database, gateway and job queues.
    pub fn ops(&self) -> trmm_ops::Ops {
        trmm_ops::Ops {
            pool: self.db.clone(),
            gateway: self.gateway.clone(),
            jobs: trmm_ops::JobQueue {
                redis: self.redis.clone(),
                prefix: self.settings.redis_prefix.clone(),
            },
            events: self.events.clone(),
        }
    }

    /// A pooled database connection.
    pub async fn conn(&self) -> Result<trmm_db::Client, trmm_db::DbError> {
        Ok(self.db.get().await?)
    }
}
