//! `/core/settings/`: the global settings (upstream core/views.py::GetEditCoreSettings) with the fields that
//! exist in trmm-rs. The SMTP password and the Twilio token are write-only: no answer ever contains them. In a
//! PUT, an absent or null secret keeps the stored one, an empty string removes it, any other value replaces it.

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use trmm_db::core_settings::{self, Editable, Secret};
use trmm_db::debug_log::Level;
use trmm_db::AlertTemplateId;

use crate::api::audit::{self, Change};
use crate::api::form::{self, Form};
use crate::api::routes::{self, Routes};
use crate::auth::perms::{EditCoreSettings, ViewCoreSettings};
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

// Upstream's auto-audit names the model.
const OBJECT: &str = "coresettings";

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/core/settings/", routes::get().to(get))
        .route("/core/settings/", routes::put().to(put));
}

async fn get(caller: Authed<ViewCoreSettings>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let settings = core_settings::get(&db, false).await?;
    let mut body = serde_json::to_value(settings)?;
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
    body["all_timezones"] = json!(zones);
    Ok(HttpResponse::Ok().json(body))
}

/// The secrets a PUT changes: `Some("")` removes one, `Some(value)` replaces it.
struct Secrets {
    smtp_password: Option<String>,
    twilio_token: Option<String>,
}

async fn put(caller: Authed<EditCoreSettings>, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let before = core_settings::get(&tx, true).await?.editable;
    let mut after = before.clone();
    let secrets = validate(map, &mut after)?;
    core_settings::update(&tx, &after, who).await.map_err(|e| {
        if e.is_foreign_key_violation() {
            let pk = after.alert_template.map(|t| t.0).unwrap_or_default();
            ApiError::field(
                "alert_template",
                format!("Invalid pk \"{pk}\" - object does not exist."),
            )
        } else {
            e.into()
        }
    })?;
    let notifier = &caller.state.notifier;
    for (secret, value) in [
        (Secret::SmtpPassword, &secrets.smtp_password),
        (Secret::TwilioToken, &secrets.twilio_token),
    ] {
        if let Some(value) = value {
            notifier
                .store_secret(&tx, secret, value)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
        }
    }
    // The secrets stay out of the audit values; a change of one is noted (so a PUT changing nothing writes none).
    let mut after_audit = serde_json::to_value(&after)?;
    for (key, secret) in [
        ("smtp_host_password_changed", &secrets.smtp_password),
        ("twilio_auth_token_changed", &secrets.twilio_token),
    ] {
        if secret.is_some() {
            after_audit[key] = json!(true);
        }
    }
    let message = format!("{who} modified global settings");
    let change = Change::modify(OBJECT, message, serde_json::to_value(&before)?, after_audit);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json("ok"))
}

/// Applies the fields present in `map` onto `s`, collecting every field's error like DRF's serializer.
fn validate(map: &Map<String, Value>, s: &mut Editable) -> ApiResult<Secrets> {
    let mut f = Form::new(map);
    let secrets = email(&mut f, s);
    let twilio_token = sms(&mut f, s);
    general(&mut f, s);
    f.finish().map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    Ok(Secrets {
        twilio_token,
        ..secrets
    })
}

fn email_error(address: &str) -> Option<String> {
    (!trmm_notify::mail::valid_address(address)).then(|| "Enter a valid email address.".to_owned())
}

fn email(f: &mut Form<'_>, s: &mut Editable) -> Secrets {
    if let Some(v) = f.string_list("email_alert_recipients", email_error) {
        s.email_alert_recipients = v;
    }
    if let Some(v) = f.string("smtp_from_email", 255, false) {
        match email_error(&v) {
            Some(message) => f.error("smtp_from_email", message),
            None => s.smtp_from_email = v,
        }
    }
    if let Some(v) = f.text("smtp_from_name", 255, true, true) {
        s.smtp_from_name = v;
    }
    if let Some(v) = f.string("smtp_host", 255, false) {
        s.smtp_host = v.trim().to_owned();
    }
    if let Some(v) = f.string("smtp_host_user", 255, true) {
        s.smtp_host_user = v;
    }
    if let Some(Some(v)) = f.int_within("smtp_port", 1, 65535, false) {
        s.smtp_port = v;
    }
    if let Some(v) = f.boolean("smtp_requires_auth") {
        s.smtp_requires_auth = v;
    }
    Secrets {
        smtp_password: f.text("smtp_host_password", usize::MAX, true, true).flatten(),
        twilio_token: None,
    }
}

fn sms(f: &mut Form<'_>, s: &mut Editable) -> Option<String> {
    if let Some(v) = f.string_list("sms_alert_recipients", |_| None) {
        s.sms_alert_recipients = v;
    }
    if let Some(v) = f.text("twilio_number", 255, true, true) {
        s.twilio_number = v;
    }
    if let Some(v) = f.text("twilio_account_sid", 255, true, true) {
        s.twilio_account_sid = v;
    }
    if let Some(v) = f.string("twilio_api_url", 255, false) {
        match trmm_notify::webhook::http_url(&v) {
            Some(_) => s.twilio_api_url = v.trim().to_owned(),
            None => f.error("twilio_api_url", "Enter a valid URL."),
        }
    }
    f.text("twilio_auth_token", usize::MAX, true, true).flatten()
}

fn general(f: &mut Form<'_>, s: &mut Editable) {
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
    if let Some(v) = f.choice("default_time_zone", &zones) {
        s.default_time_zone = v;
    }
    if let Some(v) = f.string("date_format", 30, false) {
        s.date_format = v;
    }
    let days = [
        ("check_history_prune_days", &mut s.check_history_prune_days),
        ("resolved_alerts_prune_days", &mut s.resolved_alerts_prune_days),
        ("agent_history_prune_days", &mut s.agent_history_prune_days),
        ("debug_log_prune_days", &mut s.debug_log_prune_days),
        ("audit_log_prune_days", &mut s.audit_log_prune_days),
        ("report_history_prune_days", &mut s.report_history_prune_days),
        ("clear_faults_days", &mut s.clear_faults_days),
    ];
    for (key, field) in days {
        if let Some(v) = f.integer(key, 0) {
            *field = v;
        }
    }
    if let Some(v) = f.boolean("notify_on_info_alerts") {
        s.notify_on_info_alerts = v;
    }
    if let Some(v) = f.boolean("notify_on_warning_alerts") {
        s.notify_on_warning_alerts = v;
    }
    if let Some(template) = f.int_within("alert_template", 1, i64::from(i32::MAX), true) {
        s.alert_template = template.map(AlertTemplateId);
    }
    let levels = Level::ALL.map(Level::as_str);
    if let Some(v) = f.choice("agent_debug_level", &levels) {
        s.agent_debug_level = v;
    }
}
