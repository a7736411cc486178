//! `/accounts/users/`, `/accounts/<pk>/users/`, the password and 2FA resets and UI preferences (server-api.md 2.6,
//! 3.2): shapes, permissions, the protected root user, audit rows and refused input, against real Postgres.

mod common;

use common::accounts::{member, user_id};
use common::{count, keys, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "a long pass phrase";

fn forbidden() -> (StatusCode, Value) {
    let detail = "You do not have permission to perform this action.";
    (StatusCode::FORBIDDEN, json!({ "detail": detail }))
}

fn bad(body: Value) -> (StatusCode, Value) {
    (StatusCode::BAD_REQUEST, body)
}

/// Creates a role through the API; returns its id.
async fn role(api: &TestApi, admin: &str, body: Value) -> i64 {
    assert_eq!(
        api.post("/accounts/roles/", admin, body.clone()).await.1,
        json!("Role was added")
    );
    let (_, roles) = api.get("/accounts/roles/", admin).await;
    let role = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == body["name"])
        .unwrap();
    role["id"].as_i64().unwrap()
}

/// The add, modify and delete audit rows of `object_type` as (action, message, before, after), oldest first.
async fn audit_rows(api: &TestApi, object_type: &str) -> Vec<(String, String, Option<Value>, Option<Value>)> {
    let conn = api.db.pool().get().await.unwrap();
    let sql = "SELECT action, message, before_value, after_value FROM audit_logs
               WHERE object_type = $1 AND action IN ('add', 'modify', 'delete') ORDER BY id";
    let rows = conn.query(sql, &[&object_type]).await.unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect()
}

#[tokio::test]
async fn users_are_created_listed_edited_and_deleted_with_audit_rows() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let techs = role(&api, &admin, json!({"name": "Techs", "can_list_agents": true})).await;
    let body = json!({"username": "bob", "email": "bob@example.com", "password": PASSWORD, "first_name": "Bob",
                      "role": techs, "block_dashboard_login": true});
    assert_eq!(
        api.post("/accounts/users/", &admin, body).await,
        (StatusCode::OK, json!("bob"))
    );

    let (status, list) = api.get("/accounts/users/", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(common::column(&list, "username"), ["admin", "bob"]);
    let bob = &list[1];
    assert_eq!(
        keys(bob),
        [
            "block_dashboard_login",
            "date_format",
            "email",
            "first_name",
            "id",
            "is_active",
            "last_login",
            "last_login_ip",
            "last_name",
            "role",
            "social_accounts",
            "username"
        ]
    );
    assert_eq!(
        (
            &bob["role"],
            &bob["social_accounts"],
            &bob["block_dashboard_login"],
            &bob["is_active"]
        ),
        (&json!(techs), &json!([]), &json!(true), &json!(true))
    );
    let (_, found) = api.get("/accounts/users/?search=BO", &admin).await;
    assert_eq!(common::column(&found, "username"), ["bob"]);

    let path = format!("/accounts/{}/users/", bob["id"]);
    let (status, one) = api.get(&path, &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["first_name"], "Bob");
    assert!(one.get("social_accounts").is_none());
    // A partial update changes only what it names.
    assert_eq!(
        api.put(&path, &admin, json!({"last_name": "Builder"})).await.1,
        json!("ok")
    );
    let (_, one) = api.get(&path, &admin).await;
    assert_eq!(
        (&one["first_name"], &one["last_name"]),
        (&json!("Bob"), &json!("Builder"))
    );

    common::assert_deleted(&api, &admin, &path, json!("ok")).await;
    let rows = audit_rows(&api, "user").await;
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(actions, ["add", "modify", "delete"]);
    assert_eq!(rows[0].1, "admin added user bob");
    assert_eq!(rows[0].3.as_ref().unwrap()["username"], "bob");
    let (before, after) = (rows[1].2.as_ref().unwrap(), rows[1].3.as_ref().unwrap());
    assert_eq!(
        (&before["last_name"], &after["last_name"]),
        (&json!(""), &json!("Builder"))
    );
    // Never a password, its hash or a TOTP key.
    let everything = count(
        &api,
        "SELECT count(*) FROM audit_logs WHERE concat(before_value, after_value, message) \
                                   ~* '(password|argon2|totp)'",
    )
    .await;
    assert_eq!(everything, 0);
}

#[tokio::test]
async fn account_endpoints_need_their_flags() {
    let api = TestApi::start().await;
    let viewer = member(&api, "viewer", &["can_list_accounts"]).await;
    let manager = member(&api, "manager", &["can_manage_accounts"]).await;
    let nobody = member(&api, "nobody", &[]).await;
    let other = format!("/accounts/{}/users/", nobody.id);
    let new_user = json!({"username": "carol", "email": "", "password": PASSWORD});

    for token in [&viewer.token, &manager.token, &nobody.token] {
        let may_list = token == &viewer.token;
        let listed = api.get("/accounts/users/", token).await.0;
        assert_eq!(listed == StatusCode::OK, may_list);
        assert_eq!(api.get(&other, token).await.0 == StatusCode::OK, may_list);
        let sessions = format!("/accounts/users/{}/sessions/", nobody.id);
        assert_eq!(api.get(&sessions, token).await.0 == StatusCode::OK, may_list);
    }
    for token in [&viewer.token, &nobody.token] {
        assert_eq!(api.post("/accounts/users/", token, new_user.clone()).await, forbidden());
        assert_eq!(api.put(&other, token, json!({"first_name": "x"})).await, forbidden());
        assert_eq!(api.delete(&other, token).await, forbidden());
        let reset = json!({"id": manager.id, "password": PASSWORD});
        assert_eq!(api.post("/accounts/users/reset/", token, reset).await, forbidden());
        let reset = json!({"id": manager.id});
        assert_eq!(api.put("/accounts/users/reset_totp/", token, reset).await, forbidden());
    }
    assert_eq!(
        api.post("/accounts/users/", &manager.token, new_user).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.put(&other, &manager.token, json!({"first_name": "N"})).await.1,
        json!("ok")
    );

    // Anyone may reset their own password and 2FA, and save their own preferences.
    let own = json!({"id": viewer.id, "password": PASSWORD});
    assert_eq!(
        api.post("/accounts/users/reset/", &viewer.token, own).await.1,
        json!("ok")
    );
    let own = json!({"id": nobody.id});
    let (status, message) = api.put("/accounts/users/reset_totp/", &nobody.token, own).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        message,
        json!("nobody's Two-Factor key was reset. Have them sign in again to setup")
    );
    let resetpw = json!({"password": PASSWORD});
    let (status, message) = api.put("/accounts/resetpw/", &nobody.token, resetpw).await;
    assert_eq!((status, message), (StatusCode::OK, json!("Password was reset.")));
    let (status, message) = api
        .call(Method::PUT, "/accounts/reset2fa/", Some(&nobody.token), None)
        .await;
    assert_eq!(
        (status, message),
        (StatusCode::OK, json!("2FA was reset. Log out and back in to setup."))
    );
    let ui = json!({"dark_mode": false});
    let (status, _) = api
        .call(Method::PATCH, "/accounts/users/ui/", Some(&nobody.token), Some(ui))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn bad_input_is_a_400_and_changes_nothing() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let good = json!({"username": "bob", "email": "bob@example.com", "password": PASSWORD});
    let with = |changes: Value| {
        let mut body = good.clone();
        body.as_object_mut()
            .unwrap()
            .extend(changes.as_object().unwrap().clone());
        body
    };
    for name in ["bob", "new1"] {
        let body = with(json!({ "username": name }));
        assert_eq!(api.post("/accounts/users/", &admin, body).await.0, StatusCode::OK);
    }
    let bob = user_id(&api, "bob").await;
    let snapshot = "SELECT count(*) + sum(hashtext(concat_ws('|', username, email, first_name, role_id, \
                    password_hash, is_active, block_dashboard_login, dark_mode))) FROM users";
    let before = (
        count(&api, snapshot).await,
        count(&api, "SELECT count(*) FROM audit_logs").await,
    );

    let short = "This password is too short. It must contain at least 8 characters.";
    let cases = [
        (
            with(json!({"username": "bob"})),
            bad(json!("ERROR: User bob already exists!")),
        ),
        (
            with(json!({"username": "new", "password": "short"})),
            bad(json!({"password": [short]})),
        ),
        (
            with(json!({"username": "new", "password": "12345678901"})),
            bad(json!({"password": ["This password is entirely numeric."]})),
        ),
        (
            with(json!({"username": "new", "password": "Password123"})),
            bad(json!({"password": ["This password is too common."]})),
        ),
        (
            with(json!({"username": "new", "role": 999})),
            bad(json!({"role": ["Invalid pk \"999\" - object does not exist."]})),
        ),
        (
            with(json!({"username": "new", "role": "x"})),
            bad(json!({"role": ["Incorrect type. Expected pk value, received str."]})),
        ),
        (
            with(json!({"username": "bad name!"})),
            bad(
                json!({"username": ["Enter a valid username. This value may contain only letters, numbers, and \
                                     @/./+/-/_ characters."]}),
            ),
        ),
        (
            with(json!({"username": "new", "email": "nope"})),
            bad(json!({"email": ["Enter a valid email address."]})),
        ),
        (
            with(json!({"username": "new", "is_active": "yes"})),
            bad(json!({"is_active": ["Must be a valid boolean."]})),
        ),
        (
            json!({"username": "new"}),
            bad(json!({"email": ["This field is required."], "password": ["This field is required."]})),
        ),
        (
            json!([]),
            bad(json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            api.post("/accounts/users/", &admin, body.clone()).await,
            expected,
            "{body}"
        );
    }
    let path = format!("/accounts/{bob}/users/");
    let edits = [
        (
            json!({"username": "new1"}),
            json!({"username": ["A user with that username already exists."]}),
        ),
        (
            json!({"username": ""}),
            json!({"username": ["This field may not be blank."]}),
        ),
        (
            json!({"role": 999}),
            json!({"role": ["Invalid pk \"999\" - object does not exist."]}),
        ),
        (
            json!({"block_dashboard_login": 1}),
            json!({"block_dashboard_login": ["Must be a valid boolean."]}),
        ),
    ];
    for (body, expected) in edits {
        assert_eq!(api.put(&path, &admin, body.clone()).await, bad(expected), "{body}");
    }
    let weak = json!({"id": bob, "password": "bob12345"});
    let similar = json!({"password": ["The password is too similar to the username."]});
    assert_eq!(api.post("/accounts/users/reset/", &admin, weak).await, bad(similar));
    assert_eq!(
        api.post("/accounts/users/reset/", &admin, json!({"password": PASSWORD}))
            .await,
        bad(json!({"id": ["This field is required."]}))
    );
    let unknown = json!({"id": 999, "password": PASSWORD});
    assert_eq!(
        api.post("/accounts/users/reset/", &admin, unknown).await.0,
        StatusCode::NOT_FOUND
    );
    let ui = json!({"agent_dblclick_action": "explode", "client_tree_splitter": -1});
    let (status, body) = api
        .call(Method::PATCH, "/accounts/users/ui/", Some(&admin), Some(ui))
        .await;
    assert_eq!(
        (status, body),
        bad(json!({"agent_dblclick_action": ["\"explode\" is not a valid choice."],
                   "client_tree_splitter": ["Ensure this value is greater than or equal to 0."]}))
    );
    let after = (
        count(&api, snapshot).await,
        count(&api, "SELECT count(*) FROM audit_logs").await,
    );
    assert_eq!(after, before, "nothing changed");
}

#[tokio::test]
async fn the_root_user_is_protected_from_other_users() {
    let api = TestApi::start_with(|s| s.root_user = Some(common::ADMIN.to_owned())).await;
    let admin = api.admin_token().await;
    let manager = member(&api, "manager", &["can_list_accounts", "can_manage_accounts"]).await;
    let root = user_id(&api, common::ADMIN).await;
    let path = format!("/accounts/{root}/users/");
    let modified = bad(json!("The root user cannot be modified from the UI"));

    assert_eq!(
        api.put(&path, &manager.token, json!({"first_name": "x"})).await,
        modified
    );
    assert_eq!(
        api.delete(&path, &manager.token).await,
        bad(json!("The root user cannot be deleted from the UI"))
    );
    let reset = json!({"id": root, "password": PASSWORD});
    assert_eq!(
        api.post("/accounts/users/reset/", &manager.token, reset).await,
        modified
    );
    assert_eq!(
        api.put("/accounts/users/reset_totp/", &manager.token, json!({"id": root}))
            .await,
        modified
    );
    // Others may still read it, and the root user may change itself.
    assert_eq!(api.get(&path, &manager.token).await.0, StatusCode::OK);
    assert_eq!(
        api.put(&path, &admin, json!({"first_name": "Root"})).await.1,
        json!("ok")
    );
    // Other users are not protected.
    let path = format!("/accounts/{}/users/", manager.id);
    assert_eq!(api.put(&path, &admin, json!({"first_name": "M"})).await.1, json!("ok"));
}

#[tokio::test]
async fn ui_preferences_are_saved_for_the_caller_only() {
    let api = TestApi::start().await;
    let admin = api.admin_token().await;
    let body = json!({"name": "Open", "desc": "", "pattern": "https://example.com/{{agent.hostname}}",
                      "action_type": "web"});
    assert_eq!(api.post("/core/urlaction/", &admin, body).await.0, StatusCode::OK);
    let action = count(&api, "SELECT max(id)::bigint FROM url_actions").await;
    let prefs = json!({"dark_mode": false, "show_community_scripts": false, "agent_dblclick_action": "urlaction",
                       "url_action": action, "default_agent_tbl_tab": "mixed", "client_tree_sort": "alpha",
                       "client_tree_splitter": 20, "loading_bar_color": "blue",
                       "clear_search_when_switching": false, "date_format": "YYYY-MM-DD",
                       "block_dashboard_login": true});
    let (status, body) = api
        .call(Method::PATCH, "/accounts/users/ui/", Some(&admin), Some(prefs))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    let conn = api.db.pool().get().await.unwrap();
    let row = conn
        .query_one(
            "SELECT dark_mode, show_community_scripts, agent_dblclick_action, url_action_id, default_agent_tbl_tab,
                    client_tree_sort, client_tree_splitter, loading_bar_color, clear_search_when_switching,
                    date_format, block_dashboard_login
             FROM users WHERE username = 'admin'",
            &[],
        )
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0) && !row.get::<_, bool>(1) && !row.get::<_, bool>(8));
    assert_eq!(row.get::<_, Option<i32>>(3).map(i64::from), Some(action));
    let texts: Vec<String> = [2, 4, 5, 7].iter().map(|&i| row.get(i)).collect();
    assert_eq!(texts, ["urlaction", "mixed", "alpha", "blue"]);
    assert_eq!(
        (row.get::<_, i16>(6), row.get::<_, Option<String>>(9)),
        (20, Some("YYYY-MM-DD".into()))
    );
    // Blocking oneself is an account manager's decision, not a preference.
    assert!(!row.get::<_, bool>(10));
    let unknown = json!({"url_action": 999});
    let (status, body) = api
        .call(Method::PATCH, "/accounts/users/ui/", Some(&admin), Some(unknown))
        .await;
    assert_eq!(
        (status, body),
        bad(json!({"url_action": ["Invalid pk \"999\" - object does not exist."]}))
    );
}
