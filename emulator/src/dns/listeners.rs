//! The DNS listeners: the public view on the configured address, and one
//! resolver per VPC at its host resolver address (base + 2 in its host
//! block, 127.k.0.2 for a /16), both UDP and TCP. A task follows the
//! model's events: it updates the index and opens or closes VPC resolvers
//! as VPCs come and go.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_server::Server;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::handler::{Handler, QueryLog};
use super::index::{Index, Pending, View, VpcKey};
use super::{bind, Bound, DnsSettings};
use crate::engine::Shared;
use crate::flowlog::query::Resolver;
use crate::model::Event;

/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 64;
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

fn serve(handler: Handler, bound: Bound) -> Server<Handler> {
    let mut server = Server::new(handler);
    server.register_socket(bound.udp);
    server.register_listener(bound.tcp, TCP_IDLE, TCP_RESPONSE_BUFFER);
    server
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
        // Clients (and people) find the servers on the status document.
        shared.add_status(
            "dns",
            move || serde_json::json!({"public": public_addr.to_string(), "vpc_resolver_port": port}),
        );
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
        let public = serve(
            Handler::new(index.clone(), View::Public, upstream).logging(public_log).with_faults(shared.faults.clone()),
            public,
        );
        let (stop, stop_rx) = watch::channel(false);
        let follower = Follower {
            shared,
            settled,
            revision,
            index: index.clone(),
            upstream,
            port,
            resolvers: HashMap::new(),
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
    resolvers: HashMap<VpcKey, Server<Handler>>,
    /// VPCs whose resolver address could not be bound: not retried on
    /// every event (the warning says it once).
    unbindable: HashSet<VpcKey>,
}

impl Follower {
    async fn run(
        mut self,
        mut events: broadcast::Receiver<Event>,
        mut stop: watch::Receiver<bool>,
        mut public: Server<Handler>,
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
        for (_, mut server) in self.resolvers.drain() {
            let _ = server.shutdown_gracefully().await;
        }
        let _ = public.shutdown_gracefully().await;
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
    async fn reconcile(&mut self) {
        let wanted = self.index.read().unwrap_or_else(|e| e.into_inner()).vpcs().clone();
        let gone: Vec<VpcKey> = self.resolvers.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect();
        self.unbindable.retain(|k| wanted.contains_key(k));
        for key in gone {
            if let Some(mut server) = self.resolvers.remove(&key) {
                let _ = server.shutdown_gracefully().await;
                info!(vpc = %key.vpc_id, "vpc resolver closed");
            }
        }
        for (key, info) in wanted {
            if self.resolvers.contains_key(&key) || self.unbindable.contains(&key) {
                continue;
            }
            // An attached VPC's resolver is where AWS has it: base + 2, port 53.
            let port = if info.attached { 53 } else { self.port };
            let addr = SocketAddr::new(info.resolver.into(), port);
            match bind(addr).await {
                Ok(bound) => {
                    let handler = Handler::new(self.index.clone(), View::Vpc(key.clone()), self.upstream)
                        .logging(self.query_log(&key))
                        .with_faults(self.shared.faults.clone());
                    self.resolvers.insert(key.clone(), serve(handler, bound));
                    info!(vpc = %key.vpc_id, region = %key.region, %addr, vpc_address = %info.vpc_resolver, "vpc resolver listening");
                }
                Err(e) => {
                    warn!(vpc = %key.vpc_id, %addr, error = %e, "cannot open the vpc resolver");
                    self.unbindable.insert(key);
                }
            }
        }
    }
}
