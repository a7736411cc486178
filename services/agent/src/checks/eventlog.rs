//! eventlog (Go agent `EventLogCheck` over `GetEventLog`) with the systemd journal for the Windows event log.
//! The journal is read newest first with `journalctl -o json`, each entry becomes an `EventLogMsg`, and the
//! check's filter keeps the matches.
//!
//! Mapping (Windows → journal):
//! * log name: `Application` = every entry but the kernel's, `System` = the kernel and system units
//!   (`journalctl --system`), `Security` = the auth and authpriv syslog facilities (4 and 10). Others: none.
//! * event type from PRIORITY: 0–3 `ERROR`, 4 `WARNING`, 5–7 (or none) `INFO`.
//! * source: SYSLOG_IDENTIFIER, else _SYSTEMD_UNIT; message: MESSAGE.
//! * event id: the journal has no such thing; a numeric `EVENT_ID` field (a program may log one with
//!   `sd_journal_send` or `logger --journald`) is used, low 16 bits as upstream; otherwise 0.
//! * time: `__REALTIME_TIMESTAMP` as Go's `time.Time.String()` in UTC; uid: 1-based, newest first.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use trmm_protocol::checks::{CheckDefinition, EventLogMsg, EventLogResult};

use crate::commands::output;

/// Most entries read per check, newest first: a busy journal holds millions.
pub const MAX_ENTRIES: usize = 10_000;
/// How long reading the journal may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads the check's log and keeps the matching events. Like upstream, a log that cannot be read has no
/// events.
pub async fn check(journalctl: &Path, def: &CheckDefinition, now: DateTime<Utc>) -> EventLogResult {
    let log_name = def.log_name.as_deref().unwrap_or_default();
    let Some(log) = LogName::parse(log_name) else {
        tracing::warn!(log_name, "eventlog check: unknown log name");
        return EventLogResult { log: Vec::new() };
    };
    // Upstream reads the whole log when search_last_days is 0.
    let days = def.search_last_days.filter(|d| *d > 0);
    let since = days.map(|d| now - chrono::Duration::days(i64::from(d)));
    match read(journalctl, log, since).await {
        Ok(events) => EventLogResult {
            log: events.into_iter().filter(|e| matches(def, e)).collect(),
        },
        Err(e) => {
            tracing::warn!(log_name, error = %e, "eventlog check: journal unreadable");
            EventLogResult { log: Vec::new() }
        }
    }
}

/// The Windows logs a check can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogName {
    /// Everything but the kernel.
    Application,
    /// Kernel and system services.
    System,
    /// auth and authpriv.
    Security,
}

impl LogName {
    /// The log named by a check.
    pub fn parse(name: &str) -> Option<LogName> {
        match name {
            "Application" => Some(LogName::Application),
            "System" => Some(LogName::System),
            "Security" => Some(LogName::Security),
            _ => None,
        }
    }

    /// journalctl matches that select the log, so the entry cap applies to it alone.
    fn selectors(self) -> &'static [&'static str] {
        match self {
            LogName::Application => &[],
            LogName::System => &["--system"],
            LogName::Security => &["SYSLOG_FACILITY=4", "SYSLOG_FACILITY=10"],
        }
    }

    /// Whether an entry belongs to the log (journalctl has no negative match for Application).
    pub fn admits(self, entry: &Entry) -> bool {
        let kernel = text(&entry.transport) == "kernel";
        match self {
            LogName::Application => !kernel,
            LogName::System => kernel || entry.user_unit.is_none(),
            LogName::Security => matches!(text(&entry.facility).as_str(), "4" | "10"),
        }
    }
}

/// The `journalctl` arguments for reading `log` newest first since `since`.
pub fn journal_args(log: LogName, since: Option<DateTime<Utc>>) -> Vec<String> {
    // `--lines` takes its value only after "=": a separate word would be read as a journal match.
    let mut args: Vec<String> = ["--no-pager", "--output=json", "--reverse"].map(String::from).to_vec();
    args.push(format!("--lines={MAX_ENTRIES}"));
    if let Some(since) = since {
        args.push(format!("--since=@{}", since.timestamp()));
    }
    args.extend(log.selectors().iter().map(|s| s.to_string()));
    args
}

/// The events of `log`, newest first.
pub async fn read(journalctl: &Path, log: LogName, since: Option<DateTime<Utc>>) -> Result<Vec<EventLogMsg>, String> {
    let args = journal_args(log, since);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = output::capture(journalctl, &args, READ_TIMEOUT).await?;
    if out.exit_code != 0 {
        return Err(format!(
            "journalctl exited with {}: {}",
            out.exit_code,
            out.stderr.trim()
        ));
    }
    Ok(parse(log, &out.stdout))
}

/// `journalctl -o json` lines → events of `log`; lines that are not entries are skipped.
pub fn parse(log: LogName, json_lines: &str) -> Vec<EventLogMsg> {
    json_lines
        .lines()
        .filter_map(|line| serde_json::from_str::<Entry>(line).ok())
        .filter(|e| log.admits(e))
        .enumerate()
        .map(|(i, e)| e.into_event(i as i64 + 1))
        .collect()
}

/// The journal fields an event is made of. journalctl writes a field as a string, as an array of bytes
/// when it is not text, or as an array when the entry repeats it.
#[derive(Debug, Default, Deserialize)]
pub struct Entry {
    #[serde(rename = "MESSAGE")]
    message: Option<Field>,
    #[serde(rename = "PRIORITY")]
    priority: Option<Field>,
    #[serde(rename = "SYSLOG_IDENTIFIER")]
    identifier: Option<Field>,
    #[serde(rename = "_SYSTEMD_UNIT")]
    unit: Option<Field>,
    #[serde(rename = "_SYSTEMD_USER_UNIT")]
    user_unit: Option<Field>,
    #[serde(rename = "_TRANSPORT")]
    transport: Option<Field>,
    #[serde(rename = "SYSLOG_FACILITY")]
    facility: Option<Field>,
    #[serde(rename = "EVENT_ID")]
    event_id: Option<Field>,
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime: Option<Field>,
}

/// One journal field value.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Field {
    /// Text.
    Text(String),
    /// Binary data.
    Bytes(Vec<u8>),
    /// A repeated field.
    Many(Vec<Field>),
}

impl Field {
    fn to_text(&self) -> String {
        match self {
            Field::Text(s) => s.clone(),
            Field::Bytes(b) => output::clean(b),
            Field::Many(all) => all.first().map(Field::to_text).unwrap_or_default(),
        }
    }
}

fn text(field: &Option<Field>) -> String {
    field.as_ref().map(Field::to_text).unwrap_or_default()
}

impl Entry {
    fn into_event(self, uid: i64) -> EventLogMsg {
        let source = Some(text(&self.identifier))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| text(&self.unit));
        let micros: i64 = text(&self.realtime).parse().unwrap_or(0);
        EventLogMsg {
            source,
            event_type: event_type(text(&self.priority).parse().ok()).to_owned(),
            event_id: text(&self.event_id).parse::<u32>().map(|id| id & 0xFFFF).unwrap_or(0),
            message: text(&self.message),
            time: go_time(micros / 1_000_000),
            uid,
        }
    }
}

/// syslog priority → Windows event type.
pub fn event_type(priority: Option<u8>) -> &'static str {
    match priority {
        Some(0..=3) => "ERROR",
        Some(4) => "WARNING",
        _ => "INFO",
    }
}

/// Go's `time.Time.String()` of a UTC time, whole seconds: "2026-12-07 10:00:00 +0000 UTC".
pub fn go_time(unix_secs: i64) -> String {
    DateTime::from_timestamp(unix_secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S +0000 UTC")
        .to_string()
}

/// Upstream's filter: the event type is the check's, the id is the check's (unless the wildcard is set),
/// and each of source and message, when the check gives one, is a substring. Upstream spells this as four
/// branches over which of source/message are empty; they reduce to this.
pub fn matches(def: &CheckDefinition, event: &EventLogMsg) -> bool {
    let wanted = |s: &Option<String>| s.clone().unwrap_or_default();
    let (source, message) = (wanted(&def.event_source), wanted(&def.event_message));
    event.event_type == wanted(&def.event_type)
        && (def.event_id_is_wildcard || i64::from(event.event_id) == i64::from(def.event_id.unwrap_or(0)))
        && (source.is_empty() || event.source.contains(&source))
        && (message.is_empty() || event.message.contains(&message))
}

#[cfg(test)]
mod tests;
