//! One flow through an endpoint: the security group check, the NLB node's
//! choice of target, the connection to it from the node's address (so the
//! target sees the NLB, never the consumer), an optional PROXY v2 header,
//! and half-close-correct copying until both sides are done.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::debug;

use super::plan::{flow_hash, Route};
use super::proxy_protocol;
use super::record::{Recorder, Segments};
use super::stats::{EndpointStats, TargetStats, Targets};
use crate::addressing::VpcBlock;
use crate::engine::Shared;
use crate::flowlog::{self, Ended};

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

/// [`span`] for a flow to an NLB's targets, whose lines are all debug
/// lines: at the default level no span is made, so a flow pays neither for
/// formatting its fields nor for entering the span at every poll.
pub fn flow_span(endpoint: &str, listener: SocketAddrV4, source: SocketAddr) -> tracing::Span {
    tracing::debug_span!(parent: None, "flow", endpoint = %endpoint, %listener, %source, target = tracing::field::Empty)
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

/// Carries one accepted connection to a target, or resets it. With
/// `tls` (a TLS listener) the node first ends the client's TLS. The flow
/// is recorded in the flow log once it is over; injected faults (of its
/// zone, endpoint or target) apply.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    client: TcpStream,
    peer: SocketAddr,
    local: SocketAddrV4,
    route: Arc<Route>,
    stats: Arc<EndpointStats>,
    targets: Arc<Targets>,
    settings: FlowSettings,
    mut cancel: watch::Receiver<Stop>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
) {
    let (logs, faults) = (&shared.logs, &shared.faults);
    let start_ms = flowlog::now_ms();
    let source = source_vpc_addr(&route.consumer, peer);
    let SocketAddr::V4(peer4) = peer else {
        reset(&client);
        return;
    };
    let source4 = SocketAddrV4::new(source.unwrap_or(*peer4.ip()), peer4.port());
    let recorder = Recorder { logs, route: &route, source: source4, start_ms };
    if let Some(state) = route.unavailable {
        debug!(state, "the endpoint is not available: the flow is refused");
        stats.refused.fetch_add(1, Ordering::Relaxed);
        recorder.record(Segments::of(&client, None), None, (0, 0), Ended::EndpointNotAvailable);
        reset(&client);
        return;
    }
    if faults.zone_down(&route.zone) {
        debug!("the zone is down: nothing answers");
        let limit = *settings.idle_timeout.borrow();
        Box::pin(super::injected::hold(&client, &mut cancel, limit)).await;
        recorder.record(Segments::of(&client, None), None, (0, 0), Ended::ZoneDown);
        return;
    }
    if !route.admits(source) {
        debug!("security groups refuse the flow");
        stats.refused.fetch_add(1, Ordering::Relaxed);
        recorder.record(Segments::of(&client, None), None, (0, 0), Ended::SecurityGroup);
        reset(&client);
        return;
    }
    // Past the endpoint, the NLB's own groups (when it enforces them on
    // PrivateLink traffic) see the client's address; a refusal ends the
    // flow as the endpoint's groups do.
    if !route.load_balancer_admits(source) {
        debug!("the load balancer's security groups refuse the flow");
        stats.refused.fetch_add(1, Ordering::Relaxed);
        stats.load_balancer_group_blocked.fetch_add(1, Ordering::Relaxed);
        recorder.record(Segments::of(&client, None), None, (0, 0), Ended::LoadBalancerSecurityGroup);
        reset(&client);
        return;
    }
    let client = match tls {
        None => Side::Plain(client),
        Some(acceptor) => {
            // TCP_NODELAY comes from the listener.
            // Boxed, as every rare and large step of a flow: the flow's own
            // future stays small, and spawning it copies little.
            match Box::pin(tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(client))).await {
                Ok(Ok(s)) => Side::Tls(Box::new(s)),
                Ok(Err(e)) => {
                    // rustls has told the client why with an alert.
                    debug!(error = %e, "TLS handshake failed");
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    recorder.record(Segments::default(), None, (0, 0), Ended::Reset);
                    return;
                }
                Err(_) => {
                    debug!("TLS handshake timed out");
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    recorder.record(Segments::default(), None, (0, 0), Ended::Reset);
                    return;
                }
            }
        }
    };
    let candidates = route.candidates();
    let reachable: Vec<_> = candidates.iter().filter(|t| t.dial.is_some()).collect();
    if reachable.is_empty() {
        debug!("no target to send the flow to");
        stats.refused.fetch_add(1, Ordering::Relaxed);
        recorder.record(Segments::of(client.tcp(), None), None, (0, 0), Ended::NoTarget);
        reset(client.tcp());
        return;
    }
    let chosen = reachable[(flow_hash(peer4, local) % reachable.len() as u64) as usize];
    let Some(target) = chosen.dial else { return };
    tracing::Span::current().record("target", tracing::field::display(target));
    let chosen_key = Some((chosen.id.as_str(), chosen.port));
    if faults.reset_now(&route.endpoint_id, chosen_key) {
        debug!("reset by an injected fault");
        recorder.record(Segments::of(client.tcp(), None), None, (0, 0), Ended::InjectedReset);
        reset(client.tcp());
        return;
    }
    let shaping = faults.shaping(&route.endpoint_id, chosen_key);
    let connected = super::injected::connect(faults, chosen, route.node_host, target, settings.connect_timeout);
    let upstream = match connected.await {
        Ok(s) => s,
        Err(e) => {
            debug!(error = %e, "target unreachable");
            stats.refused.fetch_add(1, Ordering::Relaxed);
            recorder.record(Segments::of(client.tcp(), None), None, (0, 0), Ended::TargetUnreachable);
            reset(client.tcp());
            return;
        }
    };
    let leg = recorder.leg(&upstream, &chosen.id, target);
    let target_stats = targets.get(&route.target_group_arn, &chosen.id, chosen.port);
    let tally = Tally { endpoint: &stats, target: &target_stats };
    for s in [&stats.connections, &stats.active, &target_stats.connections, &target_stats.active] {
        s.fetch_add(1, Ordering::Relaxed);
    }
    // The client's connection has TCP_NODELAY from the listener.
    let _ = upstream.set_nodelay(true);
    let started = if route.proxy_protocol_v2 || route.target_tls {
        Box::pin(start_upstream(&route, &client, upstream, source, peer4, target)).await
    } else {
        Ok(Upstream::Plain(upstream))
    };
    let outcome = match started {
        Err((e, upstream)) => {
            debug!(error = %e, "the flow could not start at the target");
            recorder.record(Segments::of(client.tcp(), upstream.as_ref()), Some(leg.clone()), (0, 0), Ended::Reset);
            reset(client.tcp());
            if let Some(u) = &upstream {
                reset(u);
            }
            None
        }
        Ok(Upstream::Tls(tls)) => Some(match client {
            Side::Plain(c) => {
                Box::pin(pipe_streams(c, *tls, &tally, settings.idle_timeout, &mut cancel, shaping)).await
            }
            Side::Tls(c) => Box::pin(pipe_streams(*c, *tls, &tally, settings.idle_timeout, &mut cancel, shaping)).await,
        }),
        Ok(Upstream::Plain(upstream)) => Some(match client {
            Side::Plain(c) => pipe(c, upstream, &tally, settings.idle_timeout, &mut cancel, shaping).await,
            Side::Tls(c) => {
                Box::pin(pipe_streams(*c, upstream, &tally, settings.idle_timeout, &mut cancel, shaping)).await
            }
        }),
    };
    stats.active.fetch_sub(1, Ordering::Relaxed);
    target_stats.active.fetch_sub(1, Ordering::Relaxed);
    if let Some(ended) = &outcome {
        recorder.record(ended.segments, Some(leg), ended.bytes, ended.outcome.ended());
    }
    debug!(?outcome, "flow ended");
}

/// The counters a flow adds to: its endpoint's and its target's.
pub(super) struct Tally<'a> {
    endpoint: &'a EndpointStats,
    target: &'a TargetStats,
}

/// Byte counters of one direction: the endpoint's, the target's, the flow's.
pub(super) type Counters<'a> = [&'a AtomicU64; 3];

impl<'a> Tally<'a> {
    /// From the consumer to the target, with the flow's own count.
    fn bytes_in(&self, flow: &'a AtomicU64) -> Counters<'a> {
        [&self.endpoint.bytes_in, &self.target.bytes_in, flow]
    }

    fn bytes_out(&self, flow: &'a AtomicU64) -> Counters<'a> {
        [&self.endpoint.bytes_out, &self.target.bytes_out, flow]
    }
}

/// Time a client has to finish the TLS handshake with a TLS listener.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's side of a flow: TCP, or TLS ended by the node.
enum Side {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Side {
    fn tcp(&self) -> &TcpStream {
        match self {
            Side::Plain(s) => s,
            Side::Tls(s) => s.get_ref().0,
        }
    }

    /// The ALPN protocol agreed with the client, if any.
    fn alpn(&self) -> Option<&[u8]> {
        match self {
            Side::Plain(_) => None,
            Side::Tls(s) => s.get_ref().1.alpn_protocol(),
        }
    }
}

/// The target's side of a flow.
enum Upstream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// What goes to the target before the client's bytes: the PROXY v2 header
/// (in the clear, first on the connection), then, for a TLS target group,
/// a TLS handshake. On failure, the connection if it is still there.
async fn start_upstream(
    route: &Route,
    client: &Side,
    mut upstream: TcpStream,
    source: Option<std::net::Ipv4Addr>,
    peer4: SocketAddrV4,
    target: SocketAddrV4,
) -> Result<Upstream, (io::Error, Option<TcpStream>)> {
    if route.proxy_protocol_v2 {
        let src = SocketAddrV4::new(source.unwrap_or(*peer4.ip()), peer4.port());
        let dst = SocketAddrV4::new(route.eni_addr, route.port);
        if let Err(e) = upstream.write_all(&proxy_protocol::header(src, dst, route.proxy_endpoint())).await {
            return Err((e, Some(upstream)));
        }
    }
    if !route.target_tls {
        return Ok(Upstream::Plain(upstream));
    }
    let connector = match super::tls_listener::connector(client.alpn()) {
        Ok(c) => c,
        Err(e) => return Err((io::Error::other(e), Some(upstream))),
    };
    // An address, not a name: no SNI goes to the target.
    let name = rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::V4(*target.ip()).into());
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, upstream).into_fallible()).await {
        Ok(Ok(tls)) => Ok(Upstream::Tls(Box::new(tls))),
        Ok(Err((e, upstream))) => Err((e, Some(upstream))),
        Err(_) => Err((io::Error::new(io::ErrorKind::TimedOut, "TLS handshake with the target timed out"), None)),
    }
}

pub(super) async fn connect_from(
    source: std::net::Ipv4Addr,
    target: SocketAddrV4,
    timeout: Duration,
) -> io::Result<TcpStream> {
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

impl Outcome {
    fn ended(&self) -> Ended {
        match self {
            Outcome::Closed => Ended::Closed,
            Outcome::Reset => Ended::Reset,
            Outcome::Idle => Ended::IdleTimeout,
            Outcome::Cancelled(Stop::Close) => Ended::Shutdown,
            Outcome::Cancelled(_) => Ended::EndpointGone,
        }
    }
}

/// How a flow that reached its target ended, what it carried (payload
/// from the consumer, and back) and the segments each socket counted.
#[derive(Debug)]
struct Finished {
    outcome: Outcome,
    bytes: (u64, u64),
    segments: Segments,
}

/// Copies both ways until both directions have ended. A FIN on one side is
/// passed on as a FIN (the other direction keeps going); a reset or error on
/// either side resets both; so do the idle timeout and a [`Stop::Reset`].
/// A [`Stop::Close`] ends both sides with FIN. Injected latency or a
/// bandwidth limit (`shaping`) paces the copying.
async fn pipe(
    mut client: TcpStream,
    mut upstream: TcpStream,
    stats: &Tally<'_>,
    mut idle_timeout: watch::Receiver<Duration>,
    cancel: &mut watch::Receiver<Stop>,
    shaping: crate::faults::Shaping,
) -> Finished {
    let started = Instant::now();
    let last = AtomicU64::new(0);
    // This flow's bytes: counters of its own, shared with no other flow.
    let (sent, received) = (AtomicU64::new(0), AtomicU64::new(0));
    let outcome = {
        // Borrowed halves, not owned ones: dropping them sends nothing, so
        // an abnormal end below becomes an RST rather than a FIN and an RST.
        let (c, u) = (&mut client, &mut upstream);
        // Both directions run to their own end; the first error stops both.
        let both = async {
            if shaping.is_none() {
                let ((c_read, c_write), (u_read, u_write)) = (c.split(), u.split());
                tokio::try_join!(
                    half(c_read, u_write, stats.bytes_in(&sent), &last, started),
                    half(u_read, c_write, stats.bytes_out(&received), &last, started)
                )
                .is_ok()
            } else {
                let (c, u) = (&*c, &*u);
                use super::injected::shaped_half;
                Box::pin(async {
                    tokio::try_join!(
                        shaped_half(c, u, stats.bytes_in(&sent), &last, started, shaping),
                        shaped_half(u, c, stats.bytes_out(&received), &last, started, shaping)
                    )
                })
                .await
                .is_ok()
            }
        };
        tokio::select! {
            clean = both => if clean { Outcome::Closed } else { Outcome::Reset },
            _ = idle(&last, started, &mut idle_timeout) => Outcome::Idle,
            stop = wait_stopped(cancel) => Outcome::Cancelled(stop),
        }
    };
    let segments = Segments::of(&client, Some(&upstream));
    end(&outcome, &client, &upstream);
    Finished { outcome, bytes: (sent.into_inner(), received.into_inner()), segments }
}

/// [`pipe`] for flows where either side speaks TLS (a TLS listener, a TLS
/// target group): the same ends, through buffers instead of splice(2).
/// Injected latency and bandwidth limits pace the bytes in the clear, as
/// on a plain flow; the handshakes are not slowed.
async fn pipe_streams<A: Carrier, B: Carrier>(
    client: A,
    upstream: B,
    stats: &Tally<'_>,
    mut idle_timeout: watch::Receiver<Duration>,
    cancel: &mut watch::Receiver<Stop>,
    shaping: crate::faults::Shaping,
) -> Finished {
    let started = Instant::now();
    let last = AtomicU64::new(0);
    let (sent, received) = (AtomicU64::new(0), AtomicU64::new(0));
    let mut c = Counted { inner: client, counters: stats.bytes_in(&sent), last: &last, started };
    let mut u = Counted { inner: upstream, counters: stats.bytes_out(&received), last: &last, started };
    let outcome = {
        let both = async {
            if shaping.is_none() {
                return tokio::io::copy_bidirectional(&mut c, &mut u).await.is_ok();
            }
            use super::injected::shaped_copy;
            let ((c_read, c_write), (u_read, u_write)) = (tokio::io::split(&mut c), tokio::io::split(&mut u));
            tokio::try_join!(shaped_copy(c_read, u_write, shaping), shaped_copy(u_read, c_write, shaping)).is_ok()
        };
        tokio::select! {
            clean = both => if clean { Outcome::Closed } else { Outcome::Reset },
            _ = idle(&last, started, &mut idle_timeout) => Outcome::Idle,
            stop = wait_stopped(cancel) => Outcome::Cancelled(stop),
        }
    };
    let segments = Segments::of(c.inner.tcp(), Some(u.inner.tcp()));
    end(&outcome, c.inner.tcp(), u.inner.tcp());
    Finished { outcome, bytes: (sent.into_inner(), received.into_inner()), segments }
}

/// Ends until the flow has been quiet for the listener's idle timeout,
/// following changes of the timeout (counted from the last byte).
async fn idle(last: &AtomicU64, started: Instant, idle_timeout: &mut watch::Receiver<Duration>) {
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
            changed = idle_timeout.changed() => followed = changed.is_ok(),
        }
    }
}

/// What the end of a flow does to its two connections.
fn end(outcome: &Outcome, client: &TcpStream, upstream: &TcpStream) {
    match outcome {
        Outcome::Closed => {}
        Outcome::Cancelled(Stop::Close) => {
            for s in [client, upstream] {
                let _ = socket2::SockRef::from(s).shutdown(std::net::Shutdown::Both);
            }
        }
        _ => {
            reset(client);
            reset(upstream);
        }
    }
}

/// A side of a flow: a TCP connection, or TLS over one.
trait Carrier: AsyncRead + AsyncWrite + Unpin {
    fn tcp(&self) -> &TcpStream;
}

impl Carrier for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Carrier for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

impl Carrier for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// A side whose reads are counted (bytes, time of the last byte). A TCP
/// end without TLS's close_notify counts as an end of stream, passed on as
/// such, as an NLB passes on a FIN.
struct Counted<'a, S> {
    inner: S,
    /// The endpoint's, the target's and the flow's counters.
    counters: Counters<'a>,
    last: &'a AtomicU64,
    started: Instant,
}

impl<S: Carrier> AsyncRead for Counted<'_, S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if n > 0 {
                    for c in this.counters {
                        c.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    this.last.store(this.started.elapsed().as_millis() as u64, Ordering::Relaxed);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

impl<S: Carrier> AsyncWrite for Counted<'_, S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
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
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    counters: Counters<'_>,
    last: &AtomicU64,
    started: Instant,
) -> io::Result<()> {
    let count = |n: usize| {
        for c in counters {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    };
    // Not zeroed: reads fill it (`read_buf`), and only what they filled is
    // written on. Reading through the half (AsyncRead) rather than
    // `try_read`: a read that leaves room in the buffer has drained the
    // socket, and the next read waits for readiness instead of asking the
    // kernel first (one recv(2) less per message).
    let mut buf = Vec::with_capacity(BUFFER);
    loop {
        buf.clear();
        let n = from.read_buf(&mut buf).await?;
        if n == 0 {
            return finish(to.as_ref());
        }
        to.write_all(&buf).await?;
        count(n);
        #[cfg(target_os = "linux")]
        if n == BUFFER {
            if let Ok(pipe) = super::splice::Pipe::new() {
                drop(buf);
                let (from, to) = (from.as_ref(), to.as_ref());
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
pub(super) fn finish(to: &TcpStream) -> io::Result<()> {
    let _ = socket2::SockRef::from(to).shutdown(std::net::Shutdown::Write);
    Ok(())
}

pub(super) async fn read(from: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        from.readable().await?;
        match from.try_read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            result => return result,
        }
    }
}

pub(super) async fn write_all(to: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
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
