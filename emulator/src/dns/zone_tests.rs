//! Hosted zones in the DNS views: which view answers what, precedence of
//! private zones, negative answers, aliases following their targets, and
//! CNAMEs chased. Every step goes through the model's events and checks
//! that the followed index equals one read from the whole world.

use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, RData, RecordType};

use super::handler::Handler;
use super::index::View;
use super::tests::{ask, consumer, provider, query, rt, Fixture, REGION};
use crate::model::endpoint::ModifyEndpoint;
use crate::model::hosted_zone::{NewZone, ZoneVpc};
use crate::model::record_set::{Action, AliasTarget, RecordChange, RecordSet};
use crate::model::{Caller, Tags};

/// A zone of `caller`'s; private when `vpc` is given.
fn zone(f: &mut Fixture, caller: &Caller, name: &str, vpc: Option<&str>) -> String {
    let req = NewZone {
        name: name.into(),
        caller_reference: format!("{name}-{}", f.world.hosted_zones().count()),
        vpc: vpc.map(|v| ZoneVpc { region: REGION.into(), vpc_id: v.into() }),
        ..NewZone::default()
    };
    let (z, _) = f.world.create_hosted_zone(caller, req, 0).unwrap();
    f.follow();
    z.id
}

fn change(f: &mut Fixture, caller: &Caller, zone: &str, action: Action, record: RecordSet) {
    let changes = vec![RecordChange { action, record }];
    f.world.change_record_sets(caller, zone, changes, None, 0).unwrap();
    f.follow();
}

fn plain(name: &str, rtype: &str, ttl: u64, values: &[&str]) -> RecordSet {
    RecordSet::plain(name, rtype, ttl, values.iter().map(|v| v.to_string()).collect())
}

fn alias(name: &str, zone_id: &str, target: &str) -> RecordSet {
    RecordSet {
        alias: Some(AliasTarget {
            hosted_zone_id: zone_id.into(),
            dns_name: target.into(),
            evaluate_target_health: false,
        }),
        ttl: None,
        values: Vec::new(),
        ..RecordSet::plain(name, "A", 0, Vec::new())
    }
}

/// The response code and the answer as `type data ttl` lines.
fn answer(f: &Fixture, view: &View, name: &str, qtype: RecordType) -> (ResponseCode, Vec<String>, bool) {
    let qname = Name::from_ascii(format!("{name}.")).unwrap();
    let Some(a) = f.index.answer(view, &qname, name, qtype) else {
        return (ResponseCode::Refused, Vec::new(), false);
    };
    let lines = a
        .shared
        .iter()
        .flat_map(|(rr, p)| super::answer::records(rr, *p))
        .chain(a.owned.iter())
        .map(|r| format!("{} {} {} {}", r.name, r.record_type(), r.data, r.ttl))
        .collect();
    (a.code, lines, a.soa.is_some())
}

fn addrs(f: &Fixture, view: &View, name: &str) -> Vec<Ipv4Addr> {
    let qname = Name::from_ascii(format!("{name}.")).unwrap();
    let Some(a) = f.index.answer(view, &qname, name, RecordType::A) else { return Vec::new() };
    let mut out: Vec<Ipv4Addr> = a
        .shared
        .iter()
        .flat_map(|(rr, p)| super::answer::records(rr, *p))
        .chain(a.owned.iter())
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_private_zone_answers_only_in_its_vpcs_and_a_public_zone_everywhere() {
    let mut f = Fixture::new();
    let (vpc, other) = (f.vpc.clone(), f.other_vpc.clone());
    let private = zone(&mut f, &consumer(), "internal.example.com", Some(&vpc));
    change(&mut f, &consumer(), &private, Action::Create, plain("db.internal.example.com", "A", 300, &["10.24.20.69"]));
    let public = zone(&mut f, &provider(), "example.org", None);
    change(&mut f, &provider(), &public, Action::Create, plain("www.example.org", "A", 120, &["192.0.2.10"]));

    // Inside the VPC, an address of the VPC answers as its host address.
    let (code, lines, _) = answer(&f, &f.view(&vpc), "db.internal.example.com", RecordType::A);
    assert_eq!(code, ResponseCode::NoError);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("db.internal.example.com. A 127.") && lines[0].ends_with(".20.69 300"), "{lines:?}");
    assert_eq!(answer(&f, &f.view(&other), "db.internal.example.com", RecordType::A).0, ResponseCode::Refused);
    assert_eq!(answer(&f, &View::Public, "db.internal.example.com", RecordType::A).0, ResponseCode::Refused);

    for view in [View::Public, f.view(&vpc), f.view(&other)] {
        assert_eq!(addrs(&f, &view, "www.example.org"), vec![Ipv4Addr::new(192, 0, 2, 10)], "{view:?}");
    }

    // Associating the other VPC makes the zone answer there too;
    // disassociating takes it back.
    let zv = ZoneVpc { region: REGION.into(), vpc_id: other.clone() };
    f.world.associate_vpc(&consumer(), &private, zv.clone(), None, 0).unwrap();
    f.follow();
    assert_eq!(answer(&f, &f.view(&other), "db.internal.example.com", RecordType::A).1.len(), 1);
    f.world.disassociate_vpc(&consumer(), &private, zv, None, 0).unwrap();
    f.follow();
    assert_eq!(answer(&f, &f.view(&other), "db.internal.example.com", RecordType::A).0, ResponseCode::Refused);

    // Without DNS hostnames a VPC's resolver answers no private zone.
    f.world.modify_vpc_attribute(&consumer(), &vpc, None, Some(false)).unwrap();
    f.follow();
    assert_eq!(answer(&f, &f.view(&vpc), "db.internal.example.com", RecordType::A).0, ResponseCode::Refused);
    f.world.modify_vpc_attribute(&consumer(), &vpc, None, Some(true)).unwrap();
    f.follow();
    assert_eq!(answer(&f, &f.view(&vpc), "db.internal.example.com", RecordType::A).0, ResponseCode::NoError);

    // Deleting records and the zone takes everything back.
    change(&mut f, &consumer(), &private, Action::Delete, plain("db.internal.example.com", "A", 300, &["10.24.20.69"]));
    f.world.delete_hosted_zone(&consumer(), &private, 0).unwrap();
    f.follow();
    assert_eq!(answer(&f, &f.view(&vpc), "db.internal.example.com", RecordType::A).0, ResponseCode::Refused);
}

#[test]
fn another_accounts_vpc_answers_once_associated() {
    let mut f = Fixture::new();
    let vpc = f.vpc.clone();
    let third = Caller::root("333333333333", REGION);
    let theirs = f.world.create_vpc(&third, 0, "10.30.0.0/16", None, Tags::new()).unwrap();
    f.world.modify_vpc_attribute(&third, &theirs.id, None, Some(true)).unwrap();
    f.follow();
    let z = zone(&mut f, &consumer(), "internal.example.com", Some(&vpc));
    change(&mut f, &consumer(), &z, Action::Create, plain("api.internal.example.com", "TXT", 60, &["\"hello\""]));
    let zv = ZoneVpc { region: REGION.into(), vpc_id: theirs.id.clone() };
    let refused = f.world.associate_vpc(&third, &z, zv.clone(), None, 0).unwrap_err();
    assert_eq!(refused.code, "NotAuthorizedException");
    f.follow();
    let view = f.view(&theirs.id);
    assert_eq!(answer(&f, &view, "api.internal.example.com", RecordType::TXT).0, ResponseCode::Refused);
    f.world.create_vpc_association_authorization(&consumer(), &z, zv.clone()).unwrap();
    f.world.associate_vpc(&third, &z, zv, None, 0).unwrap();
    f.follow();
    let (code, lines, _) = answer(&f, &view, "api.internal.example.com", RecordType::TXT);
    assert_eq!((code, lines.len()), (ResponseCode::NoError, 1));
}

#[test]
fn private_zones_shadow_public_names_and_the_closest_zone_wins() {
    let mut f = Fixture::new();
    let subnets = f.subnets.clone();
    let e = f.ec2_endpoint(&subnets);
    f.tick();
    let (vpc, other) = (f.vpc.clone(), f.other_vpc.clone());
    let regional = e.dns_entries[0].dns_name.clone();
    let z = zone(&mut f, &consumer(), "vpce.amazonaws.com", Some(&other));
    change(&mut f, &consumer(), &z, Action::Create, plain("mine.vpce.amazonaws.com", "A", 60, &["10.25.0.9"]));
    // Public everywhere else, NXDOMAIN (with the zone's SOA) where the
    // private zone is associated.
    assert_eq!(addrs(&f, &f.view(&vpc), &regional), f.host_addrs(&e.id));
    assert_eq!(addrs(&f, &View::Public, &regional), f.host_addrs(&e.id));
    let (code, lines, soa) = answer(&f, &f.view(&other), &regional, RecordType::A);
    assert_eq!((code, lines.len(), soa), (ResponseCode::NXDomain, 0, true));
    assert_eq!(addrs(&f, &f.view(&other), "mine.vpce.amazonaws.com").len(), 1);

    // The endpoint's private DNS name is the closest zone inside a private
    // `amazonaws.com`; other names of that zone are the zone's.
    let wide = zone(&mut f, &consumer(), "amazonaws.com", Some(&vpc));
    let private_name = "ec2.ap-northeast-1.amazonaws.com";
    assert_eq!(addrs(&f, &f.view(&vpc), private_name), f.host_addrs(&e.id));
    assert_eq!(answer(&f, &f.view(&vpc), "s3.ap-northeast-1.amazonaws.com", RecordType::A).0, ResponseCode::NXDomain);
    assert_eq!(answer(&f, &f.view(&vpc), &regional, RecordType::A).0, ResponseCode::NXDomain, "shadowed");
    change(
        &mut f,
        &consumer(),
        &wide,
        Action::Create,
        plain("x.ec2.ap-northeast-1.amazonaws.com", "A", 60, &["10.24.0.7"]),
    );
    assert_eq!(
        answer(&f, &f.view(&vpc), "x.ec2.ap-northeast-1.amazonaws.com", RecordType::A).0,
        ResponseCode::NXDomain,
        "the endpoint's zone is closer than the hosted zone"
    );

    // A hosted zone of the private name's own: the endpoint's addresses
    // answer A, the zone its other types.
    let same = zone(&mut f, &consumer(), private_name, Some(&vpc));
    change(&mut f, &consumer(), &same, Action::Create, plain(private_name, "A", 60, &["10.24.0.8"]));
    change(&mut f, &consumer(), &same, Action::Create, plain(private_name, "TXT", 60, &["\"zone\""]));
    assert_eq!(addrs(&f, &f.view(&vpc), private_name), f.host_addrs(&e.id));
    assert_eq!(answer(&f, &f.view(&vpc), private_name, RecordType::TXT).1.len(), 1);
}

#[test]
fn missing_names_are_nxdomain_and_missing_types_nodata_with_the_zones_soa() {
    let mut f = Fixture::new();
    let vpc = f.vpc.clone();
    let z = zone(&mut f, &consumer(), "internal.example.com", Some(&vpc));
    change(&mut f, &consumer(), &z, Action::Create, plain("a.b.internal.example.com", "A", 60, &["10.24.0.5"]));
    let view = f.view(&vpc);
    let (code, lines, soa) = answer(&f, &view, "nothing.internal.example.com", RecordType::A);
    assert_eq!((code, lines.len(), soa), (ResponseCode::NXDomain, 0, true));
    let (code, lines, soa) = answer(&f, &view, "a.b.internal.example.com", RecordType::TXT);
    assert_eq!((code, lines.len(), soa), (ResponseCode::NoError, 0, true), "NODATA");
    assert_eq!(
        answer(&f, &view, "b.internal.example.com", RecordType::A).0,
        ResponseCode::NoError,
        "empty non-terminal"
    );
    let (code, lines, _) = answer(&f, &view, "internal.example.com", RecordType::SOA);
    assert_eq!(code, ResponseCode::NoError);
    assert!(lines[0].contains("awsdns-hostmaster.amazon.com.") && lines[0].ends_with(" 900"), "{lines:?}");
    assert_eq!(answer(&f, &view, "internal.example.com", RecordType::NS).1.len(), 4);

    // Through the handler: the SOA in the authority section, its TTL capped.
    let index = Arc::new(RwLock::new(std::mem::take(&mut f.index)));
    let h = Handler::new(index, view, None);
    let m = ask(&rt(), &h, query("nothing.internal.example.com.", RecordType::A, true)).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities.len(), 1);
    assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    assert!(m.authorities[0].ttl <= 60);
}

#[test]
fn record_types_answer_with_their_ttls() {
    let mut f = Fixture::new();
    let z = zone(&mut f, &provider(), "example.net", None);
    let p = provider();
    change(&mut f, &p, &z, Action::Create, plain("example.net", "MX", 3600, &["10 mail.example.net"]));
    change(&mut f, &p, &z, Action::Create, plain("_sip._tcp.example.net", "SRV", 60, &["1 10 5060 sip.example.net"]));
    change(&mut f, &p, &z, Action::Create, plain("v6.example.net", "AAAA", 60, &["fd00::1"]));
    change(&mut f, &p, &z, Action::Create, plain("*.wild.example.net", "TXT", 30, &["\"any\""]));
    let (_, mx, _) = answer(&f, &View::Public, "example.net", RecordType::MX);
    assert_eq!(mx, vec!["example.net. MX 10 mail.example.net. 3600"]);
    let (_, srv, _) = answer(&f, &View::Public, "_sip._tcp.example.net", RecordType::SRV);
    assert_eq!(srv, vec!["_sip._tcp.example.net. SRV 1 10 5060 sip.example.net. 60"]);
    assert_eq!(answer(&f, &View::Public, "v6.example.net", RecordType::AAAA).1.len(), 1);
    let (_, wild, _) = answer(&f, &View::Public, "q.wild.example.net", RecordType::TXT);
    assert_eq!(wild.len(), 1);
    assert!(wild[0].starts_with("q.wild.example.net. TXT"), "{wild:?}");
}

#[test]
fn an_alias_follows_its_endpoint_and_a_cname_is_chased() {
    let mut f = Fixture::new();
    let first = vec![f.subnets[0].clone()];
    let e = f.ec2_endpoint(&first);
    f.tick();
    let vpc = f.vpc.clone();
    let view = f.view(&vpc);
    let z = zone(&mut f, &consumer(), "internal.example.com", Some(&vpc));
    let regional = e.dns_entries[0].dns_name.clone();
    let vpce_zone = e.dns_entries[0].hosted_zone_id.clone();
    change(&mut f, &consumer(), &z, Action::Create, alias("api.internal.example.com", &vpce_zone, &regional));
    assert_eq!(addrs(&f, &view, "api.internal.example.com"), f.host_addrs(&e.id));
    let (_, lines, _) = answer(&f, &view, "api.internal.example.com", RecordType::A);
    assert!(lines.iter().all(|l| l.starts_with("api.internal.example.com. A ") && l.ends_with(" 60")), "{lines:?}");

    // A CNAME to the alias, and an alias to a record of the same zone.
    change(
        &mut f,
        &consumer(),
        &z,
        Action::Create,
        plain("www.internal.example.com", "CNAME", 300, &["api.internal.example.com"]),
    );
    change(&mut f, &consumer(), &z, Action::Create, alias("web.internal.example.com", &z, "api.internal.example.com"));
    let (code, lines, _) = answer(&f, &view, "www.internal.example.com", RecordType::A);
    assert_eq!(code, ResponseCode::NoError);
    assert_eq!(lines[0], "www.internal.example.com. CNAME api.internal.example.com. 300");
    assert_eq!(lines.len(), 2);
    assert_eq!(addrs(&f, &view, "web.internal.example.com"), f.host_addrs(&e.id));

    // A subnet added: its address appears behind the alias.
    let req = ModifyEndpoint { add_subnet_ids: vec![f.subnets[1].clone()], ..Default::default() };
    f.world.modify_endpoint(&consumer(), &e.id, req, false).unwrap();
    f.follow();
    assert_eq!(f.host_addrs(&e.id).len(), 2);
    assert_eq!(addrs(&f, &view, "api.internal.example.com"), f.host_addrs(&e.id));
    assert_eq!(addrs(&f, &view, "web.internal.example.com"), f.host_addrs(&e.id));

    // The endpoint deleted: the alias answers nothing, NOERROR.
    f.world.delete_endpoints(&consumer(), 2, std::slice::from_ref(&e.id));
    f.follow();
    let (code, lines, soa) = answer(&f, &view, "api.internal.example.com", RecordType::A);
    assert_eq!((code, lines.len(), soa), (ResponseCode::NoError, 0, true));
    let (code, lines, _) = answer(&f, &view, "www.internal.example.com", RecordType::A);
    assert_eq!((code, lines.len()), (ResponseCode::NoError, 1), "the CNAME alone");
}

#[test]
fn a_cname_loop_ends() {
    let mut f = Fixture::new();
    let z = zone(&mut f, &provider(), "loop.example", None);
    change(&mut f, &provider(), &z, Action::Create, plain("a.loop.example", "CNAME", 60, &["b.loop.example"]));
    change(&mut f, &provider(), &z, Action::Create, plain("b.loop.example", "CNAME", 60, &["a.loop.example"]));
    let (code, lines, _) = answer(&f, &View::Public, "a.loop.example", RecordType::A);
    assert_eq!(code, ResponseCode::NoError);
    assert_eq!(lines, vec!["a.loop.example. CNAME b.loop.example. 60", "b.loop.example. CNAME a.loop.example. 60"]);
    let (_, lines, _) = answer(&f, &View::Public, "a.loop.example", RecordType::CNAME);
    assert_eq!(lines, vec!["a.loop.example. CNAME b.loop.example. 60"]);
}

#[test]
fn an_alias_to_a_load_balancer_answers_its_nodes() {
    let mut f = Fixture::new();
    let (svc, _) = super::tests::custom_service(&mut f);
    let (dns_name, nodes) = {
        let r = f.world.region(REGION).unwrap();
        let lb = r.load_balancers.values().next().unwrap();
        (lb.dns_name.clone(), f.a(&View::Public, &lb.dns_name).unwrap())
    };
    let vpc = f.vpc.clone();
    let view = f.view(&vpc);
    let z = zone(&mut f, &consumer(), "internal.example.com", Some(&vpc));
    let nlb_zone = crate::model::region::nlb_hosted_zone(REGION);
    change(
        &mut f,
        &consumer(),
        &z,
        Action::Create,
        alias("lb.internal.example.com", &nlb_zone, &format!("dualstack.{dns_name}")),
    );
    let mut want = nodes;
    want.sort();
    assert_eq!(addrs(&f, &view, "lb.internal.example.com"), want);
    // The load balancer gone, the alias answers nothing.
    let p = provider();
    assert!(f.world.delete_services(&p, 20_000_000, std::slice::from_ref(&svc)).is_empty());
    f.tick();
    let arn = f.world.region(REGION).unwrap().load_balancers.keys().next().unwrap().clone();
    f.world.delete_load_balancer(&p, &arn).unwrap();
    f.follow();
    let (code, lines, _) = answer(&f, &view, "lb.internal.example.com", RecordType::A);
    assert_eq!((code, lines.len()), (ResponseCode::NoError, 0));
}
