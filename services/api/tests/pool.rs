//! Requests that wait on an agent hold no pooled Postgres connection: with a pool of 4, eight commands in
//! flight at once leave the rest of the API answering.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use trmm_protocol::calls::AgentCall;
use trmm_protocol::nats;

use common::gateway::suite_with_pool;

#[tokio::test]
async fn eight_slow_commands_leave_a_pool_of_four_free() {
    let s = suite_with_pool(Some(4)).await;
    let (agent, _, _) = s.agent(1, "slow").await;
    // A stand-in agent that takes every command at once and answers only when released.
    let client = async_nats::connect(s.nats.url()).await.unwrap();
    let mut sub = trmm_testkit::subscribe_live(&client, &agent, &agent).await;
    let received = Arc::new(AtomicUsize::new(0));
    let (release, released) = tokio::sync::watch::channel(false);
    let counter = received.clone();
    tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Ok(AgentCall::RawCmd(cmd)) = AgentCall::decode(&msg.payload) else {
                continue;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let (client, mut released) = (client.clone(), released.clone());
            tokio::spawn(async move {
                let _ = released.wait_for(|go| *go).await;
                let reply = nats::encode(&format!("done {}", cmd.command)).unwrap();
                client.publish(msg.reply.unwrap(), reply.into()).await.unwrap();
            });
        }
    });

    let (s, path) = (&s, format!("/agents/{agent}/cmd/"));
    let commands = futures_util::future::join_all((0..8).map(|i| {
        let body = json!({"shell": "/bin/bash", "cmd": format!("work {i}"), "timeout": 30});
        let path = &path;
        async move { s.api.post(path, &s.admin, body).await }
    }));
    let meanwhile = async {
        let deadline = tokio::time::Instant::now() + trmm_testkit::service::DEADLINE;
        while received.load(Ordering::SeqCst) < 8 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the agent never had all 8 commands"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Every command is now waiting on the agent; the pool's wait timeout is far longer than this.
        let clients = tokio::time::timeout(Duration::from_secs(3), s.api.get("/clients/", &s.admin)).await;
        release.send(true).unwrap();
        clients.expect("GET /clients/ did not answer while commands waited on the agent")
    };
    let (results, (status, _)) = tokio::join!(commands, meanwhile);
    assert_eq!(status, StatusCode::OK);
    for (i, (status, body)) in results.into_iter().enumerate() {
        assert_eq!((status, body), (StatusCode::OK, json!(format!("done work {i}"))));
    }
}
