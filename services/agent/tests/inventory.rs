//! Linux inventory through the real agent: `softwarelist` from this machine's package database, and
//! systemd units as services (`winservices`, `winsvcdetail`, `winsvcaction`, `agent-winsvc`) through a
//! fake systemctl that records its calls, so no real unit is ever touched.

mod common;

use std::path::{Path, PathBuf};

use common::{collect_until, request, running, wait_for_ping, Fixture, SECS_30};
use trmm_protocol::nats::{Command, ServiceActionResponse, Telemetry, TelemetryKind, WinSoftwareList, WindowsService};

/// Canned systemd: ssh running, cron failed, rsync disabled (only a unit file), a template and a ghost.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
printf '%s\n' "$*" >> "$(dirname "$0")/calls.log"
block() { printf 'Id=%s\nDescription=%s\nLoadState=loaded\nActiveState=%s\nSubState=x\nUnitFileState=%s\nUser=%s\nMainPID=%s\nExecStart=%s\n\n' "$@"; }
case "$1" in
list-units)
    printf 'ssh.service loaded active running OpenBSD Secure Shell server\n'
    printf 'cron.service loaded failed failed Regular background program processing daemon\n'
    printf 'ghost.service not-found inactive dead ghost.service\n' ;;
list-unit-files)
    printf 'ssh.service enabled enabled\ncron.service enabled enabled\nrsync.service disabled enabled\n'
    printf 'getty@.service enabled enabled\nsshd.service alias -\n' ;;
show)
    while [ "$1" != "--" ]; do shift; done; shift
    for unit in "$@"; do
        case "$unit" in
        ssh.service) block ssh.service 'OpenBSD Secure Shell server' active enabled '' 612 '{ path=/usr/sbin/sshd ; argv[]=/usr/sbin/sshd -D ; ignore_errors=no }' ;;
        cron.service) block cron.service 'Regular background program processing daemon' failed enabled '' 0 '{ path=/usr/sbin/cron ; argv[]=/usr/sbin/cron -f ; ignore_errors=no }' ;;
        rsync.service) block rsync.service 'fast remote file copy program daemon' inactive disabled rsync 0 '' ;;
        *) printf 'Id=%s\nLoadState=not-found\n\n' "$unit" ;;
        esac
    done ;;
start|stop|restart)
    if [ "$3" = "broken.service" ]; then echo "Job for broken.service failed because the control process exited with error code." >&2; exit 1; fi ;;
*) echo "unexpected call: $*" >&2; exit 2 ;;
esac
"#;

/// Writes the fake systemctl into `dir`; returns its path.
fn fake_systemctl(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("systemctl");
    std::fs::write(&path, FAKE_SYSTEMCTL).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn softwarelist_reports_dpkg_packages() {
    if trmm_agent::commands::interpreter::find_program("dpkg-query").is_none() {
        return; // the rpm parser is covered by unit tests
    }
    let (fx, agent, client) = running().await;
    let list: Vec<WinSoftwareList> = request(&client, fx.agent_id(), &Command::new("softwarelist", 15), SECS_30).await;
    let bash = list
        .iter()
        .find(|s| s.name == "bash")
        .unwrap_or_else(|| panic!("no bash among {} packages; {}", list.len(), agent.log()));
    assert!(bash.version.starts_with(|c: char| c.is_ascii_digit()), "{bash:?}");
    assert!(bash.size.ends_with('B'), "{bash:?}");
    assert_eq!(bash.source, "dpkg");
    assert!(bash.uninstall.ends_with(" bash"), "{bash:?}");
    // "%02d-%d-%02d": four-digit year, unpadded month, two-digit day.
    let parts: Vec<&str> = bash.install_date.split('-').collect();
    assert!(
        parts.len() == 3 && parts[0].len() == 4 && !parts[1].starts_with('0') && parts[2].len() == 2,
        "{}",
        bash.install_date
    );
}

#[tokio::test]
async fn systemd_units_are_listed_detailed_and_controlled() {
    let tools = tempfile::tempdir().unwrap();
    let systemctl = fake_systemctl(tools.path());
    let fx = Fixture::enrolled(&["--no-public-ip", "--systemctl", systemctl.to_str().unwrap()]).await;
    let client = fx.client().await;
    let mut sub = trmm_testkit::subscribe_live(&client, fx.agent_id(), fx.agent_id()).await;
    let agent = fx.spawn_svc();

    // The start-up agent-winsvc carries the same list (the ingestion stores it in agents.services).
    let msgs = collect_until(&mut sub, SECS_30, |m| {
        m.iter()
            .any(|m| m.reply.as_deref() == Some(TelemetryKind::WinSvc.tag()))
    })
    .await;
    let msg = msgs
        .iter()
        .find(|m| m.reply.as_deref() == Some(TelemetryKind::WinSvc.tag()))
        .unwrap();
    let Telemetry::WinSvc(telemetry) = Telemetry::decode(TelemetryKind::WinSvc, &msg.payload).unwrap() else {
        unreachable!()
    };
    wait_for_ping(&client, fx.agent_id(), SECS_30).await;

    let list: Vec<WindowsService> = request(&client, fx.agent_id(), &Command::new("winservices", 10), SECS_30).await;
    assert_eq!(telemetry.services, list);
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["cron.service", "rsync.service", "ssh.service"],
        "{}",
        agent.log()
    );
    let ssh = &list[2];
    assert_eq!(
        (
            ssh.status.as_str(),
            ssh.start_type.as_str(),
            ssh.pid,
            ssh.binpath.as_str()
        ),
        ("running", "Automatic", 612, "/usr/sbin/sshd -D")
    );
    assert_eq!(
        (ssh.display_name.as_str(), ssh.username.as_str()),
        ("OpenBSD Secure Shell server", "root")
    );
    assert_eq!(
        (list[0].status.as_str(), list[0].start_type.as_str()),
        ("stopped", "Automatic")
    );
    assert_eq!(
        (list[1].start_type.as_str(), list[1].username.as_str()),
        ("Disabled", "rsync")
    );

    let detail = Command::new("winsvcdetail", 10).with("name", "rsync.service");
    let rsync: WindowsService = request(&client, fx.agent_id(), &detail, SECS_30).await;
    assert_eq!(rsync, list[1]);
    let unknown = Command::new("winsvcdetail", 10).with("name", "nope.service");
    let empty: WindowsService = request(&client, fx.agent_id(), &unknown, SECS_30).await;
    assert_eq!(empty.name, "");

    let action = |name: &str, action: &str| {
        Command::new("winsvcaction", 32)
            .with("name", name)
            .with("action", action)
    };
    for verb in ["start", "stop", "restart"] {
        let r: ServiceActionResponse = request(&client, fx.agent_id(), &action("ssh.service", verb), SECS_30).await;
        assert!(r.success && r.errormsg.is_empty(), "{verb}: {r:?}");
    }
    let r: ServiceActionResponse = request(&client, fx.agent_id(), &action("broken.service", "start"), SECS_30).await;
    assert!(!r.success);
    assert!(
        r.errormsg.starts_with("Job for broken.service failed"),
        "{}",
        r.errormsg
    );

    // Refused before systemctl is ever called.
    let before = calls(tools.path()).len();
    for (name, verb) in [
        ("ssh.service; reboot", "stop"),
        ("--force", "stop"),
        ("$(id)", "start"),
        ("ssh.service", "mask"),
    ] {
        let r: ServiceActionResponse = request(&client, fx.agent_id(), &action(name, verb), SECS_30).await;
        assert!(!r.success && !r.errormsg.is_empty(), "{name} {verb}: {r:?}");
    }
    assert_eq!(calls(tools.path()).len(), before);
    let log = calls(tools.path());
    for verb in ["start", "stop", "restart"] {
        assert!(log.contains(&format!("{verb} -- ssh.service")), "{log:?}");
    }
}
