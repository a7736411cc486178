//! What each periodic job does, run through the worker's queue with the clock held still: core maintenance's
//! prunes (rows just either side of each cutoff, a retention of 0, orphaned check history, more rows than one
//! batch), unsnooze, resolving pending agent updates, and skipping a run its entry has superseded.

mod stack;

use stack::{eventually, metric, runs, Stack, AGENT};
use trmm_jobs::PeriodicJob;
use trmm_testkit::service::InProcess;

async fn ran(worker: &InProcess, job: PeriodicJob, times: u64) {
    eventually(&format!("{} ran {times} time(s)", job.name()), || async {
        metric(worker, &runs(job)).await >= times
    })
    .await;
    assert_eq!(metric(worker, &runs(job)).await, times);
}

/// Rows tagged `old` sit one second past their cutoff, `new` one second inside it; 12,000 more old check
/// history rows make the sweep take several batches; one history point belongs to an agent that is gone.
fn aged_rows(due: &str, days: [i32; 5]) -> String {
    let [check, alerts, history, audit, debug] = days;
    format!(
        "INSERT INTO check_history (check_id, agent_id, x, results)
             SELECT 1, 'agent-a', '{due}'::timestamptz - interval '{check} days 1 second', '\"bulk\"'
             FROM generate_series(1, 12000);
         INSERT INTO check_history (check_id, agent_id, x, results) VALUES
             (1, 'agent-a', '{due}'::timestamptz - interval '{check} days 1 second', '\"old\"'),
             (1, 'agent-a', '{due}'::timestamptz - interval '{check} days' + interval '1 second', '\"new\"');
         INSERT INTO alerts (agent_id, message, resolved, resolved_on, alert_time) VALUES
             (1, 'old', true, '{due}', '{due}'::timestamptz - interval '{alerts} days 1 second'),
             (1, 'new', true, '{due}', '{due}'::timestamptz - interval '{alerts} days' + interval '1 second'),
             (1, 'open', false, NULL, '{due}'::timestamptz - interval '1000 days');
         INSERT INTO agent_history (agent_pk, command, time) VALUES
             (1, 'old', '{due}'::timestamptz - interval '{history} days 1 second'),
             (1, 'new', '{due}'::timestamptz - interval '{history} days' + interval '1 second');
         INSERT INTO audit_logs (username, action, object_type, message, entry_time) VALUES
             ('admin', 'login', 'user', 'old', '{due}'::timestamptz - interval '{audit} days 1 second'),
             ('admin', 'login', 'user', 'new', '{due}'::timestamptz - interval '{audit} days' + interval '1 second');
         INSERT INTO debug_logs (agent_pk, log_level, message, entry_time) VALUES
             (1, 'info', 'old', '{due}'::timestamptz - interval '{debug} days 1 second'),
             (NULL, 'error', 'new', '{due}'::timestamptz - interval '{debug} days' + interval '1 second');
         INSERT INTO check_history (check_id, agent_id, x, results) VALUES (1, 'deleted-agent', '{due}', '\"orphan\"');"
    )
}

/// What is left of the aged rows, table by table.
async fn left(s: &Stack) -> [String; 5] {
    [
        s.text("SELECT string_agg(DISTINCT results #>> '{}', ',') FROM check_history")
            .await,
        s.text("SELECT string_agg(message, ',' ORDER BY message) FROM alerts")
            .await,
        s.text("SELECT string_agg(command, ',' ORDER BY command) FROM agent_history")
            .await,
        s.text("SELECT string_agg(message, ',' ORDER BY message) FROM audit_logs")
            .await,
        s.text("SELECT string_agg(message, ',' ORDER BY message) FROM debug_logs")
            .await,
    ]
}

/// Sets the retention days (check history, resolved alerts, agent history, audit log, debug log), seeds rows aged by
/// `ages` and an orphaned history point, and runs core maintenance for 10:15; returns what is left.
async fn maintain(retention: [i64; 5], ages: [i32; 5]) -> (Stack, [String; 5]) {
    let due = "2030-03-01T10:15:00Z";
    let s = Stack::new("2030-03-01T10:15:30Z").await;
    let [check, alerts, history, audit, debug] = retention;
    s.sql(AGENT).await;
    s.sql(&format!(
        "UPDATE core_settings SET check_history_prune_days = {check}, resolved_alerts_prune_days = {alerts},
             agent_history_prune_days = {history}, audit_log_prune_days = {audit},
             debug_log_prune_days = {debug}"
    ))
    .await;
    s.sql(&aged_rows(due, ages)).await;
    let worker = s.worker().await;

    s.enqueue(PeriodicJob::CoreMaintenance, due).await;
    ran(&worker, PeriodicJob::CoreMaintenance, 1).await;

    worker.stop().await;
    let left = left(&s).await;
    (s, left)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_maintenance_deletes_what_is_past_each_retention_and_orphaned_history() {
    let (_, left) = maintain([30, 10, 60, 5, 30], [30, 10, 60, 5, 30]).await;

    // Resolved alerts go by alert_time (upstream), however recently they were resolved; open ones stay.
    assert_eq!(left, ["new", "new,open", "new", "new", "new"].map(String::from));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_of_zero_days_or_beyond_the_calendar_keeps_everything_but_orphaned_history_still_goes() {
    let (s, left) = maintain([0, 0, i64::from(i32::MAX), 0, 0], [900, 900, 900, 900, 900]).await;

    assert_eq!(
        left,
        ["bulk,new,old", "new,old,open", "new,old", "new,old", "new,old"].map(String::from)
    );
    assert_eq!(s.text("SELECT count(*)::text FROM check_history").await, "12002");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsnooze_ends_the_snoozes_that_are_up() {
    let s = Stack::new("2030-03-01T10:10:30Z").await;
    s.sql(AGENT).await;
    s.sql(
        "INSERT INTO alerts (agent_id, alert_type, message, snoozed, snooze_until) VALUES
             (1, 'custom', 'past', true, '2030-03-01T09:00:00Z'),
             (1, 'custom', 'now', true, '2030-03-01T10:10:30Z'),
             (1, 'custom', 'later', true, '2030-03-01T10:11:00Z'),
             (1, 'custom', 'awake', false, NULL)",
    )
    .await;
    let worker = s.worker().await;

    s.enqueue(PeriodicJob::UnsnoozeAlerts, "2030-03-01T10:10:00Z").await;
    ran(&worker, PeriodicJob::UnsnoozeAlerts, 1).await;

    let state =
        "SELECT string_agg(message || ':' || snoozed || ':' || coalesce(snooze_until::text, '-'), ',' ORDER BY id)
                 FROM alerts";
    assert_eq!(
        s.text(state).await,
        "past:false:-,now:false:-,later:true:2030-03-01 10:11:00+00,awake:false:-"
    );
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_agent_updates_complete_once_the_agent_is_online_at_that_version() {
    let s = Stack::new("2030-03-01T10:01:45Z").await;
    s.sql(
        "INSERT INTO clients (id, name) VALUES (1, 'Acme');
         INSERT INTO sites (id, client_id, name) VALUES (1, 1, 'HQ');
         INSERT INTO agents (id, agent_id, hostname, site_id, version, last_seen) VALUES
             (1, 'updated', 'h1', 1, '2.11.0', '2030-03-01T10:00:00Z'),
             (2, 'offline', 'h2', 1, '2.11.0', '2030-03-01T09:50:00Z'),
             (3, 'behind', 'h3', 1, '2.10.0', '2030-03-01T10:01:00Z');
         INSERT INTO pending_actions (agent_pk, action_type, details) VALUES
             (1, 'agentupdate', '{\"url\": \"https://u/\", \"version\": \"2.11.0\", \"inno\": \"a.exe\"}'),
             (2, 'agentupdate', '{\"url\": \"https://u/\", \"version\": \"2.11.0\", \"inno\": \"a.exe\"}'),
             (3, 'agentupdate', '{\"url\": \"https://u/\", \"version\": \"2.11.0\", \"inno\": \"a.exe\"}'),
             (1, 'schedreboot', '{\"time\": \"2030-03-02 01:00\"}');",
    )
    .await;
    let worker = s.worker().await;

    s.enqueue(PeriodicJob::ResolvePendingActions, "2030-03-01T10:01:40Z")
        .await;
    ran(&worker, PeriodicJob::ResolvePendingActions, 1).await;

    let state = "SELECT string_agg(a.agent_id || ':' || p.action_type || ':' || p.status, ',' ORDER BY p.id)
                 FROM pending_actions p JOIN agents a ON a.id = p.agent_pk";
    assert_eq!(
        s.text(state).await,
        "updated:agentupdate:completed,offline:agentupdate:pending,behind:agentupdate:pending,updated:schedreboot:pending"
    );
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_entry_fell_due_again_is_skipped() {
    let s = Stack::new("2030-03-01T10:05:00Z").await;
    s.sql(AGENT).await;
    s.sql(
        "INSERT INTO alerts (agent_id, message, snoozed, snooze_until) VALUES (1, 'a', true, '2030-03-01T08:00:00Z')",
    )
    .await;
    let worker = s.worker().await;
    let superseded = "trmm_periodic_superseded_total{entry=\"unsnooze-alerts\"}";

    // 09:10 has come since 08:10: trmm-beat enqueued that one.
    s.enqueue(PeriodicJob::UnsnoozeAlerts, "2030-03-01T08:10:00Z").await;
    eventually("the stale run is skipped", || async {
        metric(&worker, superseded).await == 1
    })
    .await;
    assert_eq!(s.text("SELECT snoozed::text FROM alerts").await, "true");

    s.enqueue(PeriodicJob::UnsnoozeAlerts, "2030-03-01T09:10:00Z").await;
    ran(&worker, PeriodicJob::UnsnoozeAlerts, 1).await;
    assert_eq!(s.text("SELECT snoozed::text FROM alerts").await, "false");
    assert_eq!(metric(&worker, superseded).await, 1);
    worker.stop().await;
}
