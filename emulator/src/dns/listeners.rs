//! The DNS listeners: the public view on the configured address, and one
//! resolver per VPC at its host resolver address (base + 2 in its host
//! block, 127.k.0.2 for a /16), both UDP and TCP. A task follows the
//! model's events: it updates the index and opens or closes VPC resolvers
//! as VPCs come and go.
//!
//! Where the kernel allows it (`--listener-sockets auto` or `shared`), a
//! VPC resolver on loopback at the public listener's port has no sockets
//! of its own: its address is steered to the public listener's pair
//! ([`crate::steer`]), which answers by the address asked
//! ([`super::transport`]). Descriptors then stay flat however many VPCs
//! there are. Otherwise each resolver binds a UDP and a TCP socket.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::handler::{Handler, QueryLog};
use super::index::{Index, Pending, View, VpcKey};
use super::transport::{serve_tcp, serve_udp, Answers, Views};
use super::{bind, Bound, DnsSettings};
use crate::dataplane::ListenerSockets;
use crate::engine::Shared;
use crate::flowlog::query::Resolver;
use crate::model::Event;

/// Endpoints read under one lock of the world, at most.
const READ_CHUNK: usize = 32;
/// How long the DNS follower lets changes pile up before it applies them.
const COALESCE: Duration = Duration::from_millis(2);

/// The running DNS server.
pub struct DnsServer {
    index: Arc<RwLock<Index>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Serves `bound` with `answers` until `stop`: UDP receivers (one per
/// core where `busy`) and a TCP acceptor.
fn serve(bound: Bound, answers: Answers, busy: bool, stop: &watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let receivers = if busy { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { 1 };
    let mut tasks = serve_udp(bound.udp, answers.clone(), receivers, stop.clone());
    tasks.push(tokio::spawn(serve_tcp(bound.tcp, answers, stop.clone())));
    tasks
}

/// The VPC resolvers' addresses steered to the public listener's sockets.
#[cfg(target_os = "linux")]
struct Steering {
    udp: crate::steer::Steering,
    tcp: crate::steer::Steering,
    /// The public listener's port: only resolvers on it can be steered
    /// (an answer leaves from the socket's port).
    port: u16,
}

#[cfg(target_os = "linux")]
impl Steering {
    fn attach(public: &Bound, port: u16) -> io::Result<Steering> {
        use crate::steer::{Protocol, Steering as Program};
        Ok(Steering {
            udp: Program::attach(&public.udp, Protocol::Udp)?,
            tcp: Program::attach(&public.tcp, Protocol::Tcp)?,
            port,
        })
    }

    fn add(&self, addr: SocketAddrV4) -> io::Result<()> {
        self.udp.add(addr)?;
        if let Err(e) = self.tcp.add(addr) {
            self.udp.remove(addr);
            return Err(e);
        }
        Ok(())
    }

    fn remove(&self, addr: SocketAddrV4) {
        self.udp.remove(addr);
        self.tcp.remove(addr);
    }
}

#[cfg(not(target_os = "linux"))]
struct Steering {
    port: u16,
}

#[cfg(not(target_os = "linux"))]
impl Steering {
    fn attach(_: &Bound, _: u16) -> io::Result<Steering> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "sk_lookup steering needs Linux"))
    }
    fn add(&self, _: SocketAddrV4) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "sk_lookup steering needs Linux"))
    }
    fn remove(&self, _: SocketAddrV4) {}
}

/// One VPC's resolver.
enum VpcResolver {
    /// Its address steered to the public listener's sockets.
    Steered(SocketAddrV4),
    /// Sockets of its own, served until `stop`.
    Own { stop: watch::Sender<bool>, tasks: Vec<JoinHandle<()>> },
}

impl DnsServer {
    /// Serves the public view on `public` and a resolver for every VPC, now
    /// and as the model changes, until [`DnsServer::shutdown`].
    pub fn start(shared: Arc<Shared>, public: Bound, settings: &DnsSettings) -> io::Result<DnsServer> {
        let public_addr = public.local_addr()?;
        let port = match settings.vpc_port {
            Some(p) if p != 0 => p,
            _ => public_addr.port(),
        };
        let steering = match (settings.resolver_sockets, public_addr) {
            (ListenerSockets::PerAddress, _) => Err("--listener-sockets per-address".to_string()),
            (_, SocketAddr::V6(_)) => Err("the public listener is IPv6".to_string()),
            // An answer leaves from its socket's port.
            _ if port != public_addr.port() => Err("--vpc-dns-port differs from the --dns-addr port".to_string()),
            (_, SocketAddr::V4(_)) => Steering::attach(&public, public_addr.port())
                .map_err(|e| format!("sk_lookup steering unavailable: {e}")),
        };
        let sockets = match &steering {
            Ok(_) => serde_json::json!({"mode": "shared", "socket": public_addr.to_string()}),
            Err(why) => serde_json::json!({"mode": "per-vpc", "why": why}),
        };
        match &steering {
            Ok(_) => {
                info!(socket = %public_addr, "vpc resolvers on loopback answer through the public listener's sockets (sk_lookup steering)")
            }
            Err(why) if settings.resolver_sockets == ListenerSockets::Shared => {
                warn!("a UDP and a TCP socket per vpc resolver, despite --listener-sockets shared ({why})")
            }
            Err(why) => info!("a UDP and a TCP socket per vpc resolver ({why})"),
        }
        // Clients (and people) find the servers on the status document.
        shared.add_status("dns", move || {
            serde_json::json!({"public": public_addr.to_string(), "vpc_resolver_port": port, "resolver_sockets": sockets})
        });
        // Subscribe before reading the world, so no change falls in between;
        // the revision read before the world is one the index holds.
        let events = shared.subscribe();
        let settled = shared.follower("dns");
        let revision = shared.revision();
        let index = Arc::new(RwLock::new(Index::from_world(&shared.world())));
        let upstream = settings.upstream;
        let public_log = QueryLog {
            logs: shared.logs.clone(),
            resolver: Arc::new(Resolver { region: String::new(), vpc: None }),
            block: None,
        };
        let views = Arc::new(Views::new(
            Handler::new(index.clone(), View::Public, upstream).logging(public_log).with_faults(shared.faults.clone()),
            public_addr,
        ));
        let (stop, stop_rx) = watch::channel(false);
        let public = serve(public, Answers::ByDestination(views.clone()), true, &stop_rx);
        let follower = Follower {
            shared,
            settled,
            revision,
            index: index.clone(),
            upstream,
            port,
            views,
            steering: steering.ok(),
            resolvers: HashMap::new(),
            reconciled: None,
            unbindable: HashSet::new(),
        };
        let task = tokio::spawn(follower.run(events, stop_rx, public));
        Ok(DnsServer { index, stop, task })
    }

    /// The index the listeners answer from.
    pub fn index(&self) -> Arc<RwLock<Index>> {
        self.index.clone()
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct Follower {
    shared: Arc<Shared>,
    /// Where the revision the index and resolvers hold is reported.
    settled: watch::Sender<u64>,
    /// The engine's revision when the last batch was read: every event up
    /// to it was queued by then.
    revision: u64,
    index: Arc<RwLock<Index>>,
    upstream: Option<SocketAddr>,
    port: u16,
    /// The handlers of steered resolvers, by address.
    views: Arc<Views>,
    steering: Option<Steering>,
    resolvers: HashMap<VpcKey, VpcResolver>,
    /// The index's VPC updates when the resolvers were last reconciled
    /// with it (`None`: never, or the index was rebuilt since).
    reconciled: Option<u64>,
    /// VPCs whose resolver address could not be bound: not retried on
    /// every event (the warning says it once).
    unbindable: HashSet<VpcKey>,
}

impl Follower {
    async fn run(
        mut self,
        mut events: broadcast::Receiver<Event>,
        mut stop: watch::Receiver<bool>,
        public: Vec<JoinHandle<()>>,
    ) {
        self.reconcile().await;
        self.settled.send_replace(self.revision);
        loop {
            tokio::select! {
                first = events.recv() => {
                    match first {
                        Ok(event) => {
                            // A burst of API calls becomes one batch, and the
                            // model's lock stays free for the API meanwhile.
                            tokio::time::sleep(COALESCE).await;
                            self.revision = self.shared.revision();
                            self.apply(event, &mut events)
                        }
                        Err(RecvError::Lagged(missed)) => {
                            debug!(missed, "dns fell behind the model; rebuilding its records");
                            self.rebuild();
                        }
                        Err(RecvError::Closed) => break,
                    }
                    self.reconcile().await;
                    self.revision = self.shared.caught_up(&events, self.revision);
                    self.settled.send_replace(self.revision);
                }
                _ = stop.changed() => break,
            }
        }
        let keys: Vec<VpcKey> = self.resolvers.keys().cloned().collect();
        for key in keys {
            self.close(&key).await;
        }
        // The public listener's tasks saw the same stop.
        for task in public {
            let _ = task.await;
        }
    }

    /// Applies `first` and whatever else is already queued. The world is
    /// locked only to copy names and addresses, a few endpoints at a time;
    /// records are built under the index's lock alone, so API calls never
    /// wait behind a burst.
    fn apply(&mut self, first: Event, events: &mut broadcast::Receiver<Event>) {
        let mut pending = Pending::default();
        let mut event = Some(first);
        while let Some(e) = event.take() {
            if !pending.add(&e) {
                return self.rebuild();
            }
            match events.try_recv() {
                Ok(next) => event = Some(next),
                Err(TryRecvError::Lagged(_)) => return self.rebuild(),
                Err(_) => {}
            }
        }
        while !pending.is_empty() {
            let updates = pending.read(&self.shared.world(), READ_CHUNK);
            self.index.write().unwrap_or_else(|e| e.into_inner()).install(updates);
        }
    }

    /// Reads the whole world (one lock, as when the world was replaced) and
    /// swaps in a fresh index built outside it.
    fn rebuild(&mut self) {
        let updates = {
            let world = self.shared.world();
            // The lock keeps changes out: the world read is this revision.
            self.revision = self.shared.revision();
            Pending::everything(&world).read(&world, usize::MAX)
        };
        let mut fresh = Index::default();
        fresh.install(updates);
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        self.reconciled = None;
    }

    /// How a VPC resolver's questions are logged: under the VPC's owner.
    fn query_log(&self, key: &VpcKey) -> QueryLog {
        let world = self.shared.world();
        let vpc = world.region(&key.region).and_then(|r| r.vpcs.get(&key.vpc_id));
        QueryLog {
            logs: self.shared.logs.clone(),
            resolver: Arc::new(Resolver {
                region: key.region.clone(),
                vpc: Some((key.vpc_id.clone(), vpc.map(|v| v.owner.clone()).unwrap_or_default())),
            }),
            block: vpc.map(crate::addressing::VpcBlock::from),
        }
    }

    /// Opens a resolver for every new VPC and closes those of deleted ones.
    /// A batch that touched no VPC (most: endpoints come and go) costs one
    /// comparison, not a walk of every VPC.
    async fn reconcile(&mut self) {
        let (wanted, updates) = {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            if self.reconciled == Some(index.vpc_updates()) {
                return;
            }
            (index.vpcs().clone(), index.vpc_updates())
        };
        self.reconciled = Some(updates);
        let gone: Vec<VpcKey> = self.resolvers.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect();
        self.unbindable.retain(|k| wanted.contains_key(k));
        for key in gone {
            self.close(&key).await;
            info!(vpc = %key.vpc_id, "vpc resolver closed");
        }
        for (key, info) in wanted {
            if self.resolvers.contains_key(&key) || self.unbindable.contains(&key) {
                continue;
            }
            // An attached VPC's resolver is where AWS has it: base + 2, port 53.
            let port = if info.attached { 53 } else { self.port };
            let addr = SocketAddrV4::new(info.resolver, port);
            let handler = Handler::new(self.index.clone(), View::Vpc(key.clone()), self.upstream)
                .logging(self.query_log(&key))
                .with_faults(self.shared.faults.clone());
            match self.open(addr, handler).await {
                Ok(resolver) => {
                    let steered = matches!(resolver, VpcResolver::Steered(_));
                    self.resolvers.insert(key.clone(), resolver);
                    info!(vpc = %key.vpc_id, region = %key.region, %addr, vpc_address = %info.vpc_resolver, steered, "vpc resolver listening");
                }
                Err(e) => {
                    warn!(vpc = %key.vpc_id, %addr, error = %e, "cannot open the vpc resolver");
                    self.unbindable.insert(key);
                }
            }
        }
    }

    /// Serves `handler` at `addr`: steered to the public listener's sockets
    /// where that is possible, else on sockets of its own. Either way an
    /// address another socket of this host holds is refused, as a bind
    /// would be (a steered address would take its traffic).
    async fn open(&self, addr: SocketAddrV4, handler: Handler) -> io::Result<VpcResolver> {
        if let Some(steering) = self.steering.as_ref().filter(|s| s.port == addr.port() && addr.ip().is_loopback()) {
            probe(addr)?;
            self.views.add(*addr.ip(), handler);
            if let Err(e) = steering.add(addr) {
                self.views.remove(*addr.ip());
                return Err(e);
            }
            return Ok(VpcResolver::Steered(addr));
        }
        let bound = bind(SocketAddr::V4(addr)).await?;
        let (stop, stop_rx) = watch::channel(false);
        let tasks = serve(bound, Answers::Fixed(Arc::new(handler)), false, &stop_rx);
        Ok(VpcResolver::Own { stop, tasks })
    }

    /// Stops answering at a VPC's resolver; its own sockets are closed
    /// before this returns.
    async fn close(&mut self, key: &VpcKey) {
        match self.resolvers.remove(key) {
            Some(VpcResolver::Steered(addr)) => {
                if let Some(s) = &self.steering {
                    s.remove(addr);
                }
                self.views.remove(*addr.ip());
            }
            Some(VpcResolver::Own { stop, tasks }) => {
                let _ = stop.send(true);
                for task in tasks {
                    let _ = task.await;
                }
            }
            None => {}
        }
    }
}

/// Binds (and closes) a UDP and a TCP socket at `addr`: fails where
/// another socket of this host is bound there.
fn probe(addr: SocketAddrV4) -> io::Result<()> {
    std::net::UdpSocket::bind(addr)?;
    crate::dataplane::socket::probe_tcp_bind(addr)
}
