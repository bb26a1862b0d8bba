//! DNS for endpoints, on hickory-server: records derived from the model and
//! answered per view (the public one, and one per VPC at its resolver).
//!
//! - [`index`]: follows the model's events into an index of names with O(1)
//!   lookups (which names exist, in which view, and why).
//! - [`names`]: the names and zones of one view, answers prebuilt.
//! - [`zones`]: Route 53 hosted zones in the views (public ones everywhere,
//!   private ones at the resolvers of their VPCs).
//! - [`answer`]: one question answered from a view: records, aliases
//!   resolved to their targets' current records, CNAMEs chased.
//! - [`handler`]: the hickory `RequestHandler` that answers from a view.
//! - [`listeners`]: the public listener and the per-VPC resolvers (127.k.0.2
//!   on the public listener's port), opened and closed as VPCs come and go;
//!   resolvers steered to the public listener's sockets where possible.
//! - [`transport`]: questions off UDP and TCP sockets, each answered by the
//!   view of the address it was sent to.
//!
//! hickory stays behind this module: the rest of the emulator sees
//! [`DnsSettings`], [`bind`] and [`DnsServer`].

pub mod answer;
pub mod handler;
pub mod index;
pub mod listeners;
pub mod names;
pub mod probe;
pub mod transport;
pub mod zones;

use std::io;
use std::net::SocketAddr;

pub use index::{Index, View, VpcKey};
pub use listeners::DnsServer;

/// The DNS port: 53 when the process may bind it.
pub const DEFAULT_DNS_ADDR: &str = "127.0.0.1:53";

/// How the DNS server is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// The public view's listener (UDP and TCP).
    pub addr: SocketAddr,
    /// Port of the per-VPC resolvers; `None`: the public listener's port.
    pub vpc_port: Option<u16>,
    /// Where names outside the emulator's zones are forwarded; `None`
    /// (the default, offline): they are NXDOMAIN.
    pub upstream: Option<SocketAddr>,
    /// Whether VPC resolvers may be steered to the public listener's
    /// sockets (`--listener-sockets`; `per-address`: sockets of their own).
    pub resolver_sockets: crate::dataplane::ListenerSockets,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            addr: DEFAULT_DNS_ADDR.parse().expect("literal address"),
            vpc_port: None,
            upstream: None,
            resolver_sockets: crate::dataplane::ListenerSockets::Auto,
        }
    }
}

/// A UDP socket and a TCP listener on the same address.
pub struct Bound {
    pub udp: tokio::net::UdpSocket,
    pub tcp: tokio::net::TcpListener,
}

impl Bound {
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }
}

/// Binds UDP and TCP on `addr`. With port 0 both get the same free port
/// (TCP picks, UDP follows; retried when another process holds that UDP port).
pub async fn bind(addr: SocketAddr) -> io::Result<Bound> {
    let mut last = None;
    for _ in 0..16 {
        let tcp = tcp_listener(addr)?;
        let port = tcp.local_addr()?.port();
        match udp_socket(SocketAddr::new(addr.ip(), port)) {
            Ok(udp) => return Ok(Bound { udp, tcp }),
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// A socket for `addr`; an address outside loopback may not be on an
/// interface yet (interface mode adds it), so it binds regardless.
fn socket_for(addr: SocketAddr, kind: socket2::Type) -> io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), kind, None)?;
    if !addr.ip().is_loopback() && !addr.ip().is_unspecified() {
        crate::dataplane::socket::free_bind(&socket);
    }
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn tcp_listener(addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = socket_for(addr, socket2::Type::STREAM)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    tokio::net::TcpListener::from_std(socket.into())
}

/// Receive buffer of a UDP listener. With the kernel's default (about
/// 200 KiB) a burst of a few hundred queries in flight overflowed it and
/// queries were dropped before the server saw them; the kernel caps the
/// request at net.core.rmem_max.
const UDP_RECV_BUFFER: usize = 4 << 20;

fn udp_socket(addr: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
    let socket = socket_for(addr, socket2::Type::DGRAM)?;
    if let Err(e) = socket.set_recv_buffer_size(UDP_RECV_BUFFER) {
        tracing::debug!(error = %e, "cannot enlarge the DNS receive buffer");
    }
    socket.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod zone_tests;
