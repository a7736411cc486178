-- The worker attempt running a bulk run owns it until then (renewed while it runs): a second queue entry for the
-- same run (re-queued after a Redis loss, or at a worker's start) finds it taken and does nothing, instead of
-- timing out the agents the first attempt is still waiting on.
ALTER TABLE bulk_runs ADD COLUMN lease_until timestamptz;
