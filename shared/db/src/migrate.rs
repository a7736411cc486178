//! Versioned SQL migrations, applied in order inside one transaction each, under an advisory lock so
//! several replicas starting at once do not race.

use crate::{DbError, Pool};

/// (version, name, SQL) of every migration, in order. Never edit a released one: add a new file.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (2, "scripts", include_str!("../migrations/0002_scripts.sql")),
    (
        3,
        "script_runs_notes",
        include_str!("../migrations/0003_script_runs_notes.sql"),
    ),
    (4, "bulk_pending", include_str!("../migrations/0004_bulk_pending.sql")),
    (5, "jobs", include_str!("../migrations/0005_jobs.sql")),
    (6, "bulk_lease", include_str!("../migrations/0006_bulk_lease.sql")),
    (7, "monitoring", include_str!("../migrations/0007_monitoring.sql")),
    (
        8,
        "notify_secrets",
        include_str!("../migrations/0008_notify_secrets.sql"),
    ),
    (
        9,
        "notification_progress",
        include_str!("../migrations/0009_notification_progress.sql"),
    ),
    (
        10,
        "alert_template_function",
        include_str!("../migrations/0010_alert_template_function.sql"),
    ),
    (11, "accounts", include_str!("../migrations/0011_accounts.sql")),
    (12, "api_keys", include_str!("../migrations/0012_api_keys.sql")),
    (13, "logs", include_str!("../migrations/0013_logs.sql")),
];

/// Arbitrary constant key for `pg_advisory_xact_lock`, shared by every trmm-rs process.
const LOCK_KEY: i64 = 0x0074_726d_6d2d_7273;

/// Applies every migration not yet recorded in `schema_migrations`; returns how many were applied.
pub async fn run(pool: &Pool) -> Result<usize, DbError> {
    let mut client = pool.get().await?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let mut applied = 0;
    for (version, name, sql) in MIGRATIONS {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).await?;
        let done = tx
            .query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[version])
            .await?;
        if done.is_some() {
            continue;
        }
        tx.batch_execute(sql).await.map_err(|source| DbError::Migration {
            version: *version,
            source,
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, name, "applied migration");
        applied += 1;
    }
    Ok(applied)
}

/// A short fingerprint of every migration's text, so test harnesses can cache a migrated template database.
pub fn fingerprint() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    MIGRATIONS.hash(&mut h);
    format!("{:016x}", h.finish())
}
