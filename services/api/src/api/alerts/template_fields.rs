//! Validation of the alert template bodies of `POST /alerts/templates/` and `PUT /alerts/templates/<pk>/`
//! (upstream AlertTemplateSerializer, partial on both), with DRF's messages.

use serde_json::{Map, Value};
use trmm_db::alerts::templates::{self, KindSettings, Reference, TemplateAction, TemplateFields};
use trmm_db::{AgentPk, ClientId, GenericClient, ScriptId, SiteId};

use crate::api::form::{invalid_pk, Form};
use crate::error::{ApiError, ApiResult};

const ACTION_TYPES: [&str; 3] = ["script", "server", "rest"];
const SEVERITIES: [&str; 3] = ["info", "warning", "error"];

/// A new template before the body applies: upstream's model defaults.
pub(super) fn defaults() -> TemplateFields {
    let action = TemplateAction {
        action_type: "script".into(),
        timeout: 15,
        ..TemplateAction::default()
    };
    let kind = KindSettings {
        script_actions: true,
        ..KindSettings::default()
    };
    TemplateFields {
        is_active: true,
        action: action.clone(),
        resolved_action: action,
        agent: kind.clone(),
        check: kind.clone(),
        task: kind,
        ..TemplateFields::default()
    }
}

/// Whether the body makes either action a server-side script, which takes `can_run_server_scripts` on top of
/// managing templates (upstream AlertTemplatePerms). Such templates are stored, but trmm-rs does not run
/// server-side scripts yet.
pub(super) fn wants_server_script(map: &Map<String, Value>) -> bool {
    ["action_type", "resolved_action_type"]
        .iter()
        .any(|k| map.get(*k).and_then(Value::as_str) == Some("server"))
}

/// A string list that may be null (stored empty), of items of at most `max` characters.
fn list(f: &mut Form, key: &str, max: usize) -> Option<Vec<String>> {
    if f.is_null(key) {
        return Some(Vec::new());
    }
    f.string_list(key, |s| {
        (s.chars().count() > max).then(|| format!("Ensure this field has no more than {max} characters."))
    })
}

/// A nullable flag that is only ever tested for truth upstream: null is stored as false.
fn flag(f: &mut Form, key: &str, slot: &mut bool) {
    if let Some(v) = f.bool_or_null(key) {
        *slot = v.unwrap_or(false);
    }
}

fn severity_error(s: &str) -> Option<String> {
    (!SEVERITIES.contains(&s)).then(|| format!("\"{s}\" is not a valid choice."))
}

/// The failure (`prefix` "") or resolve (`prefix` "resolved_") action.
fn action(f: &mut Form, prefix: &str, a: &mut TemplateAction) {
    let key = |suffix: &str| format!("{prefix}action{suffix}");
    if let Some(v) = f.choice(&key("_type"), &ACTION_TYPES) {
        a.action_type = v;
    }
    if let Some(v) = f.pk(&key("")) {
        a.script = v.map(ScriptId);
    }
    if let Some(v) = f.pk(&key("_rest")) {
        a.rest = v;
    }
    if let Some(v) = list(f, &key("_args"), 255) {
        a.args = v;
    }
    if let Some(v) = list(f, &key("_env_vars"), usize::MAX) {
        a.env_vars = v;
    }
    // The agent refuses longer scripts (trmm_ops::script::MAX_TIMEOUT); the action would never run.
    if let Some(v) = f.int_within(&key("_timeout"), 1, trmm_ops::script::MAX_TIMEOUT, false) {
        a.timeout = v.unwrap_or(15);
    }
}

/// The settings of one alert kind (`agent`, `check`, `task`); availability alerts have no severity lists.
fn kind(f: &mut Form, kind: &str, k: &mut KindSettings) {
    let key = |name: &str| format!("{kind}_{name}");
    if kind != "agent" {
        for (name, slot) in [
            ("email_alert_severity", &mut k.email_severities),
            ("text_alert_severity", &mut k.text_severities),
            ("dashboard_alert_severity", &mut k.dashboard_severities),
        ] {
            if let Some(v) = f.string_list(&key(name), severity_error) {
                *slot = v;
            }
        }
    }
    flag(f, &key("email_on_resolved"), &mut k.email_on_resolved);
    flag(f, &key("text_on_resolved"), &mut k.text_on_resolved);
    flag(f, &key("script_actions"), &mut k.script_actions);
    for (name, slot) in [
        ("always_email", &mut k.always_email),
        ("always_text", &mut k.always_text),
        ("always_alert", &mut k.always_alert),
    ] {
        if let Some(v) = f.bool_or_null(&key(name)) {
            *slot = v;
        }
    }
    if let Some(v) = f.int_within(&key("periodic_alert_days"), 0, i32::MAX.into(), true) {
        k.periodic_alert_days = v.unwrap_or(0);
    }
}

/// Everything but the settings per alert kind and the ids that must exist.
fn general(f: &mut Form, t: &mut TemplateFields) {
    if let Some(v) = f.string("name", 100, false) {
        t.name = v;
    }
    if let Some(v) = f.boolean("is_active") {
        t.is_active = v;
    }
    action(f, "", &mut t.action);
    action(f, "resolved_", &mut t.resolved_action);
    if let Some(v) = list(f, "email_recipients", 100) {
        t.email_recipients = v;
    }
    if let Some(v) = list(f, "text_recipients", 100) {
        t.text_recipients = v;
    }
    match f.text("email_from", 254, true, true) {
        Some(Some(v)) if !v.is_empty() && !trmm_notify::mail::valid_address(&v) => {
            f.error("email_from", "Enter a valid email address.")
        }
        Some(v) => t.email_from = v,
        None => {}
    }
    flag(f, "exclude_workstations", &mut t.exclude_workstations);
    flag(f, "exclude_servers", &mut t.exclude_servers);
    if let Some(v) = f.pk_list("excluded_clients") {
        t.excluded_clients = v.into_iter().map(ClientId).collect();
    }
    if let Some(v) = f.pk_list("excluded_sites") {
        t.excluded_sites = v.into_iter().map(SiteId).collect();
    }
    if let Some(v) = f.pk_list("excluded_agents") {
        t.excluded_agents = v.into_iter().map(AgentPk).collect();
    }
}

/// Reports each id the body names that does not exist, as DRF's related fields do.
async fn references(db: &impl GenericClient, f: &mut Form<'_>, t: &TemplateFields) -> ApiResult<()> {
    let one = |id: Option<i32>| id.into_iter().collect::<Vec<_>>();
    let named: [(&str, Reference, Vec<i32>); 7] = [
        ("action", Reference::Script, one(t.action.script.map(|s| s.0))),
        ("action_rest", Reference::UrlAction, one(t.action.rest)),
        (
            "resolved_action",
            Reference::Script,
            one(t.resolved_action.script.map(|s| s.0)),
        ),
        (
            "resolved_action_rest",
            Reference::UrlAction,
            one(t.resolved_action.rest),
        ),
        (
            "excluded_clients",
            Reference::Client,
            t.excluded_clients.iter().map(|c| c.0).collect(),
        ),
        (
            "excluded_sites",
            Reference::Site,
            t.excluded_sites.iter().map(|s| s.0).collect(),
        ),
        (
            "excluded_agents",
            Reference::Agent,
            t.excluded_agents.iter().map(|a| a.0).collect(),
        ),
    ];
    for (key, kind, ids) in named {
        // Stored ids are kept valid by their foreign keys; only the ones sent need a look.
        if f.has(key) {
            if let Some(id) = templates::first_missing(db, kind, &ids).await? {
                f.error(key, invalid_pk(id));
            }
        }
    }
    Ok(())
}

/// Applies the fields present in `map` onto `base`, validating each with DRF's messages; `creating` makes
/// `name` required. Unknown and read-only keys (`id`, `applied_count`, ...) are ignored, as DRF ignores them.
pub(super) async fn apply(
    db: &impl GenericClient,
    map: &Map<String, Value>,
    mut base: TemplateFields,
    creating: bool,
) -> ApiResult<TemplateFields> {
    let mut f = Form::new(map);
    if creating {
        f.require("name");
    }
    general(&mut f, &mut base);
    kind(&mut f, "agent", &mut base.agent);
    kind(&mut f, "check", &mut base.check);
    kind(&mut f, "task", &mut base.task);
    references(db, &mut f, &base).await?;
    f.finish().map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    Ok(base)
}
