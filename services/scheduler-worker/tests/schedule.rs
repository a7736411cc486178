//! trmm-beat and trmm-worker replicas together over several due times of a stepped clock: each entry is
//! enqueued and run once per due time, a standby beat takes over within one lease period of the leader being
//! killed, a job that fell due while no beat ran runs once on return, for its latest due time, and a clock set
//! back does not stall the schedule.

mod stack;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use stack::{at, enqueued, eventually, metric, runs, total, Stack, AGENT, LEASE};
use trmm_jobs::PeriodicJob;
use trmm_testkit::service::InProcess;

const LEADER: &str = "trmm_beat_leader";

/// Waits until the beats have enqueued, and the workers run, `expected` jobs of each entry (in
/// `PeriodicJob::ALL` order), then checks that none was enqueued or run twice.
async fn tally(beats: &[&InProcess], workers: &[&InProcess], expected: [u64; 6]) {
    let counts = || async {
        let mut counts = Vec::new();
        for job in PeriodicJob::ALL {
            counts.push((total(beats, &enqueued(job)).await, total(workers, &runs(job)).await));
        }
        counts
    };
    eventually(&format!("each entry enqueued and run {expected:?} times"), || async {
        counts()
            .await
            .iter()
            .zip(expected)
            .all(|(&(e, r), want)| e >= want && r >= want)
    })
    .await;
    let want: Vec<_> = expected.iter().map(|&n| (n, n)).collect();
    assert_eq!(counts().await, want, "(enqueued, run) per entry");
}

/// The due times last enqueued, in `PeriodicJob::ALL` order.
fn due_times(times: [&str; 6]) -> BTreeMap<String, chrono::DateTime<chrono::Utc>> {
    PeriodicJob::ALL
        .into_iter()
        .zip(times)
        .map(|(job, due)| (job.name().to_owned(), at(due)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_beats_and_two_workers_run_each_entry_once_per_due_time() {
    let s = Stack::new("2030-01-01T10:05:00Z").await;
    let (first, second) = (s.beat().await, s.beat().await);
    let (w1, w2) = (s.worker().await, s.worker().await);
    let (beats, workers) = ([&first, &second], [&w1, &w2]);

    // Expected totals of [unsnooze (:10), maintenance (:15), resolve pending (every 100 s), agent outages
    // (150 s), resolve alerts (80 s), notification sweep (60 s)]. A fresh deployment runs each entry's latest
    // due time first: 09:10, 09:15, 10:05:00, 10:05:00, 10:04:00 and 10:05:00. A step over several due times of
    // an entry enqueues its latest only.
    let steps = [
        ("2030-01-01T10:05:00Z", [1, 1, 1, 1, 1, 1]),
        ("2030-01-01T10:06:39Z", [1, 1, 1, 1, 2, 2]),
        ("2030-01-01T10:06:40Z", [1, 1, 2, 1, 3, 2]),
        ("2030-01-01T10:10:00Z", [2, 1, 3, 2, 4, 3]),
        ("2030-01-01T10:10:30Z", [2, 1, 3, 2, 4, 3]),
        ("2030-01-01T10:15:00Z", [2, 2, 4, 3, 5, 4]),
        ("2030-01-01T11:10:00Z", [3, 2, 5, 4, 6, 5]),
        ("2030-01-01T11:15:00Z", [3, 3, 6, 5, 7, 6]),
    ];
    for (now, expected) in steps {
        s.set_clock(now);
        tally(&beats, &workers, expected).await;
    }

    assert_eq!(
        s.enqueued_due_times().await,
        due_times([
            "2030-01-01T11:10:00Z",
            "2030-01-01T11:15:00Z",
            "2030-01-01T11:15:00Z",
            "2030-01-01T11:15:00Z",
            "2030-01-01T11:14:40Z",
            "2030-01-01T11:15:00Z"
        ])
    );
    assert_eq!(total(&beats, LEADER).await, 1, "one leader");
    for service in [first, second, w1, w2] {
        service.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_takes_over_within_one_lease_period_when_the_leader_is_killed() {
    let s = Stack::new("2030-01-01T10:05:00Z").await;
    let first = s.beat().await;
    eventually("the first beat leads", || async { metric(&first, LEADER).await == 1 }).await;
    let second = s.beat().await;
    let worker = s.worker().await;
    tally(&[&first, &second], &[&worker], [1; 6]).await;
    assert_eq!(metric(&second, LEADER).await, 0);

    first.kill().await;
    let killed = Instant::now();
    assert!(s.lease_held().await, "a killed leader leaves its lease to lapse");
    s.set_clock("2030-01-01T10:10:00Z");
    eventually("the standby leads", || async { metric(&second, LEADER).await == 1 }).await;
    let took = killed.elapsed();
    // Not before the lease lapses (the leader renewed it at most a tick before it died), and soon after.
    assert!(took >= LEASE - Duration::from_millis(500), "took over after {took:?}");
    assert!(took <= LEASE + Duration::from_secs(1), "took over after {took:?}");

    for (job, n) in PeriodicJob::ALL.into_iter().zip([1, 0, 1, 1, 1, 1]) {
        eventually("the new leader enqueues what fell due", || async {
            metric(&worker, &runs(job)).await == n + 1
        })
        .await;
        assert_eq!(metric(&second, &enqueued(job)).await, n, "{}", job.name());
    }

    second.stop().await;
    assert!(!s.lease_held().await, "a beat that shuts down releases its lease");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_due_while_every_beat_was_down_runs_once_on_return_for_its_latest_due_time() {
    let s = Stack::new("2030-01-01T10:05:00Z").await;
    // Check history either side of the cutoff of 13:15's maintenance (30 days' retention by default); an
    // earlier due time's cutoff would keep both.
    s.sql(AGENT).await;
    s.sql(
        "INSERT INTO check_history (check_id, agent_id, x, y) VALUES
             (1, 'agent-a', '2030-01-01T13:15:00Z'::timestamptz - interval '30 days 1 second', 0),
             (1, 'agent-a', '2030-01-01T13:15:00Z'::timestamptz - interval '30 days' + interval '1 second', 1);",
    )
    .await;
    let worker = s.worker().await;
    let beat = s.beat().await;
    tally(&[&beat], &[&worker], [1; 6]).await;
    assert_eq!(
        s.text("SELECT string_agg(y::text, ',' ORDER BY y) FROM check_history")
            .await,
        "0,1"
    );
    beat.stop().await;

    // Missed while down: unsnooze 10:10 to 13:10, maintenance 10:15 to 13:15, the interval entries many times.
    s.set_clock("2030-01-01T13:20:00Z");
    let beat = s.beat().await;
    eventually("each entry runs again", || async {
        let mut done = true;
        for job in PeriodicJob::ALL {
            done &= metric(&worker, &runs(job)).await >= 2;
        }
        done
    })
    .await;

    for job in PeriodicJob::ALL {
        assert_eq!(metric(&beat, &enqueued(job)).await, 1, "{}", job.name());
        assert_eq!(metric(&worker, &runs(job)).await, 2, "{}", job.name());
    }
    assert_eq!(
        s.enqueued_due_times().await,
        due_times([
            "2030-01-01T13:10:00Z",
            "2030-01-01T13:15:00Z",
            "2030-01-01T13:20:00Z",
            "2030-01-01T13:20:00Z",
            "2030-01-01T13:20:00Z",
            "2030-01-01T13:20:00Z"
        ])
    );
    assert_eq!(s.text("SELECT string_agg(y::text, ',') FROM check_history").await, "1");
    beat.stop().await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_set_back_restarts_the_schedule_from_the_new_due_times() {
    let s = Stack::new("2031-06-01T12:00:00Z").await;
    let worker = s.worker().await;
    let beat = s.beat().await;
    tally(&[&beat], &[&worker], [1; 6]).await;

    // Without the restart every entry would wait for the clock to reach 2031 again.
    s.set_clock("2030-01-01T10:05:00Z");
    tally(&[&beat], &[&worker], [2; 6]).await;
    s.set_clock("2030-01-01T10:06:40Z");
    tally(&[&beat], &[&worker], [2, 2, 3, 2, 3, 3]).await;

    assert_eq!(
        s.enqueued_due_times().await,
        due_times([
            "2030-01-01T09:10:00Z",
            "2030-01-01T09:15:00Z",
            "2030-01-01T10:06:40Z",
            "2030-01-01T10:05:00Z",
            "2030-01-01T10:06:40Z",
            "2030-01-01T10:06:00Z"
        ])
    );
    beat.stop().await;
    worker.stop().await;
}
