//! Work that fails for good goes to the debug log (server-api.md 1.10) as well as to the service log, so that an
//! operator sees it on the dashboard: jobs whose last attempt failed, and upstream's own cases (a script whose
//! results were to be mailed that never ran).

use trmm_db::debug_log::{self, Level, LogType, NewEntry};
use trmm_db::AgentPk;

/// Writes an `error` entry (kept or not by `agent_debug_level`); a failure to write is only logged.
pub(crate) async fn failed(pool: &trmm_db::Pool, agent: Option<AgentPk>, log_type: LogType, message: &str) {
    let entry = NewEntry {
        agent,
        level: Level::Error,
        log_type,
        message,
    };
    let written = async { debug_log::insert(&pool.get().await?, &entry).await }.await;
    if let Err(e) = written {
        tracing::warn!(error = %e, message, "debug log entry not written");
    }
}
