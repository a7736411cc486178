//! Large agent uploads are stored as upstream's 10 MiB request limit allows, output beyond it is replaced by
//! upstream's truncation marker, and every refusal on the way (oversize, broken body) is a JSON error.

mod common;

use common::{agent_id, api_with_acme_hq, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_db::history::HistoryType;
use trmm_db::AgentPk;

const MB: usize = 1_000_000;
const MARKER: &str = "Content truncated due to excessive request size.";

struct Agent {
    api: TestApi,
    id: String,
    pk: AgentPk,
    token: String,
}

async fn agent() -> Agent {
    let (api, _, _, site, installer) = api_with_acme_hq().await;
    let id = agent_id(1);
    let (pk, token) = api.enroll(&installer, &id, "alpha", site).await;
    Agent {
        api,
        id,
        pk: AgentPk(pk as i32),
        token,
    }
}

impl Agent {
    async fn history(&self, kind: HistoryType) -> i64 {
        let conn = self.api.db.pool().get().await.unwrap();
        trmm_db::history::create(&conn, self.pk, kind, "big", "admin")
            .await
            .unwrap()
    }

    async fn stored(&self, id: i64) -> trmm_db::history::HistoryRow {
        let conn = self.api.db.pool().get().await.unwrap();
        trmm_db::history::get(&conn, id).await.unwrap().unwrap()
    }

    /// Creates a history row of `kind` and PATCHes its `histresult` with the body `result` makes of the row's id,
    /// which must be accepted; returns the id.
    async fn report(&self, kind: HistoryType, result: impl FnOnce(i64) -> Value) -> i64 {
        let hist = self.history(kind).await;
        let path = format!("/api/v3/{hist}/{}/histresult/", self.id);
        let (status, _, text) = self.send(Method::PATCH, &path, &result(hist)).await;
        assert_eq!((status, text.as_str()), (StatusCode::OK, "\"ok\""));
        hist
    }

    /// Sends `body` as JSON; returns status, content type and body text.
    async fn send(&self, method: Method, path: &str, body: &Value) -> (StatusCode, String, String) {
        let (status, headers, text) = self
            .api
            .call_raw(method, path, Some(&self.token), &body.to_string())
            .await;
        (status, headers["content-type"].to_str().unwrap().to_owned(), text)
    }
}

#[tokio::test]
async fn a_5_mb_command_result_and_software_list_are_stored_whole() {
    let a = agent().await;
    let output = "x".repeat(5 * MB);
    let hist = a.report(HistoryType::CmdRun, |_| json!({"results": output})).await;
    assert_eq!(a.stored(hist).await.results.as_deref(), Some(output.as_str()));

    let item = |i: usize| {
        json!({"name": format!("package {i}"), "version": "1.0", "publisher": "p".repeat(100),
                                 "install_date": "2024-01-01", "size": "10 MB", "source": "s", "location": "l",
                                 "uninstall": "u".repeat(300)})
    };
    let software: Vec<Value> = (0..11_000).map(item).collect();
    let body = json!({"agent_id": a.id, "software": software});
    assert!(body.to_string().len() > 5 * MB);
    let (status, _, text) = a.send(Method::POST, "/api/v3/software/", &body).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "\"ok\""));
    let conn = a.api.db.pool().get().await.unwrap();
    let stored = trmm_db::software::get(&conn, a.pk).await.unwrap().unwrap();
    assert_eq!(stored.software, Value::Array(software));
}

#[tokio::test]
async fn results_over_10_mib_are_truncated_with_upstreams_marker() {
    let a = agent().await;
    let output = "y".repeat(12 * MB);

    let hist = a.report(HistoryType::CmdRun, |_| json!({"results": output})).await;
    let results = a.stored(hist).await.results.unwrap();
    assert!(results.ends_with(MARKER), "{}", &results[results.len() - 80..]);
    assert!(results.len() <= 10 * 1024 * 1024 + 100);
    assert!(results.starts_with("yyyy"));

    let hist = a
        .report(HistoryType::ScriptRun, |hist| {
            let script = json!({"stdout": output, "stderr": "", "retcode": 0, "execution_time": 1.5, "id": hist});
            json!({"script_results": script})
        })
        .await;
    let stored = a.stored(hist).await.script_results.unwrap();
    assert_eq!(
        (
            &stored["stdout"],
            &stored["stderr"],
            &stored["retcode"],
            &stored["execution_time"]
        ),
        (&json!(""), &json!(MARKER), &json!(1), &json!(1.5))
    );
}

#[tokio::test]
async fn oversized_and_broken_bodies_are_json_errors() {
    let a = agent().await;
    let big = json!({"agent_id": a.id, "id": 1, "status": "passing", "more_info": "z".repeat(11 * 1024 * 1024)});
    for (method, path) in [
        (Method::PATCH, "/api/v3/checkrunner/".to_owned()),
        (Method::POST, "/api/v3/software/".to_owned()),
        (Method::POST, "/api/v3/syncmesh/".to_owned()),
    ] {
        let (status, content_type, text) = a.send(method.clone(), &path, &big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{method} {path}: {text}");
        assert_eq!(content_type, "application/json", "{method} {path}");
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"detail": "Request body too large."})
        );
    }
}

#[tokio::test]
async fn a_result_far_over_10_mib_is_still_read_and_truncated() {
    let a = agent().await;
    let hist = a.history(HistoryType::CmdRun).await;
    let path = format!("/api/v3/{hist}/{}/histresult/", a.id);
    let started = std::time::Instant::now();
    let (status, _, text) = a
        .send(Method::PATCH, &path, &json!({"results": "w".repeat(40 * MB)}))
        .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "\"ok\""),
        "after {:?}",
        started.elapsed()
    );
    assert!(a.stored(hist).await.results.unwrap().ends_with(MARKER));
}
