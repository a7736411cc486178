//! The debug log (Tactical RMM `logs.DebugLog`): problems the services meet (agent requests they refuse, jobs that
//! fail for good, agent messages they drop), for the dashboard. An entry is kept only when its level reaches the
//! `agent_debug_level` core setting.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::roles::Scope;
use crate::{AgentPk, DbError, GenericClient};

/// The longest message stored; the rest is cut (an agent's error body can be anything).
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// Upstream's `DebugLogLevel`, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `info`.
    Info,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
    /// `critical`.
    Critical,
}

impl Level {
    /// Every level, least severe first.
    pub const ALL: [Level; 4] = [Level::Info, Level::Warning, Level::Error, Level::Critical];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Critical => "critical",
        }
    }

    /// The level stored as `name`.
    pub fn parse(name: &str) -> Option<Level> {
        Self::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

/// Upstream's `DebugLogType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogType {
    /// `agent_update`.
    AgentUpdate,
    /// `agent_issues`: what agents send or ask that the server refuses.
    AgentIssues,
    /// `win_updates`.
    WinUpdates,
    /// `system_issues`: the server's own failures.
    SystemIssues,
    /// `scripting`: script runs that fail.
    Scripting,
}

impl LogType {
    /// Every type.
    pub const ALL: [LogType; 5] = [
        LogType::AgentUpdate,
        LogType::AgentIssues,
        LogType::WinUpdates,
        LogType::SystemIssues,
        LogType::Scripting,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::AgentUpdate => "agent_update",
            LogType::AgentIssues => "agent_issues",
            LogType::WinUpdates => "win_updates",
            LogType::SystemIssues => "system_issues",
            LogType::Scripting => "scripting",
        }
    }

    /// The type stored as `name`.
    pub fn parse(name: &str) -> Option<LogType> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// One entry to write.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    /// The agent concerned, if any.
    pub agent: Option<AgentPk>,
    /// Severity.
    pub level: Level,
    /// Kind.
    pub log_type: LogType,
    /// What happened.
    pub message: &'a str,
}

/// Writes the entry if its level reaches `agent_debug_level` (and its agent still exists); returns whether it
/// was written.
pub async fn insert(db: &impl GenericClient, e: &NewEntry<'_>) -> Result<bool, DbError> {
    let levels: Vec<&str> = Level::ALL.iter().map(|l| l.as_str()).collect();
    let message: String = e.message.chars().take(MAX_MESSAGE_CHARS).collect();
    let written = db
        .execute(
            "INSERT INTO debug_logs (agent_pk, log_level, log_type, message)
             SELECT $1::int, $2::text, $3::text, $4::text FROM core_settings
             WHERE id = 1
               AND array_position($5::text[], $2::text)
                   >= COALESCE(array_position($5::text[], agent_debug_level::text), 1)
               AND ($1::int IS NULL OR EXISTS (SELECT 1 FROM agents WHERE id = $1))",
            &[&e.agent, &e.level.as_str(), &e.log_type.as_str(), &message, &levels],
        )
        .await?;
    Ok(written > 0)
}

/// Which entries to list; `None` leaves a filter off.
#[derive(Debug, Clone, Default)]
pub struct DebugFilter {
    /// Entries of the agent with this `agent_id`.
    pub agent_id: Option<String>,
    /// Entries of this level.
    pub level: Option<Level>,
    /// Entries of this type.
    pub log_type: Option<LogType>,
}

/// One entry.
#[derive(Debug, Clone)]
pub struct DebugRow {
    /// Row id.
    pub id: i64,
    /// When.
    pub entry_time: DateTime<Utc>,
    /// The agent's hostname, if the entry is about one.
    pub agent: Option<String>,
    /// Severity.
    pub log_level: String,
    /// Kind.
    pub log_type: String,
    /// What happened.
    pub message: String,
}

fn from_row(r: &Row) -> DebugRow {
    from_row! { r, DebugRow { id, entry_time, agent = "hostname", log_level, log_type, message } }
}

/// The newest `limit` entries matching `filter`: those about agents in `scope`, and those about no agent.
pub async fn newest(
    db: &impl GenericClient,
    scope: &Scope,
    filter: &DebugFilter,
    limit: i64,
) -> Result<Vec<DebugRow>, DbError> {
    let sql = format!(
        "SELECT d.id, d.entry_time, a.hostname, d.log_level, d.log_type, d.message
         FROM debug_logs d LEFT JOIN agents a ON a.id = d.agent_pk LEFT JOIN sites s ON s.id = a.site_id
         WHERE (d.agent_pk IS NULL OR {})
           AND ($4::text IS NULL OR a.agent_id = $4) AND ($5::text IS NULL OR d.log_level = $5)
           AND ($6::text IS NULL OR d.log_type = $6)
         ORDER BY d.entry_time DESC, d.id DESC LIMIT $7",
        Scope::FILTER
    );
    let [a, b, c] = scope.params();
    let level = filter.level.map(Level::as_str);
    let log_type = filter.log_type.map(LogType::as_str);
    let rows = db
        .query(&sql, &[a, b, c, &filter.agent_id, &level, &log_type, &limit])
        .await?;
    Ok(rows.iter().map(from_row).collect())
}
