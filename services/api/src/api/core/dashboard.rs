//! What the dashboard boots with and polls every few minutes (upstream core/views.py::version and
//! dashboard_info): `GET /core/version/` and `GET /core/dashinfo/`.

use actix_web::HttpResponse;
use serde_json::json;
use trmm_db::{core_settings, users};

use crate::api::routes::{self, Routes};
use crate::auth::perms::Authenticated;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult};
use crate::version::TRMM_VERSION;

pub(super) fn configure(cfg: &mut Routes) {
    cfg.route("/core/version/", routes::get().to(version))
        .route("/core/dashinfo/", routes::get().to(dashinfo));
}

/// The version as a bare JSON string; the dashboard asks "refresh the page" when it changes.
async fn version(_caller: Authed<Authenticated>) -> HttpResponse {
    HttpResponse::Ok().json(TRMM_VERSION)
}

/// The user's preferences and the server's switches. Features trmm-rs does not have (hosting, code signing,
/// the OpenAI integration, server scripts, the web terminal, SSO) are reported off, so the dashboard hides them.
async fn dashinfo(caller: Authed<Authenticated>) -> ApiResult<HttpResponse> {
    let db = caller.state.conn().await?;
    let prefs = users::ui_preferences(&db, caller.identity.user.id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if prefs.is_installer_user {
        // Upstream: notify_error("").
        return Err(ApiError::BadRequest(String::new()));
    }
    let default_date_format = core_settings::get(&db, false).await?.editable.date_format;
    Ok(HttpResponse::Ok().json(json!({
        "trmm_version": TRMM_VERSION,
        // Upstream asks GitHub for its latest release; trmm-rs does not, so the running version is the latest it knows.
        "latest_trmm_ver": TRMM_VERSION,
        "dark_mode": prefs.dark_mode,
        "show_community_scripts": prefs.show_community_scripts,
        "dbl_click_action": prefs.agent_dblclick_action,
        "default_agent_tbl_tab": prefs.default_agent_tbl_tab,
        "url_action": prefs.url_action,
        "client_tree_sort": prefs.client_tree_sort,
        "client_tree_splitter": prefs.client_tree_splitter,
        "loading_bar_color": prefs.loading_bar_color,
        "clear_search_when_switching": prefs.clear_search_when_switching,
        "hosted": false,
        "date_format": prefs.date_format,
        "default_date_format": default_date_format,
        "token_is_expired": false,
        "open_ai_integration_enabled": false,
        "dash_info_color": prefs.dash_info_color,
        "dash_positive_color": prefs.dash_positive_color,
        "dash_negative_color": prefs.dash_negative_color,
        "dash_warning_color": prefs.dash_warning_color,
        // Upstream's defaults (tacticalrmm/utils.py::runcmd_placeholder_text).
        "run_cmd_placeholder_text": {
            "cmd": "rmdir /S /Q C:\\Windows\\System32",
            "powershell": "Remove-Item -Recurse -Force C:\\Windows\\System32",
            "shell": "rm -rf --no-preserve-root /",
        },
        "server_scripts_enabled": false,
        "web_terminal_enabled": false,
        "block_local_user_logon": false,
        "sso_enabled": false,
    })))
}
