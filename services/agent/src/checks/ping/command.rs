//! The fallback when no ICMP socket can be had: the system `ping` (iputils or busybox), whose own report is
//! the check's output. The address is passed resolved, so nothing from the check reaches its options.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use super::{COUNT, PAYLOAD, TIMEOUT};
use crate::commands::output;

/// Past ping's own deadline, in case it ignores it.
const GRACE: Duration = Duration::from_secs(5);

/// Runs `program` against `addr`: (passing, output).
pub async fn ping(program: &Path, addr: IpAddr) -> Result<(bool, String), String> {
    let (count, size, deadline) = (COUNT.to_string(), PAYLOAD.to_string(), TIMEOUT.as_secs().to_string());
    let addr = addr.to_string();
    let args = ["-c", &count, "-s", &size, "-w", &deadline, &addr];
    let out = output::capture(program, &args, TIMEOUT + GRACE).await?;
    let mut text = out.stdout;
    if !out.stderr.is_empty() {
        text.push_str(&out.stderr);
    }
    match counts(&text) {
        // Every request answered, as the socket path decides.
        Some((sent, received)) => Ok((sent > 0 && sent == received, text)),
        None if text.trim().is_empty() => Err(format!("{} exited with {}", program.display(), out.exit_code)),
        None => Err(text),
    }
}

/// (transmitted, received) from the statistics line: iputils' "3 packets transmitted, 2 received, …" or
/// busybox's "3 packets transmitted, 2 packets received, …".
pub fn counts(report: &str) -> Option<(u32, u32)> {
    let line = report.lines().find(|l| l.contains("packets transmitted"))?;
    let mut parts = line.split(',');
    let number = |part: Option<&str>| part?.split_whitespace().next()?.parse::<u32>().ok();
    Some((number(parts.next())?, number(parts.next())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iputils_and_busybox_statistics_are_read() {
        let iputils = "PING 10.0.0.1 (10.0.0.1) 548(576) bytes of data.\n\
                       556 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms\n\n\
                       --- 10.0.0.1 ping statistics ---\n\
                       3 packets transmitted, 1 received, 66.6667% packet loss, time 2030ms\n\
                       rtt min/avg/max/mdev = 0.045/0.045/0.045/0.000 ms\n";
        assert_eq!(counts(iputils), Some((3, 1)));
        let busybox = "--- ::1 ping statistics ---\n3 packets transmitted, 3 packets received, 0% packet loss\n";
        assert_eq!(counts(busybox), Some((3, 3)));
        assert_eq!(counts("ping: connect: Network is unreachable\n"), None);
    }
}
