//! ping (Go agent `PingCheck`/`DoPing`): 3 echoes of 548 data bytes, 1 s apart, 5 s in all, to an IPv4 or
//! IPv6 address or a host name. The echoes go through an ICMP socket ([`icmp`]): the unprivileged datagram
//! kind where `net.ipv4.ping_group_range` allows it, else a raw one (root or CAP_NET_RAW, what the Go agent
//! uses). Without either, the system `ping` runs instead ([`command`]). Sockets come from socket2 directly:
//! the exchange is small, and surge-ping would add pnet's packet macros for the same few lines.

pub mod command;
pub mod icmp;

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use trmm_protocol::checks::StatusResult;

/// Echo requests per check.
pub const COUNT: u16 = 3;
/// Between two requests.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// The whole exchange, replies included.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Data bytes per request (go-ping `Size`).
pub const PAYLOAD: usize = 548;
/// The system ping, looked up on PATH.
pub const PING_PROGRAM: &str = "ping";

/// One answered echo.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Sequence number, from 0.
    pub seq: u16,
    /// ICMP bytes received.
    pub bytes: usize,
    /// Round trip.
    pub rtt: Duration,
}

/// A finished exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The host as the check names it.
    pub host: String,
    /// The address pinged.
    pub addr: IpAddr,
    /// Requests sent.
    pub sent: u16,
    /// Replies, in arrival order.
    pub replies: Vec<Reply>,
}

impl Session {
    /// go-ping's verdict: every request answered. Upstream fails a check on any loss.
    pub fn passing(&self) -> bool {
        self.sent > 0 && self.replies.len() == usize::from(self.sent)
    }

    /// go-ping's `OnRecv` lines and `OnFinish` statistics, as the Go agent formats them.
    pub fn output(&self) -> String {
        let mut out = String::new();
        for r in &self.replies {
            let _ = writeln!(
                out,
                "{} bytes from {}: icmp_seq={} time={}",
                r.bytes,
                self.addr,
                r.seq,
                go_duration(r.rtt)
            );
        }
        let received = self.replies.len();
        let loss = if self.sent == 0 {
            0.0
        } else {
            (f64::from(self.sent) - received as f64) / f64::from(self.sent) * 100.0
        };
        let _ = writeln!(out, "\n--- {} ping statistics ---", self.host);
        let _ = writeln!(
            out,
            "{} packets transmitted, {received} packets received, {loss}% packet loss",
            self.sent
        );
        let [min, avg, max, stddev] = rtt_stats(&self.replies).map(go_duration);
        let _ = writeln!(out, "round-trip min/avg/max/stddev = {min}/{avg}/{max}/{stddev}");
        out
    }
}

/// min, mean, max and population standard deviation of the round trips (go-ping's), zero without replies.
fn rtt_stats(replies: &[Reply]) -> [Duration; 4] {
    let nanos: Vec<f64> = replies.iter().map(|r| r.rtt.as_nanos() as f64).collect();
    if nanos.is_empty() {
        return [Duration::ZERO; 4];
    }
    let n = nanos.len() as f64;
    let mean = nanos.iter().sum::<f64>() / n;
    let var = nanos.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let min = nanos.iter().copied().fold(f64::INFINITY, f64::min);
    let max = nanos.iter().copied().fold(0.0, f64::max);
    [min, mean, max, var.sqrt()].map(|ns| Duration::from_nanos(ns as u64))
}

/// Go's `time.Duration.String()` for durations under a minute: "52.3µs", "1.234567ms", "2.5s", "0s".
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let (unit, scale, digits) = match ns {
        0 => return "0s".to_owned(),
        1..=999 => return format!("{ns}ns"),
        1_000..=999_999 => ("µs", 1_000, 3),
        1_000_000..=999_999_999 => ("ms", 1_000_000, 6),
        _ => ("s", 1_000_000_000, 9),
    };
    let fraction = format!("{:0digits$}", ns % scale);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{}{unit}", ns / scale)
    } else {
        format!("{}.{fraction}{unit}", ns / scale)
    }
}

/// Pings `host`; an address that cannot be resolved or pinged fails with the error as the output.
pub async fn check(host: &str, program: &Path, shutdown: &CancellationToken) -> StatusResult {
    let (passing, output) = match run(host, program, shutdown).await {
        Ok(done) => done,
        Err(e) => {
            tracing::debug!(host, error = %e, "ping check failed");
            (false, e)
        }
    };
    StatusResult {
        status: if passing { "passing" } else { "failing" }.to_owned(),
        output: Some(output),
        more_info: None,
    }
}

async fn run(host: &str, program: &Path, shutdown: &CancellationToken) -> Result<(bool, String), String> {
    let addr = resolve(host).await?;
    match icmp::Pinger::open(addr) {
        Ok(pinger) => {
            let session = pinger.exchange(host, shutdown).await.map_err(|e| e.to_string())?;
            Ok((session.passing(), session.output()))
        }
        Err(e) => {
            tracing::debug!(error = %e, "no ICMP socket; running the system ping");
            command::ping(program, addr).await
        }
    }
}

/// The first address of `host` (an IP literal is its own), bounded by the check's timeout.
pub async fn resolve(host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let lookup = tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((host, 0)));
    match lookup.await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| format!("lookup {host}: no such host")),
        Ok(Err(e)) => Err(format!("lookup {host}: {e}")),
        Err(_) => Err(format!("lookup {host}: timed out")),
    }
}

#[cfg(test)]
mod tests;
