//! The rules of the model, one by one, without any I/O.

use super::elb::CreateLoadBalancer;
use super::endpoint::CreateEndpoint;
use super::service::CreateService;
use super::target_group::CreateTargetGroup;
use super::*;

const REGION: &str = "ap-northeast-1";

pub(crate) fn provider() -> Caller {
    Caller::root("111111111111", REGION)
}

pub(crate) fn consumer() -> Caller {
    Caller::root("222222222222", REGION)
}

fn stranger() -> Caller {
    Caller::root("333333333333", REGION)
}

/// A provider's endpoint service on an NLB in two zones, allowed for the
/// consumer, and the consumer's VPC with a subnet in each zone.
pub(crate) struct Seed {
    pub world: World,
    pub service_id: String,
    pub service_name: String,
    pub lb_arn: String,
    pub consumer_vpc: String,
    pub consumer_subnets: Vec<String>,
}

pub(crate) fn seed_with(settings: Settings, acceptance_required: bool) -> Seed {
    let mut w = World::new(settings);
    let p = provider();
    let vpc = w.create_vpc(&p, 0, "10.0.0.0/16", None, Tags::new()).unwrap();
    let s1 = w.create_subnet(&p, &vpc.id, "10.0.0.0/20", Some("ap-northeast-1a"), Tags::new()).unwrap();
    let s2 = w.create_subnet(&p, &vpc.id, "10.0.128.0/20", Some("ap-northeast-1c"), Tags::new()).unwrap();
    let lb = w
        .create_load_balancer(
            &p,
            0,
            CreateLoadBalancer {
                name: "web".into(),
                subnets: vec![(s1.id.clone(), None), (s2.id.clone(), Some("10.0.128.6".parse().unwrap()))],
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
                acceptance_required: Some(acceptance_required),
                network_load_balancer_arns: vec![lb.arn.clone()],
                ..Default::default()
            },
            false,
        )
        .unwrap();
    w.modify_service_permissions(&p, &svc.id, &["arn:aws:iam::222222222222:root".into()], &[], false).unwrap();
    let ready = w.settings().pending_delay_ms + 1;
    w.tick(ready);
    let c = consumer();
    let cvpc = w.create_vpc(&c, 1, "10.24.0.0/16", None, Tags::new()).unwrap();
    let c1 = w.create_subnet(&c, &cvpc.id, "10.24.16.0/20", Some("ap-northeast-1a"), Tags::new()).unwrap();
    let c2 = w.create_subnet(&c, &cvpc.id, "10.24.112.0/20", Some("ap-northeast-1c"), Tags::new()).unwrap();
    w.drain_events();
    Seed {
        world: w,
        service_id: svc.id,
        service_name: svc.name,
        lb_arn: lb.arn,
        consumer_vpc: cvpc.id,
        consumer_subnets: vec![c1.id, c2.id],
    }
}

fn seed() -> Seed {
    seed_with(Settings::default(), true)
}

fn create_endpoint(s: &mut Seed, now: Millis) -> Result<VpcEndpoint> {
    let req = CreateEndpoint {
        vpc_id: s.consumer_vpc.clone(),
        service_name: s.service_name.clone(),
        endpoint_type: Some("Interface".into()),
        subnet_ids: s.consumer_subnets.clone(),
        ..Default::default()
    };
    s.world.create_endpoint(&consumer(), now, req, false)
}

fn state(s: &mut Seed, id: &str) -> EndpointState {
    s.world.describe_endpoints(&consumer(), &[id.to_string()], &[]).unwrap()[0].state
}

#[test]
fn acceptance_flow_passes_through_pending() {
    let mut s = seed();
    let e = create_endpoint(&mut s, 10).unwrap();
    assert_eq!(e.state, EndpointState::PendingAcceptance);
    assert_eq!(e.network_interface_ids.len(), 2);
    let conns = s.world.describe_connections(&provider(), &[]).unwrap();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].endpoint.state, EndpointState::PendingAcceptance);
    assert_eq!(conns[0].endpoint.owner, "222222222222");

    let failed =
        s.world.accept_connections(&provider(), 20, &s.service_id, std::slice::from_ref(&e.id), false).unwrap();
    assert!(failed.is_empty());
    s.world.tick(21);
    assert_eq!(state(&mut s, &e.id), EndpointState::Pending, "a poller sees pending once");
    s.world.tick(22);
    assert_eq!(state(&mut s, &e.id), EndpointState::Available);
    let events = s.world.drain_events();
    assert!(events.iter().any(|ev| ev.resource == Resource::Endpoint(e.id.clone()) && ev.change == Change::Updated));
}

#[test]
fn unobserved_pending_still_advances_after_the_grace() {
    let mut s = seed();
    let e = create_endpoint(&mut s, 10).unwrap();
    s.world.accept_connections(&provider(), 20, &s.service_id, std::slice::from_ref(&e.id), false).unwrap();
    s.world.tick(500);
    assert_eq!(s.world.region(REGION).unwrap().endpoints[&e.id].state, EndpointState::Pending);
    s.world.tick(20 + 1_000);
    assert_eq!(s.world.region(REGION).unwrap().endpoints[&e.id].state, EndpointState::Available);
}

#[test]
fn pending_delay_is_honoured() {
    let mut s = seed_with(Settings { pending_delay_ms: 5_000, ..Default::default() }, false);
    let e = create_endpoint(&mut s, 10).unwrap();
    assert_eq!(e.state, EndpointState::Pending);
    s.world.tick(4_000);
    assert_eq!(state(&mut s, &e.id), EndpointState::Pending);
    s.world.tick(5_010);
    assert_eq!(state(&mut s, &e.id), EndpointState::Available);
}

#[test]
fn auto_accepted_endpoint_is_pending_then_available() {
    let mut s = seed_with(Settings::default(), false);
    let e = create_endpoint(&mut s, 10).unwrap();
    assert_eq!(e.state, EndpointState::Pending);
    s.world.tick(11);
    assert_eq!(state(&mut s, &e.id), EndpointState::Available);
}

#[test]
fn permissions_gate_visibility_and_creation() {
    let mut s = seed();
    let names: Vec<String> = s.world.visible_services(&stranger()).into_iter().map(|d| d.name).collect();
    assert!(!names.contains(&s.service_name));
    assert!(names.contains(&"com.amazonaws.ap-northeast-1.ec2".to_string()));
    assert!(s.world.visible_services(&consumer()).iter().any(|d| d.name == s.service_name));
    let t = stranger();
    let vpc = s.world.create_vpc(&t, 0, "10.50.0.0/16", None, Tags::new()).unwrap();
    let req = CreateEndpoint {
        vpc_id: vpc.id,
        service_name: s.service_name.clone(),
        endpoint_type: Some("Interface".into()),
        ..Default::default()
    };
    let err = s.world.create_endpoint(&t, 0, req.clone(), false).unwrap_err();
    assert_eq!(err.code, "InvalidServiceName");
    s.world.modify_service_permissions(&provider(), &s.service_id, &["*".into()], &[], false).unwrap();
    assert!(s.world.create_endpoint(&t, 0, req, false).is_ok());
}

#[test]
fn other_accounts_cannot_see_each_others_resources() {
    let mut s = seed();
    let e = create_endpoint(&mut s, 10).unwrap();
    assert_eq!(s.world.endpoint(&stranger(), &e.id).unwrap_err().code, "InvalidVpcEndpointId.NotFound");
    assert_eq!(s.world.endpoint(&consumer(), "vpce-zz").unwrap_err().code, "InvalidVpcEndpointId.Malformed");
    assert_eq!(s.world.vpc(&provider(), &s.consumer_vpc).unwrap_err().code, "InvalidVpcID.NotFound");
    assert!(s.world.describe_connections(&stranger(), &[]).unwrap().is_empty());
    assert_eq!(
        s.world.own_service(&consumer(), &s.service_id).unwrap_err().code,
        "InvalidVpcEndpointServiceId.NotFound"
    );
}

#[test]
fn reject_removes_interfaces_and_is_final() {
    let mut s = seed();
    let e = create_endpoint(&mut s, 10).unwrap();
    let failed = s.world.reject_connections(&provider(), &s.service_id, std::slice::from_ref(&e.id), false).unwrap();
    assert!(failed.is_empty());
    let r = s.world.region(REGION).unwrap();
    assert_eq!(r.endpoints[&e.id].state, EndpointState::Rejected);
    assert!(r.endpoints[&e.id].network_interface_ids.is_empty());
    assert!(e.network_interface_ids.iter().all(|n| !r.network_interfaces.contains_key(n)));
    let again = s.world.accept_connections(&provider(), 30, &s.service_id, std::slice::from_ref(&e.id), false).unwrap();
    assert_eq!(again[0].error.code, "InvalidState");
}

#[test]
fn available_endpoint_can_be_rejected() {
    let mut s = seed_with(Settings::default(), false);
    let e = create_endpoint(&mut s, 10).unwrap();
    s.world.tick(11);
    assert_eq!(state(&mut s, &e.id), EndpointState::Available);
    assert!(s
        .world
        .reject_connections(&provider(), &s.service_id, std::slice::from_ref(&e.id), false)
        .unwrap()
        .is_empty());
    assert_eq!(state(&mut s, &e.id), EndpointState::Rejected);
}

#[test]
fn delete_goes_through_deleting_and_frees_addresses() {
    let mut s = seed();
    let e = create_endpoint(&mut s, 10).unwrap();
    let ips: Vec<_> = e
        .network_interface_ids
        .iter()
        .map(|n| s.world.region(REGION).unwrap().network_interfaces[n].private_ip)
        .collect();
    assert!(s.world.delete_endpoints(&consumer(), 20, std::slice::from_ref(&e.id)).is_empty());
    assert_eq!(state(&mut s, &e.id), EndpointState::Deleting);
    s.world.tick(21);
    assert_eq!(state(&mut s, &e.id), EndpointState::Deleted);
    let r = s.world.region(REGION).unwrap();
    assert!(
        r.network_interfaces.is_empty()
            || e.network_interface_ids.iter().all(|n| !r.network_interfaces.contains_key(n))
    );
    for (sid, ip) in s.consumer_subnets.iter().zip(ips) {
        assert!(!r.address_in_use(sid, ip));
    }
    s.world.tick(21 + 60_001);
    assert_eq!(s.world.endpoint(&consumer(), &e.id).unwrap_err().code, "InvalidVpcEndpointId.NotFound");
    // The provider no longer sees it either.
    assert!(s.world.describe_connections(&provider(), &[]).unwrap().is_empty());
}

#[test]
fn service_with_live_connections_cannot_be_deleted() {
    let mut s = seed();
    let e = create_endpoint(&mut s, 10).unwrap();
    let failed = s.world.delete_services(&provider(), 20, std::slice::from_ref(&s.service_id));
    assert_eq!(failed[0].error.code, "ExistingVpcEndpointConnections");
    s.world.reject_connections(&provider(), &s.service_id, &[e.id], false).unwrap();
    assert!(s.world.delete_services(&provider(), 30, std::slice::from_ref(&s.service_id)).is_empty());
    s.world.tick(31 + 1_000);
    assert!(s.world.region(REGION).unwrap().services.is_empty());
    // With the service gone the NLB is free to go.
    assert!(s.world.delete_load_balancer(&provider(), &s.lb_arn).is_ok());
}

#[test]
fn load_balancer_in_use_by_a_service_stays() {
    let mut s = seed();
    let err = s.world.delete_load_balancer(&provider(), &s.lb_arn).unwrap_err();
    assert_eq!(err.code, "ResourceInUse");
    let lb = s.world.load_balancer(&provider(), &s.lb_arn).unwrap();
    assert_eq!(lb.nodes[1].private_ip.to_string(), "10.0.128.6");
    assert_eq!(lb.state, "active");
}

#[test]
fn addresses_are_unique_and_never_reserved() {
    let mut w = World::new(Settings::default());
    let c = consumer();
    let vpc = w.create_vpc(&c, 0, "10.9.0.0/16", None, Tags::new()).unwrap();
    let mut subnets = Vec::new();
    for (i, az) in ["ap-northeast-1a", "ap-northeast-1c"].iter().enumerate() {
        subnets.push(w.create_subnet(&c, &vpc.id, &format!("10.9.{i}.0/28"), Some(az), Tags::new()).unwrap().id);
    }
    let mut seen = std::collections::HashSet::new();
    for n in 0..11 {
        let e = w
            .create_endpoint(
                &c,
                n,
                CreateEndpoint {
                    vpc_id: vpc.id.clone(),
                    service_name: "com.amazonaws.ap-northeast-1.ec2".into(),
                    endpoint_type: Some("Interface".into()),
                    subnet_ids: subnets.clone(),
                    ..Default::default()
                },
                false,
            )
            .unwrap();
        for eni in &e.network_interface_ids {
            let eni = &w.region(REGION).unwrap().network_interfaces[eni];
            let subnet = &w.region(REGION).unwrap().subnets[&eni.subnet_id];
            assert!(subnet.cidr.contains(eni.private_ip));
            assert!(!subnet.cidr.is_reserved_in_subnet(eni.private_ip), "{}", eni.private_ip);
            assert!(seen.insert(eni.private_ip), "address reused: {}", eni.private_ip);
        }
    }
    let full = w.create_endpoint(
        &c,
        99,
        CreateEndpoint {
            vpc_id: vpc.id.clone(),
            service_name: "com.amazonaws.ap-northeast-1.sts".into(),
            endpoint_type: Some("Interface".into()),
            subnet_ids: subnets.clone(),
            ..Default::default()
        },
        false,
    );
    assert_eq!(full.unwrap_err().code, "InsufficientFreeAddressesInSubnet");
    // A failed create leaves no interface behind.
    assert_eq!(w.region(REGION).unwrap().network_interfaces.len(), 22);
}

#[test]
fn dns_entries_have_aws_formats_and_order() {
    let mut s = seed();
    let e = create_endpoint(&mut s, 10).unwrap();
    let names: Vec<&str> = e.dns_entries.iter().map(|d| d.dns_name.as_str()).collect();
    let base = format!("{}.ap-northeast-1.vpce.amazonaws.com", s.service_id);
    assert_eq!(names.len(), 3);
    assert_eq!(names[0], format!("{}-{}.{base}", e.id, e.dns_suffix));
    assert_eq!(names[1], format!("{}-{}-ap-northeast-1a.{base}", e.id, e.dns_suffix));
    assert_eq!(names[2], format!("{}-{}-ap-northeast-1c.{base}", e.id, e.dns_suffix));
    assert!(e.dns_entries.iter().all(|d| d.hosted_zone_id == "Z2E726K9Y6RL4W"));
}

#[test]
fn private_dns_for_aws_services_needs_vpc_dns_attributes() {
    let mut s = seed();
    let c = consumer();
    let req = CreateEndpoint {
        vpc_id: s.consumer_vpc.clone(),
        service_name: "com.amazonaws.ap-northeast-1.ec2".into(),
        endpoint_type: Some("Interface".into()),
        subnet_ids: s.consumer_subnets.clone(),
        private_dns_enabled: Some(true),
        ..Default::default()
    };
    let err = s.world.create_endpoint(&c, 0, req.clone(), false).unwrap_err();
    assert_eq!(err.code, "InvalidParameter");
    s.world.modify_vpc_attribute(&c, &s.consumer_vpc, None, Some(true)).unwrap();
    let e = s.world.create_endpoint(&c, 0, req, false).unwrap();
    assert_eq!(e.state, EndpointState::Pending);
    assert_eq!(e.dns_entries.last().unwrap().dns_name, "ec2.ap-northeast-1.amazonaws.com");
    assert_eq!(e.private_dns_name(), Some("ec2.ap-northeast-1.amazonaws.com"));
    assert!(e.dns_entries[0].dns_name.ends_with(".ec2.ap-northeast-1.vpce.amazonaws.com"));
}

#[test]
fn private_dns_name_needs_a_published_txt_record() {
    let mut s = seed();
    let p = provider();
    let modify = service::ModifyService { private_dns_name: Some("api.example.com".into()), ..Default::default() };
    s.world.modify_service(&p, &s.service_id, modify, false).unwrap();
    let pd = s.world.own_service(&p, &s.service_id).unwrap().private_dns.clone().unwrap();
    assert_eq!(pd.state, private_dns::VerificationState::PendingVerification);
    assert!(pd.txt_name.starts_with('_') && pd.txt_value.starts_with("vpce:"));

    s.world.start_private_dns_verification(&p, &s.service_id, false).unwrap();
    let state = s.world.own_service(&p, &s.service_id).unwrap().private_dns.as_ref().unwrap().state;
    assert_eq!(state, private_dns::VerificationState::Failed);

    s.world.publish_txt(&format!("{}.example.com", pd.txt_name), &pd.txt_value);
    s.world.start_private_dns_verification(&p, &s.service_id, false).unwrap();
    let svc = s.world.own_service(&p, &s.service_id).unwrap();
    assert_eq!(svc.usable_private_dns_name(), Some("api.example.com"));

    // Consumers now get the private name as their last DNS entry.
    let c = consumer();
    s.world.modify_vpc_attribute(&c, &s.consumer_vpc, None, Some(true)).unwrap();
    let e = create_endpoint(&mut s, 50).unwrap();
    assert!(e.private_dns_enabled);
    assert_eq!(e.dns_entries.last().unwrap().dns_name, "api.example.com");
}

#[test]
fn client_token_makes_create_idempotent() {
    let mut s = seed();
    let c = consumer();
    let req = CreateEndpoint {
        vpc_id: s.consumer_vpc.clone(),
        service_name: s.service_name.clone(),
        endpoint_type: Some("Interface".into()),
        subnet_ids: vec![s.consumer_subnets[0].clone()],
        client_token: Some("token-1".into()),
        ..Default::default()
    };
    let a = s.world.create_endpoint(&c, 0, req.clone(), false).unwrap();
    let b = s.world.create_endpoint(&c, 1, req.clone(), false).unwrap();
    assert_eq!(a.id, b.id);
    let mut other = req;
    other.subnet_ids = s.consumer_subnets.clone();
    assert_eq!(s.world.create_endpoint(&c, 2, other, false).unwrap_err().code, "IdempotentParameterMismatch");
}

#[test]
fn dry_run_changes_nothing() {
    let mut s = seed();
    let c = consumer();
    let req = CreateEndpoint {
        vpc_id: s.consumer_vpc.clone(),
        service_name: s.service_name.clone(),
        endpoint_type: Some("Interface".into()),
        subnet_ids: s.consumer_subnets.clone(),
        ..Default::default()
    };
    let err = s.world.create_endpoint(&c, 0, req, true).unwrap_err();
    assert_eq!((err.code, err.status), ("DryRunOperation", 412));
    assert!(s.world.describe_endpoints(&c, &[], &[]).unwrap().is_empty());
}

#[test]
fn endpoint_limit_per_vpc() {
    let mut s = seed_with(Settings { endpoints_per_vpc: 3, ..Default::default() }, false);
    for _ in 0..3 {
        create_endpoint(&mut s, 0).unwrap();
    }
    assert_eq!(create_endpoint(&mut s, 0).unwrap_err().code, "VpcEndpointLimitExceeded");
}

#[test]
fn subnets_in_zones_the_service_lacks_are_refused() {
    let mut s = seed();
    let c = consumer();
    let d = s.world.create_subnet(&c, &s.consumer_vpc, "10.24.200.0/24", Some("ap-northeast-1d"), Tags::new()).unwrap();
    s.consumer_subnets = vec![d.id];
    assert_eq!(create_endpoint(&mut s, 0).unwrap_err().code, "InvalidParameter");
}

#[test]
fn target_health_follows_listeners_and_deregistration() {
    let mut s = seed();
    let p = provider();
    let vpc_id = s.world.load_balancer(&p, &s.lb_arn).unwrap().vpc_id.clone();
    let tg = s
        .world
        .create_target_group(
            &p,
            0,
            CreateTargetGroup {
                name: "tg".into(),
                protocol: Some("TCP".into()),
                port: Some(80),
                vpc_id: Some(vpc_id),
                target_type: Some("ip".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(tg.health_check.interval_seconds, 30);
    assert_eq!(tg.health_check.healthy_threshold, 5);
    s.world.register_targets(&p, &tg.arn, &[("10.0.128.142".into(), None, None)]).unwrap();
    let err = s.world.register_targets(&p, &tg.arn, &[("127.0.0.1".into(), Some(8080), None)]).unwrap_err();
    assert_eq!(err.code, "InvalidTarget");
    s.world.register_targets(&p, &tg.arn, &[("127.0.0.1".into(), Some(8080), Some("all".into()))]).unwrap();
    let h = s.world.describe_target_health(&p, &tg.arn, &[]).unwrap();
    assert!(h.iter().all(|t| t.health == TargetHealthState::Unused));
    s.world.create_listener(&p, &s.lb_arn, Some("TCP"), Some(80), Some(&tg.arn), Tags::new()).unwrap();
    let dup = s.world.create_listener(&p, &s.lb_arn, Some("TCP"), Some(80), Some(&tg.arn), Tags::new());
    assert_eq!(dup.unwrap_err().code, "DuplicateListener");
    let h = s.world.describe_target_health(&p, &tg.arn, &[]).unwrap();
    assert!(h.iter().all(|t| t.health == TargetHealthState::Initial));
    s.world.set_target_health(REGION, &tg.arn, ("10.0.128.142", 80), TargetHealthState::Healthy, None);
    s.world.deregister_targets(&p, 1_000, &tg.arn, &[("10.0.128.142".into(), None)]).unwrap();
    let h = s.world.describe_target_health(&p, &tg.arn, &[("10.0.128.142".into(), None)]).unwrap();
    assert_eq!(h[0].health, TargetHealthState::Draining);
    s.world.tick(1_000 + 300_000);
    let h = s.world.describe_target_health(&p, &tg.arn, &[("10.0.128.142".into(), None)]).unwrap();
    assert_eq!(h[0].reason.as_deref(), Some("Target.NotRegistered"));
    assert_eq!(s.world.describe_target_health(&p, &tg.arn, &[]).unwrap().len(), 1);
}

#[test]
fn health_check_ranges_are_enforced() {
    let mut s = seed();
    let p = provider();
    let vpc_id = s.world.load_balancer(&p, &s.lb_arn).unwrap().vpc_id.clone();
    let bad = CreateTargetGroup {
        name: "tg".into(),
        protocol: Some("TCP".into()),
        port: Some(80),
        vpc_id: Some(vpc_id),
        health_check_interval: Some(4),
        ..Default::default()
    };
    assert_eq!(s.world.create_target_group(&p, 0, bad).unwrap_err().code, "ValidationError");
}

#[test]
fn pagination_walks_every_item_once() {
    let items: Vec<(String, u32)> = (0..12).map(|i| (format!("k{i:02}"), i)).collect();
    let mut token = None;
    let mut seen = Vec::new();
    loop {
        let (page, next) = paginate(items.clone(), Some(5), token.as_deref()).unwrap();
        seen.extend(page);
        match next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(seen, (0..12).collect::<Vec<_>>());
    assert_eq!(paginate(items, Some(5), Some("zz!")).unwrap_err().code, "InvalidNextToken");
    assert_eq!(check_max_results(Some(1)).unwrap_err().code, "InvalidMaxResults");
}

#[test]
fn vpc_host_blocks_are_unique_and_reused() {
    let mut w = World::new(Settings::default());
    let c = consumer();
    let a = w.create_vpc(&c, 0, "10.1.0.0/16", None, Tags::new()).unwrap();
    let b = w.create_vpc(&c, 0, "10.1.0.0/16", None, Tags::new()).unwrap();
    assert_ne!(a.host_block, b.host_block);
    assert_eq!(a.resolver_address().to_string(), "10.1.0.2");
    w.delete_vpc(&c, &a.id).unwrap();
    let again = w.create_vpc(&c, 0, "10.2.0.0/16", None, Tags::new()).unwrap();
    assert_eq!(again.host_block, a.host_block);
    assert_eq!(w.create_vpc(&c, 0, "10.0.0.0/8", None, Tags::new()).unwrap_err().code, "InvalidVpc.Range");
}

#[test]
fn smaller_vpcs_share_host_blocks() {
    let mut w = World::new(Settings::default());
    let c = consumer();
    let whole = w.create_vpc(&c, 0, "10.1.0.0/16", None, Tags::new()).unwrap();
    // Sixteen /20s with distinct low 16 bits fill one block; the next /20
    // with the same low bits as the first goes to another block.
    let quarter: Vec<Vpc> = (0..16)
        .map(|i| w.create_vpc(&c, 0, &format!("10.{}.{}.0/20", 2 + i, i * 16), None, Tags::new()).unwrap())
        .collect();
    assert!(quarter.iter().all(|v| v.shares_block && v.host_block == quarter[0].host_block));
    assert_ne!(quarter[0].host_block, whole.host_block);
    let next = w.create_vpc(&c, 0, "10.30.0.0/20", None, Tags::new()).unwrap();
    assert_ne!(next.host_block, quarter[0].host_block);
    // A /16 never lands in a block that sharing VPCs use.
    let another = w.create_vpc(&c, 0, "10.40.0.0/16", None, Tags::new()).unwrap();
    assert!(![whole.host_block, quarter[0].host_block, next.host_block].contains(&another.host_block));
    // A freed part of a block is used again.
    w.delete_vpc(&c, &quarter[5].id).unwrap();
    let again = w.create_vpc(&c, 0, "10.50.80.0/20", None, Tags::new()).unwrap();
    assert_eq!(again.host_block, quarter[0].host_block);
    // Thousands of /24s fit where 254 /16s did.
    let mut w = World::new(Settings::default());
    for i in 0..2000u32 {
        w.create_vpc(&c, 0, &format!("10.{}.{}.0/24", i / 256, i % 256), None, Tags::new()).unwrap();
    }
    let blocks: BTreeSet<u8> = w.region(REGION).unwrap().vpcs.values().map(|v| v.host_block).collect();
    assert_eq!(blocks.len(), 8, "2,000 /24s in 8 blocks of 256");
}

#[test]
fn interface_addresses_are_derived_from_the_interfaces_not_written_on_subnets() {
    let mut s = seed();
    s.world.settle();
    let before = s.world.to_json();
    let e = create_endpoint(&mut s, 10).unwrap();
    let held = |w: &World| -> Vec<(String, std::net::Ipv4Addr, bool, usize)> {
        let r = w.region(REGION).unwrap();
        e.network_interface_ids
            .iter()
            .filter_map(|n| r.network_interfaces.get(n))
            .map(|n| {
                (
                    n.subnet_id.clone(),
                    n.private_ip,
                    r.address_in_use(&n.subnet_id, n.private_ip),
                    r.addresses_in_use(&n.subnet_id),
                )
            })
            .collect()
    };
    let now = held(&s.world);
    assert_eq!(now.len(), 2);
    assert!(now.iter().all(|(_, _, held, count)| *held && *count == 1), "{now:?}");

    // A new interface writes its own record and none of its subnet's.
    let written = s.world.changes();
    assert!(written.iter().any(|w| w.table == "network_interfaces"));
    assert!(
        !written.iter().any(|w| w.table == "subnets"),
        "{:?}",
        written.iter().map(|w| &w.table).collect::<Vec<_>>()
    );

    // Replaying the records on the world before gives the same addresses.
    let mut copy = World::from_json(before.clone(), Settings::default()).unwrap();
    let read_back: Vec<_> = written.iter().map(|w| w.to_effect().unwrap()).collect();
    copy.apply_effects(&read_back).unwrap();
    assert_eq!(held(&copy), now);

    // Taking the change back frees them.
    s.world.undo();
    let r = s.world.region(REGION).unwrap();
    assert!(now.iter().all(|(sid, ip, _, _)| !r.address_in_use(sid, *ip) && r.addresses_in_use(sid) == 0));

    // Subnet records of earlier releases carry `used`: ignored, the
    // interfaces decide.
    let e2 = create_endpoint(&mut s, 30).unwrap();
    s.world.settle();
    let mut json = s.world.to_json();
    for subnet in json["regions"][REGION]["subnets"].as_object_mut().unwrap().values_mut() {
        assert!(subnet.get("used").is_none(), "no longer written");
        subnet["used"] = serde_json::json!(["10.24.16.200", "10.24.112.201", "10.0.0.99"]);
    }
    let old = World::from_json(json, Settings::default()).unwrap();
    let r = old.region(REGION).unwrap();
    for n in &e2.network_interface_ids {
        let eni = &r.network_interfaces[n];
        assert!(r.address_in_use(&eni.subnet_id, eni.private_ip));
        assert_eq!(r.addresses_in_use(&eni.subnet_id), 1);
    }
    assert!(!r.address_in_use(&s.consumer_subnets[0], "10.24.16.200".parse().unwrap()));
}

#[test]
fn replaying_one_interface_freeing_an_address_and_another_taking_it_keeps_it_held_in_any_order() {
    let mut s = seed();
    let e = create_endpoint(&mut s, 10).unwrap();
    s.world.settle();
    let before = s.world.to_json();
    let r = s.world.region(REGION).unwrap();
    let old = r.network_interfaces[&e.network_interface_ids[0]].clone();
    let mut new = old.clone();
    new.id = "eni-0123456789abcdef0".into();
    let gone =
        Effect { region: REGION.into(), table: "network_interfaces".into(), key: old.id.clone().into(), value: None };
    let made = Effect {
        region: REGION.into(),
        table: "network_interfaces".into(),
        key: new.id.clone().into(),
        value: Some(serde_json::to_value(&new).unwrap()),
    };
    for records in [vec![gone.clone(), made.clone()], vec![made, gone]] {
        let mut w = World::from_json(before.clone(), Settings::default()).unwrap();
        w.apply_effects(&records).unwrap();
        let r = w.region(REGION).unwrap();
        assert!(
            r.address_in_use(&old.subnet_id, old.private_ip),
            "{:?}",
            records.iter().map(|r| &r.key).collect::<Vec<_>>()
        );
        assert_eq!(r.addresses_in_use(&old.subnet_id), 1);
    }
}
