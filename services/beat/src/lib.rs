//! trmm-beat: the scheduler that enqueues periodic jobs. For now it connects to Redis, reports
//! readiness and waits for shutdown; the schedule plugs into [`run`] once Redis is connected.

pub mod config;

use tokio_util::sync::CancellationToken;
use trmm_runtime::health::{self, Health};

pub use config::Config;

/// Name used in logs and metrics.
pub const SERVICE: &str = "trmm-beat";

/// Runs beat until `shutdown` is cancelled; fails only on unusable configuration or a listen
/// address that cannot be bound (never because Redis is down).
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let health = Health::new(SERVICE);
    health.set_ready(trmm_deps::redis::DEPENDENCY, false);
    let redis = config.redis.client()?;

    let server = health::serve_setting(config.listen, "TRMM_BEAT_LISTEN", health.clone(), shutdown.clone());
    let server = async { anyhow::Ok(server.await?) };
    let work = async {
        if let Some(_redis) = trmm_deps::redis::connect(redis, &health, &shutdown).await {
            tracing::info!("connected to Redis");
        }
        shutdown.cancelled().await;
        anyhow::Ok(())
    };
    tokio::try_join!(server, work)?;
    tracing::info!("stopped");
    Ok(())
}
