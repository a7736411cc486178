//! Scripts run through the dashboard API on the real trmm-agent (common/stack.rs: nats-server with the auth
//! callout, trmm-nats-api, trmm-api, the agent binary): POST /agents/<id>/runscript/ in every output mode and
//! POST /scripts/<id>/test/, with template variables and custom fields expanded on the server. After every
//! run the agent's script directory is empty; after a timeout no process of the script is left.

mod common;
#[allow(dead_code)] // shared with e2e.rs, which uses the rest
#[path = "common/stack.rs"]
mod stack;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use stack::{eventually, Stack, DEADLINE};
use trmm_db::custom_fields::{self, FieldModel, FieldSpec, Parent, ValueInput};
use trmm_db::scripts::{self, ScriptFields};
use trmm_db::{AgentPk, CustomFieldId, ScriptId};

struct Running {
    stack: Stack,
    agent_id: String,
    agent_pk: i64,
    _agent: common::AgentProcess,
}

async fn running() -> Running {
    let (stack, config) = Stack::enrolled().await;
    let agent = stack.spawn_svc(&stack.config_path);
    let agent_id = config.agent_id.clone();
    eventually("ping online", DEADLINE, async || stack.ping(&agent_id).await).await;
    Running {
        agent_id,
        agent_pk: config.agent_pk,
        stack,
        _agent: agent,
    }
}

impl Running {
    async fn db(&self) -> trmm_db::Client {
        self.stack.api.db.pool().get().await.unwrap()
    }

    async fn script(&self, name: &str, shell: &str, body: &str) -> ScriptId {
        let fields = ScriptFields {
            name: name.into(),
            shell: shell.into(),
            script_body: body.into(),
            ..Default::default()
        };
        scripts::create(&self.db().await, scripts::USER_DEFINED, None, &fields, "admin")
            .await
            .unwrap()
    }

    async fn agent_field(&self, name: &str, value: Option<&str>) -> CustomFieldId {
        let conn = self.db().await;
        let spec = FieldSpec {
            name: name.into(),
            model: FieldModel::Agent,
            ..Default::default()
        };
        let id = custom_fields::create(&conn, &spec, "admin").await.unwrap();
        if let Some(v) = value {
            let input = ValueInput {
                field: id,
                string_value: Some(v.into()),
                bool_value: None,
                multiple_value: None,
            };
            let parent = Parent::Agent(AgentPk(self.agent_pk as i32));
            custom_fields::set_value(&conn, parent, &input).await.unwrap();
        }
        id
    }

    /// POSTs and expects 200.
    async fn post_ok(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self
            .stack
            .api
            .call(Method::POST, path, Some(&self.stack.admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        answer
    }

    /// [`Running::post_ok`] for a run that answers once the script is over: its directory must be gone.
    async fn post(&self, path: &str, body: Value) -> Value {
        let answer = self.post_ok(path, body).await;
        self.assert_script_dir_empty();
        answer
    }

    async fn run(&self, body: Value) -> Value {
        self.post(&format!("/agents/{}/runscript/", self.agent_id), body).await
    }

    fn assert_script_dir_empty(&self) {
        let dir = self.stack.dir.path().join("scripts");
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| entries.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
    }

    async fn count(&self, sql: &str) -> i64 {
        self.db().await.query_one(sql, &[]).await.unwrap().get(0)
    }
}

/// Processes of this test's agent (by the marker in their environment) whose command line mentions `needle`.
fn marked_mentioning(marker: &str, needle: &str) -> Vec<u32> {
    let env_needle = format!("TRMM_E2E_MARKER={marker}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
        })
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.windows(env_needle.len()).any(|w| w == env_needle.as_bytes()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_run_with_expanded_inputs_report_exit_codes_and_leave_nothing_behind() {
    let r = running().await;
    r.agent_field("Serial", Some("SN-42")).await;
    let hostname = trmm_agent::telemetry::info::hostname();
    let args = json!(["{{agent.hostname}}", "two words"]);
    let env = json!(["GREETING=hello", "SERIAL={{agent.Serial}}"]);

    let bash = r
        .script(
            "Bash",
            "shell",
            "#!/bin/bash\necho \"args: $1|$2\"\necho \"env: $GREETING $SERIAL\"\necho oops >&2\n",
        )
        .await;
    let result = r
        .run(json!({"script": bash.0, "output": "wait", "args": args, "env_vars": env, "timeout": 20}))
        .await;
    // Template values are single-quoted for every shell but cmd (upstream), and exec passes them verbatim.
    // Env values are not quoted.
    assert_eq!(
        result["stdout"],
        format!("args: '{hostname}'|two words\nenv: hello SN-42\n")
    );
    assert_eq!(
        (result["stderr"].clone(), result["retcode"].clone()),
        (json!("oops\n"), json!(0))
    );

    let python = r
        .script(
            "Python",
            "python",
            "#!/usr/bin/env python3\nimport os, sys\nprint('py', sys.argv[1:])\nprint(os.environ['SERIAL'])\n\
             sys.stderr.write('py err\\n')\nsys.exit(4)\n",
        )
        .await;
    let result = r
        .run(json!({"script": python.0, "output": "wait", "args": args, "env_vars": env, "timeout": 20}))
        .await;
    assert_eq!(result["stdout"], format!("py [\"'{hostname}'\", 'two words']\nSN-42\n"));
    assert_eq!(
        (result["stderr"].clone(), result["retcode"].clone()),
        (json!("py err\n"), json!(4))
    );

    let exit3 = r.script("Exit 3", "shell", "#!/bin/bash\nexit 3\n").await;
    let result = r.run(json!({"script": exit3.0, "output": "wait", "timeout": 20})).await;
    assert_eq!(result["retcode"], 3, "{result}");

    // A script past its timeout: answered within 5 s with 98, and its whole process tree is gone.
    let sleeper = r
        .script("Sleeper", "shell", "#!/bin/bash\nsleep 30\necho never\n")
        .await;
    let started = Instant::now();
    let result = r
        .run(json!({"script": sleeper.0, "output": "wait", "timeout": 2}))
        .await;
    let took = started.elapsed();
    eprintln!("sleep 30 with timeout 2 answered in {took:?}");
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert_eq!(result["retcode"], 98, "{result}");
    assert!(
        result["stderr"]
            .as_str()
            .unwrap_or_default()
            .contains("Timed out after 2 seconds"),
        "{result}"
    );
    let scripts = r.stack.dir.path().join("scripts").display().to_string();
    eventually("no process of the script left", Duration::from_secs(2), async || {
        let mut left = marked_mentioning(&r.stack.marker, "sleep 30");
        left.extend(marked_mentioning(&r.stack.marker, &scripts));
        left.is_empty().then_some(()).ok_or(format!("still running: {left:?}"))
    })
    .await;

    // Unsaved code from the editor runs the same way, without a history entry.
    let test = json!({"code": "#!/bin/bash\necho \"test $1 $X\"\nexit 7\n", "shell": "shell",
        "args": ["{{site.name}}"], "env_vars": ["X={{client.name}}"], "timeout": 10, "run_as_user": false});
    let result = r.post(&format!("/scripts/{}/test/", r.agent_id), test).await;
    assert_eq!(
        (result["stdout"].clone(), result["retcode"].clone()),
        (json!("test 'HQ' Acme\n"), json!(7))
    );

    // Every library run has its history entry with the result, and every run (tests too) an audit row.
    eventually("results recorded", DEADLINE, async || {
        let n = r
            .count("SELECT count(*) FROM agent_history WHERE type = 'script_run' AND script_results IS NOT NULL")
            .await;
        (n == 4).then_some(()).ok_or(format!("{n} of 4"))
    })
    .await;
    assert_eq!(r.count("SELECT count(*) FROM agent_history").await, 4);
    assert_eq!(
        r.count("SELECT count(*) FROM audit_logs WHERE action = 'execute_script'")
            .await,
        5
    );
    r.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_note_and_forget_outputs_land_where_they_belong() {
    let r = running().await;
    let field = r.agent_field("Asset Tag", None).await;
    let collect = r
        .script("Collect", "shell", "#!/bin/bash\necho header\necho '  TAG-7  '\n")
        .await;
    r.run(json!({"script": collect.0, "output": "collector", "custom_field": field.0, "timeout": 20}))
        .await;
    let sql = "SELECT string_value FROM agent_custom_fields WHERE field_id = $1";
    let stored: Option<String> = r.db().await.query_one(sql, &[&field.0]).await.unwrap().get(0);
    assert_eq!(stored.as_deref(), Some("TAG-7"));

    let note = r.script("Note", "shell", "#!/bin/bash\necho 'disk is fine'\n").await;
    r.run(json!({"script": note.0, "output": "note", "timeout": 20})).await;
    let (_, notes) = r
        .stack
        .api
        .get(&format!("/agents/{}/notes/", r.agent_id), &r.stack.admin)
        .await;
    assert_eq!(notes.as_array().map(Vec::len), Some(1), "{notes}");
    assert_eq!(notes[0]["note"], "disk is fine\n");
    assert_eq!(notes[0]["username"], "admin");

    // Forget: the reply is the promise; the result arrives later through the agent's histresult report.
    let fire = r.script("Fire", "shell", "#!/bin/bash\necho fired\n").await;
    let answer = r
        .post_ok(
            &format!("/agents/{}/runscript/", r.agent_id),
            json!({"script": fire.0, "output": "forget", "timeout": 20}),
        )
        .await;
    let hostname = trmm_agent::telemetry::info::hostname();
    assert_eq!(answer, json!(format!("Fire will now be run on {hostname}")));
    let history = eventually("the forgotten run's result", DEADLINE, async || {
        let (_, rows) = r
            .stack
            .api
            .get(&format!("/agents/{}/history/", r.agent_id), &r.stack.admin)
            .await;
        let fired = rows
            .as_array()
            .into_iter()
            .flatten()
            .any(|h| h["script_results"]["stdout"] == "fired\n");
        if fired {
            Ok(rows)
        } else {
            Err(rows.to_string())
        }
    })
    .await;
    let names: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["script_name"].as_str())
        .collect();
    assert_eq!(names, ["Collect", "Note", "Fire"]);
    r.assert_script_dir_empty();
    assert_eq!(
        r.count("SELECT count(*) FROM audit_logs WHERE action = 'execute_script'")
            .await,
        3
    );
    r.stack.shutdown().await;
}
