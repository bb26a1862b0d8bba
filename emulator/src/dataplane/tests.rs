//! The data plane's plan, followed one burst of events at a time, against
//! the plan built from the whole world.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddrV4;

use super::plan::{self, Plan, Route, ServiceRoute};
use super::Changed;
use crate::model::elb::CreateLoadBalancer;
use crate::model::endpoint::{CreateEndpoint, ModifyEndpoint};
use crate::model::service::CreateService;
use crate::model::target_group::CreateTargetGroup;
use crate::model::{Caller, IpPermission, Settings, Tags, World};

const REGION: &str = "ap-northeast-1";

fn provider() -> Caller {
    Caller::root("111111111111", REGION)
}

fn consumer() -> Caller {
    Caller::root("222222222222", REGION)
}

type Routes = BTreeMap<SocketAddrV4, Route>;
type Services = BTreeMap<SocketAddrV4, ServiceRoute>;

fn comparable(p: &Plan) -> (Routes, Services, Vec<plan::HealthGroup>) {
    let routes = p.listeners.iter().map(|(k, r)| (*k, (**r).clone())).collect();
    let services = p.services.iter().map(|(k, r)| (*k, (**r).clone())).collect();
    (routes, services, p.health.values().map(|g| (**g).clone()).collect())
}

/// The follower's part: what the events say changed, then the plan updated
/// by that (by endpoints, a few per read) or rebuilt.
struct Follower {
    world: World,
    plan: Plan,
    incremental: usize,
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
}

#[test]
fn following_endpoint_changes_ends_where_a_rebuild_does() {
    let p = provider();
    let c = consumer();
    let mut w = World::new(Settings::default());
    let vpc = w.create_vpc(&p, 0, "10.0.0.0/16", None, Tags::new()).unwrap();
    let s1 = w.create_subnet(&p, &vpc.id, "10.0.0.0/20", Some("ap-northeast-1a"), Tags::new()).unwrap();
    let s2 = w.create_subnet(&p, &vpc.id, "10.0.128.0/20", Some("ap-northeast-1c"), Tags::new()).unwrap();
    let lb = w
        .create_load_balancer(
            &p,
            0,
            CreateLoadBalancer {
                name: "web".into(),
                subnets: vec![(s1.id.clone(), None), (s2.id.clone(), None)],
                scheme: Some("internal".into()),
                lb_type: Some("network".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let tg = w
        .create_target_group(
            &p,
            0,
            CreateTargetGroup {
                name: "tg".into(),
                protocol: Some("TCP".into()),
                port: Some(80),
                vpc_id: Some(vpc.id.clone()),
                target_type: Some("ip".into()),
                ..Default::default()
            },
        )
        .unwrap();
    w.register_targets(&p, &tg.arn, &[("10.0.128.142".into(), None, None)]).unwrap();
    w.create_listener(&p, &lb.arn, Some("TCP"), Some(80), Some(&tg.arn), Tags::new()).unwrap();
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
    let cvpc = w.create_vpc(&c, 0, "10.24.0.0/16", None, Tags::new()).unwrap();
    let c1 = w.create_subnet(&c, &cvpc.id, "10.24.16.0/20", Some("ap-northeast-1a"), Tags::new()).unwrap();
    let c2 = w.create_subnet(&c, &cvpc.id, "10.24.112.0/20", Some("ap-northeast-1c"), Tags::new()).unwrap();
    let mut f = Follower { plan: plan::build(&w, 0), world: w, incremental: 0 };
    let mut now = 1_000_000;
    let mut tick = |f: &mut Follower| {
        now += 1_000_000;
        f.world.tick(now);
        f.step();
    };
    tick(&mut f);

    let create = |f: &mut Follower, subnets: Vec<String>| {
        let req = CreateEndpoint {
            vpc_id: cvpc.id.clone(),
            service_name: svc.name.clone(),
            endpoint_type: Some("Interface".into()),
            subnet_ids: subnets,
            ..Default::default()
        };
        let e = f.world.create_endpoint(&c, 0, req, false).unwrap();
        f.step();
        e.id
    };
    let a = create(&mut f, vec![c1.id.clone(), c2.id.clone()]);
    let b = create(&mut f, vec![c1.id.clone()]);
    let d = create(&mut f, vec![c2.id.clone()]);
    let accepted = [a.clone(), b.clone(), d.clone()];
    f.world.accept_connections(&p, 0, &svc.id, &accepted, false).unwrap();
    f.step();
    tick(&mut f);
    tick(&mut f);
    assert_eq!(f.plan.listeners.len(), 4, "two ENIs of a, one of b, one of d: port 80 each");
    assert_eq!(f.plan.health.len(), 1);

    // Endpoint changes: subnets moved, security groups swapped, one rejected, one deleted.
    let sg = f.world.create_security_group(&c, "extra", "extra", Some(&cvpc.id), Tags::new()).unwrap();
    f.step();
    let modify = ModifyEndpoint {
        add_subnet_ids: vec![c2.id.clone()],
        remove_subnet_ids: vec![c1.id.clone()],
        add_security_group_ids: vec![sg.id.clone()],
        ..Default::default()
    };
    let before = f.incremental;
    f.world.modify_endpoint(&c, &b, modify, false).unwrap();
    f.step();
    f.world.reject_connections(&p, &svc.id, std::slice::from_ref(&d), false).unwrap();
    f.step();
    f.world.delete_endpoints(&c, 0, std::slice::from_ref(&a));
    f.step();
    tick(&mut f);
    tick(&mut f);
    assert_eq!(f.plan.listeners.len(), 1, "only b is left, in one subnet");
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
    assert!(f.plan.listeners.values().all(|r| r.ingress.iter().any(|i| i.from_port == Some(80))));

    // The last endpoint going takes its target group's health checks along.
    f.world.delete_endpoints(&c, 0, std::slice::from_ref(&b));
    f.step();
    tick(&mut f);
    tick(&mut f);
    assert!(f.plan.listeners.is_empty());
    assert!(f.plan.health.is_empty());
}
