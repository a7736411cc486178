-- Initial schema: accounts, clients and sites, agents and their tokens, installers, core settings, logs.
-- Column names follow Tactical RMM's models (../shared/reference/server-api.md section 1) so the JSON maps 1:1.

CREATE TABLE roles (
    id serial PRIMARY KEY,
    name varchar(255) NOT NULL UNIQUE,
    is_superuser boolean NOT NULL DEFAULT false,
    can_list_agents boolean NOT NULL DEFAULT false,
    can_use_mesh boolean NOT NULL DEFAULT false,
    can_uninstall_agents boolean NOT NULL DEFAULT false,
    can_update_agents boolean NOT NULL DEFAULT false,
    can_edit_agent boolean NOT NULL DEFAULT false,
    can_manage_procs boolean NOT NULL DEFAULT false,
    can_view_eventlogs boolean NOT NULL DEFAULT false,
    can_send_cmd boolean NOT NULL DEFAULT false,
    can_reboot_agents boolean NOT NULL DEFAULT false,
    can_install_agents boolean NOT NULL DEFAULT false,
    can_run_scripts boolean NOT NULL DEFAULT false,
    can_run_bulk boolean NOT NULL DEFAULT false,
    can_recover_agents boolean NOT NULL DEFAULT false,
    can_list_agent_history boolean NOT NULL DEFAULT false,
    can_send_wol boolean NOT NULL DEFAULT false,
    can_use_registry boolean NOT NULL DEFAULT false,
    can_use_terminal boolean NOT NULL DEFAULT false,
    can_list_notes boolean NOT NULL DEFAULT false,
    can_manage_notes boolean NOT NULL DEFAULT false,
    can_view_core_settings boolean NOT NULL DEFAULT false,
    can_edit_core_settings boolean NOT NULL DEFAULT false,
    can_do_server_maint boolean NOT NULL DEFAULT false,
    can_code_sign boolean NOT NULL DEFAULT false,
    can_run_urlactions boolean NOT NULL DEFAULT false,
    can_view_customfields boolean NOT NULL DEFAULT false,
    can_manage_customfields boolean NOT NULL DEFAULT false,
    can_run_server_scripts boolean NOT NULL DEFAULT false,
    can_use_webterm boolean NOT NULL DEFAULT false,
    can_view_global_keystore boolean NOT NULL DEFAULT false,
    can_edit_global_keystore boolean NOT NULL DEFAULT false,
    can_view_schedules boolean NOT NULL DEFAULT false,
    can_manage_schedules boolean NOT NULL DEFAULT false,
    can_list_checks boolean NOT NULL DEFAULT false,
    can_manage_checks boolean NOT NULL DEFAULT false,
    can_run_checks boolean NOT NULL DEFAULT false,
    can_list_clients boolean NOT NULL DEFAULT false,
    can_manage_clients boolean NOT NULL DEFAULT false,
    can_list_sites boolean NOT NULL DEFAULT false,
    can_manage_sites boolean NOT NULL DEFAULT false,
    can_list_deployments boolean NOT NULL DEFAULT false,
    can_manage_deployments boolean NOT NULL DEFAULT false,
    can_list_automation_policies boolean NOT NULL DEFAULT false,
    can_manage_automation_policies boolean NOT NULL DEFAULT false,
    can_list_autotasks boolean NOT NULL DEFAULT false,
    can_manage_autotasks boolean NOT NULL DEFAULT false,
    can_run_autotasks boolean NOT NULL DEFAULT false,
    can_view_auditlogs boolean NOT NULL DEFAULT false,
    can_list_pendingactions boolean NOT NULL DEFAULT false,
    can_manage_pendingactions boolean NOT NULL DEFAULT false,
    can_view_debuglogs boolean NOT NULL DEFAULT false,
    can_list_scripts boolean NOT NULL DEFAULT false,
    can_manage_scripts boolean NOT NULL DEFAULT false,
    can_list_alerts boolean NOT NULL DEFAULT false,
    can_manage_alerts boolean NOT NULL DEFAULT false,
    can_list_alerttemplates boolean NOT NULL DEFAULT false,
    can_manage_alerttemplates boolean NOT NULL DEFAULT false,
    can_manage_winsvcs boolean NOT NULL DEFAULT false,
    can_list_software boolean NOT NULL DEFAULT false,
    can_manage_software boolean NOT NULL DEFAULT false,
    can_manage_winupdates boolean NOT NULL DEFAULT false,
    can_list_accounts boolean NOT NULL DEFAULT false,
    can_manage_accounts boolean NOT NULL DEFAULT false,
    can_list_roles boolean NOT NULL DEFAULT false,
    can_manage_roles boolean NOT NULL DEFAULT false,
    can_list_api_keys boolean NOT NULL DEFAULT false,
    can_manage_api_keys boolean NOT NULL DEFAULT false,
    can_view_reports boolean NOT NULL DEFAULT false,
    can_manage_reports boolean NOT NULL DEFAULT false,
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id serial PRIMARY KEY,
    username varchar(150) NOT NULL UNIQUE,
    password_hash text NOT NULL,
    email varchar(254) NOT NULL DEFAULT '',
    first_name varchar(150) NOT NULL DEFAULT '',
    last_name varchar(150) NOT NULL DEFAULT '',
    is_active boolean NOT NULL DEFAULT true,
    is_staff boolean NOT NULL DEFAULT false,
    is_superuser boolean NOT NULL DEFAULT false,
    last_login timestamptz,
    date_joined timestamptz NOT NULL DEFAULT now(),
    block_dashboard_login boolean NOT NULL DEFAULT false,
    totp_key varchar(50),
    is_installer_user boolean NOT NULL DEFAULT false,
    last_login_ip inet,
    role_id integer REFERENCES roles (id) ON DELETE SET NULL,
    dark_mode boolean NOT NULL DEFAULT true,
    show_community_scripts boolean NOT NULL DEFAULT true,
    agent_dblclick_action varchar(50) NOT NULL DEFAULT 'editagent',
    default_agent_tbl_tab varchar(50) NOT NULL DEFAULT 'server',
    client_tree_sort varchar(50) NOT NULL DEFAULT 'alphafail',
    client_tree_splitter smallint NOT NULL DEFAULT 11,
    loading_bar_color varchar(255) NOT NULL DEFAULT 'red',
    dash_info_color varchar(255) NOT NULL DEFAULT 'info',
    dash_positive_color varchar(255) NOT NULL DEFAULT 'positive',
    dash_negative_color varchar(255) NOT NULL DEFAULT 'negative',
    dash_warning_color varchar(255) NOT NULL DEFAULT 'warning',
    clear_search_when_switching boolean NOT NULL DEFAULT true,
    date_format varchar(30),
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now()
);

-- Dashboard sessions (knox AuthToken). Only the SHA-256 digest of the token is stored.
-- `scope` = 'full' for normal sessions, 'totp_setup' for the short token a user without 2FA gets.
CREATE TABLE auth_tokens (
    digest bytea PRIMARY KEY,
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope varchar(20) NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'totp_setup')),
    created timestamptz NOT NULL DEFAULT now(),
    expiry timestamptz NOT NULL
);
CREATE INDEX auth_tokens_user_id ON auth_tokens (user_id);

-- X-API-KEY keys; upstream stores them in plaintext, we keep only the digest and a short prefix to show.
CREATE TABLE api_keys (
    id serial PRIMARY KEY,
    name varchar(25) NOT NULL UNIQUE,
    key_digest bytea NOT NULL UNIQUE,
    key_prefix varchar(8) NOT NULL,
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expiration timestamptz,
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE clients (
    id serial PRIMARY KEY,
    name varchar(255) NOT NULL UNIQUE,
    block_policy_inheritance boolean NOT NULL DEFAULT false,
    failing_checks jsonb NOT NULL DEFAULT '{"error": false, "warning": false}',
    workstation_policy_id integer,
    server_policy_id integer,
    alert_template_id integer,
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sites (
    id serial PRIMARY KEY,
    client_id integer NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    name varchar(255) NOT NULL,
    block_policy_inheritance boolean NOT NULL DEFAULT false,
    failing_checks jsonb NOT NULL DEFAULT '{"error": false, "warning": false}',
    workstation_policy_id integer,
    server_policy_id integer,
    alert_template_id integer,
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, name)
);
CREATE INDEX sites_client_id ON sites (client_id);

-- Per-role scoping (Role.can_view_clients / can_view_sites M2Ms).
CREATE TABLE role_clients (
    role_id integer NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    client_id integer NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, client_id)
);
CREATE TABLE role_sites (
    role_id integer NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    site_id integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, site_id)
);

CREATE TABLE agents (
    id serial PRIMARY KEY,
    agent_id varchar(200) NOT NULL UNIQUE,
    hostname varchar(255) NOT NULL DEFAULT '',
    plat varchar(255) NOT NULL DEFAULT 'windows',
    goarch varchar(255),
    version varchar(255) NOT NULL DEFAULT '0.1.0',
    operating_system varchar(255),
    description varchar(255),
    mesh_node_id varchar(255),
    last_seen timestamptz,
    public_ip varchar(255),
    total_ram integer,
    boot_time double precision,
    logged_in_username varchar(255),
    last_logged_in_user varchar(255),
    needs_reboot boolean NOT NULL DEFAULT false,
    disks jsonb,
    services jsonb,
    wmi_detail jsonb,
    monitoring_type varchar(30) NOT NULL DEFAULT 'server' CHECK (monitoring_type IN ('server', 'workstation')),
    offline_time integer NOT NULL DEFAULT 4 CHECK (offline_time > 0),
    overdue_time integer NOT NULL DEFAULT 30 CHECK (overdue_time > 0),
    check_interval integer NOT NULL DEFAULT 120 CHECK (check_interval > 0),
    overdue_email_alert boolean NOT NULL DEFAULT false,
    overdue_text_alert boolean NOT NULL DEFAULT false,
    overdue_dashboard_alert boolean NOT NULL DEFAULT false,
    maintenance_mode boolean NOT NULL DEFAULT false,
    block_policy_inheritance boolean NOT NULL DEFAULT false,
    time_zone varchar(255),
    choco_installed boolean NOT NULL DEFAULT false,
    patches_last_installed timestamptz,
    default_shell varchar(30) NOT NULL DEFAULT 'use_global',
    default_shell_custom varchar(512),
    site_id integer NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
    policy_id integer,
    alert_template_id integer,
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agents_site_id ON agents (site_id);
CREATE INDEX agents_monitoring_type ON agents (monitoring_type);
-- The paged agent table sorts by hostname by default.
CREATE INDEX agents_hostname ON agents (hostname, id);

-- One static token per agent (DRF authtoken). The digest is what the NATS auth callout compares too.
CREATE TABLE agent_tokens (
    agent_pk integer PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    digest bytea NOT NULL UNIQUE,
    created timestamptz NOT NULL DEFAULT now()
);

-- Expiring installer tokens (upstream: knox tokens of the installer user). They open only /api/v3 install endpoints.
CREATE TABLE installer_tokens (
    id serial PRIMARY KEY,
    digest bytea NOT NULL UNIQUE,
    site_id integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    monitoring_type varchar(30) NOT NULL CHECK (monitoring_type IN ('server', 'workstation')),
    plat varchar(30) NOT NULL,
    goarch varchar(30) NOT NULL,
    created_by varchar(255),
    created timestamptz NOT NULL DEFAULT now(),
    expiry timestamptz NOT NULL
);

CREATE TABLE installed_software (
    agent_pk integer PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    software jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE agent_history (
    id bigserial PRIMARY KEY,
    agent_pk integer NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    time timestamptz NOT NULL DEFAULT now(),
    type varchar(50) NOT NULL DEFAULT 'cmd_run' CHECK (type IN ('task_run', 'script_run', 'cmd_run')),
    command text,
    username varchar(255) NOT NULL DEFAULT 'system',
    results text,
    script_results jsonb,
    collector_all_output boolean NOT NULL DEFAULT false,
    save_to_agent_note boolean NOT NULL DEFAULT false,
    script_id integer,
    custom_field_id integer
);
CREATE INDEX agent_history_agent_pk ON agent_history (agent_pk, time DESC);

CREATE TABLE pending_actions (
    id bigserial PRIMARY KEY,
    agent_pk integer NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    entry_time timestamptz NOT NULL DEFAULT now(),
    action_type varchar(255) NOT NULL,
    status varchar(255) NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed')),
    details jsonb
);
CREATE INDEX pending_actions_agent_pending ON pending_actions (agent_pk) WHERE status = 'pending';

CREATE TABLE audit_logs (
    id bigserial PRIMARY KEY,
    username varchar(255) NOT NULL,
    agent varchar(255),
    agent_id varchar(255),
    entry_time timestamptz NOT NULL DEFAULT now(),
    action varchar(100) NOT NULL,
    object_type varchar(100) NOT NULL,
    before_value jsonb,
    after_value jsonb,
    message varchar(255),
    debug_info jsonb
);
CREATE INDEX audit_logs_entry_time ON audit_logs (entry_time DESC);

-- Singleton (id is always 1). Secret fields are write-only through the API.
CREATE TABLE core_settings (
    id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    email_alert_recipients text[] NOT NULL DEFAULT '{}',
    smtp_from_email varchar(255) NOT NULL DEFAULT 'from@example.com',
    smtp_from_name varchar(255),
    smtp_host varchar(255) NOT NULL DEFAULT 'smtp.gmail.com',
    smtp_host_user varchar(255) NOT NULL DEFAULT 'admin@example.com',
    smtp_host_password text NOT NULL DEFAULT '',
    smtp_port integer NOT NULL DEFAULT 587,
    smtp_requires_auth boolean NOT NULL DEFAULT true,
    sms_alert_recipients text[] NOT NULL DEFAULT '{}',
    twilio_number varchar(255),
    twilio_account_sid varchar(255),
    twilio_auth_token text,
    default_time_zone varchar(255) NOT NULL DEFAULT 'America/Los_Angeles',
    date_format varchar(30) NOT NULL DEFAULT 'MMM-DD-YYYY - HH:mm',
    check_history_prune_days integer NOT NULL DEFAULT 30,
    resolved_alerts_prune_days integer NOT NULL DEFAULT 0,
    agent_history_prune_days integer NOT NULL DEFAULT 60,
    debug_log_prune_days integer NOT NULL DEFAULT 30,
    audit_log_prune_days integer NOT NULL DEFAULT 0,
    report_history_prune_days integer NOT NULL DEFAULT 0,
    clear_faults_days integer NOT NULL DEFAULT 0,
    agent_debug_level varchar(20) NOT NULL DEFAULT 'info',
    mesh_token text NOT NULL DEFAULT '',
    mesh_username varchar(255),
    mesh_site varchar(255),
    mesh_device_group varchar(255) NOT NULL DEFAULT 'TacticalRMM',
    mesh_company_name varchar(255),
    sync_mesh_with_trmm boolean NOT NULL DEFAULT true,
    workstation_policy_id integer,
    server_policy_id integer,
    alert_template_id integer,
    agent_auto_update boolean NOT NULL DEFAULT true,
    notify_on_info_alerts boolean NOT NULL DEFAULT false,
    notify_on_warning_alerts boolean NOT NULL DEFAULT true,
    enable_server_scripts boolean NOT NULL DEFAULT true,
    enable_server_webterminal boolean NOT NULL DEFAULT false,
    open_ai_token text,
    open_ai_model varchar(255) NOT NULL DEFAULT 'gpt-3.5-turbo',
    sso_enabled boolean NOT NULL DEFAULT false,
    block_local_user_logon boolean NOT NULL DEFAULT false,
    default_shell_windows varchar(30) NOT NULL DEFAULT 'cmd',
    default_shell_windows_custom varchar(512),
    default_shell_linux varchar(30) NOT NULL DEFAULT 'bash',
    default_shell_linux_custom varchar(512),
    default_shell_darwin varchar(30) NOT NULL DEFAULT 'bash',
    default_shell_darwin_custom varchar(512),
    terminal_mode varchar(20) NOT NULL DEFAULT 'new',
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now()
);
INSERT INTO core_settings (id) VALUES (1);
