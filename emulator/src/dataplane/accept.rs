//! Accepting flows: a listening socket per (ENI address, listener port),
//! or one shared socket for every loopback ENI that new connections are
//! steered to by their local address (`crate::steer`). Either way each
//! connection is admitted the same way: the plan's route at its local
//! address, the flow bound, then a task that serves it.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tracing::{debug, Instrument};

use super::flow::{self, FlowSettings, Stop};
use super::{stats, DataPlane};

/// The next connection of `listener`; on errors (out of descriptors and the
/// like) it backs off a moment instead of spinning.
pub(super) async fn next_connection(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(a) => return a,
            Err(e) => {
                debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// An endpoint's counters, looked up once (not per flow) while the
/// listener serves the same endpoint.
#[derive(Default)]
pub(super) struct Counters {
    endpoint_id: String,
    stats: Option<Arc<stats::EndpointStats>>,
}

impl Counters {
    fn of(&mut self, all: &stats::Stats, endpoint_id: &str) -> Arc<stats::EndpointStats> {
        match &self.stats {
            Some(s) if self.endpoint_id == endpoint_id => s.clone(),
            _ => {
                let s = all.endpoint(endpoint_id);
                self.endpoint_id.clear();
                self.endpoint_id.push_str(endpoint_id);
                self.stats = Some(s.clone());
                s
            }
        }
    }
}

/// The listener of one (ENI address, listener port) on its own socket.
pub(super) async fn accept_loop(
    dp: Arc<DataPlane>,
    listener: TcpListener,
    key: SocketAddrV4,
    cancelled: watch::Receiver<Stop>,
    idle_timeout: watch::Receiver<Duration>,
) {
    let mut counters = Counters::default();
    loop {
        let (stream, peer) = next_connection(&listener).await;
        admit(&dp, stream, peer, key, &cancelled, &idle_timeout, &mut counters);
    }
}

/// Starts serving one accepted connection at listener `key`.
fn admit(
    dp: &Arc<DataPlane>,
    stream: TcpStream,
    peer: SocketAddr,
    key: SocketAddrV4,
    cancelled: &watch::Receiver<Stop>,
    idle_timeout: &watch::Receiver<Duration>,
    counters: &mut Counters,
) {
    let Some(route) = dp.plan().listeners.get(&key).cloned() else {
        flow::reset(&stream);
        return;
    };
    let stats = counters.of(&dp.stats, &route.endpoint_id);
    let Some(permit) = dp.flow_permit(&stats, &stream) else { return };
    let settings = FlowSettings { idle_timeout: idle_timeout.clone(), connect_timeout: dp.settings.connect_timeout };
    let span = flow::flow_span(&route.endpoint_id, key, peer);
    let (dp, cancelled) = (dp.clone(), cancelled.clone());
    // Boxed here so that spawning moves a pointer, not the flow's state.
    let flow = Box::pin(async move {
        // A TLS listener's acceptor may need a certificate issued first:
        // here, in the flow's own task, so that no accept loop waits for it.
        let tls = match route.tls.as_ref().map(|t| dp.acceptors.get(&dp.authority, t)) {
            None => None,
            Some(Ok(a)) => Some(a),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "TLS listener cannot serve");
                stats.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                flow::reset(&stream);
                return;
            }
        };
        let targets = dp.stats.targets.clone();
        let shared = dp.shared.clone();
        flow::serve(stream, peer, key, route, stats, targets, settings, cancelled, tls, shared).await;
        drop(permit);
    });
    tokio::spawn(flow.instrument(span));
}

/// What the shared socket needs to serve connections to one address.
pub(super) struct Steered {
    /// An AWS service's TLS endpoint rather than an NLB listener's.
    aws_service: bool,
    cancelled: watch::Receiver<Stop>,
    idle_timeout: watch::Receiver<Duration>,
    counters: Mutex<Counters>,
}

impl Steered {
    pub(super) fn new(
        aws_service: bool,
        cancelled: watch::Receiver<Stop>,
        idle_timeout: watch::Receiver<Duration>,
    ) -> Steered {
        Steered { aws_service, cancelled, idle_timeout, counters: Mutex::default() }
    }
}

/// One listening socket for every loopback ENI, and the addresses it serves.
pub(super) struct SharedListener {
    /// `None` once the data plane has shut down: the program is detached.
    #[cfg(target_os = "linux")]
    steering: Mutex<Option<crate::steer::Steering>>,
    /// Where the socket is bound (connections there directly are reset).
    pub(super) local: SocketAddrV4,
    listener: Mutex<Option<TcpListener>>,
    routes: RwLock<HashMap<SocketAddrV4, Arc<Steered>>>,
}

impl SharedListener {
    /// Binds the socket and attaches the steering program to this
    /// process's network namespace.
    #[cfg(target_os = "linux")]
    pub(super) fn open() -> io::Result<SharedListener> {
        let socket = TcpSocket::new_v4()?;
        let _ = socket.set_nodelay(true);
        socket.bind(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)))?;
        // Every endpoint's SYNs wait in this one queue (the kernel caps it at
        // net.core.somaxconn).
        let listener = socket.listen(4096)?;
        let steering = crate::steer::Steering::attach(&listener, crate::steer::Protocol::Tcp)?;
        let SocketAddr::V4(local) = listener.local_addr()? else { unreachable!("bound to an IPv4 address") };
        Ok(SharedListener {
            steering: Mutex::new(Some(steering)),
            local,
            listener: Mutex::new(Some(listener)),
            routes: RwLock::default(),
        })
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn open() -> io::Result<SharedListener> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "sk_lookup steering needs Linux"))
    }

    /// Serves `key` from now on. An address another socket of this host
    /// listens on is refused as a bind would be (the program runs before
    /// the kernel's own lookup and would take its connections).
    pub(super) fn add(&self, key: SocketAddrV4, steered: Steered) -> io::Result<()> {
        super::socket::probe_tcp_bind(key)?;
        self.routes.write().unwrap_or_else(|e| e.into_inner()).insert(key, Arc::new(steered));
        #[cfg(target_os = "linux")]
        let steering = self.steering.lock().unwrap_or_else(|e| e.into_inner());
        #[cfg(target_os = "linux")]
        let added = match steering.as_ref() {
            Some(s) => s.add(key),
            None => Err(io::Error::other("the data plane has shut down")),
        };
        #[cfg(not(target_os = "linux"))]
        let added: io::Result<()> = Ok(());
        if let Err(e) = added {
            self.routes.write().unwrap_or_else(|e| e.into_inner()).remove(&key);
            return Err(io::Error::new(e.kind(), format!("cannot steer it to the shared listening socket: {e}")));
        }
        Ok(())
    }

    /// Stops serving `key`: new connections to it are refused by the kernel.
    pub(super) fn remove(&self, key: SocketAddrV4) {
        #[cfg(target_os = "linux")]
        if let Some(s) = self.steering.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            s.remove(key);
        }
        self.routes.write().unwrap_or_else(|e| e.into_inner()).remove(&key);
    }

    /// Detaches the program: nothing is steered any more.
    pub(super) fn detach(&self) {
        #[cfg(target_os = "linux")]
        drop(self.steering.lock().unwrap_or_else(|e| e.into_inner()).take());
        self.routes.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn route(&self, key: &SocketAddrV4) -> Option<Arc<Steered>> {
        self.routes.read().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    /// Accepts for every steered address until the data plane stops.
    pub(super) async fn run(dp: Arc<DataPlane>, mut stop: watch::Receiver<bool>) {
        let Some(shared) = dp.shared_listener.as_ref() else { return };
        let Some(listener) = shared.listener.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
        loop {
            let (stream, peer) = tokio::select! {
                a = next_connection(&listener) => a,
                _ = stop.changed() => return,
            };
            let Some((key, steered)) = stream.local_addr().ok().and_then(|local| match local {
                SocketAddr::V4(key) => shared.route(&key).map(|s| (key, s)),
                SocketAddr::V6(_) => None,
            }) else {
                flow::reset(&stream);
                continue;
            };
            if steered.aws_service {
                super::service::admit(&dp, stream, peer, key, &steered.cancelled);
            } else {
                let mut counters = steered.counters.lock().unwrap_or_else(|e| e.into_inner());
                admit(&dp, stream, peer, key, &steered.cancelled, &steered.idle_timeout, &mut counters);
            }
        }
    }
}
