//! Shared by runscript.rs and history_notes.rs: NATS, an in-process AgentGateway, the API wired to it, and a
//! fake agent that answers `runscript`/`runscriptfull` like the Go agent (agent-protocol.md 2.2): a reply,
//! and a `histresult` PATCH when the envelope names a history entry.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use trmm_api::testing::{agent_id, TestApi, TOTP_SECRET};
use trmm_db::scripts::{self, ScriptFields};
use trmm_db::ScriptId;
use trmm_protocol::nats::{self, Command, RunScriptResponse};
use trmm_testkit::NatsServer;

pub struct Suite {
    pub api: TestApi,
    pub nats: NatsServer,
    pub admin: String,
    pub client: i64,
    pub site: i64,
    pub installer: String,
    _shutdown: tokio_util::sync::DropGuard,
}

pub async fn suite() -> Suite {
    let nats = NatsServer::start().await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let shutdown = CancellationToken::new();
    let port = trmm_testkit::free_port();
    let listen = format!("127.0.0.1:{port}").parse().unwrap();
    let gateway = trmm_nats_api::gateway::Gateway::new(client, Default::default(), |_| Box::pin(async { Ok(0) }));
    tokio::spawn(trmm_nats_api::gateway::serve(listen, gateway, shutdown.clone()));
    let api = TestApi::start_with_gateway(format!("http://127.0.0.1:{port}")).await;
    let admin = api.admin_token().await;
    let (client, site) = api.client_with_site(&admin, "Acme", "HQ").await;
    let installer = api.installer_token(&admin, client, site).await;
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
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.api.call(Method::POST, path, Some(token), Some(body)).await
    }

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
        scripts::create(&**self.db().await, scripts::USER_DEFINED, None, &fields, "admin")
            .await
            .unwrap()
    }

    /// One number of a count query.
    pub async fn count(&self, sql: &str) -> i64 {
        self.db().await.query_one(sql, &[]).await.unwrap().get(0)
    }

    /// A non-superuser with these role flags, limited to `client` when given; returns its dashboard token.
    pub async fn user(&self, name: &str, flags: &[&str], client: Option<i64>) -> String {
        let conn = self.db().await;
        let role = trmm_db::roles::create(&**conn, name, flags).await.unwrap();
        if let Some(c) = client {
            let sql = "INSERT INTO role_clients (role_id, client_id) VALUES ($1, $2)";
            conn.execute(sql, &[&role.0, &(c as i32)]).await.unwrap();
        }
        let hash = trmm_auth::hash_password("pw for tests").unwrap();
        let email = format!("{name}@example.com");
        trmm_db::users::upsert_superuser(&**conn, name, &email, &hash, Some(TOTP_SECRET), false)
            .await
            .unwrap();
        let sql = "UPDATE users SET is_superuser = false, role_id = $1 WHERE username = $2";
        conn.execute(sql, &[&role.0, &name]).await.unwrap();
        let body = json!({"username": name, "password": "pw for tests", "twofactor": self.api.totp_now()});
        let (status, login) = self.api.call(Method::POST, "/v2/login/", None, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{login}");
        login["token"].as_str().unwrap().to_owned()
    }

    /// Enrolls agent `n` as `hostname` in the suite's site; returns (agent_id, pk, token).
    pub async fn agent(&self, n: u32, hostname: &str) -> (String, i64, String) {
        let id = agent_id(n);
        let (pk, token) = self.api.enroll(&self.installer, &id, hostname, self.site).await;
        (id, pk, token)
    }
}

/// What the fake agent received, and how it reports.
#[derive(Clone)]
pub struct FakeAgent {
    pub seen: Arc<Mutex<Vec<Command>>>,
    /// PATCH histresult before replying (the real agent replies first).
    pub histresult_first: Arc<AtomicBool>,
}

impl FakeAgent {
    pub fn commands(&self) -> Vec<Command> {
        self.seen.lock().unwrap().clone()
    }
}

/// The fake agent's result: args, env vars and a last line naming how the result was delivered.
fn result_of(cmd: &Command, via: &str) -> RunScriptResponse {
    let args = cmd.script_args.clone().unwrap_or_default().join(" ");
    let env = cmd.env_vars.clone().unwrap_or_default().join(" ");
    RunScriptResponse {
        stdout: format!("{args}\n{env}\nvia {via}\n"),
        stderr: "warned\n".into(),
        retcode: 0,
        execution_time: 0.25,
        id: cmd.id.unwrap_or(0),
    }
}

/// Answers scripts for `agent_id`; histresult reports go to the API with the agent's token. A reply delivered
/// second would be ignored by the server, so with `histresult_first` only the PATCH runs before the reply.
pub async fn fake_agent(s: &Suite, agent_id: &str, token: &str) -> FakeAgent {
    let client = async_nats::connect(s.nats.url()).await.unwrap();
    let mut sub = trmm_testkit::subscribe_live(&client, agent_id, agent_id).await;
    let agent = FakeAgent {
        seen: Arc::default(),
        histresult_first: Arc::default(),
    };
    let (state, url, id, token) = (agent.clone(), s.api.url.clone(), agent_id.to_owned(), token.to_owned());
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        while let Some(msg) = sub.next().await {
            let Ok(cmd) = nats::decode::<Command>(&msg.payload) else {
                continue;
            };
            state.seen.lock().unwrap().push(cmd.clone());
            if !cmd.func.starts_with("runscript") {
                continue;
            }
            let report = async |via: &str| {
                let hist = cmd.id.filter(|h| *h != 0)?;
                let body = json!({ "script_results": result_of(&cmd, via) });
                let resp = http
                    .patch(format!("{url}/api/v3/{hist}/{id}/histresult/"))
                    .header("Authorization", format!("Token {token}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                Some(())
            };
            let first = state.histresult_first.load(Ordering::SeqCst);
            if first {
                report("histresult").await;
            }
            if let Some(reply_to) = msg.reply {
                let payload = if cmd.func == "runscriptfull" {
                    nats::encode(&result_of(&cmd, "reply")).unwrap()
                } else {
                    let r = result_of(&cmd, "reply");
                    nats::encode(&format!("{}{}", r.stdout, r.stderr)).unwrap()
                };
                client.publish(reply_to, payload.into()).await.unwrap();
            } else if !first {
                // A publish (forget): the histresult report is the only way the result comes back.
                report("histresult").await;
            }
        }
    });
    agent
}
