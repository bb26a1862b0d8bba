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
//! - Public view: the DNS name of every active network load balancer,
//!   answering its nodes' addresses (private ones: these NLBs are internal),
//!   reached at the nodes' own listeners by clients in the NLB's VPC.
//! - Route 53 hosted zones (see [`super::zones`]): public ones in the public
//!   view, private ones in the views of their VPCs. A VPC's resolver answers
//!   from its private zones first: a name inside any of them is answered by
//!   the closest one alone (NXDOMAIN when it has no such name), even where
//!   the public view has the name. An endpoint's private DNS name is a zone
//!   of its own there, as AWS attaches it; where a private hosted zone has
//!   the same name, the endpoint's addresses answer A and the zone answers
//!   its other types and names.
//!
//! Deleting (state `deleting`), rejecting or failing an endpoint removes its
//! names at once; changing its subnets moves them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::addressing;
use crate::model::{EndpointState, Event, Resource, World};

use super::names::{Found, Names, Share, RANK_ENDPOINT};
use super::zones::{self, ZoneCopy};

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
    /// Where its resolver listens on the host (base + 2 in its host block, 127.k.0.2 for a /16).
    pub resolver: Ipv4Addr,
    /// The simulated resolver address (base + 2), for logs.
    pub vpc_resolver: Ipv4Addr,
    /// Interface mode: the resolver is at its own address, port 53.
    pub attached: bool,
}

/// An endpoint's names and addresses as the world has them: read under the
/// world's lock, turned into records afterwards (see [`Index::install`]).
/// Installed, it is also what to take back when the endpoint changes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Regional name first, then one zonal name per zone.
    public: Vec<(String, Vec<Ipv4Addr>)>,
    private: Option<PrivateName>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PrivateName {
    vpc: VpcKey,
    name: String,
    addrs: Vec<Ipv4Addr>,
}

/// An index in a comparable form (tests).
#[cfg(test)]
pub(crate) type Summary = (
    BTreeMap<(String, String), Placement>,
    BTreeMap<VpcKey, VpcInfo>,
    Vec<BTreeMap<String, Vec<String>>>,
    BTreeMap<String, ZoneCopy>,
);

/// One change of the index, read from the world.
#[derive(Debug)]
pub enum Update {
    Vpc(VpcKey, Option<VpcInfo>),
    Endpoint {
        region: String,
        id: String,
        placement: Option<Placement>,
    },
    /// A load balancer's DNS name and its nodes' addresses.
    LoadBalancer {
        region: String,
        arn: String,
        name: Option<(String, Vec<Ipv4Addr>)>,
    },
    Txt(BTreeMap<String, Vec<String>>),
    /// A hosted zone and its records; `None` once it is deleted.
    Zone {
        id: String,
        copy: Option<ZoneCopy>,
    },
}

/// What a batch of events asks to read again, each part once however many
/// events named it.
#[derive(Debug, Default)]
pub struct Pending {
    vpcs: BTreeSet<(String, String)>,
    endpoints: BTreeSet<(String, String)>,
    load_balancers: BTreeSet<(String, String)>,
    zones: BTreeSet<String>,
    txt: bool,
}

impl Pending {
    /// Everything in the world.
    pub fn everything(world: &World) -> Pending {
        let mut p = Pending { txt: true, ..Pending::default() };
        for region in world.regions() {
            p.vpcs.extend(region.vpcs.keys().map(|id| (region.name.clone(), id.clone())));
            p.load_balancers.extend(region.load_balancers.keys().map(|arn| (region.name.clone(), arn.clone())));
        }
        p.zones.extend(world.hosted_zones().map(|z| z.id.clone()));
        p
    }

    /// Notes what `event` changed; `false` when it asks for everything
    /// (the world was replaced).
    pub fn add(&mut self, event: &Event) -> bool {
        match &event.resource {
            Resource::Endpoint(id) => {
                self.endpoints.insert((event.region.clone(), id.clone()));
            }
            Resource::Vpc(id) => {
                self.vpcs.insert((event.region.clone(), id.clone()));
            }
            Resource::LoadBalancer(arn) => {
                self.load_balancers.insert((event.region.clone(), arn.clone()));
            }
            Resource::PublicTxt(_) => self.txt = true,
            Resource::HostedZone(id) => {
                self.zones.insert(id.clone());
            }
            Resource::All => return false,
            // Endpoints report their own changes of ENIs, subnets and names.
            _ => {}
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.vpcs.is_empty()
            && self.endpoints.is_empty()
            && self.load_balancers.is_empty()
            && self.zones.is_empty()
            && !self.txt
    }

    /// Reads what is pending from `world`, VPCs first (each brings its
    /// endpoints and private zones along, as its DNS attributes decide
    /// whether its resolver answers their private names), and at most
    /// `limit` endpoints and zones; the rest stays pending. Only copies
    /// names and addresses, so the caller holds the world's lock briefly.
    pub fn read(&mut self, world: &World, limit: usize) -> Vec<Update> {
        let mut out = Vec::new();
        if std::mem::take(&mut self.txt) {
            out.push(Update::Txt(world.public_txt_records().clone()));
        }
        while let Some((region, id)) = self.vpcs.pop_first() {
            let vpc = world.region(&region).and_then(|r| r.vpcs.get(&id));
            let info = vpc.map(|vpc| VpcInfo {
                resolver: addressing::vpc_resolver_host_addr(vpc),
                vpc_resolver: vpc.resolver_address(),
                attached: vpc.attached,
            });
            if let Some(r) = world.region(&region) {
                self.endpoints.extend(r.endpoints_in_vpc(&id).map(|e| (region.clone(), e.id.clone())));
                let nlbs = r.load_balancers.values().filter(|lb| lb.vpc_id == id);
                self.load_balancers.extend(nlbs.map(|lb| (region.clone(), lb.arn.clone())));
            }
            // A deleted VPC is still named by the zones associated with it.
            let associated =
                world.hosted_zones().filter(|z| z.vpcs.iter().any(|v| v.region == region && v.vpc_id == id));
            self.zones.extend(associated.map(|z| z.id.clone()));
            out.push(Update::Vpc(VpcKey { region, vpc_id: id }, info));
        }
        while let Some((region, arn)) = self.load_balancers.pop_first() {
            let name = load_balancer_name(world, &region, &arn);
            out.push(Update::LoadBalancer { region, arn, name });
        }
        for _ in 0..limit {
            if let Some((region, id)) = self.endpoints.pop_first() {
                let placement = placement(world, &region, &id);
                out.push(Update::Endpoint { region, id, placement });
            } else if let Some(id) = self.zones.pop_first() {
                let copy = zones::read(world, &id);
                out.push(Update::Zone { id, copy });
            } else {
                break;
            }
        }
        out
    }
}

/// An active load balancer's DNS name and its nodes' (host) addresses.
fn load_balancer_name(world: &World, region: &str, arn: &str) -> Option<(String, Vec<Ipv4Addr>)> {
    let r = world.region(region)?;
    let lb = r.load_balancers.get(arn).filter(|lb| lb.state == "active")?;
    let vpc = r.vpcs.get(&lb.vpc_id)?;
    let addrs: Vec<Ipv4Addr> = lb.nodes.iter().filter_map(|n| addressing::host_addr(vpc, n.private_ip)).collect();
    (!addrs.is_empty()).then(|| (lb.dns_name.trim_end_matches('.').to_ascii_lowercase(), addrs))
}

/// The zone of a load balancer's name (`elb.REGION.amazonaws.com`).
fn load_balancer_zone(name: &str) -> &str {
    name.split_once('.').map(|(_, z)| z).unwrap_or(name)
}

/// Where `id`'s names point, if it has any.
fn placement(world: &World, region: &str, id: &str) -> Option<Placement> {
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
    let mut zonal: BTreeMap<String, Vec<Ipv4Addr>> = BTreeMap::new();
    for (zone, ip) in &enis {
        zonal.entry(format!("{stem}-{zone}.{base}")).or_default().push(*ip);
    }
    let mut placement = Placement { public: vec![(regional.clone(), all.clone())], private: None };
    placement.public.extend(zonal);
    let private_on = e.state == EndpointState::Available && vpc.enable_dns_support && vpc.enable_dns_hostnames;
    if let (true, Some(name)) = (private_on, e.private_dns_name()) {
        placement.private = Some(PrivateName {
            vpc: VpcKey { region: region.to_string(), vpc_id: vpc.id.clone() },
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            addrs: all,
        });
    }
    Some(placement)
}

#[derive(Debug)]
pub struct Index {
    public: Names,
    private: HashMap<VpcKey, Names>,
    vpcs: BTreeMap<VpcKey, VpcInfo>,
    /// Counts the VPC updates installed, so the resolvers are reconciled
    /// only when the set of VPCs may have changed, not on every batch.
    vpc_updates: u64,
    placed: HashMap<(String, String), Placement>,
    /// Load balancers' names and addresses, by region and ARN.
    load_balancers: HashMap<(String, String), (String, Vec<Ipv4Addr>)>,
    /// The TXT records currently served, to apply the world's by difference.
    txt: BTreeMap<String, Vec<String>>,
    /// Hosted zones as installed, by id.
    zones: HashMap<String, ZoneCopy>,
}

impl Default for Index {
    fn default() -> Self {
        let mut public = Names::default();
        public.add_zone(PUBLIC_ZONE);
        Index {
            public,
            private: HashMap::new(),
            vpcs: BTreeMap::new(),
            vpc_updates: 0,
            placed: HashMap::new(),
            load_balancers: HashMap::new(),
            txt: BTreeMap::new(),
            zones: HashMap::new(),
        }
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
        index.install(Pending::everything(world).read(world, usize::MAX));
        index
    }

    /// Builds the records of what [`Pending::read`] found.
    pub fn install(&mut self, updates: Vec<Update>) {
        for update in updates {
            if matches!(update, Update::Vpc(..)) {
                self.vpc_updates += 1;
            }
            match update {
                Update::Vpc(key, Some(info)) => {
                    self.vpcs.insert(key, info);
                }
                Update::Vpc(key, None) => {
                    self.vpcs.remove(&key);
                    self.private.remove(&key);
                }
                Update::Endpoint { region, id, placement } => self.place(region, id, placement),
                Update::LoadBalancer { region, arn, name } => self.place_load_balancer(region, arn, name),
                Update::Txt(records) => self.sync_txt(&records),
                Update::Zone { id, copy } => self.place_zone(id, copy),
            }
        }
    }

    /// The VPCs that have a resolver.
    pub fn vpcs(&self) -> &BTreeMap<VpcKey, VpcInfo> {
        &self.vpcs
    }

    /// VPC updates installed so far: unchanged, the VPCs are the same.
    pub fn vpc_updates(&self) -> u64 {
        self.vpc_updates
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

    /// What the index holds, in a comparable form: every endpoint's
    /// placement, the VPCs, and every view's names with their records.
    #[cfg(test)]
    pub(crate) fn summary(&self) -> Summary {
        let placed = self.placed.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut views = vec![self.public.records()];
        let private: BTreeMap<&VpcKey, &Names> = self.private.iter().collect();
        views.extend(private.values().map(|n| n.records()));
        let zones = self.zones.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        (placed, self.vpcs.clone(), views, zones)
    }

    /// Moves `id`'s names to `placement`, touching only the names whose
    /// addresses changed: most events of an endpoint (a state change, an
    /// acceptance) leave its public names as they were.
    fn place(&mut self, region: String, id: String, placement: Option<Placement>) {
        let slot = (region, id);
        let old = self.placed.remove(&slot).unwrap_or_default();
        let new = placement.unwrap_or_default();
        if old != new {
            let source: Arc<str> = Arc::from(slot.1.as_str());
            for (name, _) in &old.public {
                if !new.public.iter().any(|(n, _)| n == name) {
                    self.public.set_a(PUBLIC_ZONE, name, &source, &[], RANK_ENDPOINT);
                }
            }
            for (name, addrs) in &new.public {
                if !old.public.iter().any(|(n, a)| n == name && a == addrs) {
                    self.public.set_a(PUBLIC_ZONE, name, &source, addrs, RANK_ENDPOINT);
                }
            }
            if old.private != new.private {
                if let Some(p) = &old.private {
                    self.take_back_private(&source, p);
                }
                if let Some(p) = &new.private {
                    let names = self.private.entry(p.vpc.clone()).or_default();
                    let zone = private_zone(&p.name);
                    names.add_zone(zone);
                    names.set_a(zone, &p.name, &source, &p.addrs, RANK_ENDPOINT);
                }
            }
        }
        if new != Placement::default() {
            self.placed.insert(slot, new);
        }
    }

    fn place_load_balancer(&mut self, region: String, arn: String, name: Option<(String, Vec<Ipv4Addr>)>) {
        let source: Arc<str> = Arc::from(arn.as_str());
        let slot = (region, arn);
        if let Some((old, _)) = self.load_balancers.remove(&slot) {
            self.public.set_a(load_balancer_zone(&old), &old, &source, &[], RANK_ENDPOINT);
            self.public.remove_zone(load_balancer_zone(&old));
        }
        let Some((name, addrs)) = name else { return };
        self.public.add_zone(load_balancer_zone(&name));
        self.public.set_a(load_balancer_zone(&name), &name, &source, &addrs, RANK_ENDPOINT);
        self.load_balancers.insert(slot, (name, addrs));
    }

    fn take_back_private(&mut self, source: &Arc<str>, p: &PrivateName) {
        if let Some(names) = self.private.get_mut(&p.vpc) {
            names.set_a(private_zone(&p.name), &p.name, source, &[], RANK_ENDPOINT);
            names.remove_zone(private_zone(&p.name));
            if names.is_empty() {
                self.private.remove(&p.vpc);
            }
        }
    }

    fn sync_txt(&mut self, now: &BTreeMap<String, Vec<String>>) {
        let gone: Vec<String> = self.txt.keys().filter(|k| !now.contains_key(*k)).cloned().collect();
        let source: Arc<str> = Arc::from("txt");
        for name in gone {
            self.public.set(txt_zone(&name), &name, &source, Share::default());
            self.public.remove_zone(txt_zone(&name));
            self.txt.remove(&name);
        }
        for (name, values) in now {
            match self.txt.get(name) {
                Some(old) if old == values => continue,
                Some(_) => {}
                None => self.public.add_zone(txt_zone(name)),
            }
            self.public.set(txt_zone(name), name, &source, Share::txt(name, values));
            self.txt.insert(name.clone(), values.clone());
        }
    }

    fn place_zone(&mut self, id: String, copy: Option<ZoneCopy>) {
        let source: Arc<str> = Arc::from(id.as_str());
        if let Some(old) = self.zones.remove(&id) {
            let names: Vec<String> = zones::names(&old).collect();
            let take_back = |view: &mut Names| {
                for name in &names {
                    view.set(&old.apex, name, &source, Share::default());
                }
                view.remove_zone(&old.apex);
            };
            if old.public {
                take_back(&mut self.public);
            }
            for (key, _) in &old.vpcs {
                if let Some(view) = self.private.get_mut(key) {
                    take_back(view);
                    if view.is_empty() {
                        self.private.remove(key);
                    }
                }
            }
        }
        let Some(copy) = copy else { return };
        let put = |view: &mut Names, shares: BTreeMap<String, Share>| {
            view.add_zone(&copy.apex);
            for (name, share) in shares {
                view.set(&copy.apex, &name, &source, share);
            }
        };
        if copy.public {
            put(&mut self.public, zones::shares(&copy, None));
        }
        for (key, block) in &copy.vpcs {
            put(self.private.entry(key.clone()).or_default(), zones::shares(&copy, Some(block)));
        }
        self.zones.insert(id, copy);
    }
}
