//! The emulator inside another program: an integration test of someone's
//! service starts it on free ports in its own tokio runtime, drives it, and
//! shuts it down.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let emulator = privatelink_emulator::Emulator::builder().start().await?;
//! println!("EC2 and ELBv2 at {}", emulator.api_url());
//! emulator.shutdown().await;
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

/// Settings of an in-process emulator; every address defaults to a free
/// loopback port.
#[derive(Debug, Clone)]
pub struct Builder {
    config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        let mut config = Config { api_addr: SocketAddr::from(([127, 0, 0, 1], 0)), ..Default::default() };
        config.dns.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Builder { config }
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
    /// resolvers at 127.k.0.2 use the same port).
    pub fn dns_addr(mut self, addr: SocketAddr) -> Self {
        self.config.dns.addr = addr;
        self
    }

    /// Keeps the world in `dir` (see `--state-dir`): restored on start,
    /// every acknowledged change on disk.
    pub fn state_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.state_dir = Some(dir.into());
        self
    }

    /// Binds, starts the API, DNS and the data plane on the current runtime.
    pub async fn start(self) -> io::Result<Emulator> {
        let listener = tokio::net::TcpListener::bind(self.config.api_addr).await?;
        let api_addr = listener.local_addr()?;
        let shared = crate::shared(&self.config)?;
        let sockets = crate::dns::bind(self.config.dns.addr).await?;
        let dns_addr = sockets.local_addr()?;
        let dns = DnsServer::start(shared.clone(), sockets, &self.config.dns)?;
        let dataplane = DataPlane::start(shared.clone(), self.config.dataplane, crate::authority(&self.config)?)?;
        let (stop, mut stopped) = watch::channel(false);
        let api = tokio::spawn(crate::serve(listener, shared.clone(), async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        Ok(Emulator { api_addr, dns_addr, shared, dataplane, dns, stop, api })
    }
}

/// A running emulator.
pub struct Emulator {
    api_addr: SocketAddr,
    dns_addr: SocketAddr,
    shared: Arc<Shared>,
    dataplane: Arc<DataPlane>,
    dns: DnsServer,
    stop: watch::Sender<bool>,
    api: JoinHandle<()>,
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

    /// The DNS server's public view; each VPC's resolver is at 127.k.0.2 on
    /// the same port.
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns_addr
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

    /// Stops accepting, lets API requests in flight finish, resets flows.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.dataplane.shutdown().await;
        self.dns.shutdown().await;
        let _ = self.api.await;
        if let Err(e) = self.shared.snapshot() {
            tracing::error!(error = %e, "cannot write the snapshot at shutdown (the journal still holds every change)");
        }
    }
}
