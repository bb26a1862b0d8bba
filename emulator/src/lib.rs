//! A local, offline emulator of AWS PrivateLink.
//!
//! Layout:
//! - [`model`]: pure state and rules (accounts, VPCs, NLBs, endpoint services,
//!   endpoints, their state machines). No I/O; emits change events.
//! - [`api`]: the AWS Query protocol front (EC2, ELBv2, STS): parameters in,
//!   AWS-shaped XML out, transport-free.
//! - [`server`]: carries the API over HTTP/1.1 (hyper) on a bound listener.
//! - [`dataplane`]: follows the model and carries real TCP flows from
//!   endpoint ENIs through NLB nodes to targets (loopback address plane).
//! - [`dns`]: follows the model and answers DNS (hickory-server): the public
//!   vpce names, and per VPC at its resolver the private DNS names.
//! - [`addressing`]: the address plane, where a VPC address lives on the host.
//! - [`config`]: command line, environment and config file settings.
//! - [`embed`]: the emulator inside another program ([`Emulator::builder`]).

pub mod addressing;
pub mod api;
pub mod config;
pub mod dataplane;
pub mod dns;
pub mod embed;
pub mod model;
pub mod server;

use std::future::Future;
use std::sync::Arc;

pub use api::Shared;
pub use config::Config;
pub use embed::Emulator;

/// The shared state for a configuration: an empty world.
pub fn shared(config: &Config) -> Arc<Shared> {
    Shared::new(model::World::new(config.model.clone()), config.auth.clone())
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, shutdown: impl Future<Output = ()>) {
    server::run(listener, shared, shutdown).await
}
