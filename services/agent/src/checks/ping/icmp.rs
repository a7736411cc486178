//! The echo exchange over an ICMP socket, connected to the target so only its packets arrive. Datagram
//! sockets get bare ICMP messages and the kernel picks the identifier; raw IPv4 sockets also get the IP
//! header. Replies are recognized by a random token in the payload, which works for both kinds.

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use super::{Reply, Session, COUNT, INTERVAL, PAYLOAD, TIMEOUT};

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// ICMP header: type, code, checksum, identifier, sequence.
const HEADER: usize = 8;
/// Room for a reply with an IP header in front.
const RECV_BUFFER: usize = 2048;

/// An ICMP socket connected to one address.
pub struct Pinger {
    /// Any connected datagram-like socket does for tokio's send/recv; this is the safe way to register it.
    socket: UdpSocket,
    addr: IpAddr,
    /// A raw socket: replies carry the IPv4 header, and the ICMPv4 checksum is ours to compute.
    raw: bool,
    token: [u8; 8],
    identifier: u16,
}

impl Pinger {
    /// A datagram ICMP socket if allowed, else a raw one.
    pub fn open(addr: IpAddr) -> io::Result<Pinger> {
        let (domain, protocol) = match addr {
            IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
            IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
        };
        let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
            Ok(s) => (s, false),
            Err(dgram) => {
                let s = Socket::new(domain, Type::RAW, Some(protocol))
                    .map_err(|raw| io::Error::new(raw.kind(), format!("datagram ICMP socket: {dgram}; raw: {raw}")))?;
                (s, true)
            }
        };
        socket.set_nonblocking(true)?;
        socket.connect(&SocketAddr::new(addr, 0).into())?;
        Ok(Pinger {
            socket: UdpSocket::from_std(socket.into())?,
            addr,
            raw,
            token: rand::random(),
            identifier: rand::random(),
        })
    }

    /// Sends [`COUNT`] requests [`INTERVAL`] apart and collects replies until all are in or [`TIMEOUT`].
    pub async fn exchange(&self, host: &str, shutdown: &CancellationToken) -> io::Result<Session> {
        let start = Instant::now();
        let deadline = start + TIMEOUT;
        let (mut sent_at, mut replies) = (Vec::new(), Vec::<Reply>::new());
        let mut next_send = start;
        while replies.len() < usize::from(COUNT) {
            let sending = sent_at.len() < usize::from(COUNT);
            tokio::select! {
                () = shutdown.cancelled() => return Err(io::Error::new(io::ErrorKind::Interrupted, "the agent is stopping")),
                () = sleep_until(deadline) => break,
                () = sleep_until(next_send), if sending => {
                    let seq = sent_at.len() as u16;
                    self.send(seq).await?;
                    sent_at.push(Instant::now());
                    next_send += INTERVAL;
                }
                received = self.recv() => {
                    let Some((seq, bytes)) = self.parse(&received?) else { continue };
                    let known = sent_at.get(usize::from(seq)).copied();
                    if let Some(at) = known.filter(|_| replies.iter().all(|r| r.seq != seq)) {
                        replies.push(Reply { seq, bytes, rtt: at.elapsed() });
                    }
                }
            }
        }
        Ok(Session {
            host: host.to_owned(),
            addr: self.addr,
            sent: sent_at.len() as u16,
            replies,
        })
    }

    async fn send(&self, seq: u16) -> io::Result<()> {
        self.socket.send(&self.request(seq)).await.map(drop)
    }

    async fn recv(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; RECV_BUFFER];
        let n = self.socket.recv(&mut buf).await?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Whether this is a raw socket (replies start with the IPv4 header).
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// An echo request: header, then the token, then filler up to [`PAYLOAD`] bytes.
    pub fn request(&self, seq: u16) -> Vec<u8> {
        let kind = if self.addr.is_ipv4() {
            ECHO_REQUEST_V4
        } else {
            ECHO_REQUEST_V6
        };
        let mut p = vec![kind, 0, 0, 0];
        p.extend_from_slice(&self.identifier.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&self.token);
        p.extend((p.len()..HEADER + PAYLOAD).map(|i| i as u8));
        // The kernel fills in ICMPv6 checksums (and those of datagram sockets); raw ICMPv4 needs ours.
        if self.addr.is_ipv4() {
            let sum = checksum(&p);
            p[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        p
    }

    /// (sequence, ICMP bytes) of an echo reply carrying our token.
    pub fn parse(&self, packet: &[u8]) -> Option<(u16, usize)> {
        let icmp = if self.raw && self.addr.is_ipv4() {
            let header_len = usize::from(packet.first()? & 0x0f) * 4;
            packet.get(header_len..)?
        } else {
            packet
        };
        let reply = if self.addr.is_ipv4() {
            ECHO_REPLY_V4
        } else {
            ECHO_REPLY_V6
        };
        let ours = icmp.first() == Some(&reply) && icmp.get(HEADER..HEADER + 8) == Some(&self.token[..]);
        ours.then(|| (u16::from_be_bytes([icmp[6], icmp[7]]), icmp.len()))
    }
}

/// The Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
