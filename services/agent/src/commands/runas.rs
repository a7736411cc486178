//! `run_as_user` on unix. Upstream's Windows agent runs the script with the interactive console user's
//! token; here the process gets that user's uid/gid and login environment. Upstream silently falls back to
//! SYSTEM when nobody is logged in; this agent refuses and says why instead.

use std::path::{Path, PathBuf};

use crate::telemetry::info::{self, UtmpSession};

/// What the reply says when run-as-user was asked for and nobody is logged in.
pub const NO_USER: &str = "run_as_user was requested but no user is logged in on this machine, so nothing was run";

/// Identity and login environment of the user a command runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// Login name.
    pub user: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
    /// Login shell.
    pub shell: PathBuf,
}

impl RunAs {
    /// Looks up a user by name in the password database.
    pub fn lookup(name: &str) -> Result<RunAs, String> {
        match nix::unistd::User::from_name(name) {
            Ok(Some(u)) => Ok(RunAs {
                user: u.name,
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
                home: u.dir,
                shell: u.shell,
            }),
            Ok(None) => Err(format!("the logged-in user {name:?} is not in the password database")),
            Err(e) => Err(format!("cannot look up user {name:?}: {e}")),
        }
    }

    /// The login variables the child gets on top of the inherited environment.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("HOME", self.home.display().to_string()),
            ("USER", self.user.clone()),
            ("LOGNAME", self.user.clone()),
            ("SHELL", self.shell.display().to_string()),
        ];
        // Desktop-session helpers (notify-send, dbus) find the session bus through it.
        let runtime = format!("/run/user/{}", self.uid);
        if Path::new(&runtime).is_dir() {
            env.push(("XDG_RUNTIME_DIR", runtime));
        }
        env
    }

    /// Makes `cmd` run as this user, from its home directory. std drops the supplementary groups when the
    /// uid changes, so the child has the primary group only.
    pub fn apply(&self, cmd: &mut tokio::process::Command) {
        #[cfg(unix)]
        cmd.uid(self.uid).gid(self.gid);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let cwd = if self.home.is_dir() {
            self.home.as_path()
        } else {
            Path::new("/")
        };
        cmd.current_dir(cwd);
    }
}

/// The user to run as: the first console session's user (virtual terminal or local X), else the first
/// logged-in user of any kind, the one the dashboard shows as logged in.
pub fn pick_session(sessions: &[UtmpSession]) -> Option<&UtmpSession> {
    sessions.iter().find(|s| s.is_console()).or_else(|| sessions.first())
}

/// The logged-in user, or [`NO_USER`] / a lookup error.
pub fn logged_in_user() -> Result<RunAs, String> {
    let sessions = info::read_utmp()
        .map(|bytes| info::utmp_sessions(&bytes))
        .unwrap_or_default();
    let session = pick_session(&sessions).ok_or_else(|| NO_USER.to_owned())?;
    RunAs::lookup(&session.user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::exec::{self, Options, Spec};
    use tokio_util::sync::CancellationToken;

    fn sh(script: &str) -> Spec {
        Spec {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: Vec::new(),
            timeout_secs: 10,
        }
    }

    fn session(user: &str, line: &str, host: &str) -> UtmpSession {
        UtmpSession {
            user: user.into(),
            line: line.into(),
            host: host.into(),
        }
    }

    #[test]
    fn console_sessions_win_over_remote_ones() {
        let remote = session("ops", "pts/0", "10.0.0.5");
        let x = session("alice", "pts/1", ":0");
        let tty = session("bob", "tty2", "");
        assert_eq!(pick_session(&[remote.clone(), x.clone()]), Some(&x));
        assert_eq!(pick_session(&[remote.clone(), tty.clone()]), Some(&tty));
        assert_eq!(pick_session(std::slice::from_ref(&remote)), Some(&remote));
        assert_eq!(pick_session(&[]), None);
    }

    #[test]
    fn root_is_found_with_its_login_environment() {
        let root = RunAs::lookup("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        let env = root.env();
        assert!(env.contains(&("USER", "root".to_owned())));
        assert!(env.iter().any(|(k, _)| *k == "HOME"));
        assert!(RunAs::lookup("no-such-user-trmm").is_err());
    }

    #[tokio::test]
    async fn a_command_can_run_as_another_user() {
        if !nix::unistd::geteuid().is_root() {
            return; // only root can switch users
        }
        let nobody = RunAs::lookup("nobody").unwrap();
        let options = Options {
            run_as: Some(nobody.clone()),
            ..Options::default()
        };
        let out = exec::run_with(
            &sh("id -u; id -g; echo $HOME $USER; pwd"),
            &options,
            None,
            &CancellationToken::new(),
        )
        .await;
        let cwd = if nobody.home.is_dir() {
            nobody.home.display().to_string()
        } else {
            "/".into()
        };
        assert_eq!(
            out.stdout,
            format!(
                "{}\n{}\n{} nobody\n{cwd}\n",
                nobody.uid,
                nobody.gid,
                nobody.home.display()
            ),
            "{}",
            out.stderr
        );
    }
}
