//! Installed software (TRMM software/views.py `GetSoftware`; server-api.md 3.12): the stored lists, and a
//! refresh that asks the agent for `softwarelist`.

use actix_web::HttpResponse;
use serde_json::{json, Value};
use trmm_db::software::{self, InstalledSoftware};

use super::agents::AGENT_ID;
use crate::api::routes::{self, Routes};
use crate::auth::perms::{ListSoftware, ManageSoftware};
use crate::auth::{Authed, ScopedAgent};
use crate::error::ApiResult;
use trmm_protocol::calls::SoftwareList;

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    let one = format!("/software/{AGENT_ID}/");
    cfg.route("/software/", routes::get().to(list))
        .route(&one, routes::get().to(get))
        .route(&one, routes::put().to(refresh));
}

/// `InstalledSoftwareSerializer` (`fields = "__all__"`): `{id, software, agent}`. Rows are keyed by agent
/// here, so `id` is the agent's pk as well.
fn serialize(row: &InstalledSoftware) -> Value {
    json!({ "id": row.agent.0, "software": row.software, "agent": row.agent.0 })
}

/// `GET /software/`: every stored list the user's role can see.
async fn list(caller: Authed<ListSoftware>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let rows = software::list(&db, &caller.identity.visibility()).await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(serialize).collect::<Vec<_>>()))
}

/// `GET /software/<agent_id>/`: the stored list, or `[]` when the agent never reported one (upstream).
async fn get(caller: ScopedAgent<ListSoftware>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    Ok(match software::get(&db, caller.agent.pk).await? {
        Some(row) => HttpResponse::Ok().json(serialize(&row)),
        None => HttpResponse::Ok().json(json!([])),
    })
}

/// `PUT /software/<agent_id>/`: asks the agent for its list and stores it. Upstream refuses posix agents
/// ("Not available for linux"); trmm-agent reports dpkg/rpm packages, so every platform is asked.
async fn refresh(caller: ScopedAgent<ManageSoftware>) -> ApiResult<HttpResponse> {
    let list = caller
        .state
        .gateway
        .call_default(&caller.agent.agent_id, SoftwareList)
        .await?;
    let db = caller.state.conn().await?;
    software::upsert(&db, caller.agent.pk, &serde_json::to_value(list)?).await?;
    Ok(HttpResponse::Ok().json("ok"))
}
