//! Permission markers: one type per `can_*` flag of a role, used as `Authed<perms::ListAgents>`.

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
