//! The whole path of a dashboard event: nats-server with the repository's auth callout config, trmm-nats-api
//! (callout, presence, AgentGateway), trmm-api and trmm-websocket, all in-process over one Postgres database,
//! and agents connecting to NATS with their own credentials as trmm-agent does.

use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::{CancellationToken, DropGuard};
use trmm_api::testing::{wait_until, TestApi};
use trmm_protocol::events::{AgentTag, Event, HistoryEntry};
use trmm_rpc::client::GatewayClient;
use trmm_testkit::{free_port, NatsServer};

use crate::socket::{start_websocket, Socket};

/// How long a condition may take.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub struct Stack {
    pub api: TestApi,
    pub nats: NatsServer,
    pub admin: String,
    pub ws_url: String,
    pub gateway: GatewayClient,
    _stop: DropGuard,
}

impl Stack {
    pub async fn start() -> Stack {
        let (nats, auth) = NatsServer::start_with_auth().await;
        let gateway = format!("127.0.0.1:{}", free_port());
        let api = TestApi::start_with_gateway(format!("http://{gateway}")).await;
        let stop = CancellationToken::new();
        let health = format!("127.0.0.1:{}", free_port());
        let mut args: Vec<String> = vec!["trmm-nats-api".into(), "--database-url".into(), api.db.url().into()];
        args.extend(["--nats-url".into(), nats.url(), "--listen".into(), health.clone()]);
        args.extend(["--gateway-listen".into(), gateway.clone()]);
        args.extend(auth.nats_api_args());
        let config = trmm_nats_api::Config::try_parse_from(args).expect("trmm-nats-api flags");
        tokio::spawn(trmm_nats_api::run(config, stop.clone()));
        let listen = start_websocket(api.db.url(), &gateway, &stop, |_| {});
        for ready in [format!("http://{health}/readyz"), format!("http://{listen}/readyz")] {
            wait_until(&ready, DEADLINE, || {
                let url = ready.clone();
                async move { reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) }
            })
            .await;
        }
        let admin = api.admin_token().await;
        let stack = Stack {
            gateway: GatewayClient::lazy(&format!("http://{gateway}")).unwrap(),
            api,
            nats,
            admin,
            ws_url: format!("ws://{listen}"),
            _stop: stop.drop_guard(),
        };
        stack.wait_for_events().await;
        stack
    }

    /// Opens `/ws/events/` as the holder of `token` and waits for its `events.ready` frame.
    pub async fn events(&self, token: &str) -> Socket {
        let url = format!("{}/ws/events/?access_token={token}", self.ws_url);
        let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
        assert_eq!(next(&mut ws).await, json!({"action": "events.ready", "data": {}}));
        ws
    }

    /// trmm-websocket follows the gateway's events from its start, reconnecting: until it has subscribed, nothing
    /// published reaches a socket. A probe is published until one arrives.
    async fn wait_for_events(&self) {
        let mut ws = self.events(&self.admin).await;
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < DEADLINE, "trmm-websocket never received an event");
            self.gateway.publish_events(&[probe()]).await.unwrap();
            let frame = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
            if let Ok(Some(Ok(Message::Text(_)))) = frame {
                return;
            }
        }
    }

    /// Connects to NATS as the agent does (user = agent id, password = its token) and stays connected until the
    /// client is dropped or drained.
    pub async fn connect_agent(&self, agent_id: &str, token: &str) -> async_nats::Client {
        async_nats::ConnectOptions::with_user_and_password(agent_id.into(), token.into())
            .connect(self.nats.url())
            .await
            .expect("the agent connects")
    }
}

fn probe() -> Event {
    Event::HistoryFinished(HistoryEntry {
        id: -1,
        agent: AgentTag {
            agent_id: "probe".into(),
            hostname: "probe".into(),
            client: 0,
            site: 0,
        },
        kind: "cmd_run".into(),
        at: chrono::Utc::now(),
    })
}

/// The next text frame as JSON, or `{"closed": code}`.
pub async fn next(ws: &mut Socket) -> Value {
    crate::socket::next_frame(ws).await
}

/// The next frame, which must come within `within`.
pub async fn next_within(ws: &mut Socket, within: Duration) -> Value {
    tokio::time::timeout(within, next(ws))
        .await
        .unwrap_or_else(|_| panic!("no frame within {within:?}"))
}

/// A session token for a new user: a role with `flags`, limited to `client` when given, blocked from the
/// dashboard when `blocked`.
pub async fn user(api: &TestApi, name: &str, flags: &[&str], client: Option<i64>, blocked: bool) -> String {
    let conn = api.db.pool().get().await.unwrap();
    let email = format!("{name}@example.com");
    trmm_db::users::upsert_superuser(&conn, name, &email, "x", None, false)
        .await
        .unwrap();
    let user = trmm_db::users::find_by_username(&conn, name).await.unwrap().unwrap();
    let role = trmm_db::roles::create(&conn, name, flags).await.unwrap();
    if let Some(client) = client {
        let sql = "INSERT INTO role_clients (role_id, client_id) VALUES ($1, $2)";
        conn.execute(sql, &[&role.0, &(client as i32)]).await.unwrap();
    }
    let sql = "UPDATE users SET is_superuser = false, role_id = $2, block_dashboard_login = $3 WHERE id = $1";
    conn.execute(sql, &[&user.id.0, &role.0, &blocked]).await.unwrap();
    api.session(user.id, trmm_db::sessions::Scope::Full).await
}
