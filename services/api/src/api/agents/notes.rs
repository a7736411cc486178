//! Agent notes (TRMM agents/views.py::GetAddNotes and GetEditDeleteNote, permission AgentNotesPerms).

use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use trmm_db::notes::{self, Note};

use super::AGENT_ID;
use crate::api::drf_time;
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListNotes, ManageNotes};
use crate::auth::{in_scope, Authed, Scoped, ScopedAgent};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    resource_routes!(cfg, "/agents/notes/", "{pk}/")
        .route(&format!("/agents/{AGENT_ID}/notes/"), routes::get().to(for_agent));
}

/// `AgentNoteSerializer` (agent and user are write-only).
fn render(n: &Note) -> Value {
    json!({
        "pk": n.id,
        "entry_time": drf_time(n.entry_time),
        "note": n.note,
        "username": n.username,
        "agent_id": n.agent_id,
    })
}

/// `GET /agents/<agent_id>/notes/`.
async fn for_agent(caller: ScopedAgent<ListNotes>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let rows = notes::for_agent(&db, caller.agent.pk).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(render).collect::<Vec<_>>()))
}

/// `GET /agents/notes/`: notes of every agent the user's role can see.
async fn list(caller: Authed<ListNotes>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let rows = notes::in_scope(&db, &caller.identity.visibility()).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(render).collect::<Vec<_>>()))
}

#[derive(Deserialize)]
struct NewNote {
    agent_id: String,
    note: Option<String>,
}

/// `POST /agents/notes/` `{agent_id, note}`.
async fn create(caller: Authed<ManageNotes>, Json(body): Json<NewNote>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let agent = in_scope::agent(&db, &caller.identity, &body.agent_id).await?;
    let note = body
        .note
        .ok_or_else(|| ApiError::BadRequest("Cannot add an empty note".into()))?;
    not_blank(&note)?;
    notes::create(&db, agent.pk, Some(caller.identity.user.id), &note).await?;
    Ok(HttpResponse::Ok().json("Note added!"))
}

/// `Note.note` is a TextField without `blank=True`, so DRF refuses empty text.
fn not_blank(note: &str) -> ApiResult<()> {
    if note.is_empty() {
        Err(ApiError::field("note", "This field may not be blank."))
    } else {
        Ok(())
    }
}

/// `GET /agents/notes/<pk>/`.
async fn get(caller: Scoped<ListNotes, Note>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(render(&caller.target)))
}

#[derive(Deserialize)]
struct NoteEdit {
    note: Option<String>,
}

/// `PUT /agents/notes/<pk>/` `{note}` (a partial update: without `note` nothing changes).
async fn update(caller: Scoped<ManageNotes, Note>, Json(body): Json<NoteEdit>) -> ApiResult<HttpResponse> {
    let (db, note) = (caller.state.conn().await?, caller.target);
    if let Some(text) = body.note {
        not_blank(&text)?;
        notes::update(&db, note.id, &text).await?;
    }
    Ok(HttpResponse::Ok().json("Note edited!"))
}

/// `DELETE /agents/notes/<pk>/`.
async fn delete(caller: Scoped<ManageNotes, Note>) -> ApiResult<HttpResponse> {
    let (db, note) = (caller.state.conn().await?, caller.target);
    notes::delete(&db, note.id).await?;
    Ok(HttpResponse::Ok().json("Note was deleted!"))
}
