//! Outgoing sockets bound to a simulated source address (an NLB node's host
//! address), shared by flows and health checks; and the socket options and
//! bind probe the data plane's and DNS's listeners share.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use tokio::net::TcpSocket;

/// A TCP socket bound to `source` with the port left to `connect`.
///
/// Binding an address with port 0 makes the kernel pick a port at `bind`
/// time, unique over every destination, so a busy node runs out of ports to
/// TIME_WAIT after ~28k flows. With `IP_BIND_ADDRESS_NO_PORT` the port is
/// chosen at `connect` time per 4-tuple, as an unbound socket's would be.
pub fn bound_to(source: Ipv4Addr) -> io::Result<TcpSocket> {
    let socket = TcpSocket::new_v4()?;
    bind_address_no_port(&socket);
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    Ok(socket)
}

#[cfg(target_os = "linux")]
fn bind_address_no_port(socket: &TcpSocket) {
    set_ip_flag(socket, libc::IP_BIND_ADDRESS_NO_PORT, "IP_BIND_ADDRESS_NO_PORT");
}

#[cfg(not(target_os = "linux"))]
fn bind_address_no_port(_socket: &TcpSocket) {}

/// Lets `socket` bind an address that is not (yet) on any interface
/// (`IP_FREEBIND`): in interface mode a listener may open before the
/// address plane has added its address, and accepts once it is there.
#[cfg(target_os = "linux")]
pub(crate) fn free_bind(socket: &impl std::os::fd::AsRawFd) {
    set_ip_flag(socket, libc::IP_FREEBIND, "IP_FREEBIND");
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn free_bind<T>(_socket: &T) {}

/// Turns on an IPPROTO_IP boolean option; a kernel without it only costs
/// what the option would have given, so failure is logged, not returned.
#[cfg(target_os = "linux")]
pub(crate) fn set_ip_flag(socket: &impl std::os::fd::AsRawFd, option: libc::c_int, name: &str) {
    let on: libc::c_int = 1;
    // SAFETY: a valid, owned socket descriptor and a c_int option value of
    // the size passed; the call touches nothing else.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            option,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "{name} not set");
    }
}

/// Binds (without listening) and closes a TCP socket at `key`: fails, as a
/// listener's bind would, where another socket listens there. Checked
/// before an address is steered to a shared socket, which would otherwise
/// take that socket's connections.
pub(crate) fn probe_tcp_bind(key: SocketAddrV4) -> io::Result<()> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::V4(key))
}
