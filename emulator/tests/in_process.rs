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

/// A TLS client of the endpoint, from `source`, trusting only `ca`, naming
/// `name` by SNI: sends `hello`, returns the answer, or the TLS error.
async fn tls_request(source: Ipv4Addr, to: SocketAddrV4, ca: &str, name: &str) -> Result<[u8; 5], std::io::Error> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from_pem_slice(ca.as_bytes()).expect("CA pem")).expect("CA");
    let config =
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    let tcp = socket.connect(SocketAddr::V4(to)).await?;
    let name = rustls::pki_types::ServerName::try_from(name.to_string()).expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await?;
    tls.write_all(b"hello").await?;
    let mut answer = [0u8; 5];
    tls.read_exact(&mut answer).await?;
    Ok(answer)
}

/// A target speaking TLS with a self-signed certificate, behind PROXY v2:
/// reports, per flow, where it came from and the source the header named.
async fn tls_target(backend: TcpListener, seen: tokio::sync::mpsc::UnboundedSender<(SocketAddr, SocketAddrV4)>) {
    let cert = rcgen::generate_simple_self_signed(vec!["target.internal".to_string()]).expect("target cert");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .expect("target config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    loop {
        let Ok((mut s, peer)) = backend.accept().await else { return };
        let (acceptor, seen) = (acceptor.clone(), seen.clone());
        tokio::spawn(async move {
            // Health checks connect and close without a byte.
            let mut head = [0u8; 16];
            if s.read_exact(&mut head).await.is_err() {
                return;
            }
            assert_eq!(&head[..12], b"\r\n\r\n\x00\r\nQUIT\n", "PROXY v2 comes first, in the clear");
            let mut body = vec![0u8; u16::from_be_bytes([head[14], head[15]]) as usize];
            s.read_exact(&mut body).await.expect("PROXY v2 body");
            let src = SocketAddrV4::new(
                Ipv4Addr::new(body[0], body[1], body[2], body[3]),
                u16::from_be_bytes([body[8], body[9]]),
            );
            let mut tls = acceptor.accept(s).await.expect("the NLB speaks TLS to a TLS target group");
            let mut buf = [0u8; 5];
            tls.read_exact(&mut buf).await.expect("request");
            assert_eq!(&buf, b"hello", "decrypted by the NLB, encrypted again to the target");
            tls.write_all(b"world").await.expect("answer");
            tls.shutdown().await.ok();
            let _ = seen.send((peer, src));
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_listener_ends_tls_and_reencrypts_to_a_tls_target_group() {
    let emulator = Emulator::builder().start().await.expect("emulator starts");
    let api = emulator.api_addr();
    let (p, c) = ("111111111111", "222222222222");
    let lbv = "Version=2015-12-01";
    let vpc = field(&call(api, p, "ec2", "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16").await, "vpcId");
    let subnet = field(
        &call(api, p, "ec2", &format!("Action=CreateSubnet&Version=2016-11-15&VpcId={vpc}&CidrBlock=10.0.0.0%2F20&AvailabilityZone=ap-northeast-1a")).await,
        "subnetId",
    );
    let lb = call(
        api,
        p,
        "elasticloadbalancing",
        &format!("Action=CreateLoadBalancer&{lbv}&Name=tls&Type=network&Scheme=internal&Subnets.member.1={subnet}"),
    )
    .await;
    let (lb_arn, node, lb_dns) =
        (field(&lb, "LoadBalancerArn"), field(&lb, "PrivateIPv4Address"), field(&lb, "DNSName"));
    let backend = TcpListener::bind("127.0.0.1:0").await.expect("backend binds");
    let backend_port = backend.local_addr().expect("addr").port();
    let tg = field(
        &call(
            api,
            p,
            "elasticloadbalancing",
            &format!(
                "Action=CreateTargetGroup&{lbv}&Name=tls&Protocol=TLS&Port={backend_port}&VpcId={vpc}&TargetType=ip"
            ),
        )
        .await,
        "TargetGroupArn",
    );
    call(api, p, "elasticloadbalancing", &format!("Action=ModifyTargetGroupAttributes&{lbv}&TargetGroupArn={}&Attributes.member.1.Key=proxy_protocol_v2.enabled&Attributes.member.1.Value=true", enc(&tg))).await;
    call(api, p, "elasticloadbalancing", &format!("Action=RegisterTargets&{lbv}&TargetGroupArn={}&Targets.member.1.Id=127.0.0.1&Targets.member.1.Port={backend_port}&Targets.member.1.AvailabilityZone=all", enc(&tg))).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let acm = "arn:aws:acm:ap-northeast-1:111111111111:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    let listener = call(api, p, "elasticloadbalancing", &format!("Action=CreateListener&{lbv}&LoadBalancerArn={}&Protocol=TLS&Port={port}&SslPolicy=ELBSecurityPolicy-TLS13-1-2-2021-06&Certificates.member.1.CertificateArn={}&DefaultActions.member.1.Type=forward&DefaultActions.member.1.TargetGroupArn={}", enc(&lb_arn), enc(acm), enc(&tg))).await;
    let listener_arn = field(&listener, "ListenerArn");
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
    let ep_dns = fields(&ep, "dnsName");
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
    let (cblock, pblock) = {
        let w = emulator.shared().world();
        let r = w.region("ap-northeast-1").expect("region");
        (r.vpcs[&cvpc].host_block, r.vpcs[&vpc].host_block)
    };
    let host = |block: u8, ip: &str| {
        let o: Vec<u8> = ip.split('.').map(|x| x.parse().expect("octet")).collect();
        Ipv4Addr::new(127, block, o[2], o[3])
    };
    let eni_host = SocketAddrV4::new(host(cblock, &eni), port);
    let client_host = host(cblock, "10.24.16.99");
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let target = tokio::spawn(tls_target(backend, tx));
    assert!(emulator.settle(Duration::from_secs(10)).await, "the followers settle");
    let ca = emulator.shared().tls_ca_pem.get().expect("the local CA").clone();

    // The endpoint's regional and zonal names and the NLB's name verify.
    assert_eq!(ep_dns.len(), 2, "{ep_dns:?}");
    for name in ep_dns.iter().chain([&lb_dns]) {
        let answer = tls_request(client_host, eni_host, &ca, name).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&answer, b"world");
        let (peer, src) = seen.recv().await.expect("the target saw the flow");
        assert_eq!(peer.ip(), std::net::IpAddr::V4(host(pblock, &node)), "the target sees the NLB node");
        assert_eq!(*src.ip(), Ipv4Addr::new(10, 24, 16, 99), "PROXY v2 names the consumer");
    }
    // A name the certificate does not carry fails verification.
    let err = tls_request(client_host, eni_host, &ca, "api.example.com").await.expect_err("not its name");
    assert!(err.to_string().contains("certificate"), "{err}");

    // ModifyListener's certificate serves new connections: an IAM server
    // certificate named by a domain also carries that domain.
    let iam = "arn:aws:iam::111111111111:server-certificate/api.example.com";
    call(
        api,
        p,
        "elasticloadbalancing",
        &format!(
            "Action=ModifyListener&{lbv}&ListenerArn={}&Certificates.member.1.CertificateArn={}",
            enc(&listener_arn),
            enc(iam)
        ),
    )
    .await;
    assert!(emulator.settle(Duration::from_secs(10)).await, "the followers settle");
    let answer = tls_request(client_host, eni_host, &ca, "api.example.com").await.expect("the new certificate");
    assert_eq!(&answer, b"world");
    seen.recv().await.expect("the target saw the flow");
    target.abort();
    emulator.shutdown().await.expect("emulator shuts down");
}
