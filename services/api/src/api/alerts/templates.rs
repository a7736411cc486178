//! Alert templates (TRMM alerts/views.py::GetAddAlertTemplates, GetUpdateDeleteAlertTemplate and
//! RelatedAlertTemplate). Templates are not scoped by client or site, as upstream. The template in force for an
//! agent is resolved when read (the `agent_alert_template` view), so nothing is re-cached after a change.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use trmm_db::alerts::templates::{self, AlertTemplate, KindSettings, TemplateAction, TemplateFields, Usage};
use trmm_db::AlertTemplateId;

use super::template_fields;
use crate::api::audit::{self, Change};
use crate::api::drf_time;
use crate::api::form;
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListAlertTemplates, ManageAlertTemplates, RunServerScripts};
use crate::auth::{Authed, Identity};
use crate::error::{ApiError, ApiResult, UniqueAs};
use crate::json::Json;

/// Audit object type (upstream: the model's lower-cased class name).
const OBJECT: &str = "alerttemplate";

/// Registers the routes of this module.
pub(super) fn configure(cfg: &mut Routes) {
    resource_routes!(cfg, "/alerts/templates/", "{pk:\\d+}/")
        .route("/alerts/templates/{pk:\\d+}/related/", routes::get().to(related));
}

fn action_columns(map: &mut Map<String, Value>, prefix: &str, a: &TemplateAction) {
    let columns = [
        ("_type", json!(a.action_type)),
        ("", json!(a.script)),
        ("_rest", json!(a.rest)),
        ("_args", json!(a.args)),
        ("_env_vars", json!(a.env_vars)),
        ("_timeout", json!(a.timeout)),
    ];
    for (suffix, value) in columns {
        map.insert(format!("{prefix}action{suffix}"), value);
    }
}

fn kind_columns(map: &mut Map<String, Value>, kind: &str, k: &KindSettings) {
    let mut columns = vec![
        ("email_on_resolved", json!(k.email_on_resolved)),
        ("text_on_resolved", json!(k.text_on_resolved)),
        ("always_email", json!(k.always_email)),
        ("always_text", json!(k.always_text)),
        ("always_alert", json!(k.always_alert)),
        ("periodic_alert_days", json!(k.periodic_alert_days)),
        ("script_actions", json!(k.script_actions)),
    ];
    if kind != "agent" {
        columns.extend([
            ("email_alert_severity", json!(k.email_severities)),
            ("text_alert_severity", json!(k.text_severities)),
            ("dashboard_alert_severity", json!(k.dashboard_severities)),
        ]);
    }
    for (name, value) in columns {
        map.insert(format!("{kind}_{name}"), value);
    }
}

/// The template's own columns, exclusions as lists of ids (upstream AlertTemplateAuditSerializer without the
/// bookkeeping columns).
fn columns(id: AlertTemplateId, f: &TemplateFields) -> Map<String, Value> {
    let mut map = json!({
        "id": id,
        "name": f.name,
        "is_active": f.is_active,
        "email_recipients": f.email_recipients,
        "text_recipients": f.text_recipients,
        "email_from": f.email_from,
        "exclude_workstations": f.exclude_workstations,
        "exclude_servers": f.exclude_servers,
        "excluded_clients": f.excluded_clients,
        "excluded_sites": f.excluded_sites,
        "excluded_agents": f.excluded_agents,
    });
    let map_mut = map.as_object_mut().expect("an object literal");
    action_columns(map_mut, "", &f.action);
    action_columns(map_mut, "resolved_", &f.resolved_action);
    kind_columns(map_mut, "agent", &f.agent);
    kind_columns(map_mut, "check", &f.check);
    kind_columns(map_mut, "task", &f.task);
    std::mem::take(map_mut)
}

/// A template's audit snapshot.
fn snapshot(id: AlertTemplateId, f: &TemplateFields) -> Value {
    Value::Object(columns(id, f))
}

/// Every column, the bookkeeping ones included.
fn all_columns(t: &AlertTemplate, u: &Usage) -> Map<String, Value> {
    let mut map = columns(t.id, &t.fields);
    map.insert("created_by".into(), json!(u.created_by));
    map.insert("created_time".into(), json!(drf_time(u.created_time)));
    map.insert("modified_by".into(), json!(u.modified_by));
    map.insert("modified_time".into(), json!(drf_time(u.modified_time)));
    map
}

/// Upstream `has_agent_settings` / `has_check_settings` / `has_task_settings`.
fn has_settings(k: &KindSettings) -> bool {
    k.email_on_resolved
        || k.text_on_resolved
        || [k.always_email, k.always_text, k.always_alert].contains(&Some(true))
        || k.periodic_alert_days != 0
        || !(k.email_severities.is_empty() && k.text_severities.is_empty() && k.dashboard_severities.is_empty())
}

/// Upstream `get_action_name`: the webhook's name for a `rest` action that has one, else the script's.
fn action_name(a: &TemplateAction, script: &Option<String>, rest: &Option<String>) -> String {
    match rest {
        Some(name) if a.action_type == "rest" => name.clone(),
        _ => script.clone().unwrap_or_default(),
    }
}

/// `AlertTemplateSerializer`: every column plus the flags, action names and assignment count of the list.
fn render(t: &AlertTemplate, u: &Usage) -> Value {
    let f = &t.fields;
    let mut map = all_columns(t, u);
    // Upstream's has_core_settings can yield a list (Python `or`); the dashboard only tests its truth.
    let core = f.email_from.as_deref().is_some_and(|e| !e.is_empty())
        || !f.email_recipients.is_empty()
        || !f.text_recipients.is_empty();
    let extra = [
        ("agent_settings", json!(has_settings(&f.agent))),
        ("check_settings", json!(has_settings(&f.check))),
        ("task_settings", json!(has_settings(&f.task))),
        ("core_settings", json!(core)),
        ("default_template", json!(u.is_default)),
        (
            "action_name",
            json!(action_name(&f.action, &u.action_script, &u.action_rest)),
        ),
        (
            "resolved_action_name",
            json!(action_name(
                &f.resolved_action,
                &u.resolved_action_script,
                &u.resolved_action_rest
            )),
        ),
        ("applied_count", json!(u.assignments)),
    ];
    map.extend(extra.map(|(k, v)| (k.to_owned(), v)));
    Value::Object(map)
}

/// A template and its usage, or a 404.
async fn load(db: &impl trmm_db::GenericClient, id: AlertTemplateId) -> ApiResult<(AlertTemplate, Usage)> {
    let template = templates::get(db, id).await?.ok_or(ApiError::NotFound)?;
    let usage = templates::usage(db, Some(id))
        .await?
        .remove(&id)
        .ok_or(ApiError::NotFound)?;
    Ok((template, usage))
}

/// Server-side actions take `can_run_server_scripts` too (upstream AlertTemplatePerms).
fn allow_actions(who: &Identity, map: &Map<String, Value>) -> ApiResult<()> {
    if template_fields::wants_server_script(map) && !who.holds::<RunServerScripts>() {
        return Err(ApiError::Forbidden(trmm_authz::NO_PERMISSION));
    }
    Ok(())
}

fn name_taken() -> ApiError {
    ApiError::field("name", "alert template with this name already exists.")
}

/// `GET /alerts/templates/`.
async fn list(caller: Authed<ListAlertTemplates>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let all = templates::list(&db).await?;
    let usage = templates::usage(&db, None).await?;
    let rows: Vec<Value> = all
        .iter()
        .filter_map(|t| usage.get(&t.id).map(|u| render(t, u)))
        .collect();
    Ok(HttpResponse::Ok().json(rows))
}

/// Validates `body` onto the template `pk` names (a new one for `None`; upstream's serializer is partial for
/// both) and stores it with its audit row in one transaction.
async fn save(
    caller: Authed<ManageAlertTemplates>,
    req: &HttpRequest,
    pk: Option<i32>,
    body: &Value,
) -> ApiResult<HttpResponse> {
    let map = form::object(body)?;
    allow_actions(&caller.identity, map)?;
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let before = match pk {
        Some(pk) => Some(
            templates::get(&tx, AlertTemplateId(pk))
                .await?
                .ok_or(ApiError::NotFound)?,
        ),
        None => None,
    };
    let base = before
        .as_ref()
        .map_or_else(template_fields::defaults, |t| t.fields.clone());
    let f = template_fields::apply(&tx, map, base, before.is_none()).await?;
    let change = match before {
        None => {
            let id = templates::create(&tx, &f, who).await.unique_as(name_taken)?;
            Change::add(OBJECT, format!("{who} added {OBJECT} {}", f.name), snapshot(id, &f))
        }
        Some(t) => {
            templates::update(&tx, t.id, &f, who).await.unique_as(name_taken)?;
            let message = format!("{who} modified {OBJECT} {}", f.name);
            Change::modify(OBJECT, message, snapshot(t.id, &t.fields), snapshot(t.id, &f))
        }
    };
    audit::commit(tx, &caller.state, req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

/// `POST /alerts/templates/`.
async fn create(
    caller: Authed<ManageAlertTemplates>,
    req: HttpRequest,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    save(caller, &req, None, &body).await
}

/// `GET /alerts/templates/<pk>/`.
async fn get(caller: Authed<ListAlertTemplates>, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let (template, usage) = load(&db, AlertTemplateId(*pk)).await?;
    Ok(HttpResponse::Ok().json(render(&template, &usage)))
}

/// `PUT /alerts/templates/<pk>/`: the fields sent replace the stored ones.
async fn update(
    caller: Authed<ManageAlertTemplates>,
    req: HttpRequest,
    pk: web::Path<i32>,
    Json(body): Json<Value>,
) -> ApiResult<HttpResponse> {
    save(caller, &req, Some(*pk), &body).await
}

/// `DELETE /alerts/templates/<pk>/`: clients, sites and the core default using it fall back to the next slot.
async fn delete(caller: Authed<ManageAlertTemplates>, req: HttpRequest, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let template = templates::get(&tx, AlertTemplateId(*pk))
        .await?
        .ok_or(ApiError::NotFound)?;
    templates::delete(&tx, template.id).await?;
    let who = caller.identity.username();
    let change = Change::delete(
        OBJECT,
        format!("{who} deleted {OBJECT} {}", template.fields.name),
        snapshot(template.id, &template.fields),
    );
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

/// `GET /alerts/templates/<pk>/related/` (upstream AlertTemplateRelationSerializer): the columns, the clients
/// and sites it is assigned to, whether it is the core default, and no policies until policies exist.
async fn related(caller: Authed<ListAlertTemplates>, pk: web::Path<i32>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let (template, usage) = load(&db, AlertTemplateId(*pk)).await?;
    let rel = templates::related(&db, template.id).await?;
    let clients: Vec<Value> = rel
        .clients
        .iter()
        .map(|(id, name)| json!({ "id": id, "name": name, "alert_template": template.id }))
        .collect();
    let sites: Vec<Value> = rel
        .sites
        .iter()
        .map(|(id, name, client, client_name)| {
            json!({ "id": id, "name": name, "client": client, "client_name": client_name,
                    "alert_template": template.id })
        })
        .collect();
    let mut map = all_columns(&template, &usage);
    map.insert("policies".into(), json!([]));
    map.insert("clients".into(), json!(clients));
    map.insert("sites".into(), json!(sites));
    map.insert("default_template".into(), json!(rel.is_default));
    Ok(HttpResponse::Ok().json(map))
}
