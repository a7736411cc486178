//! Checks (upstream `checks/views.py`, server-api.md 3.4): list, add, edit, delete, reset, run now, history and
//! the client/site bulk run. Evaluation of results is the agent API's (`agent_api::checks`).

mod fields;
mod render;

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use trmm_db::alerts::templates::{self, AlertTemplate};
use trmm_db::bulk::{Selection, Target};
use trmm_db::checks::{self, Check, CheckFields, CheckResultRow};
use trmm_db::{AgentPk, ClientId, GenericClient, SiteId};
use trmm_ops::checks as rules;
use trmm_protocol::calls::RunChecks;
use trmm_protocol::calls::RunChecksReply;
use trmm_protocol::checks::CheckType;

use super::agents::AGENT_ID;
use super::audit::{self, Change};
use super::form;
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListChecks, ManageChecks, RunChecks as RunChecksPerm};
use crate::auth::{in_scope, Authed, Scoped, ScopedAgent};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

/// Agents sent `runchecks` at once by a bulk run.
const BULK_FANOUT: usize = 32;

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    resource_routes!(cfg, "/checks/", "{pk}/")
        .route(&format!("/checks/{AGENT_ID}/resetall/"), routes::post().to(reset_all))
        .route(&format!("/checks/{AGENT_ID}/run/"), routes::post().to(run_now))
        .route("/checks/{pk}/reset/", routes::post().to(reset))
        .route("/checks/{pk}/history/", routes::patch().to(history))
        .route("/checks/{target}/{pk}/csbulkrun/", routes::post().to(bulk_run))
        .route(&format!("/agents/{AGENT_ID}/checks/"), routes::get().to(for_agent));
}

/// Renders checks with their results and their agents' templates.
async fn render_all(db: &impl GenericClient, list: &[Check]) -> ApiResult<Vec<Value>> {
    let mut results: HashMap<AgentPk, Vec<CheckResultRow>> = HashMap::new();
    let mut templates: HashMap<AgentPk, Option<AlertTemplate>> = HashMap::new();
    for agent in list.iter().filter_map(|c| c.agent) {
        if let std::collections::hash_map::Entry::Vacant(e) = results.entry(agent) {
            e.insert(checks::results_for_agent(db, agent).await?);
            templates.insert(agent, templates::for_agent(db, agent).await?);
        }
    }
    Ok(list
        .iter()
        .map(|c| {
            let agent = c.agent.unwrap_or(AgentPk(0));
            let result = results
                .get(&agent)
                .and_then(|rs| rs.iter().find(|r| r.assigned_check == c.id));
            render::check(c, result, templates.get(&agent).and_then(Option::as_ref))
        })
        .collect())
}

/// `GET /checks/`: every check the user's role can see.
async fn list(caller: Authed<ListChecks>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let all = checks::in_scope(&db, &caller.identity.visibility()).await?;
    Ok(HttpResponse::Ok().json(render_all(&db, &all).await?))
}

/// `GET /agents/<agent_id>/checks/`.
async fn for_agent(caller: ScopedAgent<ListChecks>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let all = checks::for_agent(&db, caller.agent.pk).await?;
    Ok(HttpResponse::Ok().json(render_all(&db, &all).await?))
}

/// `GET /checks/<pk>/`.
async fn get(caller: Scoped<ListChecks, Check>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    Ok(HttpResponse::Ok().json(render_all(&db, std::slice::from_ref(&caller.target)).await?.remove(0)))
}

/// Validates settings for a check of `kind` on `agent`: the field rules, the referenced script, and upstream's
/// one-of-a-kind rules (one cpu, one memory, one per disk).
async fn validate(
    db: &impl GenericClient,
    agent: AgentPk,
    kind: CheckType,
    f: &CheckFields,
    existing: Option<&Check>,
) -> ApiResult<()> {
    rules::validate(kind, f)?;
    if let Some(script) = f.script {
        if trmm_db::scripts::get(db, script).await?.is_none() {
            return Err(ApiError::field(
                "script",
                format!("Invalid pk \"{script}\" - object does not exist."),
            ));
        }
    }
    let disk_changed = existing.is_none_or(|c| c.fields.disk != f.disk);
    if rules::is_singular(kind)
        && disk_changed
        && checks::exists_like(
            db,
            agent,
            kind.as_str(),
            f.disk.as_deref().filter(|_| kind == CheckType::Diskspace),
            existing.map(|c| c.id),
        )
        .await?
    {
        return Err(ApiError::field("non_field_errors", rules::duplicate_message(kind, f)));
    }
    Ok(())
}

#[derive(Deserialize)]
struct NewCheckOwner {
    agent: Option<String>,
    policy: Option<Value>,
    check_type: Option<Value>,
}

/// `POST /checks/`: a check for the agent named by `agent` (its agent_id).
async fn create(caller: Authed<ManageChecks>, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let owner: NewCheckOwner = serde_json::from_value(body.clone()).unwrap_or(NewCheckOwner {
        agent: None,
        policy: None,
        check_type: None,
    });
    let kind = match owner
        .check_type
        .as_ref()
        .and_then(Value::as_str)
        .and_then(CheckType::parse)
    {
        Some(k) => k,
        None => {
            let shown = owner
                .check_type
                .map_or_else(|| "None".into(), |v| v.as_str().map_or(v.to_string(), str::to_owned));
            return Err(ApiError::field(
                "check_type",
                format!("\"{shown}\" is not a valid choice."),
            ));
        }
    };
    let Some(agent_id) = owner.agent else {
        // Policy checks arrive with the policies issue.
        return Err(match owner.policy {
            Some(p) => ApiError::field("policy", format!("Invalid pk \"{p}\" - object does not exist.")),
            None => ApiError::field("agent", "This field is required."),
        });
    };
    let f = fields::apply(map, fields::defaults()).map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    let mut db = caller.state.conn().await?;
    let agent = in_scope::agent(&db, &caller.identity, &agent_id).await?;
    validate(&db, agent.pk, kind, &f, None).await?;
    let who = caller.identity.username();
    let tx = db.transaction().await?;
    let id = checks::create(&tx, agent.pk, kind.as_str(), &f, who).await?;
    let check = checks::get(&tx, id).await?.ok_or(ApiError::NotFound)?;
    let desc = rules::readable_desc(&check);
    let change =
        Change::add("check", format!("{who} added {desc}"), json!(f)).on_agent(&agent.hostname, &agent.agent_id);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{desc} was added!")))
}

/// The agent a check belongs to, named on its audit rows.
async fn owner(db: &impl GenericClient, agent: Option<AgentPk>) -> ApiResult<Option<trmm_db::agents::AgentRef>> {
    Ok(match agent {
        Some(pk) => trmm_db::agents::find_by_pk(db, pk).await?,
        None => None,
    })
}

/// `PUT /checks/<pk>/`: a partial update; the type and owner never change.
async fn update(
    caller: Scoped<ManageChecks, Check>,
    req: HttpRequest,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let check = caller.target;
    let kind = CheckType::parse(&check.check_type).unwrap_or(CheckType::Unknown);
    let f = fields::apply(map, check.fields.clone()).map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    let mut db = caller.state.conn().await?;
    let agent = check.agent.ok_or(ApiError::NotFound)?;
    // Upstream skips these rules on edit (its validate() needs check_type, which edits drop); trmm-rs keeps them.
    validate(&db, agent, kind, &f, Some(&check)).await?;
    let who = caller.identity.username();
    let tx = db.transaction().await?;
    checks::update(&tx, check.id, &f, who).await?;
    let after = checks::get(&tx, check.id).await?.ok_or(ApiError::NotFound)?;
    let desc = rules::readable_desc(&after);
    let owner = owner(&tx, check.agent).await?;
    let change =
        Change::modify("check", format!("{who} modified {desc}"), json!(check.fields), json!(f)).on(owner.as_ref());
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{desc} was edited!")))
}

/// `DELETE /checks/<pk>/`.
async fn delete(caller: Scoped<ManageChecks, Check>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let check = caller.target;
    let desc = rules::readable_desc(&check);
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let owner = owner(&tx, check.agent).await?;
    checks::delete(&tx, &check).await?;
    let change = Change::delete("check", format!("{who} deleted {desc}"), json!(check.fields)).on(owner.as_ref());
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{desc} was deleted!")))
}

/// `POST /checks/<result pk>/reset/`: passing again, and its open alert resolved without notifications.
async fn reset(caller: Scoped<ManageChecks, CheckResultRow>) -> ApiResult<HttpResponse> {
    let r = caller.target;
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    checks::reset(&tx, &r).await?;
    let subject = trmm_db::alerts::Subject::Check(r.agent, r.assigned_check);
    let changed = trmm_ops::alerts::resolve_quietly(&tx, subject, caller.state.now()).await?;
    tx.commit().await?;
    let ops = caller.state.ops();
    changed.after_commit(&ops.jobs, &ops.events).await;
    Ok(HttpResponse::Ok().json("The check status was reset"))
}

/// `POST /checks/<agent_id>/resetall/`.
async fn reset_all(caller: ScopedAgent<ManageChecks>) -> ApiResult<HttpResponse> {
    let agent = caller.agent.pk;
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    checks::reset_all(&tx, agent).await?;
    let mut changed = trmm_ops::alerts::Changed::default();
    for c in checks::for_agent(&tx, agent).await? {
        let subject = trmm_db::alerts::Subject::Check(agent, c.id);
        let more = trmm_ops::alerts::resolve_quietly(&tx, subject, caller.state.now()).await?;
        changed.events.extend(more.events);
    }
    tx.commit().await?;
    let ops = caller.state.ops();
    changed.after_commit(&ops.jobs, &ops.events).await;
    Ok(HttpResponse::Ok().json("All checks status were reset"))
}

/// `POST /checks/<agent_id>/run/`: asks the agent to run every check now.
async fn run_now(caller: ScopedAgent<RunChecksPerm>) -> ApiResult<HttpResponse> {
    let host = &caller.agent.hostname;
    match caller
        .state
        .gateway
        .call_default(&caller.agent.agent_id, RunChecks)
        .await
    {
        Ok(RunChecksReply::Ok) => Ok(HttpResponse::Ok().json(format!("Checks will now be run on {host}"))),
        Ok(RunChecksReply::Busy) => Err(ApiError::BadRequest(format!("Checks are already running on {host}"))),
        Err(e) if !e.is_transient() => Err(e.into()),
        Err(_) => Err(ApiError::BadRequest("Unable to contact the agent".into())),
    }
}

#[derive(Deserialize)]
struct HistoryFilter {
    #[serde(rename = "timeFilter", default)]
    time_filter: Option<i64>,
}

/// `PATCH /checks/<result pk>/history/` `{timeFilter: days}` (0 or absent: everything), newest first.
async fn history(
    caller: Scoped<ListChecks, CheckResultRow>,
    Json(body): Json<HistoryFilter>,
) -> ApiResult<HttpResponse> {
    let r = caller.target;
    let since = match body.time_filter {
        Some(days) if days > 0 => Some(caller.state.now() - chrono::Duration::days(days.min(36_500))),
        _ => None,
    };
    let db = caller.state.conn().await?;
    let points = checks::history(&db, r.assigned_check, &r.agent_id, since).await?;
    Ok(HttpResponse::Ok().json(points.iter().map(render::history).collect::<Vec<_>>()))
}

/// `POST /checks/<client|site>/<pk>/csbulkrun/`: every agent of the client or site runs its checks.
async fn bulk_run(caller: Authed<RunChecksPerm>, path: web::Path<(String, String)>) -> ApiResult<HttpResponse> {
    let (target, pk) = path.into_inner();
    let id: i32 = pk.parse().map_err(|_| ApiError::NotFound)?;
    let db = caller.state.conn().await?;
    let target = match target.as_str() {
        "client" => Target::Client(in_scope::client(&caller.identity, ClientId(id))?),
        "site" => Target::Site(in_scope::site(&db, &caller.identity, SiteId(id)).await?.id),
        _ => return Err(ApiError::NotFound),
    };
    let selection = Selection {
        target,
        monitoring_type: None,
        plat: None,
    };
    let agents = trmm_db::bulk::resolve(&db, &caller.identity.visibility(), &selection).await?;
    drop(db);
    if agents.is_empty() {
        return Err(ApiError::BadRequest("No agents matched query".into()));
    }
    let gateway = &caller.state.gateway;
    // Fire and forget, as upstream publishes; an offline agent runs its checks on its own schedule.
    futures_util::stream::iter(&agents)
        .for_each_concurrent(BULK_FANOUT, |a| async move {
            if let Err(e) = gateway.send(&a.agent_id, RunChecks).await {
                tracing::debug!(agent_id = %a.agent_id, error = %e, "runchecks not sent");
            }
        })
        .await;
    Ok(HttpResponse::Ok().json(format!("Checks will now be run on {} agents", agents.len())))
}
