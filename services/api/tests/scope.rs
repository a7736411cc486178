//! `ScopedClient`, `VisibleClient` and `ScopedSite` on the real client and site routes: a role limited to some
//! clients or sites sees and changes only those (server-api.md 2.5).

mod common;

use common::{column, user, TestApi};
use reqwest::StatusCode;
use serde_json::{json, Value};

const FLAGS: &[&str] = &[
    "can_list_clients",
    "can_manage_clients",
    "can_list_sites",
    "can_manage_sites",
];

fn forbidden() -> (StatusCode, Value) {
    let detail = "You do not have permission to perform this action.";
    (StatusCode::FORBIDDEN, json!({ "detail": detail }))
}

fn not_found() -> (StatusCode, Value) {
    (StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
}

/// Adds site `name` to `client` as the admin; returns its id.
async fn add_site(api: &TestApi, admin: &str, client: i64, name: &str) -> i64 {
    let body = json!({"site": {"client": client, "name": name}});
    assert_eq!(api.post("/clients/sites/", admin, body).await.0, StatusCode::OK);
    let (_, sites) = api.get("/clients/sites/", admin).await;
    let site = sites.as_array().unwrap().iter().find(|s| s["name"] == name).unwrap();
    site["id"].as_i64().unwrap()
}

struct Tree {
    acme: i64,
    hq: i64,
    branch: i64,
    other: i64,
    main: i64,
    annex: i64,
}

/// Acme (HQ, Branch) and Other (Main, Annex).
async fn tree(api: &TestApi, admin: &str) -> Tree {
    let (acme, hq) = api.client_with_site(admin, "Acme", "HQ").await;
    let (other, main) = api.client_with_site(admin, "Other", "Main").await;
    let branch = add_site(api, admin, acme, "Branch").await;
    let annex = add_site(api, admin, other, "Annex").await;
    Tree {
        acme,
        hq,
        branch,
        other,
        main,
        annex,
    }
}

fn client_path(id: i64) -> String {
    format!("/clients/{id}/")
}

fn site_path(id: i64) -> String {
    format!("/clients/sites/{id}/")
}

#[tokio::test]
async fn a_role_limited_to_a_client_sees_and_changes_only_that_client() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let t = tree(&api, &admin).await;
    let alice = user(&api, "alice", FLAGS, Some(t.acme)).await;

    let (status, clients) = api.get("/clients/", &alice).await;
    assert_eq!((status, column(&clients, "name")), (StatusCode::OK, vec!["Acme"]));
    let (_, sites) = api.get("/clients/sites/", &alice).await;
    assert_eq!(column(&sites, "name"), ["Branch", "HQ"]);

    // VisibleClient and ScopedSite: reads.
    let (status, acme) = api.get(&client_path(t.acme), &alice).await;
    assert_eq!(
        (status, column(&acme["sites"], "name")),
        (StatusCode::OK, vec!["Branch", "HQ"])
    );
    assert_eq!(api.get(&client_path(t.other), &alice).await, forbidden());
    assert_eq!(api.get(&site_path(t.hq), &alice).await.0, StatusCode::OK);
    assert_eq!(api.get(&site_path(t.main), &alice).await, forbidden());
    assert_eq!(api.get("/clients/999999/", &alice).await, not_found());
    assert_eq!(api.get("/clients/sites/999999/", &alice).await, not_found());
    assert_eq!(api.get("/clients/sites/x/", &alice).await, not_found());

    // ScopedClient and ScopedSite: writes, refused before anything changes.
    let rename = json!({"client": {"name": "Renamed"}});
    assert_eq!(
        api.put(&client_path(t.other), &alice, rename.clone()).await,
        forbidden()
    );
    assert_eq!(api.delete(&client_path(t.other), &alice).await, forbidden());
    // A client id outside the role is refused whether it exists or not (upstream checks permission first).
    assert_eq!(api.put("/clients/999999/", &alice, rename.clone()).await, forbidden());
    assert_eq!(api.put("/clients/999999/", &admin, rename.clone()).await, not_found());
    let site_rename = json!({"site": {"name": "Renamed"}});
    let main = site_path(t.main);
    assert_eq!(api.put(&main, &alice, site_rename.clone()).await, forbidden());
    assert_eq!(api.delete(&main, &alice).await, forbidden());
    // Ids in a body or query are checked too: a site for Other, a move of HQ to Other, HQ's agents to Main.
    let new_site = json!({"site": {"client": t.other, "name": "Mine"}});
    assert_eq!(api.post("/clients/sites/", &alice, new_site).await, forbidden());
    let move_hq = json!({"site": {"client": t.other}});
    assert_eq!(api.put(&site_path(t.hq), &alice, move_hq).await, forbidden());
    let (_, names) = api.get("/clients/sites/", &admin).await;
    assert_eq!(column(&names, "name"), ["Annex", "Branch", "HQ", "Main"]);
    let (_, clients) = api.get("/clients/", &admin).await;
    assert_eq!(column(&clients, "name"), ["Acme", "Other"]);

    // Inside the scope the same routes work.
    let (status, _) = api
        .put(&client_path(t.acme), &alice, json!({"client": {"name": "Acme2"}}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let branch = site_path(t.branch);
    assert_eq!(
        api.put(&branch, &alice, json!({"site": {"name": "Branch2"}})).await.0,
        StatusCode::OK
    );
    assert_eq!(api.delete(&branch, &alice).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_role_limited_to_a_site_sees_its_client_but_may_not_change_it() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let t = tree(&api, &admin).await;
    let bob = user(&api, "bob", FLAGS, None).await;
    let conn = api.db.pool().get().await.unwrap();
    let sql = "INSERT INTO role_sites (role_id, site_id) SELECT role_id, $1 FROM users WHERE username = 'bob'";
    conn.execute(sql, &[&(t.main as i32)]).await.unwrap();

    // The parent of a visible site is visible, with only that site.
    let (status, other) = api.get(&client_path(t.other), &bob).await;
    assert_eq!(
        (status, column(&other["sites"], "name")),
        (StatusCode::OK, vec!["Main"])
    );
    assert_eq!(api.get(&client_path(t.acme), &bob).await, forbidden());
    assert_eq!(api.get(&site_path(t.main), &bob).await.0, StatusCode::OK);
    assert_eq!(api.get(&site_path(t.annex), &bob).await, forbidden());
    // The client as a whole is not granted: no renaming it, no new sites in it.
    let rename = json!({"client": {"name": "Mine"}});
    assert_eq!(api.put(&client_path(t.other), &bob, rename).await, forbidden());
    let new_site = json!({"site": {"client": t.other, "name": "Mine"}});
    assert_eq!(api.post("/clients/sites/", &bob, new_site).await, forbidden());
    let main = site_path(t.main);
    assert_eq!(
        api.put(&main, &bob, json!({"site": {"name": "Main2"}})).await.0,
        StatusCode::OK
    );
}
