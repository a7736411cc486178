//! The trmm-api binary itself: migrate, createsuperuser, serve, fail2ban-friendly failed-login lines, SIGTERM.

use trmm_testkit::service::Service;
use trmm_testkit::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_trmm-api");

fn cli(db: &TestDb, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .env("TRMM_DATABASE_URL", db.url())
        .env_remove("TRMM_SUPERUSER_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running trmm-api")
}

#[tokio::test]
async fn migrate_createsuperuser_serve_and_stop() {
    let db = TestDb::new().await;
    let out = cli(&db, &["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "applied 0 migration(s)");

    let args = [
        "createsuperuser",
        "--username",
        "boss",
        "--email",
        "b@example.com",
        "--password",
        "long enough pw",
    ];
    let out = cli(&db, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A second run fails clearly unless asked to update; with no terminal, missing flags are an error.
    let again = cli(&db, &args);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--update-existing"));
    let mut update = args.to_vec();
    update.extend(["--update-existing", "--totp-secret", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"]);
    assert!(cli(&db, &update).status.success());
    let missing = cli(&db, &["createsuperuser", "--username", "x"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--email is required"));

    let mut api = Service::start(
        BIN,
        "TRMM_API_LISTEN",
        &[
            ("TRMM_DATABASE_URL", db.url().to_owned()),
            ("TRMM_REDIS_URL", trmm_testkit::redis_url()),
            ("TRMM_SECRET_KEY", trmm_testkit::SECRET_KEY.to_owned()),
        ],
    );
    api.wait_for_status("/readyz", 200).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v2/checkcreds/", api.url()))
        .json(&serde_json::json!({"username": "boss", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    api.wait_for_log("failed login", 1).await;
    // The line config/fail2ban/trmm-api.conf matches: "failed login .* ip=<HOST>".
    let log = api.log();
    let line = log.lines().find(|l| l.contains("failed login")).unwrap();
    let ip_at = line.find("ip=127.0.0.1").unwrap_or_else(|| panic!("no ip in {line}"));
    assert!(line.find("failed login").unwrap() < ip_at, "{line}");
    assert!(line.contains("boss"), "{line}");
    assert!(!line.contains("wrong"), "the password must never be logged: {line}");
    assert!(api.terminate().await.success());
}
