//! `POST /agents/actions/bulk/` and the pending-action endpoints as the API answers them: permissions, role
//! scope, validation, and what a bulk run writes before trmm-worker takes over (the fan-out itself is tested in
//! services/scheduler-worker/tests).

mod common;

use common::{agent_id, api_with_acme_hq, user, TestApi};
use reqwest::StatusCode;
use serde_json::{json, Value};

const DENIED: &str = "You do not have permission to perform this action.";

async fn bulk(api: &TestApi, token: &str, body: Value) -> (StatusCode, Value) {
    api.post("/agents/actions/bulk/", token, body).await
}

fn command(target: Value) -> Value {
    let mut body = json!({"mode": "command", "monType": "all", "osType": "all", "cmd": "uptime",
                          "shell": "/bin/bash", "timeout": 30});
    body.as_object_mut()
        .unwrap()
        .extend(target.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn bulk_runs_are_scoped_validated_and_recorded() {
    let (api, admin, acme, hq, installer) = api_with_acme_hq().await;
    let (other, _) = api.client_with_site(&admin, "Other", "Main").await;
    for n in 1..=3 {
        api.enroll(&installer, &agent_id(n), &format!("host{n}"), hq).await;
    }

    let (status, body) = bulk(&api, &admin, command(json!({"target": "client", "client": acme}))).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!("Command will now be run on 3 agents"))
    );
    let conn = api.db.pool().get().await.unwrap();
    let run = conn
        .query_one("SELECT id, mode, agent_count, reply_timeout FROM bulk_runs", &[])
        .await
        .unwrap();
    assert_eq!(
        (run.get::<_, String>(1), run.get::<_, i32>(2), run.get::<_, i32>(3)),
        ("command".into(), 3, 32)
    );
    let rows = conn
        .query(
            "SELECT type, command, username, results FROM agent_history WHERE bulk_run_id = $1",
            &[&run.get::<_, i64>(0)],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r.get::<_, String>(0), "cmd_run");
        assert_eq!(r.get::<_, String>(1), "uptime");
        assert_eq!(r.get::<_, String>(2), "admin");
    }
    assert_eq!(trmm_db::audit::count(&conn, "bulk_action", "admin").await.unwrap(), 1);

    // Upstream's answers for empty selections and bad input.
    let cases = [
        (
            command(json!({"target": "agents", "agents": []})),
            json!("Must select at least 1 agent"),
        ),
        (
            command(json!({"target": "client", "client": other})),
            json!("No agents were found meeting the selected criteria"),
        ),
        (
            command(json!({"target": "all", "osType": "windows"})),
            json!("No agents were found meeting the selected criteria"),
        ),
        (
            command(json!({"target": "nowhere"})),
            json!({"target": ["\"nowhere\" is not a valid choice."]}),
        ),
        (
            json!({"mode": "command", "target": "all", "cmd": " ", "shell": "/bin/bash", "timeout": 30}),
            json!({"cmd": ["This field may not be blank."]}),
        ),
        (
            json!({"mode": "script", "target": "all", "script": 999, "timeout": 30}),
            json!({"script": ["Invalid pk \"999\" - object does not exist."]}),
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = bulk(&api, &admin, body.clone()).await;
        assert_eq!((status, answer), (StatusCode::BAD_REQUEST, expected), "{body}");
    }

    // can_run_bulk is required, and a role limited to one client cannot target another.
    let plain = user(&api, "plain", &["can_list_agents"], None).await;
    let (status, body) = bulk(&api, &plain, command(json!({"target": "all"}))).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": DENIED})));
    let scoped = user(&api, "scoped", &["can_run_bulk"], Some(other)).await;
    let (status, body) = bulk(&api, &scoped, command(json!({"target": "client", "client": acme}))).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"detail": DENIED})));
    let (status, body) = bulk(&api, &scoped, command(json!({"target": "all"}))).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!("No agents were found meeting the selected criteria")
        ),
        "the role sees no agent"
    );
}

#[tokio::test]
async fn pending_actions_need_their_permissions_and_scope() {
    let (api, admin, _, hq, installer) = api_with_acme_hq().await;
    let (pk, _) = api.enroll(&installer, &agent_id(1), "host1", hq).await;
    let conn = api.db.pool().get().await.unwrap();
    let details = json!({"time": "2030-01-01 10:00", "taskname": "TacticalRMM_SchedReboot_x"});
    let id = trmm_db::pending::create(&conn, trmm_db::AgentPk(pk as i32), "schedreboot", &details)
        .await
        .unwrap();

    let (status, list) = api.get("/logs/pendingactions/", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list[0]["description"], "Device pending reboot");
    assert_eq!(list[0]["due"], "2030-01-01 10:00");
    assert_eq!(list[0]["agent"], pk);

    let viewer = user(&api, "viewer", &["can_list_pendingactions"], None).await;
    let (status, _) = api
        .get(&format!("/agents/{}/pendingactions/", agent_id(1)), &viewer)
        .await;
    assert_eq!(status, StatusCode::OK);
    let path = format!("/logs/pendingactions/{id}/");
    let (status, _) = api.delete(&path, &viewer).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let nobody = user(&api, "nobody", &["can_list_agents"], None).await;
    let (status, _) = api.get("/logs/pendingactions/", &nobody).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = api.delete(&path, &admin).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!("host1: Device pending reboot was cancelled"))
    );
}
