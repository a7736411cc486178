//! POST /agents/<agent_id>/runscript/ and POST /scripts/<agent_id>/test/ through the gRPC AgentGateway and NATS
//! to a fake agent (below): envelopes, template and snippet expansion, output modes, the two ways a result arrives,
//! and refusals. The real trmm-agent runs scripts in services/agent/tests/scripts.rs.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::gateway::{suite, Seen, Suite};
use common::{count, user, wait_until, ADMIN};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_db::custom_fields::{self, FieldModel, FieldSpec, Parent, ValueInput};
use trmm_db::snippets::{self, SnippetFields};
use trmm_db::{AgentPk, CustomFieldId};
use trmm_protocol::nats::{self, Command, RunScriptResponse};

/// What the fake agent received, and how it reports.
#[derive(Clone)]
struct FakeAgent {
    seen: Seen,
    /// PATCH histresult before replying (the real agent replies first).
    histresult_first: Arc<AtomicBool>,
}

impl FakeAgent {
    fn commands(&self) -> Vec<Command> {
        self.seen.lock().unwrap().clone()
    }
}

/// The fake agent's result: args, env vars and a last line naming how the result was delivered.
fn result_of(cmd: &Command, via: &str) -> RunScriptResponse {
    let args = cmd.script_args.clone().unwrap_or_default().join(" ");
    let env = cmd.env_vars.clone().unwrap_or_default().join(" ");
    RunScriptResponse {
        stdout: format!("{args}\n{env}\nvia {via}\n"),
        stderr: "warned\n".into(),
        retcode: 0,
        execution_time: 0.25,
        id: cmd.id.unwrap_or(0),
    }
}

/// A fresh suite with agent 1, "alpha", played by a [`fake_agent`]; returns the suite, what [`Suite::agent`]
/// returns and the fake.
async fn alpha_with_fake_agent() -> (Suite, (String, i64, String), FakeAgent) {
    let s = suite().await;
    let alpha = s.agent(1, "alpha").await;
    let agent = fake_agent(&s, &alpha.0, &alpha.2).await;
    (s, alpha, agent)
}

/// Answers scripts for `agent_id`; histresult reports go to the API with the agent's token. A reply delivered
/// second would be ignored by the server, so with `histresult_first` only the PATCH runs before the reply.
async fn fake_agent(s: &Suite, agent_id: &str, token: &str) -> FakeAgent {
    let client = async_nats::connect(s.nats.url()).await.unwrap();
    let mut sub = trmm_testkit::subscribe_live(&client, agent_id, agent_id).await;
    let agent = FakeAgent {
        seen: Arc::default(),
        histresult_first: Arc::default(),
    };
    let (state, url, id, token) = (agent.clone(), s.api.url.clone(), agent_id.to_owned(), token.to_owned());
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        while let Some(msg) = sub.next().await {
            let Ok(cmd) = nats::decode::<Command>(&msg.payload) else {
                continue;
            };
            state.seen.lock().unwrap().push(cmd.clone());
            if !cmd.func.starts_with("runscript") {
                continue;
            }
            let report = async |via: &str| {
                let hist = cmd.id.filter(|h| *h != 0)?;
                let body = json!({ "script_results": result_of(&cmd, via) });
                let resp = http
                    .patch(format!("{url}/api/v3/{hist}/{id}/histresult/"))
                    .header("Authorization", format!("Token {token}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                Some(())
            };
            let first = state.histresult_first.load(Ordering::SeqCst);
            if first {
                report("histresult").await;
            }
            if let Some(reply_to) = msg.reply {
                let payload = if cmd.func == "runscriptfull" {
                    nats::encode(&result_of(&cmd, "reply")).unwrap()
                } else {
                    let r = result_of(&cmd, "reply");
                    nats::encode(&format!("{}{}", r.stdout, r.stderr)).unwrap()
                };
                client.publish(reply_to, payload.into()).await.unwrap();
            } else if !first {
                // A publish (forget): the histresult report is the only way the result comes back.
                report("histresult").await;
            }
        }
    });
    agent
}

/// An agent text field named `name`, optionally with a value on agent `pk`.
async fn agent_field(s: &Suite, name: &str, value: Option<(i64, &str)>) -> CustomFieldId {
    let conn = s.db().await;
    let spec = FieldSpec {
        name: name.into(),
        model: FieldModel::Agent,
        ..Default::default()
    };
    let id = custom_fields::create(&conn, &spec, ADMIN).await.unwrap();
    if let Some((pk, v)) = value {
        let input = ValueInput {
            field: id,
            string_value: Some(v.into()),
            bool_value: None,
            multiple_value: None,
        };
        let parent = Parent::Agent(AgentPk(pk as i32));
        custom_fields::set_value(&conn, parent, &input).await.unwrap();
    }
    id
}

async fn field_value(s: &Suite, field: CustomFieldId) -> Option<String> {
    let sql = "SELECT string_value FROM agent_custom_fields WHERE field_id = $1";
    let row = s.db().await.query_opt(sql, &[&field.0]).await.unwrap();
    row.and_then(|r| r.get(0))
}

async fn stored_results(s: &Suite, hist: i64) -> Option<Value> {
    let sql = "SELECT script_results FROM agent_history WHERE id = $1";
    s.db().await.query_one(sql, &[&hist]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_script_runs_with_expanded_inputs_and_is_recorded_once() {
    let (s, (id, pk, token), agent) = alpha_with_fake_agent().await;
    agent_field(&s, "Serial", Some((pk, "SN-42"))).await;
    {
        let conn = s.db().await;
        trmm_db::keystore::create(&conn, "greeting", "hi there", ADMIN)
            .await
            .unwrap();
        let snippet = SnippetFields {
            name: "helper".into(),
            desc: String::new(),
            code: "echo from-snippet".into(),
            shell: "shell".into(),
        };
        snippets::create(&conn, &snippet).await.unwrap();
    }
    let script = s
        .script("Inventory", "#!/bin/bash\n{{helper}}\necho \"$1\"\n", &["default"])
        .await;

    let body = json!({"script": script.0, "output": "wait", "timeout": 20, "run_as_user": false,
        "args": ["{{agent.hostname}}", "{{agent.Serial}}", "plain"],
        "env_vars": ["GREETING={{global.greeting}}", "SITE={{site.name}}"]});
    let (status, result) = s.api.post(&format!("/agents/{id}/runscript/"), &s.admin, body).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(
        result["stdout"],
        "'alpha' 'SN-42' plain\nGREETING=hi there SITE=HQ\nvia reply\n"
    );
    assert_eq!(
        (result["stderr"].clone(), result["retcode"].clone()),
        (json!("warned\n"), json!(0))
    );

    let sent = agent.commands();
    assert_eq!(sent.len(), 1);
    let cmd = &sent[0];
    assert_eq!((cmd.func.as_str(), cmd.timeout), ("runscriptfull", 20));
    assert_eq!(cmd.payload["shell"], "shell");
    assert_eq!(cmd.payload["code"], "#!/bin/bash\necho from-snippet\necho \"$1\"\n");
    assert_eq!(cmd.run_as_user, Some(false));
    assert_eq!(cmd.deno_default_permissions.as_deref(), Some("--allow-all"));
    let hist = cmd.id.expect("a history id");
    assert_eq!(result["id"], hist);

    let conn = s.db().await;
    let row = conn
        .query_one(
            "SELECT type, script_id, username FROM agent_history WHERE id = $1",
            &[&hist],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "script_run");
    assert_eq!(row.get::<_, Option<i32>>(1), Some(script.0));
    assert_eq!(row.get::<_, String>(2), ADMIN);
    assert_eq!(stored_results(&s, hist).await.unwrap()["stdout"], result["stdout"]);
    assert_eq!(trmm_db::audit::count(&conn, "execute_script", ADMIN).await.unwrap(), 1);

    // The agent's histresult report of the same run comes second: accepted, but the stored result stays.
    let late =
        json!({"script_results": {"stdout": "late", "stderr": "", "retcode": 1, "execution_time": 1.0, "id": hist}});
    let path = format!("/api/v3/{hist}/{id}/histresult/");
    let (status, body) = s.api.call(Method::PATCH, &path, Some(&token), Some(late)).await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    assert_eq!(stored_results(&s, hist).await.unwrap()["stdout"], result["stdout"]);

    // Without args, env vars or timeout the script's defaults apply.
    let body = json!({"script": script.0, "output": "wait"});
    let (status, result) = s.api.post(&format!("/agents/{id}/runscript/"), &s.admin, body).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    let cmd = agent.commands().pop().unwrap();
    assert_eq!(
        (cmd.timeout, cmd.script_args, cmd.env_vars),
        (30, Some(vec!["default".into()]), Some(vec![]))
    );
}

#[tokio::test]
async fn collector_and_note_output_is_saved_once_whichever_result_arrives_first() {
    let (s, (id, _, token), agent) = alpha_with_fake_agent().await;
    let script = s.script("Collect", "#!/bin/bash\necho hi\n", &[]).await;
    let path = format!("/agents/{id}/runscript/");
    let run = |body: Value| s.api.post(&path, &s.admin, body);

    // By reply: the last stdout line lands in the field; a later histresult changes nothing.
    let field = agent_field(&s, "Last Line", None).await;
    let (status, result) = run(
        json!({"script": script.0, "output": "collector", "custom_field": field.0,
        "args": ["a"], "timeout": 10}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(field_value(&s, field).await.as_deref(), Some("via reply"));
    let hist = result["id"].as_i64().unwrap();
    let late =
        json!({"script_results": {"stdout": "other\n", "stderr": "", "retcode": 0, "execution_time": 1.0, "id": hist}});
    let report = format!("/api/v3/{hist}/{id}/histresult/");
    assert_eq!(
        s.api.call(Method::PATCH, &report, Some(&token), Some(late)).await.0,
        StatusCode::OK
    );
    assert_eq!(field_value(&s, field).await.as_deref(), Some("via reply"));

    // By histresult first: that report fills the field (all of stdout here), the reply after it does not.
    agent.histresult_first.store(true, Ordering::SeqCst);
    let all = agent_field(&s, "All Output", None).await;
    let (status, result) = run(json!({"script": script.0, "output": "collector", "custom_field": all.0,
        "save_all_output": true, "args": ["b"], "timeout": 10}))
    .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(field_value(&s, all).await.as_deref(), Some("b\n\nvia histresult"));

    // Note output: exactly one note, from whichever result came first, attributed to the user who ran it.
    let (status, result) = run(json!({"script": script.0, "output": "note", "timeout": 10})).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    let (status, notes) = s.api.get(&format!("/agents/{id}/notes/"), &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(notes.as_array().unwrap().len(), 1, "{notes}");
    assert_eq!(notes[0]["note"], "\n\nvia histresult\nwarned\n");
    assert_eq!(notes[0]["username"], ADMIN);
    let hist = result["id"].as_i64().unwrap();
    assert_eq!(
        stored_results(&s, hist).await.unwrap()["stdout"],
        "\n\nvia histresult\n"
    );
    let flags = "SELECT count(*) FROM agent_history WHERE save_to_agent_note AND custom_field_id IS NULL";
    assert_eq!(count(&s.api, flags).await, 1);
    assert_eq!(
        count(&s.api, "SELECT count(*) FROM agent_history WHERE collector_all_output").await,
        1
    );
}

#[tokio::test]
async fn forget_publishes_and_keeps_the_histresult_report() {
    let (s, (id, _, _), agent) = alpha_with_fake_agent().await;
    let script = s.script("Fire", "#!/bin/bash\ntrue\n", &[]).await;
    let body = json!({"script": script.0, "output": "forget", "args": [], "env_vars": [], "timeout": 15});
    let (status, body) = s.api.post(&format!("/agents/{id}/runscript/"), &s.admin, body).await;
    assert_eq!((status, body), (StatusCode::OK, json!("Fire will now be run on alpha")));
    wait_until("the histresult report", Duration::from_secs(10), || async {
        count(
            &s.api,
            "SELECT count(*) FROM agent_history WHERE script_results->>'stdout' LIKE '%via histresult%'",
        )
        .await
            == 1
    })
    .await;
    let cmd = agent.commands().pop().unwrap();
    assert_eq!((cmd.func.as_str(), cmd.timeout), ("runscript", 15));
    // The lists are always sent, even when empty (the Go agent expects the keys).
    assert_eq!((cmd.script_args, cmd.env_vars), (Some(vec![]), Some(vec![])));
}

#[tokio::test]
async fn bad_input_is_a_400_and_nothing_reaches_the_agent() {
    let (s, (id, _, _), agent) = alpha_with_fake_agent().await;
    let script = s.script("Ok", "#!/bin/bash\ntrue\n", &[]).await.0;
    let run = format!("/agents/{id}/runscript/");
    let test = format!("/scripts/{id}/test/");
    let cases = [
        (&run, json!({"script": 999_999, "output": "wait", "timeout": 10})),
        (&run, json!({"output": "wait", "timeout": 10})),
        (&run, json!({"script": script, "output": "later", "timeout": 10})),
        (&run, json!({"script": script, "output": "wait", "timeout": -5})),
        (&run, json!({"script": script, "output": "wait", "timeout": 0})),
        (
            &run,
            json!({"script": script, "output": "wait", "timeout": 10, "args": "-x"}),
        ),
        (
            &run,
            json!({"script": script, "output": "wait", "timeout": 10, "env_vars": {"A": "1"}}),
        ),
        (&run, json!({"script": script, "output": "collector", "timeout": 10})),
        (
            &run,
            json!({"script": script, "output": "collector", "custom_field": 424_242, "timeout": 10}),
        ),
        (
            &run,
            json!({"script": script, "output": "email", "emailMode": "default", "timeout": 10}),
        ),
        (
            &test,
            json!({"code": "echo", "shell": "bash", "args": [], "env_vars": [], "timeout": 10}),
        ),
        (
            &test,
            json!({"code": "echo", "shell": "shell", "args": [], "env_vars": [], "timeout": -1}),
        ),
        (
            &test,
            json!({"code": "echo", "shell": "shell", "args": "x", "env_vars": [], "timeout": 10}),
        ),
    ];
    for (path, body) in cases {
        let (status, answer) = s.api.post(path, &s.admin, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body} → {answer}");
    }
    // Users without the permission, or without the agent's client, are refused as well.
    let nobody = user(&s.api, "nobody", &["can_list_agents"], None).await;
    let (other, _) = s.api.client_with_site(&s.admin, "Other", "Main").await;
    let outsider = user(&s.api, "outsider", &["can_run_scripts"], Some(other)).await;
    let ok = json!({"script": script, "output": "wait", "timeout": 10});
    assert_eq!(s.api.post(&run, &nobody, ok.clone()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.api.post(&run, &outsider, ok).await.0, StatusCode::FORBIDDEN);
    assert_eq!(count(&s.api, "SELECT count(*) FROM agent_history").await, 0);
    assert_eq!(
        count(
            &s.api,
            "SELECT count(*) FROM audit_logs WHERE action = 'execute_script'"
        )
        .await,
        0
    );

    // Unsaved code then runs; it is the first and only command the agent ever got.
    let body = json!({"code": "#!/usr/bin/env python3\nprint('t')", "shell": "python", "args": ["{{agent.hostname}}"],
        "env_vars": ["X=1"], "timeout": 7, "run_as_user": false});
    let (status, result) = s.api.post(&test, &s.admin, body).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["stdout"], "'alpha'\nX=1\nvia reply\n");
    let sent = agent.commands();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (sent[0].func.as_str(), sent[0].timeout, sent[0].id),
        ("runscriptfull", 7, None)
    );
    assert_eq!(sent[0].payload["shell"], "python");
    let audit = "SELECT count(*) FROM audit_logs WHERE action = 'execute_script' AND message = 'admin tested a script on alpha'";
    assert_eq!(count(&s.api, audit).await, 1);
    assert_eq!(count(&s.api, "SELECT count(*) FROM agent_history").await, 0);
}

#[tokio::test]
async fn an_offline_agent_gets_a_400_or_a_queued_script() {
    let s = suite().await;
    let (id, _, _) = s.agent(1, "alpha").await;
    let script = s.script("Later", "#!/bin/bash\ntrue\n", &[]).await.0;
    let path = format!("/agents/{id}/runscript/");
    let (status, body) = s
        .api
        .post(
            &path,
            &s.admin,
            json!({"script": script, "output": "wait", "timeout": 5}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!("Unable to contact the agent: the agent is offline")
        )
    );
    for output in ["wait", "note", "forget"] {
        let body = json!({"script": script, "output": output, "timeout": 5, "queue_if_offline": true});
        let (status, body) = s.api.post(&path, &s.admin, body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.as_str().unwrap().contains("queued"), "{body}");
    }
    let sql = "SELECT count(*) FROM pending_actions p JOIN agent_history h ON h.id = (p.details->>'history_id')::bigint
               WHERE p.action_type = 'runscript' AND p.status = 'pending' AND h.script_results IS NULL";
    assert_eq!(count(&s.api, sql).await, 3);
    let (_, actions) = s.api.get(&format!("/agents/{id}/pendingactions/"), &s.admin).await;
    assert_eq!(actions.as_array().map(Vec::len), Some(3), "{actions}");
    assert_eq!(actions[0]["description"], "Run script: Later");
}
