//! Dashboard actions that reach agents: trmm-api → gRPC AgentGateway → NATS → an agent that speaks the
//! Tactical RMM protocol (a test responder here; the real trmm-agent is exercised in its own tests).

mod common;

use std::time::{Duration, Instant};

use common::gateway::{responder, suite};
use common::wait_until;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_protocol::nats::Command;

/// Answers commands like the Go agent (agent-protocol.md 2.2).
fn answer(cmd: &Command) -> Option<Value> {
    Some(match cmd.func.as_str() {
        "ping" => json!("pong"),
        "rawcmd" => json!(format!("ran {} with {}", cmd.payload["command"], cmd.payload["shell"])),
        "procs" => {
            json!([{"name": "init", "pid": 1, "membytes": 1024, "username": "root", "id": 0, "cpu_percent": "0.0"}])
        }
        "killproc" if cmd.procpid == Some(1) => json!("access denied"),
        "killproc" | "sysinfo" | "rebootnow" | "shutdown" | "recover" | "uninstall" => json!("ok"),
        _ => return None,
    })
}

#[tokio::test]
async fn ping_and_cmd_round_trip_and_are_recorded() {
    let s = suite().await;
    let (id, pk, seen) = s.answered_agent(1, "alpha", answer).await;

    let (status, body) = s.api.get(&format!("/agents/{id}/ping/"), &s.admin).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"name": "alpha", "status": "online"}))
    );

    let cmd = json!({"shell": "/bin/bash", "cmd": "echo hello", "timeout": 10, "run_as_user": false});
    let (status, body) = s.api.post(&format!("/agents/{id}/cmd/"), &s.admin, cmd).await;
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
        trmm_db::audit::count(&conn, "execute_command", common::ADMIN)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn an_offline_or_silent_agent_is_a_prompt_400() {
    let s = suite().await;
    let (id, _, _) = s.agent(2, "offline").await;

    let start = Instant::now();
    let (status, body) = s.api.get(&format!("/agents/{id}/ping/"), &s.admin).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"name": "offline", "status": "offline"}))
    );
    let cmd = json!({"shell": "/bin/bash", "cmd": "uptime", "timeout": 30});
    let (status, body) = s.api.post(&format!("/agents/{id}/cmd/"), &s.admin, cmd).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!("Unable to contact the agent: the agent is offline"));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "offline answers must not wait for the timeout"
    );

    // Connected but never answering: 400 once the timeout (+2 s, as upstream) has passed.
    let (silent, _, _) = s.agent(3, "silent").await;
    responder(&s, &silent, |_| None).await;
    let start = Instant::now();
    let cmd = json!({"shell": "/bin/bash", "cmd": "sleep 100", "timeout": 1});
    let (status, body) = s.api.post(&format!("/agents/{silent}/cmd/"), &s.admin, cmd).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!("Unable to contact the agent"))
    );
    assert!(start.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn processes_reboot_shutdown_refresh_recover() {
    let s = suite().await;
    let (id, _, seen) = s.answered_agent(4, "bravo", answer).await;

    let (status, procs) = s.api.get(&format!("/agents/{id}/processes/"), &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(procs[0]["name"], "init");
    for (pid, expected) in [
        (
            4242,
            (StatusCode::OK, json!("Process with PID: 4242 was ended successfully")),
        ),
        (1, (StatusCode::BAD_REQUEST, json!("access denied"))),
    ] {
        let path = format!("/agents/{id}/processes/{pid}/");
        assert_eq!(s.api.delete(&path, &s.admin).await, expected, "{path}");
    }

    for (path, body, expected) in [
        ("reboot/", None, "bravo will now be restarted"),
        ("shutdown/", None, "bravo will now be shutdown"),
        ("wmi/", None, "ok"),
        (
            "recover/",
            Some(json!({"mode": "mesh"})),
            "Recovery will be attempted shortly",
        ),
    ] {
        let path = format!("/agents/{id}/{path}");
        let (status, body) = s.api.call(Method::POST, &path, Some(&s.admin), body).await;
        assert_eq!((status, body), (StatusCode::OK, json!(expected)), "{path}");
    }
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
    let (id, _, seen) = s.answered_agent(5, "charlie", answer).await;
    let (status, _) = s.api.delete(&format!("/agents/{id}/"), &s.admin).await;
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
    let (a, pk_a, token_a) = s.agent(6, "alpha").await;
    let (_, _, token_b) = s.agent(7, "bravo").await;
    let conn = s.api.db.pool().get().await.unwrap();
    let hist = trmm_db::history::create(
        &conn,
        trmm_db::AgentPk(pk_a as i32),
        trmm_db::history::HistoryType::CmdRun,
        "ls",
        "admin",
    )
    .await
    .unwrap();

    let path = format!("/api/v3/{hist}/{a}/histresult/");
    for (token, results, expected) in [
        (&token_b, "forged", StatusCode::NOT_FOUND),
        (&token_a, "first", StatusCode::OK),
        (&token_a, "second", StatusCode::OK),
    ] {
        let report = json!({ "results": results });
        let (status, body) = s.api.call(Method::PATCH, &path, Some(token), Some(report)).await;
        assert_eq!(status, expected, "{results}: {body}");
        if status == StatusCode::OK {
            assert_eq!(body, json!("ok"), "{results}");
        }
    }
    assert_eq!(
        trmm_db::history::results(&conn, hist).await.unwrap().as_deref(),
        Some("first")
    );
}
