//! The routing plan: for every endpoint that carries traffic, where its
//! listeners live on the host and how a flow reaches a target. Rebuilt from
//! the model whenever it changes, so a connection always sees fresh state
//! (health, security groups, deregistration) without touching the model lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

mod direct;

use super::load_balancer_groups::{self, InboundRule};
use super::tls_listener::Termination;
use crate::addressing::{is_host_loopback, VpcBlock};
use crate::model::endpoint::EndpointState;
use crate::model::{IpPermission, Region, TargetHealthState, World};

/// How a registered target is reached and whether it may take new flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRoute {
    pub id: String,
    pub port: u16,
    /// Where to dial it on this host; `None` when it cannot be reached here
    /// (an address outside every VPC and outside 127.0.0.0/8, an instance id).
    pub dial: Option<SocketAddrV4>,
    /// The target's zone; `None` for targets registered with zone `all`.
    pub zone: Option<String>,
    pub health: TargetHealthState,
}

/// Everything a listener needs to carry one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The endpoint the flow comes through; for a client of the NLB itself
    /// (see `direct`), the NLB's ARN.
    pub endpoint_id: String,
    pub region: String,
    /// The endpoint ENI's VPC address and the NLB listener port it serves.
    pub eni_addr: Ipv4Addr,
    pub port: u16,
    pub zone: String,
    pub consumer: VpcBlock,
    /// Ingress rules of the ENI's security groups, merged.
    pub ingress: Vec<IpPermission>,
    /// Inbound rules of the NLB's security groups for this consumer VPC;
    /// `None` when the NLB checks no PrivateLink traffic (it has no groups,
    /// or EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic is off).
    pub load_balancer_ingress: Option<Vec<InboundRule>>,
    /// The NLB node in the ENI's zone: its VPC address and host address.
    pub node_addr: Ipv4Addr,
    pub node_host: Ipv4Addr,
    pub target_group_arn: String,
    pub targets: Vec<TargetRoute>,
    pub cross_zone: bool,
    pub proxy_protocol_v2: bool,
    /// The listener's `tcp.idle_timeout.seconds`.
    pub idle_timeout_seconds: u32,
    /// A TLS listener: the node ends TLS with these settings.
    pub tls: Option<Arc<Termination>>,
    /// A TLS listener forwarding to a TLS target group: the node opens TLS
    /// to the target too.
    pub target_tls: bool,
    /// A listener at the NLB node's own address, for clients that reach
    /// the NLB directly (in its VPC, by its DNS name) rather than through
    /// an endpoint: `eni_addr` is the node's address, `consumer` the NLB's
    /// VPC, `ingress` the NLB's security groups (none: anyone).
    pub direct: bool,
    /// Who owns what, for the flow log records.
    pub names: Arc<FlowNames>,
    /// The endpoint's state while it has its interfaces but is not
    /// available (pendingAcceptance, pending): the listener holds the
    /// interface's address and refuses every flow, each logged as a REJECT
    /// on the interface.
    pub unavailable: Option<&'static str>,
}

/// The interfaces a flow crosses and their owners, as flow logs name them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowNames {
    pub consumer_account: String,
    pub endpoint_eni: String,
    pub provider_account: String,
    pub load_balancer_eni: String,
}

/// An interface endpoint of an AWS service (`com.amazonaws.REGION.ec2`):
/// TLS on port 443 of each ENI, answered by the emulator's own API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRoute {
    pub endpoint_id: String,
    pub region: String,
    /// The service's short name (`ec2`, `elasticloadbalancing`).
    pub service: &'static str,
    pub eni_addr: Ipv4Addr,
    pub port: u16,
    pub consumer: VpcBlock,
    pub ingress: Vec<IpPermission>,
}

/// The port AWS services answer on through an interface endpoint.
pub const AWS_SERVICE_PORT: u16 = 443;

/// A target group that a listener of an active load balancer forwards to:
/// what the health checker looks after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthGroup {
    pub region: String,
    pub target_group_arn: String,
    pub protocol: String,
    pub port: Option<u16>,
    pub path: Option<String>,
    pub matcher: Option<String>,
    pub interval_seconds: u64,
    pub timeout_seconds: u64,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// The host address health checks come from (an NLB node).
    pub source: Ipv4Addr,
    pub targets: Vec<TargetRoute>,
}

/// An endpoint, by region and id.
pub type EndpointKey = (String, String);

#[derive(Debug, Default, Clone)]
pub struct Plan {
    pub listeners: HashMap<SocketAddrV4, Arc<Route>>,
    /// Listeners of AWS-service endpoints.
    pub services: HashMap<SocketAddrV4, Arc<ServiceRoute>>,
    /// Target groups a listener of an active load balancer forwards to, by
    /// region and ARN: health checks run whether or not any endpoint
    /// carries traffic yet, as an NLB checks its targets from the start.
    pub health: BTreeMap<(String, String), Arc<HealthGroup>>,
    /// What each endpoint put in, so that a change of a few endpoints
    /// redoes only their parts (see [`Plan::apply_parts`]).
    parts: HashMap<EndpointKey, Arc<Part>>,
    /// Regions where an NLB's inbound rule names a group of a consumer VPC:
    /// there a change of network interfaces (their groups, new ones) changes
    /// who the rule admits, so the follower rebuilds on it.
    pub interface_regions: BTreeSet<String>,
    /// Parts that follow interfaces, per region: `interface_regions` are
    /// the regions counted here, kept as parts come and go.
    interface_parts: BTreeMap<String, usize>,
}

/// What [`Plan::apply_parts`] changed: the listener addresses whose route
/// may differ, and whether a TLS listener was among them.
#[derive(Debug, Default)]
pub struct Touched {
    pub addresses: BTreeSet<SocketAddrV4>,
    pub tls: bool,
}

impl Touched {
    fn note(&mut self, part: &Part) {
        self.addresses.extend(part.addresses());
        self.tls |= part.listeners.iter().any(|(_, r)| r.tls.is_some());
    }
}

/// What one available endpoint puts in the plan.
#[derive(Debug, Default)]
pub struct Part {
    listeners: Vec<(SocketAddrV4, Arc<Route>)>,
    services: Vec<(SocketAddrV4, Arc<ServiceRoute>)>,
}

impl Part {
    /// Where this part listens, of either kind.
    fn addresses(&self) -> impl Iterator<Item = SocketAddrV4> + '_ {
        self.listeners.iter().map(|(a, _)| *a).chain(self.services.iter().map(|(a, _)| *a))
    }

    /// Whether a route of this part admits by the groups of network
    /// interfaces in its region (see [`Plan::interface_regions`]).
    fn follows_interfaces(&self) -> Option<&str> {
        self.listeners
            .iter()
            .find(|(_, r)| r.load_balancer_ingress.iter().flatten().any(|rule| !rule.groups.is_empty()))
            .map(|(_, r)| r.region.as_str())
    }
}

fn block(region: &Region, vpc_id: &str) -> Option<VpcBlock> {
    region.vpcs.get(vpc_id).map(VpcBlock::from)
}

/// Resolves where a target is reached from this host.
fn target_routes(region: &Region, tg: &crate::model::TargetGroup) -> Vec<TargetRoute> {
    let vpc = tg.vpc_id.as_deref().and_then(|v| block(region, v));
    tg.targets
        .iter()
        .map(|t| {
            let ip: Option<Ipv4Addr> = if tg.target_type == "ip" { t.id.parse().ok() } else { None };
            let inside = ip.and_then(|ip| vpc.and_then(|b| b.host_addr(ip)));
            let dial = match (ip, inside) {
                (_, Some(host)) => Some(SocketAddrV4::new(host, t.port)),
                (Some(ip), None) if is_host_loopback(ip) => Some(SocketAddrV4::new(ip, t.port)),
                _ => None,
            };
            let zone = match (t.availability_zone.as_deref(), ip) {
                (Some("all"), _) => None,
                (Some(z), _) => Some(z.to_string()),
                (None, Some(ip)) => region
                    .subnets
                    .values()
                    .find(|s| Some(&s.vpc_id) == tg.vpc_id.as_ref() && s.cidr.contains(ip))
                    .map(|s| s.availability_zone.clone()),
                (None, None) => None,
            };
            TargetRoute { id: t.id.clone(), port: t.port, dial, zone, health: t.health }
        })
        .collect()
}

/// The ingress rules of these security groups, merged.
fn ingress_of(region: &Region, groups: &[String]) -> Vec<IpPermission> {
    groups.iter().filter_map(|g| region.security_groups.get(g)).flat_map(|g| g.ingress()).collect()
}

/// Builds the plan; `port_offset` is added to every listener port on the host.
pub fn build(world: &World, port_offset: u16) -> Plan {
    let mut plan = Plan::default();
    for region in world.regions() {
        for e in region.endpoints.values() {
            if let Some(part) = part(world, region, e, port_offset) {
                plan.insert((region.name.clone(), e.id.clone()), Arc::new(part));
            }
        }
        health_groups(region, &mut plan.health);
        direct::listeners(region, port_offset, &mut plan.listeners);
    }
    plan
}

/// The target groups that listeners of this region's active load balancers
/// forward to, with their health check settings and targets.
fn health_groups(region: &Region, out: &mut BTreeMap<(String, String), Arc<HealthGroup>>) {
    for listener in region.listeners.values() {
        let key = (region.name.clone(), listener.target_group_arn.clone());
        if out.contains_key(&key) {
            continue;
        }
        let Some(lb) = region.load_balancers.get(&listener.load_balancer_arn).filter(|lb| lb.state == "active") else {
            continue;
        };
        let Some(tg) = region.target_groups.get(&listener.target_group_arn) else { continue };
        let hc = &tg.health_check;
        let source = block(region, &lb.vpc_id).and_then(|b| lb.nodes.first().and_then(|n| b.host_addr(n.private_ip)));
        let (true, Some(source)) = (hc.enabled, source) else { continue };
        out.insert(
            key,
            Arc::new(HealthGroup {
                region: region.name.clone(),
                target_group_arn: tg.arn.clone(),
                protocol: hc.protocol.clone(),
                port: hc.port.parse().ok(),
                path: hc.path.clone(),
                matcher: hc.matcher.clone(),
                interval_seconds: hc.interval_seconds.max(1) as u64,
                timeout_seconds: hc.timeout_seconds.max(1) as u64,
                healthy_threshold: hc.healthy_threshold.max(1) as u32,
                unhealthy_threshold: hc.unhealthy_threshold.max(1) as u32,
                source,
                targets: target_routes(region, tg),
            }),
        );
    }
}

/// Reads the parts of these endpoints (`None` for one that carries no
/// traffic now, or is gone), for [`Plan::apply_parts`].
pub fn read_parts<'a>(
    world: &World,
    keys: impl IntoIterator<Item = &'a EndpointKey>,
    port_offset: u16,
) -> Vec<(EndpointKey, Option<Part>)> {
    keys.into_iter()
        .map(|key| {
            let region = world.region(&key.0);
            let part = region
                .and_then(|r| Some((r, r.endpoints.get(&key.1)?)))
                .and_then(|(r, e)| part(world, r, e, port_offset));
            (key.clone(), part)
        })
        .collect()
}

/// What endpoint `e` (of `region`) puts in the plan, if it carries traffic.
/// The service, its NLBs and targets are the provider's, in the service's
/// region: another one for a cross-region endpoint.
fn part(world: &World, region: &Region, e: &crate::model::VpcEndpoint, port_offset: u16) -> Option<Part> {
    // Until an endpoint is available its interfaces exist but carry
    // nothing; once it is deleting, its listeners go, as its interfaces will.
    let unavailable = match e.state {
        EndpointState::Available => None,
        EndpointState::Deleting | EndpointState::Deleted => return None,
        other => Some(other.as_str()),
    };
    let mut part = Part::default();
    let enis = || e.network_interface_ids.iter().filter_map(|n| region.network_interfaces.get(n));
    if let Some(aws) = &e.aws_service {
        if unavailable.is_some() {
            return None;
        }
        let host_port = AWS_SERVICE_PORT.checked_add(port_offset)?;
        for eni in enis() {
            let Some(consumer) = block(region, &eni.vpc_id) else { continue };
            let Some(host) = consumer.host_addr(eni.private_ip) else { continue };
            part.services.push((
                SocketAddrV4::new(host, host_port),
                Arc::new(ServiceRoute {
                    endpoint_id: e.id.clone(),
                    region: region.name.clone(),
                    service: aws.short,
                    eni_addr: eni.private_ip,
                    port: AWS_SERVICE_PORT,
                    consumer,
                    ingress: ingress_of(region, &eni.group_ids),
                }),
            ));
        }
        return Some(part);
    }
    let home = world.region(e.service_region())?;
    let remote = home.name != region.name;
    let service = e.service_id.as_ref().and_then(|s| home.services.get(s))?;
    for lb_arn in &service.network_load_balancer_arns {
        let Some(lb) = home.load_balancers.get(lb_arn) else { continue };
        let Some(provider) = block(home, &lb.vpc_id) else { continue };
        let load_balancer_ingress = load_balancer_groups::inbound_rules(home, lb, &region.name, &e.vpc_id);
        for listener in home.listeners.values().filter(|l| &l.load_balancer_arn == lb_arn) {
            let Some(tg) = home.target_groups.get(&listener.target_group_arn) else { continue };
            let targets = target_routes(home, tg);
            let tls = Termination::of(home, lb, listener).map(Arc::new);
            let target_tls = tls.is_some() && tg.protocol == "TLS";
            for eni in enis() {
                let Some(consumer) = block(region, &eni.vpc_id) else { continue };
                let Some(host) = consumer.host_addr(eni.private_ip) else { continue };
                // Traffic from another region enters the NLB at the node
                // of the zone in the same position, or the first.
                let node = if remote {
                    let at =
                        crate::model::region::zones(&region.name).iter().position(|z| z.name == eni.availability_zone);
                    at.and_then(|i| lb.nodes.get(i % lb.nodes.len().max(1))).or(lb.nodes.first())
                } else {
                    lb.nodes.iter().find(|n| n.availability_zone == eni.availability_zone)
                };
                let Some(node) = node else {
                    continue;
                };
                let Some(node_host) = provider.host_addr(node.private_ip) else { continue };
                let Some(host_port) = listener.port.checked_add(port_offset) else { continue };
                part.listeners.push((
                    SocketAddrV4::new(host, host_port),
                    Arc::new(Route {
                        endpoint_id: e.id.clone(),
                        region: region.name.clone(),
                        eni_addr: eni.private_ip,
                        port: listener.port,
                        // The zone of the NLB node the flow enters by.
                        zone: node.availability_zone.clone(),
                        consumer,
                        ingress: ingress_of(region, &eni.group_ids),
                        load_balancer_ingress: load_balancer_ingress.clone(),
                        node_addr: node.private_ip,
                        node_host,
                        target_group_arn: tg.arn.clone(),
                        targets: targets.clone(),
                        cross_zone: lb.cross_zone(),
                        proxy_protocol_v2: tg.proxy_protocol_v2(),
                        idle_timeout_seconds: listener.tcp_idle_timeout_seconds,
                        tls: tls.clone(),
                        target_tls,
                        direct: false,
                        names: Arc::new(FlowNames {
                            consumer_account: e.owner.clone(),
                            endpoint_eni: eni.id.clone(),
                            provider_account: lb.owner.clone(),
                            load_balancer_eni: node.network_interface_id.clone(),
                        }),
                        unavailable,
                    }),
                ));
            }
        }
    }
    Some(part)
}

impl Plan {
    /// Replaces the parts of some endpoints with what [`read_parts`] found,
    /// the rest of the world being as when the plan was made (works outside
    /// the world's lock). Returns the listener addresses (of either kind)
    /// whose route may have changed: those of the parts taken out and of
    /// those put in. Costs the size of the parts, not of the plan.
    pub fn apply_parts(&mut self, parts: Vec<(EndpointKey, Option<Part>)>) -> Touched {
        let mut touched = Touched::default();
        for (key, _) in &parts {
            if let Some(old) = self.remove(key) {
                touched.note(&old);
            }
        }
        for (key, part) in parts {
            if let Some(part) = part {
                touched.note(&part);
                self.insert(key, Arc::new(part));
            }
        }
        touched
    }

    /// Adds an endpoint's part. A listener address is one ENI's, so no two
    /// endpoints share one.
    fn insert(&mut self, key: EndpointKey, part: Arc<Part>) {
        for (addr, route) in &part.listeners {
            self.listeners.entry(*addr).or_insert_with(|| route.clone());
        }
        for (addr, route) in &part.services {
            self.services.entry(*addr).or_insert_with(|| route.clone());
        }
        if let Some(region) = part.follows_interfaces() {
            *self.interface_parts.entry(region.to_string()).or_default() += 1;
            self.interface_regions.insert(region.to_string());
        }
        if let Some(old) = self.parts.insert(key, part) {
            self.forget_interfaces(&old);
        }
    }

    fn remove(&mut self, key: &EndpointKey) -> Option<Arc<Part>> {
        let part = self.parts.remove(key)?;
        for (addr, route) in &part.listeners {
            if self.listeners.get(addr).is_some_and(|r| Arc::ptr_eq(r, route)) {
                self.listeners.remove(addr);
            }
        }
        for (addr, route) in &part.services {
            if self.services.get(addr).is_some_and(|r| Arc::ptr_eq(r, route)) {
                self.services.remove(addr);
            }
        }
        self.forget_interfaces(&part);
        Some(part)
    }

    /// Uncounts a part that left the plan from the regions that follow
    /// interfaces.
    fn forget_interfaces(&mut self, part: &Part) {
        let Some(region) = part.follows_interfaces() else { return };
        if let Some(n) = self.interface_parts.get_mut(region) {
            *n -= 1;
            if *n == 0 {
                self.interface_parts.remove(region);
                self.interface_regions.remove(region);
            }
        }
    }

    /// The endpoint whose listener sits at `key`, of either kind.
    pub fn endpoint_at(&self, key: &SocketAddrV4) -> Option<&str> {
        self.listeners
            .get(key)
            .map(|r| r.endpoint_id.as_str())
            .or_else(|| self.services.get(key).map(|r| r.endpoint_id.as_str()))
    }
}

impl ServiceRoute {
    /// Security groups, as for [`Route::admits`].
    pub fn admits(&self, source: Option<Ipv4Addr>) -> bool {
        admits(&self.ingress, self.port, &self.consumer, source)
    }
}

/// Security groups: does any ingress rule admit this TCP source on `port`?
/// `source` is the client's VPC address, or `None` for a client on the
/// host outside every VPC block, which counts as an unnamed host inside
/// the endpoint's VPC: any rule admitting the port from a range that
/// overlaps the VPC, or from a security group, lets it in.
fn admits(ingress: &[IpPermission], port: u16, consumer: &VpcBlock, source: Option<Ipv4Addr>) -> bool {
    ingress.iter().any(|rule| {
        rule.allows_port("tcp", port)
            && match source {
                Some(ip) => {
                    rule.ranges.iter().any(|(cidr, _)| cidr.contains(ip))
                        || (!rule.groups.is_empty() && consumer.cidr.contains(ip))
                }
                None => !rule.groups.is_empty() || rule.ranges.iter().any(|(cidr, _)| cidr.overlaps(&consumer.cidr)),
            }
    })
}

impl Route {
    /// The endpoint PROXY v2 names (AWS's TLV 0xEA): none for a client of
    /// the NLB itself.
    pub fn proxy_endpoint(&self) -> Option<&str> {
        (!self.direct).then_some(self.endpoint_id.as_str())
    }

    /// Security groups: does any ingress rule of the ENI admit this TCP
    /// source? A client on the host outside every VPC block counts as an
    /// unnamed host inside the endpoint's VPC.
    pub fn admits(&self, source: Option<Ipv4Addr>) -> bool {
        admits(&self.ingress, self.port, &self.consumer, source)
    }

    /// The NLB's security groups, after the endpoint's have let the flow
    /// in: do they admit this client (see [`load_balancer_groups`])? An NLB
    /// that checks no PrivateLink traffic admits every flow.
    pub fn load_balancer_admits(&self, source: Option<Ipv4Addr>) -> bool {
        match &self.load_balancer_ingress {
            None => true,
            Some(rules) => load_balancer_groups::admits(rules, self.port, &self.consumer, source),
        }
    }

    /// The targets a new flow may go to: in the node's zone unless cross-zone
    /// is on, not draining, healthy ones first; when none is healthy the NLB
    /// fails open and uses them all.
    pub fn candidates(&self) -> Vec<&TargetRoute> {
        let eligible: Vec<&TargetRoute> = self
            .targets
            .iter()
            .filter(|t| t.health != TargetHealthState::Draining && t.health != TargetHealthState::Unused)
            .filter(|t| self.cross_zone || t.zone.as_ref().is_none_or(|z| z == &self.zone))
            .collect();
        let healthy: Vec<&TargetRoute> =
            eligible.iter().copied().filter(|t| t.health == TargetHealthState::Healthy).collect();
        if healthy.is_empty() {
            eligible
        } else {
            healthy
        }
    }
}

/// A flow hash over the 4-tuple, as an NLB keeps a flow on one target.
pub fn flow_hash(src: SocketAddrV4, dst: SocketAddrV4) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in src
        .ip()
        .octets()
        .iter()
        .chain(&src.port().to_be_bytes())
        .chain(&dst.ip().octets())
        .chain(&dst.port().to_be_bytes())
    {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    // FNV's low bits follow the XOR of the input's low bits, and Linux hands
    // out ephemeral ports of one parity: mix every bit into the low ones.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests;
