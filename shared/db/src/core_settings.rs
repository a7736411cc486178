//! Global settings (Tactical RMM `core.CoreSettings`, a single row created by the first migration).
//!
//! The SMTP password and the Twilio token are stored encrypted: this module reads and writes their ciphertext
//! only ([`Secret`]); the services hold the key and do the encryption.

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Row;

use crate::{AlertTemplateId, DbError};

/// The settings the dashboard edits (`PUT /core/settings/`); serialized with upstream's field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Editable {
    /// Default recipients of alert mail.
    pub email_alert_recipients: Vec<String>,
    /// Sender address.
    pub smtp_from_email: String,
    /// Sender display name.
    pub smtp_from_name: Option<String>,
    /// SMTP server host.
    pub smtp_host: String,
    /// SMTP login user.
    pub smtp_host_user: String,
    /// SMTP server port.
    pub smtp_port: i32,
    /// STARTTLS + login when true, else a plain relay.
    pub smtp_requires_auth: bool,
    /// Default recipients of alert SMS.
    pub sms_alert_recipients: Vec<String>,
    /// The Twilio number SMS are sent from.
    pub twilio_number: Option<String>,
    /// The Twilio account SID.
    pub twilio_account_sid: Option<String>,
    /// Base URL of the Twilio REST API.
    pub twilio_api_url: String,
    /// IANA time zone the dashboard shows times in.
    pub default_time_zone: String,
    /// Dashboard date format.
    pub date_format: String,
    /// Days of check history kept (0 = forever).
    pub check_history_prune_days: i32,
    /// Days resolved alerts are kept (0 = forever).
    pub resolved_alerts_prune_days: i32,
    /// Days of agent history kept (0 = forever).
    pub agent_history_prune_days: i32,
    /// Days of debug log kept (0 = forever).
    pub debug_log_prune_days: i32,
    /// Days of audit log kept (0 = forever).
    pub audit_log_prune_days: i32,
    /// Days of report history kept (0 = forever).
    pub report_history_prune_days: i32,
    /// Days after which an unseen agent's check faults are cleared (0 = never).
    pub clear_faults_days: i32,
    /// Whether info alerts notify.
    pub notify_on_info_alerts: bool,
    /// Whether warning alerts notify.
    pub notify_on_warning_alerts: bool,
    /// The default alert template.
    pub alert_template: Option<AlertTemplateId>,
    /// The least severe debug log level kept (`info`, `warning`, `error` or `critical`).
    pub agent_debug_level: String,
}

/// Every setting the dashboard sees: the editable ones plus those other features own. The secrets are not here.
#[derive(Debug, Clone, Serialize)]
pub struct CoreSettings {
    /// Always 1.
    pub id: i32,
    /// What `PUT /core/settings/` changes.
    #[serde(flatten)]
    pub editable: Editable,
    /// MeshCentral user.
    pub mesh_username: Option<String>,
    /// MeshCentral URL.
    pub mesh_site: Option<String>,
    /// MeshCentral device group.
    pub mesh_device_group: String,
    /// MeshCentral company name.
    pub mesh_company_name: Option<String>,
    /// Mirror users into MeshCentral.
    pub sync_mesh_with_trmm: bool,
    /// Default workstation policy.
    pub workstation_policy: Option<i32>,
    /// Default server policy.
    pub server_policy: Option<i32>,
    /// Update agents automatically.
    pub agent_auto_update: bool,
    /// Server-side scripts allowed.
    pub enable_server_scripts: bool,
    /// Server web terminal allowed.
    pub enable_server_webterminal: bool,
    /// OpenAI model name.
    pub open_ai_model: String,
    /// Single sign-on on.
    pub sso_enabled: bool,
    /// Local logins refused while SSO is on.
    pub block_local_user_logon: bool,
    /// Default Windows shell.
    pub default_shell_windows: String,
    /// Custom Windows shell path.
    pub default_shell_windows_custom: Option<String>,
    /// Default Linux shell.
    pub default_shell_linux: String,
    /// Custom Linux shell path.
    pub default_shell_linux_custom: Option<String>,
    /// Default macOS shell.
    pub default_shell_darwin: String,
    /// Custom macOS shell path.
    pub default_shell_darwin_custom: Option<String>,
    /// Web terminal mode.
    pub terminal_mode: String,
    /// Who created the row.
    pub created_by: Option<String>,
    /// When.
    pub created_time: DateTime<Utc>,
    /// Who changed it last.
    pub modified_by: Option<String>,
    /// When.
    pub modified_time: DateTime<Utc>,
}

const EDITABLE: &str = "email_alert_recipients, smtp_from_email, smtp_from_name, smtp_host, smtp_host_user, smtp_port,
    smtp_requires_auth, sms_alert_recipients, twilio_number, twilio_account_sid, twilio_api_url, default_time_zone,
    date_format, check_history_prune_days, resolved_alerts_prune_days, agent_history_prune_days, debug_log_prune_days,
    audit_log_prune_days, report_history_prune_days, clear_faults_days, notify_on_info_alerts,
    notify_on_warning_alerts, alert_template_id, agent_debug_level";

fn editable(r: &Row) -> Editable {
    from_row! { r, Editable {
        email_alert_recipients, smtp_from_email, smtp_from_name, smtp_host, smtp_host_user, smtp_port,
        smtp_requires_auth, sms_alert_recipients, twilio_number, twilio_account_sid, twilio_api_url,
        default_time_zone, date_format, check_history_prune_days, resolved_alerts_prune_days,
        agent_history_prune_days, debug_log_prune_days, audit_log_prune_days, report_history_prune_days,
        clear_faults_days, notify_on_info_alerts, notify_on_warning_alerts, alert_template = "alert_template_id",
        agent_debug_level,
    } }
}

/// Every setting but the secrets; `lock` holds the row until the transaction ends (for a read-modify-write).
pub async fn get(db: &impl GenericClient, lock: bool) -> Result<CoreSettings, DbError> {
    let sql = format!(
        "SELECT {EDITABLE}, id, mesh_username, mesh_site, mesh_device_group, mesh_company_name,
                sync_mesh_with_trmm, workstation_policy_id, server_policy_id, agent_auto_update, enable_server_scripts,
                enable_server_webterminal, open_ai_model, sso_enabled, block_local_user_logon, default_shell_windows,
                default_shell_windows_custom, default_shell_linux, default_shell_linux_custom, default_shell_darwin,
                default_shell_darwin_custom, terminal_mode, created_by, created_time, modified_by, modified_time
         FROM core_settings WHERE id = 1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let r = db.query_one(&sql, &[]).await?;
    Ok(from_row! { r, CoreSettings {
        id, editable: editable(&r), mesh_username, mesh_site, mesh_device_group,
        mesh_company_name, sync_mesh_with_trmm, workstation_policy = "workstation_policy_id",
        server_policy = "server_policy_id", agent_auto_update, enable_server_scripts, enable_server_webterminal,
        open_ai_model, sso_enabled, block_local_user_logon, default_shell_windows, default_shell_windows_custom,
        default_shell_linux, default_shell_linux_custom, default_shell_darwin, default_shell_darwin_custom,
        terminal_mode, created_by, created_time, modified_by, modified_time,
    } })
}

/// Writes every editable setting. An `alert_template` that does not exist is a foreign key violation.
pub async fn update(db: &impl GenericClient, s: &Editable, by: &str) -> Result<(), DbError> {
    let template = s.alert_template.map(|t| t.0);
    db.execute(
        "UPDATE core_settings SET email_alert_recipients = $1, smtp_from_email = $2, smtp_from_name = $3,
                smtp_host = $4, smtp_host_user = $5, smtp_port = $6, smtp_requires_auth = $7,
                sms_alert_recipients = $8, twilio_number = $9, twilio_account_sid = $10, twilio_api_url = $11,
                default_time_zone = $12, date_format = $13, check_history_prune_days = $14,
                resolved_alerts_prune_days = $15, agent_history_prune_days = $16, debug_log_prune_days = $17,
                audit_log_prune_days = $18, report_history_prune_days = $19, clear_faults_days = $20,
                notify_on_info_alerts = $21, notify_on_warning_alerts = $22, alert_template_id = $23,
                agent_debug_level = $24, modified_by = $25, modified_time = now()
         WHERE id = 1",
        &[
            &s.email_alert_recipients,
            &s.smtp_from_email,
            &s.smtp_from_name,
            &s.smtp_host,
            &s.smtp_host_user,
            &s.smtp_port,
            &s.smtp_requires_auth,
            &s.sms_alert_recipients,
            &s.twilio_number,
            &s.twilio_account_sid,
            &s.twilio_api_url,
            &s.default_time_zone,
            &s.date_format,
            &s.check_history_prune_days,
            &s.resolved_alerts_prune_days,
            &s.agent_history_prune_days,
            &s.debug_log_prune_days,
            &s.audit_log_prune_days,
            &s.report_history_prune_days,
            &s.clear_faults_days,
            &s.notify_on_info_alerts,
            &s.notify_on_warning_alerts,
            &template,
            &s.agent_debug_level,
            &by,
        ],
    )
    .await?;
    Ok(())
}

/// A secret the settings hold, stored only as ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The SMTP login password.
    SmtpPassword,
    /// The Twilio auth token.
    TwilioToken,
}

impl Secret {
    fn column(self) -> &'static str {
        match self {
            Secret::SmtpPassword => "smtp_host_password_enc",
            Secret::TwilioToken => "twilio_auth_token_enc",
        }
    }
}

/// Stores a secret's ciphertext; `None` removes the secret.
pub async fn set_secret(db: &impl GenericClient, secret: Secret, ciphertext: Option<&[u8]>) -> Result<(), DbError> {
    let sql = format!("UPDATE core_settings SET {} = $1 WHERE id = 1", secret.column());
    db.execute(&sql, &[&ciphertext]).await?;
    Ok(())
}

/// How mail leaves the server, and who gets alert mail by default.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// Recipients of alert mail and of script results mailed in `default` mode.
    pub email_alert_recipients: Vec<String>,
    /// Sender address.
    pub smtp_from_email: String,
    /// Sender display name, if any.
    pub smtp_from_name: Option<String>,
    /// SMTP server host.
    pub smtp_host: String,
    /// SMTP server port.
    pub smtp_port: i32,
    /// SMTP login user.
    pub smtp_host_user: String,
    /// The SMTP login password, encrypted (see the module doc); None when none is set.
    pub smtp_host_password_enc: Option<Vec<u8>>,
    /// STARTTLS + login when true, else a plain relay.
    pub smtp_requires_auth: bool,
}

/// The mail settings.
pub async fn mail(db: &impl GenericClient) -> Result<MailSettings, DbError> {
    let r = db
        .query_one(
            "SELECT email_alert_recipients, smtp_from_email, smtp_from_name, smtp_host, smtp_port, smtp_host_user,
                    smtp_host_password_enc, smtp_requires_auth
             FROM core_settings WHERE id = 1",
            &[],
        )
        .await?;
    Ok(from_row! { r, MailSettings {
        email_alert_recipients, smtp_from_email, smtp_from_name, smtp_host, smtp_port, smtp_host_user,
        smtp_host_password_enc, smtp_requires_auth,
    } })
}

/// How SMS leave the server (Twilio), and who gets alert SMS by default.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// Default recipients of alert SMS.
    pub sms_alert_recipients: Vec<String>,
    /// The number SMS are sent from.
    pub twilio_number: Option<String>,
    /// The account SID.
    pub twilio_account_sid: Option<String>,
    /// The auth token, encrypted (see the module doc); None when none is set.
    pub twilio_auth_token_enc: Option<Vec<u8>>,
    /// Base URL of the Twilio REST API.
    pub twilio_api_url: String,
}

/// The SMS settings.
pub async fn sms(db: &impl GenericClient) -> Result<SmsSettings, DbError> {
    let r = db
        .query_one(
            "SELECT sms_alert_recipients, twilio_number, twilio_account_sid, twilio_auth_token_enc, twilio_api_url
             FROM core_settings WHERE id = 1",
            &[],
        )
        .await?;
    Ok(from_row! { r, SmsSettings {
        sms_alert_recipients, twilio_number, twilio_account_sid, twilio_auth_token_enc, twilio_api_url,
    } })
}

/// Which alert severities notify (upstream `notify_on_info_alerts`, `notify_on_warning_alerts`); errors always do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertGates {
    /// Info alerts email, text and call webhooks.
    pub notify_on_info_alerts: bool,
    /// Warning alerts do.
    pub notify_on_warning_alerts: bool,
}

/// The alert gates.
pub async fn alert_gates(db: &impl GenericClient) -> Result<AlertGates, DbError> {
    let r = db
        .query_one(
            "SELECT notify_on_info_alerts, notify_on_warning_alerts FROM core_settings WHERE id = 1",
            &[],
        )
        .await?;
    Ok(AlertGates {
        notify_on_info_alerts: r.get(0),
        notify_on_warning_alerts: r.get(1),
    })
}

/// How many days each kind of record is kept; 0 keeps it for ever (upstream core/models.py).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Check history (`check_history_prune_days`).
    pub check_history_days: i32,
    /// Resolved alerts (`resolved_alerts_prune_days`).
    pub resolved_alerts_days: i32,
    /// Agent history (`agent_history_prune_days`).
    pub agent_history_days: i32,
    /// Audit log (`audit_log_prune_days`).
    pub audit_log_days: i32,
    /// Debug log (`debug_log_prune_days`).
    pub debug_log_days: i32,
}

/// The retention settings.
pub async fn retention(db: &impl GenericClient) -> Result<Retention, DbError> {
    let r = db
        .query_one(
            "SELECT check_history_prune_days, resolved_alerts_prune_days, agent_history_prune_days,
                    audit_log_prune_days, debug_log_prune_days
             FROM core_settings WHERE id = 1",
            &[],
        )
        .await?;
    Ok(Retention {
        check_history_days: r.get(0),
        resolved_alerts_days: r.get(1),
        agent_history_days: r.get(2),
        audit_log_days: r.get(3),
        debug_log_days: r.get(4),
    })
}
