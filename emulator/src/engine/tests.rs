//! Properties of the engine under random sequences of API requests, valid
//! and invalid: a failing request leaves the world exactly as it was, the
//! world's invariants hold after every step, and the journal brings back
//! the same world.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::broadcast;

use super::*;
use crate::api::query::Params;
use crate::api::{run, Protocol};
use crate::model::{Caller, EndpointState, Event, Settings};

const REGION: &str = "ap-northeast-1";
const PROVIDER: &str = "111111111111";
const CONSUMER: &str = "222222222222";

struct Harness {
    shared: Arc<Shared>,
    /// The DNS index, following published events as the DNS server does.
    dns: crate::dns::index::Index,
    events: broadcast::Receiver<Event>,
    dir: std::path::PathBuf,
    settings: Settings,
    now: Millis,
    rng: StdRng,
}

impl Harness {
    fn new(name: &str, seed: u64) -> Harness {
        let dir = std::env::temp_dir().join(format!("privatelink-engine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let settings = Settings { pending_delay_ms: 500, ..Settings::default() };
        let (store, _) = Store::open(&dir).expect("state dir");
        let shared =
            Shared::build(World::new(settings.clone()), AuthSettings::default(), Some(store), Default::default());
        let events = shared.subscribe();
        let dns = crate::dns::index::Index::from_world(&shared.world());
        Harness { shared, dns, events, dir, settings, now: 1_800_000_000_000, rng: StdRng::seed_from_u64(seed) }
    }

    fn dump(&self) -> serde_json::Value {
        self.shared.world().to_json()
    }

    /// Runs one request as `account` at the harness's clock.
    fn call(&mut self, account: &str, protocol: Protocol, action: &str, params: Vec<(String, String)>) -> bool {
        let caller = Caller::root(account, REGION);
        let params = Params::from_pairs(params);
        let now = self.now;
        let result = self.shared.apply(Cause::at(now, action), |w| run(w, protocol, action, &caller, now, &params));
        if std::env::var("ENGINE_TEST_TRACE").is_ok() {
            eprintln!(
                "{account} {action} {:?} -> {:?}",
                params.pairs().collect::<Vec<_>>(),
                result.as_ref().err().map(|e| &e.message)
            );
        }
        result.is_ok()
    }

    fn pick(&mut self, pool: &[String]) -> String {
        if pool.is_empty() || self.rng.random_ratio(1, 12) {
            // A stranger's or a made-up id.
            return ["vpc-0000000000000000a", "subnet-00000000000000000", "vpce-\u{1}", "", "sg-1"]
                [self.rng.random_range(0..5)]
            .to_string();
        }
        pool[self.rng.random_range(0..pool.len())].clone()
    }

    /// The ids `account` owns (service names: every account's).
    fn ids(&self, account: &str) -> Ids {
        let w = self.shared.world();
        let mut ids = Ids::default();
        if let Some(r) = w.region(REGION) {
            let mine = |owner: &String| owner == account;
            ids.vpcs = r.vpcs.values().filter(|x| mine(&x.owner)).map(|x| x.id.clone()).collect();
            ids.subnets = r.subnets.values().filter(|x| mine(&x.owner)).map(|x| x.id.clone()).collect();
            ids.groups = r.security_groups.values().filter(|x| mine(&x.owner)).map(|x| x.id.clone()).collect();
            ids.nlbs = r.load_balancers.values().filter(|x| mine(&x.owner)).map(|x| x.arn.clone()).collect();
            ids.target_groups = r.target_groups.values().filter(|x| mine(&x.owner)).map(|x| x.arn.clone()).collect();
            ids.services = r.services.values().filter(|x| mine(&x.owner)).map(|s| s.id.clone()).collect();
            ids.service_names = r.services.values().map(|s| s.name.clone()).collect();
            ids.endpoints = r.endpoints.values().filter(|x| mine(&x.owner)).map(|x| x.id.clone()).collect();
            for s in r.subnets.values().filter(|x| mine(&x.owner)) {
                ids.subnets_of.entry(s.vpc_id.clone()).or_default().push(s.id.clone());
            }
            for e in r.endpoints.values().filter(|x| mine(&x.owner)) {
                ids.subnets_of.insert(e.id.clone(), ids.subnets_of.get(&e.vpc_id).cloned().unwrap_or_default());
            }
            // A provider accepts or rejects the endpoints of its services.
            let services: Vec<&String> = ids.services.iter().collect();
            ids.connections = r
                .endpoints
                .values()
                .filter(|e| e.service_id.as_ref().is_some_and(|s| services.contains(&s)))
                .map(|e| e.id.clone())
                .collect();
        }
        ids
    }

    /// One random request; returns (action, succeeded).
    fn step(&mut self) -> (&'static str, bool) {
        let p = |pairs: &[(&str, String)]| pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<Vec<_>>();
        let n = self.rng.random_range(0..22);
        // Each side does its own part; now and then the other side tries.
        let provider_side = matches!(n, 6..=11 | 14 | 20);
        let mut account = if provider_side { PROVIDER } else { CONSUMER };
        if matches!(n, 0..=5 | 18 | 19) && self.rng.random_bool(0.5) || self.rng.random_ratio(1, 15) {
            account = if account == PROVIDER { CONSUMER } else { PROVIDER };
        }
        let ids = self.ids(account);
        let n = if n <= 1 && ids.vpcs.len() >= 2 { 2 } else { n };
        let (protocol, action, params) = match n {
            0 | 1 => {
                let cidr = format!("10.{}.0.0/16", self.rng.random_range(0..4));
                (Protocol::Ec2, "CreateVpc", p(&[("CidrBlock", cidr)]))
            }
            2..=4 => {
                let vpc = self.pick(&ids.vpcs);
                // /28 subnets fill up after 11 addresses; overlaps are refused.
                let third = self.rng.random_range(0..4);
                let size = [24, 28][self.rng.random_range(0..2)];
                let zone = ["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d"][self.rng.random_range(0..3)];
                let cidr = format!("10.{}.{third}.0/{size}", self.rng.random_range(0..4));
                (
                    Protocol::Ec2,
                    "CreateSubnet",
                    p(&[("VpcId", vpc), ("CidrBlock", cidr), ("AvailabilityZone", zone.into())]),
                )
            }
            5 => {
                let vpc = self.pick(&ids.vpcs);
                let name = format!("g{}", self.rng.random_range(0..5));
                (
                    Protocol::Ec2,
                    "CreateSecurityGroup",
                    p(&[("VpcId", vpc), ("GroupName", name), ("GroupDescription", "d".into())]),
                )
            }
            6 => {
                let mut pairs = vec![
                    ("Name".to_string(), format!("nlb{}", self.rng.random_range(0..4))),
                    ("Type".into(), "network".into()),
                    ("Scheme".into(), "internal".into()),
                ];
                for i in 1..=self.rng.random_range(1..=2) {
                    pairs.push((format!("Subnets.member.{i}"), self.pick(&ids.subnets)));
                }
                (Protocol::Elbv2, "CreateLoadBalancer", pairs)
            }
            7 => {
                let vpc = self.pick(&ids.vpcs);
                let name = format!("tg{}", self.rng.random_range(0..4));
                (
                    Protocol::Elbv2,
                    "CreateTargetGroup",
                    p(&[
                        ("Name", name),
                        ("Protocol", "TCP".into()),
                        ("Port", "80".into()),
                        ("VpcId", vpc),
                        ("TargetType", "ip".into()),
                    ]),
                )
            }
            8 => {
                let tg = self.pick(&ids.target_groups);
                let ip = format!("10.0.{}.{}", self.rng.random_range(0..2), self.rng.random_range(1..9));
                (
                    Protocol::Elbv2,
                    "RegisterTargets",
                    p(&[("TargetGroupArn", tg), ("Targets.member.1.Id", ip), ("Targets.member.1.Port", "80".into())]),
                )
            }
            9 => {
                let nlb = self.pick(&ids.nlbs);
                let tg = self.pick(&ids.target_groups);
                let port = ["80", "443", "8080"][self.rng.random_range(0..3)];
                (
                    Protocol::Elbv2,
                    "CreateListener",
                    p(&[
                        ("LoadBalancerArn", nlb),
                        ("Protocol", "TCP".into()),
                        ("Port", port.into()),
                        ("DefaultActions.member.1.Type", "forward".into()),
                        ("DefaultActions.member.1.TargetGroupArn", tg),
                    ]),
                )
            }
            10 => {
                let nlb = self.pick(&ids.nlbs);
                let acceptance = self.rng.random_bool(0.5).to_string();
                (
                    Protocol::Ec2,
                    "CreateVpcEndpointServiceConfiguration",
                    p(&[("NetworkLoadBalancerArn.1", nlb), ("AcceptanceRequired", acceptance)]),
                )
            }
            11 => {
                let service = self.pick(&ids.services);
                let principal = format!("arn:aws:iam::{CONSUMER}:root");
                (
                    Protocol::Ec2,
                    "ModifyVpcEndpointServicePermissions",
                    p(&[("ServiceId", service), ("AddAllowedPrincipals.1", principal)]),
                )
            }
            12 | 13 => {
                let vpc = self.pick(&ids.vpcs);
                let subnets = ids.subnets_of.get(&vpc).cloned().unwrap_or_default();
                let mut pairs = vec![
                    ("VpcId".to_string(), vpc),
                    ("ServiceName".into(), self.pick(&ids.service_names)),
                    ("VpcEndpointType".into(), "Interface".into()),
                    ("SecurityGroupId.1".into(), self.pick(&ids.groups)),
                ];
                for i in 1..=self.rng.random_range(1..=2) {
                    pairs.push((format!("SubnetId.{i}"), self.pick(&subnets)));
                }
                (Protocol::Ec2, "CreateVpcEndpoint", pairs)
            }
            14 => {
                let action = if self.rng.random_bool(0.7) {
                    "AcceptVpcEndpointConnections"
                } else {
                    "RejectVpcEndpointConnections"
                };
                let service = self.pick(&ids.services);
                let endpoint = self.pick(&ids.connections);
                (Protocol::Ec2, action, p(&[("ServiceId", service), ("VpcEndpointId.1", endpoint)]))
            }
            15 | 16 => {
                let endpoint = self.pick(&ids.endpoints);
                let subnets = ids.subnets_of.get(&endpoint).cloned().unwrap_or_default();
                let mut pairs = vec![("VpcEndpointId".to_string(), endpoint)];
                for i in 1..=self.rng.random_range(0..=2) {
                    pairs.push((format!("AddSubnetId.{i}"), self.pick(&subnets)));
                }
                for i in 1..=self.rng.random_range(0..=1) {
                    pairs.push((format!("RemoveSubnetId.{i}"), self.pick(&subnets)));
                }
                if self.rng.random_bool(0.3) {
                    pairs.push(("AddSecurityGroupId.1".into(), self.pick(&ids.groups)));
                }
                (Protocol::Ec2, "ModifyVpcEndpoint", pairs)
            }
            17 => {
                let endpoint = self.pick(&ids.endpoints);
                (Protocol::Ec2, "DeleteVpcEndpoints", p(&[("VpcEndpointId.1", endpoint)]))
            }
            18 => {
                let id = [self.pick(&ids.vpcs), self.pick(&ids.endpoints), self.pick(&ids.subnets)]
                    [self.rng.random_range(0..3)]
                .clone();
                let value = ["ok", "x\u{1}y", "tab\tok"][self.rng.random_range(0..3)];
                (
                    Protocol::Ec2,
                    "CreateTags",
                    p(&[("ResourceId.1", id), ("Tag.1.Key", "k".into()), ("Tag.1.Value", value.into())]),
                )
            }
            19 => {
                let (action, key, id) = match self.rng.random_range(0..4) {
                    0 => ("DeleteSubnet", "SubnetId", self.pick(&ids.subnets)),
                    1 => ("DeleteVpc", "VpcId", self.pick(&ids.vpcs)),
                    2 => ("DeleteSecurityGroup", "GroupId", self.pick(&ids.groups)),
                    _ => ("DeleteVpcEndpointServiceConfigurations", "ServiceId.1", self.pick(&ids.services)),
                };
                (Protocol::Ec2, action, p(&[(key, id)]))
            }
            20 => {
                let nlb = self.pick(&ids.nlbs);
                (Protocol::Elbv2, "DeleteLoadBalancer", p(&[("LoadBalancerArn", nlb)]))
            }
            _ => (Protocol::Ec2, "DescribeVpcEndpoints", vec![]),
        };
        (action, self.call(account, protocol, action, params))
    }

    /// A provider with a service behind an NLB in two zones, open to the
    /// consumer, and a consumer VPC with subnets in three zones (one a /28
    /// that fills up): the random steps start from a world with depth.
    fn base(&mut self) {
        let p = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let ec2 = Protocol::Ec2;
        assert!(self.call(PROVIDER, ec2, "CreateVpc", p(&[("CidrBlock", "10.0.0.0/16")])));
        let vpc = self.ids(PROVIDER).vpcs[0].clone();
        for (cidr, zone) in [("10.0.1.0/24", "ap-northeast-1a"), ("10.0.2.0/24", "ap-northeast-1c")] {
            let params = p(&[("VpcId", &vpc), ("CidrBlock", cidr), ("AvailabilityZone", zone)]);
            assert!(self.call(PROVIDER, ec2, "CreateSubnet", params));
        }
        let subnets = self.ids(PROVIDER).subnets;
        let mut params = p(&[("Name", "base"), ("Type", "network"), ("Scheme", "internal")]);
        params.extend(subnets.iter().enumerate().map(|(i, s)| (format!("Subnets.member.{}", i + 1), s.clone())));
        assert!(self.call(PROVIDER, Protocol::Elbv2, "CreateLoadBalancer", params));
        let params = p(&[("Name", "base"), ("Protocol", "TCP"), ("Port", "80"), ("VpcId", &vpc), ("TargetType", "ip")]);
        assert!(self.call(PROVIDER, Protocol::Elbv2, "CreateTargetGroup", params));
        let ids = self.ids(PROVIDER);
        let params = p(&[
            ("LoadBalancerArn", &ids.nlbs[0]),
            ("Protocol", "TCP"),
            ("Port", "80"),
            ("DefaultActions.member.1.Type", "forward"),
            ("DefaultActions.member.1.TargetGroupArn", &ids.target_groups[0]),
        ]);
        assert!(self.call(PROVIDER, Protocol::Elbv2, "CreateListener", params));
        let params = p(&[("NetworkLoadBalancerArn.1", &ids.nlbs[0]), ("AcceptanceRequired", "true")]);
        assert!(self.call(PROVIDER, ec2, "CreateVpcEndpointServiceConfiguration", params));
        let service = self.ids(PROVIDER).services[0].clone();
        let principal = format!("arn:aws:iam::{CONSUMER}:root");
        let params = p(&[("ServiceId", &service), ("AddAllowedPrincipals.1", &principal)]);
        assert!(self.call(PROVIDER, ec2, "ModifyVpcEndpointServicePermissions", params));

        assert!(self.call(CONSUMER, ec2, "CreateVpc", p(&[("CidrBlock", "10.1.0.0/16")])));
        let vpc = self.ids(CONSUMER).vpcs[0].clone();
        for (cidr, zone) in [
            ("10.1.1.0/24", "ap-northeast-1a"),
            ("10.1.2.0/28", "ap-northeast-1c"),
            ("10.1.3.0/24", "ap-northeast-1c"),
            ("10.1.4.0/24", "ap-northeast-1d"),
        ] {
            let params = p(&[("VpcId", &vpc), ("CidrBlock", cidr), ("AvailabilityZone", zone)]);
            assert!(self.call(CONSUMER, ec2, "CreateSubnet", params));
        }
        let params = p(&[("VpcId", &vpc), ("GroupName", "base"), ("GroupDescription", "base")]);
        assert!(self.call(CONSUMER, ec2, "CreateSecurityGroup", params));
        // The NLB and the service become available.
        self.advance(5_000);
        // The /28 holds 11 addresses: ten endpoints leave room for one.
        let small = self.subnet(CONSUMER, "10.1.2.0/28");
        for _ in 0..10 {
            self.endpoint(&[&small]);
        }
    }

    fn subnet(&self, account: &str, cidr: &str) -> String {
        let w = self.shared.world();
        let r = w.region(REGION).expect("region");
        let found = r.subnets.values().find(|s| s.owner == account && s.cidr.to_string() == cidr);
        found.expect("subnet").id.clone()
    }

    /// A consumer endpoint of the base service in `subnets`; returns its id.
    fn endpoint(&mut self, subnets: &[&str]) -> String {
        let ids = self.ids(CONSUMER);
        let service = self.ids(PROVIDER).services[0].clone();
        let name = self.shared.world().region(REGION).expect("region").services[&service].name.clone();
        let mut params = vec![
            ("VpcId".to_string(), ids.vpcs[0].clone()),
            ("ServiceName".into(), name),
            ("VpcEndpointType".into(), "Interface".into()),
            ("SecurityGroupId.1".into(), ids.groups[0].clone()),
        ];
        params.extend(subnets.iter().enumerate().map(|(i, s)| (format!("SubnetId.{}", i + 1), s.to_string())));
        assert!(self.call(CONSUMER, Protocol::Ec2, "CreateVpcEndpoint", params));
        let after = self.ids(CONSUMER).endpoints;
        after.into_iter().find(|e| !ids.endpoints.contains(e)).expect("a new endpoint")
    }

    /// Moves the clock and lets transitions run (as the ticker does).
    fn advance(&mut self, ms: Millis) {
        self.now += ms;
        let now = self.now;
        self.shared.apply(Cause::at(now, "tick"), |_| Ok(())).expect("tick");
    }
}

#[derive(Default)]
struct Ids {
    vpcs: Vec<String>,
    subnets: Vec<String>,
    groups: Vec<String>,
    nlbs: Vec<String>,
    target_groups: Vec<String>,
    services: Vec<String>,
    service_names: Vec<String>,
    endpoints: Vec<String>,
    connections: Vec<String>,
    /// Subnets of each VPC, and of each endpoint's VPC (by endpoint id).
    subnets_of: BTreeMap<String, Vec<String>>,
}

/// What must hold of any world the engine leaves.
fn check_invariants(w: &World) -> Result<(), String> {
    for r in w.regions() {
        check_region(r)?;
    }
    // The data plane routes for available endpoints only (and for the
    // clients of active load balancers at their nodes); an endpoint with
    // ENIs that is not available yet has listeners that refuse, in its state.
    let plan = crate::dataplane::plan::build(w, 0);
    for r in plan.listeners.values().filter(|r| !r.direct) {
        let Some(held) = r.unavailable else { continue };
        let state = w.regions().find_map(|g| g.endpoints.get(&r.endpoint_id)).map(|e| e.state);
        if state.is_none_or(|s| s.as_str() != held || s.is_gone() || s == EndpointState::Available) {
            return Err(format!("the data plane refuses for {} as {held} in state {state:?}", r.endpoint_id));
        }
    }
    let through = plan.listeners.values().filter(|r| !r.direct && r.unavailable.is_none());
    let routed = through.map(|r| &r.endpoint_id).chain(plan.services.values().map(|r| &r.endpoint_id));
    for r in plan.listeners.values().filter(|r| r.direct) {
        let active = w.regions().find_map(|g| g.load_balancers.get(&r.endpoint_id)).map(|lb| lb.state.as_str());
        if active != Some("active") {
            return Err(format!("the data plane listens for load balancer {} in state {active:?}", r.endpoint_id));
        }
    }
    for endpoint in routed {
        let state = w.regions().find_map(|r| r.endpoints.get(endpoint)).map(|e| e.state);
        if state != Some(EndpointState::Available) {
            return Err(format!("the data plane listens for {endpoint} in state {state:?}"));
        }
    }
    Ok(())
}

fn check_region(r: &crate::model::Region) -> Result<(), String> {
    let mut by_subnet: BTreeMap<&str, BTreeSet<Ipv4Addr>> = BTreeMap::new();
    for eni in r.network_interfaces.values() {
        let subnet = r.subnets.get(&eni.subnet_id).ok_or(format!("{} in missing subnet {}", eni.id, eni.subnet_id))?;
        if !subnet.cidr.contains(eni.private_ip) {
            return Err(format!("{} has {} outside {}", eni.id, eni.private_ip, subnet.cidr));
        }
        if !by_subnet.entry(&eni.subnet_id).or_default().insert(eni.private_ip) {
            return Err(format!("{} reuses {} in {}", eni.id, eni.private_ip, eni.subnet_id));
        }
        let owned = match eni.interface_type.as_str() {
            "vpc_endpoint" => r.endpoints.values().any(|e| e.network_interface_ids.contains(&eni.id)),
            "network_load_balancer" => {
                r.load_balancers.values().any(|l| l.nodes.iter().any(|n| n.network_interface_id == eni.id))
            }
            _ => true,
        };
        if !owned {
            return Err(format!("{} ({}) belongs to nothing", eni.id, eni.interface_type));
        }
    }
    for e in r.endpoints.values() {
        for n in &e.network_interface_ids {
            if !r.network_interfaces.contains_key(n) {
                return Err(format!("{} ({}) lists missing {n}", e.id, e.state.as_str()));
            }
        }
        if e.state == EndpointState::Deleted && !e.network_interface_ids.is_empty() {
            return Err(format!("deleted {} still lists interfaces", e.id));
        }
        if !r.endpoints_in_vpc(&e.vpc_id).any(|x| x.id == e.id) {
            return Err(format!("{} missing from its VPC's index", e.id));
        }
    }
    Ok(())
}

/// The first place two JSON documents differ, for a readable failure.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(p, q, &format!("{path}/{k}")),
                (p, q) => Some(format!("{path}/{k}: {p:?} vs {q:?}")),
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (p, q))| first_difference(p, q, &format!("{path}/{i}")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

/// Applies the published events to the followed DNS index, as the DNS
/// server does, and checks it equals one built from the world.
fn follow_dns(h: &mut Harness) -> Result<(), String> {
    use crate::dns::index::{Index, Pending};
    let mut pending = Pending::default();
    while let Ok(e) = h.events.try_recv() {
        if !pending.add(&e) {
            pending = Pending::everything(&h.shared.world());
        }
    }
    let w = h.shared.world();
    while !pending.is_empty() {
        h.dns.install(pending.read(&w, 1));
    }
    if h.dns.summary() != Index::from_world(&w).summary() {
        return Err("the followed DNS index differs from one built from the world".into());
    }
    Ok(())
}

fn restored(h: &Harness) -> serde_json::Value {
    let config = crate::Config { state_dir: Some(h.dir.clone()), model: h.settings.clone(), ..Default::default() };
    let shared = restore::shared(&config).expect("the state directory loads");
    let w = shared.world();
    if let Err(e) = check_invariants(&w) {
        panic!("the restored world: {e}");
    }
    w.to_json()
}

#[test]
fn random_requests_keep_the_world_whole_and_the_journal_faithful() {
    let mut failed = BTreeMap::<&str, usize>::new();
    let mut succeeded = BTreeMap::<&str, usize>::new();
    for seed in 1..=4u64 {
        let mut h = Harness::new(&format!("random-{seed}"), seed);
        h.base();
        for step in 0..400 {
            // The engine ticks before every request: tick first, so that
            // `before` is the world the request itself starts from.
            let ms = if h.rng.random_ratio(1, 5) { h.rng.random_range(0..2_000) } else { 0 };
            h.advance(ms);
            let before = h.dump();
            let (action, ok) = h.step();
            let after = h.dump();
            if ok {
                *succeeded.entry(action).or_default() += 1;
            } else {
                *failed.entry(action).or_default() += 1;
                if let Some(d) = first_difference(&before, &after, "") {
                    panic!("seed {seed} step {step}: failing {action} changed the world: {d}");
                }
            }
            let checked = check_invariants(&h.shared.world());
            if let Err(e) = checked.and_then(|()| follow_dns(&mut h)) {
                panic!("seed {seed} step {step} after {action} (ok: {ok}): {e}");
            }
            if step % 100 == 99 {
                if let Some(d) = first_difference(&restored(&h), &h.dump(), "") {
                    panic!("seed {seed} step {step}: the journal brings back another world: {d}");
                }
            }
        }
        drop(h.shared);
        std::fs::remove_dir_all(&h.dir).expect("cleanup");
    }
    // The sequences reached deep states, not only validation errors.
    for action in ["CreateVpcEndpoint", "AcceptVpcEndpointConnections", "ModifyVpcEndpoint", "CreateListener"] {
        assert!(succeeded.get(action).copied().unwrap_or(0) >= 3, "too few {action} succeeded: {succeeded:?}");
    }
    assert!(failed.get("ModifyVpcEndpoint").copied().unwrap_or(0) >= 10, "too few failing modifies: {failed:?}");
    assert!(failed.values().sum::<usize>() > 200, "too few failures to test: {failed:?}");
}

#[test]
fn a_modify_that_fails_on_a_full_subnet_changes_nothing() {
    let mut h = Harness::new("full-subnet", 7);
    h.base();
    let a = h.subnet(CONSUMER, "10.1.1.0/24");
    let small = h.subnet(CONSUMER, "10.1.2.0/28");
    let wide = h.subnet(CONSUMER, "10.1.3.0/24");
    h.endpoint(&[&small]); // the /28's last address
    let endpoint = h.endpoint(&[&a]);
    h.advance(0);
    let p = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();

    // Move from zone a to the full /28 of zone c: the add fails after the
    // removal has run.
    let before = h.dump();
    let params = p(&[("VpcEndpointId", &endpoint), ("RemoveSubnetId.1", &a), ("AddSubnetId.1", &small)]);
    assert!(!h.call(CONSUMER, Protocol::Ec2, "ModifyVpcEndpoint", params));
    if let Some(d) = first_difference(&before, &h.dump(), "") {
        panic!("the failing modify changed the world: {d}");
    }
    check_invariants(&h.shared.world()).expect("invariants");

    // Two subnets added where the second fails: the first's ENI is not
    // left behind, and the removed subnet keeps its ENI.
    let other = h.endpoint(&[&wide]);
    h.advance(0);
    let before = h.dump();
    let enis_before = h.shared.world().region(REGION).expect("region").network_interfaces.len();
    let caller = Caller::root(CONSUMER, REGION);
    let now = h.now;
    let params = Params::from_pairs(p(&[
        ("VpcEndpointId", &other),
        ("RemoveSubnetId.1", &wide),
        ("AddSubnetId.1", &a),
        ("AddSubnetId.2", &small),
    ]));
    let modify = |w: &mut World| run(w, Protocol::Ec2, "ModifyVpcEndpoint", &caller, now, &params).map(|_| ());
    let e = h.shared.apply(Cause::at(now, "ModifyVpcEndpoint"), modify).expect_err("the /28 is full");
    assert_eq!(e.code, "InsufficientFreeAddressesInSubnet", "{}", e.message);
    assert_eq!(h.shared.world().region(REGION).expect("region").network_interfaces.len(), enis_before);
    if let Some(d) = first_difference(&before, &h.dump(), "") {
        panic!("the failing modify changed the world: {d}");
    }
    check_invariants(&h.shared.world()).expect("invariants");
    drop(h.shared);
    std::fs::remove_dir_all(&h.dir).expect("cleanup");
}

/// Every state directory an earlier release wrote (tests/fixtures/state)
/// loads, and the world it holds keeps the invariants. (tests/test_upgrade.py
/// compares what each holds through the API and DNS.)
#[test]
fn state_directories_of_earlier_releases_load() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/state");
    let mut loaded = 0;
    for release in std::fs::read_dir(&root).expect("fixtures").flatten().filter(|e| e.path().is_dir()) {
        for fixture in std::fs::read_dir(release.path()).expect("release").flatten().filter(|e| e.path().is_dir()) {
            let name = format!("{}/{}", release.file_name().to_string_lossy(), fixture.file_name().to_string_lossy());
            let dir = std::env::temp_dir().join(format!(
                "privatelink-fixture-{}-{}",
                name.replace('/', "-"),
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("copy");
            for file in std::fs::read_dir(fixture.path()).expect("files").flatten() {
                std::fs::copy(file.path(), dir.join(file.file_name())).expect("copy");
            }
            let config = crate::Config { state_dir: Some(dir.clone()), ..Default::default() };
            let shared = restore::shared(&config).unwrap_or_else(|e| panic!("{name}: {e}"));
            let w = shared.world();
            assert!(w.regions().any(|r| !r.endpoints.is_empty()), "{name}: no endpoint loaded");
            check_invariants(&w).unwrap_or_else(|e| panic!("{name}: {e}"));
            drop(w);
            drop(shared);
            std::fs::remove_dir_all(&dir).expect("cleanup");
            loaded += 1;
        }
    }
    assert!(loaded >= 4, "only {loaded} fixtures found under {}", root.display());
}

/// Requests journaled by format 1 replay with the host blocks those
/// releases gave: one block per VPC, smaller VPCs at their offset from
/// their base; VPCs created after the migration share blocks.
#[test]
fn format_1_requests_keep_one_host_block_per_vpc() {
    let mut w = World::new(Settings::default());
    for (n, cidr) in ["10.1.16.0/20", "10.2.32.0/20", "10.3.0.0/16"].into_iter().enumerate() {
        let op = crate::persist::Op::Api {
            now: n as u64,
            seed: n as u64,
            account: CONSUMER.into(),
            arn: format!("arn:aws:iam::{CONSUMER}:root"),
            region: REGION.into(),
            protocol: "ec2".into(),
            action: "CreateVpc".into(),
            params: vec![("CidrBlock".into(), cidr.into())],
        };
        crate::api::replay_legacy(&mut w, op).expect("replayed");
    }
    let region = w.region(REGION).expect("the region");
    let mut vpcs: Vec<_> = region.vpcs.values().map(|v| (v.cidr.to_string(), v.host_block, v.shares_block)).collect();
    vpcs.sort();
    assert_eq!(
        vpcs,
        [("10.1.16.0/20".into(), 1, false), ("10.2.32.0/20".into(), 2, false), ("10.3.0.0/16".into(), 3, false)]
    );
    let old = region.vpcs.values().find(|v| v.cidr.to_string() == "10.1.16.0/20").expect("the /20");
    let host = crate::addressing::host_addr(old, Ipv4Addr::new(10, 1, 16, 5));
    assert_eq!(host, Some(Ipv4Addr::new(127, 1, 0, 5)), "at its offset, as before");
    let caller = Caller::root(CONSUMER, REGION);
    let new = w.create_vpc(&caller, 9, "10.4.48.0/20", None, Default::default()).expect("a VPC after the migration");
    assert!(new.shares_block && new.host_block == 4, "{new:?}");
}

/// A change that panics half-way is taken back: the next change does not
/// journal or publish what it had done.
#[test]
fn a_change_that_panics_changes_nothing() {
    let h = Harness::new("panic", 1);
    let before = h.dump();
    let shared = h.shared.clone();
    let caught = std::thread::spawn(move || {
        let caller = Caller::root(PROVIDER, REGION);
        let params = Params::from_pairs([("CidrBlock".to_string(), "10.9.0.0/16".to_string())]);
        shared.apply::<()>(Cause::at(1, "panics"), |w| {
            run(w, Protocol::Ec2, "CreateVpc", &caller, 1, &params)?;
            panic!("a bug half-way through a change");
        })
    })
    .join();
    assert!(caught.is_err(), "the panic goes on to the caller");
    h.shared.apply(Cause::at(2, "after"), |_| Ok(())).expect("the next change");
    assert!(first_difference(&before, &h.dump(), "").is_none());
    assert!(first_difference(&before, &restored(&h), "").is_none(), "nothing of it was journaled");
    drop(h.shared);
    std::fs::remove_dir_all(&h.dir).expect("cleanup");
}

#[test]
fn the_periodic_snapshot_is_written_aside_and_loads_with_the_journal_after_it() {
    let mut h = Harness::new("fold", 7);
    h.base();
    let vpc = h.ids(CONSUMER).vpcs[0].clone();
    let tag = |n: usize| {
        vec![
            ("ResourceId.1".to_string(), vpc.clone()),
            ("Tag.1.Key".to_string(), "n".to_string()),
            ("Tag.1.Value".to_string(), n.to_string()),
        ]
    };
    let mut n = 0;
    // Past the first fold, and some changes after it.
    while n < crate::persist::COMPACT_EVERY as usize + 20 {
        n += 1;
        assert!(h.call(CONSUMER, Protocol::Ec2, "CreateTags", tag(n)));
    }
    h.shared.wait_for_snapshot();
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(h.dir.join(crate::persist::SNAPSHOT)).expect("a snapshot was written"))
            .expect("it reads");
    assert!(snapshot["seq"].as_u64().is_some_and(|s| s >= crate::persist::COMPACT_EVERY), "{}", snapshot["seq"]);
    assert!(!h.dir.join(crate::persist::PREVIOUS_JOURNAL).exists(), "the moved-aside journal is removed");
    if let Some(d) = first_difference(&restored(&h), &h.dump(), "") {
        panic!("the snapshot and the journal after it bring back another world: {d}");
    }
    drop(h.shared);
    std::fs::remove_dir_all(&h.dir).expect("cleanup");
}
