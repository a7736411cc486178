//! `POST /agents/installer/`: mints an expiring, site-bound installer token and returns the install command.

use actix_web::HttpResponse;
use chrono::Duration;
use serde::Deserialize;
use serde_json::{json, Value};
use trmm_db::installers::{self, NewInstaller};
use trmm_db::{ClientId, SiteId};

use crate::auth::perms::InstallAgents;
use crate::auth::{in_scope, Authed};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;
use crate::version::AGENT_VERSION;

/// Longest installer lifetime accepted, in hours (one year).
const MAX_EXPIRY_HOURS: i64 = 24 * 365;

#[derive(Deserialize)]
pub(super) struct InstallerRequest {
    #[serde(rename = "installMethod")]
    install_method: String,
    client: i32,
    site: i32,
    expires: i64,
    agenttype: String,
    #[serde(default = "default_plat")]
    plat: String,
    #[serde(default = "default_goarch")]
    goarch: String,
    api: Option<String>,
    #[serde(default)]
    rdp: Value,
    #[serde(default)]
    ping: Value,
    #[serde(default)]
    power: Value,
}

fn default_plat() -> String {
    "windows".into()
}

fn default_goarch() -> String {
    "amd64".into()
}

/// The dashboard sends these flags as 0/1 or as booleans.
fn flag(v: &Value) -> bool {
    v.as_bool().unwrap_or_else(|| v.as_i64().is_some_and(|n| n != 0))
}

fn choice(field: &str, value: &str, allowed: &[&str]) -> ApiResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::field(field, format!("\"{value}\" is not a valid choice.")))
    }
}

pub(super) async fn create(
    caller: Authed<InstallAgents>,
    Json(body): Json<InstallerRequest>,
) -> ApiResult<HttpResponse> {
    choice("agenttype", &body.agenttype, &["server", "workstation"])?;
    choice("plat", &body.plat, &["windows", "linux", "darwin"])?;
    choice("goarch", &body.goarch, &["amd64", "386", "arm64", "arm"])?;
    if !(1..=MAX_EXPIRY_HOURS).contains(&body.expires) {
        return Err(ApiError::field(
            "expires",
            format!("Expiry must be between 1 and {MAX_EXPIRY_HOURS} hours."),
        ));
    }
    let db = caller.state.conn().await?;
    let site = in_scope::site(&db, &caller.identity, SiteId(body.site)).await?;
    if site.client != ClientId(body.client) {
        return Err(ApiError::BadRequest("Site does not belong to that client".into()));
    }

    let token = trmm_auth::generate_token();
    let expiry = caller.state.now() + Duration::hours(body.expires);
    let new = NewInstaller {
        site: site.id,
        monitoring_type: &body.agenttype,
        plat: &body.plat,
        goarch: &body.goarch,
        created_by: caller.identity.username(),
        expiry,
    };
    installers::create(&db, &new, &trmm_auth::digest_token(&token)).await?;

    let settings = &caller.state.settings;
    let api = body
        .api
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or(&settings.public_url);
    let common = format!(
        "--api {api} --client-id {} --site-id {} --agent-type {} --auth {token}",
        body.client, body.site, body.agenttype
    );
    let mut extra = String::new();
    for (name, v) in [("--rdp", &body.rdp), ("--ping", &body.ping), ("--power", &body.power)] {
        if flag(v) {
            extra.push(' ');
            extra.push_str(name);
        }
    }
    let trmm_agent = format!("trmm-agent install {common} --nats-url {}", settings.agent_nats_url);
    match (body.install_method.as_str(), body.plat.as_str()) {
        ("manual", "windows") => {
            // TRMM agents/views.py::install_agent "manual": Inno setup, then tacticalrmm.exe -m install.
            let exe = format!("tacticalagent-v{AGENT_VERSION}-windows-{}.exe", body.goarch);
            let cmd = format!(
                "{exe} /VERYSILENT /SUPPRESSMSGBOXES && ping 127.0.0.1 -n 5 && \"C:\\Program Files\\TacticalAgent\\tacticalrmm.exe\" -m install {common}{extra} -nomesh"
            );
            let url = format!("https://github.com/amidaware/rmmagent/releases/download/v{AGENT_VERSION}/{exe}");
            Ok(HttpResponse::Ok().json(json!({ "cmd": cmd, "url": url, "expiry": expiry })))
        }
        ("manual", _) => Ok(HttpResponse::Ok().json(json!({
            "cmd": trmm_agent,
            "tactical_cmd": format!("sudo tacticalagent -m install {common} -nomesh"),
            "expiry": expiry,
        }))),
        ("bash", "linux") => {
            let script = format!(
                "#!/usr/bin/env bash\n# trmm-rs agent installer for {} / {}, valid until {expiry}\nset -euo pipefail\nexec {trmm_agent}\n",
                site.client_name, site.name
            );
            Ok(HttpResponse::Ok()
                .content_type("text/x-shellscript")
                .insert_header(("Content-Disposition", "attachment; filename=\"trmm-agent-install.sh\""))
                .body(script))
        }
        (method, plat) => Err(ApiError::BadRequest(format!(
            "Install method {method} is not supported for {plat}: use manual"
        ))),
    }
}
