-- The template in force for one agent as a function of its row, so that a page of the agent table resolves it
-- for its 50 rows only: the view's per-agent subquery was evaluated for every agent before the join.
CREATE FUNCTION alert_template_for(a agents) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT t.id
    FROM sites s
    JOIN clients c ON c.id = s.client_id
    CROSS JOIN core_settings cs
    CROSS JOIN LATERAL (VALUES (1, s.alert_template_id), (2, c.alert_template_id), (3, cs.alert_template_id))
        AS slot (ord, template_id)
    JOIN alert_templates t ON t.id = slot.template_id
    WHERE s.id = a.site_id AND alert_template_applies(t, a, c.id)
    ORDER BY slot.ord
    LIMIT 1
$$;
CREATE OR REPLACE VIEW agent_alert_template AS
SELECT a.id AS agent_id, alert_template_for(a) AS template_id FROM agents a;
