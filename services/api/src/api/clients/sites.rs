//! `/clients/sites/` endpoints.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use trmm_db::custom_fields::{FieldModel, Parent};
use trmm_db::{roles, sites, ClientId, GenericClient, SiteId};

use super::{template_choice, validate_name, MoveTo};
use crate::api::audit::{self, Change};
use crate::api::core::values::{self, CustomFieldEdit};
use crate::api::form;
use crate::api::routes::Routes;
use crate::auth::perms::{ListSites, ManageSites};
use crate::auth::{in_scope, Authed, ScopedSite};
use crate::error::{ApiError, ApiResult, UniqueAs};
use crate::json::Json;

const NOT_UNIQUE: &str = "The fields client, name must make a unique set.";

pub(super) fn configure(cfg: &mut Routes) {
    resource_routes!(cfg, "/clients/sites/", "{pk}/");
}

#[derive(Deserialize)]
struct NewSite {
    client: i32,
    name: String,
    block_policy_inheritance: Option<bool>,
}

#[derive(Deserialize)]
struct CreateSite {
    site: NewSite,
    custom_fields: Option<Vec<CustomFieldEdit>>,
}

#[derive(Deserialize)]
struct SiteFields {
    name: Option<String>,
    client: Option<i32>,
    block_policy_inheritance: Option<bool>,
    /// Set by the dashboard's "Assign Alert Template" (null removes it).
    #[serde(default, deserialize_with = "form::present")]
    alert_template: Option<Value>,
}

#[derive(Deserialize)]
struct UpdateSite {
    site: SiteFields,
    custom_fields: Option<Vec<CustomFieldEdit>>,
}

/// A site's audit value: its dashboard JSON (with custom fields) less what is derived from its agents.
async fn snapshot(db: &impl GenericClient, id: SiteId) -> ApiResult<Value> {
    let mut site = sites::get(db, id).await?.ok_or(ApiError::NotFound)?;
    values::fill_sites(db, &mut [&mut site]).await?;
    audit::snapshot(site, &["agent_count", "maintenance_mode", "failing_checks"])
}

fn not_unique() -> ApiError {
    ApiError::Invalid(json!({ "non_field_errors": [NOT_UNIQUE] }))
}

async fn list(caller: Authed<ListSites>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let mut rows = sites::list(&db, &caller.identity.visibility()).await?;
    values::fill_sites(&db, &mut rows.iter_mut().collect::<Vec<_>>()).await?;
    Ok(HttpResponse::Ok().json(rows))
}

async fn get(caller: ScopedSite<ListSites>) -> ApiResult<HttpResponse> {
    let mut site = caller.target;
    let db = caller.state.conn().await?;
    values::fill_sites(&db, &mut [&mut site]).await?;
    Ok(HttpResponse::Ok().json(site))
}

async fn create(
    caller: Authed<ManageSites>,
    req: HttpRequest,
    Json(body): Json<CreateSite>,
) -> ApiResult<HttpResponse> {
    let client = in_scope::client(&caller.identity, ClientId(body.site.client))?;
    let name = validate_name("Site", &body.site.name)?;
    let who = caller.identity.username();
    let mut db = caller.state.conn().await?;
    let custom_fields = values::validate(&db, FieldModel::Site, body.custom_fields.as_deref()).await?;
    // The site, its fields, the role grant and the audit row land together or not at all.
    let tx = db.transaction().await?;
    let id = match sites::create(
        &tx,
        client,
        &name,
        body.site.block_policy_inheritance.unwrap_or(false),
        who,
    )
    .await
    {
        Err(e) if e.is_foreign_key_violation() => {
            return Err(ApiError::field("client", "Invalid pk - object does not exist."))
        }
        other => other.unique_as(not_unique)?,
    };
    values::write(&tx, Parent::Site(id), &custom_fields).await?;
    // TRMM clients/views.py GetAddSites: a role with a site list gets the new site on it.
    if let Some((role, perms)) = caller.identity.restricting_role() {
        if !perms.sites.is_empty() {
            roles::grant_site(&tx, role, id).await?;
        }
    }
    let after = snapshot(&tx, id).await?;
    let change = Change::add("site", format!("{who} added site {name}"), after).at_site(client, id);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{name} was added")))
}

async fn update(
    caller: ScopedSite<ManageSites>,
    req: HttpRequest,
    Json(body): Json<UpdateSite>,
) -> ApiResult<HttpResponse> {
    let site = &caller.target;
    let mut db = caller.state.conn().await?;
    let name = body
        .site
        .name
        .as_deref()
        .map(|n| validate_name("Site", n))
        .transpose()?;
    let new_client = body.site.client.map(ClientId).filter(|c| *c != site.client);
    if let Some(client) = new_client {
        in_scope::client(&caller.identity, client)?;
        if sites::count_for_client(&db, site.client).await? <= 1 {
            return Err(ApiError::BadRequest("A client must have at least 1 site.".into()));
        }
    }
    let custom_fields = values::validate(&db, FieldModel::Site, body.custom_fields.as_deref()).await?;
    let template = template_choice(&db, body.site.alert_template.as_ref()).await?;
    let changes = sites::SiteChanges {
        name: name.clone(),
        client: new_client,
        block_policy_inheritance: body.site.block_policy_inheritance,
    };
    let who = caller.identity.username();
    let tx = db.transaction().await?;
    let before = snapshot(&tx, site.id).await?;
    match sites::update(&tx, site.id, &changes, who).await {
        Err(e) if e.is_foreign_key_violation() => {
            return Err(ApiError::field("client", "Invalid pk - object does not exist."))
        }
        other => other.unique_as(not_unique)?,
    }
    if let Some(template) = template {
        sites::set_alert_template(&tx, site.id, template, who).await?;
    }
    values::write(&tx, Parent::Site(site.id), &custom_fields).await?;
    let after = snapshot(&tx, site.id).await?;
    let new_name = name.unwrap_or_else(|| site.name.clone());
    let message = format!("{who} modified site {new_name}");
    let change = Change::modify("site", message, before, after).at_site(new_client.unwrap_or(site.client), site.id);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{new_name} was updated")))
}

async fn delete(
    caller: ScopedSite<ManageSites>,
    req: HttpRequest,
    query: web::Query<MoveTo>,
) -> ApiResult<HttpResponse> {
    let site = &caller.target;
    let move_to = query.site()?;
    let mut db = caller.state.conn().await?;
    let tx = db.transaction().await?;
    let before = snapshot(&tx, site.id).await?;
    if sites::count_for_client(&tx, site.client).await? <= 1 {
        return Err(ApiError::BadRequest("A client must have at least 1 site.".into()));
    }
    if site.agent_count > 0 {
        let Some(target) = move_to else {
            return Err(ApiError::BadRequest(format!(
                "Unable to delete site {}: it has {} agent(s). Pass move_to_site to move them first.",
                site.name, site.agent_count
            )));
        };
        let target = in_scope::site(&tx, &caller.identity, target).await?;
        if target.id == site.id {
            return Err(ApiError::BadRequest(
                "Cannot move agents to the site being deleted".into(),
            ));
        }
        sites::move_agents(&tx, site.id, target.id).await?;
    }
    sites::delete(&tx, site.id).await?;
    let who = caller.identity.username();
    let message = format!("{who} deleted site {}", site.name);
    let change = Change::delete("site", message, before).at_site(site.client, site.id);
    audit::commit(tx, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(format!("{} was deleted", site.name)))
}
