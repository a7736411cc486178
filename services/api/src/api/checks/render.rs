//! The JSON shapes of checks (upstream `CheckSerializer`, `CheckResultSerializer`, `CheckHistorySerializer`).

use serde_json::{json, Map, Value};
use trmm_db::alerts::templates::AlertTemplate;
use trmm_db::checks::{Check, CheckResultRow, HistoryPoint};
use trmm_ops::checks::readable_desc;

use crate::api::drf_time;

/// `CheckResultSerializer` (`fields = "__all__"`); `{}` when the check has not reported on the agent.
pub(super) fn result(r: Option<&CheckResultRow>) -> Value {
    let Some(r) = r else { return json!({}) };
    json!({
        "id": r.id.0,
        "status": r.status,
        "alert_severity": r.alert_severity,
        "more_info": r.more_info,
        "last_run": r.last_run.map(drf_time),
        "fail_count": r.fail_count,
        "outage_history": r.outage_history,
        "extra_details": r.extra_details,
        "stdout": r.stdout,
        "stderr": r.stderr,
        "retcode": r.retcode,
        "execution_time": r.execution_time,
        "history": r.history,
        "agent": r.agent,
        "assigned_check": r.assigned_check,
    })
}

/// `CheckSerializer`: every Check field, the description, the agent's template (its check settings) and the
/// result on the agent.
pub(super) fn check(c: &Check, r: Option<&CheckResultRow>, template: Option<&AlertTemplate>) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), json!(c.id));
    if let Value::Object(fields) = json!(c.fields) {
        map.extend(fields);
    }
    let alert_template = template.map(|t| {
        json!({
            "name": t.fields.name,
            "always_email": t.fields.check.always_email,
            "always_text": t.fields.check.always_text,
            "always_alert": t.fields.check.always_alert,
        })
    });
    map.extend([
        ("agent".to_owned(), json!(c.agent)),
        ("policy".to_owned(), json!(c.policy)),
        ("overridden_by_policy".to_owned(), json!(c.overridden_by_policy)),
        ("check_type".to_owned(), json!(c.check_type)),
        ("readable_desc".to_owned(), json!(readable_desc(c))),
        // Tasks run on check failure arrive with the tasks issue.
        ("assigned_tasks".to_owned(), json!([])),
        ("alert_template".to_owned(), json!(alert_template)),
        ("check_result".to_owned(), result(r)),
        ("created_by".to_owned(), json!(c.created_by)),
        ("created_time".to_owned(), json!(drf_time(c.created_time))),
        ("modified_by".to_owned(), json!(c.modified_by)),
        ("modified_time".to_owned(), json!(drf_time(c.modified_time))),
    ]);
    Value::Object(map)
}

/// `CheckHistorySerializer`: `{x, y, results}`.
pub(super) fn history(p: &HistoryPoint) -> Value {
    json!({ "x": drf_time(p.x), "y": p.y, "results": p.results })
}
