//! `PATCH /logs/audit/` (server-api.md 3.8) over the rows the product writes (2.7): logins, failed logins, model
//! changes with their before and after values, commands, bulk actions; with the IP of each request, filtered,
//! paged, sorted and scoped by role; malformed filters are 400s.

mod common;

use std::collections::BTreeSet;

use common::gateway::suite;
use common::{agent_id, api_with_acme_hq, bravo_at_other, count, user, TestApi, ADMIN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_protocol::nats::Command;

/// `PATCH /logs/audit/` as `token`, which must answer 200; returns the rows and the total.
async fn audit(api: &TestApi, token: &str, body: Value) -> (Vec<Value>, i64) {
    let (status, page) = api.call(Method::PATCH, "/logs/audit/", Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let rows = page["audit_logs"].as_array().unwrap().clone();
    (rows, page["total"].as_i64().unwrap())
}

/// The set of `key` over the rows.
fn set<'a>(rows: &'a [Value], key: &str) -> BTreeSet<&'a str> {
    rows.iter().map(|r| r[key].as_str().unwrap_or("-")).collect()
}

fn answer(cmd: &Command) -> Option<Value> {
    (cmd.func == "rawcmd").then(|| json!("up 3 days"))
}

#[tokio::test]
async fn the_audit_log_shows_logins_changes_commands_and_bulk_actions_with_ips() {
    let s = suite().await;
    let api = &s.api;
    let (alpha, _, _) = s.answered_agent(1, "alpha", answer).await;
    assert_eq!(
        api.login(ADMIN, "wrong", &api.totp_now()).await.0,
        StatusCode::BAD_REQUEST
    );
    user(api, "tech", &["can_list_agents"], None).await;
    let rename = json!({"client": {"name": "Acme Corp"}});
    assert_eq!(
        api.put(&format!("/clients/{}/", s.client), &s.admin, rename).await.0,
        StatusCode::OK
    );
    let cmd = json!({"shell": "/bin/bash", "cmd": "uptime", "timeout": 10, "run_as_user": false});
    let (status, body) = api.post(&format!("/agents/{alpha}/cmd/"), &s.admin, cmd).await;
    assert_eq!((status, body), (StatusCode::OK, json!("up 3 days")));
    let bulk = json!({"mode": "command", "target": "all", "cmd": "uptime", "shell": "/bin/bash", "timeout": 30});
    assert_eq!(
        api.post("/agents/actions/bulk/", &s.admin, bulk).await.0,
        StatusCode::OK
    );

    // Every row carries the IP its request came from, and the columns upstream's serializer renders.
    let (all, total) = audit(api, &s.admin, json!({"pagination": {"rowsPerPage": 100}})).await;
    assert_eq!(total as usize, all.len());
    assert!(all.iter().all(|r| r["ip_address"] == "127.0.0.1"), "{all:?}");
    assert_eq!(
        common::keys(&all[0]),
        [
            "action",
            "after_value",
            "agent",
            "agent_id",
            "before_value",
            "debug_info",
            "entry_time",
            "id",
            "ip_address",
            "message",
            "object_type",
            "site",
            "username"
        ]
    );
    let actions = set(&all, "action");
    for a in [
        "login",
        "failed_login",
        "add",
        "modify",
        "agent_install",
        "execute_command",
        "bulk_action",
    ] {
        assert!(actions.contains(a), "{a} in {actions:?}");
    }

    // By user.
    let (rows, _) = audit(api, &s.admin, json!({"userFilter": ["tech"]})).await;
    assert_eq!((rows.len(), &rows[0]["action"]), (1, &json!("login")));
    // By action: both logins and the failed one.
    let (rows, logins) = audit(api, &s.admin, json!({"actionFilter": ["login", "failed_login"]})).await;
    assert_eq!((set(&rows, "username"), logins), (BTreeSet::from([ADMIN, "tech"]), 3));
    // The client update, with its values before and after.
    let (rows, _) = audit(
        api,
        &s.admin,
        json!({"actionFilter": ["modify"], "objectFilter": ["client"]}),
    )
    .await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (&rows[0]["before_value"]["name"], &rows[0]["after_value"]["name"]),
        (&json!("Acme"), &json!("Acme Corp"))
    );
    assert_eq!(rows[0]["message"], "admin modified client Acme Corp");
    // By agent: its install and the command, placed at its site.
    let (rows, _) = audit(api, &s.admin, json!({"agentFilter": [alpha]})).await;
    assert_eq!(
        set(&rows, "action"),
        BTreeSet::from(["agent_install", "execute_command"])
    );
    let command = rows.iter().find(|r| r["action"] == "execute_command").unwrap();
    assert_eq!(
        (&command["agent"], &command["after_value"]["cmd"]),
        (&json!("alpha"), &json!("uptime"))
    );
    assert_eq!(
        (&command["site"]["name"], &command["site"]["client_name"]),
        (&json!("HQ"), &json!("Acme Corp"))
    );
    // The bulk action, with the body and the agents it reached.
    let (rows, _) = audit(api, &s.admin, json!({"actionFilter": ["bulk_action"]})).await;
    assert_eq!(rows[0]["object_type"], "bulk");
    assert_eq!(rows[0]["after_value"]["hostnames"], json!(["alpha"]));
    assert_eq!(rows[0]["after_value"]["cmd"], "uptime");

    // By days back: a row from ten days ago is outside a week and inside a month.
    let conn = api.db.pool().get().await.unwrap();
    let sql = "UPDATE audit_logs SET entry_time = now() - interval '10 days' WHERE action = 'failed_login'";
    conn.execute(sql, &[]).await.unwrap();
    let (rows, _) = audit(api, &s.admin, json!({"timeFilter": 7})).await;
    assert!(!set(&rows, "action").contains("failed_login"));
    let (rows, _) = audit(
        api,
        &s.admin,
        json!({"timeFilter": 30, "actionFilter": ["failed_login"]}),
    )
    .await;
    assert_eq!(rows.len(), 1);

    // Paged: pages of 2, newest first, together are the whole log in order; sorted by other columns too.
    let page =
        |n: i64| json!({"pagination": {"sortBy": "entry_time", "descending": true, "page": n, "rowsPerPage": 2}});
    let mut paged = Vec::new();
    for n in 1..=(total + 1) / 2 {
        let (rows, t) = audit(api, &s.admin, page(n)).await;
        assert_eq!(t, total);
        assert!(rows.len() <= 2);
        paged.extend(rows);
    }
    let (newest_first, _) = audit(api, &s.admin, json!({"pagination": {"rowsPerPage": 100}})).await;
    assert_eq!(paged, newest_first);
    assert!(
        audit(api, &s.admin, page(total + 1)).await.0.is_empty(),
        "past the last page"
    );
    let by_user = json!({"pagination": {"sortBy": "username", "descending": false, "rowsPerPage": 100}});
    let (rows, _) = audit(api, &s.admin, by_user).await;
    assert_eq!(rows.last().unwrap()["username"], "tech");
    for column in [
        "agent",
        "action",
        "object_type",
        "message",
        "client",
        "site",
        "client_ip",
        "id",
    ] {
        let body = json!({"pagination": {"sortBy": column, "descending": true, "rowsPerPage": 5}});
        assert_eq!(audit(api, &s.admin, body).await.1, total, "sorted by {column}");
    }
}

#[tokio::test]
async fn a_role_limited_to_one_client_sees_only_its_rows_and_the_global_ones() {
    let (api, admin, acme, hq, installer) = api_with_acme_hq().await;
    let alpha = agent_id(1);
    api.enroll(&installer, &alpha, "alpha", hq).await;
    let (bravo, _, main) = bravo_at_other(&api, &admin).await;
    let other = {
        let (_, site) = api.get(&format!("/clients/sites/{main}/"), &admin).await;
        site["client"].as_i64().unwrap()
    };
    for (client, name) in [(acme, "Acme 2"), (other, "Other 2")] {
        let body = json!({"client": {"name": name}});
        assert_eq!(
            api.put(&format!("/clients/{client}/"), &admin, body).await.0,
            StatusCode::OK
        );
    }
    for agent in [&alpha, &bravo] {
        let body = json!({"description": "edited"});
        assert_eq!(
            api.put(&format!("/agents/{agent}/"), &admin, body).await.0,
            StatusCode::OK
        );
    }
    let settings = json!({"date_format": "YYYY-MM-DD"});
    assert_eq!(api.put("/core/settings/", &admin, settings).await.0, StatusCode::OK);
    // A bulk run on Acme's agents is placed at Acme; one across both clients names no hostnames.
    let bulk = json!({"mode": "command", "cmd": "uptime", "shell": "/bin/bash", "timeout": 30});
    for target in [json!({"target": "client", "client": acme}), json!({"target": "all"})] {
        let mut body = bulk.clone();
        body.as_object_mut()
            .unwrap()
            .extend(target.as_object().unwrap().clone());
        assert_eq!(api.post("/agents/actions/bulk/", &admin, body).await.0, StatusCode::OK);
    }
    // Deleted agents keep their rows where they were: alpha's stay out of reach, bravo's in it.
    for agent in [&alpha, &bravo] {
        assert_eq!(api.delete(&format!("/agents/{agent}/"), &admin).await.0, StatusCode::OK);
    }
    let tech = user(&api, "tech", &["can_view_auditlogs"], Some(other)).await;

    let (rows, total) = audit(&api, &tech, json!({"pagination": {"rowsPerPage": 1000}})).await;
    assert_eq!(total as usize, rows.len());
    let agents = set(&rows, "agent_id");
    assert!(
        agents.contains(bravo.as_str()) && !agents.contains(alpha.as_str()),
        "{agents:?}"
    );
    let messages = set(&rows, "message");
    for seen in [
        "admin modified client Other 2",
        "admin modified global settings",
        "admin deleted agent bravo",
    ] {
        assert!(messages.contains(seen), "{seen} in {messages:?}");
    }
    for hidden in [
        "admin modified client Acme 2",
        "admin added client Acme",
        "admin deleted agent alpha",
    ] {
        assert!(!messages.contains(hidden), "{hidden} hidden from {messages:?}");
    }
    let (rows, _) = audit(&api, &tech, json!({"actionFilter": ["bulk_action"]})).await;
    assert_eq!(rows.len(), 1, "only the run across clients: {rows:?}");
    assert_eq!(rows[0]["after_value"]["agent_count"], 2);
    assert!(rows[0]["after_value"].get("hostnames").is_none(), "{}", rows[0]);
    // Asking for client A's rows finds none; the admin sees them.
    assert_eq!(audit(&api, &tech, json!({"clientFilter": [acme]})).await.1, 0);
    let (rows, _) = audit(&api, &admin, json!({"clientFilter": [acme]})).await;
    let messages = set(&rows, "message");
    assert!(messages.contains("admin modified client Acme 2") && messages.contains("admin deleted agent alpha"));
    assert!(!messages.contains("admin modified client Other 2"));

    // Without the permission: 403.
    let nosy = user(&api, "nosy", &["can_list_agents"], None).await;
    let (status, body) = api
        .call(Method::PATCH, "/logs/audit/", Some(&nosy), Some(json!({})))
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::FORBIDDEN,
            json!({"detail": "You do not have permission to perform this action."})
        )
    );
}

#[tokio::test]
async fn a_modification_of_nothing_writes_no_row_and_secrets_stay_out_of_the_values() {
    let (api, admin, acme, _, _) = api_with_acme_hq().await;
    let modified = "SELECT count(*) FROM audit_logs WHERE action = 'modify'";
    let same = json!({"client": {"name": "Acme"}});
    assert_eq!(
        api.put(&format!("/clients/{acme}/"), &admin, same).await.0,
        StatusCode::OK
    );
    assert_eq!(count(&api, modified).await, 0);

    let settings = json!({"smtp_host_password": "hunter22", "twilio_auth_token": "tok-secret"});
    assert_eq!(api.put("/core/settings/", &admin, settings).await.0, StatusCode::OK);
    let (rows, _) = audit(&api, &admin, json!({"objectFilter": ["coresettings"]})).await;
    let text = rows[0].to_string();
    assert!(!text.contains("hunter22") && !text.contains("tok-secret"), "{text}");
    assert_eq!(rows[0]["after_value"]["smtp_host_password_changed"], true);
}

#[tokio::test]
async fn malformed_filters_are_400s() {
    let (api, admin, _, _, _) = api_with_acme_hq().await;
    let rows = "SELECT count(*) FROM audit_logs";
    let before = count(&api, rows).await;
    let cases = [
        (
            json!({"actionFilter": ["login", "explode"]}),
            json!({"actionFilter": {"1": ["\"explode\" is not a valid choice."]}}),
        ),
        (
            json!({"objectFilter": ["password"]}),
            json!({"objectFilter": {"0": ["\"password\" is not a valid choice."]}}),
        ),
        (
            json!({"timeFilter": "a week"}),
            json!({"timeFilter": ["A valid integer is required."]}),
        ),
        (
            json!({"timeFilter": 1.5}),
            json!({"timeFilter": ["A valid integer is required."]}),
        ),
        (
            json!({"timeFilter": -1}),
            json!({"timeFilter": ["Ensure this value is greater than or equal to 0."]}),
        ),
        (
            json!({"agentFilter": "alpha"}),
            json!({"agentFilter": ["Expected a list of items but got type \"str\"."]}),
        ),
        (
            json!({"clientFilter": ["Acme"]}),
            json!({"clientFilter": ["Incorrect type. Expected pk value, received str."]}),
        ),
        (
            json!({"pagination": {"page": 0}}),
            json!({"pagination": {"page": ["Ensure this value is greater than or equal to 1."]}}),
        ),
        (
            json!({"pagination": {"sortBy": "password", "rowsPerPage": 5000}}),
            json!({"pagination": {"sortBy": ["\"password\" is not a valid choice."],
                                  "rowsPerPage": ["Ensure this value is less than or equal to 1000."]}}),
        ),
        (
            json!({"pagination": {"descending": "yes"}}),
            json!({"pagination": {"descending": ["Must be a valid boolean."]}}),
        ),
        (
            json!({"pagination": 1}),
            json!({"pagination": ["Expected a dictionary of items."]}),
        ),
        (
            json!([]),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
    ];
    for (body, answer) in cases {
        let sent = body.to_string();
        let (status, got) = api.call(Method::PATCH, "/logs/audit/", Some(&admin), Some(body)).await;
        assert_eq!((status, got), (StatusCode::BAD_REQUEST, answer), "{sent}");
    }
    assert_eq!(count(&api, rows).await, before, "nothing changed");
}
