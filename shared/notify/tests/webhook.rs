//! Webhooks against a local HTTP receiver: the expanded URL, method, headers and JSON body arrive as prepared,
//! and the receiver's answer comes back as (status, text).

use serde_json::{json, Value};
use trmm_notify::webhook::{self, RestAction};
use trmm_testkit::http_receiver::HttpReceiver;

fn expand(text: &str) -> String {
    text.replace("{{alert.severity}}", "error")
        .replace("{{agent.hostname}}", "web-01")
}

#[tokio::test]
async fn each_method_sends_the_expanded_request_and_returns_status_and_text() {
    let hook = HttpReceiver::start(200, r#"{"ok": true}"#).await;
    let pattern = format!("{}/hooks/{{{{agent.hostname}}}}?sev={{{{alert.severity}}}}", hook.url());
    for (i, method) in webhook::METHODS.iter().enumerate() {
        let action = RestAction {
            pattern: &pattern,
            method,
            body: r#"{"text": "{{agent.hostname}} is {{alert.severity}}"}"#,
            headers: r#"{"X-Token": "abc"}"#,
        };
        let request = webhook::prepare(action, expand).unwrap();
        let answer = webhook::send(&reqwest::Client::new(), &request).await.unwrap();
        assert_eq!((answer.status, answer.text.as_str()), (200, r#"{"ok": true}"#));
        assert!(answer.outcome().is_ok());

        let r = hook.wait_for(i + 1).await.remove(i);
        assert_eq!(r.method, method.to_uppercase());
        assert_eq!(r.path, "/hooks/web-01?sev=error");
        assert_eq!(r.header("x-token"), Some("abc"));
        if matches!(*method, "get" | "delete") {
            assert!(r.body.is_empty(), "{method} sends no body");
        } else {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body, json!({"text": "web-01 is error"}));
            assert_eq!(r.header("content-type"), Some("application/json"));
        }
    }
}

#[tokio::test]
async fn an_error_answer_is_returned_and_classified() {
    let hook = HttpReceiver::start(503, "down for maintenance").await;
    hook.answer_next(404, "no such hook");
    let pattern = format!("{}/h", hook.url());
    let action = RestAction {
        pattern: &pattern,
        method: "post",
        body: "{}",
        headers: "",
    };
    let request = webhook::prepare(action, expand).unwrap();
    let http = reqwest::Client::new();
    let answer = webhook::send(&http, &request).await.unwrap();
    assert_eq!((answer.status, answer.text.as_str()), (404, "no such hook"));
    assert!(!answer.outcome().unwrap_err().is_transient());
    let answer = webhook::send(&http, &request).await.unwrap();
    assert_eq!(answer.status, 503);
    assert!(answer.outcome().unwrap_err().is_transient());

    let closed = RestAction {
        pattern: &format!("http://127.0.0.1:{}/h", trmm_testkit::free_port()),
        ..action
    };
    let e = webhook::send(&http, &webhook::prepare(closed, expand).unwrap())
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
}
