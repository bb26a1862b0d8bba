//! Stand up a provider and a consumer in-process, send a request through the
//! endpoint to a local backend, and print what the backend saw.
//!
//! cargo run -p privatelink-client --example quickstart

use std::net::SocketAddr;
use std::time::Duration;

use privatelink_client::scenario::{self, ServiceSpec};
use privatelink_client::{Client, Credentials, Emulator, Host, REGION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Returns the address the backend saw the request come from.
async fn run() -> Result<SocketAddr, Box<dyn std::error::Error>> {
    let emulator = Emulator::builder().start().await?;
    let provider = Client::new(&emulator.api_url(), Credentials::account("111111111111"), REGION)?;
    let consumer = Client::new(&emulator.api_url(), Credentials::account("222222222222"), REGION)?;

    // A backend on this machine, registered as a target outside every VPC.
    let backend = TcpListener::bind("127.0.0.1:0").await?;
    let backend_port = backend.local_addr()?.port();
    let listener_port = TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port();
    let mut spec = ServiceSpec::walkthrough("222222222222");
    spec.listener_port = listener_port;
    spec.targets = vec![("127.0.0.1".into(), backend_port, Some("all".into()))];
    let published = scenario::publish_service(&provider, &spec).await?;
    let vpc = scenario::consumer_vpc(&consumer, listener_port).await?;
    let endpoint = scenario::connect(&consumer, &provider, &published.service, &vpc).await?;

    let seen = tokio::spawn(async move {
        let (mut s, peer) = backend.accept().await?;
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await?;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nhi\n").await?;
        Ok::<_, std::io::Error>(peer)
    });
    let host = Host::in_vpc(&emulator.api_url(), &vpc.vpc.id, "10.24.20.251".parse()?).await?;
    let url = format!("http://{}:{listener_port}/", endpoint.dns_names[0]);
    // The data plane opens the listener once it has followed the change.
    if !emulator.settle(Duration::from_secs(10)).await {
        return Err("the data plane did not follow the endpoint within 10 s".into());
    }
    let (code, body) = host.http_get(&url).await?;
    println!("{url} -> {code} {}", body.trim());
    let peer = seen.await??;
    println!("the backend saw {peer} (an NLB node of {})", published.load_balancer.dns_name);
    emulator.shutdown().await?;
    Ok(peer)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().await.map(|_| ())
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn quickstart_runs() {
        let peer = super::run().await.expect("the quickstart runs");
        assert!(peer.ip().is_loopback());
        assert_ne!(peer.ip().to_string(), "127.0.0.1", "the backend sees the NLB node, not a plain host address");
    }
}
