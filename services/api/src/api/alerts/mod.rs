//! Alerts (TRMM alerts/views.py::GetAddAlerts, GetUpdateDeleteAlert and BulkAlerts; server-api.md 3.10) and,
//! in [`templates`], alert templates. Dashboard resolve and snooze are quiet: no notification, no action.

mod template_fields;
mod templates;

use actix_web::HttpResponse;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Map, Value};
use trmm_db::alerts::{self, ActionOutput, Alert, AlertFilter};
use trmm_db::{AlertId, ClientId};

use super::drf_time;
use super::form;
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListAlerts, ManageAlerts};
use crate::auth::{Authed, Scoped};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;
use crate::state::AppState;

/// Registers the routes of this module; fixed paths come before `{pk}`, which only matches digits.
pub fn configure(cfg: &mut Routes) {
    cfg.configure(templates::configure)
        .route("/alerts/", routes::patch().to(list))
        .route("/alerts/bulk/", routes::post().to(bulk))
        .route("/alerts/{pk:\\d+}/", routes::get().to(get))
        .route("/alerts/{pk:\\d+}/", routes::put().to(update))
        .route("/alerts/{pk:\\d+}/", routes::delete().to(delete));
}

/// The keys that make `PATCH /alerts/` a filtered search.
const FILTERS: [&str; 5] = [
    "timeFilter",
    "clientFilter",
    "severityFilter",
    "resolvedFilter",
    "snoozedFilter",
];

fn time(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(drf_time)
}

fn output(map: &mut Map<String, Value>, prefix: &str, o: &ActionOutput) {
    let fields = [
        ("run", json!(time(o.run))),
        ("stdout", json!(o.stdout)),
        ("stderr", json!(o.stderr)),
        ("retcode", json!(o.retcode)),
        ("execution_time", json!(o.execution_time)),
    ];
    for (name, value) in fields {
        map.insert(format!("{prefix}action_{name}"), value);
    }
}

/// `AlertSerializer`: every column (foreign keys by pk) plus the agent's hostname, id, client and site.
fn render(a: &Alert) -> Value {
    let mut v = json!({
        "id": a.id,
        "agent": a.agent,
        "assigned_check": a.assigned_check,
        "assigned_task": a.assigned_task,
        "alert_type": a.alert_type,
        "message": a.message,
        "alert_time": drf_time(a.alert_time),
        "snoozed": a.snoozed,
        "snooze_until": time(a.snooze_until),
        "resolved": a.resolved,
        "resolved_on": time(a.resolved_on),
        "severity": a.severity,
        "email_sent": time(a.email_sent),
        "resolved_email_sent": time(a.resolved_email_sent),
        "sms_sent": time(a.sms_sent),
        "resolved_sms_sent": time(a.resolved_sms_sent),
        "hidden": a.hidden,
    });
    let map = v.as_object_mut().expect("an object literal");
    output(map, "", &a.action);
    output(map, "resolved_", &a.resolved_action);
    // Upstream's read-only agent fields are skipped, not null, on an alert without an agent (DRF SkipField).
    if a.agent.is_some() {
        map.insert("hostname".into(), json!(a.hostname));
        map.insert("agent_id".into(), json!(a.agent_id));
        map.insert("client".into(), json!(a.client_name));
        map.insert("site".into(), json!(a.site_name));
    }
    v
}

fn rendered(alerts: &[Alert]) -> Value {
    Value::Array(alerts.iter().map(render).collect())
}

/// Python's truth value of a JSON value, which upstream's filters test.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn invalid(errors: Map<String, Value>) -> ApiError {
    ApiError::Invalid(Value::Object(errors))
}

/// The filters of `PATCH /alerts/` as upstream reads them: a falsy resolved/snoozed filter keeps only the
/// unresolved/unsnoozed alerts, anything else keeps all.
fn filter(map: &Map<String, Value>, now: DateTime<Utc>) -> ApiResult<AlertFilter> {
    let mut f = form::Form::new(map);
    let clients = f.pk_list("clientFilter");
    let severities = f.string_list("severityFilter", |_| None);
    let days = f.integer("timeFilter", 0);
    f.finish().map_err(invalid)?;
    Ok(AlertFilter {
        clients: clients.map(|c| c.into_iter().map(ClientId).collect()),
        severities,
        unresolved_only: map.get("resolvedFilter").is_some_and(|v| !truthy(v)),
        unsnoozed_only: map.get("snoozedFilter").is_some_and(|v| !truthy(v)),
        // A window reaching before the calendar's start is no window.
        since: days
            .and_then(|d| TimeDelta::try_days(d.into()))
            .and_then(|d| now.checked_sub_signed(d)),
    })
}

/// `PATCH /alerts/`: `{top}` for the dashboard bell, the filters, or every alert; only alerts of the user's
/// clients and sites (and custom ones).
async fn list(caller: Authed<ListAlerts>, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let scope = caller.identity.visibility();
    let db = caller.state.conn().await?;
    let mut f = form::Form::new(map);
    let top = f.integer("top", 0);
    f.finish().map_err(invalid)?;
    if let Some(top) = top {
        let (count, alerts) = alerts::top(&db, &scope, top.into()).await?;
        return Ok(HttpResponse::Ok().json(json!({ "alerts_count": count, "alerts": rendered(&alerts) })));
    }
    let filters = if FILTERS.iter().any(|k| map.contains_key(*k)) {
        filter(map, caller.state.now())?
    } else {
        AlertFilter::default()
    };
    Ok(HttpResponse::Ok().json(rendered(&alerts::list(&db, &scope, &filters).await?)))
}

/// `GET /alerts/<pk>/`.
async fn get(caller: Scoped<ListAlerts, Alert>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(render(&caller.target)))
}

/// The longest snooze, a century: beyond it a date overflows.
const MAX_SNOOZE_DAYS: i64 = 36_500;

/// The end of a snooze of `snooze_days` days from `now`; `missing` is the answer when there is none.
fn snooze_until(map: &Map<String, Value>, now: DateTime<Utc>, missing: &str) -> ApiResult<DateTime<Utc>> {
    let mut f = form::Form::new(map);
    let days = f.int_within("snooze_days", 1, MAX_SNOOZE_DAYS, false);
    f.finish().map_err(invalid)?;
    let Some(Some(days)) = days else {
        return Err(ApiError::BadRequest(missing.into()));
    };
    Ok(now + TimeDelta::days(days.into()))
}

/// `PUT /alerts/<pk>/` `{type: resolve | snooze (+ snooze_days) | unsnooze}`.
async fn update(caller: Scoped<ManageAlerts, Alert>, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let (id, now) = (caller.target.id, caller.state.now());
    let db = caller.state.conn().await?;
    match map.get("type").and_then(Value::as_str) {
        Some("resolve") => resolved(&caller.state, alerts::resolve_quietly(&db, &[id], now).await?, now),
        Some("snooze") => {
            let until = snooze_until(map, now, "Missing 'snoozed_days' when trying to snooze alert")?;
            alerts::snooze(&db, &[id], until).await?
        }
        Some("unsnooze") => alerts::unsnooze(&db, id).await?,
        // Upstream also takes raw column edits without `type`; the dashboard never sends them.
        _ => return Err(ApiError::BadRequest("There was an error in the request data".into())),
    }
    Ok(HttpResponse::Ok().json("ok"))
}

/// `DELETE /alerts/<pk>/`.
async fn delete(caller: Scoped<ManageAlerts, Alert>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    alerts::delete(&db, caller.target.id).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

/// `POST /alerts/bulk/` `{bulk_action: resolve | snooze, alerts: [ids], snooze_days}`: alerts outside the
/// user's clients and sites are left alone (upstream touches every id it is given).
async fn bulk(caller: Authed<ManageAlerts>, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    const INVALID: &str = "The request was invalid";
    let map = form::object(&body)?;
    let ids: Vec<AlertId> = match map.get("alerts") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| form::pk(v).map(AlertId))
            .collect::<Result<_, _>>()
            .map_err(|_| ApiError::BadRequest(INVALID.into()))?,
        _ => return Err(ApiError::BadRequest(INVALID.into())),
    };
    let now = caller.state.now();
    let action = map.get("bulk_action").and_then(Value::as_str);
    let until = match action {
        Some("resolve") => None,
        Some("snooze") => Some(snooze_until(map, now, INVALID)?),
        _ => return Err(ApiError::BadRequest(INVALID.into())),
    };
    let db = caller.state.conn().await?;
    let ids = alerts::visible(&db, &caller.identity.visibility(), &ids).await?;
    match until {
        None => resolved(&caller.state, alerts::resolve_quietly(&db, &ids, now).await?, now),
        Some(until) => alerts::snooze(&db, &ids, until).await?,
    }
    Ok(HttpResponse::Ok().json("ok"))
}

/// Tells the dashboards of alerts a user resolved.
fn resolved(state: &AppState, alerts: Vec<Alert>, now: DateTime<Utc>) {
    for alert in &alerts {
        state.events.alert(alert, false, now);
    }
}
