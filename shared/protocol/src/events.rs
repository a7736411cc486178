//! Dashboard events (beyond Tactical RMM, whose dashboard polls): what changed, as it happens. The services where
//! a change happens publish it on a NATS subject under `trmm.events.`, which no agent can reach (an agent may
//! only use its own subjects, and an agent id has at least 40 characters and no dots); trmm-websocket pushes each
//! event to the dashboard sockets whose user may see the agent. The JSON below is both the NATS payload and the
//! frame the browser gets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Every event subject, for a subscription.
pub const SUBJECTS: &str = "trmm.events.>";

/// One change, tagged as the browser sees it: `{"action": "agent.online", "data": {...}}` (the shape of
/// upstream's `/ws/dashinfo/` frames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "data")]
pub enum Event {
    /// The agent connected to NATS.
    #[serde(rename = "agent.online")]
    AgentOnline(Presence),
    /// The agent's last NATS connection closed.
    #[serde(rename = "agent.offline")]
    AgentOffline(Presence),
    /// An alert opened.
    #[serde(rename = "alert.opened")]
    AlertOpened(AlertChange),
    /// An alert was resolved (by the alert engine or by a dashboard user).
    #[serde(rename = "alert.resolved")]
    AlertResolved(AlertChange),
    /// A command or script run got its result.
    #[serde(rename = "history.finished")]
    HistoryFinished(HistoryEntry),
}

/// The agent an event is about, and where it sits: role scopes are checked against `client` and `site`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentTag {
    /// The agent's id.
    pub agent_id: String,
    /// Its host name.
    pub hostname: String,
    /// Its client's id.
    pub client: i32,
    /// Its site's id.
    pub site: i32,
}

/// `agent.online` / `agent.offline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The agent.
    #[serde(flatten)]
    pub agent: AgentTag,
    /// When nats-server reported the change.
    pub at: DateTime<Utc>,
}

/// `alert.opened` / `alert.resolved`: the alert as it is after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertChange {
    /// The alert's id.
    pub id: i32,
    /// The agent.
    #[serde(flatten)]
    pub agent: AgentTag,
    /// `availability` or `check`.
    pub alert_type: String,
    /// `info`, `warning` or `error`.
    pub severity: String,
    /// The alert's text.
    pub message: String,
    /// Kept off the dashboard's alert list (its dashboard alert flag is off).
    pub hidden: bool,
    /// The check, for a check alert.
    pub assigned_check: Option<i32>,
    /// When it opened or was resolved.
    pub at: DateTime<Utc>,
}

/// `history.finished`: the entry whose result is now stored (read it through `/agents/<agent_id>/history/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The history entry's id.
    pub id: i64,
    /// The agent.
    #[serde(flatten)]
    pub agent: AgentTag,
    /// `cmd_run` or `script_run`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When the result was stored.
    pub at: DateTime<Utc>,
}

/// What an event is about, which decides the permission a dashboard user needs to hear of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Agent status (`can_list_agents`).
    Agents,
    /// Alerts (`can_list_alerts`).
    Alerts,
    /// Agent history (`can_list_agent_history`).
    History,
}

impl Event {
    /// The agent the event is about.
    pub fn agent(&self) -> &AgentTag {
        match self {
            Event::AgentOnline(p) | Event::AgentOffline(p) => &p.agent,
            Event::AlertOpened(a) | Event::AlertResolved(a) => &a.agent,
            Event::HistoryFinished(h) => &h.agent,
        }
    }

    /// What the event is about.
    pub fn topic(&self) -> Topic {
        match self {
            Event::AgentOnline(_) | Event::AgentOffline(_) => Topic::Agents,
            Event::AlertOpened(_) | Event::AlertResolved(_) => Topic::Alerts,
            Event::HistoryFinished(_) => Topic::History,
        }
    }

    /// The NATS subject it travels on (one per topic, all under [`SUBJECTS`]).
    pub fn subject(&self) -> &'static str {
        match self.topic() {
            Topic::Agents => "trmm.events.agent",
            Topic::Alerts => "trmm.events.alert",
            Topic::History => "trmm.events.history",
        }
    }

    /// The JSON payload.
    pub fn to_json(&self) -> Vec<u8> {
        // Strings, numbers and timestamps only: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// An event from its JSON payload.
    pub fn from_json(bytes: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag() -> AgentTag {
        AgentTag {
            agent_id: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn".into(),
            hostname: "web-1".into(),
            client: 3,
            site: 7,
        }
    }

    fn at() -> DateTime<Utc> {
        "2024-05-01T10:20:30.123Z".parse().unwrap()
    }

    fn roundtrip(event: &Event, literal: &str) {
        let expected: serde_json::Value = serde_json::from_str(literal).unwrap();
        let sent: serde_json::Value = serde_json::from_slice(&event.to_json()).unwrap();
        assert_eq!(sent, expected);
        assert_eq!(&Event::from_json(literal.as_bytes()).unwrap(), event);
    }

    #[test]
    fn presence_events() {
        let online = Event::AgentOnline(Presence { agent: tag(), at: at() });
        roundtrip(
            &online,
            r#"{"action": "agent.online", "data": {"agent_id": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn",
                "hostname": "web-1", "client": 3, "site": 7, "at": "2024-05-01T10:20:30.123Z"}}"#,
        );
        assert_eq!((online.topic(), online.subject()), (Topic::Agents, "trmm.events.agent"));
        let offline = Event::AgentOffline(Presence { agent: tag(), at: at() });
        roundtrip(
            &offline,
            r#"{"action": "agent.offline", "data": {"agent_id": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn",
                "hostname": "web-1", "client": 3, "site": 7, "at": "2024-05-01T10:20:30.123Z"}}"#,
        );
    }

    #[test]
    fn alert_events() {
        let change = AlertChange {
            id: 42,
            agent: tag(),
            alert_type: "check".into(),
            severity: "error".into(),
            message: "web-1 has a Disk space check: Disk space C: that failed.".into(),
            hidden: false,
            assigned_check: Some(9),
            at: at(),
        };
        let opened = Event::AlertOpened(change.clone());
        roundtrip(
            &opened,
            r#"{"action": "alert.opened", "data": {"id": 42, "agent_id": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn",
                "hostname": "web-1", "client": 3, "site": 7, "alert_type": "check", "severity": "error",
                "message": "web-1 has a Disk space check: Disk space C: that failed.", "hidden": false,
                "assigned_check": 9, "at": "2024-05-01T10:20:30.123Z"}}"#,
        );
        assert_eq!((opened.topic(), opened.subject()), (Topic::Alerts, "trmm.events.alert"));
        let resolved = Event::AlertResolved(AlertChange {
            alert_type: "availability".into(),
            assigned_check: None,
            ..change
        });
        roundtrip(
            &resolved,
            r#"{"action": "alert.resolved", "data": {"id": 42, "agent_id": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn",
                "hostname": "web-1", "client": 3, "site": 7, "alert_type": "availability", "severity": "error",
                "message": "web-1 has a Disk space check: Disk space C: that failed.", "hidden": false,
                "assigned_check": null, "at": "2024-05-01T10:20:30.123Z"}}"#,
        );
    }

    #[test]
    fn history_events() {
        let finished = Event::HistoryFinished(HistoryEntry {
            id: 1234,
            agent: tag(),
            kind: "cmd_run".into(),
            at: at(),
        });
        roundtrip(
            &finished,
            r#"{"action": "history.finished", "data": {"id": 1234,
                "agent_id": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn", "hostname": "web-1", "client": 3, "site": 7,
                "type": "cmd_run", "at": "2024-05-01T10:20:30.123Z"}}"#,
        );
        assert_eq!(finished.agent().site, 7);
        assert_eq!(
            (finished.topic(), finished.subject()),
            (Topic::History, "trmm.events.history")
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            r#"{"action": "agent.exploded", "data": {}}"#,
            r#"{"action": "agent.online", "data": {"agent_id": "x"}}"#,
            r#"{"func": "rawcmd"}"#,
            "not json",
        ] {
            assert!(Event::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
