//! Job payloads kept in Postgres (`jobs`): Redis carries only the id, so a Redis that loses its data delays work
//! and loses none of it. A worker leases a job before running it, so a duplicate queue entry (one re-queued
//! after a loss while the original was running) does nothing.

use crate::GenericClient;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio_postgres::types::Json;

use crate::{DbError, JobId};

/// Stores a job's payload; returns its id for the queue entry.
pub async fn create<T: Serialize + std::fmt::Debug + Sync>(
    db: &impl GenericClient,
    kind: &str,
    payload: &T,
) -> Result<JobId, DbError> {
    let row = db
        .query_one(
            "INSERT INTO jobs (kind, payload) VALUES ($1, $2) RETURNING id",
            &[&kind, &Json(payload)],
        )
        .await?;
    Ok(JobId(row.get(0)))
}

/// Takes an unfinished job of `kind` until `until`, unless another worker holds it; returns its payload.
/// A payload that no longer reads as `T` is finished as unreadable and `None` returned.
pub async fn lease<T: DeserializeOwned>(
    db: &impl GenericClient,
    kind: &str,
    id: JobId,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<T>, DbError> {
    let row = db
        .query_opt(
            "UPDATE jobs SET lease_until = $4
             WHERE id = $1 AND kind = $2 AND finished_at IS NULL AND (lease_until IS NULL OR lease_until < $3)
             RETURNING payload",
            &[&id.0, &kind, &now, &until],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    match serde_json::from_value(row.get(0)) {
        Ok(payload) => Ok(Some(payload)),
        Err(e) => {
            finish(db, id, &format!("failed: unreadable payload: {e}")).await?;
            Ok(None)
        }
    }
}

/// Holds a leased job until `until`.
pub async fn extend(db: &impl GenericClient, id: JobId, until: DateTime<Utc>) -> Result<(), DbError> {
    db.execute(
        "UPDATE jobs SET lease_until = $2 WHERE id = $1 AND finished_at IS NULL",
        &[&id.0, &until],
    )
    .await?;
    Ok(())
}

/// Gives a leased job back, for its retry.
pub async fn release(db: &impl GenericClient, id: JobId) -> Result<(), DbError> {
    db.execute("UPDATE jobs SET lease_until = NULL WHERE id = $1", &[&id.0])
        .await?;
    Ok(())
}

/// Records what became of a job; it is never run again.
pub async fn finish(db: &impl GenericClient, id: JobId, outcome: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE jobs SET finished_at = now(), lease_until = NULL, outcome = $2 WHERE id = $1",
        &[&id.0, &outcome],
    )
    .await?;
    Ok(())
}

/// The unfinished jobs of `kind`, oldest first.
pub async fn unfinished(db: &impl GenericClient, kind: &str) -> Result<Vec<JobId>, DbError> {
    let rows = db
        .query(
            "SELECT id FROM jobs WHERE kind = $1 AND finished_at IS NULL ORDER BY id",
            &[&kind],
        )
        .await?;
    Ok(rows.iter().map(|r| JobId(r.get(0))).collect())
}
