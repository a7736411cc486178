//! trmm-api and trmm-websocket refuse the same users for the same permission, for the same reason: both go
//! through `trmm_authz`. One table of users, each tried against `POST /agents/<id>/cmd/` and
//! `/ws/agent/<id>/cmd/` (permission can_send_cmd), against one Postgres, NATS and AgentGateway.

mod socket;

use std::time::Duration;

use futures_util::SinkExt;
use reqwest::{Method, StatusCode};
use serde_json::json;
use socket::{next_frame, start_gateway, start_websocket};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use trmm_api::testing::TestApi;
use trmm_authz::{INVALID_TOKEN, NO_CREDENTIALS, NO_PERMISSION, TOTP_REQUIRED};
use trmm_db::sessions::Scope;
use trmm_db::{ClientId, UserId};
use trmm_testkit::NatsServer;

/// Enrolled, never connected: an allowed command gets "offline", which is not a refusal.
const AGENT: &str = "refusalagentqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
const UNKNOWN_AGENT: &str = "unknownagentqqqqqqqqqqqqqqqqqqqqqqqqqqqq";
const DEADLINE: Duration = Duration::from_secs(20);

/// `None`: let through (whatever the command then does); `Some((status, message))`: refused. A 404's message
/// is service-specific ("Not found." / "Agent not found."), so it is compared by status only.
type Verdict = Option<(u16, String)>;

struct Both {
    api: TestApi,
    ws_url: String,
    _nats: NatsServer,
    _stop: tokio_util::sync::DropGuard,
    acme: ClientId,
    other: ClientId,
}

async fn both() -> Both {
    let nats = NatsServer::start().await;
    let stop = CancellationToken::new();
    let gateway = start_gateway(&nats, &stop).await;
    let api = TestApi::start_with_gateway(format!("http://{gateway}")).await;
    let listen = start_websocket(api.db.url(), &gateway, &stop, |_| {});
    let health = format!("http://{listen}/readyz");
    trmm_api::testing::wait_until("trmm-websocket ready", DEADLINE, || {
        let health = health.clone();
        async move { reqwest::get(&health).await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    let conn = api.db.pool().get().await.unwrap();
    let acme = trmm_db::clients::create(&conn, "Acme", false, "test").await.unwrap();
    let hq = trmm_db::sites::create(&conn, acme, "HQ", false, "test").await.unwrap();
    let other = trmm_db::clients::create(&conn, "Other", false, "test").await.unwrap();
    trmm_db::sites::create(&conn, other, "Main", false, "test")
        .await
        .unwrap();
    let agent = [(AGENT.to_owned(), "refusal".to_owned(), trmm_auth::digest_token(AGENT))];
    trmm_db::agents::bulk_create_with_tokens(&conn, hq, &agent, "test")
        .await
        .unwrap();
    Both {
        api,
        ws_url: format!("ws://{listen}"),
        _nats: nats,
        _stop: stop.drop_guard(),
        acme,
        other,
    }
}

/// Who a user is, for [`Both::token`].
struct User<'a> {
    name: &'a str,
    /// `None`: a superuser; else a role with these flags.
    flags: Option<&'a [&'a str]>,
    /// The role's only client.
    client: Option<ClientId>,
    blocked: bool,
    session: Scope,
}

impl Both {
    /// A session token for a new user as described.
    async fn token(&self, u: User<'_>) -> String {
        let conn = self.api.db.pool().get().await.unwrap();
        let email = format!("{}@example.com", u.name);
        trmm_db::users::upsert_superuser(&conn, u.name, &email, "x", None, false)
            .await
            .unwrap();
        let user = trmm_db::users::find_by_username(&conn, u.name).await.unwrap().unwrap();
        if let Some(flags) = u.flags {
            let role = trmm_db::roles::create(&conn, u.name, flags).await.unwrap();
            if let Some(client) = u.client {
                let sql = "INSERT INTO role_clients (role_id, client_id) VALUES ($1, $2)";
                conn.execute(sql, &[&role.0, &client.0]).await.unwrap();
            }
            let sql = "UPDATE users SET is_superuser = false, role_id = $2 WHERE id = $1";
            conn.execute(sql, &[&user.id.0, &role.0]).await.unwrap();
        }
        let sql = "UPDATE users SET block_dashboard_login = $2 WHERE id = $1";
        conn.execute(sql, &[&user.id.0, &u.blocked]).await.unwrap();
        self.session(user.id, u.session).await
    }

    /// A new session token of `user`.
    async fn session(&self, user: UserId, scope: Scope) -> String {
        self.api.session(user, scope).await
    }

    async fn api_verdict(&self, token: Option<&str>, agent_id: &str) -> Verdict {
        let body = json!({"shell": "cmd", "cmd": "whoami", "timeout": 30, "custom_shell": null, "run_as_user": false});
        let path = format!("/agents/{agent_id}/cmd/");
        let (status, body) = self.api.call(Method::POST, &path, token, Some(body)).await;
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Some((status.as_u16(), body["detail"].as_str().unwrap().to_owned()))
            }
            StatusCode::NOT_FOUND => Some((404, String::new())),
            _ => None,
        }
    }

    /// Opens the socket and sends a command: a refused socket answers with its error frame and closes with
    /// the matching code; an accepted one answers the command (here "offline").
    async fn ws_verdict(&self, token: Option<&str>, agent_id: &str) -> Verdict {
        let query = token.map(|t| format!("?access_token={t}")).unwrap_or_default();
        let url = format!("{}/ws/agent/{agent_id}/cmd/{query}", self.ws_url);
        let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
        let cmd = json!({"cmd": "whoami", "shell": "cmd", "timeout": 30});
        // A refused socket may already be closing; its frames say why either way.
        let _ = ws.send(Message::Text(cmd.to_string().into())).await;
        let frame = next_frame(&mut ws).await;
        let status = frame["status"].as_u64().map(|s| s as u16);
        let (refused, close) = match status {
            Some(401) => (Some((401, frame["error"].as_str().unwrap().to_owned())), 4401),
            Some(403) => (Some((403, frame["error"].as_str().unwrap().to_owned())), 4003),
            Some(404) => (Some((404, String::new())), 4004),
            _ => {
                assert!(frame.get("cmd_id").is_some() || status == Some(400), "{frame}");
                return None;
            }
        };
        assert_eq!(next_frame(&mut ws).await, json!({ "closed": close }));
        refused
    }
}

fn refused(status: u16, message: &str) -> Verdict {
    Some((status, message.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_websocket_refuse_the_same_users() {
    let s = both().await;
    let user = |name, flags, client, blocked, session| User {
        name,
        flags,
        client,
        blocked,
        session,
    };
    let send_cmd: &[&str] = &["can_send_cmd"];
    let full = Scope::Full;
    let totp_setup = s.token(user("fresh", None, None, false, Scope::TotpSetup)).await;
    let viewer = s
        .token(user("viewer", Some(&["can_list_agents"]), None, false, full))
        .await;
    let elsewhere = s
        .token(user("elsewhere", Some(send_cmd), Some(s.other), false, full))
        .await;
    let blocked = s.token(user("blocked", None, None, true, full)).await;
    let blocked_operator = s.token(user("blockedop", Some(send_cmd), None, true, full)).await;
    let operator = s
        .token(user("operator", Some(send_cmd), Some(s.acme), false, full))
        .await;
    let superuser = s.token(user("root", None, None, false, full)).await;
    let cases: [(&str, Option<&str>, &str, Verdict); 10] = [
        ("no token", None, AGENT, refused(401, NO_CREDENTIALS)),
        ("invalid token", Some("nope"), AGENT, refused(401, INVALID_TOKEN)),
        ("2FA not set up", Some(&totp_setup), AGENT, refused(403, TOTP_REQUIRED)),
        (
            "without can_send_cmd",
            Some(&viewer),
            AGENT,
            refused(403, NO_PERMISSION),
        ),
        (
            "role limited to another client",
            Some(&elsewhere),
            AGENT,
            refused(403, NO_PERMISSION),
        ),
        ("blocked superuser", Some(&blocked), AGENT, refused(403, NO_PERMISSION)),
        (
            "blocked, with can_send_cmd",
            Some(&blocked_operator),
            AGENT,
            refused(403, NO_PERMISSION),
        ),
        (
            "superuser, unknown agent",
            Some(&superuser),
            UNKNOWN_AGENT,
            refused(404, ""),
        ),
        ("operator of the agent's client", Some(&operator), AGENT, None),
        ("superuser", Some(&superuser), AGENT, None),
    ];
    for (who, token, agent_id, expected) in cases {
        let api = s.api_verdict(token, agent_id).await;
        let ws = s.ws_verdict(token, agent_id).await;
        assert_eq!(api, expected, "trmm-api, {who}");
        assert_eq!(ws, expected, "trmm-websocket, {who}");
    }
}

/// Blocking a user through trmm-api's accounts endpoint ends its sessions, so its next socket is refused; a
/// session it opens afterwards is refused as a blocked user's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_blocked_through_the_api_is_refused_by_the_websocket() {
    let s = both().await;
    let operator = User {
        name: "operator",
        flags: Some(&["can_send_cmd"][..]),
        client: None,
        blocked: false,
        session: Scope::Full,
    };
    let before = s.token(operator).await;
    assert_eq!(s.ws_verdict(Some(&before), AGENT).await, None);

    let admin = s.api.admin_token().await;
    let conn = s.api.db.pool().get().await.unwrap();
    let id = trmm_db::users::find_by_username(&conn, "operator")
        .await
        .unwrap()
        .unwrap()
        .id;
    let path = format!("/accounts/{id}/users/");
    let (status, body) = s.api.put(&path, &admin, json!({"block_dashboard_login": true})).await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));

    assert_eq!(s.ws_verdict(Some(&before), AGENT).await, refused(401, INVALID_TOKEN));
    let after = s.session(id, Scope::Full).await;
    assert_eq!(s.ws_verdict(Some(&after), AGENT).await, refused(403, NO_PERMISSION));
}

/// A socket that is already open stops at its next command once its user is blocked: the session is checked
/// again before each command, not only when the socket opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_socket_stops_at_its_next_command_once_its_user_is_blocked() {
    let s = both().await;
    let operator = User {
        name: "operator",
        flags: Some(&["can_send_cmd"][..]),
        client: None,
        blocked: false,
        session: Scope::Full,
    };
    let token = s.token(operator).await;
    let url = format!("{}/ws/agent/{AGENT}/cmd/?access_token={token}", s.ws_url);
    let mut ws = tokio_tungstenite::connect_async(url).await.unwrap().0;
    let cmd = json!({"cmd": "whoami", "shell": "cmd", "timeout": 30}).to_string();
    ws.send(Message::Text(cmd.clone().into())).await.unwrap();
    let first = next_frame(&mut ws).await;
    assert!(first.get("cmd_id").is_some() || first["status"] == 400, "{first}");

    let admin = s.api.admin_token().await;
    let conn = s.api.db.pool().get().await.unwrap();
    let id = trmm_db::users::find_by_username(&conn, "operator")
        .await
        .unwrap()
        .unwrap()
        .id;
    let path = format!("/accounts/{id}/users/");
    let (status, body) = s.api.put(&path, &admin, json!({"block_dashboard_login": true})).await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));

    ws.send(Message::Text(cmd.into())).await.unwrap();
    assert_eq!(
        next_frame(&mut ws).await,
        json!({"error": INVALID_TOKEN, "status": 401})
    );
    assert_eq!(next_frame(&mut ws).await, json!({ "closed": 4401 }));
}
