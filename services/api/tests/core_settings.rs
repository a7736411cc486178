//! `/core/settings/`, `/core/emailtest/` and `/core/smstest/` against a real SMTP server (aiosmtpd with
//! STARTTLS and LOGIN) and a local HTTP server speaking Twilio's API: the secrets are stored encrypted, never
//! returned, kept by a PUT that omits them; bad input is a 400 that changes nothing; permissions are enforced.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use trmm_testkit::http_receiver::HttpReceiver;
use trmm_testkit::smtp::{mails, wait_for_mails, SmtpSecurity, SmtpServer};

const PASSWORD: &str = "smtp-pa55word";
const TOKEN: &str = "twilio-t0ken-value";

async fn api_trusting(smtp: &SmtpServer) -> TestApi {
    let wiring = Wiring {
        smtp_roots: vec![smtp.ca_pem().unwrap().to_vec()],
        ..Wiring::default()
    };
    TestApi::start_wired(|_| {}, wiring).await
}

async fn stored_secrets(api: &TestApi) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let db = api.db.pool().get().await.unwrap();
    let row = db
        .query_one(
            "SELECT smtp_host_password_enc, twilio_auth_token_enc FROM core_settings",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

fn assert_no_secret(body: &Value) {
    let text = body.to_string();
    for secret in [PASSWORD, TOKEN] {
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
    assert!(body.get("smtp_host_password").is_none() && body.get("twilio_auth_token").is_none());
}

#[tokio::test]
async fn secrets_are_encrypted_write_only_and_kept_by_a_put_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let port = trmm_testkit::free_port();
    let login = SmtpSecurity::StartTlsLogin {
        user: "mailer".into(),
        password: PASSWORD.into(),
    };
    let smtp = SmtpServer::start(port, &maildir, login).await;
    let api = api_trusting(&smtp).await;
    let admin = api.admin_token().await;
    let twilio = HttpReceiver::start(201, r#"{"sid": "SM1", "status": "queued"}"#).await;

    let body = json!({
        "smtp_host": "localhost", "smtp_port": port, "smtp_requires_auth": true, "smtp_host_user": "mailer",
        "smtp_host_password": PASSWORD, "smtp_from_email": "rmm@example.com", "smtp_from_name": "TRMM",
        "email_alert_recipients": ["ops@example.com"], "twilio_account_sid": "AC42", "twilio_number": "+15559990000",
        "twilio_auth_token": TOKEN, "twilio_api_url": twilio.url(), "sms_alert_recipients": ["+15550001111"],
        "default_time_zone": "Europe/Berlin", "notify_on_info_alerts": true, "check_history_prune_days": 7,
    });
    assert_eq!(
        api.put("/core/settings/", &admin, body).await,
        (StatusCode::OK, json!("ok"))
    );

    let (status, settings) = api.get("/core/settings/", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_no_secret(&settings);
    assert_eq!(settings["default_time_zone"], "Europe/Berlin");
    assert_eq!(settings["check_history_prune_days"], 7);
    assert_eq!(settings["twilio_api_url"], twilio.url());
    assert!(settings["all_timezones"]
        .as_array()
        .unwrap()
        .contains(&json!("America/Los_Angeles")));
    let (smtp_enc, twilio_enc) = stored_secrets(&api).await;
    for (sealed, plain) in [(smtp_enc.unwrap(), PASSWORD), (twilio_enc.unwrap(), TOKEN)] {
        assert!(
            !sealed.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "stored in plaintext"
        );
    }

    assert_eq!(
        api.post("/core/emailtest/", &admin, json!({})).await,
        (StatusCode::OK, json!("Email test ok!"))
    );
    let delivered = wait_for_mails(&maildir, 1).await;
    assert!(
        delivered[0].contains("Subject: Test from Tactical RMM"),
        "{}",
        delivered[0]
    );
    let expected = (StatusCode::OK, json!("SMS Test sent successfully!"));
    assert_eq!(api.post("/core/smstest/", &admin, json!({})).await, expected);
    let sms = twilio.wait_for(1).await;
    assert_eq!(sms[0].path, "/2010-04-01/Accounts/AC42/Messages.json");
    let auth = format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("AC42:{TOKEN}").as_bytes())
    );
    assert_eq!(sms[0].header("authorization"), Some(auth.as_str()));

    // A PUT without the secrets (what the dashboard sends back) keeps them: the login still works.
    let mut edited = settings.clone();
    edited["date_format"] = json!("YYYY-MM-DD HH:mm");
    assert_eq!(api.put("/core/settings/", &admin, edited).await.0, StatusCode::OK);
    assert_eq!(api.post("/core/emailtest/", &admin, json!({})).await.0, StatusCode::OK);
    wait_for_mails(&maildir, 2).await;
    assert_eq!(api.post("/core/smstest/", &admin, json!({})).await.0, StatusCode::OK);

    let db = api.db.pool().get().await.unwrap();
    let audit: Vec<Value> = db
        .query(
            "SELECT to_jsonb(a) FROM audit_logs a WHERE object_type = 'coresettings'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(audit.len(), 2);
    for row in &audit {
        assert_no_secret(row);
    }

    // An empty string removes a secret.
    let cleared = json!({"smtp_host_password": "", "twilio_auth_token": ""});
    assert_eq!(api.put("/core/settings/", &admin, cleared).await.0, StatusCode::OK);
    assert_eq!(stored_secrets(&api).await, (None, None));
    let expected = json!("There needs to be at least one email recipient configured");
    assert_eq!(
        api.post("/core/emailtest/", &admin, json!({})).await,
        (StatusCode::BAD_REQUEST, expected)
    );
    let expected = json!("All fields are required, including at least 1 recipient");
    assert_eq!(
        api.post("/core/smstest/", &admin, json!({})).await,
        (StatusCode::BAD_REQUEST, expected)
    );
    assert_eq!(mails(&maildir).len(), 2);
}

#[tokio::test]
async fn a_refused_send_is_a_400_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("maildir");
    let port = trmm_testkit::free_port();
    let login = SmtpSecurity::StartTlsLogin {
        user: "mailer".into(),
        password: PASSWORD.into(),
    };
    let smtp = SmtpServer::start(port, &maildir, login).await;
    let api = api_trusting(&smtp).await;
    let admin = api.admin_token().await;
    let twilio = HttpReceiver::start(
        400,
        r#"{"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}"#,
    )
    .await;
    let body = json!({
        "smtp_host": "localhost", "smtp_port": port, "smtp_host_user": "mailer", "smtp_host_password": "wrong",
        "email_alert_recipients": ["ops@example.com"], "twilio_account_sid": "AC42", "twilio_number": "+1555",
        "twilio_auth_token": TOKEN, "twilio_api_url": twilio.url(), "sms_alert_recipients": ["12"],
    });
    assert_eq!(api.put("/core/settings/", &admin, body).await.0, StatusCode::OK);
    let (status, answer) = api.post("/core/emailtest/", &admin, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer.as_str().unwrap().contains("535"), "{answer}");
    let (status, answer) = api.post("/core/smstest/", &admin, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer
            .as_str()
            .unwrap()
            .contains("Invalid 'To' Phone Number (code 21211)"),
        "{answer}"
    );
    assert!(mails(&maildir).is_empty());
}

#[tokio::test]
async fn bad_input_is_refused_with_upstream_messages_and_changes_nothing() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let (_, before) = api.get("/core/settings/", &admin).await;
    let cases = [
        (
            json!({"default_time_zone": "Mars/Olympus"}),
            json!({"default_time_zone": ["\"Mars/Olympus\" is not a valid choice."]}),
        ),
        (
            json!({"email_alert_recipients": ["ok@example.com", "nope"]}),
            json!({"email_alert_recipients": {"1": ["Enter a valid email address."]}}),
        ),
        (
            json!({"smtp_from_email": "nope"}),
            json!({"smtp_from_email": ["Enter a valid email address."]}),
        ),
        (
            json!({"smtp_port": 70000}),
            json!({"smtp_port": ["Ensure this value is less than or equal to 65535."]}),
        ),
        (
            json!({"check_history_prune_days": -1}),
            json!({"check_history_prune_days": ["Ensure this value is greater than or equal to 0."]}),
        ),
        (
            json!({"twilio_api_url": "not a url"}),
            json!({"twilio_api_url": ["Enter a valid URL."]}),
        ),
        (
            json!({"notify_on_info_alerts": "yes"}),
            json!({"notify_on_info_alerts": ["Must be a valid boolean."]}),
        ),
        (
            json!({"alert_template": 999, "smtp_host_password": "never stored"}),
            json!({"alert_template": ["Invalid pk \"999\" - object does not exist."]}),
        ),
        (
            json!([1]),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
    ];
    for (body, answer) in cases {
        assert_eq!(
            api.put("/core/settings/", &admin, body).await,
            (StatusCode::BAD_REQUEST, answer)
        );
    }
    assert_eq!(api.get("/core/settings/", &admin).await.1, before);
    assert_eq!(stored_secrets(&api).await, (None, None));
    assert_eq!(
        count(
            &api,
            "SELECT count(*) FROM audit_logs WHERE object_type = 'coresettings'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn permissions_are_enforced() {
    let api = TestApi::start().await;
    let viewer = user(&api, "viewer", &["can_view_core_settings"], None).await;
    let nobody = user(&api, "nobody", &[], None).await;
    assert_eq!(api.get("/core/settings/", &viewer).await.0, StatusCode::OK);
    let denied = (
        StatusCode::FORBIDDEN,
        json!({"detail": "You do not have permission to perform this action."}),
    );
    assert_eq!(api.get("/core/settings/", &nobody).await, denied);
    assert_eq!(
        api.put("/core/settings/", &viewer, json!({"date_format": "x"})).await,
        denied
    );
    assert_eq!(api.post("/core/emailtest/", &viewer, json!({})).await, denied);
    assert_eq!(api.post("/core/smstest/", &viewer, json!({})).await, denied);
    let (status, _) = api.call(reqwest::Method::GET, "/core/settings/", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
