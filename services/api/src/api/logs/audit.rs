//! `PATCH /logs/audit/`: one page of the audit log, filtered and sorted, within the caller's role scope.

use actix_web::HttpResponse;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};
use trmm_db::audit::{self, AuditFilter, AuditRow, PageRequest, SortBy};
use trmm_db::ClientId;

use super::invalid;
use crate::api::drf_time;
use crate::api::form::{self, Form};
use crate::auth::perms::ViewAuditLogs;
use crate::auth::Authed;
use crate::error::ApiResult;
use crate::json::Json;

/// Upstream's AuditActionType.
const ACTIONS: [&str; 14] = [
    "login",
    "failed_login",
    "delete",
    "modify",
    "add",
    "view",
    "check_run",
    "task_run",
    "agent_install",
    "remote_session",
    "execute_script",
    "execute_command",
    "bulk_action",
    "url_action",
];

/// Upstream's AuditObjType, plus the model names its automatic rows write (and the dashboard's filter offers).
const OBJECTS: [&str; 23] = [
    "user",
    "script",
    "agent",
    "policy",
    "winupdatepolicy",
    "client",
    "site",
    "check",
    "automatedtask",
    "coresettings",
    "bulk",
    "alerttemplate",
    "role",
    "urlaction",
    "keystore",
    "customfield",
    "apikey",
    "globalkvstore",
    "schedule",
    "reportschedule",
    "reporttemplate",
    "reportasset",
    "reporthtmltemplate",
];

/// Most rows one page may ask for (the dashboard offers up to 1000).
const MAX_ROWS_PER_PAGE: i64 = 1000;

fn not_a_choice(choices: &'static [&'static str]) -> impl Fn(&str) -> Option<String> {
    move |v| (!choices.contains(&v)).then(|| format!("\"{v}\" is not a valid choice."))
}

/// The filters, as upstream reads them: each present key filters, `timeFilter` is a number of days back (0 keeps
/// everything: the dashboard's "Everything").
fn filter(f: &mut Form<'_>, now: DateTime<Utc>) -> AuditFilter {
    let clients = f.pk_list("clientFilter");
    let days = f.integer("timeFilter", 0);
    AuditFilter {
        agents: f.string_list("agentFilter", |_| None),
        clients: clients.map(|c| c.into_iter().map(ClientId).collect()),
        users: f.string_list("userFilter", |_| None),
        actions: f.string_list("actionFilter", not_a_choice(&ACTIONS)),
        objects: f.string_list("objectFilter", not_a_choice(&OBJECTS)),
        // A window reaching before the calendar's start is no window.
        since: days
            .filter(|d| *d > 0)
            .and_then(|d| TimeDelta::try_days(d.into()))
            .and_then(|d| now.checked_sub_signed(d)),
    }
}

/// `pagination`: `{sortBy, descending, page, rowsPerPage}`, each optional (newest first, 25 rows on page 1).
fn pagination(map: &Map<String, Value>) -> Result<PageRequest, Map<String, Value>> {
    let mut f = Form::new(map);
    let names = SortBy::ALL.map(|(name, _)| name);
    let sort_by = if f.is_null("sortBy") {
        None
    } else {
        f.choice("sortBy", &names)
    };
    let descending = if f.is_null("descending") {
        None
    } else {
        f.boolean("descending")
    };
    let page = f.int_within("page", 1, i64::from(i32::MAX), false).flatten();
    let rows = f.int_within("rowsPerPage", 1, MAX_ROWS_PER_PAGE, false).flatten();
    f.finish()?;
    Ok(PageRequest {
        sort_by: sort_by.and_then(|n| SortBy::parse(&n)).unwrap_or(SortBy::EntryTime),
        descending: descending.unwrap_or(true),
        page: page.map_or(1, i64::from),
        rows_per_page: rows.map_or(25, i64::from),
    })
}

/// The whole request body: filters and page, with every field's error at once.
fn request(map: &Map<String, Value>, now: DateTime<Utc>) -> ApiResult<(AuditFilter, PageRequest)> {
    let mut f = Form::new(map);
    let filter = filter(&mut f, now);
    let none = Map::new();
    let page = match map.get("pagination") {
        None | Some(Value::Null) => &none,
        Some(Value::Object(page)) => page,
        Some(_) => {
            f.error("pagination", "Expected a dictionary of items.");
            &none
        }
    };
    match (f.finish(), pagination(page)) {
        (Ok(()), Ok(page)) => Ok((filter, page)),
        (errors, page) => {
            let mut errors = errors.err().unwrap_or_default();
            if let Err(page) = page {
                errors.insert("pagination".into(), Value::Object(page));
            }
            Err(invalid(errors))
        }
    }
}

/// AuditLogSerializer: every column, plus `ip_address` (from `debug_info.ip`) and the `site` the row is at.
fn render(r: &AuditRow) -> Value {
    let ip = r.debug_info.as_ref().and_then(|d| d.get("ip")).cloned();
    let site = r
        .site
        .as_ref()
        .map(|s| json!({ "id": s.id, "name": s.name, "client": s.client, "client_name": s.client_name }));
    json!({
        "id": r.id,
        "username": r.username,
        "agent": r.agent,
        "agent_id": r.agent_id,
        "entry_time": drf_time(r.entry_time),
        "action": r.action,
        "object_type": r.object_type,
        "before_value": r.before_value,
        "after_value": r.after_value,
        "message": r.message,
        "debug_info": r.debug_info,
        "ip_address": ip,
        "site": site,
    })
}

/// `PATCH /logs/audit/` → `{audit_logs: [...], total}`. Roles limited to some clients or sites see the rows about
/// those (by the agent, client or site a row concerns) and the rows about none of them (logins, settings,
/// scripts, ...), as upstream's `_audit_log_filter`, which only knows about agents.
pub(super) async fn list(caller: Authed<ViewAuditLogs>, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let (filter, page) = request(map, caller.state.now())?;
    let db = caller.state.conn().await?;
    let (rows, total) = audit::page(&db, &caller.identity.visibility(), &filter, page).await?;
    let audit_logs: Vec<Value> = rows.iter().map(render).collect();
    Ok(HttpResponse::Ok().json(json!({ "audit_logs": audit_logs, "total": total })))
}
