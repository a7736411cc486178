//! Acceptance: a bulk command to a site with 3 real trmm-agent processes and 500 simulated agents accounts for
//! every agent (common/stack.rs, plus trmm-worker in-process). The simulated agents log in through the auth
//! callout with their own tokens, one NATS connection each, as agents do. Only the HTTP API and what ends up in
//! Postgres are checked, not how the worker fans the command out.

mod common;
#[allow(dead_code)] // shared with e2e.rs, which uses the rest
#[path = "common/stack.rs"]
mod stack;

use std::collections::HashMap;
use std::time::Instant;

use futures_util::{stream, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_protocol::nats::{self, Command};

use common::installer;
use stack::{eventually, start_worker, Stack, DEADLINE};

/// Inserts `n` agents into `site`, each with its own token; returns (agent_id, token).
async fn seed(stack: &Stack, site: i64, hostname: &str, n: usize) -> Vec<(String, String)> {
    let agents: Vec<(String, String)> = (0..n)
        .map(|_| (trmm_auth::generate_agent_id(), trmm_auth::generate_agent_token()))
        .collect();
    let rows: Vec<(String, String, Vec<u8>)> = agents
        .iter()
        .enumerate()
        .map(|(i, (id, token))| (id.clone(), format!("{hostname}-{i}"), trmm_auth::digest_token(token)))
        .collect();
    let db = stack.api.db.pool().get().await.unwrap();
    trmm_db::agents::bulk_create_with_tokens(&db, trmm_db::SiteId(site as i32), &rows, "test")
        .await
        .unwrap();
    agents
}

/// Connects as the agent and answers `ping` with "pong" and, when `runs_commands`, `rawcmd` with
/// "<agent_id> ran <payload.command>"; the agent is gone when the returned client is dropped.
async fn simulate(url: String, (id, token): (String, String), runs_commands: bool) -> async_nats::Client {
    let client = async_nats::ConnectOptions::with_user_and_password(id.clone(), token)
        .name(id.clone())
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("simulated agent {id} could not log in: {e}"));
    let mut commands = client.subscribe(id.clone()).await.unwrap();
    let replies = client.clone();
    tokio::spawn(async move {
        while let Some(msg) = commands.next().await {
            let (Some(reply), Ok(cmd)) = (msg.reply, nats::decode::<Command>(&msg.payload)) else {
                continue;
            };
            let answer = match cmd.func.as_str() {
                "ping" => "pong".to_owned(),
                "rawcmd" if runs_commands => format!("{id} ran {}", cmd.payload.get("command").map_or("", |c| c)),
                _ => continue,
            };
            let _ = replies.publish(reply, nats::encode(&answer).unwrap().into()).await;
        }
    });
    client
}

/// Connects simulated agents a few at a time (each login is an auth callout round trip) and waits until the
/// API's ping finds every one of them online.
async fn connect_all(stack: &Stack, agents: &[(String, String)], runs_commands: bool) -> Vec<async_nats::Client> {
    let clients: Vec<async_nats::Client> = stream::iter(agents.iter().cloned())
        .map(|agent| simulate(stack.nats.url(), agent, runs_commands))
        .buffer_unordered(16)
        .collect()
        .await;
    stream::iter(agents)
        .for_each_concurrent(16, async |(id, _)| {
            eventually("a simulated agent to answer ping", DEADLINE, async || {
                stack.ping(id).await
            })
            .await
        })
        .await;
    clients
}

/// Each agent's history `results` for the bulk run, by agent_id.
async fn outcomes(stack: &Stack) -> HashMap<String, Option<String>> {
    let db = stack.api.db.pool().get().await.unwrap();
    let sql = "SELECT a.agent_id, h.results FROM agent_history h JOIN agents a ON a.id = h.agent_pk
               WHERE h.bulk_run_id IS NOT NULL";
    let rows = db.query(sql, &[]).await.unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_command_to_a_site_with_3_real_agents_and_500_simulated_ones_accounts_for_every_agent() {
    let stack = Stack::start().await;
    let (client, site, token) = installer(&stack.api, &stack.admin).await;
    let mut real = Vec::new();
    let mut processes = Vec::new();
    for n in 1..=3 {
        let path = stack.dir.path().join(format!("etc/agent-{n}.json"));
        real.push(stack.install_at(&path, client, site, &token).await.agent_id);
        processes.push(stack.spawn_svc(&path));
    }
    for id in &real {
        eventually("a real agent to answer ping", DEADLINE, async || stack.ping(id).await).await;
    }
    let simulated = seed(&stack, site, "sim", 500).await;
    let (_, other_site) = stack.api.client_with_site(&stack.admin, "Other", "Elsewhere").await;
    let elsewhere = seed(&stack, other_site, "elsewhere", 5).await;
    let _answering = connect_all(&stack, &simulated[..240], true).await;
    let _silent = connect_all(&stack, &simulated[240..250], false).await;
    let _elsewhere = connect_all(&stack, &elsewhere, true).await;
    let _worker = start_worker(&stack, &[]);

    let started = Instant::now();
    let body = json!({"mode": "command", "target": "site", "client": client, "site": site, "monType": "all",
                      "osType": "all", "cmd": "hostname", "shell": "/bin/bash", "timeout": 5});
    let reply = stack
        .api
        .call(Method::POST, "/agents/actions/bulk/", Some(&stack.admin), Some(body))
        .await;
    assert_eq!(reply, (StatusCode::OK, json!("Command will now be run on 503 agents")));
    let summary: Value = eventually("the bulk run's summary", DEADLINE, async || {
        let db = stack.api.db.pool().get().await.unwrap();
        let row = db
            .query_opt("SELECT summary FROM bulk_runs WHERE summary IS NOT NULL", &[])
            .await
            .unwrap();
        let done = "SELECT count(*) FROM agent_history WHERE bulk_run_id IS NOT NULL AND results IS NOT NULL";
        let done: i64 = db.query_one(done, &[]).await.unwrap().get(0);
        row.map(|r| r.get(0))
            .ok_or(format!("not finished; {done} agents have a result"))
    })
    .await;
    eprintln!("503 agents accounted for in {:?}: {summary}", started.elapsed());
    assert_eq!(
        summary,
        json!({"total": 503, "replied": 243, "timeout": 10, "offline": 250, "error": 0, "unanswered": 0})
    );

    let outcomes = outcomes(&stack).await;
    assert_eq!(outcomes.len(), 503, "only the site's agents are targeted");
    let hostname = tokio::process::Command::new("hostname").output().await.unwrap();
    let hostname = String::from_utf8(hostname.stdout).unwrap();
    for id in &real {
        let result = outcomes[id]
            .as_deref()
            .unwrap_or_else(|| panic!("no result for real agent {id}"));
        assert_eq!(result.trim(), hostname.trim(), "real agent {id}");
    }
    for (i, (id, _)) in simulated.iter().enumerate() {
        let expected = match i {
            0..240 => format!("{id} ran hostname"),
            240..250 => "timeout".to_owned(),
            _ => "offline".to_owned(),
        };
        assert_eq!(outcomes[id].as_deref(), Some(expected.as_str()), "simulated agent #{i}");
    }
    assert!(elsewhere.iter().all(|(id, _)| !outcomes.contains_key(id)));
    stack.shutdown().await;
}
