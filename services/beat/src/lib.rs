//! trmm-beat: the periodic scheduler. Every replica ticks; the one holding the leader lease in Redis enqueues
//! each entry of the schedule (`trmm_jobs::periodic`) once per due time, for trmm-worker to run. Due times come
//! from the clock alone, so a job that fell due while no beat ran is enqueued once when one returns: its latest
//! due time, not one per missed tick.

pub mod config;
mod lease;
mod schedule;

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use redis::aio::ConnectionManager;
use tokio_util::sync::CancellationToken;
use trmm_jobs::PeriodicJob;
use trmm_runtime::clock::{SharedClock, SystemClock};
use trmm_runtime::health::{self, Health};

pub use config::Config;
use lease::Lease;
use schedule::{Outcome, Schedule};

/// Name used in logs and metrics.
pub const SERVICE: &str = "trmm-beat";

/// Runs beat on the wall clock until `shutdown` is cancelled; see [`run_with_clock`].
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_with_clock(config, SystemClock::shared(), shutdown).await
}

/// Runs beat with due times read from `clock` until `shutdown` is cancelled; fails only on unusable
/// configuration or a listen address that cannot be bound (never because Redis is down).
pub async fn run_with_clock(config: Config, clock: SharedClock, shutdown: CancellationToken) -> anyhow::Result<()> {
    config.check()?;
    let health = Health::new(SERVICE);
    health.set_ready(trmm_deps::redis::DEPENDENCY, false);
    let redis = config.redis.client()?;
    let metrics = Metrics::registered(&health);

    let server = health::serve_setting(config.listen, "TRMM_BEAT_LISTEN", health.clone(), shutdown.clone());
    let server = async { anyhow::Ok(server.await?) };
    let work = async {
        if let Some(conn) = trmm_deps::redis::connect(redis, &health, &shutdown).await {
            tracing::info!("connected to Redis");
            let prefix = &config.redis_keys.redis_prefix;
            let lease = Lease::new(prefix, config.lease);
            let beat = Beat {
                conn,
                schedule: Schedule::new(prefix, Lease::key(prefix)),
                lease,
                clock,
                metrics,
            };
            beat.run(config.tick, &shutdown).await;
        }
        anyhow::Ok(())
    };
    tokio::try_join!(server, work)?;
    tracing::info!("stopped");
    Ok(())
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntryLabel {
    entry: &'static str,
}

struct Metrics {
    leader: Gauge,
    enqueued: Family<EntryLabel, Counter>,
}

impl Metrics {
    fn registered(health: &Health) -> Self {
        let metrics = Metrics {
            leader: Gauge::default(),
            enqueued: Family::default(),
        };
        health.register(
            "trmm_beat_leader",
            "Whether this replica holds the leader lease and enqueues the schedule (1) or stands by (0)",
            metrics.leader.clone(),
        );
        health.register(
            "trmm_beat_enqueued",
            "Periodic jobs this replica enqueued, by schedule entry",
            metrics.enqueued.clone(),
        );
        metrics
    }
}

struct Beat {
    conn: ConnectionManager,
    lease: Lease,
    schedule: Schedule,
    clock: SharedClock,
    metrics: Metrics,
}

impl Beat {
    /// Ticks until `shutdown`, then hands the lease over if this replica holds it.
    async fn run(mut self, tick: Duration, shutdown: &CancellationToken) {
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut leading = false;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            leading = self.step(leading).await;
        }
        if leading {
            match self.lease.release(&mut self.conn).await {
                Ok(()) => tracing::info!("released the leader lease"),
                Err(e) => tracing::warn!(error = %e, "could not release the leader lease; it lapses by itself"),
            }
        }
    }

    /// Holds (or tries to take) the lease and, while leading, enqueues what fell due; returns whether it leads.
    async fn step(&mut self, was_leading: bool) -> bool {
        let leading = match self.lease.hold(&mut self.conn).await {
            Ok(leading) => leading,
            Err(e) => {
                // Redis is down (readiness says so); whoever holds the lease when it is back leads.
                tracing::debug!(error = %e, "could not reach the leader lease");
                false
            }
        };
        if leading != was_leading {
            match leading {
                true => tracing::info!("took the leader lease: enqueueing the schedule"),
                false => tracing::info!("standing by: another replica holds the leader lease"),
            }
        }
        self.metrics.leader.set(i64::from(leading));
        if leading {
            self.enqueue_due().await;
        }
        leading
    }

    /// Enqueues each entry's latest due time unless it was enqueued already.
    async fn enqueue_due(&mut self) {
        let now = self.clock.now();
        for job in PeriodicJob::ALL {
            let due = job.cadence().latest_due(now);
            let entry = job.name();
            match self
                .schedule
                .enqueue(&mut self.conn, self.lease.token(), job, due)
                .await
            {
                Ok(Outcome::Enqueued) => {
                    tracing::info!(entry, %due, "enqueued");
                    self.metrics.enqueued.get_or_create(&EntryLabel { entry }).inc();
                }
                Ok(Outcome::AlreadyEnqueued) => {}
                Ok(Outcome::NotLeader) => return,
                Err(e) => tracing::warn!(entry, %due, error = %e, "enqueueing failed; trying again next tick"),
            }
        }
    }
}
