//! Bulk commands end to end: trmm-api enqueues on real Redis, trmm-worker (in-process) fans out through an
//! in-process AgentGateway's PublishMany over a real nats-server to simulated agents, and every agent's history
//! row ends with its reply, `timeout` or `offline`.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{responders, seed, start_gateway, suite, Suite, DEADLINE};
use trmm_api::testing::TestApi;

/// Each agent's history `results` for the run, by agent_id.
async fn outcomes(api: &TestApi) -> HashMap<String, Option<String>> {
    let db = api.db.pool().get().await.unwrap();
    let rows = db
        .query(
            "SELECT a.agent_id, h.results FROM agent_history h JOIN agents a ON a.id = h.agent_pk
             WHERE h.bulk_run_id IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// Waits until the run is finished and returns its summary.
async fn summary(api: &TestApi) -> Value {
    let start = Instant::now();
    loop {
        let db = api.db.pool().get().await.unwrap();
        let row = db
            .query_opt("SELECT summary FROM bulk_runs WHERE summary IS NOT NULL", &[])
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the bulk run did not finish within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts a bulk run, which must be accepted with `answer`, and waits for its summary.
async fn accepted_run(s: &Suite, body: Value, answer: &str) -> Value {
    assert_eq!(bulk(s, body).await, (StatusCode::OK, json!(answer)));
    summary(&s.api).await
}

async fn bulk(s: &Suite, body: Value) -> (StatusCode, Value) {
    s.api
        .call(Method::POST, "/agents/actions/bulk/", Some(&s.admin), Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_thousand_agents_are_all_accounted_for() {
    let s = suite(true, &[]).await;
    let (_, site) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let ids = seed(&s.api, site, 1, 5000).await;
    responders(&s.nats.url(), &ids[..290], false).await;
    responders(&s.nats.url(), &ids[290..300], true).await;

    let started = Instant::now();
    let summary = accepted_run(
        &s,
        json!({"mode": "command", "target": "all", "monType": "all", "osType": "all", "cmd": "uptime",
               "shell": "/bin/bash", "timeout": 2, "run_as_user": false}),
        "Command will now be run on 5000 agents",
    )
    .await;
    eprintln!("5000 agents accounted for in {:?}: {summary}", started.elapsed());
    assert_eq!(
        summary,
        json!({"total": 5000, "replied": 290, "timeout": 10, "offline": 4700, "error": 0, "unanswered": 0})
    );
    let outcomes = outcomes(&s.api).await;
    assert_eq!(outcomes.len(), 5000);
    for (i, id) in ids.iter().enumerate() {
        let expected = match i {
            0..290 => format!("{id} ran uptime"),
            290..300 => "timeout".to_owned(),
            _ => "offline".to_owned(),
        };
        assert_eq!(outcomes[id].as_deref(), Some(expected.as_str()), "agent #{i}");
    }
    let db = s.api.db.pool().get().await.unwrap();
    assert_eq!(trmm_db::audit::count(&db, "bulk_action", "admin").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_queue_entry_for_a_running_run_does_not_time_out_its_agents() {
    let s = suite(true, &[]).await;
    let (_, site) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let ids = seed(&s.api, site, 1, 20).await;
    responders(&s.nats.url(), &ids[..19], false).await;
    // One silent agent keeps the attempt's reply window open until its deadline.
    responders(&s.nats.url(), &ids[19..], true).await;

    let body = json!({"mode": "command", "target": "all", "cmd": "uptime", "shell": "/bin/bash", "timeout": 2});
    assert_eq!(
        bulk(&s, body).await,
        (StatusCode::OK, json!("Command will now be run on 20 agents"))
    );
    // As the worker's Redis-loss recovery (or a re-delivery) would: the same run queued again while it runs.
    let db = s.api.db.pool().get().await.unwrap();
    let run_id: i64 = db.query_one("SELECT id FROM bulk_runs", &[]).await.unwrap().get(0);
    s.enqueue(trmm_jobs::BulkRun { run_id }).await;

    assert_eq!(
        summary(&s.api).await,
        json!({"total": 20, "replied": 19, "timeout": 1, "offline": 0, "error": 0, "unanswered": 0})
    );
    let outcomes = outcomes(&s.api).await;
    for id in &ids[..19] {
        assert_eq!(outcomes[id].as_deref(), Some(format!("{id} ran uptime").as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_site_target_reaches_that_sites_agents_only() {
    let s = suite(true, &[]).await;
    let (client, site) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let (_, other_site) = s.api.client_with_site(&s.admin, "Other", "Elsewhere").await;
    let own = seed(&s.api, site, 10_000, 3).await;
    let simulated = seed(&s.api, site, 20_000, 500).await;
    let elsewhere = seed(&s.api, other_site, 30_000, 20).await;
    // Three agents on connections of their own, as agents have (services/agent/tests/bulk_e2e.rs runs the same
    // with real trmm-agent processes); half the others answer.
    for id in &own {
        responders(&s.nats.url(), std::slice::from_ref(id), false).await;
    }
    responders(&s.nats.url(), &simulated[..250], false).await;
    responders(&s.nats.url(), &elsewhere, false).await;

    let summary = accepted_run(
        &s,
        json!({"mode": "command", "target": "site", "client": client, "site": site, "monType": "all",
               "osType": "linux", "cmd": "hostname", "shell": "/bin/bash", "timeout": 5}),
        "Command will now be run on 503 agents",
    )
    .await;
    assert_eq!(
        summary,
        json!({"total": 503, "replied": 253, "timeout": 0, "offline": 250, "error": 0, "unanswered": 0})
    );
    let outcomes = outcomes(&s.api).await;
    assert_eq!(outcomes.len(), 503, "only the site's agents are targeted");
    for id in own.iter().chain(&simulated[..250]) {
        assert_eq!(outcomes[id].as_deref(), Some(format!("{id} ran hostname").as_str()));
    }
    assert!(elsewhere.iter().all(|id| !outcomes.contains_key(id)));

    // Filters that select nothing are refused, as upstream.
    let (status, body) = bulk(
        &s,
        json!({"mode": "command", "target": "site", "site": site, "monType": "workstations", "osType": "all",
               "cmd": "hostname", "shell": "/bin/bash", "timeout": 5}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!("No agents were found meeting the selected criteria")
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_queued_while_the_gateway_is_down_is_retried() {
    let s = suite(false, &[]).await;
    let (_, site) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let ids = seed(&s.api, site, 1, 20).await;
    responders(&s.nats.url(), &ids[..10], false).await;
    let (status, _) = bulk(
        &s,
        json!({"mode": "command", "target": "agents", "agents": ids, "monType": "all", "osType": "all",
               "cmd": "id", "shell": "/bin/bash", "timeout": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The worker finds the gateway down and retries with backoff; once it is up the run completes.
    let metrics = format!("http://{}/metrics", s.worker_listen);
    let start = Instant::now();
    loop {
        let text = reqwest::get(&metrics).await.map(|r| r.text());
        let failures = match text {
            Ok(body) => body.await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if failures
            .lines()
            .any(|l| l.starts_with("trmm_bulk_retries_total ") && !l.ends_with(" 0"))
        {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the worker never retried: {failures}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _gateway = start_gateway(async_nats::connect(s.nats.url()).await.unwrap(), &s.gateway);
    let summary = summary(&s.api).await;
    assert_eq!(
        summary,
        json!({"total": 20, "replied": 10, "timeout": 0, "offline": 10, "error": 0, "unanswered": 0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulk_script_gets_per_agent_template_arguments() {
    let s = suite(true, &[]).await;
    let (_, site) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let ids = seed(&s.api, site, 1, 4).await;
    responders(&s.nats.url(), &ids[..3], false).await;
    let script = {
        let db = s.api.db.pool().get().await.unwrap();
        let fields = trmm_db::scripts::ScriptFields {
            name: "Greet".into(),
            shell: "shell".into(),
            script_body: "echo \"$@\"".into(),
            ..Default::default()
        };
        trmm_db::scripts::create(&db, "userdefined", None, &fields, "admin")
            .await
            .unwrap()
    };
    let summary = accepted_run(
        &s,
        json!({"mode": "script", "target": "all", "monType": "all", "osType": "all", "script": script.0,
               "args": ["hello", "{{agent.hostname}}"], "env_vars": [], "timeout": 5, "run_as_user": false}),
        "Greet will now be run on 4 agents",
    )
    .await;
    assert_eq!(
        summary,
        json!({"total": 4, "replied": 3, "timeout": 0, "offline": 1, "error": 0, "unanswered": 0})
    );
    let db = s.api.db.pool().get().await.unwrap();
    let rows = db
        .query(
            "SELECT a.hostname, h.type, h.script_id, h.script_results FROM agent_history h
             JOIN agents a ON a.id = h.agent_pk WHERE h.script_results IS NOT NULL ORDER BY a.id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        let hostname: String = row.get(0);
        assert_eq!(row.get::<_, String>(1), "script_run");
        assert_eq!(row.get::<_, Option<i32>>(2), Some(script.0));
        let results: Value = row.get(3);
        // Template values are quoted for the shell, literal arguments are passed as they are.
        assert_eq!(results["stdout"], format!("hello '{hostname}'"));
    }
}

/// The simulated agents answer but never report `histresult`: the collector's custom field and the note are
/// filled from the reply alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bulk_scripts_collector_and_note_outputs_are_recorded_from_the_reply() {
    let s = suite(true, &[]).await;
    let (_, site) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let ids = seed(&s.api, site, 1, 3).await;
    responders(&s.nats.url(), &ids, false).await;
    let (script, field) = {
        let db = s.api.db.pool().get().await.unwrap();
        let fields = trmm_db::scripts::ScriptFields {
            name: "Collect".into(),
            shell: "shell".into(),
            script_body: "echo \"$@\"".into(),
            ..Default::default()
        };
        let script = trmm_db::scripts::create(&db, "userdefined", None, &fields, "admin")
            .await
            .unwrap();
        let spec = trmm_db::custom_fields::FieldSpec {
            name: "Collected".into(),
            ..Default::default()
        };
        (
            script,
            trmm_db::custom_fields::create(&db, &spec, "admin").await.unwrap(),
        )
    };
    let (status, _) = bulk(
        &s,
        json!({"mode": "script", "target": "all", "monType": "all", "osType": "all", "script": script.0,
               "args": ["seen", "{{agent.hostname}}"], "env_vars": [], "timeout": 5, "run_as_user": false,
               "custom_field": field.0, "save_to_agent_note": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let summary = summary(&s.api).await;
    assert_eq!(
        summary,
        json!({"total": 3, "replied": 3, "timeout": 0, "offline": 0, "error": 0, "unanswered": 0})
    );
    let db = s.api.db.pool().get().await.unwrap();
    let rows = db
        .query(
            "SELECT a.hostname, f.string_value, (SELECT n.note FROM agent_notes n WHERE n.agent_pk = a.id)
             FROM agents a LEFT JOIN agent_custom_fields f ON f.agent_pk = a.id AND f.field_id = $1 ORDER BY a.id",
            &[&field.0],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        let hostname: String = row.get(0);
        let expected = format!("seen '{hostname}'");
        assert_eq!(
            row.get::<_, Option<String>>(1),
            Some(expected.clone()),
            "custom field of {hostname}"
        );
        assert_eq!(row.get::<_, Option<String>>(2), Some(expected), "note of {hostname}");
    }
}
