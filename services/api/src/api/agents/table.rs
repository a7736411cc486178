//! `GET /agents/`: the agent table, filtered, sorted and (as an extension) paged in SQL.

use std::collections::HashSet;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use trmm_db::agents::{self, AgentFilter, AgentTableRow, SortKey, TableQuery};
use trmm_db::custom_fields::FieldModel;
use trmm_db::{ClientId, SiteId};

use crate::auth::perms::ListAgents;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Largest page the paged extension serves.
const MAX_PAGE_SIZE: i64 = 1000;

#[derive(Deserialize)]
pub(super) struct TableParams {
    client: Option<String>,
    site: Option<String>,
    monitoring_type: Option<String>,
    detail: Option<String>,
    page: Option<String>,
    page_size: Option<String>,
    ordering: Option<String>,
}

fn int_param(name: &str, raw: Option<&str>) -> ApiResult<Option<i64>> {
    raw.map(|v| {
        v.parse::<i64>()
            .map_err(|_| ApiError::BadRequest(format!("Invalid value for {name}: {v:?}")))
    })
    .transpose()
}

impl TableParams {
    fn filter(&self) -> ApiResult<AgentFilter> {
        let monitoring_type = match self.monitoring_type.as_deref() {
            None | Some("") | Some("all") | Some("mixed") => None,
            Some(m @ ("server" | "workstation")) => Some(m.to_owned()),
            Some(other) => return Err(ApiError::BadRequest(format!("Invalid monitoring_type: {other:?}"))),
        };
        Ok(AgentFilter {
            client: int_param("client", self.client.as_deref())?.map(|c| ClientId(c as i32)),
            site: int_param("site", self.site.as_deref())?.map(|s| SiteId(s as i32)),
            monitoring_type,
        })
    }

    fn query(&self) -> ApiResult<TableQuery> {
        let (descending, field) = match self.ordering.as_deref() {
            None | Some("") => (false, "hostname"),
            Some(o) => o.strip_prefix('-').map_or((false, o), |f| (true, f)),
        };
        let sort = SortKey::parse(field).ok_or_else(|| ApiError::BadRequest(format!("Invalid ordering: {field:?}")))?;
        let page = int_param("page", self.page.as_deref())?;
        let size = int_param("page_size", self.page_size.as_deref())?;
        let page = match (page, size) {
            (None, None) => None,
            (page, size) => {
                let page = page.unwrap_or(1);
                let size = size.unwrap_or(50);
                if page < 1 || !(1..=MAX_PAGE_SIZE).contains(&size) {
                    return Err(ApiError::BadRequest(format!(
                        "page must be at least 1 and page_size between 1 and {MAX_PAGE_SIZE}"
                    )));
                }
                Some((size, (page - 1) * size))
            }
        };
        Ok(TableQuery { sort, descending, page })
    }
}

/// One row of the table as AgentTableSerializer renders it.
fn render(row: AgentTableRow) -> Value {
    let AgentTableRow {
        columns,
        status,
        pending_actions_count,
        wmi_detail,
        ..
    } = row;
    let Value::Object(mut map) = columns else {
        return Value::Null;
    };
    let plat = map.get("plat").and_then(Value::as_str).unwrap_or_default().to_owned();
    let logged_in = map
        .remove("logged_in_username")
        .and_then(|v| v.as_str().map(str::to_owned));
    let last_user = map
        .remove("last_logged_in_user")
        .and_then(|v| v.as_str().map(str::to_owned));
    // TRMM agents/serializers.py get_logged_username/get_italic: Windows reports "None" when nobody is
    // logged in; the last user is then shown in italics while the agent is online.
    let online = status == "online";
    let (logged_username, italic) = match logged_in.as_deref() {
        Some("None") if online => (last_user.unwrap_or_default(), true),
        Some("None") | None => ("-".to_owned(), false),
        Some(user) => (user.to_owned(), false),
    };
    super::drf_datetimes(&mut map, &["last_seen"]);
    map.insert("status".into(), json!(status));
    map.insert("pending_actions_count".into(), json!(pending_actions_count));
    map.insert("logged_username".into(), json!(logged_username));
    map.insert("italic".into(), json!(italic));
    map.insert("custom_fields".into(), json!([]));
    if let Ok(Value::Object(hw)) = serde_json::to_value(trmm_protocol::hardware::summarize(&plat, wmi_detail.as_ref()))
    {
        map.extend(hw);
    }
    Value::Object(map)
}

/// Longest the table waits for the gateway's presence answer before showing every agent as not connected.
const PRESENCE_WAIT: Duration = Duration::from_secs(2);

/// Beyond TRMM: which of `agent_ids` hold a NATS connection now (the AgentGateway's presence). The table answers
/// without it (every agent not connected, and a warning logged) when the gateway cannot say.
pub(super) async fn connected(state: &AppState, agent_ids: Vec<String>) -> HashSet<String> {
    if agent_ids.is_empty() {
        return HashSet::new();
    }
    match tokio::time::timeout(PRESENCE_WAIT, state.gateway.connected(agent_ids)).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "agent presence unavailable: agents shown as not connected");
            HashSet::new()
        }
        Err(_) => {
            tracing::warn!(wait = ?PRESENCE_WAIT, "agent presence timed out: agents shown as not connected");
            HashSet::new()
        }
    }
}

/// `detail=false`: the short hostname list (AgentHostnameSerializer).
fn render_short(row: AgentTableRow) -> Value {
    let c = &row.columns;
    json!({ "id": row.pk, "hostname": c["hostname"], "agent_id": c["agent_id"],
            "client": c["client_name"], "site": c["site_name"] })
}

pub(super) async fn list(caller: Authed<ListAgents>, params: web::Query<TableParams>) -> ApiResult<HttpResponse> {
    let filter = params.filter()?;
    let query = params.query()?;
    let db = caller.state.conn().await?;
    let (rows, total) = agents::table(&db, &caller.identity.visibility(), &filter, query, caller.state.now()).await?;
    let short = params.detail.as_deref() == Some("false");
    let pks: Vec<i32> = if short {
        Vec::new()
    } else {
        rows.iter().map(|r| r.pk.0).collect()
    };
    // One query for the custom field values of the whole page (upstream prefetch_related).
    let mut fields = super::super::core::values::render(&db, FieldModel::Agent, &pks).await?;
    drop(db);
    let ids: Vec<String> = if short {
        Vec::new()
    } else {
        rows.iter()
            .filter_map(|r| r.columns["agent_id"].as_str().map(str::to_owned))
            .collect()
    };
    // One gateway call for the whole page.
    let connected = connected(&caller.state, ids).await;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            if short {
                return render_short(row);
            }
            let pk = row.pk.0;
            let mut v = render(row);
            v["custom_fields"] = json!(fields.remove(&pk).unwrap_or_default());
            let is_connected = v["agent_id"].as_str().is_some_and(|id| connected.contains(id));
            v["connected"] = json!(is_connected);
            v
        })
        .collect();
    Ok(match query.page {
        // The plain call keeps Tactical RMM's bare array; paging is opt-in.
        None => HttpResponse::Ok().json(rows),
        Some((size, offset)) => HttpResponse::Ok().json(json!({
            "count": total, "page": offset / size + 1, "page_size": size, "results": rows,
        })),
    })
}
