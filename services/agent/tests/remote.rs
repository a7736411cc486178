//! Remote execution beyond a single request, with the real trmm-agent (see common/stack.rs): commands queued
//! while the agent is stopped run when it starts again (trmm-worker), and command output streams to the
//! dashboard websocket line by line (trmm-websocket) as the agent produces it.

mod common;
// Shared with e2e.rs, which uses the parts this suite does not.
#[allow(dead_code)]
#[path = "common/stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::{CancellationToken, DropGuard};
use trmm_testkit::{free_port, redis_url};

use stack::{eventually, Stack, DEADLINE};

/// trmm-worker in-process next to the stack.
fn start_worker(stack: &Stack) -> DropGuard {
    let prefix = format!("trmm-test-{}", rand::random::<u64>());
    let listen = format!("127.0.0.1:{}", free_port());
    let args = [
        "trmm-worker",
        "--database-url",
        stack.api.db.url(),
        "--redis-url",
        &redis_url(),
        "--redis-prefix",
        &prefix,
        "--gateway-url",
        &stack.gateway_url,
        "--listen",
        &listen,
    ];
    let config = trmm_worker::Config::try_parse_from(args).expect("trmm-worker flags");
    let stop = CancellationToken::new();
    tokio::spawn(trmm_worker::run(config, stop.clone()));
    stop.drop_guard()
}

async fn history_result(stack: &Stack, command: &str) -> Result<String, String> {
    let db = stack.api.db.pool().get().await.unwrap();
    let row = db
        .query_one("SELECT results FROM agent_history WHERE command = $1", &[&command])
        .await
        .unwrap();
    row.get::<_, Option<String>>(0)
        .ok_or(format!("no result yet for {command:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_queued_while_the_agent_is_stopped_runs_when_it_starts_again() {
    let (stack, config) = Stack::enrolled().await;
    let id = config.agent_id.clone();
    let mut agent = stack.spawn_svc(&stack.config_path);
    eventually("ping online", DEADLINE, async || stack.ping(&id).await).await;
    let _worker = start_worker(&stack);

    agent.child.kill().await.unwrap();
    eventually(
        "the agent's subject to lose its subscriber",
        DEADLINE,
        async || match stack.ping(&id).await {
            Ok(()) => Err("still answering".to_owned()),
            Err(_) => Ok(()),
        },
    )
    .await;
    let cmd = |cmd: &str| json!({"shell": "/bin/bash", "cmd": cmd, "timeout": 10, "queue_if_offline": true});
    let path = format!("/agents/{id}/cmd/");
    let queued = "echo queued-$((40+2))";
    let (status, body) = stack
        .api
        .call(Method::POST, &path, Some(&stack.admin), Some(cmd(queued)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.as_str().unwrap().contains("queued"), "{body}");
    let marker = stack.dir.path().join("cancelled-ran");
    let cancelled = format!("touch {}", marker.display());
    stack
        .api
        .call(Method::POST, &path, Some(&stack.admin), Some(cmd(&cancelled)))
        .await;
    let list = stack.get(&format!("/agents/{id}/pendingactions/")).await.unwrap();
    let to_cancel = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["details"]["cmd"] == cancelled)
        .unwrap();
    let (status, _) = stack
        .api
        .call(
            Method::DELETE,
            &format!("/logs/pendingactions/{}/", to_cancel["id"]),
            Some(&stack.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let restarted = Instant::now();
    let _agent = stack.spawn_svc(&stack.config_path);
    let result = eventually("the queued command's result", DEADLINE, async || {
        history_result(&stack, queued).await
    })
    .await;
    eprintln!("queued command ran {:?} after the agent restarted", restarted.elapsed());
    assert_eq!(result.trim_end(), "queued-42");
    let list = stack.get("/logs/pendingactions/").await.unwrap();
    let states: Vec<(Value, Value)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["details"]["cmd"].clone(), a["status"].clone()))
        .collect();
    assert_eq!(states, [(json!(queued), json!("completed"))]);
    assert_eq!(history_result(&stack, &cancelled).await.unwrap(), "cancelled");
    assert!(!marker.exists(), "the cancelled command ran");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_streams_a_slow_command_line_by_line() {
    let (stack, config) = Stack::enrolled().await;
    let id = config.agent_id.clone();
    let _agent = stack.spawn_svc(&stack.config_path);
    eventually("ping online", DEADLINE, async || stack.ping(&id).await).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let args = [
        "trmm-websocket",
        "--database-url",
        stack.api.db.url(),
        "--listen",
        &listen,
    ];
    let mut ws_config = trmm_websocket::Config::try_parse_from(args).unwrap();
    ws_config.gateway_url = stack.gateway_url.clone();
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(trmm_websocket::run(ws_config, stop));

    let url = format!("ws://{listen}/ws/agent/{id}/cmd/?access_token={}", stack.admin);
    let mut ws = eventually("the websocket to accept", DEADLINE, async || {
        tokio_tungstenite::connect_async(&url)
            .await
            .map(|(ws, _)| ws)
            .map_err(|e| e.to_string())
    })
    .await;
    let slow = "for i in 1 2 3; do echo line $i; sleep 1; done; exit 3";
    let msg = json!({"cmd": slow, "shell": "/bin/bash", "timeout": 20});
    ws.send(Message::Text(msg.to_string().into())).await.unwrap();
    let mut frames = Vec::new();
    loop {
        let next = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("no frame in time");
        let Some(Ok(Message::Text(text))) = next else { continue };
        let frame: Value = serde_json::from_str(&text).unwrap();
        let done = frame.get("line").is_none();
        frames.push((Instant::now(), frame));
        if done {
            break;
        }
    }
    let bodies: Vec<&Value> = frames.iter().map(|(_, f)| f).collect();
    assert_eq!(
        bodies,
        [
            &json!({"line": "line 1"}),
            &json!({"line": "line 2"}),
            &json!({"line": "line 3"}),
            &json!({"done": true, "exit_code": 3})
        ]
    );
    // Streamed as produced: the first line came about three seconds before the end, not with it.
    let spread = frames[3].0 - frames[0].0;
    assert!(
        spread > Duration::from_millis(1500),
        "lines arrived together ({spread:?})"
    );
    let result = eventually("history", DEADLINE, async || history_result(&stack, slow).await).await;
    assert!(result.starts_with("line 1\nline 2\nline 3"), "{result}");
    stack.shutdown().await;
}
