//! Agent telemetry writes (agent-protocol.md 1.5): batched heartbeats and one statement per other message kind.
//!
//! Every function matches the row on `agents.agent_id` and returns how many rows it updated (0 for an agent
//! that is not enrolled, which upstream ignores as well).

use crate::GenericClient;
use chrono::{DateTime, Utc};

use crate::DbError;

/// One coalesced `agent-hello`: when the server received it and the version it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The agent's 40-letter id.
    pub agent_id: String,
    /// Server receive time of the newest hello.
    pub seen: DateTime<Utc>,
    /// Agent version from that hello, e.g. "2.9.1".
    pub version: String,
}

/// Writes a whole batch of heartbeats with one statement; agent ids must be distinct within the batch.
///
/// A heartbeat older than the stored `last_seen` never moves it back: replicas of trmm-nats-api flush
/// independently (and retry after outages), so an older hello can reach Postgres after a newer one. The
/// version follows the newest hello for the same reason.
pub async fn write_heartbeats(db: &impl GenericClient, batch: &[Heartbeat]) -> Result<u64, DbError> {
    let ids: Vec<&str> = batch.iter().map(|h| h.agent_id.as_str()).collect();
    let seen: Vec<DateTime<Utc>> = batch.iter().map(|h| h.seen).collect();
    let versions: Vec<&str> = batch.iter().map(|h| h.version.as_str()).collect();
    let updated = crate::prepared::execute(
        db,
        "UPDATE agents a
                SET last_seen = GREATEST(a.last_seen, v.seen),
                    version = CASE WHEN a.last_seen IS NULL OR v.seen >= a.last_seen THEN v.version ELSE a.version END
               FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS v(agent_id, seen, version)
              WHERE a.agent_id = v.agent_id",
        &[&ids, &seen, &versions],
    )
    .await?;
    Ok(updated)
}

/// What `agent-agentinfo` reports about a host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentInfo<'a> {
    /// Host name.
    pub hostname: &'a str,
    /// OS description.
    pub operating_system: &'a str,
    /// windows, linux or darwin.
    pub plat: &'a str,
    /// GiB of RAM as the agent's float64; rounded into the integer column.
    pub total_ram: f64,
    /// Unix seconds.
    pub boot_time: i64,
    /// A reboot is pending.
    pub needs_reboot: bool,
    /// First logged-in user: `"None"` (Windows) or `""` (unix) when nobody is logged in.
    pub logged_in_username: &'a str,
    /// amd64, 386, arm64 or arm.
    pub goarch: &'a str,
}

/// The `last_logged_in_user` to record for a reported `logged_in_username`, or None to keep the stored one.
///
/// Upstream writes it whenever the name is not `"None"`, so a unix agent's `""` (nobody logged in) wipes
/// the last known user. We keep the stored value for both "nobody" spellings, so the column always means
/// "the last user we saw", whichever platform reported it.
pub fn last_logged_in_user(logged_in_username: &str) -> Option<&str> {
    match logged_in_username {
        "" | "None" => None,
        user => Some(user),
    }
}

/// The agent's float64 `total_ram` as the integer column stores it (always integral in practice); NULL when
/// it is not a finite number.
fn total_ram_column(total_ram: f64) -> Option<i32> {
    // `as` saturates at the i32 bounds, so an absurd value cannot make the whole update fail.
    total_ram.is_finite().then(|| total_ram.round() as i32)
}

/// Records `agent-agentinfo`, including the logged-in-user rule of [`last_logged_in_user`].
pub async fn write_agent_info(db: &impl GenericClient, agent_id: &str, info: &AgentInfo<'_>) -> Result<u64, DbError> {
    let total_ram = total_ram_column(info.total_ram);
    // boot_time is a double precision column (Django FloatField); unix seconds fit exactly.
    let boot_time = info.boot_time as f64;
    let updated = crate::prepared::execute(
        db,
        "UPDATE agents
                SET hostname = $2, operating_system = $3, plat = $4, total_ram = $5, boot_time = $6,
                    needs_reboot = $7, logged_in_username = $8, goarch = $9,
                    last_logged_in_user = COALESCE($10, last_logged_in_user)
              WHERE agent_id = $1",
        &[
            &agent_id,
            &info.hostname,
            &info.operating_system,
            &info.plat,
            &total_ram,
            &boot_time,
            &info.needs_reboot,
            &info.logged_in_username,
            &info.goarch,
            &last_logged_in_user(info.logged_in_username),
        ],
    )
    .await?;
    Ok(updated)
}

/// Records `agent-publicip` (`"error"` when the agent could not find out, stored as upstream does).
pub async fn write_public_ip(db: &impl GenericClient, agent_id: &str, public_ip: &str) -> Result<u64, DbError> {
    let sql = "UPDATE agents SET public_ip = $2 WHERE agent_id = $1";
    crate::prepared::execute(db, sql, &[&agent_id, &public_ip]).await
}

/// Records `agent-disks` as jsonb.
pub async fn write_disks(db: &impl GenericClient, agent_id: &str, disks: &serde_json::Value) -> Result<u64, DbError> {
    let sql = "UPDATE agents SET disks = $2 WHERE agent_id = $1";
    crate::prepared::execute(db, sql, &[&agent_id, disks]).await
}

/// Records `agent-winsvc` as jsonb.
pub async fn write_services(
    db: &impl GenericClient,
    agent_id: &str,
    services: &serde_json::Value,
) -> Result<u64, DbError> {
    let sql = "UPDATE agents SET services = $2 WHERE agent_id = $1";
    crate::prepared::execute(db, sql, &[&agent_id, services]).await
}

/// Records `agent-wmi` as jsonb (`wmi_detail`), in the shape the agent sent.
pub async fn write_wmi(db: &impl GenericClient, agent_id: &str, wmi: &serde_json::Value) -> Result<u64, DbError> {
    let sql = "UPDATE agents SET wmi_detail = $2 WHERE agent_id = $1";
    crate::prepared::execute(db, sql, &[&agent_id, wmi]).await
}

/// True when Postgres rejected the values themselves (SQLSTATE class 22, e.g. a string too long for its
/// column), so retrying the same write cannot succeed; every other failure may pass once the database is back.
pub fn is_data_error(error: &DbError) -> bool {
    match error {
        DbError::Query(e) => e.code().is_some_and(|code| code.code().starts_with("22")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_logged_in_keeps_the_last_user() {
        assert_eq!(last_logged_in_user("None"), None);
        assert_eq!(last_logged_in_user(""), None);
        assert_eq!(last_logged_in_user("alice"), Some("alice"));
    }

    #[test]
    fn total_ram_rounds_into_the_integer_column() {
        assert_eq!(total_ram_column(16.0), Some(16));
        assert_eq!(total_ram_column(7.6), Some(8));
        assert_eq!(total_ram_column(1e12), Some(i32::MAX));
        assert_eq!(total_ram_column(f64::NAN), None);
    }
}
