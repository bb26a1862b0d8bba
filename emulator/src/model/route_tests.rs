//! Route tables and gateway endpoints in the model: the main table of every
//! VPC (also of VPCs written before route tables existed), associations,
//! routes and the routes gateway endpoints put in tables.

use super::endpoint::{CreateEndpoint, ModifyEndpoint};
use super::route::{Destination, TargetSpec};
use super::tests::consumer;
use super::*;

fn vpc_with_subnet(w: &mut World) -> (Vpc, Subnet) {
    let c = consumer();
    let vpc = w.create_vpc(&c, 0, "10.9.0.0/16", None, Tags::new()).unwrap();
    let subnet = w.create_subnet(&c, &vpc.id, "10.9.1.0/24", Some("ap-northeast-1a"), Tags::new()).unwrap();
    (vpc, subnet)
}

fn main_of(w: &World, vpc: &str) -> RouteTable {
    let r = w.region("ap-northeast-1").unwrap();
    let mains: Vec<&RouteTable> = r.route_tables_of(vpc).filter(|t| t.is_main()).collect();
    assert_eq!(mains.len(), 1, "one main table for {vpc}");
    mains[0].clone()
}

#[test]
fn a_new_vpc_has_a_main_table_with_its_local_route() {
    let mut w = World::default();
    let (vpc, _) = vpc_with_subnet(&mut w);
    let t = main_of(&w, &vpc.id);
    assert_eq!(t.routes.len(), 1);
    assert_eq!(t.routes[0].destination, vpc.cidr);
    assert_eq!(t.routes[0].target, route_table::RouteTarget::Local);
    w.delete_subnet(&consumer(), &w.describe_subnets(&consumer(), &[], &[]).unwrap()[0].subnet.id.clone()).unwrap();
    w.delete_vpc(&consumer(), &vpc.id).unwrap();
    assert!(w.region("ap-northeast-1").unwrap().route_tables.is_empty(), "the main table goes with its VPC");
}

/// A world as releases before route tables wrote it: no `route_tables`.
fn without_route_tables(w: &World) -> serde_json::Value {
    let mut dump = w.to_json();
    for r in dump["regions"].as_object_mut().unwrap().values_mut() {
        r.as_object_mut().unwrap().remove("route_tables");
    }
    dump
}

#[test]
fn vpcs_of_older_worlds_get_the_same_main_table_on_every_load() {
    let mut w = World::default();
    let (vpc, _) = vpc_with_subnet(&mut w);
    let old = without_route_tables(&w);
    let a = World::from_json(old.clone(), Settings::default()).unwrap();
    let b = World::from_json(old, Settings::default()).unwrap();
    let (ta, tb) = (main_of(&a, &vpc.id), main_of(&b, &vpc.id));
    assert_eq!(ta, tb, "derived ids are stable");
    assert!(ids::is_well_formed(&ta.id, "rtb"), "{}", ta.id);
    assert_eq!(ta.routes[0].destination, vpc.cidr);
}

#[test]
fn journal_records_of_older_releases_derive_and_forget_main_tables() {
    let mut w = World::default();
    let c = consumer();
    let vpc = w.create_vpc(&c, 0, "10.9.0.0/16", None, Tags::new()).unwrap();
    let written = Effect {
        region: "ap-northeast-1".into(),
        table: "vpcs".into(),
        key: vpc.id.clone().into(),
        value: Some(serde_json::to_value(&vpc).unwrap()),
    };
    let mut loaded = World::default();
    loaded.apply_effects(std::slice::from_ref(&written)).unwrap();
    let derived = main_of(&loaded, &vpc.id);
    assert_eq!(derived.id, ids::derived_id("rtb", &vpc.id));
    // Nothing of it is a change of its own: a later change lists only itself.
    assert!(loaded.changes().is_empty());
    let removed = Effect { value: None, ..written };
    loaded.apply_effects(&[removed]).unwrap();
    assert!(loaded.region("ap-northeast-1").unwrap().route_tables.is_empty());
}

#[test]
fn associations_routes_and_their_errors() {
    let mut w = World::default();
    let c = consumer();
    let (vpc, subnet) = vpc_with_subnet(&mut w);
    let t = w.create_route_table(&c, &vpc.id, Tags::new(), None, false).unwrap();
    let assoc = w.associate_route_table(&c, &t.id, Some(&subnet.id), None, false).unwrap();
    let err = w.associate_route_table(&c, &main_of(&w, &vpc.id).id, Some(&subnet.id), None, false).unwrap_err();
    assert_eq!(err.code, "Resource.AlreadyAssociated");
    assert_eq!(w.delete_route_table(&c, &t.id, false).unwrap_err().code, "DependencyViolation");
    let main_assoc = main_of(&w, &vpc.id).associations[0].id.clone();
    assert_eq!(w.disassociate_route_table(&c, &main_assoc, false).unwrap_err().code, "InvalidParameterValue");

    let dest = Destination::Cidr("192.168.0.0/16".into());
    let no_target = TargetSpec::default();
    assert_eq!(w.create_route(&c, &t.id, &dest, &no_target, false).unwrap_err().code, "MissingParameter");
    let igw = TargetSpec { given: vec![("GatewayId", "igw-0123456789abcdef0".into())], local: false };
    assert_eq!(w.create_route(&c, &t.id, &dest, &igw, false).unwrap_err().code, "InvalidGatewayID.NotFound");
    let local = Destination::Cidr(vpc.cidr.to_string());
    assert_eq!(w.delete_route(&c, &t.id, &local, false).unwrap_err().code, "InvalidParameterValue");
    assert_eq!(w.delete_route(&c, &t.id, &dest, false).unwrap_err().code, "InvalidRoute.NotFound");

    // Deleting the subnet takes its association along.
    w.delete_subnet(&c, &subnet.id).unwrap();
    assert!(w.route_table(&c, &t.id).unwrap().associations.is_empty(), "{assoc} is gone");
    w.delete_route_table(&c, &t.id, false).unwrap();
    assert_eq!(w.route_table(&c, &t.id).unwrap_err().code, "InvalidRouteTableID.NotFound");
}

#[test]
fn gateway_endpoint_routes_come_and_go_with_the_endpoint() {
    let mut w = World::default();
    let c = consumer();
    let (vpc, _) = vpc_with_subnet(&mut w);
    let t = w.create_route_table(&c, &vpc.id, Tags::new(), None, false).unwrap();
    let s3 = "com.amazonaws.ap-northeast-1.s3".to_string();
    let req = CreateEndpoint {
        vpc_id: vpc.id.clone(),
        service_name: s3.clone(),
        endpoint_type: Some("Gateway".into()),
        route_table_ids: vec![t.id.clone()],
        ..Default::default()
    };
    let e = w.create_endpoint(&c, 0, req.clone(), false).unwrap();
    assert_eq!(e.state, EndpointState::Available);
    let routes =
        |w: &World| route_table::routes_of(w.region("ap-northeast-1").unwrap(), w.route_table(&c, &t.id).unwrap());
    let pl = prefix_list::of_service("ap-northeast-1", &s3).unwrap().id;
    assert!(routes(&w)
        .iter()
        .any(|r| r.destination_prefix_list.as_deref() == Some(pl.as_str())
            && r.gateway_id.as_deref() == Some(e.id.as_str())));
    // A second S3 endpoint cannot route the same table.
    assert_eq!(w.create_endpoint(&c, 0, req, false).unwrap_err().code, "RouteAlreadyExists");
    let remove = ModifyEndpoint { remove_route_table_ids: vec![t.id.clone()], ..Default::default() };
    w.modify_endpoint(&c, &e.id, remove, false).unwrap();
    assert_eq!(routes(&w).len(), 1, "only the local route is left");
    let add = ModifyEndpoint { add_route_table_ids: vec![t.id.clone()], ..Default::default() };
    w.modify_endpoint(&c, &e.id, add, false).unwrap();
    assert_eq!(routes(&w).len(), 2);
    assert!(w.delete_endpoints(&c, 0, std::slice::from_ref(&e.id)).is_empty());
    assert_eq!(routes(&w).len(), 1, "the route leaves with the endpoint");
}
