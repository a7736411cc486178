//! Permission markers: one type per `can_*` flag of a role, used as `Authed<perms::ListAgents>` in trmm-api and
//! `authorize::<perms::SendCmd>` in trmm-websocket.

/// A permission a handler requires.
pub trait Permission: 'static {
    /// The role flag that grants it; `None` means any authenticated user.
    const FLAG: Option<&'static str>;
}

/// Any user with a full (2FA-completed) session.
pub struct Authenticated;

impl Permission for Authenticated {
    const FLAG: Option<&'static str> = None;
}

macro_rules! permissions {
    ($($(#[$doc:meta])* $name:ident => $flag:literal),* $(,)?) => {$(
        $(#[$doc])*
        pub struct $name;
        impl Permission for $name {
            const FLAG: Option<&'static str> = Some($flag);
        }
    )*};
}

permissions!(
    /// See the agent table and agent details.
    ListAgents => "can_list_agents",
    /// Edit agent settings.
    EditAgent => "can_edit_agent",
    /// Delete (uninstall) agents.
    UninstallAgents => "can_uninstall_agents",
    /// Run shell commands on agents.
    SendCmd => "can_send_cmd",
    /// List and kill agent processes.
    ManageProcs => "can_manage_procs",
    /// Reboot and shut down agents.
    RebootAgents => "can_reboot_agents",
    /// Recover agents.
    RecoverAgents => "can_recover_agents",
    /// Generate installers.
    InstallAgents => "can_install_agents",
    /// See clients.
    ListClients => "can_list_clients",
    /// Create, edit and delete clients.
    ManageClients => "can_manage_clients",
    /// See sites.
    ListSites => "can_list_sites",
    /// Create, edit and delete sites.
    ManageSites => "can_manage_sites",
);

permissions!(
    /// Run library scripts and test unsaved code on agents.
    RunScripts => "can_run_scripts",
    /// Run scripts on the server (and set alert templates whose actions would).
    RunServerScripts => "can_run_server_scripts",
    /// See agent history and script-run history.
    ListAgentHistory => "can_list_agent_history",
    /// See agent notes.
    ListNotes => "can_list_notes",
    /// Add, edit and delete agent notes.
    ManageNotes => "can_manage_notes",
);

permissions!(
    /// See the script library and snippets; download and export scripts.
    ListScripts => "can_list_scripts",
    /// Add, edit, delete and import scripts and snippets.
    ManageScripts => "can_manage_scripts",
    /// See custom field definitions.
    ViewCustomFields => "can_view_customfields",
    /// Add, edit and delete custom field definitions.
    ManageCustomFields => "can_manage_customfields",
    /// See the global key store.
    ViewGlobalKeystore => "can_view_global_keystore",
    /// Add, edit and delete global key store entries.
    EditGlobalKeystore => "can_edit_global_keystore",
);

permissions!(
    /// Run bulk commands and scripts.
    RunBulk => "can_run_bulk",
    /// See pending actions.
    ListPendingActions => "can_list_pendingactions",
    /// Cancel pending actions.
    ManagePendingActions => "can_manage_pendingactions",
);

permissions!(
    /// See installed software.
    ListSoftware => "can_list_software",
    /// Refresh (and install) software.
    ManageSoftware => "can_manage_software",
    /// List, inspect and start/stop/restart services.
    ManageWinSvcs => "can_manage_winsvcs",
);

permissions!(
    /// See checks and their history.
    ListChecks => "can_list_checks",
    /// Add, edit, delete and reset checks.
    ManageChecks => "can_manage_checks",
    /// Run checks now.
    RunChecks => "can_run_checks",
    /// See alerts.
    ListAlerts => "can_list_alerts",
    /// Resolve, snooze and delete alerts.
    ManageAlerts => "can_manage_alerts",
    /// See alert templates.
    ListAlertTemplates => "can_list_alerttemplates",
    /// Add, edit and delete alert templates.
    ManageAlertTemplates => "can_manage_alerttemplates",
);

permissions!(
    /// See the global settings.
    ViewCoreSettings => "can_view_core_settings",
    /// Change the global settings, send test mail and SMS, and manage URL actions.
    EditCoreSettings => "can_edit_core_settings",
    /// List and run URL actions.
    RunUrlActions => "can_run_urlactions",
);

permissions!(
    /// See dashboard users and their sessions.
    ListAccounts => "can_list_accounts",
    /// Add, edit and delete users, reset their passwords and 2FA, and end their sessions.
    ManageAccounts => "can_manage_accounts",
    /// See roles.
    ListRoles => "can_list_roles",
    /// Add, edit and delete roles.
    ManageRoles => "can_manage_roles",
    /// See API keys (their names, users and prefixes; never the keys).
    ListApiKeys => "can_list_api_keys",
    /// Create, edit and delete API keys.
    ManageApiKeys => "can_manage_api_keys",
);

permissions!(
    /// Read the audit log.
    ViewAuditLogs => "can_view_auditlogs",
    /// Read the debug log.
    ViewDebugLogs => "can_view_debuglogs",
);
