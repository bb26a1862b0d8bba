//! Injected faults, for testing retries and failover and for showing what
//! happens when things break: a target gone, a zone gone, a slow or lossy
//! path, an API that throttles or fails.
//!
//! Faults are not part of the world: they are not journaled, a restart
//! forgets them, and they change no resource; they change what the data
//! plane, the health checker, DNS and the API do while they last. Each has
//! an id, may expire, and counts how often it struck. With no fault at all
//! the checks cost one atomic load.

pub mod admin;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::model::{Error, World};

/// What happens to connections to a target that is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DownMode {
    /// Refused at once, as a host whose port is closed (RST).
    #[default]
    Refuse,
    /// Never answered, as a host that is gone: connections time out.
    Blackhole,
}

/// The error an API fault answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ApiError {
    /// EC2's RequestLimitExceeded (HTTP 503), ELBv2's Throttling (400).
    #[default]
    Throttle,
    /// EC2's InternalError, ELBv2's InternalFailure (HTTP 500).
    InternalError,
    /// EC2's Unavailable, ELBv2's ServiceUnavailable (HTTP 503).
    Unavailable,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Spec {
    /// A target's host is gone or its port closed: flows and health checks
    /// to it fail, so its health turns unhealthy. `target` is the
    /// registered id (an IP or instance id), with `:port` for one port only.
    TargetDown {
        target: String,
        #[serde(default)]
        mode: DownMode,
    },
    /// An availability zone fails: the NLB nodes and endpoint ENIs in it
    /// stop answering (connections to them hang), its targets are gone,
    /// and regional DNS names stop answering its addresses.
    ZoneDown { zone: String },
    /// Every chunk of a matching flow waits this long before it is passed on.
    Latency {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        ms: u64,
    },
    /// Each direction of a matching flow moves at most this many bytes a second.
    Bandwidth {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        bytes_per_second: u64,
    },
    /// This share (0 to 1) of new matching flows are reset.
    Reset {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        rate: f64,
    },
    /// An API action (`*` for all of a service) answers an error at this
    /// rate (0 to 1), `count` times at most.
    Api {
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
        #[serde(default)]
        error: ApiError,
        #[serde(default = "always")]
        rate: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
    },
}

fn always() -> f64 {
    1.0
}

/// A fault in force.
#[derive(Debug)]
pub struct Fault {
    pub id: String,
    pub spec: Spec,
    pub created_ms: u64,
    pub expires_ms: Option<u64>,
    pub hits: AtomicU64,
    /// Zone faults: the addresses (host and VPC) of the endpoint ENIs in
    /// the zone when the fault began, which DNS stops answering.
    hidden: HashSet<Ipv4Addr>,
}

impl Fault {
    fn live(&self, now: u64) -> bool {
        self.expires_ms.is_none_or(|e| now < e)
    }

    fn strike(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(&self.spec).unwrap_or(Value::Null);
        v["id"] = json!(self.id);
        v["created_ms"] = json!(self.created_ms);
        v["expires_ms"] = json!(self.expires_ms);
        v["hits"] = json!(self.hits.load(Ordering::Relaxed));
        v
    }
}

/// How a flow is shaped by the faults that match it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Shaping {
    pub latency: Duration,
    pub bytes_per_second: Option<u64>,
}

impl Shaping {
    pub fn is_none(&self) -> bool {
        self.latency.is_zero() && self.bytes_per_second.is_none()
    }
}

/// The faults in force.
pub struct Faults {
    list: RwLock<Vec<Arc<Fault>>>,
    any: AtomicBool,
    next: AtomicU64,
    /// Bumped on every change, for whoever shows them.
    changed: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            list: RwLock::new(Vec::new()),
            any: AtomicBool::new(false),
            next: AtomicU64::new(1),
            changed: watch::channel(0).0,
        }
    }
}

fn now_ms() -> u64 {
    crate::flowlog::now_ms()
}

/// Whether `pattern` (a target id, `id:port`, or a host address) names this target.
fn names_target(pattern: &str, id: &str, port: u16, dial: Option<SocketAddrV4>) -> bool {
    if pattern == id {
        return true;
    }
    if let Some((p_id, p_port)) = pattern.rsplit_once(':') {
        if p_id == id && p_port.parse() == Ok(port) {
            return true;
        }
    }
    dial.is_some_and(|d| pattern == d.ip().to_string() || pattern == d.to_string())
}

/// `ap-northeast-1a`: a zone of a well-formed region.
fn is_zone_name(zone: &str) -> bool {
    if !zone.is_ascii() {
        return false;
    }
    let region = &zone[..zone.len().saturating_sub(1)];
    crate::model::region::is_region_name(region) && crate::model::region::zone(region, zone).is_some()
}

fn check_rate(rate: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(format!("rate {rate} must be between 0 and 1"))
    }
}

impl Spec {
    fn validate(&self) -> Result<(), String> {
        let scoped = |endpoint: &Option<String>, target: &Option<String>| {
            if endpoint.is_none() && target.is_none() {
                Err("name an endpoint (vpce-...) or a target".to_string())
            } else {
                Ok(())
            }
        };
        match self {
            Spec::TargetDown { target, .. } if target.is_empty() => Err("target is empty".into()),
            Spec::ZoneDown { zone } if !is_zone_name(zone) => Err(format!("{zone:?} is not an availability zone name")),
            Spec::Latency { endpoint, target, ms } => {
                scoped(endpoint, target)?;
                if *ms > 600_000 {
                    return Err("latency is at most 600000 ms".into());
                }
                Ok(())
            }
            Spec::Bandwidth { endpoint, target, bytes_per_second } => {
                scoped(endpoint, target)?;
                if *bytes_per_second == 0 {
                    return Err("bytes_per_second must be at least 1".into());
                }
                Ok(())
            }
            Spec::Reset { endpoint, target, rate } => {
                scoped(endpoint, target)?;
                check_rate(*rate)
            }
            Spec::Api { action, service, rate, .. } => {
                if action.is_empty() {
                    return Err("action is empty".into());
                }
                if let Some(s) = service {
                    if !matches!(s.as_str(), "ec2" | "elasticloadbalancing" | "elbv2") {
                        return Err(format!("service {s:?} is not ec2 or elasticloadbalancing"));
                    }
                }
                check_rate(*rate)
            }
            _ => Ok(()),
        }
    }

    /// Whether a flow of `endpoint` to target `id` is in this fault's scope.
    fn matches_flow(endpoint: &Option<String>, target: &Option<String>, ep: &str, t: Option<(&str, u16)>) -> bool {
        endpoint.as_ref().is_none_or(|e| e == ep)
            && target.as_ref().is_none_or(|p| t.is_some_and(|(id, port)| names_target(p, id, port, None)))
    }
}

impl Faults {
    /// Adds a fault; `for_seconds` makes it expire.
    pub fn add(&self, spec: Spec, for_seconds: Option<f64>, world: &World) -> Result<Arc<Fault>, String> {
        spec.validate()?;
        let now = now_ms();
        let expires_ms = match for_seconds {
            Some(s) if s > 0.0 && s <= 86_400.0 => Some(now + (s * 1000.0) as u64),
            Some(s) => return Err(format!("duration {s} must be above 0 and at most 86400 seconds")),
            None => None,
        };
        let hidden = match &spec {
            Spec::ZoneDown { zone } => zone_addresses(world, zone),
            _ => HashSet::new(),
        };
        let fault = Arc::new(Fault {
            id: format!("fault-{}", self.next.fetch_add(1, Ordering::Relaxed)),
            spec,
            created_ms: now,
            expires_ms,
            hits: AtomicU64::new(0),
            hidden,
        });
        let mut list = self.list.write().unwrap_or_else(|e| e.into_inner());
        list.retain(|f| f.live(now));
        list.push(fault.clone());
        self.any.store(true, Ordering::Release);
        drop(list);
        self.changed.send_modify(|n| *n += 1);
        tracing::info!(fault = %fault.id, spec = ?fault.spec, expires_ms = ?fault.expires_ms, "fault injected");
        Ok(fault)
    }

    /// Removes faults: one by id, those that pass `which`, or all. Returns
    /// how many were removed.
    pub fn remove(&self, which: impl Fn(&Fault) -> bool) -> usize {
        let mut list = self.list.write().unwrap_or_else(|e| e.into_inner());
        let before = list.len();
        let now = now_ms();
        list.retain(|f| f.live(now) && !which(f));
        let removed = before - list.len();
        self.any.store(!list.is_empty(), Ordering::Release);
        drop(list);
        if removed > 0 {
            self.changed.send_modify(|n| *n += 1);
            tracing::info!(removed, "faults cleared");
        }
        removed
    }

    /// The faults in force (expired ones are dropped).
    pub fn list(&self) -> Vec<Arc<Fault>> {
        if !self.any.load(Ordering::Acquire) {
            return Vec::new();
        }
        let now = now_ms();
        let list = self.list.read().unwrap_or_else(|e| e.into_inner());
        let live: Vec<Arc<Fault>> = list.iter().filter(|f| f.live(now)).cloned().collect();
        let expired = live.len() != list.len();
        drop(list);
        if expired {
            self.remove(|_| false);
        }
        live
    }

    pub fn to_json(&self) -> Value {
        Value::Array(self.list().iter().map(|f| f.to_json()).collect())
    }

    /// A watch that changes whenever faults are added or removed.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Runs `f` over the faults in force, when there are any.
    fn each(&self, mut f: impl FnMut(&Fault)) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let now = now_ms();
        let list = self.list.read().unwrap_or_else(|e| e.into_inner());
        for fault in list.iter().filter(|x| x.live(now)) {
            f(fault);
        }
    }

    /// Whether connections to this target fail, and how: it is down, or in
    /// a zone that is down (then it is gone: black-holed).
    pub fn target_down(&self, id: &str, port: u16, dial: Option<SocketAddrV4>, zone: Option<&str>) -> Option<DownMode> {
        let mut down = None;
        self.each(|f| match &f.spec {
            Spec::TargetDown { target, mode } if names_target(target, id, port, dial) => {
                f.strike();
                down = Some(*mode);
            }
            Spec::ZoneDown { zone: z } if zone == Some(z.as_str()) => {
                f.strike();
                down = Some(DownMode::Blackhole);
            }
            _ => {}
        });
        down
    }

    /// Whether the zone of an NLB node or endpoint ENI is down.
    pub fn zone_down(&self, zone: &str) -> bool {
        let mut down = false;
        self.each(|f| {
            if matches!(&f.spec, Spec::ZoneDown { zone: z } if z == zone) {
                f.strike();
                down = true;
            }
        });
        down
    }

    /// Whether a new flow of `endpoint` to target `t` is to be reset now.
    pub fn reset_now(&self, endpoint: &str, t: Option<(&str, u16)>) -> bool {
        let mut reset = false;
        self.each(|f| {
            if let Spec::Reset { endpoint: e, target, rate } = &f.spec {
                if Spec::matches_flow(e, target, endpoint, t) && rand::random::<f64>() < *rate {
                    f.strike();
                    reset = true;
                }
            }
        });
        reset
    }

    /// The latency and bandwidth limit of a flow of `endpoint` to target `t`.
    pub fn shaping(&self, endpoint: &str, t: Option<(&str, u16)>) -> Shaping {
        let mut s = Shaping::default();
        self.each(|f| match &f.spec {
            Spec::Latency { endpoint: e, target, ms } if Spec::matches_flow(e, target, endpoint, t) => {
                f.strike();
                s.latency += Duration::from_millis(*ms);
            }
            Spec::Bandwidth { endpoint: e, target, bytes_per_second } if Spec::matches_flow(e, target, endpoint, t) => {
                f.strike();
                s.bytes_per_second = Some(s.bytes_per_second.map_or(*bytes_per_second, |b| b.min(*bytes_per_second)));
            }
            _ => {}
        });
        s
    }

    /// Addresses DNS leaves out of its answers (those of endpoint ENIs in a
    /// failed zone), unless that would leave none.
    pub fn hidden_addresses(&self) -> HashSet<Ipv4Addr> {
        let mut hidden = HashSet::new();
        self.each(|f| hidden.extend(f.hidden.iter().copied()));
        hidden
    }

    /// The error an API fault answers this action with, if one strikes.
    pub fn api(&self, service: &str, action: &str) -> Option<Error> {
        let mut error = None;
        self.each(|f| {
            let Spec::Api { action: a, service: s, error: kind, rate, count } = &f.spec else { return };
            let service_matches =
                s.as_deref().is_none_or(|s| s == service || (s == "elbv2" && service == "elasticloadbalancing"));
            if error.is_some() || !service_matches || (a != "*" && a != action) {
                return;
            }
            if count.is_some_and(|c| f.hits.load(Ordering::Relaxed) >= c) || rand::random::<f64>() >= *rate {
                return;
            }
            f.strike();
            error = Some(api_error(service, *kind));
        });
        error
    }
}

/// The error AWS answers for an injected API fault, per service.
fn api_error(service: &str, kind: ApiError) -> Error {
    let ec2 = service == "ec2";
    match (kind, ec2) {
        (ApiError::Throttle, true) => Error::new("RequestLimitExceeded", "Request limit exceeded.").with_status(503),
        (ApiError::Throttle, false) => Error::new("Throttling", "Rate exceeded").with_status(400),
        (ApiError::InternalError, true) => {
            Error::new("InternalError", "An internal error has occurred").with_status(500)
        }
        (ApiError::InternalError, false) => {
            Error::new("InternalFailure", "The request processing has failed because of an unknown error.")
                .with_status(500)
        }
        (ApiError::Unavailable, true) => Error::new("Unavailable", "The server is overloaded").with_status(503),
        (ApiError::Unavailable, false) => {
            Error::new("ServiceUnavailable", "The request has failed due to a temporary failure of the server.")
                .with_status(503)
        }
    }
}

/// The addresses of the endpoint ENIs in `zone`: VPC and host addresses.
fn zone_addresses(world: &World, zone: &str) -> HashSet<Ipv4Addr> {
    let mut out = HashSet::new();
    for region in world.regions() {
        for e in region.endpoints.values() {
            for eni in e.network_interface_ids.iter().filter_map(|n| region.network_interfaces.get(n)) {
                if eni.availability_zone != zone {
                    continue;
                }
                out.insert(eni.private_ip);
                if let Some(host) = region
                    .vpcs
                    .get(&eni.vpc_id)
                    .and_then(|v| crate::addressing::VpcBlock::from(v).host_addr(eni.private_ip))
                {
                    out.insert(host);
                }
            }
        }
    }
    out
}
