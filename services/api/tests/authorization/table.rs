//! One row per route: method, path (parameters without their regex), who may call it, and which client-scoped
//! object its `{pk}` or `{agent_id}` names. Permissions as server-api.md section 3 gives them.

/// Who may call a route.
#[derive(Clone, Copy)]
pub enum Access {
    /// Anyone.
    Public,
    /// Any dashboard session, no flag needed.
    Session,
    /// Only an agent's token.
    AgentToken,
    /// Only an installer token.
    InstallerToken,
    /// Only the monitoring token in `X-Mon-Token` (tests/dashboard_boot.rs has the token's cases).
    MonitoringToken,
    /// A dashboard user whose role holds this flag.
    Flag(&'static str),
}

/// The client-scoped object a route's path parameter names.
#[derive(Clone, Copy)]
pub enum Obj {
    /// None (global objects or no parameter).
    Global,
    Agent,
    Client,
    Site,
    Check,
    /// A check result (`/checks/<pk>/reset/` and `history/` take its id).
    Result,
    Alert,
    Note,
    Pending,
}

pub struct Row(pub &'static str, pub &'static str, pub Access, pub Obj);

use Access::*;
use Obj::*;

const fn row(method: &'static str, path: &'static str, access: Access, obj: Obj) -> Row {
    Row(method, path, access, obj)
}

const fn flag(method: &'static str, path: &'static str, flag: &'static str, obj: Obj) -> Row {
    Row(method, path, Flag(flag), obj)
}

pub const ROUTES: &[Row] = &[
    row("GET", "/", Public, Global),
    row("POST", "/v2/checkcreds/", Public, Global),
    row("POST", "/v2/login/", Public, Global),
    row("POST", "/logout/", Session, Global),
    row("POST", "/accounts/users/setup_totp/", Session, Global),
    // accounts
    flag("GET", "/accounts/users/", "can_list_accounts", Global),
    flag("POST", "/accounts/users/", "can_manage_accounts", Global),
    flag("GET", "/accounts/{pk}/users/", "can_list_accounts", Global),
    flag("PUT", "/accounts/{pk}/users/", "can_manage_accounts", Global),
    flag("DELETE", "/accounts/{pk}/users/", "can_manage_accounts", Global),
    flag("POST", "/accounts/users/reset/", "can_manage_accounts", Global),
    flag("PUT", "/accounts/users/reset/", "can_manage_accounts", Global),
    flag("POST", "/accounts/users/reset_totp/", "can_manage_accounts", Global),
    flag("PUT", "/accounts/users/reset_totp/", "can_manage_accounts", Global),
    row("PATCH", "/accounts/users/ui/", Session, Global),
    row("PUT", "/accounts/resetpw/", Session, Global),
    row("PUT", "/accounts/reset2fa/", Session, Global),
    flag("GET", "/accounts/users/{pk}/sessions/", "can_list_accounts", Global),
    flag(
        "DELETE",
        "/accounts/users/{pk}/sessions/",
        "can_manage_accounts",
        Global,
    ),
    flag("DELETE", "/accounts/sessions/{digest}/", "can_manage_accounts", Global),
    flag("GET", "/accounts/roles/", "can_list_roles", Global),
    flag("POST", "/accounts/roles/", "can_manage_roles", Global),
    flag("GET", "/accounts/roles/{pk}/", "can_list_roles", Global),
    flag("PUT", "/accounts/roles/{pk}/", "can_manage_roles", Global),
    flag("DELETE", "/accounts/roles/{pk}/", "can_manage_roles", Global),
    flag("GET", "/accounts/apikeys/", "can_list_api_keys", Global),
    flag("POST", "/accounts/apikeys/", "can_manage_api_keys", Global),
    flag("PUT", "/accounts/apikeys/{pk}/", "can_manage_api_keys", Global),
    flag("DELETE", "/accounts/apikeys/{pk}/", "can_manage_api_keys", Global),
    // agents
    flag("GET", "/agents/", "can_list_agents", Global),
    flag("POST", "/agents/installer/", "can_install_agents", Global),
    flag("POST", "/agents/actions/bulk/", "can_run_bulk", Global),
    flag("GET", "/agents/history/", "can_list_agent_history", Global),
    flag("GET", "/agents/scripthistory/", "can_list_agent_history", Global),
    flag("GET", "/agents/notes/", "can_list_notes", Global),
    flag("POST", "/agents/notes/", "can_manage_notes", Global),
    flag("GET", "/agents/notes/{pk}/", "can_list_notes", Note),
    flag("PUT", "/agents/notes/{pk}/", "can_manage_notes", Note),
    flag("DELETE", "/agents/notes/{pk}/", "can_manage_notes", Note),
    flag("GET", "/agents/{agent_id}/", "can_list_agents", Agent),
    flag("PUT", "/agents/{agent_id}/", "can_edit_agent", Agent),
    flag("DELETE", "/agents/{agent_id}/", "can_uninstall_agents", Agent),
    flag("GET", "/agents/{agent_id}/checks/", "can_list_checks", Agent),
    flag("POST", "/agents/{agent_id}/cmd/", "can_send_cmd", Agent),
    flag("GET", "/agents/{agent_id}/history/", "can_list_agent_history", Agent),
    flag("GET", "/agents/{agent_id}/notes/", "can_list_notes", Agent),
    flag(
        "GET",
        "/agents/{agent_id}/pendingactions/",
        "can_list_pendingactions",
        Agent,
    ),
    flag("GET", "/agents/{agent_id}/ping/", "can_list_agents", Agent),
    flag("GET", "/agents/{agent_id}/processes/", "can_manage_procs", Agent),
    flag(
        "DELETE",
        "/agents/{agent_id}/processes/{pid}/",
        "can_manage_procs",
        Agent,
    ),
    flag("POST", "/agents/{agent_id}/reboot/", "can_reboot_agents", Agent),
    flag("POST", "/agents/{agent_id}/shutdown/", "can_reboot_agents", Agent),
    flag("POST", "/agents/{agent_id}/recover/", "can_recover_agents", Agent),
    flag("POST", "/agents/{agent_id}/runscript/", "can_run_scripts", Agent),
    flag("POST", "/agents/{agent_id}/wmi/", "can_edit_agent", Agent),
    // alerts
    flag("PATCH", "/alerts/", "can_list_alerts", Global),
    flag("POST", "/alerts/bulk/", "can_manage_alerts", Global),
    flag("GET", "/alerts/{pk}/", "can_list_alerts", Alert),
    flag("PUT", "/alerts/{pk}/", "can_manage_alerts", Alert),
    flag("DELETE", "/alerts/{pk}/", "can_manage_alerts", Alert),
    flag("GET", "/alerts/templates/", "can_list_alerttemplates", Global),
    flag("POST", "/alerts/templates/", "can_manage_alerttemplates", Global),
    flag("GET", "/alerts/templates/{pk}/", "can_list_alerttemplates", Global),
    flag("PUT", "/alerts/templates/{pk}/", "can_manage_alerttemplates", Global),
    flag("DELETE", "/alerts/templates/{pk}/", "can_manage_alerttemplates", Global),
    flag(
        "GET",
        "/alerts/templates/{pk}/related/",
        "can_list_alerttemplates",
        Global,
    ),
    // agent API
    row("GET", "/api/v3/installer/", InstallerToken, Global),
    row("POST", "/api/v3/installer/", InstallerToken, Global),
    row("POST", "/api/v3/newagent/", InstallerToken, Global),
    row("POST", "/api/v3/checkin/", AgentToken, Global),
    row("PATCH", "/api/v3/checkrunner/", AgentToken, Global),
    row("POST", "/api/v3/software/", AgentToken, Global),
    row("POST", "/api/v3/syncmesh/", AgentToken, Global),
    row("GET", "/api/v3/{agentid}/checkinterval/", AgentToken, Global),
    row("GET", "/api/v3/{agentid}/checkrunner/", AgentToken, Global),
    row("GET", "/api/v3/{agentid}/config/", AgentToken, Global),
    row("GET", "/api/v3/{agentid}/runchecks/", AgentToken, Global),
    row("PATCH", "/api/v3/{histpk}/{agentid}/histresult/", AgentToken, Global),
    // checks
    flag("GET", "/checks/", "can_list_checks", Global),
    flag("POST", "/checks/", "can_manage_checks", Global),
    flag("GET", "/checks/{pk}/", "can_list_checks", Check),
    flag("PUT", "/checks/{pk}/", "can_manage_checks", Check),
    flag("DELETE", "/checks/{pk}/", "can_manage_checks", Check),
    flag("POST", "/checks/{pk}/reset/", "can_manage_checks", Result),
    flag("PATCH", "/checks/{pk}/history/", "can_list_checks", Result),
    flag("POST", "/checks/{agent_id}/resetall/", "can_manage_checks", Agent),
    flag("POST", "/checks/{agent_id}/run/", "can_run_checks", Agent),
    flag("POST", "/checks/{target}/{pk}/csbulkrun/", "can_run_checks", Client),
    // clients
    flag("GET", "/clients/", "can_list_clients", Global),
    flag("POST", "/clients/", "can_manage_clients", Global),
    flag("GET", "/clients/{pk}/", "can_list_clients", Client),
    flag("PUT", "/clients/{pk}/", "can_manage_clients", Client),
    flag("DELETE", "/clients/{pk}/", "can_manage_clients", Client),
    flag("GET", "/clients/sites/", "can_list_sites", Global),
    flag("POST", "/clients/sites/", "can_manage_sites", Global),
    flag("GET", "/clients/sites/{pk}/", "can_list_sites", Site),
    flag("PUT", "/clients/sites/{pk}/", "can_manage_sites", Site),
    flag("DELETE", "/clients/sites/{pk}/", "can_manage_sites", Site),
    // core
    row("GET", "/core/version/", Session, Global),
    row("GET", "/core/dashinfo/", Session, Global),
    row("GET", "/core/v2/status/", MonitoringToken, Global),
    flag("GET", "/core/customfields/", "can_view_customfields", Global),
    flag("PATCH", "/core/customfields/", "can_view_customfields", Global),
    flag("POST", "/core/customfields/", "can_manage_customfields", Global),
    flag("GET", "/core/customfields/{pk}/", "can_view_customfields", Global),
    flag("PUT", "/core/customfields/{pk}/", "can_manage_customfields", Global),
    flag("DELETE", "/core/customfields/{pk}/", "can_manage_customfields", Global),
    flag("GET", "/core/keystore/", "can_view_global_keystore", Global),
    flag("POST", "/core/keystore/", "can_edit_global_keystore", Global),
    flag("PUT", "/core/keystore/{pk}/", "can_edit_global_keystore", Global),
    flag("DELETE", "/core/keystore/{pk}/", "can_edit_global_keystore", Global),
    flag("GET", "/core/settings/", "can_view_core_settings", Global),
    flag("PUT", "/core/settings/", "can_edit_core_settings", Global),
    flag("POST", "/core/emailtest/", "can_edit_core_settings", Global),
    flag("POST", "/core/smstest/", "can_edit_core_settings", Global),
    flag("GET", "/core/urlaction/", "can_run_urlactions", Global),
    flag("POST", "/core/urlaction/", "can_edit_core_settings", Global),
    flag("PUT", "/core/urlaction/{pk}/", "can_edit_core_settings", Global),
    flag("DELETE", "/core/urlaction/{pk}/", "can_edit_core_settings", Global),
    flag("PATCH", "/core/urlaction/run/", "can_run_urlactions", Global),
    flag("POST", "/core/urlaction/run/test/", "can_run_urlactions", Global),
    // logs
    flag("PATCH", "/logs/audit/", "can_view_auditlogs", Global),
    flag("PATCH", "/logs/debug/", "can_view_debuglogs", Global),
    flag("GET", "/logs/pendingactions/", "can_list_pendingactions", Global),
    flag(
        "DELETE",
        "/logs/pendingactions/{pk}/",
        "can_manage_pendingactions",
        Pending,
    ),
    // scripts
    flag("GET", "/scripts/", "can_list_scripts", Global),
    flag("POST", "/scripts/", "can_manage_scripts", Global),
    flag("GET", "/scripts/{pk}/", "can_list_scripts", Global),
    flag("PUT", "/scripts/{pk}/", "can_manage_scripts", Global),
    flag("DELETE", "/scripts/{pk}/", "can_manage_scripts", Global),
    flag("GET", "/scripts/{pk}/download/", "can_list_scripts", Global),
    flag("GET", "/scripts/export/", "can_list_scripts", Global),
    flag("POST", "/scripts/import/", "can_manage_scripts", Global),
    flag("GET", "/scripts/snippets/", "can_list_scripts", Global),
    flag("POST", "/scripts/snippets/", "can_manage_scripts", Global),
    flag("GET", "/scripts/snippets/{pk}/", "can_list_scripts", Global),
    flag("PUT", "/scripts/snippets/{pk}/", "can_manage_scripts", Global),
    flag("DELETE", "/scripts/snippets/{pk}/", "can_manage_scripts", Global),
    flag("POST", "/scripts/{agent_id}/test/", "can_run_scripts", Agent),
    // services and software
    flag("GET", "/services/{agent_id}/", "can_manage_winsvcs", Agent),
    flag("GET", "/services/{agent_id}/{svcname}/", "can_manage_winsvcs", Agent),
    flag("POST", "/services/{agent_id}/{svcname}/", "can_manage_winsvcs", Agent),
    flag("GET", "/software/", "can_list_software", Global),
    flag("GET", "/software/{agent_id}/", "can_list_software", Agent),
    flag("PUT", "/software/{agent_id}/", "can_manage_software", Agent),
];
