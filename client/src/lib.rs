//! Client, test harness and CLI for the PrivateLink emulator.
//!
//! - [`Client`]: signs Query API calls (SigV4) and returns AWS's errors as
//!   typed [`Error`]s; typed calls for the actions of a topology live in
//!   [`resources`].
//! - [`scenario`]: the walkthrough as functions (publish a service, build a
//!   consumer VPC, connect an endpoint).
//! - [`host`]: act as a host inside a VPC: resolve names as that VPC does,
//!   connect from one of its addresses, GET over HTTP.
//! - [`faults`]: inject faults through the admin API, list and clear them.
//! - [`route53`]: private hosted zones and alias records (Route 53's
//!   REST-XML API through [`Client::route53`]).
//! - [`Emulator`]: the emulator itself, started in-process on free ports.

pub mod api;
pub mod dns;
pub mod faults;
pub mod host;
pub mod resources;
pub mod route53;
pub mod scenario;
pub mod xml;

pub use api::{Client, Credentials, Error, Result};
pub use host::Host;
pub use privatelink_emulator::Emulator;

/// The region the walkthrough uses.
pub const REGION: &str = "ap-northeast-1";

/// The README's Rust examples compile and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
