//! Running scripts on an agent: a library script (TRMM agents/views.py::run_script) and unsaved code from the
//! script editor (scripts/views.py::TestScript). Every input is checked before anything is written or sent.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use trmm_db::history::{self, NewScriptRun};
use trmm_db::{custom_fields, jobs, scripts, CustomFieldId, ScriptId};
use trmm_jobs::{QueuedRun, QueuedShown};
use trmm_ops::record;
use trmm_protocol::calls::{RunScript, RunScriptFull, Script};
use trmm_rpc::client::{GatewayError, PROBE_TIMEOUT};

use super::AGENT_ID;
use crate::api::audit::{self, Change};
use crate::api::pending;
use crate::auth::perms::RunScripts;
use crate::auth::ScopedAgent;
use crate::error::{ApiError, ApiResult};
use crate::json::Json;
use crate::templates;

/// Longest script timeout accepted, in seconds.
const MAX_TIMEOUT: i64 = 86_400;
/// Seconds the server waits beyond the agent-side timeout (upstream `req_timeout = timeout + 3`).
const REPLY_GRACE: u64 = 3;
/// Deno flags sent with every script (upstream settings.DENO_DEFAULT_PERMISSIONS default).
const DENO_DEFAULT_PERMISSIONS: &str = "--allow-all";
/// What to do with the output (TRMM RunScript dialog).
const OUTPUTS: [&str; 5] = ["wait", "email", "collector", "note", "forget"];

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(&format!("/agents/{AGENT_ID}/runscript/"), web::post().to(run_script))
        .route(&format!("/scripts/{AGENT_ID}/test/"), web::post().to(test_script));
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

fn check_timeout(timeout: i64) -> ApiResult<i64> {
    if (1..=MAX_TIMEOUT).contains(&timeout) {
        Ok(timeout)
    } else {
        Err(ApiError::field(
            "timeout",
            format!("Timeout must be between 1 and {MAX_TIMEOUT} seconds."),
        ))
    }
}

fn not_a_choice(field: &str, value: &str) -> ApiError {
    ApiError::field(field, format!("\"{value}\" is not a valid choice."))
}

/// A script run as upstream's Agent.run_script sends it: the agent-side timeout is the user's.
fn script_run(
    timeout: i64,
    code: String,
    shell: &str,
    (args, env_vars): (Vec<String>, Vec<String>),
    run_as_user: bool,
) -> Script {
    Script {
        code,
        shell: shell.to_owned(),
        timeout,
        args,
        env_vars,
        run_as_user,
        history_id: None,
        nushell_enable_config: false,
        deno_default_permissions: DENO_DEFAULT_PERMISSIONS.to_owned(),
    }
}

/// `POST /agents/<agent_id>/runscript/`.
async fn run_script(
    caller: ScopedAgent<RunScripts>,
    req: HttpRequest,
    Json(body): Json<RunScriptBody>,
) -> ApiResult<HttpResponse> {
    let (state, agent, who) = (&caller.state, &caller.agent, &caller.identity);
    if !OUTPUTS.contains(&body.output.as_str()) {
        return Err(not_a_choice("output", &body.output));
    }
    if body.run_on_server {
        // Upstream answers this when server-side scripts are switched off; trmm-rs never runs them.
        return Err(ApiError::BadRequest("This feature is disabled.".into()));
    }
    let timeout = body.timeout.map(check_timeout).transpose()?;
    let db = state.conn().await?;
    let script = scripts::get(&**db, ScriptId(body.script)).await?.ok_or_else(|| {
        ApiError::field(
            "script",
            format!("Invalid pk \"{}\" - object does not exist.", body.script),
        )
    })?;
    let custom_field = match (body.output.as_str(), body.custom_field) {
        ("collector", None) => return Err(ApiError::field("custom_field", "This field is required.")),
        ("collector", Some(id)) => {
            let id = CustomFieldId(id);
            custom_fields::get(&**db, id).await?.ok_or_else(|| {
                ApiError::field(
                    "custom_field",
                    format!("Invalid pk \"{}\" - object does not exist.", id.0),
                )
            })?;
            Some(id)
        }
        _ => None,
    };
    let mail = match body.output.as_str() {
        "email" => Some(check_mail(&**db, state, &body).await?),
        _ => None,
    };
    let s = &script.fields;
    let timeout = timeout.unwrap_or(i64::from(s.default_timeout));
    let run_as_user = body.run_as_user.unwrap_or(s.run_as_user);
    let args = body.args.unwrap_or_else(|| s.args.clone());
    let env_vars = body.env_vars.unwrap_or_else(|| s.env_vars.clone());
    let inputs = templates::expand_script_inputs(&**db, agent, &s.shell, &args, &env_vars).await?;
    let code = templates::expand_snippets(&**db, &s.script_body).await?;

    let run = NewScriptRun {
        script: Some(script.id),
        username: who.username(),
        custom_field,
        collector_all_output: custom_field.is_some() && body.save_all_output,
        save_to_agent_note: body.output == "note",
    };
    let hist = history::create_script_run(&**db, agent.pk, &run).await?;
    let change = Change {
        action: "execute_script",
        object_type: "agent",
        message: format!("{} ran script: \"{}\" on {}", who.username(), s.name, agent.hostname),
        before: None,
        after: None,
        agent: Some((&agent.hostname, &agent.agent_id)),
    };
    audit::record(&**db, state, &req, who, change).await?;

    let script_id = script.id;
    let script = Script {
        history_id: Some(hist),
        ..script_run(timeout, code, &s.shell, inputs, run_as_user)
    };
    let wait = Duration::from_secs(timeout as u64 + REPLY_GRACE);
    let queued = |command| QueuedRun {
        history_id: hist,
        timeout: wait.as_secs() as i64,
        description: format!("Run script: {}", s.name),
        command,
        shown: QueuedShown::Script {
            script: script_id.0,
            script_name: s.name.clone(),
            output: body.output.clone(),
        },
    };
    if let Some((redis, email_mode)) = mail {
        let payload = trmm_jobs::ScriptEmailPayload {
            history_id: hist,
            emails: body.emails,
            email_mode,
            script: RunScriptFull(script),
        };
        let job_id = jobs::create(&**db, trmm_jobs::ScriptEmailPayload::KIND, &payload).await?;
        let job = trmm_jobs::ScriptEmail { job_id: job_id.0 };
        if let Err(e) = trmm_jobs::enqueue_script_email(redis, &state.settings.redis_prefix, job).await {
            tracing::error!(history_id = hist, error = %e, "emailed script run could not be queued");
            jobs::finish(&**db, job_id, "failed: the job queue (Redis) was unavailable").await?;
            history::record_results(&**db, hist, agent.pk, "error: the job queue (Redis) was unavailable").await?;
            return Err(ApiError::Unavailable(
                "The job queue (Redis) is unavailable; try again shortly.".into(),
            ));
        }
        return Ok(HttpResponse::Ok().json(format!("{} will now be run on {}", s.name, agent.hostname)));
    }
    if body.output == "forget" {
        let call = RunScript(script);
        // Upstream publishes and loses the script of an offline agent; one that may be queued pings first.
        if body.queue_if_offline && !state.gateway.ping(&agent.agent_id, PROBE_TIMEOUT).await? {
            return Ok(HttpResponse::Ok().json(pending::queue(&**db, agent, &queued(call.into())).await?));
        }
        return match state.gateway.send(&agent.agent_id, call.clone()).await {
            Ok(()) => Ok(HttpResponse::Ok().json(format!("{} will now be run on {}", s.name, agent.hostname))),
            Err(GatewayError::Offline) if body.queue_if_offline => {
                Ok(HttpResponse::Ok().json(pending::queue(&**db, agent, &queued(call.into())).await?))
            }
            Err(e) => Err(e.into()),
        };
    }
    // wait, collector and note take the structured reply, so stdout, stderr and retcode stay apart. No pooled
    // connection is held while the script runs.
    drop(db);
    let call = RunScriptFull(script);
    let results = if body.queue_if_offline {
        state.gateway.call_probed(&agent.agent_id, call.clone(), wait).await
    } else {
        state.gateway.call(&agent.agent_id, call.clone(), wait).await
    };
    let results = match results {
        Ok(results) => results,
        Err(GatewayError::Offline) if body.queue_if_offline => {
            let db = state.conn().await?;
            return Ok(HttpResponse::Ok().json(pending::queue(&**db, agent, &queued(call.into())).await?));
        }
        Err(e) => return Err(e.into()),
    };
    record::script_reply(&mut state.conn().await?, agent, hist, &results).await?;
    Ok(HttpResponse::Ok().json(results))
}

/// Checks an `output: email` request (upstream run_script_email_results_task takes the list as given; an empty
/// recipient list is refused here rather than mailing nobody) and returns the job queue and the email mode.
async fn check_mail(
    db: &impl trmm_db::GenericClient,
    state: &crate::state::AppState,
    body: &RunScriptBody,
) -> ApiResult<(redis::aio::ConnectionManager, String)> {
    let mode = body.email_mode.as_deref().unwrap_or("default");
    match mode {
        "custom" if body.emails.is_empty() => return Err(ApiError::field("emails", "This list may not be empty.")),
        "custom" => {
            if let Some(bad) = body.emails.iter().find(|e| !valid_email(e)) {
                return Err(ApiError::field(
                    "emails",
                    format!("\"{bad}\" is not a valid email address."),
                ));
            }
        }
        "default" => {
            if trmm_db::core_settings::mail(db)
                .await?
                .email_alert_recipients
                .is_empty()
            {
                return Err(ApiError::BadRequest(
                    "No email alert recipients are set in Global Settings; choose custom emails.".into(),
                ));
            }
        }
        other => return Err(not_a_choice("emailMode", other)),
    }
    let redis =
        state.redis.get().cloned().ok_or_else(|| {
            ApiError::Unavailable("The job queue (Redis) is not connected; try again shortly.".into())
        })?;
    Ok((redis, mode.to_owned()))
}

/// `local@domain.tld` without spaces (the worker's SMTP client does the full RFC 5322 parse).
fn valid_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
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
        return Err(not_a_choice("shell", &body.shell));
    }
    let timeout = check_timeout(body.timeout)?;
    let db = state.conn().await?;
    let (args, env_vars) = (body.args.unwrap_or_default(), body.env_vars.unwrap_or_default());
    let inputs = templates::expand_script_inputs(&**db, agent, &body.shell, &args, &env_vars).await?;
    let code = templates::expand_snippets(&**db, &body.code).await?;
    // Upstream keeps the tested body in the audit row's debug_info; here it is the row's after value.
    let change = Change {
        action: "execute_script",
        object_type: "agent",
        message: format!("{} tested a script on {}", who.username(), agent.hostname),
        before: None,
        after: Some(json!({ "script_body": code, "shell": body.shell })),
        agent: Some((&agent.hostname, &agent.agent_id)),
    };
    audit::record(&**db, state, &req, who, change).await?;
    drop(db);
    let call = RunScriptFull(script_run(timeout, code, &body.shell, inputs, body.run_as_user));
    // Upstream waits exactly `timeout`, racing the agent's own kill; the grace lets a timed-out run report.
    let wait = Duration::from_secs(timeout as u64 + REPLY_GRACE);
    let results = state.gateway.call(&agent.agent_id, call, wait).await?;
    Ok(HttpResponse::Ok().json(results))
}
