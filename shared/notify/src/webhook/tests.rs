use super::*;

fn expand(text: &str) -> String {
    text.replace("{{agent.hostname}}", "web 01")
        .replace("{{alert.stderr}}", "C:\\Users\\x\u{1}\tdone")
        .replace("{{global.token}}", "s3cr3t")
}

fn action<'a>(method: &'a str, body: &'a str, headers: &'a str) -> RestAction<'a> {
    RestAction {
        pattern: "https://hooks.example.com/h/{{agent.hostname}}?x=1",
        method,
        body,
        headers,
    }
}

#[test]
fn placeholders_are_filled_in_url_body_and_headers() {
    let body = r#"{"host": "{{agent.hostname}}", "err": "{{alert.stderr}}", "n": 1}"#;
    let headers = r#"{"Authorization": "Bearer {{global.token}}", "X-Count": 3}"#;
    let r = prepare(action("post", body, headers), expand).unwrap();
    assert_eq!(r.method, reqwest::Method::POST);
    assert_eq!(r.url.as_str(), "https://hooks.example.com/h/web%2001?x=1");
    let sent: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"host": "web 01", "err": "C:\\Users\\x \tdone", "n": 1}),
        "control characters become spaces, lone backslashes survive, a raw tab is kept"
    );
    assert_eq!(r.headers["authorization"], "Bearer s3cr3t");
    assert_eq!(r.headers["x-count"], "3");
    assert_eq!(r.headers["content-type"], "application/json");
}

#[test]
fn get_and_delete_send_no_body_and_empty_templates_mean_none() {
    for method in ["get", "delete"] {
        let r = prepare(action(method, r#"{"a": 1}"#, ""), expand).unwrap();
        assert_eq!(r.body, None);
        assert!(r.headers.is_empty());
    }
    let r = prepare(action("put", "  ", ""), expand).unwrap();
    assert_eq!(r.body, None);
    let r = prepare(action("patch", "{}", r#"{"Content-Type": "text/plain"}"#), expand).unwrap();
    assert_eq!(r.headers["content-type"], "text/plain");
}

#[test]
fn bad_templates_are_permanent_errors_that_say_what() {
    let cases = [
        (action("post", "{not json", ""), "body is not valid JSON"),
        (action("post", "{}", "[1]"), "headers are not a JSON object"),
        (
            action("post", "{}", r#"{"X": {"a": 1}}"#),
            "headers are not a JSON object",
        ),
        (
            action("post", "{}", r#"{"bad name": "v"}"#),
            "headers are not a JSON object",
        ),
        (action("trace", "", ""), "is not a valid method"),
    ];
    for (a, needle) in cases {
        let e = prepare(a, expand).unwrap_err();
        assert!(!e.is_transient());
        assert!(e.to_string().contains(needle), "{e}");
    }
    let bad_url = RestAction {
        pattern: "ftp://x/{{agent.hostname}}",
        ..action("get", "", "")
    };
    assert!(prepare(bad_url, expand)
        .unwrap_err()
        .to_string()
        .contains("not a valid http or https URL"));
    let no_url = RestAction {
        pattern: "{{agent.nothing}}",
        ..action("get", "", "")
    };
    assert!(prepare(no_url, |_| String::new())
        .unwrap_err()
        .to_string()
        .contains("not a valid"));
}

#[test]
fn outcomes_by_status() {
    let r = |status| Response {
        status,
        text: "t".into(),
    };
    assert!(r(200).outcome().is_ok());
    assert!(r(302).outcome().is_ok());
    for transient in [408, 429, 500, 503] {
        assert!(r(transient).outcome().unwrap_err().is_transient(), "{transient}");
    }
    for permanent in [400, 401, 404] {
        assert!(!r(permanent).outcome().unwrap_err().is_transient(), "{permanent}");
    }
}

#[test]
fn sanitizing_keeps_escapes_and_doubles_lone_backslashes() {
    assert_eq!(sanitize(r"a\b"), r"a\\b");
    assert_eq!(sanitize(r"a\\b"), r"a\\b");
    assert_eq!(sanitize(r"a\nb\tc\rd"), r"a\nb\tc\rd");
    assert_eq!(sanitize("a\u{7}b\u{85}c\nd"), "a b c\nd");
    assert_eq!(escape_raw_controls("{\"a\": \"x\ny\"}\n"), "{\"a\": \"x\\ny\"}\n");
    assert_eq!(escape_raw_controls(r#"{"a": "q\"\n"}"#), r#"{"a": "q\"\n"}"#);
}
