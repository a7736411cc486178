//! The agent table and agent detail/edit/delete (server-api.md 3.3 and 4).

mod common;

use common::{agent_id, api_with_acme_hq, bravo_at_other, column, user, TestApi};
use reqwest::StatusCode;
use serde_json::json;

/// Inserts `n` agents into `site` in one statement, hostnames host-00000.. in shuffled order.
async fn bulk_insert(api: &TestApi, site: i64, n: i32) {
    let conn = api.db.pool().get().await.unwrap();
    conn.execute(
        "INSERT INTO agents (agent_id, hostname, site_id, plat, last_seen)
         SELECT 'bulk' || lpad(g::text, 36, 'x'), 'host-' || lpad(((g * 7919) % $2)::text, 5, '0'), $1, 'linux',
                now() - interval '30 seconds'
         FROM generate_series(0, $2 - 1) g",
        &[&(site as i32), &n],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn ten_thousand_agents_paged_and_sorted_in_sql() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let (_, site) = api.client_with_site(&admin, "Acme", "HQ").await;
    bulk_insert(&api, site, 10_000).await;

    let (status, page) = api.get("/agents/?page=1&page_size=50&ordering=hostname", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["count"], 10_000);
    let rows = page["results"].as_array().unwrap();
    assert_eq!(rows.len(), 50);
    let names: Vec<&str> = rows.iter().map(|r| r["hostname"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..50).map(|i| format!("host-{i:05}")).collect();
    assert_eq!(names, expected);
    assert!(rows.iter().all(|r| r["status"] == "online"));

    let (_, last) = api
        .get("/agents/?page=200&page_size=50&ordering=-hostname", &admin)
        .await;
    assert_eq!(last["results"][49]["hostname"], "host-00000");
    let (_, beyond) = api.get("/agents/?page=201&page_size=50", &admin).await;
    assert_eq!(
        (beyond["count"].clone(), beyond["results"].clone()),
        (json!(10_000), json!([]))
    );

    // The plain call is unchanged: a bare array of every agent.
    let (_, all) = api.get("/agents/", &admin).await;
    assert_eq!(all.as_array().unwrap().len(), 10_000);
}

#[tokio::test]
async fn status_is_computed_from_last_seen_and_the_agents_thresholds() {
    let (api, admin, _, site, installer) = api_with_acme_hq().await;
    let ids: Vec<String> = (0..4).map(agent_id).collect();
    for (i, id) in ids.iter().enumerate() {
        api.enroll(&installer, id, &format!("agent{i}"), site).await;
    }
    let conn = api.db.pool().get().await.unwrap();
    for (id, ago) in [(&ids[0], "1 minute"), (&ids[1], "10 minutes"), (&ids[2], "2 hours")] {
        conn.execute(
            &format!("UPDATE agents SET last_seen = now() - interval '{ago}' WHERE agent_id = $1"),
            &[id],
        )
        .await
        .unwrap();
    }
    conn.execute("UPDATE agents SET last_seen = NULL WHERE agent_id = $1", &[&ids[3]])
        .await
        .unwrap();

    let (_, agents) = api.get("/agents/?ordering=hostname", &admin).await;
    assert_eq!(column(&agents, "status"), ["online", "offline", "overdue", "offline"]);
    let (status, page) = api.get("/agents/?ordering=-status&page=1&page_size=3", &admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["count"], 4);
    assert_eq!(column(&page["results"], "status"), ["overdue", "online", "offline"]);

    // Thresholds are per agent: 15 offline minutes make 10 minutes ago online again.
    let (status, _) = api
        .put(&format!("/agents/{}/", ids[1]), &admin, json!({"offline_time": 15}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.get(&format!("/agents/{}/", ids[1]), &admin).await.1["status"],
        "online"
    );
    // The injected clock moves status along too.
    api.clock.advance(chrono::Duration::minutes(30));
    assert_eq!(
        api.get(&format!("/agents/{}/", ids[0]), &admin).await.1["status"],
        "overdue"
    );
}

#[tokio::test]
async fn table_fields_filters_and_detail() {
    let (api, admin, acme, hq, installer) = api_with_acme_hq().await;
    let a = agent_id(1);
    api.enroll(&installer, &a, "alpha", hq).await;
    let (b, _, main) = bravo_at_other(&api, &admin).await;
    let conn = api.db.pool().get().await.unwrap();
    conn.execute(
        "UPDATE agents SET monitoring_type = 'workstation', logged_in_username = 'None', last_logged_in_user = 'bob',
                wmi_detail = '{\"cpus\": [\"EPYC\"], \"gpus\": \"\", \"local_ips\": [\"10.0.0.5/24\"],
                               \"make_model\": \"QEMU\", \"disks\": [\"vda 20 GB\"], \"serialnumber\": \"n/a\"}'
         WHERE agent_id = $1",
        &[&b],
    )
    .await
    .unwrap();

    let (_, rows) = api.get(&format!("/agents/?client={acme}"), &admin).await;
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["agent_id"], a.as_str());
    let (_, rows) = api.get("/agents/?monitoring_type=workstation", &admin).await;
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let row = &rows[0];
    for key in [
        "agent_id",
        "hostname",
        "monitoring_type",
        "description",
        "needs_reboot",
        "overdue_text_alert",
        "overdue_email_alert",
        "overdue_dashboard_alert",
        "last_seen",
        "boot_time",
        "maintenance_mode",
        "block_policy_inheritance",
        "plat",
        "goarch",
        "version",
        "operating_system",
        "public_ip",
        "site_name",
        "client_name",
        "policy",
        "alert_template",
        "status",
        "pending_actions_count",
        "logged_username",
        "italic",
        "cpu_model",
        "graphics",
        "local_ips",
        "make_model",
        "physical_disks",
        "serial_number",
    ] {
        assert!(row.get(key).is_some(), "missing {key}");
    }
    assert_eq!(row["client_name"], "Other");
    assert_eq!(row["logged_username"], "bob");
    assert_eq!(row["italic"], true);
    assert_eq!(row["cpu_model"], json!(["EPYC"]));
    assert_eq!(row["graphics"], "No graphics cards");
    assert!(row["last_seen"].as_str().unwrap().ends_with('Z'));
    let (_, short) = api.get("/agents/?detail=false", &admin).await;
    assert_eq!(short[0].as_object().unwrap().len(), 5);

    let (status, detail) = api.get(&format!("/agents/{b}/"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(detail.get("id").is_none());
    assert_eq!(detail["client"], "Other");
    assert_eq!(detail["site_name"], "Main");
    assert_eq!(detail["site"], main);
    assert_eq!(detail["make_model"], "QEMU");
    assert_eq!(
        api.get(&format!("/agents/{}/", agent_id(99)), &admin).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn edit_and_delete_an_agent() {
    let (api, admin, _, site, installer) = api_with_acme_hq().await;
    let (_, other_site) = api.client_with_site(&admin, "Other", "Main").await;
    let id = agent_id(7);
    let (_, token) = api.enroll(&installer, &id, "alpha", site).await;

    let edit = json!({"description": "db server", "monitoring_type": "workstation", "site": other_site,
                      "maintenance_mode": true, "offline_time": 10, "overdue_time": 60});
    let (status, body) = api.put(&format!("/agents/{id}/"), &admin, edit).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!("The agent was updated successfully"))
    );
    let (_, d) = api.get(&format!("/agents/{id}/"), &admin).await;
    assert_eq!(
        (
            d["description"].clone(),
            d["monitoring_type"].clone(),
            d["site"].clone(),
            d["maintenance_mode"].clone(),
            d["offline_time"].clone(),
            d["overdue_time"].clone()
        ),
        (
            json!("db server"),
            json!("workstation"),
            json!(other_site),
            json!(true),
            json!(10),
            json!(60)
        )
    );
    for bad in [json!({"offline_time": 0}), json!({"monitoring_type": "toaster"})] {
        let (status, _) = api.put(&format!("/agents/{id}/"), &admin, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }

    let (status, body) = api.delete(&format!("/agents/{id}/"), &admin).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!("alpha will now be uninstalled."))
    );
    assert_eq!(
        api.get(&format!("/agents/{id}/"), &admin).await.0,
        StatusCode::NOT_FOUND
    );
    // The agent token is revoked with the agent.
    assert_eq!(
        api.get(&format!("/api/v3/{id}/config/"), &token).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn role_scoping_limits_what_a_technician_sees() {
    let (api, admin, acme, hq, installer) = api_with_acme_hq().await;
    api.enroll(&installer, &agent_id(1), "alpha", hq).await;
    bravo_at_other(&api, &admin).await;

    let tech = user(&api, "tech", &["can_list_agents", "can_list_clients"], Some(acme)).await;

    let (_, agents) = api.get("/agents/", &tech).await;
    assert_eq!(agents.as_array().unwrap().len(), 1);
    assert_eq!(agents[0]["hostname"], "alpha");
    assert_eq!(
        api.get(&format!("/agents/{}/", agent_id(2)), &tech).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, clients) = api.get("/clients/", &tech).await;
    assert_eq!(clients.as_array().unwrap().len(), 1);
    // Missing flags are 403 with DRF's message.
    let (status, body) = api.delete(&format!("/agents/{}/", agent_id(1)), &tech).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"detail": "You do not have permission to perform this action."})
    );
}
