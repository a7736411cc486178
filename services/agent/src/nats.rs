//! NATS connection as the Go agent makes it (agent-protocol.md 1.1): user = agent_id, password = token,
//! name = agent_id, reconnecting forever (also after authorization errors) with jittered delays.

use std::time::Duration;

use anyhow::Context;
use async_nats::{Client, ConnectOptions, Event};
use rand::Rng;
use trmm_protocol::nats::Telemetry;

use crate::config::AgentConfig;

/// How long the installer's one-shot check-in waits for the server.
const ONE_SHOT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Delay before connection attempt number `attempts` (1 = the first after a connection was lost or the
/// first ever). The first is immediate; later ones back off to the Go agent's 2–8 s window, randomized
/// so that thousands of agents do not reconnect in lockstep after a server restart.
pub fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let shift = (attempts - 2).min(3) as u32;
    let cap_ms = 1000u64 << shift;
    let max_ms = (cap_ms * 2).min(8000);
    Duration::from_millis(rand::thread_rng().gen_range(max_ms / 4..=max_ms))
}

fn base_options(config: &AgentConfig) -> ConnectOptions {
    ConnectOptions::with_user_and_password(config.agent_id.clone(), config.token.clone())
        .name(&config.agent_id)
        // The Go agent receives and discards its own telemetry; not asking for it saves decoding it.
        .no_echo()
}

/// Connects for the service: returns at once and keeps (re)connecting in the background forever.
pub async fn connect_service(config: &AgentConfig) -> anyhow::Result<Client> {
    let ping = Duration::from_secs(rand::thread_rng().gen_range(35..=45));
    base_options(config)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .ping_interval(ping)
        .connection_timeout(Duration::from_secs(10))
        .reconnect_delay_callback(reconnect_delay)
        .event_callback(|event| async move { log_event(event) })
        .connect(config.nats_url.as_str())
        .await
        .with_context(|| format!("Failed to set up the NATS client for {}", config.nats_url))
}

/// Connects once, for the installer's check-in; fails instead of retrying.
pub async fn connect_once(config: &AgentConfig) -> anyhow::Result<Client> {
    let connect = base_options(config)
        .max_reconnects(Some(1))
        .connection_timeout(ONE_SHOT_CONNECT_TIMEOUT)
        .connect(config.nats_url.as_str());
    tokio::time::timeout(ONE_SHOT_CONNECT_TIMEOUT * 2, connect)
        .await
        .context("timed out")?
        .with_context(|| format!("Failed to connect to NATS at {}", config.nats_url))
}

fn log_event(event: Event) {
    match event {
        Event::Connected => tracing::info!("connected to NATS"),
        Event::Disconnected => tracing::warn!("disconnected from NATS; reconnecting"),
        Event::ClientError(e) => tracing::warn!(error = %e, "NATS connection attempt failed"),
        Event::ServerError(e) => tracing::warn!(error = %e, "NATS server error"),
        Event::LameDuckMode => tracing::info!("NATS server entering lame duck mode"),
        Event::SlowConsumer(sid) => tracing::warn!(sid, "NATS slow consumer"),
        Event::Draining => tracing::debug!("NATS client draining"),
        Event::Closed => tracing::debug!("NATS client closed"),
    }
}

/// Publishes a telemetry message on `<agent_id>` with its type tag as the reply field.
pub async fn publish_telemetry(client: &Client, message: &Telemetry) -> anyhow::Result<()> {
    let payload = message
        .encode()
        .with_context(|| format!("Failed to encode {}", message.kind().tag()))?;
    client
        .publish_with_reply(message.agent_id().to_owned(), message.kind().tag(), payload.into())
        .await
        .with_context(|| format!("Failed to publish {}", message.kind().tag()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_start_at_zero_and_stay_within_eight_seconds() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        for attempts in 2..50 {
            let d = reconnect_delay(attempts);
            assert!(d >= Duration::from_millis(500), "{attempts}: {d:?}");
            assert!(d <= Duration::from_secs(8), "{attempts}: {d:?}");
        }
        assert!(reconnect_delay(2) <= Duration::from_secs(2));
        assert!(reconnect_delay(20) >= Duration::from_secs(2));
    }
}
