//! The words of alert notifications (upstream `Agent.send_outage_email`, `CheckResult.send_email` and friends,
//! jobs-and-realtime.md 4.6): pure functions of the alert, and the check and its result for check alerts.

use trmm_db::alerts::notifications::Kind;
use trmm_db::alerts::Alert;
use trmm_db::checks::{Check, CheckResultRow};
use trmm_protocol::checks::CheckType;

use crate::checks::readable_desc;

/// A notification's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// Email subject.
    pub subject: String,
    /// Email body.
    pub body: String,
    /// SMS body.
    pub sms: String,
}

/// The check behind a check alert.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext<'a> {
    /// The check.
    pub check: &'a Check,
    /// Its result on the alert's agent.
    pub result: Option<&'a CheckResultRow>,
}

fn place(alert: &Alert) -> String {
    format!(
        "{}, {}, {}",
        alert.client_name.as_deref().unwrap_or_default(),
        alert.site_name.as_deref().unwrap_or_default(),
        alert.hostname.as_deref().unwrap_or_default()
    )
}

fn thresholds(check: &Check) -> String {
    let mut text = String::new();
    if let Some(w) = check.fields.warning_threshold.filter(|w| *w > 0) {
        text.push_str(&format!(" Warning Threshold: {w}%"));
    }
    if let Some(e) = check.fields.error_threshold.filter(|e| *e > 0) {
        text.push_str(&format!(" Error Threshold: {e}%"));
    }
    text
}

fn availability(alert: &Alert, kind: Kind) -> Text {
    let (client, site, host) = (
        alert.client_name.as_deref().unwrap_or_default(),
        alert.site_name.as_deref().unwrap_or_default(),
        alert.hostname.as_deref().unwrap_or_default(),
    );
    let (subject, body) = if matches!(kind, Kind::ResolvedEmail | Kind::ResolvedSms) {
        (
            format!("{} - data received", place(alert)),
            format!(
                "Data has been received from client {client}, site {site}, agent {host} after an interruption in data transmission."
            ),
        )
    } else {
        (
            format!("{} - data overdue", place(alert)),
            format!(
                "Data has not been received from client {client}, site {site}, agent {host} within the expected time."
            ),
        )
    };
    Text {
        sms: subject.clone(),
        subject,
        body,
    }
}

fn average(result: Option<&CheckResultRow>) -> i64 {
    let h = result.map(|r| r.history.as_slice()).unwrap_or_default();
    let n = i64::try_from(h.len()).unwrap_or(1).max(1);
    h.iter().map(|v| i64::from(*v)).sum::<i64>() / n
}

fn check_failed(alert: &Alert, c: CheckContext<'_>) -> Text {
    let check = c.check;
    let subject = format!("{} - {} Failed", place(alert), readable_desc(check));
    let r = c.result;
    let more_info = r.and_then(|r| r.more_info.clone()).unwrap_or_default();
    let kind = CheckType::parse(&check.check_type).unwrap_or(CheckType::Unknown);
    let (body, sms) = match kind {
        CheckType::Diskspace => {
            let s = format!("{subject} - {more_info},{}", thresholds(check));
            (s.clone(), s)
        }
        CheckType::Script => {
            let code = r.and_then(|r| r.retcode).unwrap_or_default();
            (
                format!(
                    "{subject} - Return code: {code}\nStdout:{}\nStderr: {}",
                    r.and_then(|r| r.stdout.clone()).unwrap_or_default(),
                    r.and_then(|r| r.stderr.clone()).unwrap_or_default()
                ),
                format!("{subject} - Return code: {code}"),
            )
        }
        CheckType::Ping => (more_info, subject.clone()),
        CheckType::Cpuload | CheckType::Memory => {
            let what = if kind == CheckType::Cpuload {
                "Average CPU utilization"
            } else {
                "Average memory usage"
            };
            let s = format!("{subject} - {what}: {}%,{}", average(r), thresholds(check));
            (s.clone(), s)
        }
        CheckType::Winsvc => {
            let s = format!("{subject} - Status: {more_info}");
            (s.clone(), s)
        }
        CheckType::Eventlog | CheckType::Unknown => (eventlog_body(check, r), subject.clone()),
    };
    Text { subject, body, sms }
}

fn eventlog_body(check: &Check, r: Option<&CheckResultRow>) -> String {
    let f = &check.fields;
    let id = f.event_id.unwrap_or_default();
    let source = f.event_source.as_deref().filter(|s| !s.is_empty());
    let message = f.event_message.as_deref().filter(|s| !s.is_empty());
    let start = match (source, message) {
        (Some(s), Some(m)) => format!("Event ID {id}, source {s}, containing string {m} "),
        (Some(s), None) => format!("Event ID {id}, source {s} "),
        (None, Some(m)) => format!("Event ID {id}, containing string {m} "),
        (None, None) => format!("Event ID {id} "),
    };
    let mut body = format!(
        "{start}was found in the {} log\n\n",
        f.log_name.as_deref().unwrap_or_default()
    );
    let events = r
        .and_then(|r| r.extra_details.as_ref())
        .and_then(|d| d.get("log"))
        .and_then(|l| l.as_array());
    for msg in events.into_iter().flatten().filter_map(|e| e.get("message")?.as_str()) {
        if !msg.is_empty() {
            body.push_str(msg);
            body.push('\n');
        }
    }
    body
}

/// The text of the notification `kind` for `alert`; `check` is required for check alerts.
pub fn text(alert: &Alert, kind: Kind, check: Option<CheckContext<'_>>) -> Text {
    match (check, kind) {
        (None, _) => availability(alert, kind),
        (Some(c), Kind::ResolvedEmail | Kind::ResolvedSms | Kind::ResolvedAction) => {
            let subject = format!("{} - {} Resolved", place(alert), readable_desc(c.check));
            let body = format!("{} - {} is now back to normal", place(alert), readable_desc(c.check));
            Text {
                sms: subject.clone(),
                subject,
                body,
            }
        }
        (Some(c), _) => check_failed(alert, c),
    }
}
