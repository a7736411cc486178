//! Clients and sites (TRMM clients/views.py; server-api.md 3.6).

mod sites;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use trmm_db::alerts::templates;
use trmm_db::custom_fields::{FieldModel, Parent};
use trmm_db::roles::Scope;
use trmm_db::{clients, roles, sites as site_db, AlertTemplateId, ClientId, GenericClient, SiteId};

use super::audit::{self, Change};
use super::core::values::{self, CustomFieldEdit};
use super::form;
use crate::api::routes::Routes;
use crate::auth::perms::{ListClients, ManageClients};
use crate::auth::{in_scope, Authed, ScopedClient, VisibleClient};
use crate::error::{ApiError, ApiResult, UniqueAs};
use crate::json::Json;

/// Registers the routes of this module.
pub fn configure(cfg: &mut Routes) {
    // Sites first: "/clients/sites/" matches "/clients/{pk}/" too.
    resource_routes!(cfg.configure(sites::configure), "/clients/", "{pk}/");
}

/// Checks a client or site name the way the serializers do; `kind` is "Client" or "Site".
fn validate_name(kind: &str, name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::field("name", "This field may not be blank."));
    }
    if name.chars().count() > 255 {
        return Err(ApiError::field(
            "name",
            "Ensure this field has no more than 255 characters.",
        ));
    }
    // TRMM clients/serializers.py validate_name: the dashboard uses | as a separator.
    if name.contains('|') {
        return Err(ApiError::field(
            "name",
            format!("{kind} name cannot contain the | character"),
        ));
    }
    Ok(name.to_owned())
}

/// `?move_to_site=<id>` of the delete endpoints.
#[derive(Deserialize)]
struct MoveTo {
    move_to_site: Option<String>,
}

impl MoveTo {
    fn site(&self) -> ApiResult<Option<SiteId>> {
        self.move_to_site
            .as_deref()
            .map(|s| {
                s.parse()
                    .map(SiteId)
                    .map_err(|_| ApiError::BadRequest("Invalid move_to_site".into()))
            })
            .transpose()
    }
}

#[derive(Deserialize)]
struct ClientFields {
    name: Option<String>,
    block_policy_inheritance: Option<bool>,
    /// Set by the dashboard's "Assign Alert Template" (null removes it).
    #[serde(default, deserialize_with = "form::present")]
    alert_template: Option<Value>,
}

#[derive(Deserialize)]
struct SiteName {
    name: String,
}

#[derive(Deserialize)]
struct CreateClient {
    client: ClientFields,
    site: SiteName,
    custom_fields: Option<Vec<CustomFieldEdit>>,
}

#[derive(Deserialize)]
struct UpdateClient {
    client: ClientFields,
    custom_fields: Option<Vec<CustomFieldEdit>>,
}

/// The alert template a client or site edit assigns (`Some(None)` removes it; `None` leaves it alone), which
/// must exist.
async fn template_choice(db: &impl GenericClient, sent: Option<&Value>) -> ApiResult<Option<Option<AlertTemplateId>>> {
    let id = match sent {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(None)),
        Some(v) => form::pk(v).map_err(|msg| ApiError::field("alert_template", msg))?,
    };
    if templates::get(db, AlertTemplateId(id)).await?.is_none() {
        return Err(ApiError::field("alert_template", form::invalid_pk(id)));
    }
    Ok(Some(Some(AlertTemplateId(id))))
}

/// What a client's audit values leave out of its dashboard JSON: what is derived from its sites and agents.
const DERIVED: [&str; 4] = ["sites", "agent_count", "maintenance_mode", "failing_checks"];

/// A client's audit value: its dashboard JSON (with custom fields) less [`DERIVED`].
async fn snapshot(db: &impl GenericClient, id: ClientId) -> ApiResult<Value> {
    let mut client = clients::get(db, id, &Scope::all()).await?.ok_or(ApiError::NotFound)?;
    values::fill_clients(db, std::slice::from_mut(&mut client)).await?;
    audit::snapshot(client, &DERIVED)
}

fn name_taken() -> ApiError {
    ApiError::field("name", "client with this name already exists.")
}

async fn list(caller: Authed<ListClients>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let mut rows = clients::list(&db, &caller.identity.visibility()).await?;
    values::fill_clients(&db, &mut rows).await?;
    Ok(HttpResponse::Ok().json(rows))
}

async fn get(caller: VisibleClient<ListClients>) -> ApiResult<HttpResponse> {
    let mut client = caller.target.0;
    let db = caller.state.conn().await?;
    values::fill_clients(&db, std::slice::from_mut(&mut client)).await?;
    Ok(HttpResponse::Ok().json(client))
}

async fn create(
    caller: Authed<ManageClients>,
    req: HttpRequest,
    Json(body): Json<CreateClient>,
) -> ApiResult<HttpResponse> {
    let name = validate_name("Client", body.client.name.as_deref().unwrap_or_default())?;
    let site_name = validate_name("Site", &body.site.name)?;
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let custom_fields = values::validate(&tx, FieldModel::Client, body.custom_fields.as_deref()).await?;
    let inherit = body.client.block_policy_inheritance.unwrap_or(false);
    let id = clients::create(&tx, &name, inherit, who).await.unique_as(name_taken)?;
    site_db::create(&tx, id, &site_name, false, who).await?;
    // Upstream adds it only to a non-empty client list; a role limited to sites alone would lose sight of it.
    if let Some((role, _)) = caller.identity.restricting_role() {
        roles::grant_client(&tx, role, id).await?;
    }
    values::write(&tx, Parent::Client(id), &custom_fields).await?;
    let message = format!("{who} added client {name}");
    let change = Change::add("client", message, snapshot(&tx, id).await?).at_client(id);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{name} was added")))
}

async fn update(
    caller: ScopedClient<ManageClients>,
    req: HttpRequest,
    Json(body): Json<UpdateClient>,
) -> ApiResult<HttpResponse> {
    let id = caller.target.0.id;
    let name = body
        .client
        .name
        .as_deref()
        .map(|n| validate_name("Client", n))
        .transpose()?;
    let mut db = caller.state.conn().await?;
    let custom_fields = values::validate(&db, FieldModel::Client, body.custom_fields.as_deref()).await?;
    let template = template_choice(&db, body.client.alert_template.as_ref()).await?;
    let who = caller.identity.username();
    let tx = db.transaction().await?;
    let before = snapshot(&tx, id).await?;
    clients::update(&tx, id, name.as_deref(), body.client.block_policy_inheritance, who)
        .await
        .unique_as(name_taken)?;
    if let Some(template) = template {
        clients::set_alert_template(&tx, id, template, who).await?;
    }
    values::write(&tx, Parent::Client(id), &custom_fields).await?;
    let after = snapshot(&tx, id).await?;
    let new_name = after["name"].as_str().unwrap_or_default().to_owned();
    let message = format!("{who} modified client {new_name}");
    let change = Change::modify("client", message, before, after).at_client(id);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{new_name} was updated")))
}

async fn delete(
    caller: ScopedClient<ManageClients>,
    req: HttpRequest,
    query: web::Query<MoveTo>,
) -> ApiResult<HttpResponse> {
    let (id, client) = (caller.target.0.id, &caller.target.0);
    let move_to = query.site()?;
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let before = snapshot(&tx, id).await?;
    let agents = clients::agent_count(&tx, id).await?;
    if agents > 0 {
        let Some(target) = move_to else {
            return Err(ApiError::BadRequest(format!(
                "Unable to delete client {}: it has {agents} agent(s). Pass move_to_site to move them first.",
                client.name
            )));
        };
        let site = in_scope::site(&tx, &caller.identity, target).await?;
        if site.client == id {
            return Err(ApiError::BadRequest(
                "Cannot move agents to a site of the client being deleted".into(),
            ));
        }
        clients::move_agents(&tx, id, target).await?;
    }
    clients::delete(&tx, id).await?;
    let who = caller.identity.username();
    let change = Change::delete("client", format!("{who} deleted client {}", client.name), before).at_client(id);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{} was deleted", client.name)))
}
