//! Public IP lookup (Go agent `PublicIP`): ask each configured service in turn with a short timeout;
//! if the answer is IPv6, ask the IPv4 service once. "error" when nobody gave a valid address.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::AgentConfig;

/// What upstream reports when the lookup fails.
pub const LOOKUP_FAILED: &str = "error";
/// Longest answer read from a service; an address is far shorter.
const MAX_ANSWER: usize = 128;

/// The public IP, or "error" when the lookup is disabled or fails.
pub async fn lookup(config: &AgentConfig) -> String {
    if !config.public_ip_enabled || config.public_ip_urls.is_empty() {
        return LOOKUP_FAILED.to_owned();
    }
    let user_agent = format!("trmm/{}/{}/{}", crate::VERSION, crate::PLAT, crate::goarch());
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(config.public_ip_timeout_secs.max(1)))
        .pool_max_idle_per_host(0)
        .user_agent(user_agent)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the public IP client");
            return LOOKUP_FAILED.to_owned();
        }
    };
    for url in &config.public_ip_urls {
        let Some(ip) = ask(&client, url).await else {
            continue;
        };
        if ip.is_ipv4() {
            return ip.to_string();
        }
        match ask(&client, &config.public_ipv4_url).await {
            Some(v4) => return v4.to_string(),
            // Upstream keeps the IPv6 answer when the IPv4 service is unreachable.
            None => return ip.to_string(),
        }
    }
    LOOKUP_FAILED.to_owned()
}

async fn ask(client: &reqwest::Client, url: &str) -> Option<IpAddr> {
    let resp = match client.get(url).send().await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(url, error = %e, "public IP service unreachable");
            return None;
        }
    };
    let body = resp.bytes().await.ok()?;
    parse_answer(&body[..body.len().min(MAX_ANSWER)])
}

/// An address with all whitespace removed (Go `StripAll`), or None.
pub fn parse_answer(body: &[u8]) -> Option<IpAddr> {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_stripped_and_validated() {
        assert_eq!(parse_answer(b" 203.0.113.7\n").unwrap().to_string(), "203.0.113.7");
        assert!(parse_answer(b"2001:db8::1\r\n").unwrap().is_ipv6());
        assert_eq!(parse_answer(b"<html>blocked</html>"), None);
    }
}
