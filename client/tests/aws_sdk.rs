//! The walkthrough driven by the official AWS SDK for Rust (`aws-sdk-ec2`,
//! `aws-sdk-elasticloadbalancingv2`) against an in-process emulator: the
//! SDK's own serializers, signers, retry layer and XML parsers, unchanged,
//! with only `endpoint_url` pointing at the emulator.
//!
//! Run with `cargo test -p privatelink-client --features aws-sdk --test aws_sdk`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use aws_sdk_ec2 as ec2;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, IpPermission, IpRange, VpcEndpointType};
use aws_sdk_elasticloadbalancingv2 as elb;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, ProtocolEnum,
    TargetDescription, TargetTypeEnum,
};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use privatelink_client::{Emulator, Host, REGION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PROVIDER: &str = "111111111111";
const CONSUMER: &str = "222222222222";
const STRANGER: &str = "333333333333";

/// SDK clients for one account: its access key id is the account id, as
/// the emulator reads it.
fn clients(url: &str, account: &str) -> (ec2::Client, elb::Client) {
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let creds = ec2::config::Credentials::new(account, "secret", None, None, "emulator");
    let ec2 = ec2::Config::builder()
        .behavior_version(ec2::config::BehaviorVersion::latest())
        .region(ec2::config::Region::new(REGION))
        .credentials_provider(creds.clone())
        .endpoint_url(url)
        .http_client(http.clone())
        .build();
    let elb = elb::Config::builder()
        .behavior_version(elb::config::BehaviorVersion::latest())
        .region(elb::config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(url)
        .http_client(http)
        .build();
    (ec2::Client::from_conf(ec2), elb::Client::from_conf(elb))
}

/// An endpoint's state as it is on the wire. AWS answers endpoint states
/// in lowerCamel (`pendingAcceptance`, `available`) while the SDK's `State`
/// enum is generated with capitalised values, so a real AWS answer arrives
/// as `State::Unknown("pendingAcceptance")`; the emulator answers as AWS
/// does, and so do these checks.
fn wire<T: AsRef<str>>(state: Option<&T>) -> &str {
    state.map(AsRef::as_ref).unwrap_or("")
}

async fn vpc_with_subnets(ec2: &ec2::Client, cidr: &str, subnets: &[(&str, &str)]) -> (String, Vec<String>) {
    let vpc = ec2.create_vpc().cidr_block(cidr).send().await.expect("CreateVpc");
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).expect("VpcId").to_string();
    let mut ids = Vec::new();
    for (cidr, zone) in subnets {
        let s = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(*cidr)
            .availability_zone(*zone)
            .send()
            .await
            .expect("CreateSubnet");
        let subnet = s.subnet().expect("Subnet");
        assert_eq!(subnet.availability_zone(), Some(*zone));
        ids.push(subnet.subnet_id().expect("SubnetId").to_string());
    }
    (vpc_id, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough_with_the_official_sdk() {
    let started = Instant::now();
    let emulator = Emulator::builder().start().await.expect("emulator");
    let url = emulator.api_url();
    let (p_ec2, p_elb) = clients(&url, PROVIDER);
    let (c_ec2, _) = clients(&url, CONSUMER);
    let (s_ec2, _) = clients(&url, STRANGER);

    // A backend on loopback; the listener port is one free on this machine.
    let backend = TcpListener::bind("127.0.0.1:0").await.expect("backend");
    let backend_port = backend.local_addr().expect("addr").port();
    let port = TcpListener::bind("127.0.0.1:0").await.expect("probe").local_addr().expect("addr").port();

    // Provider: VPC, NLB in two zones, target group, target, listener.
    let (p_vpc, p_subnets) = vpc_with_subnets(
        &p_ec2,
        "10.0.0.0/16",
        &[("10.0.0.0/20", "ap-northeast-1a"), ("10.0.128.0/20", "ap-northeast-1c")],
    )
    .await;
    let lb = p_elb
        .create_load_balancer()
        .name("privatelink-web")
        .r#type(LoadBalancerTypeEnum::Network)
        .scheme(LoadBalancerSchemeEnum::Internal)
        .set_subnets(Some(p_subnets.clone()))
        .send()
        .await
        .expect("CreateLoadBalancer");
    let lb = lb.load_balancers().first().expect("LoadBalancers").clone();
    let lb_arn = lb.load_balancer_arn().expect("arn").to_string();
    assert!(lb_arn.contains(":loadbalancer/net/privatelink-web/"), "{lb_arn}");
    let dns_name = lb.dns_name().expect("DNSName");
    assert!(dns_name.starts_with("privatelink-web-") && dns_name.ends_with(".elb.ap-northeast-1.amazonaws.com"));
    let nodes: Vec<Ipv4Addr> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.load_balancer_addresses().first()?.private_ipv4_address()?.parse().ok())
        .collect();
    assert_eq!(nodes.len(), 2, "one node address per subnet: {lb:?}");

    let tg = p_elb
        .create_target_group()
        .name("privatelink-web")
        .protocol(ProtocolEnum::Tcp)
        .port(port as i32)
        .vpc_id(&p_vpc)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .expect("CreateTargetGroup");
    let tg_arn = tg.target_groups().first().and_then(|t| t.target_group_arn()).expect("arn").to_string();
    let target =
        TargetDescription::builder().id("127.0.0.1").port(backend_port as i32).availability_zone("all").build();
    p_elb.register_targets().target_group_arn(&tg_arn).targets(target).send().await.expect("RegisterTargets");
    let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&tg_arn).build();
    p_elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(ProtocolEnum::Tcp)
        .port(port as i32)
        .default_actions(forward)
        .send()
        .await
        .expect("CreateListener");
    p_elb
        .modify_load_balancer_attributes()
        .load_balancer_arn(&lb_arn)
        .attributes(LoadBalancerAttribute::builder().key("load_balancing.cross_zone.enabled").value("true").build())
        .send()
        .await
        .expect("ModifyLoadBalancerAttributes");

    // The endpoint service, acceptance required, the consumer allowed.
    let svc = p_ec2
        .create_vpc_endpoint_service_configuration()
        .network_load_balancer_arns(&lb_arn)
        .acceptance_required(true)
        .send()
        .await
        .expect("CreateVpcEndpointServiceConfiguration");
    let svc = svc.service_configuration().expect("ServiceConfiguration");
    let service_id = svc.service_id().expect("ServiceId").to_string();
    let service_name = svc.service_name().expect("ServiceName").to_string();
    assert_eq!(service_name, format!("com.amazonaws.vpce.{REGION}.{service_id}"));
    assert!(service_id.starts_with("vpce-svc-") && service_id.len() == "vpce-svc-".len() + 17);
    p_ec2
        .modify_vpc_endpoint_service_permissions()
        .service_id(&service_id)
        .add_allowed_principals(format!("arn:aws:iam::{CONSUMER}:root"))
        .send()
        .await
        .expect("ModifyVpcEndpointServicePermissions");

    // The consumer sees the service; a stranger neither sees nor reaches it.
    let seen = c_ec2.describe_vpc_endpoint_services().send().await.expect("DescribeVpcEndpointServices");
    assert!(seen.service_names().contains(&service_name));
    let hidden = s_ec2.describe_vpc_endpoint_services().send().await.expect("DescribeVpcEndpointServices");
    assert!(!hidden.service_names().contains(&service_name));
    let (s_vpc, _) = vpc_with_subnets(&s_ec2, "10.50.0.0/16", &[]).await;
    let err = s_ec2
        .create_vpc_endpoint()
        .vpc_endpoint_type(VpcEndpointType::Interface)
        .vpc_id(&s_vpc)
        .service_name(&service_name)
        .send()
        .await
        .expect_err("a stranger may not connect");
    assert_eq!(err.code(), Some("InvalidServiceName"), "{err:?}");

    // Consumer: VPC 10.24.0.0/16 with DNS hostnames, two subnets, a security group.
    let (c_vpc, c_subnets) = vpc_with_subnets(
        &c_ec2,
        "10.24.0.0/16",
        &[("10.24.16.0/20", "ap-northeast-1a"), ("10.24.112.0/20", "ap-northeast-1c")],
    )
    .await;
    c_ec2
        .modify_vpc_attribute()
        .vpc_id(&c_vpc)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .expect("ModifyVpcAttribute");
    let sg = c_ec2
        .create_security_group()
        .group_name("endpoint")
        .description("endpoint")
        .vpc_id(&c_vpc)
        .send()
        .await
        .expect("CreateSecurityGroup");
    let sg_id = sg.group_id().expect("GroupId").to_string();
    c_ec2
        .authorize_security_group_ingress()
        .group_id(&sg_id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(port as i32)
                .to_port(port as i32)
                .ip_ranges(IpRange::builder().cidr_ip("10.24.0.0/16").build())
                .build(),
        )
        .send()
        .await
        .expect("AuthorizeSecurityGroupIngress");

    let created = c_ec2
        .create_vpc_endpoint()
        .vpc_endpoint_type(VpcEndpointType::Interface)
        .vpc_id(&c_vpc)
        .service_name(&service_name)
        .set_subnet_ids(Some(c_subnets.clone()))
        .security_group_ids(&sg_id)
        .private_dns_enabled(false)
        .send()
        .await
        .expect("CreateVpcEndpoint");
    let endpoint = created.vpc_endpoint().expect("VpcEndpoint");
    let endpoint_id = endpoint.vpc_endpoint_id().expect("id").to_string();
    assert!(endpoint_id.starts_with("vpce-") && endpoint_id.len() == "vpce-".len() + 17);
    assert_eq!(wire(endpoint.state()), "pendingAcceptance");

    // The provider sees the request and accepts it.
    let conns = p_ec2
        .describe_vpc_endpoint_connections()
        .filters(Filter::builder().name("service-id").values(&service_id).build())
        .send()
        .await
        .expect("DescribeVpcEndpointConnections");
    let conn = conns.vpc_endpoint_connections().first().expect("a connection");
    assert_eq!(conn.vpc_endpoint_id(), Some(endpoint_id.as_str()));
    assert_eq!(conn.vpc_endpoint_owner(), Some(CONSUMER));
    assert_eq!(wire(conn.vpc_endpoint_state()), "pendingAcceptance");
    let accepted = p_ec2
        .accept_vpc_endpoint_connections()
        .service_id(&service_id)
        .vpc_endpoint_ids(&endpoint_id)
        .send()
        .await
        .expect("AcceptVpcEndpointConnections");
    assert!(accepted.unsuccessful().is_empty(), "{accepted:?}");

    // Polled through `pending` to `available`, as the SDK's waiters do.
    let deadline = Instant::now() + Duration::from_secs(30);
    let endpoint = loop {
        let d = c_ec2.describe_vpc_endpoints().vpc_endpoint_ids(&endpoint_id).send().await.expect("Describe");
        let e = d.vpc_endpoints().first().expect("the endpoint").clone();
        match wire(e.state()) {
            "available" => break e,
            "pending" | "pendingAcceptance" if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => panic!("endpoint stuck in {other:?}"),
        }
    };
    let enis = endpoint.network_interface_ids().to_vec();
    assert_eq!(enis.len(), 2, "one ENI per subnet");
    let described = c_ec2
        .describe_network_interfaces()
        .set_network_interface_ids(Some(enis))
        .send()
        .await
        .expect("DescribeNetworkInterfaces");
    for eni in described.network_interfaces() {
        let ip = eni.private_ip_address().expect("address");
        assert!(ip.starts_with("10.24."), "ENI address {ip} outside the consumer VPC");
        assert_eq!(eni.requester_managed(), Some(true));
        assert_eq!(eni.vpc_id(), Some(c_vpc.as_str()));
    }
    let names: Vec<&str> = endpoint.dns_entries().iter().filter_map(|d| d.dns_name()).collect();
    assert_eq!(names.len(), 3, "regional + one zonal per zone: {names:?}");
    let suffix = format!(".{service_id}.{REGION}.vpce.amazonaws.com");
    assert!(names[0].starts_with(&format!("{endpoint_id}-")) && names[0].ends_with(&suffix), "{names:?}");
    assert!(names[1].contains("-ap-northeast-1a.") && names[2].contains("-ap-northeast-1c."), "{names:?}");

    // Traffic: a host in the consumer VPC resolves the regional name and
    // connects; the backend answers and sees an NLB node, never the consumer.
    // The NLB's health checks connect too (they start as soon as the
    // listener forwards to a registered target) and close without a byte;
    // the flow is the first connection that carries data.
    let accept = tokio::spawn(async move {
        loop {
            let (mut s, peer) = backend.accept().await.expect("flow");
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                continue;
            }
            s.write_all(&buf[..n]).await.expect("echo");
            break peer;
        }
    });
    // `available` is the API's answer; the data plane serves it once it has
    // applied that change (until then the ENIs refuse, as for a pending
    // endpoint), so wait for that signal before the first byte.
    assert!(emulator.settle(Duration::from_secs(10)).await, "DNS and the data plane caught up");
    let host = Host::in_vpc(&url, &c_vpc, "10.24.20.251".parse().expect("ip")).await.expect("host");
    let addrs = host.resolve(names[0]).await.expect("resolve");
    assert_eq!(addrs.len(), 2, "the regional name answers both ENIs: {addrs:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stream = loop {
        match host.connect(SocketAddrV4::new(addrs[0], port)).await {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => panic!("connect: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    };
    stream.write_all(b"hello through PrivateLink").await.expect("write");
    let mut echo = vec![0u8; 25];
    stream.read_exact(&mut echo).await.expect("echo");
    assert_eq!(echo, b"hello through PrivateLink");
    let peer = accept.await.expect("backend");
    let mut node_hosts = Vec::new();
    for ip in &nodes {
        node_hosts.push(Host::in_vpc(&url, &p_vpc, *ip).await.expect("node").host_address);
    }
    assert!(node_hosts.contains(&match peer.ip() {
        std::net::IpAddr::V4(v4) => v4,
        other => panic!("backend saw {other}"),
    }));
    assert_ne!(peer.ip(), host.host_address);
    drop(stream);

    // Teardown through the SDK.
    let deleted = c_ec2.delete_vpc_endpoints().vpc_endpoint_ids(&endpoint_id).send().await.expect("DeleteVpcEndpoints");
    assert!(deleted.unsuccessful().is_empty(), "{deleted:?}");
    let gone = p_ec2
        .delete_vpc_endpoint_service_configurations()
        .service_ids(&service_id)
        .send()
        .await
        .expect("DeleteVpcEndpointServiceConfigurations");
    assert!(gone.unsuccessful().is_empty(), "{gone:?}");
    p_elb.delete_load_balancer().load_balancer_arn(&lb_arn).send().await.expect("DeleteLoadBalancer");
    let left = p_elb.describe_load_balancers().send().await.expect("DescribeLoadBalancers");
    assert!(left.load_balancers().is_empty());
    emulator.shutdown().await.expect("emulator shuts down");
    eprintln!("aws-sdk walkthrough in {:?}", started.elapsed());
}
