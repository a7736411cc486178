//! SMS against a local HTTP server that speaks Twilio's message-create API: the request's path, auth and form,
//! one call per message, and how Twilio's answers classify (429 and 5xx transient, other 4xx permanent).

use trmm_db::core_settings::SmsSettings;
use trmm_notify::sms::Twilio;
use trmm_testkit::http_receiver::{HttpReceiver, Received};

const CREATED: &str = r#"{"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued", "to": "+15550001111",
    "from": "+15559990000", "body": "Disk failing", "account_sid": "AC1234567890"}"#;

fn twilio(url: &str, token: Option<&str>) -> Twilio {
    let settings = SmsSettings {
        sms_alert_recipients: vec!["+15550001111".into()],
        twilio_number: Some("+15559990000".into()),
        twilio_account_sid: Some("AC1234567890".into()),
        twilio_auth_token_enc: None,
        twilio_api_url: format!("{url}/"),
    };
    Twilio::new(settings, token.map(str::to_owned), reqwest::Client::new())
}

fn form(r: &Received) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://x/?{}", r.text())).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn a_message_is_created_with_basic_auth_and_the_form_twilio_expects() {
    let api = HttpReceiver::start(201, CREATED).await;
    let sms = twilio(&api.url(), Some("tok3n"));
    assert!(sms.is_configured());
    let sid = sms.send("+15550001111", "Disk failing & more").await.unwrap();
    assert_eq!(sid, "SM0123456789abcdef0123456789abcdef");

    let seen = api.wait_for(1).await;
    let r = &seen[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/2010-04-01/Accounts/AC1234567890/Messages.json");
    let auth = data_encoding::BASE64.encode(b"AC1234567890:tok3n");
    assert_eq!(r.header("authorization"), Some(format!("Basic {auth}").as_str()));
    assert_eq!(r.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(
        form(r),
        [
            ("To", "+15550001111"),
            ("From", "+15559990000"),
            ("Body", "Disk failing & more")
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_transient_refusals_permanent() {
    let api = HttpReceiver::start(201, CREATED).await;
    api.answer_next(429, r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#);
    api.answer_next(503, "Service Unavailable");
    api.answer_next(
        400,
        r#"{"code": 21211, "message": "The 'To' number 123 is not a valid phone number.", "status": 400}"#,
    );
    api.answer_next(401, r#"{"code": 20003, "message": "Authenticate", "status": 401}"#);
    let sms = twilio(&api.url(), Some("tok3n"));

    let e = sms.send("+15550001111", "x").await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert_eq!(
        e.to_string(),
        "Twilio answered 429 Too Many Requests: Too Many Requests (code 20429)"
    );
    let e = sms.send("+15550001111", "x").await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    let e = sms.send("123", "x").await.unwrap_err();
    assert!(!e.is_transient(), "{e}");
    assert!(
        e.to_string().contains("is not a valid phone number. (code 21211)"),
        "{e}"
    );
    let e = sms.send("+15550001111", "x").await.unwrap_err();
    assert!(!e.is_transient(), "{e}");
    assert!(sms.send("+15550001111", "x").await.is_ok(), "then the default answer");
    assert_eq!(api.received().len(), 5, "one call per attempt");
}

#[tokio::test]
async fn no_answer_is_transient_and_missing_settings_send_nothing() {
    let closed = format!("http://127.0.0.1:{}", trmm_testkit::free_port());
    let e = twilio(&closed, Some("tok3n")).send("+1555", "x").await.unwrap_err();
    assert!(e.is_transient(), "{e}");

    let api = HttpReceiver::start(201, CREATED).await;
    let unconfigured = twilio(&api.url(), None);
    assert!(!unconfigured.is_configured());
    let e = unconfigured.send("+1555", "x").await.unwrap_err();
    assert_eq!(e.to_string(), "Sms alerting is not setup correctly.");
    assert!(api.received().is_empty());
}
