//! End to end with nothing mocked (see common/stack.rs): the real trmm-agent enrolled through an installer token,
//! driven through trmm-api, the AgentGateway and nats-server with the auth callout, across restarts and deletion.

mod common;
#[path = "common/stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use stack::{eventually, marked_processes, Stack, DEADLINE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolled_agent_is_online_with_its_inventory_within_10_s() {
    let stack = Stack::start().await;
    let enrolling = Instant::now();
    let config = stack.install().await;
    let _agent = stack.spawn_svc(&stack.config_path);
    let id = config.agent_id.as_str();

    let within = Duration::from_secs(10).saturating_sub(enrolling.elapsed());
    let (row, detail) = eventually("online with its inventory", within, async || {
        let list = stack.get("/agents/").await?;
        let row = list
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["agent_id"] == id)
            .cloned();
        let row = row.ok_or(format!("{id} not in {list}"))?;
        let detail = stack.get(&format!("/agents/{id}/")).await?;
        // Enrollment already sets last_seen (as upstream does); only a heartbeat writes the version.
        let complete = row["status"] == "online"
            && row["version"] == trmm_agent::VERSION
            && detail["status"] == "online"
            && detail["total_ram"].as_i64().is_some_and(|r| r > 0)
            && detail["disks"].as_array().is_some_and(|d| !d.is_empty())
            && detail["local_ips"]
                .as_str()
                .is_some_and(|ips| !ips.is_empty() && !ips.contains("error"));
        complete
            .then_some((row.clone(), detail.clone()))
            .ok_or(format!("{row}\n{detail}"))
    })
    .await;
    eprintln!(
        "online with its inventory {:?} after install began",
        enrolling.elapsed()
    );

    let hostname = trmm_agent::telemetry::info::hostname();
    for view in [&row, &detail] {
        assert_eq!(view["hostname"], hostname.as_str());
        assert_eq!(view["plat"], "linux");
        assert_eq!(view["local_ips"], detail["local_ips"]);
        let os = view["operating_system"].as_str().unwrap_or_default();
        assert!(os.contains(std::env::consts::ARCH), "operating_system {os:?}");
    }
    assert_eq!(detail["agent_id"], id);
    assert_eq!(detail["version"], trmm_agent::VERSION, "{detail}");
    assert_eq!(row["client_name"], "Acme");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_and_commands_round_trip_through_the_api() {
    let (stack, config) = Stack::enrolled().await;
    let _agent = stack.spawn_svc(&stack.config_path);
    let id = config.agent_id.clone();
    eventually("ping online", DEADLINE, async || stack.ping(&id).await).await;

    let cmd_path = format!("/agents/{id}/cmd/");
    let cmd = |cmd: &str, timeout: i64| json!({"shell": "/bin/bash", "cmd": cmd, "timeout": timeout});
    let started = Instant::now();
    let (status, body) = stack
        .api
        .call(Method::POST, &cmd_path, Some(&stack.admin), Some(cmd("echo hello", 10)))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.as_str().map(str::trim), Some("hello"), "{body}");
    eprintln!("echo hello answered in {:?}", started.elapsed());
    let recorded = stack.history_results(config.agent_pk, "echo hello").await;
    assert_eq!(recorded.as_deref().map(str::trim), Some("hello"));

    // The command past its timeout: seen running, then killed with its whole process group.
    let sleep = ["sleep", "30"];
    let request = {
        let (api, admin, path, body) = (
            stack.api.url.clone(),
            stack.admin.clone(),
            cmd_path.clone(),
            cmd("sleep 30", 2),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let resp = reqwest::Client::new()
                .post(format!("{api}{path}"))
                .header("Authorization", format!("Token {admin}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap(), started.elapsed())
        })
    };
    eventually("`sleep 30` running", DEADLINE, async || {
        let pids = marked_processes(&stack.marker, &sleep);
        (!pids.is_empty()).then_some(()).ok_or("no such process".into())
    })
    .await;
    let (status, body, took) = request.await.unwrap();
    eprintln!("sleep 30 with timeout 2 answered in {took:?}");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(took < Duration::from_secs(6), "answered after {took:?}");
    let text = body.as_str().unwrap_or_default();
    assert!(text.contains("Timed out after 2 seconds"), "{body}");
    eventually("`sleep 30` killed", Duration::from_secs(5), async || {
        let pids = marked_processes(&stack.marker, &sleep);
        pids.is_empty().then_some(()).ok_or(format!("still running: {pids:?}"))
    })
    .await;
    let recorded = stack
        .history_results(config.agent_pk, "sleep 30")
        .await
        .unwrap_or_default();
    assert!(recorded.contains("Timed out after 2 seconds"), "{recorded:?}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_and_postgres_restarts_reconnect_by_themselves_and_lose_no_heartbeat() {
    let (mut stack, config) = Stack::enrolled().await;
    let agent = stack.spawn_svc(&stack.config_path);
    let id = config.agent_id.clone();
    eventually("ping online", DEADLINE, async || stack.ping(&id).await).await;
    stack.heartbeat_after(&id, Utc::now(), "a first heartbeat").await;

    // nats-server down for 10 s (the outage under test, not a wait), then back on the same port and config.
    stack.nats.stop().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    stack.nats.restart().await;
    let restarted = Utc::now();
    let clock = Instant::now();
    stack
        .heartbeat_after(&id, restarted, "a heartbeat after the NATS restart")
        .await;
    eprintln!("heartbeat after the NATS restart within {:?}", clock.elapsed());
    eventually("ping online after the NATS restart", DEADLINE, async || {
        stack.ping(&id).await
    })
    .await;
    stack
        .heartbeat_after(&id, Utc::now(), "steady heartbeats after the NATS restart")
        .await;
    stack.wait_ready().await;

    // Postgres: the test database refuses connections and loses its sessions, as in a server restart.
    let (hellos, failures) = (
        "trmm_telemetry_received_total{kind=\"hello\"}",
        "trmm_heartbeat_batch_failures_total",
    );
    let (before, failed_before) = (stack.metric(hellos).await, stack.metric(failures).await);
    let began = Utc::now();
    stack.api.db.begin_outage().await;
    let down = Instant::now();
    eventually("heartbeats received while Postgres is down", DEADLINE, async || {
        let (received, failed) = (
            stack.metric(hellos).await - before,
            stack.metric(failures).await - failed_before,
        );
        (received >= 2.0 && failed >= 1.0)
            .then_some(())
            .ok_or(format!("{received} hellos, {failed} failed writes"))
    })
    .await;
    // Freeze the agent before Postgres returns: whatever last_seen then shows can only come from the
    // heartbeats it sent during the outage.
    let pid = nix::unistd::Pid::from_raw(agent.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let frozen = Utc::now();
    stack.api.db.end_outage().await;
    let (lasted, restored) = (down.elapsed(), Instant::now());
    let seen = stack
        .heartbeat_after(&id, began, "the heartbeats sent during the outage")
        .await;
    eprintln!(
        "Postgres down {lasted:?}; outage heartbeats written {:?} after it came back",
        restored.elapsed()
    );
    assert!(
        seen < frozen + chrono::TimeDelta::seconds(1),
        "{seen} is not from before {frozen}"
    );
    assert_eq!(
        stack.metric("trmm_telemetry_dropped_total{reason=\"db_error\"}").await,
        0.0
    );
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    stack
        .heartbeat_after(&id, Utc::now(), "steady heartbeats after the Postgres outage")
        .await;
    eventually("ping online after the Postgres outage", DEADLINE, async || {
        stack.ping(&id).await
    })
    .await;
    stack.wait_ready().await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_an_agent_uninstalls_it_and_refuses_its_reconnects() {
    let (stack, config) = Stack::enrolled().await;
    let mut agent = stack.spawn_svc(&stack.config_path);
    let id = config.agent_id.clone();
    eventually("ping online", DEADLINE, async || stack.ping(&id).await).await;
    let old_config = stack.dir.path().join("old-agent.json");
    std::fs::copy(&stack.config_path, &old_config).unwrap();

    let started = Instant::now();
    let (status, body) = stack
        .api
        .call(Method::DELETE, &format!("/agents/{id}/"), Some(&stack.admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let exit = agent.exited(DEADLINE).await;
    eprintln!("agent exited {exit} {:?} after the delete", started.elapsed());
    assert_eq!(exit.code(), Some(0), "{}", agent.log());
    assert!(
        agent.log().contains("uninstall requested by the server"),
        "{}",
        agent.log()
    );
    assert!(!stack.config_path.exists(), "the config was not removed");
    assert!(!stack.dir.path().join("systemd/trmm-agent.service").exists());
    let (status, _) = stack.api.get(&format!("/agents/{id}/"), &stack.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Its credentials no longer get in, neither for a client nor for a fresh `svc` with the old config.
    let refused = async_nats::ConnectOptions::with_user_and_password(id.clone(), config.token.clone())
        .connect(stack.nats.url())
        .await
        .expect_err("the deleted agent's credentials were accepted");
    assert_eq!(
        refused.kind(),
        async_nats::ConnectErrorKind::AuthorizationViolation,
        "{refused}"
    );
    let revived = stack.spawn_svc(&old_config);
    eventually("the revived agent refused", DEADLINE, async || {
        let log = revived.log();
        let refused = |l: &str| l.contains("NATS connection attempt failed") && l.contains("authorization violation");
        log.lines().any(refused).then_some(()).ok_or(log)
    })
    .await;
    assert!(!revived.log().contains("connected to NATS"), "{}", revived.log());
    stack.shutdown().await;
}
