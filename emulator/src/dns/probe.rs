//! One packet through a [`Handler`] without sockets, as a UDP listener
//! would run it ([`super::transport::answer`]): for unit tests and fuzzing.

use std::net::SocketAddr;

use hickory_server::net::xfer::Protocol;

use super::handler::Handler;

/// The encoded answer to `packet` (received over UDP from 127.0.0.1), or
/// `None` where the listener sends nothing (shorter than a header, or a
/// response).
pub fn answer(rt: &tokio::runtime::Runtime, handler: &Handler, packet: Vec<u8>) -> Option<Vec<u8>> {
    let src: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 5300));
    rt.block_on(super::transport::answer(handler, packet, src, Protocol::Udp))
}
