//! `softwarelist` on Linux: the installed packages from dpkg, else rpm, in upstream's `WinSoftwareList`
//! shape (agent-protocol.md 4.5). The Go agent answers `[]` on unix; this fills the same fields from the
//! package database.

use std::path::PathBuf;
use std::time::Duration;

use trmm_protocol::nats::WinSoftwareList;

use super::interpreter::find_program;
use super::output;
use crate::telemetry::disks::byte_count_si;

/// How long the package query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// One line per package: name, version, maintainer, size (KiB), install time (.list mtime), status.
const DPKG_FORMAT: &str =
    "${binary:Package}\t${Version}\t${Maintainer}\t${Installed-Size}\t${db-fsys:Last-Modified}\t${db:Status-Status}\n";
/// One line per package: name, [epoch:]version-release, vendor, size (bytes), install time.
const RPM_FORMAT: &str = "%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{VENDOR}\t%{SIZE}\t%{INSTALLTIME}\n";

/// The installed packages; empty (and logged) when no package manager answers.
pub async fn list() -> Vec<WinSoftwareList> {
    let result = if let Some(dpkg) = find_program("dpkg-query") {
        query(dpkg, &["-W", "-f", DPKG_FORMAT])
            .await
            .map(|text| parse_dpkg(&text, &dpkg_uninstall()))
    } else if let Some(rpm) = find_program("rpm") {
        query(rpm, &["-qa", "--queryformat", RPM_FORMAT])
            .await
            .map(|text| parse_rpm(&text, &rpm_uninstall()))
    } else {
        Err("neither dpkg-query nor rpm was found".to_owned())
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "software list unavailable");
        Vec::new()
    })
}

async fn query(program: PathBuf, args: &[&str]) -> Result<String, String> {
    let out = output::capture(&program, args, QUERY_TIMEOUT).await?;
    if out.exit_code != 0 && out.stdout.is_empty() {
        return Err(format!(
            "{} exited with {}: {}",
            program.display(),
            out.exit_code,
            out.stderr.trim()
        ));
    }
    Ok(out.stdout)
}

/// The removal command prefix for dpkg systems.
fn dpkg_uninstall() -> String {
    if find_program("apt-get").is_some() {
        "apt-get remove -y".into()
    } else {
        "dpkg --remove".into()
    }
}

/// The removal command prefix for rpm systems.
fn rpm_uninstall() -> String {
    [
        ("dnf", "dnf remove -y"),
        ("yum", "yum remove -y"),
        ("zypper", "zypper --non-interactive remove"),
    ]
    .iter()
    .find(|(tool, _)| find_program(tool).is_some())
    .map_or("rpm -e", |(_, cmd)| cmd)
    .to_owned()
}

/// Parses [`DPKG_FORMAT`] output; only packages whose status is `installed` are kept.
pub fn parse_dpkg(text: &str, uninstall: &str) -> Vec<WinSoftwareList> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let [name, version, maintainer, size_kib, modified, status] = f.as_slice() else {
                return None;
            };
            if *status != "installed" || name.is_empty() {
                return None;
            }
            Some(WinSoftwareList {
                name: (*name).to_owned(),
                version: (*version).to_owned(),
                publisher: publisher(maintainer),
                install_date: modified.parse().map(install_date).unwrap_or_default(),
                size: size_kib
                    .parse::<u64>()
                    .map(|kib| byte_count_si(kib.saturating_mul(1024)))
                    .unwrap_or_default(),
                source: "dpkg".into(),
                location: String::new(),
                uninstall: format!("{uninstall} {name}"),
            })
        })
        .collect()
}

/// Parses [`RPM_FORMAT`] output (the `gpg-pubkey` pseudo-packages are keys, not software).
pub fn parse_rpm(text: &str, uninstall: &str) -> Vec<WinSoftwareList> {
    let none = |s: &str| if s == "(none)" { String::new() } else { s.to_owned() };
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let [name, version, vendor, size, installed] = f.as_slice() else {
                return None;
            };
            if name.is_empty() || *name == "gpg-pubkey" {
                return None;
            }
            Some(WinSoftwareList {
                name: (*name).to_owned(),
                version: none(version),
                publisher: none(vendor),
                install_date: installed.parse().map(install_date).unwrap_or_default(),
                size: size.parse::<u64>().map(byte_count_si).unwrap_or_default(),
                source: "rpm".into(),
                location: String::new(),
                uninstall: format!("{uninstall} {name}"),
            })
        })
        .collect()
}

/// "Name <email>" → "Name", like a Windows publisher.
fn publisher(maintainer: &str) -> String {
    match maintainer.split_once(" <") {
        Some((name, _)) => name.trim().to_owned(),
        None => maintainer.trim().to_owned(),
    }
}

/// Upstream's `fmt.Sprintf("%02d-%d-%02d", year, month, day)` of a unix time (UTC): month not padded.
pub fn install_date(unix_secs: i64) -> String {
    let (y, m, d) = civil_from_days(unix_secs.div_euclid(86_400));
    format!("{y:02}-{m}-{d:02}")
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_dates_use_upstreams_format() {
        assert_eq!(install_date(0), "1970-1-01");
        assert_eq!(install_date(1_747_699_200), "2025-5-20");
        assert_eq!(install_date(951_782_400), "2000-2-29");
        assert_eq!(install_date(1_704_067_199), "2023-12-31");
    }

    #[test]
    fn dpkg_lines_become_entries() {
        let text = "bash\t5.2.15-2+b8\tMatthias Klose <doko@debian.org>\t7164\t1747699200\tinstalled\n\
                    oldpkg\t1.0\tX <x@y>\t10\t1\tconfig-files\n\
                    libc6:i386\t2.36\tGNU Libc Maintainers <debian-glibc@lists.debian.org>\t\t\tinstalled\n\
                    broken line\n";
        let list = parse_dpkg(text, "apt-get remove -y");
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[0],
            WinSoftwareList {
                name: "bash".into(),
                version: "5.2.15-2+b8".into(),
                publisher: "Matthias Klose".into(),
                install_date: "2025-5-20".into(),
                size: "7.0 MB".into(),
                source: "dpkg".into(),
                location: String::new(),
                uninstall: "apt-get remove -y bash".into(),
            }
        );
        assert_eq!((list[1].size.as_str(), list[1].install_date.as_str()), ("", ""));
    }

    #[test]
    fn rpm_lines_become_entries() {
        let text = "bash\t5.1.8-9.el9\tRed Hat, Inc.\t7738189\t1700000000\n\
                    gpg-pubkey\tfd431d51-4ae0493b\t(none)\t0\t1700000000\n\
                    tzdata\t1:2024a-1.el9\t(none)\t1700000\t1700000000\n";
        let list = parse_rpm(text, "dnf remove -y");
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].publisher, "Red Hat, Inc.");
        assert_eq!(list[0].size, "7.4 MB");
        assert_eq!(list[0].install_date, "2023-11-14");
        assert_eq!(list[1].publisher, "");
        assert_eq!(list[1].version, "1:2024a-1.el9");
        assert_eq!(list[1].uninstall, "dnf remove -y tzdata");
    }
}
