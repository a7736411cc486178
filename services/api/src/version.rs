//! Versions: this server's, the agent release it installs, and agent version numbers compared numerically as
//! upstream does with packaging.version.

use std::fmt;

/// This server's version (`/core/version/`, `/core/dashinfo/`, `/core/v2/status/`).
pub const TRMM_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Tactical RMM agent release whose installer the `manual` command for Windows downloads.
pub const AGENT_VERSION: &str = "2.9.1";
use std::str::FromStr;

/// A dotted numeric version such as 2.9.1 (a pre-release suffix like `-dev` is ignored).
#[derive(Debug, Clone)]
pub struct Version {
    parts: Vec<u64>,
    text: String,
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl FromStr for Version {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let core = s
            .trim()
            .trim_start_matches('v')
            .split(['-', '+'])
            .next()
            .unwrap_or_default();
        let parts: Result<Vec<u64>, _> = core.split('.').map(str::parse).collect();
        match parts {
            Ok(mut p) if !p.is_empty() => {
                while p.len() > 1 && p.last() == Some(&0) {
                    p.pop();
                }
                Ok(Version {
                    parts: p,
                    text: s.trim().to_owned(),
                })
            }
            _ => Err(format!("invalid version {s:?}")),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::Version;

    #[test]
    fn numeric_ordering() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(v("2.10.0") > v("2.9.1"));
        assert!(v("2.9.0") <= v("2.9.1"));
        assert_eq!(v("2.9"), v("2.9.0"));
        assert!("abc".parse::<Version>().is_err());
    }
}
