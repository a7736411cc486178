//! Client and site CRUD with Tactical RMM's JSON shapes (server-api.md 3.6).

mod common;

use common::{agent_id, api_with_acme_hq, count, find, keys, TestApi};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn client_and_site_crud_shapes() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;

    for (body, expected) in [
        (
            json!({"client": {"name": "Acme"}, "site": {"name": "HQ"}}),
            (StatusCode::OK, json!("Acme was added")),
        ),
        (
            json!({"client": {"name": "Acme"}, "site": {"name": "X"}}),
            (
                StatusCode::BAD_REQUEST,
                json!({"name": ["client with this name already exists."]}),
            ),
        ),
        (
            json!({"client": {"name": "A|B"}, "site": {"name": "X"}}),
            (
                StatusCode::BAD_REQUEST,
                json!({"name": ["Client name cannot contain the | character"]}),
            ),
        ),
    ] {
        assert_eq!(api.post("/clients/", &admin, body.clone()).await, expected, "{body}");
    }

    let (status, clients) = api.get("/clients/", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let c = &clients[0];
    assert_eq!(
        keys(c),
        [
            "agent_count",
            "alert_template",
            "block_policy_inheritance",
            "custom_fields",
            "failing_checks",
            "id",
            "maintenance_mode",
            "name",
            "server_policy",
            "sites",
            "workstation_policy"
        ]
    );
    assert_eq!(c["failing_checks"], json!({"error": false, "warning": false}));
    assert_eq!(c["agent_count"], 0);
    let client_id = c["id"].as_i64().unwrap();
    let hq = &c["sites"][0];
    assert_eq!(hq["name"], "HQ");
    assert_eq!(hq["client_name"], "Acme");
    assert_eq!(hq["client"], client_id);
    let hq_id = hq["id"].as_i64().unwrap();

    let branch = json!({"site": {"client": client_id, "name": "Branch"}});
    for expected in [
        (StatusCode::OK, json!("Branch was added")),
        (
            StatusCode::BAD_REQUEST,
            json!({"non_field_errors": ["The fields client, name must make a unique set."]}),
        ),
    ] {
        assert_eq!(api.post("/clients/sites/", &admin, branch.clone()).await, expected);
    }

    let (_, sites) = api.get("/clients/sites/", &admin).await;
    assert_eq!(sites.as_array().unwrap().len(), 2);
    let branch_id = find(&sites, "name", "Branch")["id"].as_i64().unwrap();

    for (path, body, said) in [
        (
            format!("/clients/{client_id}/"),
            json!({"client": {"name": "Acme Corp"}}),
            "Acme Corp was updated",
        ),
        (
            format!("/clients/sites/{branch_id}/"),
            json!({"site": {"name": "Branch 2"}}),
            "Branch 2 was updated",
        ),
    ] {
        assert_eq!(
            api.put(&path, &admin, body).await,
            (StatusCode::OK, json!(said)),
            "{path}"
        );
    }
    let (_, client) = api.get(&format!("/clients/{client_id}/"), &admin).await;
    assert_eq!(client["name"], "Acme Corp");
    assert_eq!(client["sites"].as_array().unwrap().len(), 2);
    let (_, site) = api.get(&format!("/clients/sites/{branch_id}/"), &admin).await;
    assert_eq!(site["name"], "Branch 2");

    for (path, expected) in [
        (
            format!("/clients/sites/{branch_id}/"),
            (StatusCode::OK, json!("Branch 2 was deleted")),
        ),
        (
            format!("/clients/sites/{hq_id}/"),
            (StatusCode::BAD_REQUEST, json!("A client must have at least 1 site.")),
        ),
    ] {
        assert_eq!(api.delete(&path, &admin).await, expected, "{path}");
    }
    assert_eq!(
        api.get("/clients/999999/", &admin).await,
        (StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
    );

    let (status, body) = api.delete(&format!("/clients/{client_id}/"), &admin).await;
    assert_eq!((status, body), (StatusCode::OK, json!("Acme Corp was deleted")));
    assert_eq!(api.get("/clients/", &admin).await.1, json!([]));

    let rows = count(
        &api,
        "SELECT count(*) FROM audit_logs WHERE object_type IN ('client', 'site')",
    )
    .await;
    assert_eq!(
        rows, 6,
        "add client, add site, modify client, modify site, delete site, delete client"
    );
}

#[tokio::test]
async fn deleting_a_client_with_agents_needs_move_to_site() {
    let (api, admin, acme, hq, installer) = api_with_acme_hq().await;
    let (_, other_site) = api.client_with_site(&admin, "Other", "Main").await;
    api.enroll(&installer, &agent_id(1), "alpha", hq).await;
    api.enroll(&installer, &agent_id(2), "bravo", hq).await;

    let (status, body) = api.delete(&format!("/clients/{acme}/"), &admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.as_str().unwrap().contains("move_to_site"), "{body}");
    // Nothing was deleted.
    let (_, clients) = api.get("/clients/", &admin).await;
    assert_eq!(clients.as_array().unwrap().len(), 2);
    let acme_row = find(&clients, "name", "Acme");
    assert_eq!(acme_row["agent_count"], 2);
    assert_eq!(acme_row["sites"].as_array().unwrap().len(), 1);

    let (status, body) = api
        .delete(&format!("/clients/{acme}/?move_to_site={other_site}"), &admin)
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!("Acme was deleted")));
    let (_, agents) = api.get(&format!("/agents/?site={other_site}"), &admin).await;
    assert_eq!(agents.as_array().unwrap().len(), 2);
    assert!(agents.as_array().unwrap().iter().all(|a| a["client_name"] == "Other"));
}
