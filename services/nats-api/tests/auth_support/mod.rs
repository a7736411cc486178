//! A suite with authentication on: nats-server with config/nats/nats-server.conf, trmm-nats-api
//! serving the auth callout against a real Postgres, and NATS clients that record their events.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use async_nats::{ConnectError, ConnectOptions, Event};
use futures_util::StreamExt;
use rand::distributions::{Alphanumeric, DistString};
use tokio::sync::mpsc;
use trmm_rpc::gateway::agent_gateway_client::AgentGatewayClient;
use trmm_rpc::gateway::DisconnectRequest;
use trmm_testkit::service::Service;
use trmm_testkit::{free_port, NatsAuth, NatsServer, TestDb};

pub const BIN: &str = env!("CARGO_BIN_EXE_trmm-nats-api");
/// How long a condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Suite {
    pub db: TestDb,
    pub nats: NatsServer,
    pub auth: NatsAuth,
    pub nats_api: Service,
    /// Connected as the services' identity (full access in APP).
    pub service: async_nats::Client,
    gateway_port: u16,
    site: i32,
}

impl Suite {
    pub async fn start() -> Suite {
        let db = TestDb::new().await;
        let (nats, auth) = NatsServer::start_with_auth().await;
        let (nats_api, gateway_port) = start_nats_api(&db, &nats, &auth).await;
        let (user, password) = auth.service();
        let service = ConnectOptions::with_user_and_password(user.into(), password.into())
            .connect(nats.url())
            .await
            .expect("the service user connects");
        let site = create_site(db.pool()).await;
        Suite {
            db,
            nats,
            auth,
            nats_api,
            service,
            gateway_port,
            site,
        }
    }

    /// Another trmm-nats-api (a replica, or the restarted one) on the suite's Postgres and NATS, ready (callout
    /// served, presence synchronised); returns it with its AgentGateway port.
    pub async fn start_nats_api(&self) -> (Service, u16) {
        start_nats_api(&self.db, &self.nats, &self.auth).await
    }

    /// The AgentGateway of the suite's trmm-nats-api, or of another one on `port`.
    pub fn gateway(&self, port: Option<u16>) -> trmm_rpc::client::GatewayClient {
        let port = port.unwrap_or(self.gateway_port);
        trmm_rpc::client::GatewayClient::lazy(&format!("http://127.0.0.1:{port}")).unwrap()
    }

    /// Enrolls an agent; returns (agent_id, token).
    pub async fn add_agent(&self) -> (String, String) {
        enroll(self.db.pool(), self.site).await
    }

    /// [`Suite::add_agent`] `N` times.
    pub async fn add_agents<const N: usize>(&self) -> [(String, String); N] {
        let mut agents = [(); N].map(|_| (String::new(), String::new()));
        for agent in &mut agents {
            *agent = self.add_agent().await;
        }
        agents
    }

    /// Deletes the agent row (its token goes with it), as deleting it through the API does.
    pub async fn delete_agent(&self, agent_id: &str) {
        let conn = self.db.pool().get().await.unwrap();
        let deleted = conn
            .execute("DELETE FROM agents WHERE agent_id = $1", &[&agent_id])
            .await
            .unwrap();
        assert_eq!(deleted, 1);
    }

    /// AgentGateway.Disconnect, as trmm-api calls it after deleting an agent.
    pub async fn disconnect(&self, agent_id: &str) -> u32 {
        let mut gateway = AgentGatewayClient::connect(format!("http://127.0.0.1:{}", self.gateway_port))
            .await
            .expect("connecting to the AgentGateway");
        gateway
            .disconnect(DisconnectRequest {
                agent_id: agent_id.to_owned(),
            })
            .await
            .expect("Disconnect")
            .into_inner()
            .connections_closed
    }

    /// Connects like the Tactical RMM agent: user = agent_id, password = token, name = agent_id.
    pub async fn connect(&self, user: &str, password: &str) -> Result<Client, ConnectError> {
        Client::connect(&self.nats.url(), user, password).await
    }
}

/// trmm-nats-api as a process, waited on until ready; returns it with its AgentGateway port.
async fn start_nats_api(db: &TestDb, nats: &NatsServer, auth: &NatsAuth) -> (Service, u16) {
    let gateway_port = free_port();
    let mut env = vec![
        ("TRMM_DATABASE_URL", db.url().to_owned()),
        ("TRMM_NATS_URL", nats.url()),
        ("TRMM_GATEWAY_LISTEN", format!("127.0.0.1:{gateway_port}")),
    ];
    env.extend(auth.nats_api_env());
    let mut nats_api = Service::start(BIN, "TRMM_NATS_API_LISTEN", &env);
    let ready = nats_api.wait_for_status("/readyz", 200).await;
    assert!(ready.contains("\"nats_auth\":\"up\""), "{ready}");
    assert!(ready.contains("\"presence\":\"up\""), "{ready}");
    (nats_api, gateway_port)
}

/// A client with one site; returns the site id.
pub async fn create_site(pool: &trmm_db::Pool) -> i32 {
    let conn = pool.get().await.unwrap();
    let client: i32 = conn
        .query_one("INSERT INTO clients (name) VALUES ('Acme') RETURNING id", &[])
        .await
        .unwrap()
        .get(0);
    conn.query_one(
        "INSERT INTO sites (client_id, name) VALUES ($1, 'HQ') RETURNING id",
        &[&client],
    )
    .await
    .unwrap()
    .get(0)
}

/// Enrolls an agent in `site` (its token stored as a digest, as the API does); returns (agent_id, token).
pub async fn enroll(pool: &trmm_db::Pool, site: i32) -> (String, String) {
    let agent_id = Alphanumeric.sample_string(&mut rand::thread_rng(), 40);
    let token = trmm_auth::generate_agent_token();
    let conn = pool.get().await.unwrap();
    let agent = trmm_db::agents::NewAgent {
        agent_id: &agent_id,
        hostname: "host",
        site: trmm_db::SiteId(site),
        monitoring_type: "server",
        mesh_node_id: "",
        description: "",
        plat: "linux",
        goarch: "amd64",
    };
    let digest = trmm_auth::digest_token(&token);
    trmm_db::agents::create_with_token(&conn, &agent, &digest, chrono::Utc::now(), "test")
        .await
        .unwrap();
    (agent_id, token)
}

/// A NATS client that keeps every connection event for the test to wait on.
pub struct Client {
    pub nats: async_nats::Client,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Client {
    pub async fn connect(url: &str, user: &str, password: &str) -> Result<Client, ConnectError> {
        let (tx, events) = mpsc::unbounded_channel();
        let nats = ConnectOptions::with_user_and_password(user.to_owned(), password.to_owned())
            .name(user)
            .reconnect_delay_callback(|_| Duration::from_millis(100))
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(event);
                }
            })
            .connect(url)
            .await?;
        Ok(Client { nats, events })
    }

    /// Waits for an event matching `wanted`, returning its text.
    pub async fn wait_for_event(&mut self, what: &str, wanted: impl Fn(&Event) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(event)) if wanted(&event) => return event.to_string(),
                Ok(Some(event)) => seen.push(event.to_string()),
                Ok(None) | Err(_) => panic!("no {what} event within {DEADLINE:?}; saw {seen:?}"),
            }
        }
    }

    /// Waits for the server's permissions violation error naming `subject`.
    pub async fn wait_for_violation(&mut self, action: &str, subject: &str) {
        let needle = format!("permissions violation for {action} to \"{subject}\"").to_lowercase();
        self.wait_for_event(&needle, |e| e.to_string().to_lowercase().contains(&needle))
            .await;
    }
}

#[allow(unused_imports)] // not every test binary that includes this module uses it
pub use trmm_testkit::subscribe_live;

/// The next message on `sub`, failing after [`DEADLINE`].
pub async fn next_payload(sub: &mut async_nats::Subscriber) -> String {
    let msg = tokio::time::timeout(DEADLINE, sub.next())
        .await
        .expect("no message within the deadline")
        .expect("subscription closed");
    String::from_utf8_lossy(&msg.payload).into_owned()
}

/// Asserts that a connection attempt is refused by the server.
pub fn assert_refused(result: Result<Client, ConnectError>, what: &str) {
    match result {
        Ok(_) => panic!("{what}: the connection was accepted"),
        Err(e) => assert_eq!(
            e.kind(),
            async_nats::ConnectErrorKind::AuthorizationViolation,
            "{what}: {e}"
        ),
    }
}

impl Drop for Suite {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.nats.dir().join("nats.log")).unwrap_or_default();
            eprintln!("--- nats-server log ---\n{log}");
        }
    }
}
