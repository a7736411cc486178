//! The deployment path, as scripts/quickstart.sh runs it: `trmm-nats-api nats-config` writes the env
//! files, nats-server runs the committed config/nats/nats-server.conf with nats-server.env in its
//! environment (ports from flags), trmm-nats-api runs with services.env, and an agent gets in.

mod auth_support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use async_nats::ConnectOptions;
use auth_support::{assert_refused, create_site, enroll, Client, BIN, DEADLINE};
use trmm_testkit::service::Service;
use trmm_testkit::{free_port, nats_server_bin, TestDb};

fn repo_config() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/nats/nats-server.conf")
}

/// `KEY='value'` lines of a generated env file.
fn read_env(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (key, value) = l.split_once('=').expect("KEY=value");
            (key.to_owned(), value.trim_matches('\'').to_owned())
        })
        .collect()
}

/// nats-server killed on drop.
struct Nats(Child);

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_committed_config_holds_no_secrets() {
    let config = std::fs::read_to_string(repo_config()).unwrap();
    let mut checked = 0;
    for line in config.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for key in ["password:", "issuer:", "xkey:", "nkey:", "token:"] {
            for (at, _) in line.match_indices(key) {
                let value = line[at + key.len()..].trim_start();
                let value = value.split([' ', ',', '}']).next().unwrap_or_default();
                assert!(
                    value.starts_with("$TRMM_NATS_"),
                    "{key} is not taken from the environment: {line}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 5, "three passwords, the issuer and the xkey");
    assert!(
        !config.contains("$2a$") && !config.contains("$2b$"),
        "a bcrypt hash is committed"
    );
}

#[tokio::test]
async fn generated_env_files_run_the_committed_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nats");
    let generated = Command::new(BIN)
        .args(["nats-config", "--out-dir"])
        .arg(&out)
        .env_remove("TRMM_NATS_CONFIG_DIR")
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let server_env = read_env(&out.join("nats-server.env"));
    let services_env = read_env(&out.join("services.env"));
    for secret in services_env.values().filter(|v| v.len() > 20) {
        assert!(
            !server_env.values().any(|v| v.contains(secret.as_str())),
            "nats-server.env holds a secret"
        );
    }

    let port = free_port();
    let nats_log = std::fs::File::create(dir.path().join("nats.log")).unwrap();
    let _nats = Nats(
        Command::new(nats_server_bin())
            .arg("-c")
            .arg(repo_config())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                &free_port().to_string(),
            ])
            .envs(&server_env)
            .stdin(Stdio::null())
            .stdout(nats_log.try_clone().unwrap())
            .stderr(nats_log)
            .spawn()
            .unwrap(),
    );
    let url = format!("nats://127.0.0.1:{port}");
    let service = (
        services_env["TRMM_NATS_USER"].clone(),
        services_env["TRMM_NATS_PASSWORD"].clone(),
    );
    let deadline = Instant::now() + DEADLINE;
    while ConnectOptions::with_user_and_password(service.0.clone(), service.1.clone())
        .connect(&url)
        .await
        .is_err()
    {
        let log = std::fs::read_to_string(dir.path().join("nats.log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "the service user never got in; nats-server log:\n{log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let db = TestDb::new().await;
    let mut env: Vec<(&str, String)> = vec![
        ("TRMM_DATABASE_URL", db.url().to_owned()),
        ("TRMM_NATS_URL", url.clone()),
    ];
    env.extend(services_env.iter().map(|(k, v)| (k.as_str(), v.clone())));
    env.push(("TRMM_GATEWAY_LISTEN", format!("127.0.0.1:{}", free_port())));
    let mut nats_api = Service::start(BIN, "TRMM_NATS_API_LISTEN", &env);
    nats_api.wait_for_answer("/readyz", 200, "\"nats_auth\":\"up\"").await;

    let site = create_site(db.pool()).await;
    let (agent_id, token) = enroll(db.pool(), site).await;
    Client::connect(&url, &agent_id, &token)
        .await
        .expect("the agent gets in");
    assert_refused(Client::connect(&url, &agent_id, "wrong").await, "wrong token");
}
