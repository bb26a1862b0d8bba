//! A local, offline emulator of AWS PrivateLink.
//!
//! Layout:
//! - [`model`]: pure state and rules (accounts, VPCs, NLBs, endpoint services,
//!   endpoints, their state machines) in tables that remember what a change
//!   touched ([`model::table`]). No I/O; emits change events.
//! - [`engine`]: the one door to the world ([`Shared::apply`]): a failing
//!   change is taken back whole, a successful one journaled as what it
//!   wrote and removed and published as a revision the followers report.
//!   Restoring a state directory lives here too ([`engine::restore`]).
//! - [`persist`]: the journal's framing, its record formats (and the
//!   migration of older ones) and snapshots (`--state-dir`).
//! - [`api`]: the AWS Query protocol front (EC2, ELBv2, STS): parameters in,
//!   AWS-shaped XML out, one action table per service, transport-free; the
//!   admin endpoints under `/_emulator/`.
//! - [`server`]: carries the API over HTTP/1.1 (hyper) on a bound listener.
//! - [`dataplane`]: follows the engine and carries real TCP flows from
//!   endpoint ENIs through NLB nodes to targets, and TLS to the emulator's
//!   own API for endpoints of AWS services (local CA in `dataplane::tls`).
//! - [`dns`]: follows the engine and answers DNS (hickory-server): the public
//!   vpce names, and per VPC at its resolver the private DNS names.
//! - [`addressing`]: the address plane, where a VPC address lives on the host
//!   (127.k.0.0/16 on loopback, or as it is on an attached interface).
//! - `steer` (Linux): one socket for many addresses, by an sk_lookup BPF
//!   program (the data plane's listeners, the VPC resolvers).
//! - `netplane` (Linux): interface mode, the attached VPCs' addresses added
//!   to real interfaces through netlink.
//! - [`notify`]: connection notifications as SNS would deliver them: kept
//!   for `/_emulator/notifications`, POSTed to configured URLs off the
//!   write path.
//! - [`console`]: the web console at `/_emulator/console`, live over
//!   Server-Sent Events.
//! - [`faults`]: injected faults (targets, zones, latency, bandwidth,
//!   resets, API errors) that the data plane, DNS and the API obey.
//! - [`flowlog`]: every flow and DNS question seen, as VPC Flow Logs and
//!   Route 53 Resolver query log records (admin endpoints, files).
//! - [`seed`]: the starting world from a TOML file (`--seed`).
//! - [`config`]: command line, environment and config file settings.
//! - [`embed`]: the one way the emulator starts, in the binary or inside
//!   another program ([`Emulator::builder`]).

pub mod addressing;
pub mod api;
pub mod config;
pub mod console;
pub mod dataplane;
pub mod dns;
pub mod embed;
pub mod engine;
pub mod faults;
pub mod flowlog;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
#[cfg(target_os = "linux")]
pub mod netplane;
pub mod notify;
pub mod persist;
pub mod seed;
pub mod server;
#[cfg(target_os = "linux")]
pub(crate) mod steer;

use std::future::Future;
use std::sync::Arc;

pub use config::Config;
pub use embed::Emulator;
pub use engine::Shared;

/// The shared state for a configuration: an empty world, or with a state
/// directory the world it holds.
pub fn shared(config: &Config) -> std::io::Result<Arc<Shared>> {
    engine::restore::shared(config)
}

/// The local CA of AWS-service endpoints: kept in the state directory when
/// there is one (so clients keep trusting it), else made for this run.
pub fn authority(config: &Config) -> std::io::Result<Arc<dataplane::tls::Authority>> {
    let authority = match &config.state_dir {
        Some(dir) => dataplane::tls::Authority::load_or_create(dir)?,
        None => dataplane::tls::Authority::generate()?,
    };
    Ok(Arc::new(authority))
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, shutdown: impl Future<Output = ()>) {
    server::run(listener, shared, shutdown).await
}
