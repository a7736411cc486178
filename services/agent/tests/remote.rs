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
use tokio_util::sync::CancellationToken;
use trmm_testkit::free_port;

use stack::{eventually, start_worker, Stack, DEADLINE};

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
    let _worker = start_worker(&stack, &[]);

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

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A command socket's frames, with their arrival times, up to the final one (or an error).
async fn frames_until_done(ws: &mut Socket) -> Vec<(Instant, Value)> {
    let mut frames = Vec::new();
    loop {
        let next = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("no frame in time");
        let text = match next {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            other => panic!("the socket ended after {frames:?}: {other:?}"),
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        let last = frame["done"] == json!(true) || frame.get("error").is_some();
        frames.push((Instant::now(), frame));
        if last {
            return frames;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_streams_slow_commands_line_by_line_each_to_its_own_socket() {
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
    ws_config.gateway.gateway_url = stack.gateway_url.clone();
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    tokio::spawn(trmm_websocket::run(ws_config, stop));

    let url = format!("ws://{listen}/ws/agent/{id}/cmd/?access_token={}", stack.admin);
    let connect = async || {
        eventually("the websocket to accept", DEADLINE, async || {
            tokio_tungstenite::connect_async(&url)
                .await
                .map(|(ws, _)| ws)
                .map_err(|e| e.to_string())
        })
        .await
    };
    // Two sockets, two slow commands at once, sent the way the dashboard sends them.
    let (mut a, mut b) = (connect().await, connect().await);
    let slow = "for i in 1 2 3; do echo line $i; sleep 1; done; exit 3";
    let other = "for i in 1 2 3; do echo other $i; sleep 1; done; exit 4";
    for (ws, cmd, cmd_id) in [(&mut a, slow, "slow"), (&mut b, other, "other")] {
        let msg = json!({
            "cmd": cmd, "shell": "/bin/bash", "custom_shell": "", "timeout": 20, "run_as_user": false,
            "stream": true, "cmd_id": cmd_id,
        });
        ws.send(Message::Text(msg.to_string().into())).await.unwrap();
    }
    let (a, b) = tokio::join!(frames_until_done(&mut a), frames_until_done(&mut b));
    for (frames, cmd_id, word, exit_code) in [(&a, "slow", "line", 3), (&b, "other", "other", 4)] {
        let bodies: Vec<&Value> = frames.iter().map(|(_, f)| f).collect();
        let output = |i: u32| json!({"cmd_id": cmd_id, "output": format!("{word} {i}"), "done": false});
        assert_eq!(
            bodies,
            [
                &json!({ "cmd_id": cmd_id }),
                &output(1),
                &output(2),
                &output(3),
                &json!({"cmd_id": cmd_id, "output": "", "done": true, "exit_code": exit_code}),
            ]
        );
        // Streamed as produced: the first line came about three seconds before the end, not with it.
        let spread = frames[4].0 - frames[1].0;
        assert!(
            spread > Duration::from_millis(1500),
            "lines arrived together ({spread:?})"
        );
    }
    for (cmd, word) in [(slow, "line"), (other, "other")] {
        let result = eventually("history", DEADLINE, async || history_result(&stack, cmd).await).await;
        assert!(result.starts_with(&format!("{word} 1\n{word} 2\n{word} 3")), "{result}");
    }
    stack.shutdown().await;
}
