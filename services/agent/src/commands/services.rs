//! `winservices`, `winsvcdetail` and `winsvcaction` on Linux: systemd service units in upstream's
//! `WindowsService` shape (agent-protocol.md 1.4, 2.2), controlled through `systemctl`. The Go agent answers
//! `[]` and `{false, "/na"}` on unix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use trmm_protocol::nats::{ServiceActionResponse, WindowsService};

use super::output;

/// How long a listing query may take (the server waits 10 s for the whole list).
const QUERY_TIMEOUT: Duration = Duration::from_secs(8);
/// How long start/stop/restart may take (upstream waits up to 30 s for a stop; the server 32 s).
const ACTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Units per `systemctl show`, to keep the argument list short.
const SHOW_BATCH: usize = 100;
/// The unit properties a `WindowsService` is built from.
const PROPERTIES: &str =
    "--property=Id,Description,LoadState,ActiveState,SubState,UnitFileState,ExecStart,MainPID,User";
/// systemd's limit on unit name length.
const MAX_NAME: usize = 256;

/// Whether `name` may be handed to systemctl: `[A-Za-z0-9@._:-]+`, not starting with `-` (an option).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'.' | b'_' | b':' | b'-'))
}

/// Every service unit systemd knows: loaded ones (`list-units --all`) and installed unit files that are not
/// loaded (disabled ones, as Windows lists stopped and disabled services too). Templates are left out.
pub async fn list(systemctl: &Path) -> Result<Vec<WindowsService>, String> {
    let units = run(
        systemctl,
        &[
            "list-units",
            "--type=service",
            "--all",
            "--no-legend",
            "--plain",
            "--no-pager",
        ],
    )
    .await?;
    let files = run(
        systemctl,
        &["list-unit-files", "--type=service", "--no-legend", "--no-pager"],
    )
    .await?;
    let names: BTreeSet<String> = parse_list_units(&units)
        .into_iter()
        .chain(parse_list_unit_files(&files))
        .filter(|n| valid_name(n))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut services = Vec::with_capacity(names.len());
    for batch in names.chunks(SHOW_BATCH) {
        services.extend(show(systemctl, batch).await?);
    }
    Ok(services)
}

/// One unit; upstream answers an empty record when the service cannot be read.
pub async fn detail(systemctl: &Path, name: &str) -> WindowsService {
    if !valid_name(name) {
        return empty();
    }
    match show(systemctl, &[name]).await {
        Ok(mut found) if !found.is_empty() => found.remove(0),
        Ok(_) => empty(),
        Err(e) => {
            tracing::warn!(unit = name, error = %e, "service detail unavailable");
            empty()
        }
    }
}

/// `systemctl start|stop|restart -- <name>`.
pub async fn action(systemctl: &Path, name: &str, action: &str) -> ServiceActionResponse {
    let fail = |errormsg: String| ServiceActionResponse {
        success: false,
        errormsg,
    };
    if !valid_name(name) {
        return fail(format!("Invalid service name {name:?}"));
    }
    if !matches!(action, "start" | "stop" | "restart") {
        return fail(format!("Unknown action {action:?}: expected start, stop or restart"));
    }
    match output::capture(systemctl, &[action, "--", name], ACTION_TIMEOUT).await {
        Ok(out) if out.exit_code == 0 => ServiceActionResponse {
            success: true,
            errormsg: String::new(),
        },
        Ok(out) if !out.stderr.trim().is_empty() => fail(out.stderr.trim().to_owned()),
        Ok(out) => fail(format!("systemctl {action} {name} exited with {}", out.exit_code)),
        Err(e) => fail(e),
    }
}

fn empty() -> WindowsService {
    WindowsService {
        name: String::new(),
        status: String::new(),
        display_name: String::new(),
        binpath: String::new(),
        description: String::new(),
        username: String::new(),
        pid: 0,
        start_type: String::new(),
        autodelay: false,
    }
}

async fn run(systemctl: &Path, args: &[&str]) -> Result<String, String> {
    let out = output::capture(systemctl, args, QUERY_TIMEOUT).await?;
    if out.exit_code != 0 {
        return Err(format!(
            "systemctl {} exited with {}: {}",
            args.first().unwrap_or(&""),
            out.exit_code,
            out.stderr.trim()
        ));
    }
    Ok(out.stdout)
}

async fn show(systemctl: &Path, names: &[&str]) -> Result<Vec<WindowsService>, String> {
    let mut args = vec!["show", "--no-pager", PROPERTIES, "--"];
    args.extend_from_slice(names);
    Ok(parse_show(&run(systemctl, &args).await?))
}

/// Unit names of `list-units --plain --no-legend` lines (`UNIT LOAD ACTIVE SUB DESCRIPTION`), without the
/// units systemd merely heard of (`not-found`). Some versions mark failed units with a leading "●".
pub fn parse_list_units(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip_while(|f| *f == "●" || *f == "*");
            let (unit, load) = (fields.next()?, fields.next()?);
            (load != "not-found" && unit.ends_with(".service")).then(|| unit.to_owned())
        })
        .collect()
}

/// Unit names of `list-unit-files --no-legend` lines (`UNIT STATE [PRESET]`), without templates and aliases.
pub fn parse_list_unit_files(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (unit, state) = (fields.next()?, fields.next()?);
            let usable = unit.ends_with(".service") && !unit.ends_with("@.service") && state != "alias";
            usable.then(|| unit.to_owned())
        })
        .collect()
}

/// `systemctl show` output: one `Key=Value` block per unit, blocks separated by blank lines.
pub fn parse_show(text: &str) -> Vec<WindowsService> {
    let mut services = Vec::new();
    let mut block = BTreeMap::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if let Some(svc) = service_from(&block) {
                services.push(svc);
            }
            block.clear();
        } else if let Some((k, v)) = line.split_once('=') {
            block.insert(k.to_owned(), v.to_owned());
        }
    }
    services
}

fn service_from(props: &BTreeMap<String, String>) -> Option<WindowsService> {
    let get = |k: &str| props.get(k).map(String::as_str).unwrap_or_default();
    if get("Id").is_empty() || get("LoadState") == "not-found" {
        return None;
    }
    let user = get("User");
    Some(WindowsService {
        name: get("Id").to_owned(),
        status: status(get("ActiveState")).to_owned(),
        display_name: get("Description").to_owned(),
        binpath: exec_start(get("ExecStart")),
        description: get("Description").to_owned(),
        // A unit without User= runs as root.
        username: if user.is_empty() { "root" } else { user }.to_owned(),
        pid: get("MainPID").parse().unwrap_or(0),
        start_type: start_type(get("UnitFileState")).to_owned(),
        autodelay: false,
    })
}

/// systemd's ActiveState in the Windows service vocabulary the dashboard knows.
pub fn status(active_state: &str) -> &'static str {
    match active_state {
        "active" | "reloading" | "refreshing" => "running",
        "activating" => "start_pending",
        "deactivating" => "stop_pending",
        // Windows has no "failed": the service is not running.
        "inactive" | "failed" => "stopped",
        _ => "unknown",
    }
}

/// UnitFileState as a Windows start type: enabled units start at boot, static/indirect ones only when
/// something pulls them in, disabled and masked ones never by themselves.
pub fn start_type(unit_file_state: &str) -> &'static str {
    match unit_file_state {
        "enabled" | "enabled-runtime" | "generated" => "Automatic",
        "disabled" | "masked" | "masked-runtime" => "Disabled",
        "static" | "indirect" | "linked" | "linked-runtime" | "alias" | "transient" => "Manual",
        _ => "Unknown",
    }
}

/// The command line of the first ExecStart entry (Windows' binpath includes the arguments too), from
/// `{ path=/usr/sbin/sshd ; argv[]=/usr/sbin/sshd -D ; ignore_errors=no ; ... }`.
pub fn exec_start(value: &str) -> String {
    let field = |key: &str| {
        value
            .split_once(key)
            .map(|(_, rest)| rest.split(" ;").next().unwrap_or(rest).trim().to_owned())
    };
    field("argv[]=").or_else(|| field("path=")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_restricted() {
        for ok in ["ssh.service", "getty@tty1.service", "a_b-c:d.service", "nginx"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-H host", "--now", "a b", "x;reboot", "$(id)", "a/b", "a\\x2d"] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(!valid_name(&"a".repeat(MAX_NAME + 1)));
    }

    #[test]
    fn list_outputs_are_parsed() {
        let units = "ssh.service loaded active running OpenBSD Secure Shell server\n\
                     ● cron.service loaded failed failed Regular background program\n\
                     gone.service not-found inactive dead gone.service\n";
        assert_eq!(parse_list_units(units), ["ssh.service", "cron.service"]);
        let files = "ssh.service enabled enabled\nsshd.service alias -\ngetty@.service enabled enabled\n\
                     rsync.service disabled enabled\n";
        assert_eq!(parse_list_unit_files(files), ["ssh.service", "rsync.service"]);
    }

    #[test]
    fn show_blocks_become_services() {
        let text = "MainPID=612\nId=ssh.service\nDescription=OpenBSD Secure Shell server\nLoadState=loaded\n\
                    ActiveState=active\nSubState=running\nUnitFileState=enabled\nUser=\n\
                    ExecStart={ path=/usr/sbin/sshd ; argv[]=/usr/sbin/sshd -D $SSHD_OPTS ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n\
                    \n\
                    Id=rsync.service\nDescription=fast remote file copy\nLoadState=loaded\nActiveState=inactive\n\
                    UnitFileState=disabled\nUser=rsync\nMainPID=0\nExecStart=\n\
                    \n\
                    Id=nope.service\nLoadState=not-found\n";
        let svcs = parse_show(text);
        assert_eq!(svcs.len(), 2);
        assert_eq!(
            svcs[0],
            WindowsService {
                name: "ssh.service".into(),
                status: "running".into(),
                display_name: "OpenBSD Secure Shell server".into(),
                binpath: "/usr/sbin/sshd -D $SSHD_OPTS".into(),
                description: "OpenBSD Secure Shell server".into(),
                username: "root".into(),
                pid: 612,
                start_type: "Automatic".into(),
                autodelay: false,
            }
        );
        assert_eq!(
            (
                svcs[1].status.as_str(),
                svcs[1].start_type.as_str(),
                svcs[1].username.as_str()
            ),
            ("stopped", "Disabled", "rsync")
        );
        assert_eq!(svcs[1].binpath, "");
    }

    #[test]
    fn states_map_to_the_windows_vocabulary() {
        assert_eq!(start_type("static"), "Manual");
        assert_eq!(start_type("masked"), "Disabled");
        assert_eq!(start_type("bad"), "Unknown");
        assert_eq!(status("activating"), "start_pending");
        assert_eq!(status("failed"), "stopped");
        assert_eq!(exec_start("{ path=/bin/true ; ignore_errors=no }"), "/bin/true");
    }
}
