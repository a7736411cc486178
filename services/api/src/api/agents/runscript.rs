//! Running scripts on an agent: a library script (TRMM agents/views.py::run_script) and unsaved code from the
//! script editor (scripts/views.py::TestScript). Every input is checked before anything is written or sent.

use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use trmm_db::{scripts, ScriptId};
use trmm_ops::script::{self, OutputRequest, Ran, ScriptRun};
use trmm_ops::{templates, OpsError};
use trmm_protocol::calls::RunScriptFull;

use super::AGENT_ID;
use crate::api::audit::{self, Change};
use crate::api::routes::{self, Routes};
use crate::auth::perms::RunScripts;
use crate::auth::ScopedAgent;
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    cfg.route(&format!("/agents/{AGENT_ID}/runscript/"), routes::post().to(run_script))
        .route(&format!("/scripts/{AGENT_ID}/test/"), routes::post().to(test_script));
}

#[derive(Deserialize)]
struct RunScriptBody {
    script: i32,
    output: String,
    args: Option<Vec<String>>,
    env_vars: Option<Vec<String>>,
    timeout: Option<i64>,
    run_as_user: Option<bool>,
    #[serde(rename = "emailMode")]
    email_mode: Option<String>,
    #[serde(default)]
    emails: Vec<String>,
    custom_field: Option<i32>,
    #[serde(default)]
    save_all_output: bool,
    #[serde(default)]
    run_on_server: bool,
    /// Beyond TRMM: an offline agent gets the script as a pending action instead of an error.
    #[serde(default)]
    queue_if_offline: bool,
}

/// `POST /agents/<agent_id>/runscript/`.
async fn run_script(
    caller: ScopedAgent<RunScripts>,
    req: HttpRequest,
    Json(body): Json<RunScriptBody>,
) -> ApiResult<HttpResponse> {
    let (state, agent, who) = (&caller.state, &caller.agent, &caller.identity);
    if !script::OUTPUTS.contains(&body.output.as_str()) {
        return Err(OpsError::not_a_choice("output", &body.output).into());
    }
    if body.run_on_server {
        // Upstream answers this when server-side scripts are switched off; trmm-rs never runs them.
        return Err(ApiError::BadRequest("This feature is disabled.".into()));
    }
    let timeout = body.timeout.map(script::check_timeout).transpose()?;
    let db = state.conn().await?;
    let row = scripts::get(&db, ScriptId(body.script)).await?.ok_or_else(|| {
        ApiError::field(
            "script",
            format!("Invalid pk \"{}\" - object does not exist.", body.script),
        )
    })?;
    let output = OutputRequest {
        output: &body.output,
        custom_field: body.custom_field,
        save_all_output: body.save_all_output,
        email_mode: body.email_mode.as_deref(),
        emails: body.emails,
    };
    let output = output.check(&db).await?;
    let s = &row.fields;
    let inputs = (body.args, body.env_vars);
    let mut call = script::library_call(&db, &row, timeout, inputs, body.run_as_user.unwrap_or(s.run_as_user)).await?;
    (call.args, call.env_vars) =
        templates::expand_script_inputs(&db, agent, &call.shell, &call.args, &call.env_vars).await?;
    let message = format!("{} ran script: \"{}\" on {}", who.username(), s.name, agent.hostname);
    let change = Change::action("execute_script", "agent", message).on(Some(agent));
    audit::record(&db, state, &req, who, change).await?;
    // No pooled connection is held while the script runs.
    drop(db);
    let run = ScriptRun {
        agent,
        script: row.id,
        name: &s.name,
        username: who.username(),
        call,
        output,
        queue_if_offline: body.queue_if_offline,
    };
    Ok(match state.ops().run_script(run).await? {
        Ran::Results(results) => HttpResponse::Ok().json(results),
        Ran::Said(said) => HttpResponse::Ok().json(said),
    })
}

#[derive(Deserialize)]
struct TestScriptBody {
    code: String,
    shell: String,
    args: Option<Vec<String>>,
    env_vars: Option<Vec<String>>,
    timeout: i64,
    #[serde(default)]
    run_as_user: bool,
}

/// `POST /scripts/<agent_id>/test/`: runs unsaved code and returns the agent's `runscriptfull` reply.
async fn test_script(
    caller: ScopedAgent<RunScripts>,
    req: HttpRequest,
    Json(body): Json<TestScriptBody>,
) -> ApiResult<HttpResponse> {
    let (state, agent, who) = (&caller.state, &caller.agent, &caller.identity);
    if !templates::SHELLS.contains(&body.shell.as_str()) {
        return Err(OpsError::not_a_choice("shell", &body.shell).into());
    }
    let timeout = script::check_timeout(body.timeout)?;
    let db = state.conn().await?;
    let (args, env_vars) = (body.args.unwrap_or_default(), body.env_vars.unwrap_or_default());
    let inputs = templates::expand_script_inputs(&db, agent, &body.shell, &args, &env_vars).await?;
    let code = templates::expand_snippets(&db, &body.code).await?;
    // Upstream keeps the tested body in the audit row's debug_info; here it is the row's after value.
    let message = format!("{} tested a script on {}", who.username(), agent.hostname);
    let change = Change::action("execute_script", "agent", message)
        .with_after(json!({ "script_body": code, "shell": body.shell }))
        .on(Some(agent));
    audit::record(&db, state, &req, who, change).await?;
    drop(db);
    let call = RunScriptFull(script::call(code, &body.shell, timeout, inputs, body.run_as_user));
    // Upstream waits exactly `timeout`, racing the agent's own kill; the grace lets a timed-out run report.
    let results = state
        .gateway
        .call(&agent.agent_id, call, script::reply_wait(timeout))
        .await?;
    Ok(HttpResponse::Ok().json(results))
}
