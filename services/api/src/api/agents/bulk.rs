//! `POST /agents/actions/bulk/` (TRMM agents/views.py::bulk): a command or script for many agents. The targets
//! are resolved here, the run and one history row per agent are written, and a job on Redis hands the fan-out
//! to trmm-worker, which records every agent's outcome (reply, `timeout` or `offline`).

use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use trmm_db::agents::AgentRef;
use trmm_db::bulk::{self, Selection, Target};
use trmm_db::{scripts, ClientId, CustomFieldId, ScriptId, SiteId};
use trmm_ops::bulk::{BulkOutput, Plan};
use trmm_ops::command::CmdRequest;
use trmm_ops::OpsError;

use crate::api::audit::{self, Change};
use crate::api::routes::{self, Routes};
use crate::auth::perms::RunBulk;
use crate::auth::{in_scope, Authed, Identity};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    cfg.route("/agents/actions/bulk/", routes::post().to(bulk_action));
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
        other => return Err(OpsError::not_a_choice("target", other).into()),
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

/// What every agent is sent: a command by the rules of every command, or a library script.
async fn plan(db: &impl trmm_db::GenericClient, b: &BulkBody) -> ApiResult<Plan> {
    if b.mode == "command" {
        let request = CmdRequest {
            cmd: b.cmd.as_deref().unwrap_or_default(),
            shell: b.shell.as_deref().unwrap_or_default(),
            custom_shell: b.custom_shell.as_deref(),
            timeout: b
                .timeout
                .ok_or_else(|| ApiError::field("timeout", "This field is required."))?,
            run_as_user: b.run_as_user,
        };
        return Ok(Plan::command(request)?);
    }
    let id = b
        .script
        .ok_or_else(|| ApiError::field("script", "This field is required."))?;
    let script = scripts::get(db, ScriptId(id))
        .await?
        .ok_or_else(|| ApiError::field("script", format!("Invalid pk \"{id}\" - object does not exist.")))?;
    let inputs = (b.args.clone(), b.env_vars.clone());
    Ok(Plan::script(db, &script, b.timeout, inputs, b.run_as_user).await?)
}

async fn bulk_action(caller: Authed<RunBulk>, req: HttpRequest, Json(body): Json<BulkBody>) -> ApiResult<HttpResponse> {
    let (state, who) = (&caller.state, &caller.identity);
    match body.mode.as_str() {
        "command" | "script" => {}
        // Windows Update management is not implemented, so bulk patch scans and installs are refused.
        "patch" => return Err(ApiError::BadRequest("Bulk patch management is not available.".into())),
        other => return Err(OpsError::not_a_choice("mode", other).into()),
    }
    let mut db = state.conn().await?;
    let agents = selection(&db, who, &body).await?;
    let plan = plan(&db, &body).await?;
    let ops = state.ops();
    // Nothing is written while the job queue is away.
    ops.jobs.require_connected()?;
    let output = BulkOutput {
        custom_field: body.custom_field.map(CustomFieldId),
        collector_all_output: body.collector_all_output,
        save_to_agent_note: body.save_to_agent_note,
    };
    let what = plan.what().to_owned();
    let tx = db.transaction().await?;
    let run_id = ops.create_bulk(&tx, who.username(), plan, &agents, output).await?;
    let message = format!("{} executed bulk {}", who.username(), body.mode);
    let change = placed(Change::action("bulk_action", "bulk", message), json!(body), &agents);
    audit::record(&tx, state, &req, who, change).await?;
    tx.commit().await?;
    ops.enqueue_bulk(run_id).await?;
    tracing::info!(run_id, agents = agents.len(), mode = %body.mode, "bulk run queued");
    Ok(HttpResponse::Ok().json(format!("{what} will now be run on {} agents", agents.len())))
}

/// The bulk audit row placed where its agents are, so that a role scoped elsewhere does not see it: at their site
/// or client when they share one. A run across clients has no single place and is visible to every role that
/// reads the audit log, so it lists how many agents it reached but not their hostnames.
fn placed<'a>(change: Change<'a>, mut after: Value, agents: &[AgentRef]) -> Change<'a> {
    let hostnames = || json!(agents.iter().map(|a| &a.hostname).collect::<Vec<_>>());
    let Some(first) = agents.first() else {
        after["hostnames"] = hostnames();
        return change.with_after(after);
    };
    if agents.iter().all(|a| a.site == first.site) {
        after["hostnames"] = hostnames();
        change.with_after(after).at_site(first.client, first.site)
    } else if agents.iter().all(|a| a.client == first.client) {
        after["hostnames"] = hostnames();
        change.with_after(after).at_client(first.client)
    } else {
        after["agent_count"] = json!(agents.len());
        change.with_after(after)
    }
}
