//! Agent notes (Tactical RMM `agents.Note`): free text attached to an agent by a user, or by a script run
//! whose output was sent to a note.

use crate::GenericClient;
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::roles::Scope;
use crate::{AgentPk, ClientId, DbError, SiteId, UserId};

pub use crate::ids::NoteId;

/// A note with what its views show and what permission checks need.
#[derive(Debug, Clone)]
pub struct Note {
    /// Primary key.
    pub id: NoteId,
    /// When it was written.
    pub entry_time: DateTime<Utc>,
    /// The text.
    pub note: String,
    /// Author's username; `None` once the user is deleted.
    pub username: Option<String>,
    /// Agent it belongs to.
    pub agent_pk: AgentPk,
    /// That agent's string id.
    pub agent_id: String,
    /// The agent's site, for scope checks.
    pub site: SiteId,
    /// The agent's client, for scope checks.
    pub client: ClientId,
}

const SELECT: &str = "SELECT n.id, n.entry_time, n.note, u.username, n.agent_pk, a.agent_id, a.site_id, s.client_id
    FROM agent_notes n JOIN agents a ON a.id = n.agent_pk JOIN sites s ON s.id = a.site_id
    LEFT JOIN users u ON u.id = n.user_id";

fn from_row(row: &Row) -> Note {
    from_row! { row, Note {
        id, entry_time, note, username, agent_pk, agent_id, site = "site_id", client = "client_id",
    } }
}

/// Adds a note; `user` is `None` for notes no dashboard user wrote.
pub async fn create(
    db: &impl GenericClient,
    agent: AgentPk,
    user: Option<UserId>,
    note: &str,
) -> Result<NoteId, DbError> {
    let row = db
        .query_one(
            "INSERT INTO agent_notes (agent_pk, user_id, note) VALUES ($1, $2, $3) RETURNING id",
            &[&agent.0, &user.map(|u| u.0), &note],
        )
        .await?;
    Ok(NoteId(row.get(0)))
}

/// One note.
pub async fn get(db: &impl GenericClient, id: NoteId) -> Result<Option<Note>, DbError> {
    let sql = format!("{SELECT} WHERE n.id = $1");
    Ok(db.query_opt(&sql, &[&id.0]).await?.as_ref().map(from_row))
}

/// The notes of one agent, oldest first.
pub async fn for_agent(db: &impl GenericClient, agent: AgentPk) -> Result<Vec<Note>, DbError> {
    let sql = format!("{SELECT} WHERE n.agent_pk = $1 ORDER BY n.id");
    Ok(db.query(&sql, &[&agent.0]).await?.iter().map(from_row).collect())
}

/// The notes of every agent the scope allows, oldest first.
pub async fn in_scope(db: &impl GenericClient, scope: &Scope) -> Result<Vec<Note>, DbError> {
    let sql = format!("{SELECT} WHERE {} ORDER BY n.id", Scope::FILTER);
    Ok(db.query(&sql, &scope.params()).await?.iter().map(from_row).collect())
}

/// Replaces a note's text; false if it does not exist.
pub async fn update(db: &impl GenericClient, id: NoteId, note: &str) -> Result<bool, DbError> {
    let n = db
        .execute("UPDATE agent_notes SET note = $2 WHERE id = $1", &[&id.0, &note])
        .await?;
    Ok(n == 1)
}

/// Deletes a note; false if it did not exist.
pub async fn delete(db: &impl GenericClient, id: NoteId) -> Result<bool, DbError> {
    crate::delete_by_id(db, "agent_notes", &id.0).await
}

/// Adds a note attributed to the user named `username` (no author when no such user exists), for output
/// a script run sends to a note after the request that started it is gone.
pub async fn create_as(db: &impl GenericClient, agent: AgentPk, username: &str, note: &str) -> Result<NoteId, DbError> {
    let row = db
        .query_one(
            "INSERT INTO agent_notes (agent_pk, user_id, note)
             VALUES ($1, (SELECT id FROM users WHERE username = $2), $3) RETURNING id",
            &[&agent.0, &username, &note],
        )
        .await?;
    Ok(NoteId(row.get(0)))
}
