//! Checks (Go agent `agent/checks.go`, agent-protocol.md 3.4–3.5) on Linux: [`Executor::run_one`] measures one
//! check and returns the body of `PATCH /api/v3/checkrunner/`; [`runner`] fetches the checks, runs them as the
//! Go agent schedules them and sends each result as soon as it is ready. Windows notions map to Linux ones:
//! a service is a systemd unit and the event log is the journal.

pub mod disk;
pub mod eventlog;
pub mod ping;
pub mod runner;
pub mod script;
pub mod usage;
pub mod winsvc;

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use trmm_protocol::checks::{CheckDefinition, CheckReport, CheckType, PercentResult, Reported};
use trmm_runtime::clock::{SharedClock, SystemClock};

pub use runner::{run_checks, run_loop, try_start, RunGuard};

use crate::commands::system::CPU_SAMPLE;
use crate::svc::Agent;

/// The body of `PATCH /api/v3/checkrunner/`.
pub type CheckReportBody = Reported<CheckReport>;

/// What running a check needs from the agent; built from its config, or by hand in tests.
#[derive(Debug, Clone)]
pub struct Executor {
    /// Reported in every result.
    pub agent_id: String,
    /// Service manager behind winsvc checks.
    pub systemctl: PathBuf,
    /// Journal reader behind eventlog checks.
    pub journalctl: PathBuf,
    /// Where script checks write their scripts; None: next to the agent binary.
    pub script_dir: Option<PathBuf>,
    /// The cpuload sample window.
    pub cpu_window: Duration,
    /// The system `ping`, used when no ICMP socket can be opened.
    pub ping_program: PathBuf,
    /// "Now" for eventlog's `search_last_days`.
    pub clock: SharedClock,
    /// Stops a cpuload sample or a script check early.
    pub shutdown: CancellationToken,
}

impl Executor {
    /// The executor of a running agent.
    pub fn for_agent(agent: &Agent) -> Executor {
        Executor {
            agent_id: agent.config.agent_id.clone(),
            systemctl: agent.config.systemctl.clone(),
            journalctl: agent.config.journalctl.clone(),
            script_dir: agent.config.script_dir.clone(),
            cpu_window: CPU_SAMPLE,
            ping_program: PathBuf::from(ping::PING_PROGRAM),
            clock: SystemClock::shared(),
            shutdown: agent.shutdown.clone(),
        }
    }

    /// Runs one check. None for a type this agent does not know (skipped, as the Go agent skips it), a
    /// measurement that cannot be taken, or an agent stopping in the middle of a cpuload sample.
    pub async fn run_one(&self, check: &CheckDefinition) -> Option<CheckReportBody> {
        let result = match check.check_type {
            CheckType::Diskspace => CheckReport::Disk(disk::check(check.disk.as_deref().unwrap_or_default()).await),
            CheckType::Cpuload => {
                let percent = usage::cpu_percent(&self.shutdown, self.cpu_window).await?;
                CheckReport::Percent(PercentResult { percent })
            }
            CheckType::Memory => CheckReport::Percent(PercentResult {
                percent: usage::memory_percent()?,
            }),
            CheckType::Ping => {
                let host = check.ip.as_deref().unwrap_or_default();
                CheckReport::Ping(ping::check(host, &self.ping_program, &self.shutdown).await)
            }
            CheckType::Winsvc => CheckReport::Service(winsvc::check(&self.systemctl, check).await),
            CheckType::Script => CheckReport::Script(script::check(self, check).await),
            CheckType::Eventlog => {
                CheckReport::EventLog(eventlog::check(&self.journalctl, check, self.clock.now()).await)
            }
            CheckType::Unknown => {
                tracing::debug!(id = check.id, "check type not supported by this agent; skipped");
                return None;
            }
        };
        Some(Reported {
            id: i64::from(check.id),
            agent_id: self.agent_id.clone(),
            result,
        })
    }
}
