//! The index against the model's events, and the handler against packets,
//! without sockets; plus a property test that throws random and mutated
//! packets at the handler.

use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::{Name, RData, RecordType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::handler::Handler;
use super::index::{Index, Pending, View, VpcKey};
use crate::model::elb::CreateLoadBalancer;
use crate::model::endpoint::CreateEndpoint;
use crate::model::service::CreateService;
use crate::model::{Caller, Settings, Tags, World};

pub(super) const REGION: &str = "ap-northeast-1";

pub(super) fn provider() -> Caller {
    Caller::root("111111111111", REGION)
}

pub(super) fn consumer() -> Caller {
    Caller::root("222222222222", REGION)
}

/// A consumer VPC with DNS hostnames on and two subnets, and a second VPC.
pub(super) struct Fixture {
    pub(super) world: World,
    pub(super) index: Index,
    pub(super) vpc: String,
    pub(super) other_vpc: String,
    pub(super) subnets: Vec<String>,
}

impl Fixture {
    pub(super) fn new() -> Fixture {
        let mut w = World::new(Settings::default());
        let c = consumer();
        let vpc = w.create_vpc(&c, 0, "10.24.0.0/16", None, Tags::new()).unwrap();
        w.modify_vpc_attribute(&c, &vpc.id, None, Some(true)).unwrap();
        let other = w.create_vpc(&c, 0, "10.25.0.0/16", None, Tags::new()).unwrap();
        w.modify_vpc_attribute(&c, &other.id, None, Some(true)).unwrap();
        let s1 = w.create_subnet(&c, &vpc.id, "10.24.16.0/20", Some("ap-northeast-1a"), Tags::new()).unwrap();
        let s2 = w.create_subnet(&c, &vpc.id, "10.24.112.0/20", Some("ap-northeast-1c"), Tags::new()).unwrap();
        let index = Index::from_world(&w);
        w.drain_events();
        Fixture { world: w, index, vpc: vpc.id, other_vpc: other.id, subnets: vec![s1.id, s2.id] }
    }

    /// What the DNS task does: note the events the model emitted, then read
    /// the world and install the records one endpoint at a time.
    pub(super) fn follow(&mut self) {
        let mut pending = Pending::default();
        for e in self.world.drain_events() {
            assert!(pending.add(&e), "no test here replaces the world");
        }
        while !pending.is_empty() {
            self.index.install(pending.read(&self.world, 1));
        }
        // Following changes ends where reading the whole world does.
        assert_eq!(self.index.summary(), Index::from_world(&self.world).summary());
    }

    pub(super) fn view(&self, vpc: &str) -> View {
        View::Vpc(VpcKey { region: REGION.into(), vpc_id: vpc.into() })
    }

    /// Host addresses `name` has in `view`; `None` for NXDOMAIN or not ours.
    pub(super) fn a(&self, view: &View, name: &str) -> Option<Vec<Ipv4Addr>> {
        let f = self.index.lookup(view, name)?;
        if !f.exists {
            return None;
        }
        Some(
            f.rrsets
                .map(|rr| {
                    rr.a()
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::A(a) => Some(a.0),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    pub(super) fn host_addrs(&self, endpoint: &str) -> Vec<Ipv4Addr> {
        let r = self.world.region(REGION).unwrap();
        let e = &r.endpoints[endpoint];
        let vpc = &r.vpcs[&e.vpc_id];
        let mut v: Vec<Ipv4Addr> = e
            .network_interface_ids
            .iter()
            .map(|n| crate::addressing::host_addr(vpc, r.network_interfaces[n].private_ip).unwrap())
            .collect();
        v.sort();
        v
    }

    pub(super) fn ec2_endpoint(&mut self, subnets: &[String]) -> crate::model::VpcEndpoint {
        let e = self
            .world
            .create_endpoint(
                &consumer(),
                1,
                CreateEndpoint {
                    vpc_id: self.vpc.clone(),
                    service_name: format!("com.amazonaws.{REGION}.ec2"),
                    endpoint_type: Some("Interface".into()),
                    subnet_ids: subnets.to_vec(),
                    ..Default::default()
                },
                false,
            )
            .unwrap();
        self.follow();
        e
    }

    pub(super) fn tick(&mut self) {
        self.world.tick(10_000_000);
        self.follow();
    }
}

#[test]
fn regional_and_zonal_names_answer_host_addresses() {
    let mut f = Fixture::new();
    let subnets = f.subnets.clone();
    let e = f.ec2_endpoint(&subnets);
    let regional = &e.dns_entries[0].dns_name;
    let all = f.host_addrs(&e.id);
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|ip| ip.octets()[0] == 127));
    let mut got = f.a(&View::Public, regional).unwrap();
    got.sort();
    assert_eq!(got, all);
    for zonal in &e.dns_entries[1..3] {
        let got = f.a(&View::Public, &zonal.dns_name).unwrap();
        assert_eq!(got.len(), 1, "{}", zonal.dns_name);
        assert!(all.contains(&got[0]));
    }
    // Public names are public: every VPC's resolver answers them too.
    assert!(f.a(&f.view(&f.other_vpc), regional).is_some());
}

#[test]
fn private_names_only_inside_their_vpc_and_only_when_available() {
    let mut f = Fixture::new();
    let subnets = f.subnets.clone();
    let e = f.ec2_endpoint(&subnets);
    let private = "ec2.ap-northeast-1.amazonaws.com";
    assert_eq!(e.state.as_str(), "pending");
    assert!(f.a(&f.view(&f.vpc), private).is_none(), "not before available");
    f.tick();
    assert_eq!(f.a(&f.view(&f.vpc), private).unwrap(), f.host_addrs(&e.id));
    assert!(f.a(&f.view(&f.other_vpc), private).is_none());
    assert!(f.index.lookup(&View::Public, private).is_none(), "not ours in public");
    // A name below the private zone is NXDOMAIN there.
    assert!(!f.index.lookup(&f.view(&f.vpc), "x.ec2.ap-northeast-1.amazonaws.com").unwrap().exists);

    // Without DNS hostnames the private name goes away.
    let vpc = f.vpc.clone();
    f.world.modify_vpc_attribute(&consumer(), &vpc, None, Some(false)).unwrap();
    f.follow();
    assert!(f.a(&f.view(&f.vpc), private).is_none());
    f.world.modify_vpc_attribute(&consumer(), &vpc, None, Some(true)).unwrap();
    f.follow();
    assert!(f.a(&f.view(&f.vpc), private).is_some());

    // Deleting removes every name at once.
    f.world.delete_endpoints(&consumer(), 2, std::slice::from_ref(&e.id));
    f.follow();
    assert!(f.a(&f.view(&f.vpc), private).is_none());
    assert!(f.a(&View::Public, &e.dns_entries[0].dns_name).is_none());
    f.tick();
    f.tick();
    assert_eq!(f.index.counts(None), 0);
    assert_eq!(f.index.counts(Some(&VpcKey { region: REGION.into(), vpc_id: f.vpc.clone() })), 0);
}

#[test]
fn subnet_changes_move_the_zonal_names() {
    let mut f = Fixture::new();
    let first = vec![f.subnets[0].clone()];
    let e = f.ec2_endpoint(&first);
    let zonal_a = e.dns_entries[1].dns_name.clone();
    assert!(f.a(&View::Public, &zonal_a).is_some());
    let req = crate::model::endpoint::ModifyEndpoint {
        add_subnet_ids: vec![f.subnets[1].clone()],
        remove_subnet_ids: first,
        ..Default::default()
    };
    f.world.modify_endpoint(&consumer(), &e.id, req, false).unwrap();
    f.follow();
    assert!(f.a(&View::Public, &zonal_a).is_none());
    let zonal_c = zonal_a.replace("ap-northeast-1a", "ap-northeast-1c");
    assert_eq!(f.a(&View::Public, &zonal_c).unwrap(), f.host_addrs(&e.id));
    assert_eq!(f.a(&View::Public, &e.dns_entries[0].dns_name).unwrap(), f.host_addrs(&e.id));
}

/// A custom service with acceptance required, allowed for the consumer.
pub(super) fn custom_service(f: &mut Fixture) -> (String, String) {
    let p = provider();
    let w = &mut f.world;
    let vpc = w.create_vpc(&p, 0, "10.0.0.0/16", None, Tags::new()).unwrap();
    let s1 = w.create_subnet(&p, &vpc.id, "10.0.0.0/20", Some("ap-northeast-1a"), Tags::new()).unwrap();
    let lb = w
        .create_load_balancer(
            &p,
            0,
            CreateLoadBalancer {
                name: "web".into(),
                subnets: vec![(s1.id.clone(), None)],
                scheme: Some("internal".into()),
                lb_type: Some("network".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let svc = w
        .create_service(
            &p,
            0,
            CreateService {
                acceptance_required: Some(true),
                network_load_balancer_arns: vec![lb.arn.clone()],
                ..Default::default()
            },
            false,
        )
        .unwrap();
    w.modify_service_permissions(&p, &svc.id, &["arn:aws:iam::222222222222:root".into()], &[], false).unwrap();
    f.tick();
    (svc.id, svc.name)
}

#[test]
fn pending_acceptance_has_names_and_reject_removes_them() {
    let mut f = Fixture::new();
    let (svc, name) = custom_service(&mut f);
    let e = f
        .world
        .create_endpoint(
            &consumer(),
            1,
            CreateEndpoint {
                vpc_id: f.vpc.clone(),
                service_name: name,
                endpoint_type: Some("Interface".into()),
                subnet_ids: vec![f.subnets[0].clone()],
                ..Default::default()
            },
            false,
        )
        .unwrap();
    f.follow();
    assert_eq!(e.state.as_str(), "pendingAcceptance");
    let regional = e.dns_entries[0].dns_name.clone();
    assert_eq!(f.a(&View::Public, &regional).unwrap(), f.host_addrs(&e.id));
    f.world.reject_connections(&provider(), &svc, std::slice::from_ref(&e.id), false).unwrap();
    f.follow();
    assert!(f.a(&View::Public, &regional).is_none());
}

#[test]
fn published_txt_records_are_served_and_withdrawn() {
    let mut f = Fixture::new();
    f.world.publish_txt("_abc.Example.com.", "vpce:123");
    f.follow();
    let found = f.index.lookup(&View::Public, "_abc.example.com").unwrap();
    assert_eq!(found.rrsets.unwrap().txt().len(), 1);
    assert!(!f.index.lookup(&View::Public, "other.example.com").unwrap().exists);
    f.world.unpublish_txt("_abc.example.com", None);
    f.follow();
    assert!(f.index.lookup(&View::Public, "_abc.example.com").is_none());
}

pub(super) fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Runs one packet through the handler as the server would; `None` when the
/// packet does not decode (the server answers those itself).
pub(super) fn ask(rt: &tokio::runtime::Runtime, handler: &Handler, packet: Vec<u8>) -> Option<Message> {
    let bytes = super::probe::answer(rt, handler, packet)?;
    Some(Message::from_vec(&bytes).expect("responses decode"))
}

pub(super) fn query(name: &str, qtype: RecordType, edns: bool) -> Vec<u8> {
    let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if edns {
        m.set_edns(Edns::new());
    }
    m.to_vec().unwrap()
}

fn handler_fixture() -> (Fixture, Handler, crate::model::VpcEndpoint) {
    let mut f = Fixture::new();
    let subnets = f.subnets.clone();
    let e = f.ec2_endpoint(&subnets);
    f.tick();
    let index = Arc::new(RwLock::new(std::mem::take(&mut f.index)));
    let handler = Handler::new(index, View::Public, None);
    (f, handler, e)
}

#[test]
fn handler_answers_nodata_nxdomain_and_errors() {
    let (_f, h, e) = handler_fixture();
    let rt = rt();
    let regional = format!("{}.", e.dns_entries[0].dns_name);
    let m = ask(&rt, &h, query(&regional, RecordType::A, true)).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(m.metadata.id, 4242);
    assert_eq!(m.answers.len(), 2);
    assert!(m.answers.iter().all(|r| r.ttl == 60));

    let m = ask(&rt, &h, query(&regional.to_uppercase(), RecordType::A, false)).unwrap();
    assert_eq!(m.answers.len(), 2, "names are case-insensitive");

    let m = ask(&rt, &h, query(&regional, RecordType::AAAA, false)).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);

    let m = ask(&rt, &h, query("nothing.vpce.amazonaws.com.", RecordType::A, false)).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);

    let m = ask(&rt, &h, query("example.org.", RecordType::A, false)).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(!m.metadata.authoritative);

    let m = ask(&rt, &h, query("vpce.amazonaws.com.", RecordType::SOA, false)).unwrap();
    assert_eq!(m.answers.len(), 1);

    let mut two = Message::new(7, MessageType::Query, OpCode::Query);
    two.add_query(Query::query(Name::from_ascii("a.vpce.amazonaws.com.").unwrap(), RecordType::A));
    two.add_query(Query::query(Name::from_ascii("b.vpce.amazonaws.com.").unwrap(), RecordType::A));
    let m = ask(&rt, &h, two.to_vec().unwrap()).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);

    let mut update = Message::new(8, MessageType::Query, OpCode::Update);
    update.add_query(Query::query(Name::from_ascii("vpce.amazonaws.com.").unwrap(), RecordType::SOA));
    let m = ask(&rt, &h, update.to_vec().unwrap()).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
}

#[test]
fn random_and_mutated_packets_never_panic() {
    let (_f, h, e) = handler_fixture();
    let rt = rt();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let valid: Vec<Vec<u8>> = [RecordType::A, RecordType::AAAA, RecordType::TXT, RecordType::ANY, RecordType::SOA]
        .into_iter()
        .flat_map(|t| {
            [
                query(&format!("{}.", e.dns_entries[0].dns_name), t, true),
                query("x.example.com.", t, false),
                query("vpce.amazonaws.com.", t, true),
            ]
        })
        .collect();
    let mut answered = 0;
    for i in 0..20_000 {
        let packet = if i % 4 == 0 {
            let len = rng.random_range(0..600);
            (0..len).map(|_| rng.random()).collect()
        } else {
            let mut p = valid[rng.random_range(0..valid.len())].clone();
            for _ in 0..rng.random_range(1..6) {
                match rng.random_range(0..4) {
                    0 if !p.is_empty() => {
                        let at = rng.random_range(0..p.len());
                        p[at] = rng.random();
                    }
                    1 if !p.is_empty() => p.truncate(rng.random_range(0..p.len())),
                    2 => {
                        let at = rng.random_range(0..=p.len());
                        p.insert(at, rng.random());
                    }
                    _ => p.extend((0..rng.random_range(0..40)).map(|_| rng.random::<u8>())),
                }
            }
            p
        };
        if ask(&rt, &h, packet).is_some() {
            answered += 1;
        }
    }
    assert!(answered > 1000, "mutations should still decode often ({answered})");
}

#[test]
fn a_vpc_resolver_answers_as_a_recursive_resolver() {
    let mut f = Fixture::new();
    let subnets = f.subnets.clone();
    let e = f.ec2_endpoint(&subnets);
    f.tick();
    let view = f.view(&f.vpc);
    let index = Arc::new(RwLock::new(std::mem::take(&mut f.index)));
    let rt = rt();
    let regional = format!("{}.", e.dns_entries[0].dns_name);
    // AWS's resolver at base + 2: `flags: qr rd ra`, no `aa`.
    let m = ask(&rt, &Handler::new(index.clone(), view, None), query(&regional, RecordType::A, true)).unwrap();
    assert_eq!(m.answers.len(), 2);
    assert!(m.metadata.recursion_available && !m.metadata.authoritative);
    // The public view stays the zone's authority.
    let m = ask(&rt, &Handler::new(index, View::Public, None), query(&regional, RecordType::A, true)).unwrap();
    assert!(m.metadata.authoritative && !m.metadata.recursion_available);
}

#[test]
fn an_active_load_balancer_name_answers_its_nodes_until_it_goes() {
    let mut f = Fixture::new();
    let (svc, _) = custom_service(&mut f);
    let (dns_name, arn, nodes) = {
        let r = f.world.region(REGION).unwrap();
        let lb = r.load_balancers.values().next().unwrap();
        assert_eq!(lb.state, "active");
        let vpc = &r.vpcs[&lb.vpc_id];
        let nodes: Vec<Ipv4Addr> =
            lb.nodes.iter().map(|n| crate::addressing::host_addr(vpc, n.private_ip).unwrap()).collect();
        (lb.dns_name.clone(), lb.arn.clone(), nodes)
    };
    assert!(dns_name.ends_with(".elb.ap-northeast-1.amazonaws.com"), "{dns_name}");
    assert_eq!(f.a(&View::Public, &dns_name), Some(nodes.clone()));
    assert_eq!(f.a(&f.view(&f.vpc), &dns_name), Some(nodes), "VPC resolvers answer public names");
    // Another name in the zone does not exist.
    assert_eq!(f.a(&View::Public, &format!("x{dns_name}")), None);
    let p = provider();
    assert!(f.world.delete_services(&p, 20_000_000, std::slice::from_ref(&svc)).is_empty());
    f.tick();
    f.world.delete_load_balancer(&p, &arn).unwrap();
    f.follow();
    assert_eq!(f.a(&View::Public, &dns_name), None);
    assert!(f.index.lookup(&View::Public, &dns_name).is_none(), "no NLB left: the zone is gone too");
}

/// The resolvers are reconciled with the index only when it installed a
/// VPC update: endpoint batches (most of them) must leave the count alone,
/// and a new or deleted VPC must move it.
#[test]
fn only_vpc_updates_ask_for_the_resolvers_to_be_reconciled() {
    let mut f = Fixture::new();
    let before = f.index.vpc_updates();
    let subnets = f.subnets.clone();
    f.ec2_endpoint(&subnets);
    f.tick();
    assert_eq!(f.index.vpc_updates(), before, "endpoint batches touched no VPC");
    let c = consumer();
    let vpc = f.world.create_vpc(&c, 2, "10.26.0.0/16", None, Tags::new()).unwrap();
    f.follow();
    let created = f.index.vpc_updates();
    assert!(created > before);
    assert!(f.index.vpcs().keys().any(|k| k.vpc_id == vpc.id));
    f.world.delete_vpc(&c, &vpc.id).unwrap();
    f.follow();
    assert!(f.index.vpc_updates() > created);
    assert!(!f.index.vpcs().keys().any(|k| k.vpc_id == vpc.id));
}
