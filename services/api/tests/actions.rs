//! Dashboard actions that reach agents: trmm-api → gRPC AgentGateway → NATS → an agent that speaks the
//! Tactical RMM protocol (a test responder here; the real trmm-agent is exercised in its own tests).

mod common;
mod gateway_suite;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{agent_id, wait_until};
use futures_util::StreamExt;
use gateway_suite::suite;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_protocol::nats::{self, Command};

/// A minimal agent: answers commands like the Go agent (agent-protocol.md 2.2) and records what it got.
async fn responder(url: &str, agent_id: &str, silent: bool) -> Arc<Mutex<Vec<Command>>> {
    let client = async_nats::connect(url).await.unwrap();
    let mut sub = trmm_testkit::subscribe_live(&client, agent_id, agent_id).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Ok(cmd) = nats::decode::<Command>(&msg.payload) else {
                continue;
            };
            log.lock().unwrap().push(cmd.clone());
            let reply: Value = match cmd.func.as_str() {
                "ping" => json!("pong"),
                "rawcmd" => json!(format!("ran {} with {}", cmd.payload["command"], cmd.payload["shell"])),
                "procs" => {
                    json!([{"name": "init", "pid": 1, "membytes": 1024, "username": "root", "id": 0, "cpu_percent": "0.0"}])
                }
                "killproc" if cmd.procpid == Some(1) => json!("access denied"),
                "killproc" | "sysinfo" | "rebootnow" | "shutdown" | "recover" | "uninstall" => json!("ok"),
                _ => continue,
            };
            if silent {
                continue;
            }
            if let Some(reply_to) = msg.reply {
                client
                    .publish(reply_to, nats::encode(&reply).unwrap().into())
                    .await
                    .unwrap();
            }
        }
    });
    seen
}

#[tokio::test]
async fn ping_and_cmd_round_trip_and_are_recorded() {
    let s = suite().await;
    let id = agent_id(1);
    let (pk, _) = s.api.enroll(&s.installer, &id, "alpha", s.site).await;
    let seen = responder(&s.nats.url(), &id, false).await;

    let (status, body) = s.api.get(&format!("/agents/{id}/ping/"), &s.admin).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"name": "alpha", "status": "online"}))
    );

    let (status, body) = s
        .api
        .call(
            Method::POST,
            &format!("/agents/{id}/cmd/"),
            Some(&s.admin),
            Some(json!({"shell": "/bin/bash", "cmd": "echo hello", "timeout": 10, "run_as_user": false})),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!("ran echo hello with /bin/bash")));
    let rawcmd = seen
        .lock()
        .unwrap()
        .iter()
        .find(|c| c.func == "rawcmd")
        .cloned()
        .unwrap();
    assert_eq!(rawcmd.timeout, 10);
    assert!(rawcmd.id.is_some_and(|h| h > 0));

    let conn = s.api.db.pool().get().await.unwrap();
    let row = conn
        .query_one(
            "SELECT type, command, username, results FROM agent_history WHERE agent_pk = $1",
            &[&(pk as i32)],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "cmd_run");
    assert_eq!(row.get::<_, String>(1), "echo hello");
    assert_eq!(row.get::<_, String>(2), common::ADMIN);
    assert_eq!(row.get::<_, String>(3), "ran echo hello with /bin/bash");
    assert_eq!(
        trmm_db::audit::count(&**conn, "execute_command", common::ADMIN)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn an_offline_or_silent_agent_is_a_prompt_400() {
    let s = suite().await;
    let id = agent_id(2);
    s.api.enroll(&s.installer, &id, "offline", s.site).await;

    let start = Instant::now();
    let (status, body) = s.api.get(&format!("/agents/{id}/ping/"), &s.admin).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"name": "offline", "status": "offline"}))
    );
    let (status, body) = s
        .api
        .call(
            Method::POST,
            &format!("/agents/{id}/cmd/"),
            Some(&s.admin),
            Some(json!({"shell": "/bin/bash", "cmd": "uptime", "timeout": 30})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!("Unable to contact the agent: the agent is offline"));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "offline answers must not wait for the timeout"
    );

    // Connected but never answering: 400 once the timeout (+2 s, as upstream) has passed.
    let silent = agent_id(3);
    s.api.enroll(&s.installer, &silent, "silent", s.site).await;
    responder(&s.nats.url(), &silent, true).await;
    let start = Instant::now();
    let (status, body) = s
        .api
        .call(
            Method::POST,
            &format!("/agents/{silent}/cmd/"),
            Some(&s.admin),
            Some(json!({"shell": "/bin/bash", "cmd": "sleep 100", "timeout": 1})),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!("Unable to contact the agent"))
    );
    assert!(start.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn processes_reboot_shutdown_refresh_recover() {
    let s = suite().await;
    let id = agent_id(4);
    s.api.enroll(&s.installer, &id, "bravo", s.site).await;
    let seen = responder(&s.nats.url(), &id, false).await;

    let (status, procs) = s.api.get(&format!("/agents/{id}/processes/"), &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(procs[0]["name"], "init");
    let (status, body) = s
        .api
        .call(
            Method::DELETE,
            &format!("/agents/{id}/processes/4242/"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!("Process with PID: 4242 was ended successfully"))
    );
    let (status, body) = s
        .api
        .call(
            Method::DELETE,
            &format!("/agents/{id}/processes/1/"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!("access denied")));

    for (path, expected) in [
        ("reboot/", json!("bravo will now be restarted")),
        ("shutdown/", json!("bravo will now be shutdown")),
        ("wmi/", json!("ok")),
    ] {
        let (status, body) = s
            .api
            .call(Method::POST, &format!("/agents/{id}/{path}"), Some(&s.admin), None)
            .await;
        assert_eq!((status, body), (StatusCode::OK, expected), "{path}");
    }
    let (status, body) = s
        .api
        .call(
            Method::POST,
            &format!("/agents/{id}/recover/"),
            Some(&s.admin),
            Some(json!({"mode": "mesh"})),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!("Recovery will be attempted shortly"))
    );
    let funcs: Vec<String> = seen.lock().unwrap().iter().map(|c| c.func.clone()).collect();
    assert_eq!(
        funcs,
        [
            "procs",
            "killproc",
            "killproc",
            "rebootnow",
            "shutdown",
            "sysinfo",
            "recover"
        ]
    );
    assert_eq!(seen.lock().unwrap()[1].procpid, Some(4242));
}

#[tokio::test]
async fn deleting_an_agent_sends_uninstall_first() {
    let s = suite().await;
    let id = agent_id(5);
    s.api.enroll(&s.installer, &id, "charlie", s.site).await;
    let seen = responder(&s.nats.url(), &id, false).await;
    let (status, _) = s
        .api
        .call(Method::DELETE, &format!("/agents/{id}/"), Some(&s.admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    wait_until("uninstall to reach the agent", Duration::from_secs(5), || {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .iter()
                .any(|c| c.func == "uninstall" && c.code.is_some())
        }
    })
    .await;
}

#[tokio::test]
async fn histresult_is_stored_for_the_tokens_agent_only_and_never_clobbered() {
    let s = suite().await;
    let (a, b) = (agent_id(6), agent_id(7));
    let (pk_a, token_a) = s.api.enroll(&s.installer, &a, "alpha", s.site).await;
    let (_, token_b) = s.api.enroll(&s.installer, &b, "bravo", s.site).await;
    let conn = s.api.db.pool().get().await.unwrap();
    let hist = trmm_db::history::create(
        &**conn,
        trmm_db::AgentPk(pk_a as i32),
        trmm_db::history::HistoryType::CmdRun,
        "ls",
        "admin",
    )
    .await
    .unwrap();

    let path = format!("/api/v3/{hist}/{a}/histresult/");
    let (status, _) = s
        .api
        .call(Method::PATCH, &path, Some(&token_b), Some(json!({"results": "forged"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = s
        .api
        .call(Method::PATCH, &path, Some(&token_a), Some(json!({"results": "first"})))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    let (status, _) = s
        .api
        .call(Method::PATCH, &path, Some(&token_a), Some(json!({"results": "second"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        trmm_db::history::results(&**conn, hist).await.unwrap().as_deref(),
        Some("first")
    );
}
