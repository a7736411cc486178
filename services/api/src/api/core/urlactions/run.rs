//! Running URL actions: `PATCH /core/urlaction/run/` fills a web action's URL in for an agent, site or client for
//! the browser to open, and `POST /core/urlaction/run/test/` sends a rest action (a webhook) from the dashboard
//! (upstream core/views.py::RunURLAction, RunTestURLAction).

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};
use trmm_db::{ClientId, SiteId, UrlActionId};
use trmm_notify::webhook::{self, RestAction};
use trmm_ops::templates::Context;

use crate::api::audit::{self, Change};
use crate::api::form::{self, Form};
use crate::api::routes::{self, Routes};
use crate::auth::perms::RunUrlActions;
use crate::auth::{in_scope, Authed};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/core/urlaction/run/", routes::patch().to(run))
        .route("/core/urlaction/run/test/", routes::post().to(test));
}

/// The object an action runs for, checked against the caller's scope, with its template context and a name
/// for the audit log.
struct Target {
    kind: &'static str,
    name: String,
    agent: Option<(String, String)>,
    /// The client and site of a client or site target.
    place: Option<(ClientId, Option<SiteId>)>,
    context: Context,
}

impl Target {
    /// The audit row of an action run for this target.
    fn audit(&self, message: String) -> Change<'_> {
        let change = Change::action("url_action", self.kind, message);
        let change = match &self.agent {
            Some((hostname, agent_id)) => change.on_agent(hostname, agent_id),
            None => change,
        };
        Change {
            place: self.place,
            ..change
        }
    }
}

async fn target(caller: &Authed<RunUrlActions>, kind: &str, id: &Value) -> ApiResult<Target> {
    let db = caller.state.conn().await?;
    let who = &caller.identity;
    let number = || {
        id.as_i64()
            .or_else(|| id.as_str()?.parse().ok())
            .and_then(|n| i32::try_from(n).ok())
    };
    match kind {
        "agent" => {
            let agent = in_scope::agent(&db, who, id.as_str().unwrap_or_default()).await?;
            let context = Context::load(&db, &agent).await?;
            let name = agent.hostname.clone();
            Ok(Target {
                kind: "agent",
                name,
                agent: Some((agent.hostname, agent.agent_id)),
                place: None,
                context,
            })
        }
        "site" => {
            let site = in_scope::site(&db, who, SiteId(number().ok_or(ApiError::NotFound)?)).await?;
            let context = Context::load_site(&db, site.id).await?.ok_or(ApiError::NotFound)?;
            Ok(Target {
                kind: "site",
                name: site.name,
                agent: None,
                place: Some((site.client, Some(site.id))),
                context,
            })
        }
        _ => {
            let client = in_scope::client(who, ClientId(number().ok_or(ApiError::NotFound)?))?;
            let context = Context::load_client(&db, client).await?.ok_or(ApiError::NotFound)?;
            let name = context.expand_text("{{client.name}}");
            Ok(Target {
                kind: "client",
                name,
                agent: None,
                place: Some((client, None)),
                context,
            })
        }
    }
}

/// Which of `agent_id`, `site`, `client` the body names (upstream checks them in this order).
fn instance(map: &Map<String, Value>) -> ApiResult<(&'static str, &Value)> {
    [("agent_id", "agent"), ("site", "site"), ("client", "client")]
        .into_iter()
        .find_map(|(key, kind)| map.get(key).map(|v| (kind, v)))
        .ok_or_else(|| ApiError::BadRequest("received an incorrect request".into()))
}

async fn run(caller: Authed<RunUrlActions>, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let map = form::object(&body)?;
    let (kind, id) = instance(map)?;
    let target = target(&caller, kind, id).await?;
    let action_id = map
        .get("action")
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok());
    let db = caller.state.conn().await?;
    let action = match action_id {
        Some(id) => trmm_db::url_actions::get(&db, UrlActionId(id)).await?,
        None => None,
    }
    .ok_or(ApiError::NotFound)?;
    let url = requote(&target.context.expand_text(&action.pattern));
    let who = caller.identity.username();
    let message = format!(
        "{who} ran url action: {} on {} {}",
        action.pattern, target.kind, target.name
    );
    let change = target.audit(message);
    audit::record(&db, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(url))
}

async fn test(caller: Authed<RunUrlActions>, req: HttpRequest, Json(body): Json<Value>) -> ApiResult<HttpResponse> {
    let mut f = Form::new(form::object(&body)?);
    f.require("pattern");
    f.require("rest_method");
    let pattern = f.string("pattern", usize::MAX, false);
    let method = f.choice("rest_method", &webhook::METHODS);
    let rest_body = f
        .text("rest_body", usize::MAX, true, true)
        .flatten()
        .unwrap_or_default();
    let headers = f
        .text("rest_headers", usize::MAX, true, true)
        .flatten()
        .unwrap_or_default();
    let kind = f.choice("run_instance_type", &["agent", "client", "site", "none"]);
    f.finish().map_err(|e| ApiError::Invalid(Value::Object(e)))?;
    let (Some(pattern), Some(method)) = (pattern, method) else {
        return Err(ApiError::Internal("validated url action test lacks a field".into()));
    };
    let id = body.get("run_instance_id").cloned().unwrap_or(Value::Null);
    // Upstream expands nothing without an instance.
    let target = match kind.as_deref() {
        Some(kind @ ("agent" | "client" | "site")) if !id.is_null() => Some(target(&caller, kind, &id).await?),
        _ => None,
    };
    let action = RestAction {
        pattern: &pattern,
        method: &method,
        body: &rest_body,
        headers: &headers,
    };
    let request = webhook::prepare(action, |text| match &target {
        Some(t) => t.context.expand_text(text),
        None => text.to_owned(),
    })
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let result = match webhook::send(caller.state.notifier.http(), &request).await {
        Ok(answer) => answer.text,
        Err(e) => e.to_string(),
    };
    let who = caller.identity.username();
    let message = format!("{who} tested url action: {pattern}");
    let change = match &target {
        Some(t) => t.audit(message),
        None => Change::action("url_action", "urlaction", message),
    };
    let db = caller.state.conn().await?;
    audit::record(&db, &caller.state, &req, &caller.identity, change).await?;
    Ok(HttpResponse::Ok().json(json!({"url": request.url.as_str(), "result": result, "body": request.body})))
}

/// Percent-encodes what may not appear in a URL as is (upstream `requests.utils.requote_uri`), leaving
/// existing escapes alone.
fn requote(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_ascii_graphic() && !matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}') {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn requote_encodes_only_unsafe_characters() {
        assert_eq!(
            super::requote("https://x/a b?q=é&r=%20"),
            "https://x/a%20b?q=%C3%A9&r=%20"
        );
    }
}
