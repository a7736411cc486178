//! Global settings (Tactical RMM `core.CoreSettings`, a single row): what the background jobs read.

use tokio_postgres::GenericClient;

use crate::DbError;

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
    /// SMTP login password.
    pub smtp_host_password: String,
    /// STARTTLS + login when true, else a plain relay.
    pub smtp_requires_auth: bool,
}

/// The mail settings (the row is created by the first migration, so it always exists).
pub async fn mail(db: &impl GenericClient) -> Result<MailSettings, DbError> {
    let r = db
        .query_one(
            "SELECT email_alert_recipients, smtp_from_email, smtp_from_name, smtp_host, smtp_port, smtp_host_user,
                    smtp_host_password, smtp_requires_auth
             FROM core_settings WHERE id = 1",
            &[],
        )
        .await?;
    Ok(MailSettings {
        email_alert_recipients: r.get(0),
        smtp_from_email: r.get(1),
        smtp_from_name: r.get(2),
        smtp_host: r.get(3),
        smtp_port: r.get(4),
        smtp_host_user: r.get(5),
        smtp_host_password: r.get(6),
        smtp_requires_auth: r.get(7),
    })
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
}

/// The retention settings.
pub async fn retention(db: &impl GenericClient) -> Result<Retention, DbError> {
    let r = db
        .query_one(
            "SELECT check_history_prune_days, resolved_alerts_prune_days, agent_history_prune_days,
                    audit_log_prune_days
             FROM core_settings WHERE id = 1",
            &[],
        )
        .await?;
    Ok(Retention {
        check_history_days: r.get(0),
        resolved_alerts_days: r.get(1),
        agent_history_days: r.get(2),
        audit_log_days: r.get(3),
    })
}
