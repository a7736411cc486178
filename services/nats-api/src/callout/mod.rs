//! NATS auth callout (nats-server 2.10+, `authorization { auth_callout { ... } }`): nats-server sends
//! every connection that is not one of `auth_users` as a signed authorization request JWT to
//! `$SYS.REQ.USER.AUTH` in the callout account; we answer with a response JWT, signed by the issuer
//! account nkey, carrying either a user JWT with the agent's permissions or an error.
//!
//! Requests arrive encrypted for our xkey when `auth_callout.xkey` is set (they carry the agent's
//! token); the answer is then encrypted for the server's xkey.

mod authorize;
mod claims;
mod jwt;
mod metrics;
mod request;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_nats::connection::State;
use async_nats::{ConnectOptions, Message, ServerAddr};
use futures_util::StreamExt;
use nkeys::{KeyPair, KeyPairType, XKey};
use tokio_util::sync::CancellationToken;
use trmm_runtime::backoff::connect_with_backoff;
use trmm_runtime::clock::SharedClock;
use trmm_runtime::health::{Health, CHECK_INTERVAL};

use crate::config::NatsAuthArgs;
use claims::{AuthRequest, AuthResponse, User};
use jwt::Claims;

/// Subject nats-server publishes authorization requests on.
pub const SUBJECT: &str = "$SYS.REQ.USER.AUTH";
/// Queue group: replicas of trmm-nats-api share the requests.
const QUEUE: &str = "trmm-nats-api";
/// How long an agent may take to answer a request it received (Tactical RMM's
/// NATS_ALLOW_RESPONSE_EXPIRATION, 1435 minutes: scripts and updates can run for hours).
const REPLY_WINDOW: Duration = Duration::from_secs(1435 * 60);

/// The callout: keys, the agent account and the database that knows the agents.
pub struct Callout {
    issuer: KeyPair,
    xkey: Option<XKey>,
    account: String,
    pool: trmm_db::Pool,
    metrics: metrics::Metrics,
    /// Judges request expiry and stamps the JWTs.
    clock: SharedClock,
}

/// Connection settings of the callout's own NATS identity.
pub struct Connection {
    url: ServerAddr,
    user: String,
    password: String,
}

impl Callout {
    /// The callout configured in `args`, None when TRMM_NATS_AUTH_PASSWORD is unset (no callout);
    /// fails when the keys are missing or are not the expected kind.
    pub fn from_args(
        args: &NatsAuthArgs,
        url: &ServerAddr,
        pool: trmm_db::Pool,
        clock: SharedClock,
    ) -> anyhow::Result<Option<(Callout, Connection)>> {
        let Some(password) = args.nats_auth_password.clone() else {
            return Ok(None);
        };
        let seed = args.nats_issuer_seed.as_deref().context(
            "TRMM_NATS_AUTH_PASSWORD is set but TRMM_NATS_ISSUER_SEED is not: set it to the issuer seed from \
             `trmm-nats-api nats-config` (services.env)",
        )?;
        let issuer = KeyPair::from_seed(seed.trim())
            .ok()
            .filter(|k| matches!(k.key_pair_type(), KeyPairType::Account))
            .context("TRMM_NATS_ISSUER_SEED is not an account nkey seed (SA...); regenerate with `trmm-nats-api nats-config`")?;
        let xkey = match args.nats_xkey_seed.as_deref() {
            Some(seed) => Some(XKey::from_seed(seed.trim()).ok().context(
                "TRMM_NATS_XKEY_SEED is not a curve key seed (SX...); regenerate with `trmm-nats-api nats-config`",
            )?),
            None => None,
        };
        let callout = Callout {
            issuer,
            xkey,
            account: args.nats_agent_account.clone(),
            pool,
            metrics: metrics::Metrics::default(),
            clock,
        };
        let connection = Connection {
            url: url.clone(),
            user: args.nats_auth_user.clone(),
            password,
        };
        Ok(Some((callout, connection)))
    }

    /// Public key of the issuer (auth_callout.issuer).
    pub fn issuer(&self) -> String {
        self.issuer.public_key()
    }

    /// Connects as the callout user and answers requests until `shutdown`; reports the connection
    /// as dependency `nats_auth`.
    pub async fn serve(
        self,
        connection: Connection,
        health: Health,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.metrics.register(&health);
        health.set_ready("nats_auth", false);
        let Connection { url, user, password } = connection;
        let client = connect_with_backoff("nats (auth callout)", &shutdown, || {
            ConnectOptions::with_user_and_password(user.clone(), password.clone())
                .name(format!("{}-auth", crate::SERVICE))
                .connect(url.clone())
        })
        .await;
        let Some(client) = client else {
            return Ok(());
        };
        let mut requests = client
            .queue_subscribe(SUBJECT, QUEUE.to_owned())
            .await
            .context("subscribing to the auth callout subject")?;
        client
            .flush()
            .await
            .context("subscribing to the auth callout subject")?;
        health.set_ready("nats_auth", true);
        let watched = client.clone();
        health.watch("nats_auth", CHECK_INTERVAL, shutdown.clone(), move || {
            let connected = watched.connection_state() == State::Connected;
            async move { connected }
        });
        tracing::info!(issuer = %self.issuer(), encrypted = self.xkey.is_some(), "serving the NATS auth callout");
        let callout = Arc::new(self);
        loop {
            let msg = tokio::select! {
                () = shutdown.cancelled() => break,
                msg = requests.next() => msg,
            };
            let Some(msg) = msg else { break };
            let (callout, client) = (callout.clone(), client.clone());
            tokio::spawn(async move { callout.answer(&client, msg).await });
        }
        client.drain().await.ok();
        Ok(())
    }

    async fn answer(&self, client: &async_nats::Client, msg: Message) {
        let Some(reply) = msg.reply.clone() else {
            return;
        };
        let (request, server_xkey) = match request::open(&msg, &self.issuer(), self.xkey.as_ref(), self.now()) {
            Ok(opened) => opened,
            Err(e) => {
                self.metrics.invalid();
                tracing::warn!(error = %e, "ignoring an auth callout request");
                return;
            }
        };
        let verdict = authorize::check(&self.pool, &request.nats.connect_opts).await;
        let client_info = &request.nats.client_info;
        let response = match &verdict {
            Ok(agent_id) => match self.user_jwt(&request, agent_id) {
                Ok(jwt) => AuthResponse::allow(jwt),
                Err(e) => {
                    tracing::error!(error = %e, "cannot sign a user JWT");
                    return;
                }
            },
            Err(denial) => AuthResponse::deny(denial.message()),
        };
        let claims = Claims {
            aud: request.nats.server_id.id.clone(),
            ..Claims::new(request.nats.user_nkey.clone(), response)
        };
        let payload = jwt::encode(claims, &self.issuer, self.now())
            .map_err(|e| e.to_string())
            .and_then(|token| self.seal(token.into_bytes(), server_xkey.as_ref()));
        let payload = match payload {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign the auth callout response");
                return;
            }
        };
        if let Err(e) = client.publish(reply, payload.into()).await {
            tracing::warn!(error = %e, "cannot send the auth callout response");
            return;
        }
        match verdict {
            Ok(agent_id) => {
                self.metrics.allowed();
                tracing::debug!(%agent_id, host = %client_info.host, cid = client_info.id, "agent connection allowed");
            }
            Err(denial) => {
                self.metrics.denied(denial);
                let user = &request.nats.connect_opts.user;
                tracing::debug!(%user, host = %client_info.host, reason = denial.label(), "connection refused");
            }
        }
    }

    /// The user JWT that places the connection in the agent account with the agent's permissions;
    /// its name becomes the connection's user name, which CONNZ filters on when disconnecting.
    fn user_jwt(&self, request: &Claims<AuthRequest>, agent_id: &str) -> Result<String, jwt::JwtError> {
        let claims = Claims {
            aud: self.account.clone(),
            name: agent_id.to_owned(),
            ..Claims::new(request.nats.user_nkey.clone(), User::agent(agent_id, REPLY_WINDOW))
        };
        jwt::encode(claims, &self.issuer, self.now())
    }

    /// Now, in seconds since the epoch (JWT times).
    fn now(&self) -> i64 {
        self.clock.now().timestamp()
    }

    fn seal(&self, token: Vec<u8>, server_xkey: Option<&XKey>) -> Result<Vec<u8>, String> {
        match (server_xkey, &self.xkey) {
            (Some(server), Some(ours)) => ours.seal(&token, server).map_err(|e| e.to_string()),
            _ => Ok(token),
        }
    }
}
