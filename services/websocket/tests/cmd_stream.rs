//! `/ws/agent/<agent_id>/cmd/` against real Postgres and nats-server, with trmm-websocket and an AgentGateway
//! in-process and a NATS responder that streams output the way trmm-agent does (StreamChunk messages on
//! `<agent_id>.cmdoutput.<cmd_id>`). The real agent is exercised in services/agent/tests/remote.rs.

mod socket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use socket::{next_frame, start_gateway, start_websocket, Socket};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::{CancellationToken, DropGuard};
use trmm_protocol::nats::{self, Command, StreamChunk};
use trmm_testkit::{NatsServer, TestDb};

const AGENT: &str = "streamagentqqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
const OFFLINE_AGENT: &str = "offlineagentqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
const DEADLINE: Duration = Duration::from_secs(20);

/// Gates that hold a streamed command after its third line, by label.
type Gates = Arc<Mutex<HashMap<String, Arc<Notify>>>>;

struct Suite {
    db: TestDb,
    _nats: NatsServer,
    url: String,
    gates: Gates,
    _stop: DropGuard,
}

async fn suite() -> Suite {
    suite_with(|_| {}).await
}

/// [`suite`] with trmm-websocket's configuration adjusted by `tweak`.
async fn suite_with(tweak: impl FnOnce(&mut trmm_websocket::Config)) -> Suite {
    let db = TestDb::new().await;
    let nats = NatsServer::start().await;
    let stop = CancellationToken::new();
    let gateway = start_gateway(&nats, &stop).await;
    let listen = start_websocket(db.url(), &gateway, &stop, tweak);
    let conn = db.pool().get().await.unwrap();
    let client = trmm_db::clients::create(&conn, "Acme", false, "test").await.unwrap();
    let site = trmm_db::sites::create(&conn, client, "HQ", false, "test")
        .await
        .unwrap();
    let agents = [AGENT, OFFLINE_AGENT].map(|id| {
        let digest = trmm_auth::digest_token(id).to_vec();
        (id.to_owned(), format!("host-{}", &id[..6]), digest)
    });
    trmm_db::agents::bulk_create_with_tokens(&conn, site, &agents, "test")
        .await
        .unwrap();
    let gates = Gates::default();
    streaming_agent(&nats.url(), gates.clone()).await;
    let s = Suite {
        db,
        _nats: nats,
        url: format!("ws://{listen}"),
        gates,
        _stop: stop.drop_guard(),
    };
    s.wait_listening().await;
    s
}

impl Suite {
    async fn wait_listening(&self) {
        let health = self.url.replace("ws://", "http://") + "/healthz";
        let start = std::time::Instant::now();
        while reqwest::get(&health).await.is_err() {
            assert!(start.elapsed() < DEADLINE, "trmm-websocket never listened");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A session token for a new user; `superuser` false gives a role with only `flags`.
    async fn token(&self, username: &str, superuser: bool, flags: &[&str]) -> String {
        let conn = self.db.pool().get().await.unwrap();
        trmm_db::users::upsert_superuser(&conn, username, "u@example.com", "x", None, false)
            .await
            .unwrap();
        let user = trmm_db::users::find_by_username(&conn, username)
            .await
            .unwrap()
            .unwrap();
        if !superuser {
            let role = trmm_db::roles::create(&conn, username, flags).await.unwrap();
            conn.execute(
                "UPDATE users SET is_superuser = false, role_id = $2 WHERE id = $1",
                &[&user.id.0, &role.0],
            )
            .await
            .unwrap();
        }
        let full = trmm_db::sessions::Scope::Full;
        trmm_api::testing::session_token(&conn, user.id, full, chrono::Utc::now()).await
    }

    async fn connect(&self, agent_id: &str, token: &str) -> Socket {
        let url = format!("{}/ws/agent/{agent_id}/cmd/?access_token={token}", self.url);
        tokio_tungstenite::connect_async(url).await.unwrap().0
    }

    fn gate(&self, label: &str) -> Arc<Notify> {
        self.gates.lock().unwrap().entry(label.to_owned()).or_default().clone()
    }
}

/// Streams like trmm-agent: answers `ping`, and for command `gated <label>` publishes three lines, waits for the
/// label's gate, publishes a fourth line and then `done` with exit code 7, then replies with the whole output.
async fn streaming_agent(url: &str, gates: Gates) {
    let client = async_nats::connect(url).await.unwrap();
    let mut sub = trmm_testkit::subscribe_live(&client, AGENT, AGENT).await;
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Ok(cmd) = nats::decode::<Command>(&msg.payload) else {
                continue;
            };
            if let ("ping", Some(reply)) = (cmd.func.as_str(), &msg.reply) {
                client
                    .publish(reply.clone(), nats::encode("pong").unwrap().into())
                    .await
                    .unwrap();
                continue;
            }
            let (Some(true), Some(cmd_id)) = (cmd.stream, cmd.payload.get("cmd_id")) else {
                continue;
            };
            let label = cmd.payload["command"].trim_start_matches("gated ").to_owned();
            let subject = format!("{AGENT}.cmdoutput.{cmd_id}");
            let gate = gates.lock().unwrap().entry(label.clone()).or_default().clone();
            let client = client.clone();
            tokio::spawn(async move {
                let publish = |line: String, done: bool, exit_code: i64| {
                    let bytes = nats::encode(&StreamChunk { line, done, exit_code }).unwrap();
                    client.publish(subject.clone(), bytes.into())
                };
                for i in 1..=3 {
                    publish(format!("{label} {i}"), false, 0).await.unwrap();
                }
                gate.notified().await;
                publish(format!("{label} 4"), false, 0).await.unwrap();
                publish(String::new(), true, 7).await.unwrap();
                if let Some(reply) = msg.reply {
                    let all = (1..=4).map(|i| format!("{label} {i}")).collect::<Vec<_>>().join("\n");
                    client.publish(reply, nats::encode(&all).unwrap().into()).await.unwrap();
                }
            });
        }
    });
}

async fn send(ws: &mut Socket, body: Value) {
    ws.send(Message::Text(body.to_string().into())).await.unwrap();
}

/// A gated command with the browser-chosen id `id-<label>`.
fn run(label: &str) -> Value {
    json!({"cmd": format!("gated {label}"), "shell": "/bin/bash", "timeout": 15, "cmd_id": format!("id-{label}")})
}

/// An output frame.
fn output(cmd_id: &str, line: &str) -> Value {
    json!({"cmd_id": cmd_id, "output": line, "done": false})
}

/// The final frame.
fn done(cmd_id: &str, exit_code: i64) -> Value {
    json!({"cmd_id": cmd_id, "output": "", "done": true, "exit_code": exit_code})
}

/// Sends `run(label)`, checks the `{cmd_id}` acknowledgement and the three lines the agent sends before its gate.
async fn start_gated(ws: &mut Socket, label: &str) -> String {
    send(ws, run(label)).await;
    let id = format!("id-{label}");
    assert_eq!(next_frame(ws).await, json!({ "cmd_id": id }));
    for i in 1..=3 {
        assert_eq!(next_frame(ws).await, output(&id, &format!("{label} {i}")));
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_streams_line_by_line_then_the_exit_code() {
    let s = suite().await;
    let token = s.token("admin", true, &[]).await;
    let mut ws = s.connect(AGENT, &token).await;
    // The cmd_id, then three lines while the command is still running (held at the gate).
    let id = start_gated(&mut ws, "alpha").await;
    s.gate("alpha").notify_one();
    assert_eq!(next_frame(&mut ws).await, output(&id, "alpha 4"));
    assert_eq!(next_frame(&mut ws).await, done(&id, 7));

    let conn = s.db.pool().get().await.unwrap();
    let row = conn
        .query_one("SELECT type, command, username, results FROM agent_history", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "cmd_run");
    assert_eq!(row.get::<_, String>(1), "gated alpha");
    assert_eq!(row.get::<_, String>(2), "admin");
    assert_eq!(
        row.get::<_, Option<String>>(3).as_deref(),
        Some("alpha 1\nalpha 2\nalpha 3\nalpha 4")
    );
    assert_eq!(
        trmm_db::audit::count(&conn, "execute_command", "admin").await.unwrap(),
        1
    );

    // The same socket takes another command; a second one while it runs is refused.
    let id = start_gated(&mut ws, "again").await;
    send(&mut ws, run("overlap")).await;
    assert_eq!(
        next_frame(&mut ws).await,
        json!({"error": "A command is already running on this connection.", "status": 400})
    );
    s.gate("again").notify_one();
    assert_eq!(next_frame(&mut ws).await, output(&id, "again 4"));
    assert_eq!(next_frame(&mut ws).await, done(&id, 7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_defaults_and_a_generated_cmd_id() {
    let s = suite().await;
    let token = s.token("admin", true, &[]).await;
    let mut ws = s.connect(AGENT, &token).await;
    // What the dashboard sends, minus shell, timeout and cmd_id.
    send(
        &mut ws,
        json!({"cmd": "gated delta", "run_as_user": false, "stream": true}),
    )
    .await;
    let ack = next_frame(&mut ws).await;
    let id = ack["cmd_id"].as_str().expect("a cmd_id frame").to_owned();
    assert_eq!(ack, json!({ "cmd_id": id }));
    assert!(
        id.len() == 32 && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
        "{id}"
    );
    for i in 1..=3 {
        assert_eq!(next_frame(&mut ws).await, output(&id, &format!("delta {i}")));
    }
    s.gate("delta").notify_one();
    assert_eq!(next_frame(&mut ws).await, output(&id, "delta 4"));
    assert_eq!(next_frame(&mut ws).await, done(&id, 7));

    let conn = s.db.pool().get().await.unwrap();
    let row = conn
        .query_one(
            "SELECT after_value->>'shell', (after_value->>'timeout')::bigint FROM audit_logs
             WHERE action = 'execute_command'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "cmd");
    assert_eq!(row.get::<_, i64>(1), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sockets_get_only_their_own_output() {
    let s = suite().await;
    let token = s.token("admin", true, &[]).await;
    let (mut a, mut b) = (s.connect(AGENT, &token).await, s.connect(AGENT, &token).await);
    // Both browsers pick the same cmd_id: it only labels frames, the streams stay apart.
    let same = |label: &str| {
        let mut msg = run(label);
        msg["cmd_id"] = json!("same");
        msg
    };
    send(&mut a, same("alpha")).await;
    send(&mut b, same("bravo")).await;
    assert_eq!(next_frame(&mut a).await, json!({"cmd_id": "same"}));
    assert_eq!(next_frame(&mut b).await, json!({"cmd_id": "same"}));
    for i in 1..=3 {
        assert_eq!(next_frame(&mut a).await, output("same", &format!("alpha {i}")));
        assert_eq!(next_frame(&mut b).await, output("same", &format!("bravo {i}")));
    }
    // Finish bravo first: alpha's socket must not see any of it.
    s.gate("bravo").notify_one();
    assert_eq!(next_frame(&mut b).await, output("same", "bravo 4"));
    assert_eq!(next_frame(&mut b).await, done("same", 7));
    s.gate("alpha").notify_one();
    assert_eq!(next_frame(&mut a).await, output("same", "alpha 4"));
    assert_eq!(next_frame(&mut a).await, done("same", 7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_sockets_get_an_error_and_a_close_code() {
    let s = suite().await;
    let limited = s.token("viewer", false, &["can_list_agents"]).await;
    let allowed = s.token("operator", false, &["can_send_cmd"]).await;
    let cases = [
        (
            "",
            json!({"error": "Authentication credentials were not provided.", "status": 401}),
            4401,
        ),
        ("nope", json!({"error": "Invalid token.", "status": 401}), 4401),
        (
            limited.as_str(),
            json!({"error": "You do not have permission to perform this action.", "status": 403}),
            4003,
        ),
    ];
    for (token, error, code) in cases {
        let mut ws = s.connect(AGENT, token).await;
        assert_eq!(next_frame(&mut ws).await, error);
        assert_eq!(next_frame(&mut ws).await, json!({ "closed": code }));
    }
    let mut ws = s.connect("unknownagentqqqqqqqqqqqqqqqqqqqqqqqqqqqq", &allowed).await;
    assert_eq!(
        next_frame(&mut ws).await,
        json!({"error": "Agent not found.", "status": 404})
    );
    assert_eq!(next_frame(&mut ws).await, json!({ "closed": 4004 }));

    // Allowed, but the agent is not connected: an error instead of a cmd_id.
    let mut ws = s.connect(OFFLINE_AGENT, &allowed).await;
    send(&mut ws, run("x")).await;
    assert_eq!(
        next_frame(&mut ws).await,
        json!({"error": "Unable to contact the agent: the agent is offline", "status": 400})
    );
    send(&mut ws, json!({"cmd": " ", "shell": "/bin/bash"})).await;
    assert_eq!(
        next_frame(&mut ws).await,
        json!({"error": "cmd may not be blank.", "status": 400})
    );
}

/// The audit row's client IP follows the rule trmm-api uses (`trmm_authz::client_ip`): behind a trusted proxy the
/// last X-Forwarded-For hop, never an address the browser put in the header itself; otherwise the peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_ip_is_the_last_forwarded_hop_only_behind_a_trusted_proxy() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    for (trusted, expected) in [(true, "203.0.113.7"), (false, "127.0.0.1")] {
        let s = suite_with(|c| c.proxy.trust_proxy_headers = trusted).await;
        let token = s.token("admin", true, &[]).await;
        let url = format!("{}/ws/agent/{AGENT}/cmd/?access_token={token}", s.url);
        let mut request = url.into_client_request().unwrap();
        let forwarded = "6.6.6.6, 203.0.113.7".parse().unwrap();
        request.headers_mut().insert("X-Forwarded-For", forwarded);
        let mut ws = tokio_tungstenite::connect_async(request).await.unwrap().0;
        send(&mut ws, run("ip")).await;
        assert_eq!(next_frame(&mut ws).await, json!({"cmd_id": "id-ip"}));
        let conn = s.db.pool().get().await.unwrap();
        let sql = "SELECT debug_info->>'ip' FROM audit_logs WHERE action = 'execute_command'";
        let ip: String = conn.query_one(sql, &[]).await.unwrap().get(0);
        assert_eq!(ip, expected, "trusted proxy: {trusted}");
        s.gate("ip").notify_one();
    }
}
