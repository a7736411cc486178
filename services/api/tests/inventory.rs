//! Software and services views (server-api.md 3.12): trmm-api → gRPC AgentGateway → NATS → a test
//! responder answering `softwarelist`, `winservices`, `winsvcdetail` and `winsvcaction` like trmm-agent.

mod common;

use common::gateway::{responder, suite, Seen};
use common::user;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_protocol::nats::Command;

fn software() -> Value {
    json!([{"name": "bash", "version": "5.2.15-2+b8", "publisher": "Matthias Klose", "install_date": "2025-5-20",
            "size": "7.0 MB", "source": "dpkg", "location": "", "uninstall": "apt-get remove -y bash"}])
}

fn services() -> Value {
    json!([{"name": "ssh.service", "status": "running", "display_name": "OpenBSD Secure Shell server",
            "binpath": "/usr/sbin/sshd -D", "description": "OpenBSD Secure Shell server", "username": "root",
            "pid": 612, "start_type": "Automatic", "autodelay": false}])
}

/// Answers like trmm-agent; `broken.service` fails with a message, `mute.service` without one.
fn answer(cmd: &Command) -> Option<Value> {
    let name = cmd.payload.get("name").cloned().unwrap_or_default();
    Some(match cmd.func.as_str() {
        "softwarelist" => software(),
        "winservices" => services(),
        "winsvcdetail" => json!({"name": name, "status": "running"}),
        "winsvcaction" if name == "broken.service" => {
            json!({"success": false, "errormsg": "Job for broken.service failed."})
        }
        "winsvcaction" if name == "mute.service" => json!({"success": false, "errormsg": ""}),
        "winsvcaction" => json!({"success": true, "errormsg": ""}),
        _ => return None,
    })
}

#[tokio::test]
async fn software_is_refreshed_from_the_agent_and_listed_by_role() {
    let s = suite().await;
    let (id, pk, _) = s.agent(1, "alpha").await;
    let path = format!("/software/{id}/");
    assert_eq!(s.api.get(&path, &s.admin).await, (StatusCode::OK, json!([])));

    // Offline: upstream's message, nothing stored.
    let (status, body) = s.api.call(Method::PUT, &path, Some(&s.admin), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.as_str().unwrap().starts_with("Unable to contact the agent"),
        "{body}"
    );

    let seen = responder(&s, &id, answer).await;
    let (status, body) = s.api.call(Method::PUT, &path, Some(&s.admin), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    assert_eq!(seen.lock().unwrap()[0].func, "softwarelist");
    assert_eq!(seen.lock().unwrap()[0].timeout, 15);
    let stored = json!({"id": pk, "software": software(), "agent": pk});
    assert_eq!(s.api.get(&path, &s.admin).await, (StatusCode::OK, stored.clone()));
    assert_eq!(
        s.api.get("/software/", &s.admin).await,
        (StatusCode::OK, json!([stored]))
    );

    // A role on another client sees no lists and may not touch this agent's.
    let (other, _) = s.api.client_with_site(&s.admin, "Other", "Main").await;
    let flags = ["can_list_software", "can_manage_software"];
    let outsider = user(&s.api, "outsider", &flags, Some(other)).await;
    assert_eq!(s.api.get("/software/", &outsider).await, (StatusCode::OK, json!([])));
    assert_eq!(s.api.get(&path, &outsider).await.0, StatusCode::FORBIDDEN);
    // Listing is not managing.
    let viewer = user(&s.api, "viewer", &["can_list_software"], Some(s.client)).await;
    assert_eq!(s.api.get(&path, &viewer).await.0, StatusCode::OK);
    let (status, _) = s.api.call(Method::PUT, &path, Some(&viewer), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn services_are_listed_stored_inspected_and_controlled() {
    let s = suite().await;
    let (id, pk, seen) = s.answered_agent(2, "bravo", answer).await;

    let (status, body) = s.api.get(&format!("/services/{id}/"), &s.admin).await;
    assert_eq!((status, body), (StatusCode::OK, services()));
    let conn = s.api.db.pool().get().await.unwrap();
    let row = conn
        .query_one("SELECT services FROM agents WHERE id = $1", &[&(pk as i32)])
        .await
        .unwrap();
    assert_eq!(row.get::<_, Value>(0), services());

    let (status, body) = s.api.get(&format!("/services/{id}/ssh.service/"), &s.admin).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"name": "ssh.service", "status": "running"}))
    );

    let act = |svc: &str, action: Value| {
        let (api, admin, path) = (&s.api, &s.admin, format!("/services/{id}/{svc}/"));
        async move { api.post(&path, admin, action).await }
    };
    seen.lock().unwrap().clear();
    for (action, said) in [
        ("start", "The service was started successfully"),
        ("stop", "The service was stopped successfully"),
        ("restart", "The service was restarted successfully"),
    ] {
        let (status, body) = act("ssh.service", json!({"sv_action": action})).await;
        assert_eq!((status, body), (StatusCode::OK, json!(said)));
    }
    let sent = |seen: &Seen| -> Vec<String> {
        seen.lock()
            .unwrap()
            .iter()
            .map(|c| format!("{} {} {}", c.func, c.payload["name"], c.payload["action"]))
            .collect()
    };
    // A Linux agent restarts in one systemd job.
    assert_eq!(
        sent(&seen),
        [
            "winsvcaction ssh.service start",
            "winsvcaction ssh.service stop",
            "winsvcaction ssh.service restart"
        ]
    );
    // Other platforms get upstream's stop, then start.
    conn.execute("UPDATE agents SET plat = 'windows' WHERE id = $1", &[&(pk as i32)])
        .await
        .unwrap();
    seen.lock().unwrap().clear();
    let (status, _) = act("Spooler", json!({"sv_action": "restart"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sent(&seen), ["winsvcaction Spooler stop", "winsvcaction Spooler start"]);

    for (svc, action, said) in [
        (
            "broken.service",
            json!({"sv_action": "start"}),
            json!("Job for broken.service failed."),
        ),
        (
            "mute.service",
            json!({"sv_action": "stop"}),
            json!("Something went wrong"),
        ),
        (
            "ssh.service",
            json!({"sv_action": "mask"}),
            json!({"sv_action": ["\"mask\" is not a valid choice."]}),
        ),
        (
            "ssh.service",
            json!({}),
            json!({"sv_action": ["This field is required."]}),
        ),
    ] {
        let (status, body) = act(svc, action.clone()).await;
        assert_eq!((status, body), (StatusCode::BAD_REQUEST, said), "{svc} {action}");
    }

    // can_manage_winsvcs is required for all of it.
    let tech = user(&s.api, "tech", &["can_list_agents"], Some(s.client)).await;
    assert_eq!(
        s.api.get(&format!("/services/{id}/"), &tech).await.0,
        StatusCode::FORBIDDEN
    );
    let path = format!("/services/{id}/ssh.service/");
    let (status, _) = s.api.post(&path, &tech, json!({"sv_action": "stop"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
