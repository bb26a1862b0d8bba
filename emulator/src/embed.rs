//! The emulator inside another program: an integration test of someone's
//! service starts it on free ports in its own tokio runtime, drives it, and
//! shuts it down.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let emulator = privatelink_emulator::Emulator::builder().start().await?;
//! println!("EC2 and ELBv2 at {}", emulator.api_url());
//! emulator.shutdown().await?;
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::dataplane::DataPlane;
use crate::dns::DnsServer;
use crate::Shared;
use tracing::info;

/// Settings of an in-process emulator; every address defaults to a free
/// loopback port. The binary starts through this builder too.
#[derive(Debug, Clone)]
pub struct Builder {
    config: Config,
    /// A DNS address that cannot be bound fails the start; otherwise the
    /// emulator serves without DNS and says why.
    dns_required: bool,
    /// Serves the API on a thread of its own (the binary does: requests are
    /// short and the world sits behind one lock, so hopping between worker
    /// threads would only add latency) instead of the caller's runtime.
    api_thread: bool,
}

impl Default for Builder {
    fn default() -> Self {
        let mut config = Config { api_addr: SocketAddr::from(([127, 0, 0, 1], 0)), ..Default::default() };
        config.dns.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Builder { config, dns_required: true, api_thread: false }
    }
}

impl Builder {
    /// Starts from a full configuration (its addresses are used as given).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    pub fn api_addr(mut self, addr: SocketAddr) -> Self {
        self.config.api_addr = addr;
        self
    }

    /// Added to every endpoint listener port on the host.
    pub fn port_offset(mut self, offset: u16) -> Self {
        self.config.dataplane.port_offset = offset;
        self
    }

    /// How long transitional states last (see `--pending-seconds`).
    pub fn pending_delay(mut self, delay: Duration) -> Self {
        self.config.model.pending_delay_ms = delay.as_millis() as u64;
        self
    }

    /// The DNS server's public address (port 0: a free port; the per-VPC
    /// resolvers, at base + 2 in each VPC's host block, use the same port).
    pub fn dns_addr(mut self, addr: SocketAddr) -> Self {
        self.config.dns.addr = addr;
        self
    }

    /// Whether a DNS address that cannot be bound fails the start (the
    /// default) or leaves the emulator serving without DNS.
    pub fn dns_required(mut self, required: bool) -> Self {
        self.dns_required = required;
        self
    }

    /// Serves the API on a thread of its own instead of the caller's runtime.
    pub fn api_thread(mut self, own: bool) -> Self {
        self.api_thread = own;
        self
    }

    /// Keeps the world in `dir` (see `--state-dir`): restored on start,
    /// every acknowledged change on disk.
    pub fn state_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.state_dir = Some(dir.into());
        self
    }

    /// Binds, restores the state directory, applies the seed file, then
    /// starts DNS, the netplane (interface mode), the data plane and the API
    /// on the current runtime. An error says what failed and what to do.
    pub async fn start(self) -> io::Result<Emulator> {
        let config = self.config;
        // Every endpoint listener and flow holds descriptors; the soft limit
        // is often 1024, far below what a few hundred endpoints need.
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(n) => info!(open_files = n, "descriptor limit"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the descriptor limit"),
        }
        let context = |what: String| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
        let api_listener = std::net::TcpListener::bind(config.api_addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(context(format!(
                "cannot listen on {} (choose another address with --api-addr or PRIVATELINK_API_ADDR; port 0 picks a free one)",
                config.api_addr
            )))?;
        let api_addr = api_listener.local_addr()?;
        let shared = crate::shared(&config).map_err(context("cannot restore the state directory".into()))?;
        shared.notifications.set_routes(config.notification_routes.clone());
        shared.logs.write_files(config.flow_log_file.as_deref(), config.query_log_file.as_deref())?;
        let faults = shared.faults.clone();
        shared.add_status("faults", move || faults.to_json());
        // How close the process is to its descriptor limit, which bounds how
        // many endpoint listeners and flows it can hold.
        shared.add_status("descriptors", || {
            let open = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count());
            let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft);
            serde_json::json!({"open": open, "limit": limit})
        });
        if let Some(seed) = &config.seed {
            match seed.apply(&shared) {
                Ok(0) => info!("seed not applied: the world already has VPCs"),
                Ok(n) => info!(vpcs = n, "seeded the starting world"),
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidInput, e)),
            }
        }
        let dns = start_dns(&config, shared.clone(), self.dns_required).await?;
        #[cfg(target_os = "linux")]
        let netplane = if config.attachments.is_empty() {
            None
        } else {
            let plane = crate::netplane::NetPlane::start(
                shared.clone(),
                config.attachments.clone(),
                config.state_dir.as_deref(),
            )
            .await
            .map_err(|e| io::Error::other(format!("interface mode: {e} (it needs Linux and CAP_NET_ADMIN)")))?;
            Some(plane)
        };
        #[cfg(not(target_os = "linux"))]
        if !config.attachments.is_empty() {
            return Err(io::Error::other("interface mode (--attach) needs Linux"));
        }
        let dataplane = crate::authority(&config)
            .and_then(|ca| DataPlane::start(shared.clone(), config.dataplane, ca))
            .map_err(context("cannot start the data plane".into()))?;
        let (stop, stopped) = watch::channel(false);
        let api = serve_api(api_listener, shared.clone(), stopped, self.api_thread)?;
        let notifier = tokio::spawn(shared.notifications.clone().deliver());
        Ok(Emulator {
            api_addr,
            dns,
            shared,
            dataplane,
            notifier,
            #[cfg(target_os = "linux")]
            netplane,
            stop,
            api,
        })
    }
}

/// Starts DNS. A DNS address the user chose must work; the default port 53
/// may need privileges, and without them the emulator still serves the API
/// and the data plane, saying how to get DNS too.
async fn start_dns(
    config: &Config,
    shared: Arc<Shared>,
    required: bool,
) -> io::Result<Option<(DnsServer, SocketAddr)>> {
    let advice = "choose another address with --dns-addr or PRIVATELINK_DNS_ADDR, e.g. --dns-addr 127.0.0.1:5353 (port 0 picks a free one)";
    let sockets = match crate::dns::bind(config.dns.addr).await {
        Ok(b) => b,
        Err(e) => {
            let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            } else {
                ""
            };
            if required {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot serve DNS on {}: {e}{hint}; {advice}", config.dns.addr),
                ));
            }
            tracing::warn!("DNS is off: cannot serve it on {}: {e}{hint}; {advice}", config.dns.addr);
            return Ok(None);
        }
    };
    let dns_addr = sockets.local_addr()?;
    let server = DnsServer::start(shared, sockets, &config.dns)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start the DNS server: {e}")))?;
    info!(%dns_addr, vpc_port = config.dns.vpc_port.unwrap_or(dns_addr.port()), upstream = ?config.dns.upstream, "serving DNS");
    Ok(Some((server, dns_addr)))
}

/// Where the API is served from.
enum Api {
    Task(JoinHandle<()>),
    Thread(std::thread::JoinHandle<io::Result<()>>),
}

fn serve_api(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    own_thread: bool,
) -> io::Result<Api> {
    let stop = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    if !own_thread {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        return Ok(Api::Task(tokio::spawn(crate::serve(listener, shared, stop))));
    }
    let thread = std::thread::Builder::new().name("api".into()).spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            crate::serve(listener, shared, stop).await;
            Ok(())
        })
    });
    thread.map(Api::Thread).map_err(|e| io::Error::new(e.kind(), format!("cannot start the API thread: {e}")))
}

/// A running emulator.
pub struct Emulator {
    api_addr: SocketAddr,
    dns: Option<(DnsServer, SocketAddr)>,
    shared: Arc<Shared>,
    dataplane: Arc<DataPlane>,
    /// Delivers connection notifications to their URLs.
    notifier: JoinHandle<()>,
    #[cfg(target_os = "linux")]
    netplane: Option<Arc<crate::netplane::NetPlane>>,
    stop: watch::Sender<bool>,
    api: Api,
}

impl Emulator {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Where the EC2, ELBv2 and STS API answers (`--endpoint-url`).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The DNS server's public view; each VPC's resolver is at base + 2 in
    /// its host block on the same port. `None` when DNS could not be served and was not
    /// required ([`Builder::dns_required`]).
    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.dns.as_ref().map(|(_, a)| *a)
    }

    /// The state, for assertions a test wants to make directly.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Waits until DNS and the data plane have applied every change made
    /// so far (the engine's current revision), or `timeout` passes; returns
    /// whether they had. What an API call answered is then served.
    pub async fn settle(&self, timeout: Duration) -> bool {
        self.shared.settle(self.shared.revision(), timeout).await
    }

    pub fn dataplane(&self) -> &Arc<DataPlane> {
        &self.dataplane
    }

    /// Stops accepting, lets API requests in flight finish, ends flows with
    /// FIN, takes back interface addresses, then folds the journal into a
    /// snapshot so the next start has nothing to read but it.
    pub async fn shutdown(self) -> io::Result<()> {
        let _ = self.stop.send(true);
        self.notifier.abort();
        self.dataplane.shutdown().await;
        if let Some((dns, _)) = self.dns {
            dns.shutdown().await;
        }
        #[cfg(target_os = "linux")]
        if let Some(p) = self.netplane {
            p.shutdown().await;
        }
        let served = match self.api {
            Api::Task(task) => task.await.map_err(io::Error::other),
            Api::Thread(thread) => match tokio::task::spawn_blocking(move || thread.join()).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(io::Error::other("the API thread panicked")),
                Err(e) => Err(io::Error::other(e)),
            },
        };
        if let Err(e) = self.shared.snapshot() {
            tracing::error!(error = %e, "cannot write the snapshot at shutdown (the journal still holds every change)");
            return Err(e);
        }
        served
    }
}
