//! The emulator inside a test: start it on free ports, build a provider and
//! a consumer through the real HTTP API, carry a TCP flow through the
//! endpoint to a backend, and check the backend saw the NLB's address.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use privatelink_emulator::Emulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// One Query API call, signed only by its credential scope (lenient mode).
async fn call(api: SocketAddr, account: &str, service: &str, body: &str) -> String {
    let mut s = TcpStream::connect(api).await.expect("api reachable");
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={account}/20261122/ap-northeast-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("request sent");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("response read");
    assert!(out.starts_with("HTTP/1.1 200"), "{body} -> {out}");
    out
}

fn field(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = xml[start..].find('<').expect("closing tag") + start;
    xml[start..end].to_string()
}

fn fields(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    xml.match_indices(&open)
        .map(|(i, _)| {
            let start = i + open.len();
            xml[start..start + xml[start..].find('<').expect("closing tag")].to_string()
        })
        .collect()
}

fn enc(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_through_an_endpoint_reaches_the_backend_from_the_nlb() {
    let started = Instant::now();
    let emulator = Emulator::builder().start().await.expect("emulator starts");
    let api = emulator.api_addr();
    let (p, c) = ("111111111111", "222222222222");

    let vpc = field(&call(api, p, "ec2", "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16").await, "vpcId");
    let subnet = field(
        &call(api, p, "ec2", &format!("Action=CreateSubnet&Version=2016-11-15&VpcId={vpc}&CidrBlock=10.0.0.0%2F20&AvailabilityZone=ap-northeast-1a")).await,
        "subnetId",
    );
    let lb = call(api, p, "elasticloadbalancing", &format!("Action=CreateLoadBalancer&Version=2015-12-01&Name=web&Type=network&Scheme=internal&Subnets.member.1={subnet}")).await;
    let lb_arn = field(&lb, "LoadBalancerArn");
    let node = field(&lb, "PrivateIPv4Address");

    // The backend: a local process, registered as a target outside every VPC.
    let backend = TcpListener::bind("127.0.0.1:0").await.expect("backend binds");
    let backend_port = backend.local_addr().expect("addr").port();
    let tg = field(
        &call(api, p, "elasticloadbalancing", &format!("Action=CreateTargetGroup&Version=2015-12-01&Name=web&Protocol=TCP&Port={backend_port}&VpcId={vpc}&TargetType=ip")).await,
        "TargetGroupArn",
    );
    call(api, p, "elasticloadbalancing", &format!("Action=RegisterTargets&Version=2015-12-01&TargetGroupArn={}&Targets.member.1.Id=127.0.0.1&Targets.member.1.Port={backend_port}&Targets.member.1.AvailabilityZone=all", enc(&tg))).await;
    let listener_port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("addr").port()
    };
    call(api, p, "elasticloadbalancing", &format!("Action=CreateListener&Version=2015-12-01&LoadBalancerArn={}&Protocol=TCP&Port={listener_port}&DefaultActions.member.1.Type=forward&DefaultActions.member.1.TargetGroupArn={}", enc(&lb_arn), enc(&tg))).await;
    let svc = call(api, p, "ec2", &format!("Action=CreateVpcEndpointServiceConfiguration&Version=2016-11-15&AcceptanceRequired=false&NetworkLoadBalancerArn.1={}", enc(&lb_arn))).await;
    let (svc_id, svc_name) = (field(&svc, "serviceId"), field(&svc, "serviceName"));
    call(
        api,
        p,
        "ec2",
        &format!(
            "Action=ModifyVpcEndpointServicePermissions&Version=2016-11-15&ServiceId={svc_id}&AddAllowedPrincipals.1=*"
        ),
    )
    .await;

    let cvpc =
        field(&call(api, c, "ec2", "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.24.0.0%2F16").await, "vpcId");
    let csub = field(
        &call(api, c, "ec2", &format!("Action=CreateSubnet&Version=2016-11-15&VpcId={cvpc}&CidrBlock=10.24.16.0%2F20&AvailabilityZone=ap-northeast-1a")).await,
        "subnetId",
    );
    let ep = call(api, c, "ec2", &format!("Action=CreateVpcEndpoint&Version=2016-11-15&VpcEndpointType=Interface&VpcId={cvpc}&ServiceName={svc_name}&SubnetId.1={csub}")).await;
    let ep_id = field(&ep, "vpcEndpointId");
    // With no pending delay, the `pending` the create answered (and so was
    // seen) is over by the next request: the engine advances it first.
    let d =
        call(api, c, "ec2", &format!("Action=DescribeVpcEndpoints&Version=2016-11-15&VpcEndpointId.1={ep_id}")).await;
    assert_eq!(field(&d, "state"), "available");
    let eni = fields(
        &call(
            api,
            c,
            "ec2",
            &format!(
                "Action=DescribeNetworkInterfaces&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1={cvpc}"
            ),
        )
        .await,
        "privateIpAddress",
    )[0]
    .clone();

    // Host addresses of the consumer VPC and the provider VPC.
    let (cblock, pblock) = {
        let w = emulator.shared().world();
        let r = w.region("ap-northeast-1").expect("region");
        (r.vpcs[&cvpc].host_block, r.vpcs[&vpc].host_block)
    };
    let host = |block: u8, ip: &str| {
        let o: Vec<u8> = ip.split('.').map(|x| x.parse().expect("octet")).collect();
        Ipv4Addr::new(127, block, o[2], o[3])
    };
    let eni_host = SocketAddrV4::new(host(cblock, &eni), listener_port);
    let client_host = host(cblock, "10.24.16.99");

    // Health checks connect too and close without a byte; the flow is the
    // first connection that carries the request.
    let serve = tokio::spawn(async move {
        loop {
            let (mut s, peer) = backend.accept().await.expect("flow arrives");
            let mut buf = [0u8; 5];
            if s.read_exact(&mut buf).await.is_err() {
                continue;
            }
            s.write_all(b"world").await.expect("answer");
            break peer;
        }
    });
    // The listener is there once the data plane has followed every change.
    assert!(emulator.settle(Duration::from_secs(10)).await, "the followers settle");
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::V4(SocketAddrV4::new(client_host, 0))).expect("bind in the consumer VPC");
    let mut stream = socket.connect(SocketAddr::V4(eni_host)).await.expect("the endpoint's listener");
    stream.write_all(b"hello").await.expect("send");
    let mut answer = [0u8; 5];
    stream.read_exact(&mut answer).await.expect("answer");
    assert_eq!(&answer, b"world");
    let seen = serve.await.expect("backend task");
    assert_eq!(seen.ip(), std::net::IpAddr::V4(host(pblock, &node)), "the backend sees the NLB node");
    assert_ne!(seen.ip(), std::net::IpAddr::V4(client_host));
    emulator.shutdown().await.expect("emulator shuts down");
    eprintln!("in-process topology, flow and teardown: {:?}", started.elapsed());
}
