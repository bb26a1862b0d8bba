//! The data plane: real TCP flows from a consumer, through its endpoint's
//! ENIs, through the provider's NLB, to real targets.
//!
//! It follows the model: on every change it rebuilds a [`plan::Plan`] and
//! reconciles listeners, one per (ENI host address, listener port) of every
//! endpoint with interfaces: on loopback, entries of one shared listening
//! socket where the kernel can steer connections to it
//! ([`steer`]), else a socket each. Those of an endpoint that is not available yet
//! (pendingAcceptance, pending) refuse every flow: AWS drops such traffic,
//! the emulator resets it at once so a client fails fast rather than wait
//! out its connect timeout, and both log a REJECT on the interface.
//! Endpoints that stop being available lose their listeners, and their
//! open flows are reset.

mod accept;
mod flow;
pub mod health;
mod injected;
pub mod load_balancer_groups;
pub mod plan;
pub mod proxy_protocol;
mod record;
mod service;
pub(crate) mod socket;
#[cfg(target_os = "linux")]
mod splice;
pub mod stats;
pub mod tls;
pub mod tls_listener;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::{error, info, Instrument};

pub use flow::{FlowSettings, Stop};
use plan::Plan;
use stats::Stats;

use crate::engine::Shared;

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Added to every listener port on the host (80 -> 8080 with 8000), for
    /// users who may not bind ports below 1024.
    pub port_offset: u16,
    /// Idle timeout of flows on listeners that keep AWS's default
    /// `tcp.idle_timeout.seconds` (350); other listeners use their own.
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
    /// Most flows at once, across every endpoint; more are reset at accept
    /// so a flood cannot exhaust descriptors.
    pub max_flows: usize,
    pub listener_sockets: ListenerSockets,
}

/// How loopback ENIs listen (`--listener-sockets`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListenerSockets {
    /// Shared where the kernel allows it, else one per address.
    #[default]
    Auto,
    /// One socket for every loopback ENI; the emulator does not start
    /// without it.
    Shared,
    /// One socket per (ENI address, listener port).
    PerAddress,
}

/// Default bound on concurrent flows (two descriptors each).
pub const MAX_FLOWS: usize = 16_384;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port_offset: 0,
            idle_timeout: Duration::from_secs(350),
            connect_timeout: Duration::from_secs(10),
            max_flows: MAX_FLOWS,
            listener_sockets: ListenerSockets::Auto,
        }
    }
}

/// How long shutdown waits for open flows to close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How long the data plane lets changes pile up before it rebuilds its plan.
const RECONCILE_DEBOUNCE: Duration = Duration::from_millis(5);

/// How often listeners that could not bind are tried again while no change
/// comes: the room a closed listener frees comes back only once its task
/// has ended, after the change that closed it.
const BIND_RETRY: Duration = Duration::from_secs(1);
/// Endpoints read under one lock of the world, at most.
const READ_CHUNK: usize = 32;

/// What a burst of the model's events changed, for the plan.
enum Changed {
    Everything,
    Endpoints(BTreeSet<plan::EndpointKey>),
}

impl Changed {
    /// Notes one event; `plan` is the plan the burst started from.
    fn note(&mut self, event: &crate::model::Event, plan: &Plan) {
        use crate::model::Resource;
        let Changed::Endpoints(keys) = self else { return };
        match &event.resource {
            Resource::Endpoint(id) => {
                keys.insert((event.region.clone(), id.clone()));
            }
            // Where an NLB's rule admits the interfaces of a group, any
            // interface may change who it admits.
            Resource::NetworkInterface(_) if plan.interface_regions.contains(&event.region) => {
                *self = Changed::Everything
            }
            // Otherwise an interface changes with the endpoint (or load
            // balancer) that owns it, whose own event says so; TXT records,
            // route tables and hosted zones route nothing through the data
            // plane (names are DNS's; flows go to addresses).
            Resource::NetworkInterface(_)
            | Resource::PublicTxt(_)
            | Resource::RouteTable(_)
            | Resource::HostedZone(_) => {}
            _ => *self = Changed::Everything,
        }
    }
}

struct Running {
    endpoint_id: String,
    /// Whether it carried flows when it started: one that must refuse
    /// them from now on is restarted, so its open flows are reset.
    serving: bool,
    /// Its own socket's accept loop; `None`: an entry of the shared socket.
    accept: Option<JoinHandle<()>>,
    /// Tells every flow of this listener to stop.
    cancel: watch::Sender<Stop>,
    /// The idle timeout of this listener's flows, open ones included.
    idle_timeout: watch::Sender<Duration>,
}

pub struct DataPlane {
    shared: Arc<Shared>,
    settings: Settings,
    plan: RwLock<Arc<Plan>>,
    listeners: Mutex<HashMap<SocketAddrV4, Running>>,
    /// Listeners that could not bind, so the reason is logged once.
    failed: Mutex<HashMap<SocketAddrV4, String>>,
    stats: Stats,
    /// One permit per flow, `max_flows` in all.
    flows: Arc<tokio::sync::Semaphore>,
    stop: watch::Sender<bool>,
    /// TLS of AWS-service endpoints, with the local CA's certificates.
    tls: tokio_rustls::TlsAcceptor,
    /// The local CA, which also issues TLS listeners' certificates.
    authority: Arc<tls::Authority>,
    /// TLS of TLS listeners, per listener settings.
    acceptors: tls_listener::Acceptors,
    /// The one socket of loopback ENIs, where the kernel steers to it.
    shared_listener: Option<accept::SharedListener>,
    /// Why loopback ENIs listen on a socket each, when they do.
    per_address_why: Option<String>,
}

impl DataPlane {
    /// Starts following the model on the current tokio runtime, serving
    /// AWS-service endpoints with certificates of `authority`.
    pub fn start(
        shared: Arc<Shared>,
        settings: Settings,
        authority: Arc<tls::Authority>,
    ) -> io::Result<Arc<DataPlane>> {
        let tls = authority.acceptor()?;
        let _ = shared.tls_ca_pem.set(authority.ca_pem().to_string());
        let (stop, _) = watch::channel(false);
        let (shared_listener, per_address_why) = match settings.listener_sockets {
            ListenerSockets::PerAddress => (None, Some("--listener-sockets per-address".to_string())),
            mode => match accept::SharedListener::open() {
                Ok(s) => {
                    info!(socket = %s.local, "one listening socket for every loopback ENI (sk_lookup steering)");
                    (Some(s), None)
                }
                Err(e) if mode == ListenerSockets::Shared => {
                    return Err(io::Error::new(e.kind(), format!("--listener-sockets shared: {e}")))
                }
                Err(e) => {
                    let why = format!("sk_lookup steering unavailable: {e}");
                    info!("a listening socket per loopback ENI and port ({why})");
                    (None, Some(why))
                }
            },
        };
        let dp = Arc::new(DataPlane {
            shared: shared.clone(),
            settings,
            plan: RwLock::new(Arc::new(Plan::default())),
            listeners: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            stats: Stats::default(),
            flows: Arc::new(tokio::sync::Semaphore::new(settings.max_flows)),
            stop,
            tls,
            authority,
            acceptors: tls_listener::Acceptors::default(),
            shared_listener,
            per_address_why,
        });
        // Registered before start returns, so a wait for the followers
        // never misses the data plane.
        let events = shared.subscribe();
        let settled = shared.follower("dataplane");
        let revision = shared.revision();
        tokio::spawn(follow(dp.clone(), events, settled, revision, dp.stop.subscribe()));
        tokio::spawn(health::run(dp.clone(), dp.stop.subscribe()));
        if dp.shared_listener.is_some() {
            tokio::spawn(accept::SharedListener::run(dp.clone(), dp.stop.subscribe()));
        }
        let weak = Arc::downgrade(&dp);
        shared.add_status("dataplane", move || weak.upgrade().map(|dp| dp.status()).unwrap_or(Value::Null));
        Ok(dp)
    }

    /// A flow's share of `max_flows`; at the bound the connection is reset
    /// and counted rather than run the process out of descriptors.
    fn flow_permit(
        &self,
        stats: &stats::EndpointStats,
        stream: &tokio::net::TcpStream,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permit = self.flows.clone().try_acquire_owned().ok();
        if permit.is_none() {
            stats.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.stats.over_limit.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            flow::reset(stream);
        }
        permit
    }

    /// A listener's idle timeout: its `tcp.idle_timeout.seconds`, or, for
    /// listeners that keep AWS's default, the emulator's own setting
    /// (`--idle-timeout-seconds`, 350 s unless set).
    fn idle_timeout(&self, route: &plan::Route) -> Duration {
        if route.idle_timeout_seconds == crate::model::listener_settings::DEFAULT_TCP_IDLE_TIMEOUT_SECONDS {
            self.settings.idle_timeout
        } else {
            Duration::from_secs(route.idle_timeout_seconds.into())
        }
    }

    pub fn plan(&self) -> Arc<Plan> {
        self.plan.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn has_failed_binds(&self) -> bool {
        !self.failed.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
    }

    /// Tries again the listeners that could not bind, and only them.
    fn retry_failed_binds(self: &Arc<Self>) {
        let plan = self.plan();
        self.reconcile_listeners(&plan, Some(plan::Touched::default()));
    }

    /// Brings the plan up to date with the world and opens/closes listeners
    /// to match it. Changes of endpoints alone are read a few endpoints per
    /// lock of the world and applied to the plan in place, and only the
    /// listeners at their addresses are looked at: such a change costs its
    /// own size, not the world's. Any other change rebuilds the whole plan
    /// and looks at every listener.
    fn reconcile(self: &Arc<Self>, changed: Changed) {
        let offset = self.settings.port_offset;
        let (plan, touched) = match changed {
            Changed::Everything => {
                let plan = Arc::new(plan::build(&self.shared.world(), offset));
                *self.plan.write().unwrap_or_else(|e| e.into_inner()) = plan.clone();
                (plan, None)
            }
            Changed::Endpoints(keys) => {
                let keys: Vec<plan::EndpointKey> = keys.into_iter().collect();
                let mut parts = Vec::with_capacity(keys.len());
                for chunk in keys.chunks(READ_CHUNK) {
                    parts.extend(plan::read_parts(&self.shared.world(), chunk, offset));
                }
                let mut slot = self.plan.write().unwrap_or_else(|e| e.into_inner());
                // In place unless a reader still holds the current plan
                // (then that reader keeps its copy and this one is cloned).
                let touched = Arc::make_mut(&mut slot).apply_parts(parts);
                (slot.clone(), Some(touched))
            }
        };
        self.reconcile_listeners(&plan, touched);
    }

    /// Opens and closes listeners to match `plan`: every one, or (`touched`)
    /// those at the addresses a change of a few endpoints touched, and
    /// those that could not bind before (tried again on every change).
    fn reconcile_listeners(self: &Arc<Self>, plan: &Plan, touched: Option<plan::Touched>) {
        if touched.as_ref().is_none_or(|t| t.tls) {
            let terminations: Vec<&tls_listener::Termination> =
                plan.listeners.values().filter_map(|r| r.tls.as_deref()).collect();
            self.acceptors.retain(&self.authority, &terminations);
        }
        let mut running = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        // The addresses to look at; `None`: all of them.
        let keys: Option<Vec<SocketAddrV4>> = touched.map(|t| {
            let mut keys = t.addresses;
            keys.extend(failed.keys().copied());
            keys.into_iter().collect()
        });
        let is_stale = |k: &SocketAddrV4, r: &Running| {
            plan.endpoint_at(k) != Some(r.endpoint_id.as_str())
                || (r.serving && plan.listeners.get(k).is_some_and(|route| route.unavailable.is_some()))
        };
        let stale: Vec<SocketAddrV4> = match &keys {
            None => running.iter().filter(|(k, r)| is_stale(k, r)).map(|(k, _)| *k).collect(),
            Some(keys) => keys.iter().filter(|k| running.get(k).is_some_and(|r| is_stale(k, r))).copied().collect(),
        };
        for key in stale {
            if let Some(r) = running.remove(&key) {
                let s = self.stats.endpoint(&r.endpoint_id);
                info!(
                    listener = %key, endpoint = %r.endpoint_id,
                    connections = s.connections.load(std::sync::atomic::Ordering::Relaxed),
                    refused = s.refused.load(std::sync::atomic::Ordering::Relaxed),
                    bytes_in = s.bytes_in.load(std::sync::atomic::Ordering::Relaxed),
                    bytes_out = s.bytes_out.load(std::sync::atomic::Ordering::Relaxed),
                    "closing listener"
                );
                self.close(key, r, Stop::Reset);
            }
        }
        let update_idle = |key: &SocketAddrV4, r: &Running| {
            if let Some(route) = plan.listeners.get(key) {
                let timeout = self.idle_timeout(route);
                r.idle_timeout.send_if_modified(|t| std::mem::replace(t, timeout) != timeout);
            }
        };
        match &keys {
            None => running.iter().for_each(|(k, r)| update_idle(k, r)),
            Some(keys) => keys.iter().for_each(|k| {
                if let Some(r) = running.get(k) {
                    update_idle(k, r)
                }
            }),
        }
        match &keys {
            None => failed.retain(|k, _| plan.endpoint_at(k).is_some()),
            Some(keys) => keys.iter().filter(|k| plan.endpoint_at(k).is_none()).for_each(|k| {
                failed.remove(k);
            }),
        }
        let listener = |k: &SocketAddrV4, r: &plan::Route| {
            let vpc_address = SocketAddrV4::new(r.eni_addr, r.port);
            (*k, r.endpoint_id.clone(), vpc_address, false, self.idle_timeout(r), r.unavailable.is_none())
        };
        let service = |k: &SocketAddrV4, r: &plan::ServiceRoute| {
            let vpc_address = SocketAddrV4::new(r.eni_addr, r.port);
            (*k, r.endpoint_id.clone(), vpc_address, true, self.settings.idle_timeout, true)
        };
        let wanted: Vec<_> = match &keys {
            None => plan
                .listeners
                .iter()
                .filter(|(k, _)| !running.contains_key(k))
                .map(|(k, r)| listener(k, r))
                .chain(plan.services.iter().filter(|(k, _)| !running.contains_key(k)).map(|(k, r)| service(k, r)))
                .collect(),
            Some(keys) => keys
                .iter()
                .filter(|k| !running.contains_key(k))
                .filter_map(|k| {
                    plan.listeners
                        .get(k)
                        .map(|r| listener(k, r))
                        .or_else(|| plan.services.get(k).map(|r| service(k, r)))
                })
                .collect(),
        };
        for (key, endpoint_id, vpc_address, aws_service, idle_timeout, serving) in wanted {
            let (cancel, cancelled) = watch::channel(Stop::Run);
            let (idle_timeout, idle) = watch::channel(idle_timeout);
            let opened = match self.shared_listener.as_ref().filter(|_| key.ip().is_loopback()) {
                Some(shared) => shared.add(key, accept::Steered::new(aws_service, cancelled, idle)).map(|()| None),
                None => bind(key).map(|listener| {
                    let span = tracing::info_span!("endpoint", id = %endpoint_id, listener = %key);
                    Some(if aws_service {
                        tokio::spawn(service::accept_loop(self.clone(), listener, key, cancelled).instrument(span))
                    } else {
                        tokio::spawn(accept::accept_loop(self.clone(), listener, key, cancelled, idle).instrument(span))
                    })
                }),
            };
            match opened {
                Ok(accept) => {
                    failed.remove(&key);
                    info!(listener = %key, endpoint = %endpoint_id, %vpc_address, tls = aws_service, refusing = !serving, shared = accept.is_none(), "listening");
                    running.insert(key, Running { endpoint_id, serving, accept, cancel, idle_timeout });
                }
                Err(e) => {
                    let why = bind_advice(key, &e, self.settings.port_offset);
                    if failed.get(&key) != Some(&why) {
                        error!("{why}");
                        failed.insert(key, why);
                    }
                }
            }
        }
    }

    /// Stops listening at `key` and tells its open flows to stop.
    fn close(&self, key: SocketAddrV4, r: Running, stop: Stop) {
        match r.accept {
            Some(accept) => accept.abort(),
            None => {
                if let Some(shared) = &self.shared_listener {
                    shared.remove(key);
                }
            }
        }
        let _ = r.cancel.send(stop);
    }

    pub fn status(&self) -> Value {
        let plan = self.plan();
        let route_json = |k: &SocketAddrV4, r: &plan::Route| {
            let mut v = json!({
                "host_address": k.to_string(),
                "vpc_address": SocketAddrV4::new(r.eni_addr, r.port).to_string(),
                "nlb_node": {"vpc_address": r.node_addr.to_string(), "host_address": r.node_host.to_string()},
                "idle_timeout_seconds": self.idle_timeout(r).as_secs(),
                "load_balancer_security_groups_enforced": r.load_balancer_ingress.is_some(),
                "tls": r.tls.as_ref().map(|t| json!({
                    "certificate_arn": t.certificate_arn,
                    "certificate_names": t.certificate_names(&t.certificate_arn),
                    "ssl_policy": t.ssl_policy,
                    "alpn_policy": t.alpn_policy,
                    "to_targets": r.target_tls,
                })),
                "targets": r.targets.iter().map(|t| json!({
                    "id": t.id, "port": t.port, "health": t.health.as_str(),
                    "dial": t.dial.map(|d| d.to_string()),
                })).collect::<Vec<_>>(),
            });
            let owner = if r.direct { "load_balancer_arn" } else { "vpc_endpoint_id" };
            v[owner] = json!(r.endpoint_id);
            v
        };
        let (direct, through): (Vec<_>, Vec<_>) = plan.listeners.iter().partition(|(_, r)| r.direct);
        let (refusing, through): (Vec<_>, Vec<_>) = through.into_iter().partition(|(_, r)| r.unavailable.is_some());
        let mut listeners: Vec<Value> = through.into_iter().map(|(k, r)| route_json(k, r)).collect();
        let mut refusing: Vec<Value> = refusing
            .into_iter()
            .map(|(k, r)| {
                json!({
                    "host_address": k.to_string(),
                    "vpc_address": SocketAddrV4::new(r.eni_addr, r.port).to_string(),
                    "vpc_endpoint_id": r.endpoint_id,
                    "network_interface_id": r.names.endpoint_eni,
                    "endpoint_state": r.unavailable,
                })
            })
            .collect();
        refusing.sort_by_key(|v| v["host_address"].as_str().unwrap_or("").to_string());
        let mut nlb_listeners: Vec<Value> = direct.into_iter().map(|(k, r)| route_json(k, r)).collect();
        nlb_listeners.sort_by_key(|v| v["host_address"].as_str().unwrap_or("").to_string());
        listeners.extend(plan.services.iter().map(|(k, r)| {
            json!({
                "host_address": k.to_string(),
                "vpc_address": SocketAddrV4::new(r.eni_addr, r.port).to_string(),
                "vpc_endpoint_id": r.endpoint_id,
                "aws_service": r.service,
                "tls": true,
            })
        }));
        listeners.sort_by_key(|v| v["host_address"].as_str().unwrap_or("").to_string());
        let failed: Vec<String> = self.failed.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        json!({
            "port_offset": self.settings.port_offset,
            "listener_sockets": match &self.shared_listener {
                Some(s) => json!({"mode": "shared", "socket": s.local.to_string()}),
                None => json!({"mode": "per-address", "why": self.per_address_why}),
            },
            "listeners": listeners,
            "load_balancer_listeners": nlb_listeners,
            "refusing_listeners": refusing,
            "bind_failures": failed,
            "endpoints": self.stats.to_json(),
            "targets": self.stats.targets.to_json(),
            "max_flows": self.settings.max_flows,
            "open_flows": self.settings.max_flows - self.flows.available_permits(),
            "refused_over_limit": self.stats.over_limit.load(std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Stops every listener and ends open flows with FIN on both sides,
    /// waiting (at most 2 s) until every flow is closed.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let drained: Vec<(SocketAddrV4, Running)> =
            self.listeners.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
        for (key, r) in drained {
            self.close(key, r, Stop::Close);
        }
        if let Some(shared) = &self.shared_listener {
            shared.detach();
        }
        let open = self.settings.max_flows - self.flows.available_permits();
        let all = u32::try_from(self.settings.max_flows).unwrap_or(u32::MAX);
        match tokio::time::timeout(SHUTDOWN_GRACE, self.flows.acquire_many(all)).await {
            Ok(_) => info!(closed = open, "data plane flows closed with FIN"),
            Err(_) => tracing::warn!(
                open = self.settings.max_flows - self.flows.available_permits(),
                "data plane flows still open at shutdown"
            ),
        }
    }
}

/// Descriptors an endpoint listener may not take: what is left for the
/// API, DNS and the first flows once listeners have used up the rest, so
/// the process still answers when its limit is reached.
const FD_RESERVE: u64 = 128;

fn bind(addr: SocketAddrV4) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // The kernel hands out the lowest free number, so a listener's number
    // is about how many descriptors are open.
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(u64::MAX, |(soft, _)| soft);
    if (socket.as_raw_fd() as u64).saturating_add(FD_RESERVE) >= limit {
        return Err(io::Error::from_raw_os_error(libc::EMFILE));
    }
    socket.set_reuseaddr(true)?;
    // Accepted connections inherit TCP_NODELAY from the listener on Linux:
    // one setsockopt per listener instead of one per flow. Flows set it
    // again where it is not inherited.
    let _ = socket.set_nodelay(true);
    if !addr.ip().is_loopback() {
        socket::free_bind(&socket);
    }
    socket.bind(SocketAddr::V4(addr))?;
    socket.listen(1024)
}

fn bind_advice(addr: SocketAddrV4, e: &io::Error, offset: u16) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "cannot listen on {addr}: permission denied. Ports below 1024 need root or CAP_NET_BIND_SERVICE \
             (sudo setcap cap_net_bind_service=+ep $(which privatelink-emulator)), or move every listener up \
             with --port-offset (now {offset}), e.g. --port-offset 8000 serves port 80 on 8080"
        ),
        io::ErrorKind::AddrInUse => format!("cannot listen on {addr}: the address is in use by another process"),
        _ if e.raw_os_error() == Some(libc::EMFILE) => {
            let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft);
            format!(
                "cannot listen on {addr}: the process is at its limit of {limit} open files (the last \
                 {FD_RESERVE} are kept for the API, DNS and flows). Every endpoint ENI holds one per listener port \
                 and every flow two; raise the hard limit (ulimit -Hn, LimitNOFILE= in systemd, --ulimit nofile= \
                 in docker) and restart"
            )
        }
        _ => format!("cannot listen on {addr}: {e}"),
    }
}

async fn follow(
    dp: Arc<DataPlane>,
    mut events: broadcast::Receiver<crate::model::Event>,
    settled: watch::Sender<u64>,
    revision: u64,
    mut stop: watch::Receiver<bool>,
) {
    // Every event up to the revision read before a batch is queued by then,
    // so once the batch is applied the plan holds that revision.
    dp.reconcile(Changed::Everything);
    settled.send_replace(revision);
    loop {
        let revision;
        tokio::select! {
            r = events.recv() => match r {
                Ok(event) => {
                    // A burst of API calls becomes one update, and the
                    // model's lock stays free for the API meanwhile.
                    tokio::time::sleep(RECONCILE_DEBOUNCE).await;
                    revision = dp.shared.revision();
                    let mut changed = Changed::Endpoints(BTreeSet::new());
                    let plan = dp.plan();
                    let mut next = Ok(event);
                    loop {
                        match next {
                            Ok(e) => {
                                log_vpc(&dp, &e);
                                changed.note(&e, &plan);
                            }
                            Err(broadcast::error::TryRecvError::Lagged(_)) => changed = Changed::Everything,
                            Err(_) => break,
                        }
                        next = events.try_recv();
                    }
                    // The plan is updated in place when nobody holds it.
                    drop(plan);
                    dp.reconcile(changed);
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Coalesce a burst of changes into one rebuild.
                    revision = dp.shared.revision();
                    while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = events.try_recv() {}
                    dp.reconcile(Changed::Everything);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = tokio::time::sleep(BIND_RETRY), if dp.has_failed_binds() => {
                dp.retry_failed_binds();
                continue;
            }
            _ = stop.changed() => break,
        }
        settled.send_replace(dp.shared.caught_up(&events, revision));
    }
}

/// Says where a new VPC lives on the host, so users can find its addresses.
fn log_vpc(dp: &DataPlane, event: &crate::model::Event) {
    use crate::model::{Change, Resource};
    if let (Resource::Vpc(id), Change::Created) = (&event.resource, event.change) {
        let world = dp.shared.world();
        if let Some(v) = world.region(&event.region).and_then(|r| r.vpcs.get(id)) {
            let host_block = crate::addressing::VpcBlock::from(v).host_cidr();
            info!(vpc = %id, cidr = %v.cidr, owner = %v.owner, %host_block, "vpc addresses live on the host block");
        }
    }
}

/// Listener addresses in use, for tests and the status endpoint.
pub fn listening(dp: &DataPlane) -> HashSet<SocketAddrV4> {
    dp.listeners.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect()
}

#[cfg(test)]
mod tests;
