//! NATS, an in-process AgentGateway and trmm-api wired to it, for tests that reach agents through the API, and
//! a stand-in agent answering on NATS.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use serde_json::Value;
use tokio_util::sync::{CancellationToken, DropGuard};
use trmm_db::scripts::{self, ScriptFields};
use trmm_db::ScriptId;
use trmm_protocol::nats::{self, Command};
use trmm_testkit::NatsServer;

use super::{acme_hq, agent_id, PoolBuilder, TestApi, Wiring};

pub struct Suite {
    pub api: TestApi,
    pub nats: NatsServer,
    pub admin: String,
    pub client: i64,
    pub site: i64,
    pub installer: String,
    _shutdown: DropGuard,
}

/// NATS, an in-process AgentGateway and the API wired to it, with [`acme_hq`]'s client, site and tokens.
pub async fn suite() -> Suite {
    suite_with_pool(None).await
}

/// [`suite`] with the API's Postgres pool limited to `pool_size` connections.
pub async fn suite_with_pool(pool_size: Option<usize>) -> Suite {
    let nats = NatsServer::start().await;
    let nc = async_nats::connect(nats.url()).await.unwrap();
    let shutdown = CancellationToken::new();
    let port = trmm_testkit::free_port();
    let listen = format!("127.0.0.1:{port}").parse().unwrap();
    let gateway = trmm_nats_api::gateway::Gateway::new(nc, Default::default(), |_| Box::pin(async { Ok(0) }));
    tokio::spawn(trmm_nats_api::gateway::serve(listen, gateway, shutdown.clone()));
    let wiring = Wiring {
        gateway_url: Some(format!("http://127.0.0.1:{port}")),
        pool: pool_size
            .map(|size| -> PoolBuilder { Box::new(move |db| trmm_db::connect_sized(db.url(), size).unwrap()) }),
        ..Wiring::default()
    };
    let api = TestApi::start_wired(|_| {}, wiring).await;
    let (admin, client, site, installer) = acme_hq(&api).await;
    Suite {
        api,
        nats,
        admin,
        client,
        site,
        installer,
        _shutdown: shutdown.drop_guard(),
    }
}

impl Suite {
    pub async fn db(&self) -> trmm_db::Client {
        self.api.db.pool().get().await.unwrap()
    }

    /// A user script in the library.
    pub async fn script(&self, name: &str, body: &str, args: &[&str]) -> ScriptId {
        let fields = ScriptFields {
            name: name.into(),
            shell: "shell".into(),
            script_body: body.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            default_timeout: 30,
            ..Default::default()
        };
        scripts::create(&self.db().await, scripts::USER_DEFINED, None, &fields, "admin")
            .await
            .unwrap()
    }

    /// Enrolls agent `n` as `hostname` in the suite's site; returns (agent_id, pk, token).
    pub async fn agent(&self, n: u32, hostname: &str) -> (String, i64, String) {
        let id = agent_id(n);
        let (pk, token) = self.api.enroll(&self.installer, &id, hostname, self.site).await;
        (id, pk, token)
    }
}

impl Suite {
    /// [`Suite::agent`] with a [`responder`] answering for it; returns (agent_id, pk, what it received).
    pub async fn answered_agent<F>(&self, n: u32, hostname: &str, answer: F) -> (String, i64, Seen)
    where
        F: Fn(&Command) -> Option<Value> + Send + 'static,
    {
        let (id, pk, _) = self.agent(n, hostname).await;
        let seen = responder(self, &id, answer).await;
        (id, pk, seen)
    }
}

/// The commands a stand-in agent received, in order.
pub type Seen = Arc<Mutex<Vec<Command>>>;

/// A stand-in agent for `agent_id`: records every command and replies with what `answer` makes of it, as the
/// Go agent replies (agent-protocol.md 2.2); `None` leaves the command unanswered.
pub async fn responder<F>(s: &Suite, agent_id: &str, answer: F) -> Seen
where
    F: Fn(&Command) -> Option<Value> + Send + 'static,
{
    let client = async_nats::connect(s.nats.url()).await.unwrap();
    let mut sub = trmm_testkit::subscribe_live(&client, agent_id, agent_id).await;
    let seen = Seen::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Ok(cmd) = nats::decode::<Command>(&msg.payload) else {
                continue;
            };
            log.lock().unwrap().push(cmd.clone());
            if let (Some(reply), Some(reply_to)) = (answer(&cmd), msg.reply) {
                client
                    .publish(reply_to, nats::encode(&reply).unwrap().into())
                    .await
                    .unwrap();
            }
        }
    });
    seen
}
