-- Monitoring: checks, their results and history, alerts, alert templates, URL actions, the notification outbox,
-- and the per-agent check summary (server-api.md 1.4, 1.7, 5.5).

-- Webhooks and dashboard links (upstream core.URLAction).
CREATE TABLE url_actions (
    id serial PRIMARY KEY,
    name varchar(25) NOT NULL,
    "desc" text,
    pattern text NOT NULL,
    action_type varchar(10) NOT NULL DEFAULT 'web' CHECK (action_type IN ('web', 'rest')),
    rest_method varchar(10) NOT NULL DEFAULT 'post' CHECK (rest_method IN ('get', 'post', 'put', 'delete', 'patch')),
    -- JSON templates ({{agent.x}} and friends are replaced before parsing).
    rest_body text NOT NULL DEFAULT '',
    rest_headers text NOT NULL DEFAULT '',
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_templates (
    id serial PRIMARY KEY,
    name varchar(100) NOT NULL UNIQUE,
    is_active boolean NOT NULL DEFAULT true,
    -- Failure action.
    action_type varchar(10) NOT NULL DEFAULT 'script' CHECK (action_type IN ('script', 'server', 'rest')),
    action_id integer REFERENCES scripts (id) ON DELETE SET NULL,
    action_rest_id integer REFERENCES url_actions (id) ON DELETE SET NULL,
    action_args text[] NOT NULL DEFAULT '{}',
    action_env_vars text[] NOT NULL DEFAULT '{}',
    action_timeout integer NOT NULL DEFAULT 15 CHECK (action_timeout > 0),
    -- Resolve action.
    resolved_action_type varchar(10) NOT NULL DEFAULT 'script'
        CHECK (resolved_action_type IN ('script', 'server', 'rest')),
    resolved_action_id integer REFERENCES scripts (id) ON DELETE SET NULL,
    resolved_action_rest_id integer REFERENCES url_actions (id) ON DELETE SET NULL,
    resolved_action_args text[] NOT NULL DEFAULT '{}',
    resolved_action_env_vars text[] NOT NULL DEFAULT '{}',
    resolved_action_timeout integer NOT NULL DEFAULT 15 CHECK (resolved_action_timeout > 0),
    -- Recipient overrides.
    email_recipients text[] NOT NULL DEFAULT '{}',
    text_recipients text[] NOT NULL DEFAULT '{}',
    email_from varchar(254),
    -- Availability alerts (the always_* flags are tri-state: null = not set).
    agent_email_on_resolved boolean NOT NULL DEFAULT false,
    agent_text_on_resolved boolean NOT NULL DEFAULT false,
    agent_always_email boolean,
    agent_always_text boolean,
    agent_always_alert boolean,
    agent_periodic_alert_days integer NOT NULL DEFAULT 0 CHECK (agent_periodic_alert_days >= 0),
    agent_script_actions boolean NOT NULL DEFAULT true,
    -- Check alerts.
    check_email_alert_severity text[] NOT NULL DEFAULT '{}',
    check_text_alert_severity text[] NOT NULL DEFAULT '{}',
    check_dashboard_alert_severity text[] NOT NULL DEFAULT '{}',
    check_email_on_resolved boolean NOT NULL DEFAULT false,
    check_text_on_resolved boolean NOT NULL DEFAULT false,
    check_always_email boolean,
    check_always_text boolean,
    check_always_alert boolean,
    check_periodic_alert_days integer NOT NULL DEFAULT 0 CHECK (check_periodic_alert_days >= 0),
    check_script_actions boolean NOT NULL DEFAULT true,
    -- Task alerts (tasks arrive with a later issue; the settings exist so templates keep their shape).
    task_email_alert_severity text[] NOT NULL DEFAULT '{}',
    task_text_alert_severity text[] NOT NULL DEFAULT '{}',
    task_dashboard_alert_severity text[] NOT NULL DEFAULT '{}',
    task_email_on_resolved boolean NOT NULL DEFAULT false,
    task_text_on_resolved boolean NOT NULL DEFAULT false,
    task_always_email boolean,
    task_always_text boolean,
    task_always_alert boolean,
    task_periodic_alert_days integer NOT NULL DEFAULT 0 CHECK (task_periodic_alert_days >= 0),
    task_script_actions boolean NOT NULL DEFAULT true,
    -- Exclusions.
    exclude_workstations boolean NOT NULL DEFAULT false,
    exclude_servers boolean NOT NULL DEFAULT false,
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE alert_template_excluded_clients (
    template_id integer NOT NULL REFERENCES alert_templates (id) ON DELETE CASCADE,
    client_id integer NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    PRIMARY KEY (template_id, client_id)
);
CREATE TABLE alert_template_excluded_sites (
    template_id integer NOT NULL REFERENCES alert_templates (id) ON DELETE CASCADE,
    site_id integer NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    PRIMARY KEY (template_id, site_id)
);
CREATE TABLE alert_template_excluded_agents (
    template_id integer NOT NULL REFERENCES alert_templates (id) ON DELETE CASCADE,
    agent_id integer NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    PRIMARY KEY (template_id, agent_id)
);

-- The template slots that exist today (the policy slots arrive with the policies issue).
ALTER TABLE clients ADD FOREIGN KEY (alert_template_id) REFERENCES alert_templates (id) ON DELETE SET NULL;
ALTER TABLE sites ADD FOREIGN KEY (alert_template_id) REFERENCES alert_templates (id) ON DELETE SET NULL;
ALTER TABLE core_settings ADD FOREIGN KEY (alert_template_id) REFERENCES alert_templates (id) ON DELETE SET NULL;
-- Upstream caches the resolved template on the agent; trmm-rs resolves it when read (agent_alert_template),
-- so the cached column goes.
ALTER TABLE agents DROP COLUMN alert_template_id;

-- The template in force for each agent (upstream Agent.set_alert_template without the policy slots): the
-- site's, then the client's, then the core default, the first that is active and does not exclude the agent.
CREATE FUNCTION alert_template_applies(t alert_templates, a agents, client integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT t.is_active
        AND NOT (t.exclude_workstations AND a.monitoring_type = 'workstation')
        AND NOT (t.exclude_servers AND a.monitoring_type = 'server')
        AND NOT EXISTS (SELECT 1 FROM alert_template_excluded_agents x WHERE x.template_id = t.id AND x.agent_id = a.id)
        AND NOT EXISTS (SELECT 1 FROM alert_template_excluded_sites x WHERE x.template_id = t.id AND x.site_id = a.site_id)
        AND NOT EXISTS (SELECT 1 FROM alert_template_excluded_clients x WHERE x.template_id = t.id AND x.client_id = client)
$$;
CREATE VIEW agent_alert_template AS
SELECT a.id AS agent_id,
    (SELECT t.id
     FROM (VALUES (1, s.alert_template_id), (2, c.alert_template_id), (3, cs.alert_template_id)) AS slot (ord, template_id)
     JOIN alert_templates t ON t.id = slot.template_id
     WHERE alert_template_applies(t, a, c.id)
     ORDER BY slot.ord
     LIMIT 1) AS template_id
FROM agents a
JOIN sites s ON s.id = a.site_id
JOIN clients c ON c.id = s.client_id
CROSS JOIN core_settings cs;

CREATE TABLE checks (
    id serial PRIMARY KEY,
    agent_id integer REFERENCES agents (id) ON DELETE CASCADE,
    -- The policies issue adds the foreign key; a check belongs to an agent or to a policy.
    policy_id integer,
    overridden_by_policy boolean NOT NULL DEFAULT false,
    name varchar(255),
    check_type varchar(50) NOT NULL
        CHECK (check_type IN ('diskspace', 'ping', 'cpuload', 'memory', 'winsvc', 'script', 'eventlog')),
    email_alert boolean NOT NULL DEFAULT false,
    text_alert boolean NOT NULL DEFAULT false,
    dashboard_alert boolean NOT NULL DEFAULT false,
    fails_b4_alert integer NOT NULL DEFAULT 1 CHECK (fails_b4_alert >= 1),
    run_interval integer NOT NULL DEFAULT 0 CHECK (run_interval >= 0),
    alert_severity varchar(15) DEFAULT 'warning' CHECK (alert_severity IN ('info', 'warning', 'error')),
    warning_threshold integer DEFAULT 0 CHECK (warning_threshold BETWEEN 0 AND 99),
    error_threshold integer DEFAULT 0 CHECK (error_threshold BETWEEN 0 AND 99),
    disk varchar(255),
    ip varchar(255),
    script_id integer REFERENCES scripts (id) ON DELETE CASCADE,
    script_args text[] NOT NULL DEFAULT '{}',
    env_vars text[] NOT NULL DEFAULT '{}',
    info_return_codes bigint[] NOT NULL DEFAULT '{}',
    warning_return_codes bigint[] NOT NULL DEFAULT '{}',
    success_return_codes bigint[] NOT NULL DEFAULT '{}',
    timeout integer,
    svc_name varchar(255),
    svc_display_name varchar(255),
    pass_if_start_pending boolean,
    pass_if_svc_not_exist boolean NOT NULL DEFAULT false,
    restart_if_stopped boolean,
    svc_policy_mode varchar(20),
    log_name varchar(255) CHECK (log_name IN ('Application', 'System', 'Security')),
    event_id integer,
    event_id_is_wildcard boolean NOT NULL DEFAULT false,
    event_type varchar(255) CHECK (event_type IN ('INFO', 'WARNING', 'ERROR', 'AUDIT_SUCCESS', 'AUDIT_FAILURE')),
    event_source varchar(255),
    event_message text,
    fail_when varchar(255) DEFAULT 'contains' CHECK (fail_when IN ('contains', 'not_contains')),
    search_last_days integer,
    number_of_events_b4_alert integer DEFAULT 1,
    created_by varchar(255),
    created_time timestamptz NOT NULL DEFAULT now(),
    modified_by varchar(255),
    modified_time timestamptz NOT NULL DEFAULT now(),
    CHECK (agent_id IS NOT NULL OR policy_id IS NOT NULL)
);
CREATE INDEX checks_agent_id ON checks (agent_id);
-- At most one cpu and one memory check per owner, one disk check per disk (upstream validates; the
-- database holds the line against concurrent creates).
CREATE UNIQUE INDEX checks_one_cpu_mem_per_agent ON checks (agent_id, check_type)
    WHERE check_type IN ('cpuload', 'memory') AND agent_id IS NOT NULL;
CREATE UNIQUE INDEX checks_one_disk_per_agent ON checks (agent_id, disk)
    WHERE check_type = 'diskspace' AND agent_id IS NOT NULL;

CREATE TABLE check_results (
    id bigserial PRIMARY KEY,
    agent_id integer NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    assigned_check_id integer NOT NULL REFERENCES checks (id) ON DELETE CASCADE,
    status varchar(30) NOT NULL DEFAULT 'pending' CHECK (status IN ('passing', 'failing', 'pending')),
    alert_severity varchar(15) CHECK (alert_severity IN ('info', 'warning', 'error')),
    more_info text,
    last_run timestamptz,
    fail_count integer NOT NULL DEFAULT 0,
    outage_history jsonb,
    extra_details jsonb,
    stdout text,
    stderr text,
    retcode bigint,
    execution_time varchar(100),
    -- The last 15 cpu/memory samples.
    history integer[] NOT NULL DEFAULT '{}',
    UNIQUE (agent_id, assigned_check_id)
);
CREATE INDEX check_results_check ON check_results (assigned_check_id);

-- Graph data; check_id and agent_id are deliberately not foreign keys (upstream), orphans are pruned hourly.
CREATE TABLE check_history (
    id bigserial PRIMARY KEY,
    check_id integer NOT NULL,
    agent_id varchar(200) NOT NULL,
    x timestamptz NOT NULL DEFAULT now(),
    y integer,
    results jsonb
);
CREATE INDEX check_history_check_agent_x ON check_history (check_id, agent_id, x DESC);
CREATE INDEX check_history_x ON check_history (x);
CREATE INDEX check_history_agent ON check_history (agent_id);

-- The agent table's checks column, maintained as results arrive (upstream recomputes it every 3 minutes).
CREATE TABLE agent_check_summary (
    agent_id integer PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    total integer NOT NULL DEFAULT 0,
    passing integer NOT NULL DEFAULT 0,
    failing integer NOT NULL DEFAULT 0,
    warning integer NOT NULL DEFAULT 0,
    info integer NOT NULL DEFAULT 0
);

CREATE TABLE alerts (
    id serial PRIMARY KEY,
    agent_id integer REFERENCES agents (id) ON DELETE CASCADE,
    assigned_check_id integer REFERENCES checks (id) ON DELETE CASCADE,
    -- Tasks arrive with a later issue, which adds the foreign key.
    assigned_task_id integer,
    alert_type varchar(20) NOT NULL DEFAULT 'availability'
        CHECK (alert_type IN ('availability', 'check', 'task', 'custom')),
    message text,
    alert_time timestamptz NOT NULL DEFAULT now(),
    snoozed boolean NOT NULL DEFAULT false,
    snooze_until timestamptz,
    resolved boolean NOT NULL DEFAULT false,
    resolved_on timestamptz,
    severity varchar(30) NOT NULL DEFAULT 'info' CHECK (severity IN ('info', 'warning', 'error')),
    hidden boolean NOT NULL DEFAULT false,
    email_sent timestamptz,
    resolved_email_sent timestamptz,
    sms_sent timestamptz,
    resolved_sms_sent timestamptz,
    action_run timestamptz,
    action_stdout text,
    action_stderr text,
    action_retcode bigint,
    action_execution_time varchar(100),
    resolved_action_run timestamptz,
    resolved_action_stdout text,
    resolved_action_stderr text,
    resolved_action_retcode bigint,
    resolved_action_execution_time varchar(100)
);
-- One open alert per agent (availability) and per agent and check.
CREATE UNIQUE INDEX alerts_open_availability ON alerts (agent_id) WHERE NOT resolved AND alert_type = 'availability';
CREATE UNIQUE INDEX alerts_open_check ON alerts (agent_id, assigned_check_id) WHERE NOT resolved AND alert_type = 'check';
CREATE INDEX alerts_agent ON alerts (agent_id);
CREATE INDEX alerts_check ON alerts (assigned_check_id);
CREATE INDEX alerts_time ON alerts (alert_time);
CREATE INDEX alerts_unresolved ON alerts (alert_time) WHERE NOT resolved;

-- Every notification and action an alert state change owes, written in the same transaction as the change and
-- delivered by trmm-worker: one row per (alert, kind, round), so each is sent once however many workers run;
-- a periodic reminder is a new round.
CREATE TABLE alert_notifications (
    id bigserial PRIMARY KEY,
    alert_id integer NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    kind varchar(20) NOT NULL
        CHECK (kind IN ('email', 'sms', 'action', 'resolved_email', 'resolved_sms', 'resolved_action')),
    round integer NOT NULL DEFAULT 0,
    created timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    -- A worker holds the row until then while it sends; an expired lease is taken over.
    lease_until timestamptz,
    next_attempt timestamptz NOT NULL DEFAULT now(),
    done_at timestamptz,
    -- "sent", "skipped: ...", "failed: ..." once done.
    outcome text,
    last_error text,
    UNIQUE (alert_id, kind, round)
);
CREATE INDEX alert_notifications_due ON alert_notifications (next_attempt) WHERE done_at IS NULL;
