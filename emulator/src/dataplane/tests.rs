//! The data plane's plan, followed one burst of events at a time, against
//! the plan built from the whole world.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;

use super::plan::{self, Plan, Route, ServiceRoute};
use super::Changed;
use crate::model::endpoint::{CreateEndpoint, ModifyEndpoint};
use crate::model::target_group::CreateTargetGroup;
use crate::model::tests::{consumer, provider, seed_with};
use crate::model::{IpPermission, Settings, Tags, World};

type Routes = BTreeMap<SocketAddrV4, Route>;
type Services = BTreeMap<SocketAddrV4, ServiceRoute>;

fn comparable(p: &Plan) -> (Routes, Services, Vec<plan::HealthGroup>, BTreeSet<String>) {
    let routes = p.listeners.iter().map(|(k, r)| (*k, (**r).clone())).collect();
    let services = p.services.iter().map(|(k, r)| (*k, (**r).clone())).collect();
    (routes, services, p.health.values().map(|g| (**g).clone()).collect(), p.interface_regions.clone())
}

/// The follower's part: what the events say changed, then the plan updated
/// by that (by endpoints, one per read here) or rebuilt.
struct Follower {
    world: World,
    plan: Plan,
    incremental: usize,
    now: u64,
}

impl Follower {
    fn step(&mut self) {
        let mut changed = Changed::Endpoints(BTreeSet::new());
        for e in self.world.drain_events() {
            changed.note(&e, &self.plan);
        }
        self.plan = match changed {
            Changed::Everything => plan::build(&self.world, 0),
            Changed::Endpoints(keys) => {
                self.incremental += 1;
                let keys: Vec<_> = keys.into_iter().collect();
                let parts = keys.chunks(1).flat_map(|c| plan::read_parts(&self.world, c, 0)).collect();
                let mut next = self.plan.clone();
                let touched = next.apply_parts(parts);
                // Every listener address whose route changed is among those
                // touched: the follower looks at no other listener.
                let (before, after) = (comparable(&self.plan), comparable(&next));
                let addresses: BTreeSet<SocketAddrV4> = before
                    .0
                    .keys()
                    .chain(after.0.keys())
                    .chain(before.1.keys())
                    .chain(after.1.keys())
                    .copied()
                    .collect();
                for a in addresses {
                    if before.0.get(&a) != after.0.get(&a) || before.1.get(&a) != after.1.get(&a) {
                        assert!(touched.addresses.contains(&a), "{a} changed but was not touched");
                    }
                }
                next
            }
        };
        assert_eq!(comparable(&self.plan), comparable(&plan::build(&self.world, 0)));
    }

    /// Lets every transitional state run out.
    fn settle(&mut self) {
        for _ in 0..2 {
            self.now += 1_000_000;
            self.world.tick(self.now);
            self.step();
        }
    }
}

#[test]
fn following_endpoint_changes_ends_where_a_rebuild_does() {
    let (p, c) = (provider(), consumer());
    let s = seed_with(Settings::default(), true);
    let mut w = s.world;
    let provider_vpc = w.load_balancer(&p, &s.lb_arn).unwrap().vpc_id.clone();
    let tg = CreateTargetGroup {
        name: "tg".into(),
        protocol: Some("TCP".into()),
        port: Some(80),
        vpc_id: Some(provider_vpc),
        target_type: Some("ip".into()),
        ..Default::default()
    };
    let tg = w.create_target_group(&p, 0, tg).unwrap();
    w.register_targets(&p, &tg.arn, &[("10.0.128.142".into(), None, None)]).unwrap();
    w.create_listener(&p, &s.lb_arn, Some("TCP"), Some(80), Some(&tg.arn), Tags::new()).unwrap();
    let mut f = Follower { plan: plan::build(&w, 0), world: w, incremental: 0, now: 1_000_000 };
    f.step();
    // The active load balancer's listener checks its targets before any
    // endpoint exists, and listens at each node for the NLB's own clients.
    let nodes = f.world.region("ap-northeast-1").unwrap().load_balancers[&s.lb_arn].nodes.len();
    assert!(nodes > 0);
    assert_eq!(f.plan.listeners.len(), nodes);
    assert!(f.plan.listeners.values().all(|r| r.direct && r.endpoint_id == s.lb_arn));
    let through = |f: &Follower| f.plan.listeners.values().filter(|r| !r.direct).count();
    assert_eq!(f.plan.health.len(), 1);

    let (c1, c2) = (s.consumer_subnets[0].clone(), s.consumer_subnets[1].clone());
    let create = |f: &mut Follower, subnets: Vec<String>| {
        let req = CreateEndpoint {
            vpc_id: s.consumer_vpc.clone(),
            service_name: s.service_name.clone(),
            endpoint_type: Some("Interface".into()),
            subnet_ids: subnets,
            ..Default::default()
        };
        let e = f.world.create_endpoint(&c, 0, req, false).unwrap();
        f.step();
        e.id
    };
    let a = create(&mut f, vec![c1.clone(), c2.clone()]);
    let b = create(&mut f, vec![c1.clone()]);
    let d = create(&mut f, vec![c2.clone()]);
    f.world.accept_connections(&p, 0, &s.service_id, &[a.clone(), b.clone(), d.clone()], false).unwrap();
    f.step();
    f.settle();
    assert_eq!(through(&f), 4, "two ENIs of a, one of b, one of d: port 80 each");
    assert_eq!(f.plan.health.len(), 1);

    // Endpoint changes: subnets moved, security groups swapped, one rejected, one deleted.
    let sg = f.world.create_security_group(&c, "extra", "extra", Some(&s.consumer_vpc), Tags::new()).unwrap();
    f.step();
    let before = f.incremental;
    let modify = ModifyEndpoint {
        add_subnet_ids: vec![c2.clone()],
        remove_subnet_ids: vec![c1.clone()],
        add_security_group_ids: vec![sg.id.clone()],
        ..Default::default()
    };
    f.world.modify_endpoint(&c, &b, modify, false).unwrap();
    f.step();
    f.world.reject_connections(&p, &s.service_id, std::slice::from_ref(&d), false).unwrap();
    f.step();
    f.world.delete_endpoints(&c, 0, std::slice::from_ref(&a));
    f.step();
    f.settle();
    assert_eq!(through(&f), 1, "only b is left, in one subnet");
    assert!(f.incremental >= before + 5, "endpoint changes were followed endpoint by endpoint");

    // A rule added to the endpoint's group reaches its route (a rebuild).
    let rule = IpPermission {
        protocol: "tcp".into(),
        from_port: Some(80),
        to_port: Some(80),
        ranges: vec![("10.24.0.0/16".parse().unwrap(), None)],
        groups: vec![],
    };
    f.world.authorize_ingress(&c, &sg.id, vec![rule]).unwrap();
    f.step();
    assert!(f.plan.listeners.values().filter(|r| !r.direct).all(|r| r.ingress.iter().any(|i| i.from_port == Some(80))));

    // Health checks outlive the endpoints; they end with the listener.
    f.world.delete_endpoints(&c, 0, std::slice::from_ref(&b));
    f.step();
    f.settle();
    assert_eq!(through(&f), 0);
    assert_eq!(f.plan.health.len(), 1);
    let listener = f.world.describe_listeners(&p, Some(&s.lb_arn), &[]).unwrap()[0].arn.clone();
    f.world.delete_listener(&p, &listener).unwrap();
    f.step();
    assert!(f.plan.health.is_empty());
    assert!(f.plan.listeners.is_empty(), "the NLB's own listeners go with the listener");
}

#[test]
fn health_checks_wait_for_the_load_balancer_to_be_active() {
    let p = provider();
    let s = seed_with(Settings::default(), true);
    let mut w = s.world;
    let lb = w.load_balancer(&p, &s.lb_arn).unwrap().clone();
    let subnets: Vec<(String, Option<std::net::Ipv4Addr>)> =
        lb.nodes.iter().map(|n| (n.subnet_id.clone(), None)).collect();
    let req = crate::model::elb::CreateLoadBalancer {
        name: "young".into(),
        subnets,
        scheme: Some("internal".into()),
        lb_type: Some("network".into()),
        ..Default::default()
    };
    let young = w.create_load_balancer(&p, 2_000_000, req).unwrap();
    let tg = CreateTargetGroup {
        name: "tg".into(),
        protocol: Some("TCP".into()),
        port: Some(80),
        vpc_id: Some(lb.vpc_id.clone()),
        target_type: Some("ip".into()),
        ..Default::default()
    };
    let tg = w.create_target_group(&p, 2_000_000, tg).unwrap();
    w.register_targets(&p, &tg.arn, &[("10.0.128.142".into(), None, None)]).unwrap();
    w.create_listener(&p, &young.arn, Some("TCP"), Some(80), Some(&tg.arn), Tags::new()).unwrap();
    assert!(plan::build(&w, 0).health.is_empty(), "provisioning: no checks yet");
    w.observe_load_balancer(&p.region, &young.arn);
    w.tick(4_000_000);
    assert_eq!(w.load_balancer(&p, &young.arn).unwrap().state, "active");
    let plan = plan::build(&w, 0);
    let group = &plan.health[&(p.region.clone(), tg.arn.clone())];
    assert_eq!(group.targets.len(), 1);
}

/// A rule of `port` from `cidr`, as AuthorizeSecurityGroupIngress names it.
fn tcp_from(port: i32, cidr: &str) -> IpPermission {
    IpPermission {
        protocol: "tcp".into(),
        from_port: Some(port),
        to_port: Some(port),
        ranges: vec![(cidr.parse().unwrap(), None)],
        groups: vec![],
    }
}

/// A rule of `port` from the interfaces of `group`.
fn tcp_from_group(port: i32, group: &str, owner: &str) -> IpPermission {
    IpPermission {
        protocol: "tcp".into(),
        from_port: Some(port),
        to_port: Some(port),
        ranges: vec![],
        groups: vec![(group.into(), owner.into(), None)],
    }
}

#[test]
fn load_balancer_security_groups_follow_rules_settings_and_interfaces() {
    use crate::model::elb::CreateLoadBalancer;
    use crate::model::network_interface::{InterfaceChange, InterfaceRequest};
    use crate::model::service::ModifyService;

    let (p, c) = (provider(), consumer());
    let s = seed_with(Settings::default(), false);
    let mut w = s.world;
    let old = w.load_balancer(&p, &s.lb_arn).unwrap().clone();
    let provider_vpc = old.vpc_id.clone();
    // An NLB with a group letting port 80 in from the consumer's VPC takes
    // the seed NLB's place behind the service.
    let nlb_sg = w.create_security_group(&p, "nlb", "nlb", Some(&provider_vpc), Tags::new()).unwrap();
    w.authorize_ingress(&p, &nlb_sg.id, vec![tcp_from(80, "10.24.0.0/16")]).unwrap();
    let req = CreateLoadBalancer {
        name: "guarded".into(),
        subnets: old.nodes.iter().map(|n| (n.subnet_id.clone(), None)).collect(),
        scheme: Some("internal".into()),
        lb_type: Some("network".into()),
        security_groups: vec![nlb_sg.id.clone()],
        ..Default::default()
    };
    let lb = w.create_load_balancer(&p, 0, req).unwrap();
    let tg = CreateTargetGroup {
        name: "tg".into(),
        protocol: Some("TCP".into()),
        port: Some(80),
        vpc_id: Some(provider_vpc.clone()),
        target_type: Some("ip".into()),
        ..Default::default()
    };
    let tg = w.create_target_group(&p, 0, tg).unwrap();
    w.register_targets(&p, &tg.arn, &[("10.0.128.142".into(), None, None)]).unwrap();
    w.create_listener(&p, &lb.arn, Some("TCP"), Some(80), Some(&tg.arn), Tags::new()).unwrap();
    let swap = ModifyService {
        add_network_load_balancer_arns: vec![lb.arn.clone()],
        remove_network_load_balancer_arns: vec![s.lb_arn.clone()],
        ..Default::default()
    };
    w.modify_service(&p, &s.service_id, swap, false).unwrap();
    let req = CreateEndpoint {
        vpc_id: s.consumer_vpc.clone(),
        service_name: s.service_name.clone(),
        endpoint_type: Some("Interface".into()),
        subnet_ids: s.consumer_subnets.clone(),
        ..Default::default()
    };
    let endpoint = w.create_endpoint(&c, 0, req, false).unwrap();
    let mut f = Follower { plan: plan::build(&w, 0), world: w, incremental: 0, now: 1_000_000 };
    f.settle();
    let routes = |f: &Follower| -> Vec<Route> {
        f.plan.listeners.values().filter(|r| r.endpoint_id == endpoint.id).map(|r| (**r).clone()).collect()
    };
    let client: std::net::Ipv4Addr = "10.24.16.99".parse().unwrap();
    let admitted = |f: &Follower, source| routes(f).iter().all(|r| r.load_balancer_admits(source));
    assert_eq!(routes(&f).len(), 2, "one ENI per consumer subnet");
    assert!(routes(&f).iter().all(|r| r.load_balancer_ingress.is_some()), "enforced by default");
    assert!(admitted(&f, Some(client)));
    assert!(!admitted(&f, Some("10.25.0.1".parse().unwrap())), "outside the consumer's VPC");

    // Revoked: refused; authorized again: admitted.
    let revoke = vec![tcp_from(80, "10.24.0.0/16").to_permission()];
    f.world.revoke_rules(&p, &nlb_sg.id, false, revoke, &[]).unwrap();
    f.step();
    assert!(routes(&f).iter().all(|r| !r.load_balancer_admits(Some(client)) && !r.load_balancer_admits(None)));
    // The endpoint's own group is never the source of PrivateLink traffic.
    let endpoint_group = endpoint.group_ids[0].clone();
    f.world.authorize_ingress(&p, &nlb_sg.id, vec![tcp_from_group(80, &endpoint_group, &c.account)]).unwrap();
    f.step();
    let eni_addrs: Vec<_> = routes(&f).iter().map(|r| r.eni_addr).collect();
    assert!(!admitted(&f, Some(client)));
    assert!(eni_addrs.iter().all(|a| !admitted(&f, Some(*a))), "not even from the endpoint's own address");
    assert!(f.plan.interface_regions.is_empty(), "a group of another VPC needs no interfaces followed");

    // Enforcement off: the NLB's groups check nothing; on again: they do.
    f.world.set_load_balancer_security_groups(&p, &lb.arn, std::slice::from_ref(&nlb_sg.id), Some(false)).unwrap();
    f.step();
    assert!(routes(&f).iter().all(|r| r.load_balancer_ingress.is_none()));
    assert!(admitted(&f, Some(client)));
    f.world.set_load_balancer_security_groups(&p, &lb.arn, std::slice::from_ref(&nlb_sg.id), Some(true)).unwrap();
    f.step();
    assert!(!admitted(&f, Some(client)));

    // A group that allows the port takes the other's place.
    let open = f.world.create_security_group(&p, "open", "open", Some(&provider_vpc), Tags::new()).unwrap();
    f.world.authorize_ingress(&p, &open.id, vec![tcp_from(80, "10.24.16.0/20")]).unwrap();
    f.world.set_load_balancer_security_groups(&p, &lb.arn, std::slice::from_ref(&open.id), None).unwrap();
    f.step();
    assert!(admitted(&f, Some(client)));
    assert!(!admitted(&f, Some("10.24.112.9".parse().unwrap())), "another subnet of the consumer");

    // An endpoint in the NLB's own VPC: a rule naming a group of that VPC
    // admits the interfaces holding it, and follows their groups.
    let clients = f.world.create_security_group(&p, "clients", "clients", Some(&provider_vpc), Tags::new()).unwrap();
    f.world.authorize_ingress(&p, &open.id, vec![tcp_from_group(80, &clients.id, &p.account)]).unwrap();
    let provider_subnets: Vec<String> = old.nodes.iter().map(|n| n.subnet_id.clone()).collect();
    let req = CreateEndpoint {
        vpc_id: provider_vpc.clone(),
        service_name: s.service_name.clone(),
        endpoint_type: Some("Interface".into()),
        subnet_ids: provider_subnets.clone(),
        ..Default::default()
    };
    let own = f.world.create_endpoint(&p, f.now, req, false).unwrap();
    f.step();
    f.settle();
    let own_routes = |f: &Follower| -> Vec<Route> {
        f.plan.listeners.values().filter(|r| r.endpoint_id == own.id).map(|r| (**r).clone()).collect()
    };
    assert_eq!(own_routes(&f).len(), 2);
    assert!(f.plan.interface_regions.contains(&p.region));
    let host = InterfaceRequest {
        subnet_id: provider_subnets[0].clone(),
        ip: Some("10.0.0.50".parse().unwrap()),
        group_ids: vec![clients.id.clone()],
        ..Default::default()
    };
    let host = f.world.create_user_network_interface(&p, host).unwrap();
    f.step();
    let member: std::net::Ipv4Addr = "10.0.0.50".parse().unwrap();
    assert!(own_routes(&f).iter().all(|r| r.load_balancer_admits(Some(member))));
    assert!(own_routes(&f).iter().all(|r| !r.load_balancer_admits(Some("10.0.0.51".parse().unwrap()))));
    assert!(own_routes(&f).iter().all(|r| !r.load_balancer_admits(None)), "an unnamed host holds no group");
    // The interface leaves the group: the follower rebuilds on its event.
    let default_group = f.world.create_security_group(&p, "other", "other", Some(&provider_vpc), Tags::new()).unwrap();
    f.step();
    f.world
        .modify_network_interface_attribute(&p, &host.id, InterfaceChange::Groups(vec![default_group.id.clone()]))
        .unwrap();
    f.step();
    assert!(own_routes(&f).iter().all(|r| !r.load_balancer_admits(Some(member))));
    // Health checks come from the NLB's nodes whatever its groups say.
    assert_eq!(f.plan.health.len(), 1);
}

#[test]
fn hosted_zone_and_txt_events_leave_the_plan_alone() {
    use crate::model::{Change, Event, Resource};
    let plan = Plan::default();
    for resource in [Resource::HostedZone("Z0123456789ABCDEFGHIJ".into()), Resource::PublicTxt("example.com".into())] {
        let mut changed = Changed::Endpoints(BTreeSet::new());
        changed.note(&Event { region: String::new(), resource, change: Change::Updated }, &plan);
        assert!(matches!(changed, Changed::Endpoints(ref keys) if keys.is_empty()));
    }
    let mut changed = Changed::Endpoints(BTreeSet::new());
    let event =
        Event { region: "us-east-1".into(), resource: Resource::LoadBalancer("arn".into()), change: Change::Updated };
    changed.note(&event, &plan);
    assert!(matches!(changed, Changed::Everything), "a load balancer still asks for a rebuild");
}
