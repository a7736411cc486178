//! systemd integration: the unit file written at install, `systemctl` calls, and uninstall.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

/// Default unit directory.
pub const DEFAULT_SYSTEMD_DIR: &str = "/etc/systemd/system";
/// systemd unit name.
pub const UNIT_NAME: &str = "trmm-agent.service";
/// How long one systemctl call may take.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(90);

/// The unit file text for running `exe svc --config <config>`.
pub fn unit_text(exe: &Path, config: &Path) -> String {
    format!(
        "[Unit]\n\
         Description=Tactical RMM agent (trmm-agent)\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={} svc --config {}\n\
         Restart=always\n\
         RestartSec=5s\n\
         # Commands the agent started (a reboot, a long script) outlive a service restart, as with the Go agent.\n\
         KillMode=process\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        quote(&exe.display().to_string()),
        quote(&config.display().to_string()),
    )
}

/// systemd's command-line quoting: double quotes with backslash escapes when needed.
fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && !arg
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c == '\'')
    {
        return arg.to_owned();
    }
    format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Writes the unit file into `dir`; returns its path.
pub fn write_unit(dir: &Path, exe: &Path, config: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    let path = dir.join(UNIT_NAME);
    std::fs::write(&path, unit_text(exe, config))
        .with_context(|| format!("Failed to write the unit file {}", path.display()))?;
    Ok(path)
}

/// `systemctl daemon-reload` then `systemctl enable --now trmm-agent`.
pub async fn enable_and_start() -> anyhow::Result<()> {
    systemctl(&["daemon-reload"]).await?;
    systemctl(&["enable", "--now", UNIT_NAME]).await
}

async fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    let run = tokio::process::Command::new("systemctl")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output();
    let out = tokio::time::timeout(SYSTEMCTL_TIMEOUT, run)
        .await
        .with_context(|| format!("systemctl {} timed out", args.join(" ")))?
        .with_context(|| {
            format!(
                "Failed to run systemctl {}; is systemd installed? (use --no-service to skip)",
                args.join(" ")
            )
        })?;
    if !out.status.success() {
        bail!(
            "systemctl {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// What to remove.
#[derive(Debug, Clone)]
pub struct Removal {
    /// The agent config.
    pub config_path: PathBuf,
    /// Directory of the unit file.
    pub systemd_dir: PathBuf,
    /// Run systemctl (false for `--no-service` installs).
    pub manage_service: bool,
}

/// Disables and stops the unit, deletes the unit file and the config. `from_service` is true when the
/// running service uninstalls itself: then the stop is queued last (`--no-block`), because systemd stops
/// this very process with it.
pub async fn uninstall(removal: &Removal, from_service: bool) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    if removal.manage_service {
        let disable: &[&str] = if from_service {
            &["disable", UNIT_NAME]
        } else {
            &["disable", "--now", UNIT_NAME]
        };
        if let Err(e) = systemctl(disable).await {
            problems.push(format!("{e:#}"));
        }
    }
    for path in [removal.systemd_dir.join(UNIT_NAME), removal.config_path.clone()] {
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(path = %path.display(), "removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => problems.push(format!("Failed to remove {}: {e}", path.display())),
        }
    }
    if removal.manage_service {
        if let Err(e) = systemctl(&["daemon-reload"]).await {
            problems.push(format!("{e:#}"));
        }
        if from_service {
            if let Err(e) = systemctl(&["stop", "--no-block", UNIT_NAME]).await {
                problems.push(format!("{e:#}"));
            }
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_runs_svc_with_the_config_and_restarts() {
        let text = unit_text(
            Path::new("/usr/local/bin/trmm-agent"),
            Path::new("/etc/trmm-agent/agent.json"),
        );
        assert!(text.contains("ExecStart=/usr/local/bin/trmm-agent svc --config /etc/trmm-agent/agent.json\n"));
        assert!(text.contains("Restart=always\n"));
        assert!(text.contains("RestartSec=5s\n"));
        assert!(text.contains("WantedBy=multi-user.target"));
    }

    #[test]
    fn paths_with_spaces_are_quoted() {
        let text = unit_text(Path::new("/opt/my agent/trmm-agent"), Path::new("/etc/a.json"));
        assert!(text.contains("ExecStart=\"/opt/my agent/trmm-agent\" svc --config /etc/a.json"));
    }

    #[tokio::test]
    async fn uninstall_without_systemctl_removes_files_and_tolerates_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let unit = write_unit(dir.path(), Path::new("/bin/true"), Path::new("/x.json")).unwrap();
        let config = dir.path().join("agent.json");
        std::fs::write(&config, "{}").unwrap();
        let removal = Removal {
            config_path: config.clone(),
            systemd_dir: dir.path().to_owned(),
            manage_service: false,
        };
        uninstall(&removal, false).await.unwrap();
        assert!(!unit.exists() && !config.exists());
        uninstall(&removal, false).await.unwrap();
    }
}
