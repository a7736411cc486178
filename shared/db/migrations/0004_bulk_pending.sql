-- Bulk command/script runs (POST /agents/actions/bulk/) and queued work for offline agents.

-- One bulk run: what is sent to every agent, and the outcome counts once trmm-worker has finished.
CREATE TABLE bulk_runs (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    username varchar(255) NOT NULL,
    mode varchar(20) NOT NULL CHECK (mode IN ('command', 'script')),
    -- The AgentGateway Command sent to each agent (as JSON); history_id is filled in per agent.
    command jsonb NOT NULL,
    -- {"<history id>": {"script_args": [...], "env_vars": [...]}} when template variables differ per agent.
    per_agent jsonb,
    -- How long the worker waits for each agent's reply, in seconds.
    reply_timeout integer NOT NULL,
    agent_count integer NOT NULL,
    started_at timestamptz,
    finished_at timestamptz,
    -- {"total", "replied", "timeout", "offline", "error"} once finished.
    summary jsonb
);

-- Each agent's history row of a bulk run; the worker fills in the ones still without a result.
ALTER TABLE agent_history ADD COLUMN bulk_run_id bigint REFERENCES bulk_runs (id) ON DELETE SET NULL;
-- When the worker sent the command, so a retried job never sends it to the same agent twice.
ALTER TABLE agent_history ADD COLUMN dispatched_at timestamptz;
CREATE INDEX agent_history_bulk_run ON agent_history (bulk_run_id) WHERE bulk_run_id IS NOT NULL;

-- A worker that took a queued action owns it until then (so a crashed worker's action is retried, and two
-- workers never run the same one).
ALTER TABLE pending_actions ADD COLUMN claimed_until timestamptz;
CREATE INDEX pending_actions_pending_entry ON pending_actions (entry_time) WHERE status = 'pending';
