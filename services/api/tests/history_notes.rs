//! Agent history views (GET /agents/<agent_id>/history/, /agents/history/, /agents/scripthistory/) and agent
//! notes (/agents/<agent_id>/notes/, /agents/notes/ CRUD): row shapes, filters, permissions and role scope.

mod common;

use common::gateway::suite;
use common::{agent_id, bravo_at_other, find, keys, user, ADMIN};
use reqwest::StatusCode;
use serde_json::json;
use trmm_db::history::{self, HistoryType, NewScriptRun};
use trmm_db::AgentPk;

#[tokio::test]
async fn history_views_show_runs_within_the_users_scope() {
    let s = suite().await;
    let (alpha, alpha_pk, _) = s.agent(1, "alpha").await;
    let (bravo, bravo_pk, _) = bravo_at_other(&s.api, &s.admin).await;
    let inventory = s.script("Inventory", "#!/bin/bash\n", &[]).await;
    let cleanup = s.script("Cleanup", "#!/bin/bash\n", &[]).await;
    let results = json!({"stdout": "ok\n", "stderr": "", "retcode": 0, "execution_time": 0.5});
    let (cmd, inv_alpha, inv_bravo) = {
        let conn = s.db().await;
        let run = |script| NewScriptRun {
            script: Some(script),
            username: ADMIN,
            ..Default::default()
        };
        let (a, b) = (AgentPk(alpha_pk as i32), AgentPk(bravo_pk as i32));
        let cmd = history::create(&conn, a, HistoryType::CmdRun, "uptime", ADMIN)
            .await
            .unwrap();
        let inv_alpha = history::create_script_run(&conn, a, &run(inventory)).await.unwrap();
        history::record_script_results(&conn, inv_alpha, a, &results)
            .await
            .unwrap();
        let inv_bravo = history::create_script_run(&conn, b, &run(inventory)).await.unwrap();
        history::create_script_run(&conn, b, &run(cleanup)).await.unwrap();
        (cmd, inv_alpha, inv_bravo)
    };
    // One run happened two days ago, for the date filter.
    let sql = "UPDATE agent_history SET time = '2024-05-01T10:00:00Z' WHERE id = $1";
    s.db().await.execute(sql, &[&inv_bravo]).await.unwrap();

    let (status, rows) = s.api.get(&format!("/agents/{alpha}/history/"), &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let rows = rows.as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], cmd);
    assert_eq!(
        (rows[0]["type"].clone(), rows[0]["command"].clone()),
        (json!("cmd_run"), json!("uptime"))
    );
    let expected = [
        "agent",
        "collector_all_output",
        "command",
        "custom_field",
        "id",
        "results",
        "save_to_agent_note",
        "script",
        "script_name",
        "script_results",
        "time",
        "type",
        "username",
    ];
    assert_eq!(keys(&rows[1]), expected);
    assert_eq!(rows[1]["script_name"], "Inventory");
    assert_eq!(rows[1]["script"], inventory.0);
    assert_eq!(rows[1]["agent"], alpha_pk);
    assert_eq!(rows[1]["script_results"], results);
    assert!(rows[1]["time"].as_str().unwrap().ends_with('Z'), "{}", rows[1]["time"]);

    let (_, all) = s.api.get("/agents/history/", &s.admin).await;
    assert_eq!(all.as_array().unwrap().len(), 4);
    let tech = user(&s.api, "tech", &["can_list_agent_history"], Some(s.client)).await;
    let (status, mine) = s.api.get("/agents/history/", &tech).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        mine.as_array().unwrap().iter().all(|r| r["agent"] == alpha_pk),
        "{mine}"
    );
    assert_eq!(mine.as_array().unwrap().len(), 2);
    assert_eq!(
        s.api.get(&format!("/agents/{bravo}/history/"), &tech).await.0,
        StatusCode::FORBIDDEN
    );
    let nobody = user(&s.api, "nobody", &["can_list_agents"], None).await;
    assert_eq!(s.api.get("/agents/history/", &nobody).await.0, StatusCode::FORBIDDEN);

    // Script history: script runs only, newest first, with filters.
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let (status, runs) = s.api.get("/agents/scripthistory/", &s.admin).await;
    assert_eq!(status, StatusCode::OK, "{runs}");
    assert_eq!(ids(&runs).len(), 3);
    assert_eq!(*ids(&runs).last().unwrap(), inv_bravo);
    assert_eq!(
        keys(&runs[0]),
        [
            "agent",
            "agent_id",
            "id",
            "script",
            "script_name",
            "script_results",
            "time",
            "username"
        ]
    );
    let (_, named) = s.api.get("/agents/scripthistory/?scriptname=Inventory", &s.admin).await;
    assert_eq!(ids(&named), [inv_alpha, inv_bravo]);
    assert_eq!(named[0]["agent_id"], alpha.as_str());
    let (_, limited) = s
        .api
        .get("/agents/scripthistory/?limit=1&scriptname=Inventory", &s.admin)
        .await;
    assert_eq!(ids(&limited), [inv_alpha]);
    let (_, dated) = s
        .api
        .get("/agents/scripthistory/?start=2024-05-01&end=2024-05-01", &s.admin)
        .await;
    assert_eq!(ids(&dated), [inv_bravo]);
    let (_, scoped) = s.api.get("/agents/scripthistory/", &tech).await;
    assert_eq!(ids(&scoped), [inv_alpha]);
    for bad in ["limit=many", "limit=-1", "start=yesterday&end=2024-05-01"] {
        let (status, _) = s.api.get(&format!("/agents/scripthistory/?{bad}"), &s.admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn notes_are_managed_within_the_users_scope() {
    let s = suite().await;
    let (alpha, _, _) = s.agent(1, "alpha").await;
    let (bravo, _, _) = bravo_at_other(&s.api, &s.admin).await;

    let added = (StatusCode::OK, json!("Note added!"));
    for (body, expected) in [
        (json!({"agent_id": alpha, "note": "first"}), added.clone()),
        (json!({"agent_id": alpha, "note": "second"}), added.clone()),
        (json!({"agent_id": bravo, "note": "elsewhere"}), added),
        (
            json!({"agent_id": alpha}),
            (StatusCode::BAD_REQUEST, json!("Cannot add an empty note")),
        ),
        (
            json!({"agent_id": alpha, "note": ""}),
            (
                StatusCode::BAD_REQUEST,
                json!({"note": ["This field may not be blank."]}),
            ),
        ),
    ] {
        assert_eq!(
            s.api.post("/agents/notes/", &s.admin, body.clone()).await,
            expected,
            "{body}"
        );
    }
    let unknown = json!({"agent_id": agent_id(9), "note": "x"});
    assert_eq!(
        s.api.post("/agents/notes/", &s.admin, unknown).await.0,
        StatusCode::NOT_FOUND
    );

    let (status, notes) = s.api.get(&format!("/agents/{alpha}/notes/"), &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    let notes = notes.as_array().unwrap().clone();
    assert_eq!(notes.len(), 2);
    assert_eq!(keys(&notes[0]), ["agent_id", "entry_time", "note", "pk", "username"]);
    assert_eq!(
        (notes[0]["note"].clone(), notes[0]["username"].clone()),
        (json!("first"), json!(ADMIN))
    );
    let first = notes[0]["pk"].as_i64().unwrap();
    let (_, all) = s.api.get("/agents/notes/", &s.admin).await;
    assert_eq!(all.as_array().unwrap().len(), 3);

    let one = format!("/agents/notes/{first}/");
    let (status, body) = s.api.put(&one, &s.admin, json!({"note": "edited"})).await;
    assert_eq!((status, body), (StatusCode::OK, json!("Note edited!")));
    let (_, note) = s.api.get(&one, &s.admin).await;
    assert_eq!(
        (note["note"].clone(), note["agent_id"].clone()),
        (json!("edited"), json!(alpha))
    );

    // A reader of Acme only: sees Acme's notes, cannot touch them, cannot see Other's.
    let reader = user(&s.api, "reader", &["can_list_notes"], Some(s.client)).await;
    let (_, visible) = s.api.get("/agents/notes/", &reader).await;
    assert!(
        visible
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["agent_id"] == alpha.as_str()),
        "{visible}"
    );
    assert_eq!(visible.as_array().unwrap().len(), 2);
    assert_eq!(s.api.get(&one, &reader).await.0, StatusCode::OK);
    assert_eq!(s.api.delete(&one, &reader).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        s.api.get(&format!("/agents/{bravo}/notes/"), &reader).await.0,
        StatusCode::FORBIDDEN
    );
    let bravo_note = &find(&all, "agent_id", &bravo)["pk"];
    let theirs = format!("/agents/notes/{bravo_note}/");
    assert_eq!(s.api.get(&theirs, &reader).await.0, StatusCode::FORBIDDEN);
    let writer = user(&s.api, "writer", &["can_manage_notes"], Some(s.client)).await;
    let add_theirs = json!({"agent_id": bravo, "note": "x"});
    assert_eq!(
        s.api.post("/agents/notes/", &writer, add_theirs).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(s.api.delete(&theirs, &writer).await.0, StatusCode::FORBIDDEN);

    let (status, body) = s.api.delete(&one, &writer).await;
    assert_eq!((status, body), (StatusCode::OK, json!("Note was deleted!")));
    assert_eq!(s.api.get(&one, &s.admin).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        s.api.get("/agents/notes/nope/", &s.admin).await.0,
        StatusCode::NOT_FOUND
    );
}
