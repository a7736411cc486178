//! `POST /agents/actions/bulk/` (TRMM agents/views.py::bulk): a command or script for many agents. The targets
//! are resolved here, the run and one history row per agent are written, and a job on Redis hands the fan-out
//! to trmm-worker, which records every agent's outcome (reply, `timeout` or `offline`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use trmm_db::agents::AgentRef;
use trmm_db::bulk::{self, NewRun, Selection, Target};
use trmm_db::{scripts, ClientId, CustomFieldId, ScriptId, SiteId};
use trmm_protocol::calls::{AgentCall, RawCmd, RunScriptFull, Script};

use crate::api::audit::{self, Change};
use crate::auth::perms::RunBulk;
use crate::auth::{in_scope, Authed, Identity};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;
use crate::state::AppState;
use crate::templates;

/// Longest timeout accepted, in seconds.
const MAX_TIMEOUT: i64 = 86_400;
/// Deno flags sent with every script (upstream settings.DENO_DEFAULT_PERMISSIONS default).
const DENO_DEFAULT_PERMISSIONS: &str = "--allow-all";

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/agents/actions/bulk/", web::post().to(bulk_action));
}

fn all() -> String {
    "all".into()
}

#[derive(Deserialize, Serialize)]
struct BulkBody {
    mode: String,
    target: String,
    client: Option<i32>,
    site: Option<i32>,
    #[serde(default)]
    agents: Vec<String>,
    #[serde(rename = "monType", default = "all")]
    mon_type: String,
    #[serde(rename = "osType", default = "all")]
    os_type: String,
    cmd: Option<String>,
    shell: Option<String>,
    custom_shell: Option<String>,
    timeout: Option<i64>,
    #[serde(default)]
    run_as_user: bool,
    script: Option<i32>,
    args: Option<Vec<String>>,
    env_vars: Option<Vec<String>>,
    custom_field: Option<i32>,
    #[serde(default)]
    collector_all_output: bool,
    #[serde(default)]
    save_to_agent_note: bool,
}

fn not_a_choice(field: &str, value: &str) -> ApiError {
    ApiError::field(field, format!("\"{value}\" is not a valid choice."))
}

/// The agents the body selects, within what the user may see (403 for a client or site outside it).
async fn selection(db: &impl trmm_db::GenericClient, who: &Identity, b: &BulkBody) -> ApiResult<Vec<AgentRef>> {
    let required = |field: &str| ApiError::field(field, "This field is required.");
    let target = match b.target.as_str() {
        "all" => Target::All,
        "client" => {
            let client = ClientId(b.client.ok_or_else(|| required("client"))?);
            Target::Client(in_scope::client(who, client)?)
        }
        "site" => {
            let site = SiteId(b.site.ok_or_else(|| required("site"))?);
            Target::Site(in_scope::site(db, who, site).await?.id)
        }
        "agents" if b.agents.is_empty() => return Err(ApiError::BadRequest("Must select at least 1 agent".into())),
        "agents" => Target::Agents(b.agents.clone()),
        other => return Err(not_a_choice("target", other)),
    };
    // Upstream ignores unknown monType/osType values (no filter); so does this.
    let monitoring_type = match b.mon_type.as_str() {
        "servers" => Some("server".to_owned()),
        "workstations" => Some("workstation".to_owned()),
        _ => None,
    };
    let plat = ["windows", "linux", "darwin"]
        .contains(&b.os_type.as_str())
        .then(|| b.os_type.clone());
    let selection = Selection {
        target,
        monitoring_type,
        plat,
    };
    let agents = bulk::resolve(db, &who.visibility(), &selection).await?;
    if agents.is_empty() {
        return Err(ApiError::BadRequest(
            "No agents were found meeting the selected criteria".into(),
        ));
    }
    Ok(agents)
}

fn check_timeout(timeout: Option<i64>) -> ApiResult<Option<i64>> {
    match timeout {
        Some(t) if !(1..=MAX_TIMEOUT).contains(&t) => Err(ApiError::field(
            "timeout",
            format!("Timeout must be between 1 and {MAX_TIMEOUT} seconds."),
        )),
        t => Ok(t),
    }
}

/// What every agent of the run is sent, and how the run is recorded.
struct Plan {
    call: AgentCall,
    reply_timeout: i64,
    history_command: Option<String>,
    script: Option<(ScriptId, String)>,
    shell: String,
    args: Vec<String>,
    env_vars: Vec<String>,
}

async fn plan(db: &impl trmm_db::GenericClient, b: &BulkBody) -> ApiResult<Plan> {
    let timeout = check_timeout(b.timeout)?;
    if b.mode == "command" {
        let cmd = b.cmd.as_deref().unwrap_or_default();
        if cmd.trim().is_empty() {
            return Err(ApiError::field("cmd", "This field may not be blank."));
        }
        let timeout = timeout.ok_or_else(|| ApiError::field("timeout", "This field is required."))?;
        // TRMM: shell "custom" means the path in custom_shell.
        let shell = match (b.shell.as_deref().unwrap_or_default(), b.custom_shell.as_deref()) {
            ("custom", Some(path)) if !path.trim().is_empty() => path.trim().to_owned(),
            ("", _) | ("custom", _) => return Err(ApiError::field("shell", "A shell is required.")),
            (shell, _) => shell.to_owned(),
        };
        let call = RawCmd {
            command: cmd.to_owned(),
            shell: shell.clone(),
            timeout,
            run_as_user: b.run_as_user,
            ..RawCmd::default()
        };
        return Ok(Plan {
            call: call.into(),
            reply_timeout: timeout + 2,
            history_command: Some(cmd.to_owned()),
            script: None,
            shell,
            args: Vec::new(),
            env_vars: Vec::new(),
        });
    }
    let id = b
        .script
        .ok_or_else(|| ApiError::field("script", "This field is required."))?;
    let script = scripts::get(db, ScriptId(id))
        .await?
        .ok_or_else(|| ApiError::field("script", format!("Invalid pk \"{id}\" - object does not exist.")))?;
    let s = &script.fields;
    let timeout = timeout.unwrap_or(i64::from(s.default_timeout));
    let args = b.args.clone().unwrap_or_else(|| s.args.clone());
    let env_vars = b.env_vars.clone().unwrap_or_else(|| s.env_vars.clone());
    let call = RunScriptFull(Script {
        code: templates::expand_snippets(db, &s.script_body).await?,
        shell: s.shell.clone(),
        timeout,
        args: args.clone(),
        env_vars: env_vars.clone(),
        // Upstream bulk_script_task: the script's own run_as_user wins.
        run_as_user: b.run_as_user || s.run_as_user,
        history_id: None,
        nushell_enable_config: false,
        deno_default_permissions: DENO_DEFAULT_PERMISSIONS.to_owned(),
    });
    Ok(Plan {
        call: call.into(),
        reply_timeout: timeout + 3,
        history_command: None,
        script: Some((script.id, s.name.clone())),
        shell: s.shell.clone(),
        args,
        env_vars,
    })
}

/// Template variables differ per agent, so they are expanded here, once per agent, and stored with the run.
async fn per_agent_inputs(
    db: &impl trmm_db::GenericClient,
    plan: &Plan,
    agents: &[AgentRef],
    rows: &[(trmm_db::AgentPk, i64)],
) -> ApiResult<Option<Value>> {
    if !plan.args.iter().chain(&plan.env_vars).any(|s| s.contains("{{")) {
        return Ok(None);
    }
    let by_pk: std::collections::HashMap<_, _> = agents.iter().map(|a| (a.pk, a)).collect();
    let mut map = Map::new();
    for (pk, hist) in rows {
        let Some(agent) = by_pk.get(pk) else { continue };
        let (args, env) = templates::expand_script_inputs(db, agent, &plan.shell, &plan.args, &plan.env_vars).await?;
        map.insert(hist.to_string(), json!({ "script_args": args, "env_vars": env }));
    }
    Ok(Some(Value::Object(map)))
}

async fn bulk_action(caller: Authed<RunBulk>, req: HttpRequest, Json(body): Json<BulkBody>) -> ApiResult<HttpResponse> {
    let (state, who) = (&caller.state, &caller.identity);
    match body.mode.as_str() {
        "command" | "script" => {}
        // Windows Update management is not implemented, so bulk patch scans and installs are refused.
        "patch" => return Err(ApiError::BadRequest("Bulk patch management is not available.".into())),
        other => return Err(not_a_choice("mode", other)),
    }
    let mut db = state.conn().await?;
    let agents = selection(&**db, who, &body).await?;
    let plan = plan(&**db, &body).await?;
    let redis =
        state.redis.get().cloned().ok_or_else(|| {
            ApiError::Unavailable("The job queue (Redis) is not connected; try again shortly.".into())
        })?;
    let custom_field = body.custom_field.map(CustomFieldId);
    let run = NewRun {
        username: who.username(),
        mode: &body.mode,
        command: plan.history_command.as_deref(),
        script: plan.script.as_ref().map(|s| s.0),
        custom_field,
        collector_all_output: custom_field.is_some() && body.collector_all_output,
        save_to_agent_note: body.save_to_agent_note,
        envelope: serde_json::to_value(&plan.call).map_err(|e| ApiError::Internal(e.to_string()))?,
        reply_timeout: plan.reply_timeout as i32,
    };
    let tx = db.transaction().await?;
    let pks: Vec<_> = agents.iter().map(|a| a.pk).collect();
    let (run_id, rows) = bulk::create(&*tx, &run, &pks).await?;
    if let Some(per_agent) = per_agent_inputs(&*tx, &plan, &agents, &rows).await? {
        bulk::set_per_agent(&*tx, run_id, &per_agent).await?;
    }
    let change = Change {
        action: "bulk_action",
        object_type: "bulk",
        message: format!("{} executed bulk {}", who.username(), body.mode),
        before: None,
        after: Some(json!(body)),
        agent: None,
    };
    audit::record(&*tx, state, &req, who, change).await?;
    tx.commit().await?;
    enqueue(state, redis, run_id).await?;
    tracing::info!(run_id, agents = agents.len(), mode = %body.mode, "bulk run queued");
    let what = match &plan.script {
        Some((_, name)) => name.clone(),
        None => "Command".to_owned(),
    };
    Ok(HttpResponse::Ok().json(format!("{what} will now be run on {} agents", agents.len())))
}

/// Hands the run to trmm-worker; if Redis refuses it, every agent of the run is marked so that none is left
/// without an outcome.
async fn enqueue(state: &AppState, redis: redis::aio::ConnectionManager, run_id: i64) -> ApiResult<()> {
    let prefix = &state.settings.redis_prefix;
    let Err(e) = trmm_jobs::enqueue_bulk(redis, prefix, trmm_jobs::BulkRun { run_id }).await else {
        return Ok(());
    };
    tracing::error!(run_id, error = %e, "bulk run could not be queued");
    let db = state.conn().await?;
    bulk::abandon(&**db, run_id, "the job queue (Redis) was unavailable").await?;
    Err(ApiError::Unavailable(
        "The job queue (Redis) is unavailable; try again shortly.".into(),
    ))
}
