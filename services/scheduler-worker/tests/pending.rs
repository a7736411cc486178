//! Commands queued for offline agents (`queue_if_offline`): listed and cancellable through the API, run by
//! trmm-worker as soon as the agent answers again, expired after TRMM_PENDING_ACTION_TTL. Simulated agents
//! here; services/agent/tests/remote.rs does the same with the real trmm-agent.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{responders, seed, suite, Suite};

async fn queue(s: &Suite, id: &str, cmd: &str) -> (StatusCode, Value) {
    s.api
        .call(
            Method::POST,
            &format!("/agents/{id}/cmd/"),
            Some(&s.admin),
            Some(json!({"shell": "/bin/bash", "cmd": cmd, "timeout": 5, "queue_if_offline": true})),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_command_runs_when_the_agent_is_back_and_a_cancelled_one_never() {
    let s = suite(true, &[]).await;
    let (_, site) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let id = seed(&s.api, site, 1, 1).await.remove(0);

    // Without the flag: upstream's answer once the timeout (+2 s) has passed.
    let (status, body) = s
        .api
        .call(
            Method::POST,
            &format!("/agents/{id}/cmd/"),
            Some(&s.admin),
            Some(json!({"shell": "/bin/bash", "cmd": "uptime", "timeout": 1})),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!("Unable to contact the agent"))
    );
    let (status, body) = queue(&s, &id, "echo first").await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!("sim-1 is offline: queued, it will run when the agent is back online")
        )
    );
    queue(&s, &id, "echo cancelled").await;
    queue(&s, &id, "echo second").await;

    let (status, list) = s.api.get("/logs/pendingactions/", &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 3);
    let first = &list[0];
    assert_eq!(first["hostname"], "sim-1");
    assert_eq!(first["client"], "Acme");
    assert_eq!(first["site"], "HQ");
    assert_eq!(first["action_type"], "runcmd");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["due"], "On next checkin");
    assert_eq!(first["description"], "Run command: echo first");
    assert_eq!(first["details"]["cmd"], "echo first");
    let (_, for_agent) = s.api.get(&format!("/agents/{id}/pendingactions/"), &s.admin).await;
    assert_eq!(for_agent.as_array().unwrap().len(), 3);

    let cancel = format!("/logs/pendingactions/{}/", list[1]["id"]);
    let (status, body) = s.api.call(Method::DELETE, &cancel, Some(&s.admin), None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!("sim-1: Run command: echo cancelled was cancelled")
        )
    );
    let (status, _) = s.api.call(Method::DELETE, &cancel, Some(&s.admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The agent comes back: both remaining commands run, in the order they were queued.
    let seen = responders(&s.nats.url(), std::slice::from_ref(&id), false).await;
    assert_eq!(
        s.api.command_result("echo second").await,
        format!("{id} ran echo second")
    );
    assert_eq!(s.api.command_result("echo first").await, format!("{id} ran echo first"));
    assert_eq!(s.api.command_result("echo cancelled").await, "cancelled");
    let ran: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, c)| c.payload["command"].clone())
        .collect();
    assert_eq!(ran, ["echo first", "echo second"]);
    let (_, list) = s.api.get("/logs/pendingactions/", &s.admin).await;
    for action in list.as_array().unwrap() {
        assert_eq!(action["status"], "completed", "{action}");
        assert_eq!(action["details"]["result"], "replied");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_commands_expire_and_never_run() {
    let s = suite(true, &["--pending-action-ttl", "2s"]).await;
    let (_, site) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let id = seed(&s.api, site, 1, 1).await.remove(0);
    let (status, _) = queue(&s, &id, "echo too late").await;
    assert_eq!(status, StatusCode::OK);

    let result = s.api.command_result("echo too late").await;
    assert_eq!(result, "expired: the agent did not come back online in time");
    let (_, list) = s.api.get("/logs/pendingactions/", &s.admin).await;
    assert_eq!(list[0]["status"], "completed");
    assert_eq!(list[0]["details"]["expired"], true);

    // An agent that comes back later is not sent the expired command.
    let seen = responders(&s.nats.url(), std::slice::from_ref(&id), false).await;
    let (status, body) = queue(&s, &id, "echo fresh").await;
    assert_eq!((status, body), (StatusCode::OK, json!(format!("{id} ran echo fresh"))));
    let ran: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, c)| c.payload["command"].clone())
        .collect();
    assert_eq!(ran, ["echo fresh"]);
}

/// The queued action's status and whether a worker holds it.
async fn action_state(s: &Suite) -> (String, bool) {
    let db = s.api.db.pool().get().await.unwrap();
    let row = db
        .query_one("SELECT status, claimed_until IS NOT NULL FROM pending_actions", &[])
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

async fn wait_for_state(s: &Suite, expected: (&str, bool)) {
    let start = std::time::Instant::now();
    loop {
        let (status, claimed) = action_state(s).await;
        if (status.as_str(), claimed) == expected {
            return;
        }
        assert!(
            start.elapsed() < support::DEADLINE,
            "never {expected:?}: {status} {claimed}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_while_sending_a_queued_command_gives_it_back() {
    let mut s = suite(true, &[]).await;
    let (_, site) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let id = seed(&s.api, site, 1, 1).await.remove(0);
    let (status, _) = queue(&s, &id, "echo interrupted").await;
    assert_eq!(status, StatusCode::OK);

    // The agent is back but does not answer yet: the worker claims the action and waits on the agent.
    let seen = responders(&s.nats.url(), std::slice::from_ref(&id), true).await;
    let start = std::time::Instant::now();
    while seen.lock().unwrap().is_empty() {
        assert!(
            start.elapsed() < support::DEADLINE,
            "the command never reached the agent"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    wait_for_state(&s, ("pending", true)).await;
    s.stop_worker();
    // Given back at once, not completed as a timeout, nor held until the claim runs out.
    wait_for_state(&s, ("pending", false)).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "sent once");
}
