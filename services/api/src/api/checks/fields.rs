//! Validation of check bodies sent to `POST /checks/` and `PUT /checks/<pk>/` with DRF's field messages.

use serde_json::{Map, Value};
use trmm_db::checks::CheckFields;
use trmm_db::ScriptId;

use crate::api::form::Form;

const SEVERITIES: [&str; 3] = ["info", "warning", "error"];
const LOG_NAMES: [&str; 3] = ["Application", "System", "Security"];
const EVENT_TYPES: [&str; 5] = ["INFO", "WARNING", "ERROR", "AUDIT_SUCCESS", "AUDIT_FAILURE"];
const FAIL_WHEN: [&str; 2] = ["contains", "not_contains"];

fn text(f: &mut Form<'_>, key: &str, max: usize, into: &mut Option<String>) {
    if let Some(v) = f.text(key, max, true, true) {
        *into = v;
    }
}

fn choice_or_null(f: &mut Form<'_>, key: &str, choices: &[&str], into: &mut Option<String>) {
    if f.has(key) {
        if f.is_null(key) {
            *into = None;
        } else if let Some(v) = f.choice(key, choices) {
            *into = Some(v);
        }
    }
}

/// Applies the fields present in `map` onto `base`; unknown and read-only keys are ignored, as DRF does.
pub(super) fn apply(map: &Map<String, Value>, mut b: CheckFields) -> Result<CheckFields, Map<String, Value>> {
    let mut f = Form::new(map);
    text(&mut f, "name", 255, &mut b.name);
    for (key, into) in [
        ("email_alert", &mut b.email_alert),
        ("text_alert", &mut b.text_alert),
        ("dashboard_alert", &mut b.dashboard_alert),
        ("pass_if_svc_not_exist", &mut b.pass_if_svc_not_exist),
        ("event_id_is_wildcard", &mut b.event_id_is_wildcard),
    ] {
        if let Some(v) = f.boolean(key) {
            *into = v;
        }
    }
    if let Some(v) = f.int_within("fails_b4_alert", 1, i64::from(i32::MAX), false) {
        b.fails_b4_alert = v.unwrap_or(1);
    }
    if let Some(v) = f.int_within("run_interval", 0, i64::from(i32::MAX), false) {
        b.run_interval = v.unwrap_or(0);
    }
    choice_or_null(&mut f, "alert_severity", &SEVERITIES, &mut b.alert_severity);
    for (key, into) in [
        ("warning_threshold", &mut b.warning_threshold),
        ("error_threshold", &mut b.error_threshold),
    ] {
        if let Some(v) = f.int_within(key, 0, 99, true) {
            *into = v;
        }
    }
    text(&mut f, "disk", 255, &mut b.disk);
    text(&mut f, "ip", 255, &mut b.ip);
    if let Some(v) = f.int_within("script", 1, i64::from(i32::MAX), true) {
        b.script = v.map(ScriptId);
    }
    if let Some(v) = f.string_list("script_args", |_| None) {
        b.script_args = v;
    }
    if let Some(v) = f.string_list("env_vars", |_| None) {
        b.env_vars = v;
    }
    for (key, into) in [
        ("info_return_codes", &mut b.info_return_codes),
        ("warning_return_codes", &mut b.warning_return_codes),
        ("success_return_codes", &mut b.success_return_codes),
    ] {
        if let Some(v) = f.int_list(key, 0) {
            *into = v;
        }
    }
    for (key, min, into) in [
        ("timeout", 0, &mut b.timeout),
        ("event_id", i64::from(i32::MIN), &mut b.event_id),
        ("search_last_days", 0, &mut b.search_last_days),
        ("number_of_events_b4_alert", 0, &mut b.number_of_events_b4_alert),
    ] {
        if let Some(v) = f.int_within(key, min, i64::from(i32::MAX), true) {
            *into = v;
        }
    }
    text(&mut f, "svc_name", 255, &mut b.svc_name);
    text(&mut f, "svc_display_name", 255, &mut b.svc_display_name);
    text(&mut f, "svc_policy_mode", 20, &mut b.svc_policy_mode);
    for (key, into) in [
        ("pass_if_start_pending", &mut b.pass_if_start_pending),
        ("restart_if_stopped", &mut b.restart_if_stopped),
    ] {
        if let Some(v) = f.bool_or_null(key) {
            *into = v;
        }
    }
    choice_or_null(&mut f, "log_name", &LOG_NAMES, &mut b.log_name);
    choice_or_null(&mut f, "event_type", &EVENT_TYPES, &mut b.event_type);
    text(&mut f, "event_source", 255, &mut b.event_source);
    text(&mut f, "event_message", usize::MAX, &mut b.event_message);
    if let Some(v) = f.choice("fail_when", &FAIL_WHEN) {
        b.fail_when = Some(v);
    }
    f.finish()?;
    // The agent ignores the id of a wildcard event check; upstream stores 0 for it.
    if b.event_id_is_wildcard {
        b.event_id = Some(0);
    }
    Ok(b)
}

/// What a new check starts from (upstream's model defaults).
pub(super) fn defaults() -> CheckFields {
    CheckFields {
        fails_b4_alert: 1,
        alert_severity: Some("warning".into()),
        warning_threshold: Some(0),
        error_threshold: Some(0),
        fail_when: Some("contains".into()),
        number_of_events_b4_alert: Some(1),
        ..CheckFields::default()
    }
}
