//! Counts of what the deployment holds: agents by monitoring type and status (the dashboard's agent-count chip,
//! `/ws/dashinfo/`) and everything at once for the monitoring endpoint (`/core/v2/status/`).

use chrono::{DateTime, Utc};

use crate::agents::STATUS_SQL;
use crate::roles::Scope;
use crate::{DbError, GenericClient};

/// Agents of one monitoring type by status, as the agent table computes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByStatus {
    /// Heard from within their `offline_time`.
    pub online: i64,
    /// Not heard from within their `offline_time` (or never), but within their `overdue_time`.
    pub offline: i64,
    /// Not heard from within their `overdue_time`.
    pub overdue: i64,
}

impl ByStatus {
    /// Every agent.
    pub fn total(&self) -> i64 {
        self.online + self.offline + self.overdue
    }

    fn add(&mut self, status: &str, n: i64) {
        match status {
            "online" => self.online += n,
            "overdue" => self.overdue += n,
            _ => self.offline += n,
        }
    }
}

/// Agents by monitoring type and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentCounts {
    /// `monitoring_type = 'server'`.
    pub servers: ByStatus,
    /// `monitoring_type = 'workstation'`.
    pub workstations: ByStatus,
}

impl AgentCounts {
    /// Both types together.
    pub fn all(&self) -> ByStatus {
        let (s, w) = (self.servers, self.workstations);
        ByStatus {
            online: s.online + w.online,
            offline: s.offline + w.offline,
            overdue: s.overdue + w.overdue,
        }
    }
}

/// The agents `scope` sees, counted at `now`.
pub async fn agents(db: &impl GenericClient, scope: &Scope, now: DateTime<Utc>) -> Result<AgentCounts, DbError> {
    let sql = format!(
        "SELECT a.monitoring_type, {STATUS_SQL} AS status, count(*)
         FROM agents a JOIN sites s ON s.id = a.site_id
         WHERE ($2::bool OR s.client_id = ANY($3::int[]) OR s.id = ANY($4::int[]))
         GROUP BY 1, 2"
    );
    let rows = db
        .query(&sql, &[&now, &scope.unrestricted, &scope.clients, &scope.sites])
        .await?;
    let mut counts = AgentCounts::default();
    for row in rows {
        let (kind, status, n): (String, String, i64) = (row.get(0), row.get(1), row.get(2));
        let by_type = if kind == "workstation" {
            &mut counts.workstations
        } else {
            &mut counts.servers
        };
        by_type.add(&status, n);
    }
    Ok(counts)
}

/// Every client and every site.
pub async fn clients_and_sites(db: &impl GenericClient) -> Result<(i64, i64), DbError> {
    let row = db
        .query_one(
            "SELECT (SELECT count(*) FROM clients), (SELECT count(*) FROM sites)",
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}
