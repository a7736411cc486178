//! Test harness (feature `testing`): a real trmm-api on a free port over a fresh Postgres database and
//! real Redis, with helpers that log in, create clients and enroll agents the way the dashboard and the
//! Go agent do. Used by this crate's tests and by trmm-agent's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::OffsetClock;
use crate::state::{AppState, Settings};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use trmm_runtime::health::Health;
use trmm_testkit::{RedisKeys, TestDb};

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
/// RFC 6238 test secret; codes are computed from the server's (offset) clock.
pub const TOTP_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// A gateway address where nothing listens, for tests that never reach agents.
const NO_GATEWAY: &str = "http://127.0.0.1:9";

/// Builds a test API's Postgres pool for its test database.
pub type PoolBuilder = Box<dyn FnOnce(&TestDb) -> trmm_db::Pool>;

/// Where a test API's dependencies are; each defaults to the test environment's (no gateway, the shared
/// Redis, the test database's own pool).
#[derive(Default)]
pub struct Wiring {
    /// The AgentGateway.
    pub gateway_url: Option<String>,
    /// Builds the API's Postgres pool for the test database (e.g. a smaller one).
    pub pool: Option<PoolBuilder>,
    /// Redis.
    pub redis_url: Option<String>,
    /// PEM certificates the API trusts for SMTP STARTTLS (a test mail server's).
    pub smtp_roots: Vec<Vec<u8>>,
}

pub struct TestApi {
    pub url: String,
    pub db: TestDb,
    pub clock: Arc<OffsetClock>,
    pub http: reqwest::Client,
    /// This API's Redis keys (rate limits, job queues), deleted when the API is dropped; a worker next to it
    /// must share the prefix.
    pub redis: RedisKeys,
    shutdown: CancellationToken,
}

impl Drop for TestApi {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Polls `check` until it returns true or `deadline` passes.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl TestApi {
    /// The history `results` of the command line `cmd` once it has one (within a minute).
    pub async fn command_result(&self, cmd: &str) -> String {
        let start = Instant::now();
        loop {
            let db = self.db.pool().get().await.unwrap();
            let row = db
                .query_one("SELECT results FROM agent_history WHERE command = $1", &[&cmd])
                .await
                .unwrap();
            if let Some(results) = row.get::<_, Option<String>>(0) {
                return results;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "{cmd:?} never got a result");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn start() -> TestApi {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> TestApi {
        Self::start_wired(tweak, Wiring::default()).await
    }

    /// Starts the API talking to the AgentGateway at `gateway_url`.
    pub async fn start_with_gateway(gateway_url: String) -> TestApi {
        Self::start_full(|_| {}, gateway_url).await
    }

    /// Starts the API on its own Redis (`redis_url`, e.g. a private redis-server an outage test stops) and on the
    /// pool `pool` builds for the test database (e.g. one of a single connection).
    pub async fn start_with_deps(redis_url: &str, pool: impl FnOnce(&TestDb) -> trmm_db::Pool + 'static) -> TestApi {
        let wiring = Wiring {
            redis_url: Some(redis_url.to_owned()),
            pool: Some(Box::new(pool)),
            ..Wiring::default()
        };
        Self::start_wired(|_| {}, wiring).await
    }

    /// Starts the API with tweaked settings, talking to the AgentGateway at `gateway_url`.
    pub async fn start_full(tweak: impl FnOnce(&mut Settings), gateway_url: String) -> TestApi {
        let wiring = Wiring {
            gateway_url: Some(gateway_url),
            ..Wiring::default()
        };
        Self::start_wired(tweak, wiring).await
    }

    /// Starts the API with tweaked settings and the dependencies `wiring` names.
    pub async fn start_wired(tweak: impl FnOnce(&mut Settings), wiring: Wiring) -> TestApi {
        let db = TestDb::new().await;
        let clock = Arc::new(OffsetClock::default());
        let shutdown = CancellationToken::new();
        let health = Health::new("trmm-api-test");
        let redis = Arc::new(OnceCell::new());
        let redis_url = wiring.redis_url.unwrap_or_else(trmm_testkit::redis_url);
        let redis_args = trmm_deps::RedisArgs { redis_url };
        crate::connect_redis(&redis_args, redis.clone(), &health, shutdown.clone());
        let redis_keys = RedisKeys::fresh();
        let mut settings = Settings {
            public_url: "https://api.example.com".into(),
            agent_nats_url: "nats://127.0.0.1:4222".into(),
            min_agent_version: "2.9.0".parse().unwrap(),
            checkin_hello: (30, 60),
            trust_proxy_headers: false,
            login_rate_limit: 10,
            // A fresh prefix per test so parallel tests from 127.0.0.1 do not share rate-limit counters.
            redis_prefix: redis_keys.prefix().to_owned(),
            monitoring_token: None,
            root_user: None,
        };
        tweak(&mut settings);
        assert_eq!(
            settings.redis_prefix,
            redis_keys.prefix(),
            "use TestApi::redis for the Redis prefix"
        );
        let pool = match wiring.pool {
            Some(build) => build(&db),
            None => db.pool().clone(),
        };
        let gateway_url = wiring.gateway_url.unwrap_or_else(|| NO_GATEWAY.to_owned());
        let gateway = trmm_rpc::client::GatewayClient::lazy(&gateway_url).unwrap();
        let events = trmm_ops::events::Events::spawn(gateway.clone(), clock.clone(), shutdown.clone());
        let state = AppState {
            db: pool,
            redis: redis.clone(),
            settings: Arc::new(settings),
            clock: clock.clone(),
            gateway,
            notifier: trmm_notify::Notifier::new(
                trmm_notify::SecretKey::from_hex(trmm_testkit::SECRET_KEY).unwrap(),
                wiring.smtp_roots,
            ),
            events,
        };
        let (addr, server) =
            crate::bind(state, "127.0.0.1:0".parse().unwrap(), health, Some(1), shutdown.clone()).unwrap();
        tokio::spawn(server);
        wait_until("redis", Duration::from_secs(10), || {
            let r = redis.clone();
            async move { r.get().is_some() }
        })
        .await;
        let api = TestApi {
            url: format!("http://{addr}"),
            db,
            clock,
            http: reqwest::Client::new(),
            redis: redis_keys,
            shutdown,
        };
        api.create_admin().await;
        api
    }

    async fn create_admin(&self) {
        let hash = trmm_auth::hash_password(ADMIN_PASSWORD).unwrap();
        let conn = self.db.pool().get().await.unwrap();
        trmm_db::users::upsert_superuser(&conn, ADMIN, "admin@example.com", &hash, Some(TOTP_SECRET), false)
            .await
            .unwrap();
    }

    pub fn totp_now(&self) -> String {
        let now = crate::clock::Clock::now(&*self.clock).timestamp() as u64;
        trmm_auth::totp_code(TOTP_SECRET, now).unwrap()
    }

    /// Sends a request; `token` goes in `Authorization: Token`. Returns status and JSON body (Null if empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, json) = self.call_with_headers(method, path, token, body).await;
        (status, json)
    }

    /// [`TestApi::call`] that also returns the response headers.
    pub async fn call_with_headers(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Token {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, json)
    }

    /// Sends a raw body with a JSON content type.
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("Content-Type", "application/json");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Token {t}"));
        }
        let resp = req.body(body.to_owned()).send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, resp.text().await.unwrap())
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// `POST /v2/login/` as the dashboard sends it.
    pub async fn login(&self, username: &str, password: &str, twofactor: &str) -> (StatusCode, Value) {
        let body = json!({"username": username, "password": password, "twofactor": twofactor});
        self.call(Method::POST, "/v2/login/", None, Some(body)).await
    }

    /// [`session_token`] for `user`, at this API's clock.
    pub async fn session(&self, user: trmm_db::UserId, scope: trmm_db::sessions::Scope) -> String {
        let conn = self.db.pool().get().await.unwrap();
        session_token(&conn, user, scope, crate::clock::Clock::now(&*self.clock)).await
    }

    /// Logs in as the admin with password and TOTP and returns the dashboard token.
    pub async fn admin_token(&self) -> String {
        let (status, body) = self.login(ADMIN, ADMIN_PASSWORD, &self.totp_now()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Creates a client with one site; returns (client id, site id).
    pub async fn client_with_site(&self, token: &str, client: &str, site: &str) -> (i64, i64) {
        let body = json!({"client": {"name": client}, "site": {"name": site}});
        let (status, body) = self.post("/clients/", token, body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, clients) = self.get("/clients/", token).await;
        let c = clients
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == client)
            .unwrap();
        (c["id"].as_i64().unwrap(), c["sites"][0]["id"].as_i64().unwrap())
    }

    /// Generates an installer for a site and returns its token.
    pub async fn installer_token(&self, token: &str, client: i64, site: i64) -> String {
        let body = json!({"installMethod": "manual", "client": client, "site": site, "expires": 24,
                          "agenttype": "server", "plat": "linux", "goarch": "amd64", "api": "https://api.example.com",
                          "rdp": 0, "ping": 0, "power": 0, "fileName": "trmm.exe"});
        let (status, body) = self.post("/agents/installer/", token, body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let cmd = body["cmd"].as_str().unwrap();
        cmd.split("--auth ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    }

    /// `POST /api/v3/newagent/` as the Go agent's installer sends it.
    pub async fn newagent(&self, installer: &str, agent_id: &str, hostname: &str, site: i64) -> (StatusCode, Value) {
        let body = json!({"agent_id": agent_id, "hostname": hostname, "site": site, "monitoring_type": "server",
                          "mesh_node_id": "", "description": "", "goarch": "amd64", "plat": "linux"});
        self.post("/api/v3/newagent/", installer, body).await
    }

    /// Enrolls an agent through the installer endpoints; returns (pk, agent token).
    pub async fn enroll(&self, installer: &str, agent_id: &str, hostname: &str, site: i64) -> (i64, String) {
        let (status, body) = self.newagent(installer, agent_id, hostname, site).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (body["pk"].as_i64().unwrap(), body["token"].as_str().unwrap().to_owned())
    }
}

/// A 40-letter agent id like the Go agent generates, distinct per `n`.
pub fn agent_id(n: u32) -> String {
    let mut id = String::with_capacity(40);
    let mut v = n;
    for _ in 0..8 {
        id.push((b'A' + (v % 26) as u8) as char);
        v /= 26;
    }
    id.push_str(&"q".repeat(32));
    id
}

/// A new dashboard session of `user` with `scope`, written as a login writes it (logging many users in would
/// only exercise the login rate limit); returns its token.
pub async fn session_token(
    db: &impl trmm_db::GenericClient,
    user: trmm_db::UserId,
    scope: trmm_db::sessions::Scope,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let token = trmm_auth::generate_token();
    let session = trmm_db::sessions::NewSession {
        user,
        digest: &trmm_auth::digest_token(&token),
        scope,
        created: now,
        expiry: now + trmm_authz::SESSION_TTL,
        ip: None,
    };
    trmm_db::sessions::create(db, &session).await.unwrap();
    token
}
