-- Background jobs whose payload must outlive Redis: the row holds the typed payload, Redis only a queue entry
-- naming the row. trmm-worker re-queues every unfinished row when it finds Redis emptied (FLUSHALL, a restart
-- without persistence), so losing Redis delays work and loses none.
CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    kind varchar(40) NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- A worker that took the job owns it until then: a second queue entry for the same row finds it taken.
    lease_until timestamptz,
    finished_at timestamptz,
    -- What became of it ("sent", "no recipients", "failed: ...").
    outcome text
);
CREATE INDEX jobs_unfinished ON jobs (kind, id) WHERE finished_at IS NULL;
