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

fn comparable(p: &Plan) -> (Routes, Services, Vec<plan::HealthGroup>) {
    let routes = p.listeners.iter().map(|(k, r)| (*k, (**r).clone())).collect();
    let services = p.services.iter().map(|(k, r)| (*k, (**r).clone())).collect();
    (routes, services, p.health.values().map(|g| (**g).clone()).collect())
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
            changed.note(&e);
        }
        self.plan = match changed {
            Changed::Everything => plan::build(&self.world, 0),
            Changed::Endpoints(keys) => {
                self.incremental += 1;
                let keys: Vec<_> = keys.into_iter().collect();
                let parts = keys.chunks(1).flat_map(|c| plan::read_parts(&self.world, c, 0)).collect();
                self.plan.with_parts(parts)
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
