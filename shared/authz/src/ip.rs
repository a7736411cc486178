//! The client-IP rule of every HTTP service: the socket peer, or behind a trusted reverse proxy the last
//! X-Forwarded-For hop.

use std::net::IpAddr;

use actix_web::HttpRequest;

/// The proxy setting, flattened into the configuration of every service that records client IPs.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ProxyArgs {
    /// Take the client IP (audit rows, login rate limits) from the last X-Forwarded-For hop, the address the
    /// reverse proxy saw, instead of the socket peer; enable only behind a reverse proxy you control that
    /// appends to X-Forwarded-For.
    #[arg(long, env = "TRMM_TRUST_PROXY_HEADERS", value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_proxy_headers: bool,
}

/// The client's IP: the socket peer, or, with `trust_proxy_headers`, the last X-Forwarded-For entry (the
/// address the trusted proxy saw; earlier entries are whatever the client chose to send), falling back to the
/// peer when that header is missing or unparsable.
pub fn client_ip(req: &HttpRequest, trust_proxy_headers: bool) -> Option<IpAddr> {
    let forwarded = || {
        let header = req.headers().get("x-forwarded-for")?.to_str().ok()?;
        header.rsplit(',').next()?.trim().parse::<IpAddr>().ok()
    };
    let peer = || req.peer_addr().map(|a| a.ip());
    if trust_proxy_headers {
        forwarded().or_else(peer)
    } else {
        peer()
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(forwarded: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr("10.0.0.9:4000".parse().unwrap());
        if let Some(value) = forwarded {
            req = req.insert_header(("X-Forwarded-For", value));
        }
        req.to_http_request()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_last_hop_counts_only_behind_a_trusted_proxy() {
        let spoofed = request(Some("6.6.6.6, 203.0.113.7"));
        assert_eq!(client_ip(&spoofed, true), ip("203.0.113.7"));
        assert_eq!(client_ip(&spoofed, false), ip("10.0.0.9"));
        assert_eq!(client_ip(&request(Some("garbage")), true), ip("10.0.0.9"));
        assert_eq!(client_ip(&request(None), true), ip("10.0.0.9"));
        assert_eq!(client_ip(&request(Some(" 2001:db8::1 ")), true), ip("2001:db8::1"));
    }
}
