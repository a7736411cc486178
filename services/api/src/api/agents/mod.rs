//! The agent table, agent detail, edit and delete (TRMM agents/views.py; server-api.md 3.3 and 4.2).

mod actions;
mod bulk;
mod history;
mod installer;
mod notes;
mod runscript;
mod table;

use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use trmm_authz::Denial;
use trmm_db::agents::{self, AgentChanges};
use trmm_db::custom_fields::{FieldModel, Parent};
use trmm_db::{AgentPk, GenericClient, SiteId};
use trmm_protocol::calls::Uninstall;

use super::audit::{self, Change};
use super::core::values::{self, CustomFieldEdit};
use crate::api::routes::{self, Routes};
use crate::auth::perms::{EditAgent, ListAgents, UninstallAgents};
use crate::auth::{in_scope, ScopedAgent};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

/// Route pattern of an agent id: at least 21 characters, so fixed paths such as `/agents/installer/` never
/// match it (TRMM tacticalrmm/urls.py::AgentIDConverter `[^/]{20}[^/]+`).
pub const AGENT_ID: &str = "{agent_id:[^/]{21,}}";

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    let one = format!("/agents/{AGENT_ID}/");
    cfg.route("/agents/", routes::get().to(table::list))
        .route("/agents/installer/", routes::post().to(installer::create))
        .route(&one, routes::get().to(detail))
        .route(&one, routes::put().to(update))
        .route(&one, routes::delete().to(delete))
        .configure(actions::configure)
        .configure(bulk::configure)
        .configure(history::configure)
        .configure(notes::configure)
        .configure(runscript::configure);
}

/// Renders Postgres `to_jsonb` timestamps ("...+00:00") the way DRF does ("...Z").
fn drf_datetimes(map: &mut Map<String, Value>, keys: &[&str]) {
    for key in keys {
        if let Some(Value::String(s)) = map.get_mut(*key) {
            if let Some(stripped) = s.strip_suffix("+00:00") {
                *s = format!("{stripped}Z");
            }
        }
    }
}

async fn detail(caller: ScopedAgent<ListAgents>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let d = agents::detail(&db, caller.agent.pk, caller.state.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    let Value::Object(mut map) = d.columns else {
        return Err(ApiError::Internal("agent row is not an object".into()));
    };
    let plat = map.get("plat").and_then(Value::as_str).unwrap_or_default().to_owned();
    let hw = trmm_protocol::hardware::summarize(&plat, map.get("wmi_detail"));
    // AgentSerializer: every column except id; foreign keys under their model names.
    map.remove("id");
    for (column, field) in [
        ("site_id", "site"),
        ("policy_id", "policy"),
        ("alert_template_id", "alert_template"),
    ] {
        if let Some(v) = map.remove(column) {
            map.insert(field.into(), v);
        }
    }
    drf_datetimes(
        &mut map,
        &["last_seen", "created_time", "modified_time", "patches_last_installed"],
    );
    map.insert("status".into(), json!(d.status));
    map.insert("client".into(), json!(d.client_name));
    map.insert("site_name".into(), json!(d.site_name));
    let mut fields = values::render(&db, FieldModel::Agent, &[caller.agent.pk.0]).await?;
    map.insert(
        "custom_fields".into(),
        json!(fields.remove(&caller.agent.pk.0).unwrap_or_default()),
    );
    if let Value::Object(hw) = serde_json::to_value(hw).map_err(|e| ApiError::Internal(e.to_string()))? {
        map.extend(hw);
    }
    drop(db);
    let connected = table::connected(&caller.state, vec![caller.agent.agent_id.clone()]).await;
    map.insert("connected".into(), json!(!connected.is_empty()));
    Ok(HttpResponse::Ok().json(map))
}

/// An agent's audit value: every column, without the inventory (upstream AgentAuditSerializer leaves out disks,
/// services and wmi_detail) and without the heartbeat's `last_seen`, which moves on its own.
async fn snapshot(db: &impl GenericClient, pk: AgentPk, now: DateTime<Utc>) -> ApiResult<Value> {
    let detail = agents::detail(db, pk, now).await?.ok_or(ApiError::NotFound)?;
    audit::snapshot(detail.columns, &["disks", "services", "wmi_detail", "last_seen"])
}

#[derive(Deserialize)]
struct AgentEdit {
    description: Option<String>,
    monitoring_type: Option<String>,
    site: Option<i32>,
    maintenance_mode: Option<bool>,
    offline_time: Option<i32>,
    overdue_time: Option<i32>,
    check_interval: Option<i32>,
    overdue_email_alert: Option<bool>,
    overdue_text_alert: Option<bool>,
    overdue_dashboard_alert: Option<bool>,
    block_policy_inheritance: Option<bool>,
    time_zone: Option<String>,
    custom_fields: Option<Vec<CustomFieldEdit>>,
}

fn positive(field: &str, v: Option<i32>) -> ApiResult<Option<i32>> {
    match v {
        Some(n) if n < 1 => Err(ApiError::field(
            field,
            "Ensure this value is greater than or equal to 1.",
        )),
        other => Ok(other),
    }
}

async fn update(
    caller: ScopedAgent<EditAgent>,
    req: HttpRequest,
    Json(body): Json<AgentEdit>,
) -> ApiResult<HttpResponse> {
    if let Some(m) = body.monitoring_type.as_deref() {
        if m != "server" && m != "workstation" {
            return Err(ApiError::field(
                "monitoring_type",
                format!("\"{m}\" is not a valid choice."),
            ));
        }
    }
    let changes = AgentChanges {
        description: body.description,
        monitoring_type: body.monitoring_type,
        site: body.site.map(SiteId),
        maintenance_mode: body.maintenance_mode,
        offline_time: positive("offline_time", body.offline_time)?,
        overdue_time: positive("overdue_time", body.overdue_time)?,
        check_interval: positive("check_interval", body.check_interval)?,
        overdue_email_alert: body.overdue_email_alert,
        overdue_text_alert: body.overdue_text_alert,
        overdue_dashboard_alert: body.overdue_dashboard_alert,
        block_policy_inheritance: body.block_policy_inheritance,
        time_zone: body.time_zone,
    };
    let mut db = caller.state.conn().await?;
    if let Some(site) = changes.site {
        in_scope::site(&db, &caller.identity, site)
            .await
            .map_err(|denial| match denial {
                Denial::NotFound => ApiError::field("site", "Invalid pk - object does not exist."),
                other => other.into(),
            })?;
    }
    let custom_fields = values::validate(&db, FieldModel::Agent, body.custom_fields.as_deref()).await?;
    let (a, now) = (&caller.agent, caller.state.now());
    let tx = db.transaction().await?;
    let before = snapshot(&tx, a.pk, now).await?;
    agents::update(&tx, a.pk, &changes, caller.identity.username()).await?;
    values::write(&tx, Parent::Agent(a.pk), &custom_fields).await?;
    let after = snapshot(&tx, a.pk, now).await?;
    let message = format!("{} modified agent {}", caller.identity.username(), a.hostname);
    let change = Change::modify("agent", message, before, after).on(Some(a));
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("The agent was updated successfully"))
}

/// What the Go agent runs on `uninstall` (it writes `code` to a file and runs it with the argument
/// `uninstall`; upstream sends core/agent_linux.sh). Windows agents ignore it and run their uninstaller;
/// trmm-agent uninstalls itself.
const UNIX_UNINSTALL_SCRIPT: &str = r#"#!/usr/bin/env bash
[ "$1" = "uninstall" ] || exit 0
systemctl disable --now tacticalagent.service 2>/dev/null
rm -f /etc/systemd/system/tacticalagent.service /usr/local/bin/tacticalagent /etc/tacticalagent
systemctl daemon-reload 2>/dev/null
exit 0
"#;

async fn delete(caller: ScopedAgent<UninstallAgents>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let a = &caller.agent;
    let gateway = &caller.state.gateway;
    // TRMM agents/views.py: the agent is told to uninstall first, then its row goes.
    let uninstall = Uninstall {
        code: UNIX_UNINSTALL_SCRIPT.to_owned(),
    };
    // A request rather than upstream's publish: the agent answers "ok" before uninstalling, so the
    // disconnect below can never overtake the uninstall message. An offline agent is deleted anyway.
    if let Err(e) = gateway
        .call(&a.agent_id, uninstall, std::time::Duration::from_secs(5))
        .await
    {
        tracing::warn!(agent_id = %a.agent_id, error = %e, "uninstall not acknowledged; deleting anyway");
    }
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let before = snapshot(&tx, a.pk, caller.state.now()).await?;
    // Deleting the row cascades to its token, so the agent can no longer authenticate.
    agents::delete(&tx, a.pk).await?;
    let message = format!("{} deleted agent {}", caller.identity.username(), a.hostname);
    // The agent row is gone when the audit row is written, so its place is given.
    let change = Change::delete("agent", message, before)
        .on(Some(a))
        .at_site(a.client, a.site);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    // With the token gone the callout refuses reconnects; this drops the live connection too.
    if let Err(e) = gateway.disconnect(&a.agent_id).await {
        tracing::warn!(agent_id = %a.agent_id, error = %e, "could not disconnect the deleted agent");
    }
    Ok(HttpResponse::Ok().json(format!("{} will now be uninstalled.", a.hostname)))
}
