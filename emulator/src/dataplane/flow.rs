//! One flow through an endpoint: the security group check, the NLB node's
//! choice of target, the connection to it from the node's address (so the
//! target sees the NLB, never the consumer), an optional PROXY v2 header,
//! and half-close-correct copying until both sides are done.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::debug;

use super::plan::{flow_hash, Route};
use super::proxy_protocol;
use super::stats::EndpointStats;
use crate::addressing::VpcBlock;

/// The copy buffer of a direction until it turns out to be bulk.
const BUFFER: usize = 16 * 1024;

/// Settings of a listener's flows.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    /// The listener's idle timeout, followed while the flow runs: a change
    /// applies to open flows too.
    pub idle_timeout: watch::Receiver<Duration>,
    pub connect_timeout: Duration,
}

/// What the listener asks of its open flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Keep carrying bytes.
    Run,
    /// End every flow with RST, as AWS does when an endpoint goes away.
    Reset,
    /// End every flow with FIN on both sides: the emulator is shutting down.
    Close,
}

/// The span of one flow: every log line of it names the endpoint, the
/// listener it came in on, the client's address and (once chosen) the
/// target. A root span, as the endpoint's span already names the listener.
pub fn span(endpoint: &str, listener: SocketAddrV4, source: SocketAddr) -> tracing::Span {
    tracing::info_span!(parent: None, "flow", endpoint = %endpoint, %listener, %source, target = tracing::field::Empty)
}

/// Ends a connection with RST instead of FIN (what AWS does to flows it drops).
pub fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// The VPC address a client connecting from `peer` has in `consumer`.
pub(super) fn source_vpc_addr(consumer: &VpcBlock, peer: SocketAddr) -> Option<std::net::Ipv4Addr> {
    match peer {
        SocketAddr::V4(v4) => consumer.vpc_addr(*v4.ip()),
        SocketAddr::V6(_) => None,
    }
}

/// Carries one accepted connection to a target, or resets it.
pub async fn serve(
    client: TcpStream,
    peer: SocketAddr,
    local: SocketAddrV4,
    route: Arc<Route>,
    stats: Arc<EndpointStats>,
    settings: FlowSettings,
    mut cancel: watch::Receiver<Stop>,
) {
    let source = source_vpc_addr(&route.consumer, peer);
    if !route.admits(source) {
        debug!("security groups refuse the flow");
        stats.refused.fetch_add(1, Ordering::Relaxed);
        reset(&client);
        return;
    }
    let candidates = route.candidates();
    let SocketAddr::V4(peer4) = peer else {
        reset(&client);
        return;
    };
    let reachable: Vec<_> = candidates.iter().filter_map(|t| t.dial).collect();
    if reachable.is_empty() {
        debug!("no target to send the flow to");
        stats.refused.fetch_add(1, Ordering::Relaxed);
        reset(&client);
        return;
    }
    let target = reachable[(flow_hash(peer4, local) % reachable.len() as u64) as usize];
    tracing::Span::current().record("target", tracing::field::display(target));
    let upstream = match connect_from(route.node_host, target, settings.connect_timeout).await {
        Ok(s) => s,
        Err(e) => {
            debug!(error = %e, "target unreachable");
            stats.refused.fetch_add(1, Ordering::Relaxed);
            reset(&client);
            return;
        }
    };
    stats.connections.fetch_add(1, Ordering::Relaxed);
    stats.active.fetch_add(1, Ordering::Relaxed);
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let mut upstream = upstream;
    if route.proxy_protocol_v2 {
        let src = SocketAddrV4::new(source.unwrap_or(*peer4.ip()), peer4.port());
        let dst = SocketAddrV4::new(route.eni_addr, route.port);
        if upstream.write_all(&proxy_protocol::header(src, dst, &route.endpoint_id)).await.is_err() {
            stats.active.fetch_sub(1, Ordering::Relaxed);
            reset(&client);
            return;
        }
    }
    let outcome = pipe(client, upstream, &stats, settings.idle_timeout, &mut cancel).await;
    stats.active.fetch_sub(1, Ordering::Relaxed);
    debug!(?outcome, "flow ended");
}

async fn connect_from(source: std::net::Ipv4Addr, target: SocketAddrV4, timeout: Duration) -> io::Result<TcpStream> {
    let socket = super::socket::bound_to(source)?;
    match tokio::time::timeout(timeout, socket.connect(SocketAddr::V4(target))).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Closed,
    Reset,
    Idle,
    Cancelled(Stop),
}

/// Copies both ways until both directions have ended. A FIN on one side is
/// passed on as a FIN (the other direction keeps going); a reset or error on
/// either side resets both; so do the idle timeout and a [`Stop::Reset`].
/// A [`Stop::Close`] ends both sides with FIN.
async fn pipe(
    client: TcpStream,
    upstream: TcpStream,
    stats: &EndpointStats,
    mut idle_timeout: watch::Receiver<Duration>,
    cancel: &mut watch::Receiver<Stop>,
) -> Outcome {
    let started = Instant::now();
    let last = AtomicU64::new(0);
    let outcome = {
        // Shared references, not owned halves: dropping them sends nothing,
        // so an abnormal end below becomes an RST rather than a FIN and an RST.
        let (c, u) = (&client, &upstream);
        // Both directions run to their own end; the first error stops both.
        let both = async {
            tokio::try_join!(half(c, u, &stats.bytes_in, &last, started), half(u, c, &stats.bytes_out, &last, started))
                .is_ok()
        };
        let idle = async {
            let mut followed = true;
            loop {
                let timeout = *idle_timeout.borrow_and_update();
                let quiet = started.elapsed().saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
                if quiet >= timeout {
                    return;
                }
                let wait = tokio::time::sleep(timeout - quiet);
                if !followed {
                    wait.await;
                    continue;
                }
                tokio::select! {
                    _ = wait => {}
                    // A new timeout counts from the last byte, as the old one did.
                    changed = idle_timeout.changed() => followed = changed.is_ok(),
                }
            }
        };
        tokio::select! {
            clean = both => if clean { Outcome::Closed } else { Outcome::Reset },
            _ = idle => Outcome::Idle,
            stop = wait_stopped(cancel) => Outcome::Cancelled(stop),
        }
    };
    match outcome {
        Outcome::Closed => {}
        Outcome::Cancelled(Stop::Close) => {
            for s in [&client, &upstream] {
                let _ = socket2::SockRef::from(s).shutdown(std::net::Shutdown::Both);
            }
        }
        _ => {
            reset(&client);
            reset(&upstream);
        }
    }
    outcome
}

pub(super) async fn wait_stopped(cancel: &mut watch::Receiver<Stop>) -> Stop {
    loop {
        let now = *cancel.borrow_and_update();
        if now != Stop::Run {
            return now;
        }
        if cancel.changed().await.is_err() {
            // The listener is gone without saying so: treat it as a reset.
            return Stop::Reset;
        }
    }
}

/// One direction: on EOF it passes a FIN on; it fails on any error.
///
/// Bytes are copied through a small buffer until a read fills it: then the
/// flow is bulk and, on Linux, the rest moves by splice(2) through a pipe,
/// never through user space. Short flows never pay for the pipe.
async fn half(
    from: &TcpStream,
    to: &TcpStream,
    counter: &AtomicU64,
    last: &AtomicU64,
    started: Instant,
) -> io::Result<()> {
    let count = |n: usize| {
        counter.fetch_add(n as u64, Ordering::Relaxed);
        last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    };
    let mut buf = vec![0u8; BUFFER];
    loop {
        let n = read(from, &mut buf).await?;
        if n == 0 {
            return finish(to);
        }
        write_all(to, &buf[..n]).await?;
        count(n);
        #[cfg(target_os = "linux")]
        if n == buf.len() {
            if let Ok(pipe) = super::splice::Pipe::new() {
                drop(buf);
                loop {
                    let n = super::splice::fill(from, &pipe).await?;
                    if n == 0 {
                        return finish(to);
                    }
                    super::splice::drain(&pipe, to, n).await?;
                    count(n);
                }
            }
        }
    }
}

/// Passes an end of stream on as a FIN; the other direction keeps going.
fn finish(to: &TcpStream) -> io::Result<()> {
    let _ = socket2::SockRef::from(to).shutdown(std::net::Shutdown::Write);
    Ok(())
}

async fn read(from: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        from.readable().await?;
        match from.try_read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            result => return result,
        }
    }
}

async fn write_all(to: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        to.writable().await?;
        match to.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
