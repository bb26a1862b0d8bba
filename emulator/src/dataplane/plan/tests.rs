use super::*;
use crate::model::net::Ipv4Cidr;

fn route(targets: Vec<TargetRoute>, cross_zone: bool, ingress: Vec<IpPermission>) -> Route {
    Route {
        endpoint_id: "vpce-0123456789abcdef0".into(),
        region: "ap-northeast-1".into(),
        eni_addr: "10.24.20.69".parse().unwrap(),
        port: 80,
        zone: "ap-northeast-1a".into(),
        consumer: VpcBlock {
            cidr: "10.24.0.0/16".parse().unwrap(),
            host_block: 2,
            shares_block: false,
            attached: false,
        },
        ingress,
        load_balancer_ingress: None,
        node_addr: "10.0.0.6".parse().unwrap(),
        node_host: "127.1.0.6".parse().unwrap(),
        target_group_arn: "tg".into(),
        targets,
        cross_zone,
        proxy_protocol_v2: false,
        idle_timeout_seconds: 350,
        tls: None,
        target_tls: false,
        direct: false,
        names: Arc::default(),
        unavailable: None,
    }
}

fn target(id: &str, zone: Option<&str>, health: TargetHealthState) -> TargetRoute {
    TargetRoute {
        id: id.into(),
        port: 80,
        dial: Some(SocketAddrV4::new("127.1.0.9".parse().unwrap(), 80)),
        zone: zone.map(str::to_string),
        health,
    }
}

fn rule(port: i32, cidr: &str) -> IpPermission {
    IpPermission {
        protocol: "tcp".into(),
        from_port: Some(port),
        to_port: Some(port),
        ranges: vec![(cidr.parse::<Ipv4Cidr>().unwrap(), None)],
        groups: vec![],
    }
}

#[test]
fn security_groups_check_port_and_source() {
    let r = route(vec![], false, vec![rule(80, "10.24.16.0/20")]);
    assert!(r.admits(Some("10.24.16.99".parse().unwrap())));
    assert!(!r.admits(Some("10.24.200.1".parse().unwrap())));
    assert!(r.admits(None), "a host client counts as inside the VPC");
    let wrong_port = route(vec![], false, vec![rule(443, "10.24.0.0/16")]);
    assert!(!wrong_port.admits(Some("10.24.16.99".parse().unwrap())));
    assert!(!wrong_port.admits(None));
    let elsewhere = route(vec![], false, vec![rule(80, "192.168.0.0/16")]);
    assert!(!elsewhere.admits(None));
}

#[test]
fn load_balancer_groups_check_only_when_enforced() {
    use super::load_balancer_groups::InboundRule;
    let client = Some("10.24.16.99".parse().unwrap());
    let mut r = route(vec![], false, vec![rule(80, "10.24.0.0/16")]);
    assert!(r.load_balancer_admits(client), "no groups, or enforcement off: nothing to check");
    assert!(r.load_balancer_admits(None));
    r.load_balancer_ingress = Some(vec![]);
    assert!(!r.load_balancer_admits(client), "groups without a rule for the port let nothing in");
    assert!(r.admits(client), "the endpoint's own groups are checked on their own");
    let rule = |cidr| InboundRule { permission: rule(80, cidr), groups: vec![], members: vec![] };
    r.load_balancer_ingress = Some(vec![rule("10.24.16.0/20")]);
    assert!(r.load_balancer_admits(client));
    assert!(!r.load_balancer_admits(Some("10.24.112.9".parse().unwrap())));
    // The endpoint interface's address is not what the rules see.
    r.load_balancer_ingress = Some(vec![rule("10.24.20.69/32")]);
    assert!(!r.load_balancer_admits(client));
}

#[test]
fn targets_by_zone_health_and_fail_open() {
    use TargetHealthState::*;
    let ts = vec![
        target("a", Some("ap-northeast-1a"), Healthy),
        target("c", Some("ap-northeast-1c"), Healthy),
        target("d", Some("ap-northeast-1a"), Draining),
        target("all", None, Unhealthy),
    ];
    let ids = |r: &Route| r.candidates().iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&route(ts.clone(), false, vec![])), vec!["a"]);
    assert_eq!(ids(&route(ts.clone(), true, vec![])), vec!["a", "c"]);
    let sick = vec![target("a", Some("ap-northeast-1a"), Unhealthy), target("b", None, Initial)];
    assert_eq!(ids(&route(sick, false, vec![])), vec!["a", "b"], "no healthy target: fail open");
    let draining = vec![target("d", Some("ap-northeast-1a"), Draining)];
    assert!(route(draining, true, vec![]).candidates().is_empty());
}

#[test]
fn flow_hash_is_stable_per_tuple() {
    let a: SocketAddrV4 = "127.2.16.99:40000".parse().unwrap();
    let b: SocketAddrV4 = "127.2.20.69:80".parse().unwrap();
    assert_eq!(flow_hash(a, b), flow_hash(a, b));
    assert_ne!(flow_hash(a, b), flow_hash("127.2.16.99:40001".parse().unwrap(), b));
}

#[test]
fn flows_from_nearby_even_ports_spread_over_targets() {
    let dst: SocketAddrV4 = "127.2.20.69:80".parse().unwrap();
    for n in [2u64, 3, 4] {
        let mut hits = vec![0; n as usize];
        for port in (40000..40040).step_by(2) {
            let src = SocketAddrV4::new("127.2.16.99".parse().unwrap(), port);
            hits[(flow_hash(src, dst) % n) as usize] += 1;
        }
        assert!(hits.iter().all(|&h| h >= 2), "{n} targets: {hits:?}");
    }
}
