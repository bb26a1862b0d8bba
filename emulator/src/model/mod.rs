//! The model: pure state and rules of the emulated AWS world. No I/O.
//!
//! Everything lives in one [`World`], split by region; every resource records
//! its owning account, and an account sees only its own resources (plus the
//! endpoint services that allow it). Every mutation appends [`Event`]s that
//! the DNS server and the data plane follow; [`World::drain_events`] hands
//! them out.
//!
//! Time is passed in (`now`, Unix milliseconds), never read, so every state
//! transition is reachable from a unit test. Transitional states (`pending`,
//! `provisioning`, `deleting`) advance in [`World::tick`] once their time has
//! come and a client has seen them once, so a poller always observes the
//! intermediate state even when transitions are instantaneous.

pub mod aws_service;
pub mod capacity;
pub mod connection;
pub mod elb;
pub mod endpoint;
pub mod error;
pub mod gateway_endpoint;
pub mod hosted_zone;
pub mod ids;
pub mod listener;
pub mod listener_certificates;
pub mod listener_rules;
pub mod listener_settings;
pub mod load_balancer_settings;
pub mod net;
pub mod network_acl;
pub mod network_interface;
pub mod notification;
pub mod prefix_list;
pub mod private_dns;
pub mod record_set;
pub mod region;
pub mod route;
pub mod route_table;
pub mod security_group;
pub mod security_group_rules;
pub mod service;
pub mod ssl_policy;
pub mod subnet;
pub mod table;
pub mod tags;
pub mod target_group;
pub mod target_group_settings;
pub mod vpc;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

pub use elb::LoadBalancer;
pub use endpoint::{EndpointState, VpcEndpoint};
pub use error::{Error, Result, Unsuccessful};
pub use listener::Listener;
pub use network_interface::NetworkInterface;
pub use notification::{ConnectionNotification, Notice};
pub use route_table::RouteTable;
pub use security_group::{IpPermission, Peer, Permission, SecurityGroup, SecurityGroupRule};
pub use service::{EndpointService, Principal, ServiceState};
pub use subnet::Subnet;
pub use table::{Effect, Table, Tracked, Written};
pub use tags::{Filter, Tags};
pub use target_group::{Target, TargetGroup, TargetHealthState};
pub use vpc::Vpc;

/// Unix time in milliseconds.
pub type Millis = u64;

/// Who is calling: the account (from the access key), the principal ARN and
/// the region (from the SigV4 credential scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub arn: String,
    pub region: String,
}

impl Caller {
    pub fn root(account: &str, region: &str) -> Self {
        Caller { account: account.to_string(), arn: format!("arn:aws:iam::{account}:root"), region: region.to_string() }
    }
}

/// Knobs of the model's behaviour.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long `pending`/`provisioning`/`deleting` phases last.
    pub pending_delay_ms: Millis,
    /// A transitional state nobody looked at still advances after this long,
    /// so DNS and the data plane never wait on a poller.
    pub unobserved_grace_ms: Millis,
    /// How long a `deleted` endpoint stays visible before it is forgotten.
    pub deleted_retention_ms: Millis,
    /// Interface endpoints per VPC (AWS's default quota).
    pub endpoints_per_vpc: usize,
    /// Network load balancers per region and account.
    pub load_balancers_per_region: usize,
    /// Address blocks that sit on real interfaces (interface mode): a VPC
    /// created inside one keeps its own addresses on the host instead of a
    /// 127.k.0.0/16 block, unless an attached VPC already overlaps it.
    pub attached: Vec<net::Ipv4Cidr>,
    /// Give each account a default VPC (172.31.0.0/16, a default subnet per
    /// zone) in each region on its first request there, as AWS does.
    pub default_vpc: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pending_delay_ms: 0,
            unobserved_grace_ms: 1_000,
            deleted_retention_ms: 60_000,
            endpoints_per_vpc: 50,
            load_balancers_per_region: 50,
            attached: Vec::new(),
            default_vpc: false,
        }
    }
}

/// What changed. Adapters re-read the named resource and reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Empty for resources outside every region (the public TXT records).
    pub region: String,
    pub resource: Resource,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Resource {
    Vpc(String),
    Subnet(String),
    SecurityGroup(String),
    NetworkInterface(String),
    LoadBalancer(String),
    TargetGroup(String),
    Listener(String),
    Service(String),
    Endpoint(String),
    RouteTable(String),
    /// A name in the public zones providers publish TXT records in.
    PublicTxt(String),
    /// A Route 53 hosted zone (its records, VPCs, or the zone itself).
    HostedZone(String),
    /// Everything (the world was reset or imported): rebuild from scratch.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Deleted,
}

/// A scheduled move out of a transitional state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transition {
    pub at: Millis,
    pub observed: bool,
}

impl Transition {
    pub fn due(&self, now: Millis, settings: &Settings) -> bool {
        now >= self.at && (self.observed || now >= self.at + settings.unobserved_grace_ms)
    }
}

/// All resources of one region, across accounts.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Region {
    pub name: String,
    pub vpcs: Table<String, Vpc>,
    pub subnets: Table<String, Subnet>,
    pub security_groups: Table<String, SecurityGroup>,
    pub network_interfaces: Table<String, NetworkInterface>,
    pub load_balancers: Table<String, LoadBalancer>,
    pub target_groups: Table<String, TargetGroup>,
    pub listeners: Table<String, Listener>,
    pub services: Table<String, EndpointService>,
    pub endpoints: Table<String, VpcEndpoint>,
    /// Absent from worlds written before route tables existed: their VPCs'
    /// main tables are derived on load.
    #[serde(default)]
    pub route_tables: Table<String, RouteTable>,
    #[serde(default)]
    pub connection_notifications: Table<String, ConnectionNotification>,
    /// Account -> the default VPC made for it here (kept after the VPC is
    /// deleted, so it is not made again).
    #[serde(default)]
    pub default_vpcs: Table<String, String>,
    /// Endpoint ids per VPC, so per-VPC questions do not scan the region.
    /// Derived from `endpoints` (rebuilt on load and when a change touching
    /// endpoints is taken back), so neither journaled nor dumped.
    #[serde(skip)]
    endpoints_by_vpc: HashMap<String, BTreeSet<String>>,
    /// Addresses interfaces hold, per subnet, with how many hold each (one,
    /// once a change is whole; counted so that replaying a change's records
    /// in any order, one interface's removal and another's creation at the
    /// same address, ends right). Derived from `network_interfaces` like
    /// `endpoints_by_vpc`: a new interface then writes its own record and
    /// no other, however full its subnet.
    #[serde(skip)]
    addresses_by_subnet: HashMap<String, BTreeMap<Ipv4Addr, u32>>,
    /// (account, action, token) -> (fingerprint of the request, resource id)
    #[serde(with = "table::as_pairs")]
    client_tokens: Table<(String, String, String), (String, String)>,
}

/// Counts one more holder of `ip` in `subnet_id` (`holds`), or one fewer.
fn hold_address(index: &mut HashMap<String, BTreeMap<Ipv4Addr, u32>>, subnet_id: &str, ip: Ipv4Addr, holds: bool) {
    if holds {
        *index.entry(subnet_id.to_string()).or_default().entry(ip).or_default() += 1;
    } else if let Some(held) = index.get_mut(subnet_id) {
        if let Some(n) = held.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&ip);
            }
        }
        if held.is_empty() {
            index.remove(subnet_id);
        }
    }
}

impl Region {
    /// The endpoints in one VPC, in id order.
    pub fn endpoints_in_vpc<'a>(&'a self, vpc_id: &str) -> impl Iterator<Item = &'a VpcEndpoint> + 'a {
        self.endpoints_by_vpc.get(vpc_id).into_iter().flat_map(|ids| ids.iter()).filter_map(|id| self.endpoints.get(id))
    }

    /// How many of `subnet_id`'s addresses interfaces hold.
    pub fn addresses_in_use(&self, subnet_id: &str) -> usize {
        self.addresses_by_subnet.get(subnet_id).map_or(0, BTreeMap::len)
    }

    /// Whether an interface holds `ip` in `subnet_id`.
    pub fn address_in_use(&self, subnet_id: &str, ip: Ipv4Addr) -> bool {
        self.addresses_by_subnet.get(subnet_id).is_some_and(|s| s.contains_key(&ip))
    }

    /// Notes that `eni` holds its address (`true`) or no longer does.
    fn index_interface(&mut self, eni: &NetworkInterface, holds: bool) {
        hold_address(&mut self.addresses_by_subnet, &eni.subnet_id, eni.private_ip, holds);
    }

    /// The subnet and address of interface `id`, if there is one.
    fn address_of(&self, id: &str) -> Option<(String, Ipv4Addr)> {
        self.network_interfaces.get(id).map(|n| (n.subnet_id.clone(), n.private_ip))
    }

    fn is_empty(&self) -> bool {
        self.vpcs.is_empty()
            && self.subnets.is_empty()
            && self.security_groups.is_empty()
            && self.network_interfaces.is_empty()
            && self.load_balancers.is_empty()
            && self.target_groups.is_empty()
            && self.listeners.is_empty()
            && self.services.is_empty()
            && self.endpoints.is_empty()
            && self.route_tables.is_empty()
            && self.connection_notifications.is_empty()
            && self.default_vpcs.is_empty()
            && self.client_tokens.is_empty()
    }

    /// Rebuilds the derived indexes: endpoints per VPC, addresses per subnet.
    fn rebuild_index(&mut self) {
        let mut index: HashMap<String, BTreeSet<String>> = HashMap::new();
        for e in self.endpoints.values() {
            index.entry(e.vpc_id.clone()).or_default().insert(e.id.clone());
        }
        self.endpoints_by_vpc = index;
        let mut addresses = HashMap::new();
        for n in self.network_interfaces.values() {
            hold_address(&mut addresses, &n.subnet_id, n.private_ip, true);
        }
        self.addresses_by_subnet = addresses;
    }

    /// Every table of the region, by the name its records are journaled under.
    fn tables(&mut self) -> [(&'static str, &mut dyn Tracked); 13] {
        [
            ("vpcs", &mut self.vpcs),
            ("subnets", &mut self.subnets),
            ("security_groups", &mut self.security_groups),
            ("network_interfaces", &mut self.network_interfaces),
            ("load_balancers", &mut self.load_balancers),
            ("target_groups", &mut self.target_groups),
            ("listeners", &mut self.listeners),
            ("services", &mut self.services),
            ("endpoints", &mut self.endpoints),
            ("route_tables", &mut self.route_tables),
            ("connection_notifications", &mut self.connection_notifications),
            ("default_vpcs", &mut self.default_vpcs),
            ("client_tokens", &mut self.client_tokens),
        ]
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct World {
    regions: HashMap<String, Region>,
    /// Settings come from the configuration, never from a dump.
    #[serde(skip)]
    settings: Settings,
    #[serde(skip)]
    events: Vec<Event>,
    /// Messages for SNS topics (connection notifications), handed out with
    /// the events once the change that made them is kept.
    #[serde(skip)]
    notices: Vec<Notice>,
    /// Host blocks (127.k.0.0/16 in loopback mode) each owned by one VPC
    /// that does not share its block (see [`Vpc::shares_block`]).
    #[serde(with = "table::as_set")]
    host_blocks: Table<u8, ()>,
    /// Resources in a transitional state: (region, resource).
    #[serde(with = "table::as_set")]
    transitional: Table<(String, Resource), ()>,
    /// TXT records of the public zones providers publish (name -> values).
    public_txt: Table<String, Vec<String>>,
    /// Route 53 hosted zones by id (global, as Route 53 is). Absent from
    /// worlds written before Route 53.
    #[serde(default)]
    hosted_zones: Table<String, hosted_zone::HostedZone>,
    /// Their record sets, by (zone id, name, type, set identifier).
    #[serde(default, with = "table::as_pairs")]
    rrsets: Table<record_set::RecordKey, record_set::RecordSet>,
    /// Route 53 changes by id (GetChange).
    #[serde(default)]
    route53_changes: Table<String, hosted_zone::ChangeInfo>,
    /// Counts changes (every event, every first look at a transitional
    /// state), so a caller can tell whether an operation changed anything.
    #[serde(skip)]
    revision: u64,
    /// The open change: regions it created, events and revision before it.
    #[serde(skip)]
    open: Open,
    /// Set while requests journaled by format 1 are replayed: their VPCs
    /// are placed as those releases placed them, one host block each.
    #[serde(skip)]
    one_block_per_vpc: bool,
}

#[derive(Debug, Default)]
struct Open {
    new_regions: Vec<String>,
    events: usize,
    notices: usize,
    revision: u64,
}

impl World {
    pub fn new(settings: Settings) -> Self {
        World { settings, ..Default::default() }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Places every VPC created from now on in a host block of its own, at
    /// its offset from its base, as releases before shared blocks did (for
    /// replaying what they journaled as requests).
    pub(crate) fn place_vpcs_one_block_each(&mut self, on: bool) {
        self.one_block_per_vpc = on;
    }

    pub(crate) fn drain_events(&mut self) -> Vec<Event> {
        self.open.events = 0;
        std::mem::take(&mut self.events)
    }

    /// The messages for SNS topics made since the last call.
    pub(crate) fn drain_notices(&mut self) -> Vec<Notice> {
        self.open.notices = 0;
        std::mem::take(&mut self.notices)
    }

    /// The records the open change wrote and removed. The change stays
    /// open until [`World::settle`] keeps it or [`World::undo`] takes it back.
    pub(crate) fn changes(&mut self) -> Vec<Written> {
        let mut out = Vec::new();
        self.host_blocks.changes("", "host_blocks", &mut out);
        self.transitional.changes("", "transitional", &mut out);
        self.public_txt.changes("", "public_txt", &mut out);
        self.hosted_zones.changes("", "hosted_zones", &mut out);
        self.rrsets.changes("", "rrsets", &mut out);
        self.route53_changes.changes("", "route53_changes", &mut out);
        for r in self.regions.values_mut() {
            let name = r.name.clone();
            for (table, t) in r.tables() {
                t.changes(&name, table, &mut out);
            }
        }
        out
    }

    /// Takes back everything the open change did: records, new regions,
    /// events and the revision count.
    pub(crate) fn undo(&mut self) {
        self.host_blocks.undo();
        self.transitional.undo();
        self.public_txt.undo();
        self.hosted_zones.undo();
        self.rrsets.undo();
        self.route53_changes.undo();
        for r in self.regions.values_mut() {
            let reindex = r.endpoints.is_touched() || r.network_interfaces.is_touched();
            for (_, t) in r.tables() {
                t.undo();
            }
            if reindex {
                r.rebuild_index();
            }
        }
        let open = std::mem::take(&mut self.open);
        for name in open.new_regions {
            self.regions.remove(&name);
        }
        self.events.truncate(open.events);
        self.notices.truncate(open.notices);
        self.revision = open.revision;
        self.open = Open {
            new_regions: Vec::new(),
            events: self.events.len(),
            notices: self.notices.len(),
            revision: self.revision,
        };
    }

    /// Ends the open change: what the world holds now is where the next
    /// change starts. A region the change opened and left empty (a look at
    /// a region nothing was ever made in) is dropped, as a reload would.
    pub(crate) fn settle(&mut self) {
        for name in std::mem::take(&mut self.open.new_regions) {
            if self.regions.get(&name).is_some_and(Region::is_empty) {
                self.regions.remove(&name);
            }
        }
        self.host_blocks.settle();
        self.transitional.settle();
        self.public_txt.settle();
        self.hosted_zones.settle();
        self.rrsets.settle();
        self.route53_changes.settle();
        for r in self.regions.values_mut() {
            for (_, t) in r.tables() {
                t.settle();
            }
        }
        self.open = Open {
            new_regions: Vec::new(),
            events: self.events.len(),
            notices: self.notices.len(),
            revision: self.revision,
        };
    }

    /// Writes journaled records, as [`World::changes`] listed them.
    pub(crate) fn apply_effects(&mut self, effects: &[Effect]) -> std::result::Result<(), String> {
        // VPCs these records write or remove, per region: their main route
        // tables are derived after the records (for records of releases
        // before route tables).
        let mut vpcs: HashMap<String, Vec<String>> = HashMap::new();
        for e in effects {
            if e.table == "vpcs" && !e.region.is_empty() {
                if let Some(id) = e.key.as_str() {
                    vpcs.entry(e.region.clone()).or_default().push(id.to_string());
                }
            }
            let unknown = || format!("unknown table {:?} in region {:?}", e.table, e.region);
            if e.region.is_empty() {
                let t: &mut dyn Tracked = match e.table.as_str() {
                    "host_blocks" => &mut self.host_blocks,
                    "transitional" => &mut self.transitional,
                    "public_txt" => &mut self.public_txt,
                    "hosted_zones" => &mut self.hosted_zones,
                    "rrsets" => &mut self.rrsets,
                    "route53_changes" => &mut self.route53_changes,
                    _ => return Err(unknown()),
                };
                t.apply(&e.key, e.value.as_ref())?;
            } else if e.table == "endpoints_by_vpc" {
                // Written by f77e7ab..74fdf82, when the per-VPC index was
                // journaled; it is derived from the endpoints now.
                continue;
            } else {
                let r = self.region_mut(&e.region);
                let id = (e.table == "endpoints").then(|| e.key.as_str().unwrap_or_default().to_string());
                if let Some(gone) = id.as_ref().and_then(|id| r.endpoints.get(id)) {
                    let vpc = gone.vpc_id.clone();
                    if let Some(ids) = r.endpoints_by_vpc.get_mut(&vpc) {
                        ids.remove(&gone.id);
                    }
                }
                let eni = (e.table == "network_interfaces").then(|| e.key.as_str().unwrap_or_default().to_string());
                if let Some((subnet, ip)) = eni.as_ref().and_then(|id| r.address_of(id)) {
                    hold_address(&mut r.addresses_by_subnet, &subnet, ip, false);
                }
                let (_, t) = r.tables().into_iter().find(|(name, _)| *name == e.table).ok_or_else(unknown)?;
                t.apply(&e.key, e.value.as_ref())?;
                if let Some(now) = id.as_ref().and_then(|id| r.endpoints.get(id)) {
                    r.endpoints_by_vpc.entry(now.vpc_id.clone()).or_default().insert(now.id.clone());
                }
                if let Some((subnet, ip)) = eni.as_ref().and_then(|id| r.address_of(id)) {
                    hold_address(&mut r.addresses_by_subnet, &subnet, ip, true);
                }
            }
        }
        for (region, ids) in vpcs {
            self.region_mut(&region).derive_main_route_tables(&ids);
        }
        self.settle();
        Ok(())
    }

    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.get(name)
    }

    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.regions.values()
    }

    fn region_mut(&mut self, name: &str) -> &mut Region {
        // Looked up on every mutation: allocate the key only for a new region.
        if !self.regions.contains_key(name) {
            self.regions.insert(name.to_string(), Region { name: name.to_string(), ..Default::default() });
            self.open.new_regions.push(name.to_string());
        }
        self.regions.get_mut(name).expect("inserted above")
    }

    /// Grows with every change; equal before and after an operation means
    /// the operation changed nothing.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The whole world as JSON (settings and pending events excluded).
    /// A copy of every record (what a dump holds; no settings, events or
    /// open change), to serialise without holding the world.
    pub fn image(&self) -> World {
        World {
            regions: self.regions.clone(),
            host_blocks: self.host_blocks.clone(),
            transitional: self.transitional.clone(),
            public_txt: self.public_txt.clone(),
            hosted_zones: self.hosted_zones.clone(),
            rrsets: self.rrsets.clone(),
            route53_changes: self.route53_changes.clone(),
            ..World::default()
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// A world from [`World::to_json`]'s output, under `settings`.
    pub fn from_json(value: serde_json::Value, settings: Settings) -> std::result::Result<World, String> {
        let mut w: World = serde_json::from_value(value).map_err(|e| e.to_string())?;
        for (name, r) in w.regions.iter_mut() {
            r.name = name.clone();
            r.rebuild_index();
            let vpcs: Vec<String> = r.vpcs.keys().cloned().collect();
            r.derive_main_route_tables(&vpcs);
        }
        w.settings = settings;
        w.settle();
        Ok(w)
    }

    /// Replaces everything with `other` (its settings are kept from `self`);
    /// followers are told to rebuild.
    pub(crate) fn replace(&mut self, mut other: World) {
        other.settings = self.settings.clone();
        other.revision = self.revision.max(other.revision) + 1;
        let mut events = std::mem::take(&mut self.events);
        events.append(&mut other.events);
        other.events = events;
        other.notices = std::mem::take(&mut self.notices);
        *self = other;
        self.events.push(Event { region: String::new(), resource: Resource::All, change: Change::Updated });
    }

    /// Forgets every resource of `account` (all accounts when `None`), in
    /// every region. What other accounts' resources pointed at (an endpoint
    /// of a removed service) stays as it is, as after a deletion in AWS.
    pub(crate) fn reset(&mut self, account: Option<&str>) {
        match account {
            None => self.replace(World::default()),
            Some(a) => {
                let settings = self.settings.clone();
                let mut kept = std::mem::take(self);
                self.settings = settings;
                for r in kept.regions.values_mut() {
                    r.vpcs.retain(|_, x| x.owner != a);
                    r.subnets.retain(|_, x| x.owner != a);
                    r.security_groups.retain(|_, x| x.owner != a);
                    r.network_interfaces.retain(|_, x| x.owner != a);
                    r.load_balancers.retain(|_, x| x.owner != a);
                    r.target_groups.retain(|_, x| x.owner != a);
                    r.listeners.retain(|_, x| x.owner != a);
                    r.services.retain(|_, x| x.owner != a);
                    r.endpoints.retain(|_, x| x.owner != a);
                    r.route_tables.retain(|_, x| x.owner != a);
                    r.connection_notifications.retain(|_, x| x.owner != a);
                    r.default_vpcs.retain(|owner, _| owner != a);
                    r.client_tokens.retain(|(owner, _, _), _| owner != a);
                    r.rebuild_index();
                }
                let gone: Vec<String> =
                    kept.hosted_zones.values().filter(|z| z.owner == a).map(|z| z.id.clone()).collect();
                for id in &gone {
                    kept.hosted_zones.remove(id);
                }
                kept.rrsets.retain(|(zone, _, _, _), _| !gone.contains(zone));
                let regions = &kept.regions;
                kept.transitional.retain(|(region, res), _| {
                    let Some(r) = regions.get(region) else { return false };
                    match res {
                        Resource::Endpoint(id) => r.endpoints.contains_key(id),
                        Resource::Service(id) => r.services.contains_key(id),
                        Resource::LoadBalancer(arn) => r.load_balancers.contains_key(arn),
                        Resource::TargetGroup(arn) => r.target_groups.contains_key(arn),
                        _ => false,
                    }
                });
                kept.host_blocks = kept
                    .regions
                    .values()
                    .flat_map(|r| r.vpcs.values().filter(|v| !v.shares_block).map(|v| (v.host_block, ())))
                    .collect();
                self.replace(kept);
            }
        }
    }

    fn emit(&mut self, region: &str, resource: Resource, change: Change) {
        self.revision += 1;
        self.events.push(Event { region: region.to_string(), resource, change });
    }

    fn schedule(&mut self, region: &str, resource: Resource) {
        self.transitional.insert((region.to_string(), resource), ());
    }

    fn transition(&self, now: Millis) -> Transition {
        Transition { at: now + self.settings.pending_delay_ms, observed: false }
    }

    /// Advances every transitional resource whose time has come.
    pub fn tick(&mut self, now: Millis) {
        if self.transitional.is_empty() {
            return;
        }
        let due: Vec<(String, Resource)> =
            self.transitional.keys().filter(|(region, res)| self.may_advance(region, res, now)).cloned().collect();
        for (region, resource) in due {
            let still = match &resource {
                Resource::Endpoint(id) => self.advance_endpoint(&region, id, now),
                Resource::Service(id) => self.advance_service(&region, id, now),
                Resource::LoadBalancer(arn) => self.advance_load_balancer(&region, arn, now),
                Resource::TargetGroup(arn) => self.advance_target_group(&region, arn, now),
                _ => false,
            };
            if !still {
                self.transitional.remove(&(region, resource));
            }
        }
    }

    /// Whether a transitional resource may move at `now`, read without
    /// touching it (a write would keep an image of every waiting record on
    /// every tick). A resource that is gone may: advancing forgets it.
    fn may_advance(&self, region: &str, resource: &Resource, now: Millis) -> bool {
        let Some(r) = self.regions.get(region) else { return true };
        let due = |t: Option<Transition>| t.is_none_or(|t| t.due(now, &self.settings));
        match resource {
            Resource::Endpoint(id) => r.endpoints.get(id).is_none_or(|e| due(e.transition)),
            Resource::Service(id) => r.services.get(id).is_none_or(|s| due(s.transition)),
            Resource::LoadBalancer(arn) => r.load_balancers.get(arn).is_none_or(|l| due(l.transition)),
            Resource::TargetGroup(arn) => r
                .target_groups
                .get(arn)
                .is_none_or(|g| g.targets.iter().any(|t| t.draining_until.is_some_and(|until| now >= until))),
            _ => true,
        }
    }

    /// Returns the id recorded for this client token, after checking the
    /// request is the same one (AWS: IdempotentParameterMismatch otherwise).
    fn idempotent(
        &self,
        caller: &Caller,
        action: &'static str,
        token: Option<&str>,
        fingerprint: &str,
    ) -> Result<Option<String>> {
        let Some(token) = token else { return Ok(None) };
        let key = (caller.account.clone(), action.to_string(), token.to_string());
        match self.regions.get(&caller.region).and_then(|r| r.client_tokens.get(&key)) {
            Some((fp, id)) if fp == fingerprint => Ok(Some(id.clone())),
            Some(_) => Err(Error::new(
                "IdempotentParameterMismatch",
                format!("The client token '{token}' was used with different parameters."),
            )),
            None => Ok(None),
        }
    }

    fn remember_token(
        &mut self,
        caller: &Caller,
        action: &'static str,
        token: Option<&str>,
        fingerprint: String,
        id: &str,
    ) {
        if let Some(token) = token {
            let key = (caller.account.clone(), action.to_string(), token.to_string());
            self.region_mut(&caller.region).client_tokens.insert(key, (fingerprint, id.to_string()));
        }
    }
}

impl World {
    /// Tags of any EC2 resource the caller owns, found by its id.
    pub fn ec2_tags_mut(&mut self, caller: &Caller, id: &str) -> Result<&mut Tags> {
        let account = caller.account.clone();
        let r = self.region_mut(&caller.region);
        let found = if id.starts_with("vpce-svc-") {
            r.services.get_mut(id).filter(|x| x.owner == account).map(|x| &mut x.tags)
        } else if id.starts_with("vpce-") {
            r.endpoints.get_mut(id).filter(|x| x.owner == account).map(|x| &mut x.tags)
        } else if id.starts_with("vpc-") {
            r.vpcs.get_mut(id).filter(|x| x.owner == account).map(|x| &mut x.tags)
        } else if id.starts_with("subnet-") {
            r.subnets.get_mut(id).filter(|x| x.owner == account).map(|x| &mut x.tags)
        } else if id.starts_with("sgr-") {
            let group = r
                .security_groups
                .values()
                .find(|g| g.owner == account && g.rules.iter().any(|x| x.id == id))
                .map(|g| g.id.clone());
            group
                .and_then(|g| r.security_groups.get_mut(&g))
                .and_then(|g| g.rules.iter_mut().find(|x| x.id == id))
                .map(|x| &mut x.tags)
        } else if id.starts_with("sg-") {
            r.security_groups.get_mut(id).filter(|x| x.owner == account).map(|x| &mut x.tags)
        } else if id.starts_with("eni-") {
            r.network_interfaces.get_mut(id).filter(|x| x.owner == account).map(|x| &mut x.tags)
        } else if id.starts_with("rtb-") {
            r.route_tables.get_mut(id).filter(|x| x.owner == account).map(|x| &mut x.tags)
        } else {
            None
        };
        found.ok_or_else(|| Error::new("InvalidID", format!("The ID '{id}' is not valid")))
    }

    /// (resource id, resource type, key, value) of every tag the caller owns.
    pub fn ec2_tags(&self, caller: &Caller) -> Vec<(String, &'static str, String, String)> {
        let mut out = Vec::new();
        let Some(r) = self.region(&caller.region) else {
            return out;
        };
        let mut push = |id: &str, kind: &'static str, tags: &Tags| {
            for (k, v) in tags {
                out.push((id.to_string(), kind, k.clone(), v.clone()));
            }
        };
        let me = &caller.account;
        r.vpcs.values().filter(|x| &x.owner == me).for_each(|x| push(&x.id, "vpc", &x.tags));
        r.subnets.values().filter(|x| &x.owner == me).for_each(|x| push(&x.id, "subnet", &x.tags));
        r.security_groups.values().filter(|x| &x.owner == me).for_each(|x| push(&x.id, "security-group", &x.tags));
        r.security_groups
            .values()
            .filter(|x| &x.owner == me)
            .flat_map(|x| x.rules.iter())
            .for_each(|x| push(&x.id, "security-group-rule", &x.tags));
        r.network_interfaces
            .values()
            .filter(|x| &x.owner == me)
            .for_each(|x| push(&x.id, "network-interface", &x.tags));
        r.endpoints.values().filter(|x| &x.owner == me).for_each(|x| push(&x.id, "vpc-endpoint", &x.tags));
        r.route_tables.values().filter(|x| &x.owner == me).for_each(|x| push(&x.id, "route-table", &x.tags));
        r.services.values().filter(|x| &x.owner == me).for_each(|x| push(&x.id, "vpc-endpoint-service", &x.tags));
        out.sort();
        out
    }
}

/// Validates EC2's MaxResults (5..=1000).
pub fn check_max_results(max: Option<i64>) -> Result<Option<usize>> {
    match max {
        None => Ok(None),
        Some(n) if (5..=1000).contains(&n) => Ok(Some(n as usize)),
        Some(n) => Err(Error::new(
            "InvalidMaxResults",
            format!("Value ( {n} ) for parameter maxResults is invalid. Parameter must be between 5 and 1000."),
        )),
    }
}

/// One page of a listing ordered by key. The token is the last key returned,
/// hex-encoded so it is opaque to clients.
pub fn paginate<T: Clone>(
    items: Vec<(String, T)>,
    max: Option<usize>,
    token: Option<&str>,
) -> Result<(Vec<T>, Option<String>)> {
    let start_after = match token {
        None => None,
        Some(t) => Some(
            hex::decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| Error::new("InvalidNextToken", format!("The token '{t}' is invalid.")))?,
        ),
    };
    let mut iter = items.into_iter().filter(|(k, _)| start_after.as_ref().is_none_or(|s| k > s)).peekable();
    let limit = max.unwrap_or(usize::MAX);
    let mut page = Vec::new();
    let mut last = None;
    while page.len() < limit {
        match iter.next() {
            Some((k, v)) => {
                last = Some(k);
                page.push(v);
            }
            None => break,
        }
    }
    let next = if iter.peek().is_some() { last.map(hex::encode) } else { None };
    Ok((page, next))
}

/// Returns `Err(DryRunOperation)` when the caller asked for a dry run; call
/// it after validation, right before the mutation.
pub fn dry_run(dry: bool) -> Result<()> {
    if dry {
        Err(Error::dry_run())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod route_tests;
#[cfg(test)]
pub(crate) mod tests;
