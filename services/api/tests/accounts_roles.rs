//! `/accounts/roles/` (server-api.md 2.4–2.5, 3.2): every permission flag, the client and site allow-lists and
//! their effect on the role's users, `user_count`, deletion refused while users hold a role, and refused input.

mod common;

use common::accounts::member;
use common::{column, count, TestApi};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn bad(body: Value) -> (StatusCode, Value) {
    (StatusCode::BAD_REQUEST, body)
}

async fn role_named(api: &TestApi, token: &str, name: &str) -> Value {
    let (status, roles) = api.get("/accounts/roles/", token).await;
    assert_eq!(status, StatusCode::OK, "{roles}");
    let found = roles.as_array().unwrap().iter().find(|r| r["name"] == name);
    found.unwrap_or_else(|| panic!("no role {name} in {roles}")).clone()
}

#[tokio::test]
async fn roles_carry_every_flag_their_lists_and_user_count() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let (acme, hq) = api.client_with_site(&admin, "Acme", "HQ").await;
    let body = json!({"name": "Techs", "can_list_clients": true, "can_view_clients": [acme], "can_view_sites": [hq],
                      "user_count": 99, "id": 77});
    assert_eq!(
        api.post("/accounts/roles/", &admin, body).await,
        (StatusCode::OK, json!("Role was added"))
    );
    let techs = role_named(&api, &admin, "Techs").await;
    let flags: Vec<&String> = techs
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("can_"))
        .collect();
    // 68 flags plus the two allow-lists, as upstream's Role.
    assert_eq!(flags.len(), 70);
    assert_eq!(techs["can_list_clients"], true);
    assert_eq!(techs["can_manage_clients"], false);
    assert_eq!(
        (&techs["can_view_clients"], &techs["can_view_sites"]),
        (&json!([acme]), &json!([hq]))
    );
    assert_eq!(
        (&techs["user_count"], &techs["is_superuser"]),
        (&json!(0), &json!(false))
    );
    assert_ne!(techs["id"], 77);
    for key in ["created_by", "created_time", "modified_by", "modified_time"] {
        assert!(techs.get(key).is_some(), "{key}");
    }
    let path = format!("/accounts/roles/{}/", techs["id"]);
    assert_eq!(api.get(&path, &admin).await, (StatusCode::OK, techs.clone()));

    let body = json!({"username": "bob", "email": "", "password": "a long pass phrase", "role": techs["id"]});
    assert_eq!(api.post("/accounts/users/", &admin, body).await.0, StatusCode::OK);
    assert_eq!(role_named(&api, &admin, "Techs").await["user_count"], 1);

    // A full update: what it leaves out stays as it was.
    let edit = json!({"name": "Field techs", "can_list_sites": true, "can_view_sites": []});
    assert_eq!(
        api.put(&path, &admin, edit).await,
        (StatusCode::OK, json!("Role was edited"))
    );
    let edited = role_named(&api, &admin, "Field techs").await;
    assert_eq!(
        (&edited["can_list_clients"], &edited["can_list_sites"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(
        (&edited["can_view_clients"], &edited["can_view_sites"]),
        (&json!([acme]), &json!([]))
    );

    let held = bad(json!(
        "Role Field techs is assigned to 1 user(s) and cannot be deleted. Give them another role first."
    ));
    assert_eq!(api.delete(&path, &admin).await, held);
    let bob = common::accounts::user_id(&api, "bob").await;
    assert_eq!(
        api.put(&format!("/accounts/{bob}/users/"), &admin, json!({"role": null}))
            .await
            .1,
        json!("ok")
    );
    common::assert_deleted(&api, &admin, &path, json!("Role was removed")).await;

    let conn = api.db.pool().get().await.unwrap();
    let sql = "SELECT action, before_value, after_value FROM audit_logs WHERE object_type = 'role' ORDER BY id";
    let rows = conn.query(sql, &[]).await.unwrap();
    let actions: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(actions, ["add", "modify", "delete"]);
    let (before, after): (Value, Value) = (rows[1].get(1), rows[1].get(2));
    assert_eq!(
        (&before["name"], &after["name"]),
        (&json!("Techs"), &json!("Field techs"))
    );
    assert_eq!(
        (&before["can_list_sites"], &after["can_list_sites"]),
        (&json!(false), &json!(true))
    );
}

#[tokio::test]
async fn a_roles_lists_scope_its_users_from_their_next_request() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let (acme, _) = api.client_with_site(&admin, "Acme", "HQ").await;
    let (other, main) = api.client_with_site(&admin, "Other", "Main").await;
    let alice = member(&api, "alice", &["can_list_clients", "can_list_sites"]).await;
    let path = format!("/accounts/roles/{}/", alice.role);
    let names = |body: Value| column(&body, "name").into_iter().map(str::to_owned).collect::<Vec<_>>();

    assert_eq!(names(api.get("/clients/", &alice.token).await.1), ["Acme", "Other"]);
    let limit = |clients: Value, sites: Value| {
        json!({"name": "alice", "can_list_clients": true,
                                                     "can_list_sites": true, "can_view_clients": clients,
                                                     "can_view_sites": sites})
    };
    assert_eq!(
        api.put(&path, &admin, limit(json!([acme]), json!([]))).await.0,
        StatusCode::OK
    );
    assert_eq!(names(api.get("/clients/", &alice.token).await.1), ["Acme"]);
    assert_eq!(
        api.get(&format!("/clients/{other}/"), &alice.token).await.0,
        StatusCode::FORBIDDEN
    );
    // A site of another client: its client shows with that site only.
    assert_eq!(
        api.put(&path, &admin, limit(json!([acme]), json!([main]))).await.0,
        StatusCode::OK
    );
    assert_eq!(names(api.get("/clients/", &alice.token).await.1), ["Acme", "Other"]);
    assert_eq!(names(api.get("/clients/sites/", &alice.token).await.1), ["HQ", "Main"]);
    assert_eq!(
        api.put(&path, &admin, limit(json!([]), json!([]))).await.0,
        StatusCode::OK
    );
    assert_eq!(names(api.get("/clients/", &alice.token).await.1), ["Acme", "Other"]);
}

#[tokio::test]
async fn a_restricted_user_keeps_sight_of_the_clients_and_sites_it_creates() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let (acme, hq) = api.client_with_site(&admin, "Acme", "HQ").await;
    let flags = [
        "can_list_clients",
        "can_manage_clients",
        "can_list_sites",
        "can_manage_sites",
    ];
    let carol = member(&api, "carol", &flags).await;
    let open = member(&api, "open", &flags).await;
    let conn = api.db.pool().get().await.unwrap();
    let sql = "INSERT INTO role_clients (role_id, client_id) VALUES ($1, $2)";
    conn.execute(sql, &[&carol.role, &(acme as i32)]).await.unwrap();
    let sql = "INSERT INTO role_sites (role_id, site_id) VALUES ($1, $2)";
    conn.execute(sql, &[&carol.role, &(hq as i32)]).await.unwrap();

    let body = json!({"client": {"name": "Newco"}, "site": {"name": "Office"}});
    assert_eq!(api.post("/clients/", &carol.token, body).await.0, StatusCode::OK);
    let (_, clients) = api.get("/clients/", &carol.token).await;
    assert_eq!(column(&clients, "name"), ["Acme", "Newco"]);
    let body = json!({"site": {"client": acme, "name": "Branch"}});
    assert_eq!(api.post("/clients/sites/", &carol.token, body).await.0, StatusCode::OK);
    let role = role_named(&api, &admin, "carol").await;
    assert_eq!(role["can_view_clients"].as_array().unwrap().len(), 2);
    assert_eq!(role["can_view_sites"].as_array().unwrap().len(), 2);

    // An unrestricted role stays unrestricted.
    let body = json!({"client": {"name": "Openco"}, "site": {"name": "Office"}});
    assert_eq!(api.post("/clients/", &open.token, body).await.0, StatusCode::OK);
    let sql = format!("SELECT count(*) FROM role_clients WHERE role_id = {}", open.role);
    assert_eq!(count(&api, &sql).await, 0);
}

#[tokio::test]
async fn role_endpoints_need_their_flags() {
    let api = TestApi::start().await;
    let viewer = member(&api, "viewer", &["can_list_roles"]).await;
    let manager = member(&api, "manager", &["can_manage_roles"]).await;
    let nobody = member(&api, "nobody", &["can_list_accounts", "can_manage_accounts"]).await;
    let detail = json!({"detail": "You do not have permission to perform this action."});
    let path = format!("/accounts/roles/{}/", nobody.role);
    let edit = json!({"name": "renamed"});

    assert_eq!(api.get("/accounts/roles/", &viewer.token).await.0, StatusCode::OK);
    assert_eq!(api.get(&path, &viewer.token).await.0, StatusCode::OK);
    for token in [&manager.token, &nobody.token] {
        assert_eq!(
            api.get("/accounts/roles/", token).await,
            (StatusCode::FORBIDDEN, detail.clone())
        );
        assert_eq!(api.get(&path, token).await.0, StatusCode::FORBIDDEN);
    }
    for token in [&viewer.token, &nobody.token] {
        let create = api.post("/accounts/roles/", token, json!({"name": "x"})).await;
        assert_eq!(create.0, StatusCode::FORBIDDEN);
        assert_eq!(api.put(&path, token, edit.clone()).await.0, StatusCode::FORBIDDEN);
        assert_eq!(api.delete(&path, token).await.0, StatusCode::FORBIDDEN);
    }
    assert_eq!(
        api.post("/accounts/roles/", &manager.token, json!({"name": "x"}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(api.put(&path, &manager.token, edit).await.0, StatusCode::OK);
}

#[tokio::test]
async fn bad_role_input_is_a_400_and_changes_nothing() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    assert_eq!(
        api.post("/accounts/roles/", &admin, json!({"name": "Techs"})).await.0,
        StatusCode::OK
    );
    let techs = role_named(&api, &admin, "Techs").await;
    let path = format!("/accounts/roles/{}/", techs["id"]);
    let snapshot = "SELECT (SELECT count(*) FROM roles) + (SELECT count(*) FROM role_clients) \
                    + (SELECT count(*) FROM audit_logs) + (SELECT sum(hashtext(to_jsonb(r)::text)) FROM roles r)";
    let before = count(&api, snapshot).await;

    let invalid_pk = |field: &str| json!({ field: ["Invalid pk \"999\" - object does not exist."] });
    let cases = [
        (json!({}), json!({"name": ["This field is required."]})),
        (json!({"name": " "}), json!({"name": ["This field may not be blank."]})),
        (
            json!({"name": "Techs"}),
            json!({"name": ["role with this name already exists."]}),
        ),
        (
            json!({"name": "N", "can_list_agents": "yes"}),
            json!({"can_list_agents": ["Must be a valid boolean."]}),
        ),
        (
            json!({"name": "N", "is_superuser": "x"}),
            json!({"is_superuser": ["Must be a valid boolean."]}),
        ),
        (
            json!({"name": "N", "can_view_clients": [999]}),
            invalid_pk("can_view_clients"),
        ),
        (
            json!({"name": "N", "can_view_sites": [999]}),
            invalid_pk("can_view_sites"),
        ),
        (
            json!({"name": "N", "can_view_sites": "1"}),
            json!({"can_view_sites": ["Expected a list of items but got type \"str\"."]}),
        ),
    ];
    for (body, expected) in cases {
        let create = api.post("/accounts/roles/", &admin, body.clone()).await;
        if body["name"] == "Techs" {
            assert_eq!(create, bad(expected), "create {body}");
            continue;
        }
        assert_eq!(create, bad(expected.clone()), "create {body}");
        assert_eq!(api.put(&path, &admin, body.clone()).await, bad(expected), "edit {body}");
    }
    assert_eq!(
        api.post("/accounts/roles/", &admin, json!({"name": "Other"})).await.0,
        StatusCode::OK
    );
    let taken = json!({"name": ["role with this name already exists."]});
    assert_eq!(api.put(&path, &admin, json!({"name": "Other"})).await, bad(taken));
    assert_eq!(api.get("/accounts/roles/999/", &admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.delete("/accounts/roles/999/", &admin).await.0,
        StatusCode::NOT_FOUND
    );
    let other = role_named(&api, &admin, "Other").await;
    assert_eq!(
        api.delete(&format!("/accounts/roles/{}/", other["id"]), &admin).await.0,
        StatusCode::OK
    );
    // The role added and removed again (two audit rows) is all that changed.
    assert_eq!(count(&api, snapshot).await, before + 2);
}
