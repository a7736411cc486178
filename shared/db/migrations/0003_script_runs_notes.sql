-- Agent notes (Tactical RMM agents.Note) and the indexes the history views need.

CREATE TABLE agent_notes (
    id serial PRIMARY KEY,
    agent_pk integer NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    user_id integer REFERENCES users (id) ON DELETE SET NULL,
    note text NOT NULL DEFAULT '',
    entry_time timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_notes_agent_pk ON agent_notes (agent_pk, id);

-- GET /agents/scripthistory/ reads script runs across all agents, newest first.
CREATE INDEX agent_history_type_time ON agent_history (type, time DESC);

-- 0001 created these columns before their tables existed (AgentHistory.script / custom_field, both SET_NULL).
UPDATE agent_history SET script_id = NULL WHERE script_id IS NOT NULL AND script_id NOT IN (SELECT id FROM scripts);
UPDATE agent_history SET custom_field_id = NULL
    WHERE custom_field_id IS NOT NULL AND custom_field_id NOT IN (SELECT id FROM custom_fields);
ALTER TABLE agent_history
    ADD CONSTRAINT agent_history_script_id_fkey FOREIGN KEY (script_id) REFERENCES scripts (id) ON DELETE SET NULL,
    ADD CONSTRAINT agent_history_custom_field_id_fkey
        FOREIGN KEY (custom_field_id) REFERENCES custom_fields (id) ON DELETE SET NULL;
