-- The debug log (upstream logs.DebugLog), and where each audit row happened so that the audit log can be scoped
-- by role (server-api.md 2.5) beyond upstream's agent-only rule.

CREATE TABLE debug_logs (
    id bigserial PRIMARY KEY,
    entry_time timestamptz NOT NULL DEFAULT now(),
    agent_pk integer REFERENCES agents (id) ON DELETE CASCADE,
    log_level varchar(50) NOT NULL DEFAULT 'info'
        CHECK (log_level IN ('info', 'warning', 'error', 'critical')),
    log_type varchar(50) NOT NULL DEFAULT 'system_issues'
        CHECK (log_type IN ('agent_update', 'agent_issues', 'win_updates', 'system_issues', 'scripting')),
    message text NOT NULL DEFAULT ''
);
CREATE INDEX debug_logs_entry_time ON debug_logs (entry_time DESC);
CREATE INDEX debug_logs_agent ON debug_logs (agent_pk, entry_time DESC) WHERE agent_pk IS NOT NULL;

-- The client and site a row is about, as they were when it was written: no foreign keys, since the log outlives
-- them.
ALTER TABLE audit_logs ADD COLUMN client_id integer, ADD COLUMN site_id integer;
UPDATE audit_logs l SET client_id = s.client_id, site_id = s.id
FROM agents a JOIN sites s ON s.id = a.site_id
WHERE a.agent_id = l.agent_id;
CREATE INDEX audit_logs_agent_id ON audit_logs (agent_id, entry_time DESC) WHERE agent_id IS NOT NULL;
CREATE INDEX audit_logs_username ON audit_logs (username, entry_time DESC);
CREATE INDEX audit_logs_client ON audit_logs (client_id, entry_time DESC) WHERE client_id IS NOT NULL;
CREATE INDEX audit_logs_site ON audit_logs (site_id) WHERE site_id IS NOT NULL;
