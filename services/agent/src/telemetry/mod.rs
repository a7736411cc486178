//! Telemetry messages (agent-protocol.md 1.4): collected from the kernel on demand and published on
//! `<agent_id>` with the type tag in the reply field.

pub mod disks;
pub mod info;
pub mod publicip;
pub mod wmi;

use trmm_protocol::nats::{Disks, Hello, PublicIp, Telemetry, TelemetryKind, WinServices, Wmi};

use crate::config::AgentConfig;

/// Collects one message; None only if collecting panicked (logged). File reads run on the blocking pool
/// so they never stall NATS traffic.
pub async fn collect(kind: TelemetryKind, config: &AgentConfig) -> Option<Telemetry> {
    let agent_id = config.agent_id.clone();
    Some(match kind {
        TelemetryKind::Hello => Telemetry::Hello(Hello {
            agent_id,
            version: crate::VERSION.to_owned(),
        }),
        TelemetryKind::AgentInfo => Telemetry::AgentInfo(blocking(move || info::agent_info(agent_id)).await?),
        TelemetryKind::Disks => Telemetry::Disks(Disks {
            agent_id,
            disks: blocking(disks::disks).await?,
        }),
        // Upstream sends [] on unix; systemd's service units stand in for Windows services here.
        TelemetryKind::WinSvc => Telemetry::WinSvc(WinServices {
            agent_id,
            services: crate::commands::services::list(&config.systemctl)
                .await
                .unwrap_or_else(|e| {
                    tracing::debug!(error = %e, "no service list for agent-winsvc");
                    Vec::new()
                }),
        }),
        TelemetryKind::PublicIp => Telemetry::PublicIp(PublicIp {
            agent_id,
            public_ip: publicip::lookup(config).await,
        }),
        TelemetryKind::Wmi => Telemetry::Wmi(Wmi {
            agent_id,
            wmi: blocking(wmi::collect).await?,
        }),
    })
}

async fn blocking<T, W>(work: W) -> Option<T>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(error = %e, "telemetry collection failed");
            None
        }
    }
}

/// Collects and publishes one message; failures are logged, never fatal.
pub async fn send(client: &async_nats::Client, config: &AgentConfig, kind: TelemetryKind) {
    let Some(message) = collect(kind, config).await else {
        return;
    };
    match crate::nats::publish_telemetry(client, &message).await {
        Ok(()) => tracing::debug!(kind = kind.tag(), "telemetry published"),
        Err(e) => tracing::warn!(kind = kind.tag(), error = format!("{e:#}"), "telemetry not published"),
    }
}
