//! Which program runs a script of a given shell on unix. Upstream's unix agent execs every script but
//! nushell and deno directly, so it needs a `#!` line; that still works here, and scripts without one get
//! the shell's usual interpreter: bash (else sh), python3, or pwsh for powershell.

use std::path::{Path, PathBuf};

use super::script::Job;

/// Exit code for a script that could not be set up: temp-file problem or missing interpreter (upstream 85).
pub const EXIT_SETUP: i64 = 85;
/// Exit code for a script that cannot start, e.g. an unknown shell (upstream 65).
pub const EXIT_START: i64 = 65;
/// Exit code for any other failure before the script ran (upstream 1).
pub const EXIT_ERROR: i64 = 1;

/// Where the Go agent's installer puts nushell.
pub const NUSHELL: &str = "/opt/tacticalagent/bin/nu";
/// nushell's config, used when the server asks for it and it exists.
pub const NUSHELL_CONFIG_DIR: &str = "/opt/tacticalagent/etc/nushell";
/// Where the Go agent's installer puts deno.
pub const DENO: &str = "/opt/tacticalagent/bin/deno";
/// Env entry whose value replaces deno's default permission flags.
const DENO_PERMISSIONS: &str = "DENO_PERMISSIONS=";
/// Searched after `$PATH`, which is minimal under some service managers.
const STANDARD_DIRS: [&str; 6] = [
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Why a script did not run, and the exit code reported for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// `retcode` of the reply.
    pub code: i64,
    /// `stderr` of the reply.
    pub message: String,
}

/// How to run the script file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Program and options before the script path (empty: exec the file itself).
    pub prefix: Vec<String>,
    /// File name suffix the interpreter needs (pwsh refuses files without `.ps1`).
    pub suffix: &'static str,
}

/// The plan for `job` whose normalized code is `code`; may remove `DENO_PERMISSIONS=` from `env`.
/// `find` locates a program by name.
pub fn plan(
    job: &Job,
    code: &str,
    env: &mut Vec<String>,
    find: impl Fn(&str) -> Option<PathBuf>,
) -> Result<Plan, ScriptError> {
    let shebang = code.starts_with("#!");
    let direct = |suffix| Plan {
        prefix: Vec::new(),
        suffix,
    };
    let missing = |message: String| ScriptError {
        code: EXIT_SETUP,
        message,
    };
    let path = |p: PathBuf| p.display().to_string();
    let run_by = |program: PathBuf, suffix| Plan {
        prefix: vec![path(program)],
        suffix,
    };
    match job.shell.as_str() {
        "shell" if shebang => Ok(direct("")),
        "shell" => find("bash")
            .or_else(|| find("sh"))
            .map(|sh| run_by(sh, ""))
            .ok_or_else(|| missing("Neither bash nor sh was found on this agent".into())),
        "python" if shebang => Ok(direct(".py")),
        "python" => find("python3").map(|py| run_by(py, ".py")).ok_or_else(|| {
            missing("python3 is not installed on this agent; install it or start the script with a #! line".into())
        }),
        "powershell" if shebang => Ok(direct(".ps1")),
        "powershell" => {
            let pwsh = find("pwsh").ok_or_else(|| {
                missing("PowerShell (pwsh) is not installed on this agent; install PowerShell 7 to run powershell scripts on Linux".into())
            })?;
            let mut prefix = vec![path(pwsh)];
            prefix.extend(["-NonInteractive", "-NoProfile", "-ExecutionPolicy", "Bypass", "-File"].map(String::from));
            Ok(Plan { prefix, suffix: ".ps1" })
        }
        // Batch syntax means nothing to pwsh or sh; pretending would only produce misleading errors.
        "cmd" if shebang => Ok(direct("")),
        "cmd" => Err(missing(
            "cmd (batch) scripts run only on Windows agents; use a shell, python or powershell script on Linux".into(),
        )),
        "nushell" => {
            let nu = installed(NUSHELL, "nu", &find).ok_or_else(|| {
                missing(format!(
                    "nushell is not installed on this agent (looked for {NUSHELL} and nu on PATH)"
                ))
            })?;
            let mut prefix = vec![path(nu)];
            prefix.extend(nushell_config_options(job.nushell_enable_config));
            Ok(Plan { prefix, suffix: ".nu" })
        }
        "deno" => {
            let deno = installed(DENO, "deno", &find).ok_or_else(|| {
                missing(format!(
                    "deno is not installed on this agent (looked for {DENO} and deno on PATH)"
                ))
            })?;
            // Upstream: the first DENO_PERMISSIONS= entry wins over the server default and leaves the env.
            let perms = match env.iter().position(|e| e.starts_with(DENO_PERMISSIONS)) {
                Some(i) => env.remove(i)[DENO_PERMISSIONS.len()..].to_owned(),
                None => job.deno_default_permissions.clone(),
            };
            let mut prefix = vec![path(deno), "run".into(), "--no-prompt".into()];
            prefix.extend(perms.split_whitespace().map(String::from));
            Ok(Plan { prefix, suffix: ".ts" })
        }
        other => Err(ScriptError {
            code: EXIT_START,
            message: format!("Unsupported shell {other:?}: expected shell, python, powershell, cmd, nushell or deno"),
        }),
    }
}

/// nu's options for its config files: none read unless enabled, then the bundled ones when they exist.
fn nushell_config_options(enable_config: bool) -> Vec<String> {
    let config = Path::new(NUSHELL_CONFIG_DIR);
    if !enable_config {
        vec!["--no-config-file".into()]
    } else if config.join("config.nu").is_file() {
        let path = |name: &str| config.join(name).display().to_string();
        vec![
            "--config".into(),
            path("config.nu"),
            "--env-config".into(),
            path("env.nu"),
        ]
    } else {
        Vec::new()
    }
}

fn installed(bundled: &str, name: &str, find: &impl Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    let bundled = Path::new(bundled);
    if is_executable(bundled) {
        Some(bundled.to_owned())
    } else {
        find(name)
    }
}

/// The first executable `name` in `$PATH`, then in the standard system directories.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(STANDARD_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(shell: &str) -> Job {
        Job {
            shell: shell.into(),
            ..Job::default()
        }
    }

    fn everything(name: &str) -> Option<PathBuf> {
        Some(PathBuf::from(format!("/usr/bin/{name}")))
    }

    fn nothing(_: &str) -> Option<PathBuf> {
        None
    }

    fn prefix(shell: &str, code: &str, find: fn(&str) -> Option<PathBuf>) -> Result<Vec<String>, ScriptError> {
        plan(&job(shell), code, &mut Vec::new(), find).map(|p| p.prefix)
    }

    #[test]
    fn a_shebang_is_executed_directly() {
        for shell in ["shell", "python", "powershell", "cmd"] {
            assert_eq!(
                prefix(shell, "#!/bin/sh\n", nothing).unwrap(),
                Vec::<String>::new(),
                "{shell}"
            );
        }
        let ps = plan(&job("powershell"), "#!/usr/bin/env pwsh\n", &mut Vec::new(), nothing).unwrap();
        assert_eq!(ps.suffix, ".ps1");
    }

    #[test]
    fn without_a_shebang_the_shells_interpreter_runs_it() {
        assert_eq!(prefix("shell", "echo", everything).unwrap(), ["/usr/bin/bash"]);
        assert_eq!(prefix("python", "print()", everything).unwrap(), ["/usr/bin/python3"]);
        let ps = prefix("powershell", "Write-Output 1", everything).unwrap();
        assert_eq!(ps.first().map(String::as_str), Some("/usr/bin/pwsh"));
        assert_eq!(ps.last().map(String::as_str), Some("-File"));
    }

    #[test]
    fn missing_interpreters_and_unknown_shells_are_clear_errors() {
        for shell in ["shell", "python", "powershell", "cmd"] {
            let err = prefix(shell, "x", nothing).unwrap_err();
            assert_eq!(err.code, EXIT_SETUP, "{shell}");
        }
        assert!(prefix("powershell", "x", nothing).unwrap_err().message.contains("pwsh"));
        assert!(prefix("cmd", "x", everything).unwrap_err().message.contains("Windows"));
        let err = prefix("fish", "x", everything).unwrap_err();
        assert_eq!(err.code, EXIT_START);
        assert!(err.message.contains("\"fish\""), "{}", err.message);
    }

    #[test]
    fn nushell_and_deno_flags_follow_upstream() {
        if Path::new(NUSHELL).exists() || Path::new(DENO).exists() {
            return; // the bundled binaries would be chosen over the fake ones
        }
        assert_eq!(
            prefix("nushell", "ls", everything).unwrap(),
            ["/usr/bin/nu", "--no-config-file"]
        );
        assert!(prefix("nushell", "ls", nothing)
            .unwrap_err()
            .message
            .contains("nushell is not installed"));

        let mut env = vec!["A=1".into(), "DENO_PERMISSIONS=--allow-net --allow-env".into()];
        let with_env = Job {
            deno_default_permissions: "--allow-all".into(),
            ..job("deno")
        };
        let p = plan(&with_env, "x", &mut env, everything).unwrap();
        assert_eq!(
            p.prefix,
            ["/usr/bin/deno", "run", "--no-prompt", "--allow-net", "--allow-env"]
        );
        assert_eq!((p.suffix, env), (".ts", vec!["A=1".to_owned()]));
        let p = plan(&with_env, "x", &mut Vec::new(), everything).unwrap();
        assert_eq!(p.prefix, ["/usr/bin/deno", "run", "--no-prompt", "--allow-all"]);
        assert!(prefix("deno", "x", nothing)
            .unwrap_err()
            .message
            .contains("deno is not installed"));
    }

    #[test]
    fn programs_are_found_on_the_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("no-such-program-trmm").is_none());
    }
}
