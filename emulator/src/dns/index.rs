//! The records the model implies, kept up to date one event at a time.
//!
//! - Public view: the regional and zonal vpce names of every endpoint that
//!   has ENIs and a live connection (pendingAcceptance, pending, available),
//!   as in AWS, where these names exist from creation and only the traffic
//!   waits for acceptance; plus the TXT records of the public zones
//!   providers publish. A regional name answers every ENI's host address, a
//!   zonal name its zone's.
//! - One view per VPC: the public view, plus the private DNS names of the
//!   VPC's `available` endpoints while the VPC has enableDnsSupport and
//!   enableDnsHostnames. Each private name is its own zone (as the private
//!   hosted zone AWS attaches to the VPC), so other names below it are
//!   NXDOMAIN there rather than the public answer.
//!
//! Deleting (state `deleting`), rejecting or failing an endpoint removes its
//! names at once; changing its subnets moves them.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::addressing;
use crate::model::{EndpointState, Event, Resource, World};

use super::names::{Found, Names};

/// The zone every public endpoint name is in.
pub const PUBLIC_ZONE: &str = "vpce.amazonaws.com";

/// A VPC, by region and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VpcKey {
    pub region: String,
    pub vpc_id: String,
}

/// Which records a listener answers from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum View {
    Public,
    Vpc(VpcKey),
}

/// What the listeners need to know of a VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcInfo {
    /// Where its resolver listens on the host (127.k.0.2).
    pub resolver: Ipv4Addr,
    /// The simulated resolver address (base + 2), for logs.
    pub vpc_resolver: Ipv4Addr,
    /// Interface mode: the resolver is at its own address, port 53.
    pub attached: bool,
}

/// Where an endpoint's names went, so they can be taken back.
#[derive(Debug, Default)]
struct Placed {
    vpc: Option<VpcKey>,
    public: Vec<String>,
    private: Vec<String>,
    private_zones: Vec<String>,
}

#[derive(Debug)]
pub struct Index {
    public: Names,
    private: HashMap<VpcKey, Names>,
    vpcs: BTreeMap<VpcKey, VpcInfo>,
    placed: HashMap<(String, String), Placed>,
    /// The TXT records currently served, to apply the world's by difference.
    txt: BTreeMap<String, Vec<String>>,
}

impl Default for Index {
    fn default() -> Self {
        let mut public = Names::default();
        public.add_zone(PUBLIC_ZONE);
        Index { public, private: HashMap::new(), vpcs: BTreeMap::new(), placed: HashMap::new(), txt: BTreeMap::new() }
    }
}

/// The zone a published TXT record lives in: its name less the first label
/// (`_abc.example.com` is in `example.com`).
fn txt_zone(name: &str) -> &str {
    name.split_once('.').map(|(_, z)| z).unwrap_or(name)
}

/// The zone of a private DNS name (`*.example.com` is in `example.com`).
fn private_zone(name: &str) -> &str {
    name.strip_prefix("*.").unwrap_or(name)
}

impl Index {
    /// Everything the world implies right now.
    pub fn from_world(world: &World) -> Index {
        let mut index = Index::default();
        for region in world.regions() {
            for id in region.vpcs.keys() {
                index.refresh_vpc(world, &region.name, id);
            }
        }
        index.sync_txt(world);
        index
    }

    /// Follows one change of the model.
    pub fn apply(&mut self, world: &World, event: &Event) {
        match &event.resource {
            Resource::Endpoint(id) => self.refresh_endpoint(world, &event.region, id),
            Resource::Vpc(id) => self.refresh_vpc(world, &event.region, id),
            Resource::PublicTxt(_) => self.sync_txt(world),
            // Endpoints report their own changes of ENIs, subnets and names.
            _ => {}
        }
    }

    /// The VPCs that have a resolver.
    pub fn vpcs(&self) -> &BTreeMap<VpcKey, VpcInfo> {
        &self.vpcs
    }

    /// What `view` says about `name` (lowercase, no trailing dot); `None`
    /// when the name is in none of its zones.
    pub fn lookup(&self, view: &View, name: &str) -> Option<Found> {
        if let View::Vpc(key) = view {
            if let Some(found) = self.private.get(key).and_then(|n| n.lookup(name)) {
                return Some(found);
            }
        }
        self.public.lookup(name)
    }

    /// Names in the public view and in one VPC's own records (for status and tests).
    pub fn counts(&self, vpc: Option<&VpcKey>) -> usize {
        match vpc {
            None => self.public.len(),
            Some(k) => self.private.get(k).map_or(0, Names::len),
        }
    }

    fn refresh_vpc(&mut self, world: &World, region: &str, id: &str) {
        let key = VpcKey { region: region.to_string(), vpc_id: id.to_string() };
        let Some(r) = world.region(region) else { return };
        match r.vpcs.get(id) {
            Some(vpc) => {
                let info = VpcInfo {
                    resolver: addressing::vpc_resolver_host_addr(vpc),
                    vpc_resolver: vpc.resolver_address(),
                    attached: vpc.attached,
                };
                self.vpcs.insert(key, info);
            }
            None => {
                self.vpcs.remove(&key);
                self.private.remove(&key);
            }
        }
        // The DNS attributes decide whether private names are served.
        let ids: Vec<String> = r.endpoints_in_vpc(id).map(|e| e.id.clone()).collect();
        for e in ids {
            self.refresh_endpoint(world, region, &e);
        }
    }

    fn refresh_endpoint(&mut self, world: &World, region: &str, id: &str) {
        let slot = (region.to_string(), id.to_string());
        if let Some(old) = self.placed.remove(&slot) {
            self.take_back(id, old);
        }
        if let Some(placed) = self.place(world, region, id) {
            self.placed.insert(slot, placed);
        }
    }

    fn take_back(&mut self, id: &str, old: Placed) {
        let source: Arc<str> = Arc::from(id);
        for name in &old.public {
            self.public.set_a(name, &source, Vec::new());
        }
        let Some(key) = old.vpc else { return };
        if let Some(names) = self.private.get_mut(&key) {
            for name in &old.private {
                names.set_a(name, &source, Vec::new());
            }
            for zone in &old.private_zones {
                names.remove_zone(zone);
            }
            if names.is_empty() {
                self.private.remove(&key);
            }
        }
    }

    fn place(&mut self, world: &World, region: &str, id: &str) -> Option<Placed> {
        let r = world.region(region)?;
        let e = r.endpoints.get(id)?;
        if !matches!(e.state, EndpointState::PendingAcceptance | EndpointState::Pending | EndpointState::Available) {
            return None;
        }
        let vpc = r.vpcs.get(&e.vpc_id)?;
        let enis: Vec<(&str, Ipv4Addr)> = e
            .network_interface_ids
            .iter()
            .filter_map(|n| r.network_interfaces.get(n))
            .filter_map(|n| Some((n.availability_zone.as_str(), addressing::host_addr(vpc, n.private_ip)?)))
            .collect();
        if enis.is_empty() {
            return None;
        }
        let all: Vec<Ipv4Addr> = enis.iter().map(|(_, ip)| *ip).collect();
        let regional = e.dns_entries.first()?.dns_name.to_ascii_lowercase();
        let (stem, base) = regional.split_once('.')?;
        let source: Arc<str> = Arc::from(id);
        let mut placed = Placed::default();
        let mut zonal: BTreeMap<String, Vec<Ipv4Addr>> = BTreeMap::new();
        for (zone, ip) in &enis {
            zonal.entry(format!("{stem}-{zone}.{base}")).or_default().push(*ip);
        }
        self.public.set_a(&regional, &source, all.clone());
        placed.public.push(regional.clone());
        for (name, ips) in zonal {
            self.public.set_a(&name, &source, ips);
            placed.public.push(name);
        }
        let private_on = e.state == EndpointState::Available && vpc.enable_dns_support && vpc.enable_dns_hostnames;
        if let (true, Some(name)) = (private_on, e.private_dns_name()) {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let key = VpcKey { region: region.to_string(), vpc_id: vpc.id.clone() };
            let names = self.private.entry(key.clone()).or_default();
            let zone = private_zone(&name).to_string();
            names.add_zone(&zone);
            names.set_a(&name, &source, all);
            placed.vpc = Some(key);
            placed.private.push(name);
            placed.private_zones.push(zone);
        }
        Some(placed)
    }

    fn sync_txt(&mut self, world: &World) {
        let now = world.public_txt_records();
        let gone: Vec<String> = self.txt.keys().filter(|k| !now.contains_key(*k)).cloned().collect();
        for name in gone {
            self.public.set_txt(&name, Vec::new());
            self.public.remove_zone(txt_zone(&name));
            self.txt.remove(&name);
        }
        for (name, values) in now {
            match self.txt.get(name) {
                Some(old) if old == values => continue,
                Some(_) => {}
                None => self.public.add_zone(txt_zone(name)),
            }
            self.public.set_txt(name, values.clone());
            self.txt.insert(name.clone(), values.clone());
        }
    }
}
