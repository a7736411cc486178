//! The notification outbox: every email, SMS and action an alert state change owes, written in the same
//! transaction as the change and delivered by trmm-worker. One row per (alert, kind, round) makes each delivery
//! happen once however many workers run; a lease lets another worker take over from one that died.

use crate::GenericClient;
use chrono::{DateTime, Utc};

use crate::{AlertId, DbError};

pub use crate::ids::NotificationId;

/// What a notification row delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Failure email.
    Email,
    /// Failure SMS.
    Sms,
    /// Failure action (script or webhook).
    Action,
    /// Resolved email.
    ResolvedEmail,
    /// Resolved SMS.
    ResolvedSms,
    /// Resolve action.
    ResolvedAction,
}

impl Kind {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Sms => "sms",
            Kind::Action => "action",
            Kind::ResolvedEmail => "resolved_email",
            Kind::ResolvedSms => "resolved_sms",
            Kind::ResolvedAction => "resolved_action",
        }
    }

    /// The kind a stored string names.
    pub fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Email,
            Kind::Sms,
            Kind::Action,
            Kind::ResolvedEmail,
            Kind::ResolvedSms,
            Kind::ResolvedAction,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Records that `kind` is owed for round `round` of the alert; `None` when it already was.
pub async fn owe(
    db: &impl GenericClient,
    alert: AlertId,
    kind: Kind,
    round: i32,
    now: DateTime<Utc>,
) -> Result<Option<NotificationId>, DbError> {
    let row = db
        .query_opt(
            "INSERT INTO alert_notifications (alert_id, kind, round, created, next_attempt) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (alert_id, kind, round) DO NOTHING RETURNING id",
            &[&alert.0, &kind.as_str(), &round, &now],
        )
        .await?;
    Ok(row.map(|r| NotificationId(r.get(0))))
}

/// The latest round of a notification kind owed for an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Its number.
    pub round: i32,
    /// When it was owed.
    pub created: DateTime<Utc>,
    /// Whether it is done (delivered, skipped or failed for good).
    pub done: bool,
}

/// The highest round of `kind` owed for the alert so far.
pub async fn last_round(db: &impl GenericClient, alert: AlertId, kind: Kind) -> Result<Option<Round>, DbError> {
    let row = db
        .query_opt(
            "SELECT round, created, done_at IS NOT NULL FROM alert_notifications
             WHERE alert_id = $1 AND kind = $2 ORDER BY round DESC LIMIT 1",
            &[&alert.0, &kind.as_str()],
        )
        .await?;
    Ok(row.map(|r| Round {
        round: r.get(0),
        created: r.get(1),
        done: r.get(2),
    }))
}

/// A notification a worker now holds.
#[derive(Debug, Clone)]
pub struct Leased {
    /// Row id.
    pub id: NotificationId,
    /// The alert.
    pub alert: AlertId,
    /// What to deliver.
    pub kind: Kind,
    /// Which round (0 = first, then periodic reminders).
    pub round: i32,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

/// Takes a notification that is due, not done and not held by a live lease; `None` if another worker has it or
/// it is done.
pub async fn lease(
    db: &impl GenericClient,
    id: NotificationId,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<Leased>, DbError> {
    let row = db
        .query_opt(
            "UPDATE alert_notifications SET lease_until = $3, attempts = attempts + 1
             WHERE id = $1 AND done_at IS NULL AND (lease_until IS NULL OR lease_until < $2)
             RETURNING alert_id, kind, round, attempts",
            &[&id.0, &now, &until],
        )
        .await?;
    Ok(row.and_then(|r| {
        Some(Leased {
            id,
            alert: r.get(0),
            kind: Kind::parse(r.get(1))?,
            round: r.get(2),
            attempts: r.get(3),
        })
    }))
}

/// Marks a held notification done with its outcome, and stamps the alert's matching `*_sent` time when it was
/// delivered.
pub async fn finish(
    db: &impl GenericClient,
    n: &Leased,
    outcome: &str,
    delivered: bool,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    // Only while the lease is still this attempt's: a worker whose lease ran out leaves the row to its taker.
    // One statement, so the outbox row and the alert's stamp are never seen apart.
    let column = match n.kind {
        Kind::Email => Some("email_sent"),
        Kind::Sms => Some("sms_sent"),
        Kind::ResolvedEmail => Some("resolved_email_sent"),
        Kind::ResolvedSms => Some("resolved_sms_sent"),
        Kind::Action | Kind::ResolvedAction => None,
    };
    let stamp = match column.filter(|_| delivered) {
        Some(column) => {
            format!(", stamped AS (UPDATE alerts SET {column} = $2 FROM done WHERE alerts.id = done.alert_id)")
        }
        None => String::new(),
    };
    db.execute(
        &format!(
            "WITH done AS (
                UPDATE alert_notifications SET done_at = $2, outcome = $3, lease_until = NULL
                WHERE id = $1 AND attempts = $4 AND done_at IS NULL RETURNING alert_id){stamp}
             SELECT 1"
        ),
        &[&n.id.0, &now, &outcome, &n.attempts],
    )
    .await?;
    Ok(())
}

/// Gives a held notification back after a failed attempt, to be retried from `next_attempt`.
pub async fn release(
    db: &impl GenericClient,
    n: &Leased,
    error: &str,
    next_attempt: DateTime<Utc>,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE alert_notifications SET lease_until = NULL, last_error = $2, next_attempt = $3
         WHERE id = $1 AND attempts = $4 AND done_at IS NULL",
        &[&n.id.0, &error, &next_attempt, &n.attempts],
    )
    .await?;
    Ok(())
}

/// Holds a notification longer (an action that may run for its whole timeout); false when the lease is no
/// longer this attempt's.
pub async fn extend(db: &impl GenericClient, n: &Leased, until: DateTime<Utc>) -> Result<bool, DbError> {
    Ok(db
        .execute(
            "UPDATE alert_notifications SET lease_until = $2 WHERE id = $1 AND attempts = $3 AND done_at IS NULL",
            &[&n.id.0, &until, &n.attempts],
        )
        .await?
        > 0)
}

/// Numbers an SMS notification has reached so far (a retry skips them).
pub async fn sms_sent_to(db: &impl GenericClient, id: NotificationId) -> Result<Vec<String>, DbError> {
    let row = db
        .query_one("SELECT sent_to FROM alert_notifications WHERE id = $1", &[&id.0])
        .await?;
    Ok(row.get(0))
}

/// Records that an SMS notification reached `number`.
pub async fn sms_reached(db: &impl GenericClient, id: NotificationId, number: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE alert_notifications SET sent_to = array_append(sent_to, $2) WHERE id = $1",
        &[&id.0, &number],
    )
    .await?;
    Ok(())
}

/// Notifications that should be in a worker's hands but may not be (their queue entry was lost with Redis, or
/// their worker died): not done, due, not under a live lease, and created before `older_than`.
pub async fn stranded(
    db: &impl GenericClient,
    now: DateTime<Utc>,
    older_than: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<NotificationId>, DbError> {
    let rows = db
        .query(
            "SELECT id FROM alert_notifications
             WHERE done_at IS NULL AND next_attempt <= $1 AND created < $2
               AND (lease_until IS NULL OR lease_until < $1)
             ORDER BY next_attempt LIMIT $3",
            &[&now, &older_than, &limit],
        )
        .await?;
    Ok(rows.iter().map(|r| NotificationId(r.get(0))).collect())
}

/// Every notification of an alert as (kind, round, outcome), oldest first; for tests and the alert's history.
pub async fn for_alert(db: &impl GenericClient, alert: AlertId) -> Result<Vec<(Kind, i32, Option<String>)>, DbError> {
    let rows = db
        .query(
            "SELECT kind, round, outcome FROM alert_notifications WHERE alert_id = $1 ORDER BY id",
            &[&alert.0],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((Kind::parse(r.get(0))?, r.get(1), r.get(2))))
        .collect())
}
