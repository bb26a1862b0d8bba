//! The harness as a user's integration test would use it: only the public
//! API, a topology in a few lines, traffic through it, typed AWS errors.

use std::time::{Duration, Instant};

use privatelink_client::scenario::{self, ServiceSpec};
use privatelink_client::{Client, Credentials, Emulator, Host, REGION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_traffic_and_teardown() {
    let started = Instant::now();
    let emulator = Emulator::builder().start().await.expect("emulator");
    let url = emulator.api_url();
    let provider = Client::new(&url, Credentials::account("111111111111"), REGION).expect("client");
    let consumer = provider.with_credentials(Credentials::account("222222222222"));
    let stranger = provider.with_credentials(Credentials::account("333333333333"));
    assert_eq!(consumer.account().await.expect("sts"), "222222222222");

    let backend = TcpListener::bind("127.0.0.1:0").await.expect("backend");
    let backend_port = backend.local_addr().expect("addr").port();
    let listener_port = TcpListener::bind("127.0.0.1:0").await.expect("probe").local_addr().expect("addr").port();
    let mut spec = ServiceSpec::walkthrough("222222222222");
    spec.listener_port = listener_port;
    spec.targets = vec![("127.0.0.1".into(), backend_port, Some("all".into()))];
    let published = scenario::publish_service(&provider, &spec).await.expect("publish");

    // Someone not allowed gets AWS's error, typed.
    let svpc = stranger.create_vpc("10.50.0.0/16").await.expect("vpc");
    let err = stranger
        .create_interface_endpoint(&svpc.id, &published.service.name, &[], &[], None)
        .await
        .expect_err("not allowed");
    assert_eq!(err.code(), Some("InvalidServiceName"));

    let vpc = scenario::consumer_vpc(&consumer, listener_port).await.expect("consumer vpc");
    let endpoint = scenario::connect(&consumer, &provider, &published.service, &vpc).await.expect("connect");
    assert_eq!(endpoint.state, "available");
    assert_eq!(endpoint.dns_names.len(), 3);

    // Health checks connect too and close without a byte; the request is
    // the first connection that carries data.
    let accept = tokio::spawn(async move {
        loop {
            let (mut s, peer) = backend.accept().await.expect("flow");
            let mut buf = [0u8; 512];
            if s.read(&mut buf).await.unwrap_or(0) == 0 {
                continue;
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await.expect("write");
            break peer;
        }
    });
    let host = Host::in_vpc(&url, &vpc.vpc.id, "10.24.20.251".parse().expect("ip")).await.expect("host");
    let target = format!("http://{}:{listener_port}/", endpoint.dns_names[0]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let (code, body) = loop {
        match host.http_get(&target).await {
            Ok(r) => break r,
            Err(e) if Instant::now() > deadline => panic!("{e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    };
    assert_eq!((code, body.as_str()), (200, "ok"));
    let peer = accept.await.expect("backend");
    let nodes: Vec<String> = published.load_balancer.nodes.iter().map(|(_, ip)| ip.clone()).collect();
    let seen = Host::in_vpc(&url, &published.vpc.id, nodes[0].parse().expect("node ip")).await.expect("node");
    let seen2 = Host::in_vpc(&url, &published.vpc.id, nodes[1].parse().expect("node ip")).await.expect("node");
    assert!(
        peer.ip() == seen.host_address || peer.ip() == seen2.host_address,
        "the backend saw {peer}, not an NLB node ({nodes:?})"
    );
    assert_ne!(peer.ip(), host.host_address, "never the consumer's address");
    emulator.shutdown().await.expect("emulator shuts down");
    eprintln!("harness: topology, traffic and teardown in {:?}", started.elapsed());
}
