//! The narrated walkthrough: every step prints the AWS CLI command it
//! stands for, the API call, and what AWS would show.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use privatelink_client::scenario::{self, ServiceSpec};
use privatelink_client::{host, Client, Credentials, Emulator, Host, REGION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PROVIDER: &str = "111111111111";
const CONSUMER: &str = "222222222222";
const BODY: &str = "AWS PrivateLink Connect Success.\n";

struct Steps {
    n: usize,
    started: Instant,
    /// Wait for Enter before each step after the first, so a trainer can
    /// talk over the console.
    pause: bool,
}

impl Steps {
    fn step(&mut self, who: &str, title: &str, cli: &str) {
        if self.pause && self.n > 0 {
            println!("    (Enter for the next step)");
            // The end of input goes on without waiting.
            let _ = tokio::task::block_in_place(|| std::io::stdin().read_line(&mut String::new()));
        }
        self.n += 1;
        println!("\n[{}] {who}: {title}", self.n);
        println!("    $ {cli}");
    }

    fn show(&self, line: impl AsRef<str>) {
        println!("    {}", line.as_ref());
    }
}

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

/// Where a VPC address lives on the host, from the status document.
async fn host_address(url: &str, vpc_id: &str, ip: Ipv4Addr) -> Result<Ipv4Addr, String> {
    Host::in_vpc(url, vpc_id, ip).await.map(|h| h.host_address).map_err(e)
}

/// `base`, or `base-2`, `base-3`... : the first name no load balancer of
/// the provider has yet.
async fn unused_name(provider: &Client, base: &str) -> Result<String, String> {
    for n in 1..1000 {
        let name = if n == 1 { base.to_string() } else { format!("{base}-{n}") };
        match provider.elbv2("DescribeLoadBalancers", &[("Names.member.1", name.clone())]).await {
            Err(err) if err.code() == Some("LoadBalancerNotFound") => return Ok(name),
            Err(err) => return Err(err.to_string()),
            Ok(_) => {}
        }
    }
    Err(format!("every name from {base} to {base}-999 is taken"))
}

/// How the walkthrough is shown to the people watching it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Show {
    /// Wait for Enter before each step after the first.
    pub pause: bool,
    /// Open the web console in a browser before the first step.
    pub open_console: bool,
}

pub async fn run(url: &str, in_process: bool, port: u16, show: Show) -> Result<(), String> {
    let emulator = if in_process { Some(Emulator::builder().start().await.map_err(e)?) } else { None };
    let url = emulator.as_ref().map(|em| em.api_url()).unwrap_or_else(|| url.to_string());
    let result = walkthrough(&url, port, show).await;
    if let Some(em) = emulator {
        em.shutdown().await.map_err(e)?;
    }
    result
}

/// Starts the user's browser on `page` without waiting for it: the command
/// in `$BROWSER` (the page as its last argument), else the desktop's opener.
fn open_in_browser(page: &str) -> Result<String, String> {
    let command = match std::env::var("BROWSER") {
        Ok(b) if !b.trim().is_empty() => b,
        _ if cfg!(target_os = "macos") => "open".to_string(),
        _ => "xdg-open".to_string(),
    };
    let mut words = command.split_whitespace();
    let program = words.next().ok_or("BROWSER is empty")?;
    let child = std::process::Command::new(program)
        .args(words)
        .arg(page)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|err| format!("{command}: {err}"))?;
    // Reaped in the background: the demo goes on while the browser runs.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(command)
}

async fn walkthrough(url: &str, port: u16, show: Show) -> Result<(), String> {
    let provider = Client::new(url, Credentials::account(PROVIDER), REGION).map_err(e)?;
    let consumer = Client::new(url, Credentials::account(CONSUMER), REGION).map_err(e)?;
    let mut s = Steps { n: 0, started: Instant::now(), pause: show.pause };
    let console = format!("{}/_emulator/console", url.trim_end_matches('/'));
    println!("PrivateLink walkthrough against {url} (region {REGION})");
    println!("watch it live: {console}");
    if show.open_console {
        match open_in_browser(&console) {
            Ok(how) => println!("opened the console with {how}"),
            Err(why) => println!("could not open a browser ({why}): open {console} yourself"),
        }
    }
    println!("provider = account {PROVIDER}, consumer = account {CONSUMER}");

    s.step(
        "Provider",
        "an internal Network Load Balancer in two zones, target 10.0.128.142, cross-zone on",
        "aws elbv2 create-load-balancer --type network --scheme internal --subnets <1a> <1c> ...",
    );
    let mut spec = ServiceSpec::walkthrough(CONSUMER);
    // Run again against the same emulator, the walkthrough builds a second
    // world beside the first: its NLB and target group need another name.
    spec.name = unused_name(&provider, &spec.name).await?;
    spec.listener_port = port;
    spec.targets = vec![("10.0.128.142".into(), port, None)];
    let published = scenario::publish_service(&provider, &spec).await.map_err(e)?;
    let lb = &published.load_balancer;
    s.show(format!("LoadBalancerArn {}", lb.arn));
    s.show(format!("DNSName {}  State {}", lb.dns_name, lb.state));
    for (zone, ip) in &lb.nodes {
        s.show(format!("node in {zone}: {ip}"));
    }

    // The backend: a real HTTP server at the target's address on this host.
    let target_host = host_address(url, &published.vpc.id, Ipv4Addr::new(10, 0, 128, 142)).await?;
    let backend = TcpListener::bind(SocketAddrV4::new(target_host, port)).await.map_err(|err| {
        format!("the backend cannot listen on {target_host}:{port}: {err} (use --port 8080 without privileges)")
    })?;
    let log: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
    tokio::spawn(serve_backend(backend, log.clone()));
    s.show(format!("backend: HTTP on {target_host}:{port} (10.0.128.142:{port} in the provider VPC)"));

    s.step(
        "Provider",
        "the endpoint service, acceptance required",
        "aws ec2 create-vpc-endpoint-service-configuration --network-load-balancer-arns <nlb> --acceptance-required",
    );
    s.show(format!(
        "ServiceId {}  ServiceName {}  State {}",
        published.service.id, published.service.name, published.service.state
    ));

    s.step("Provider", "allow the consumer's account",
        &format!("aws ec2 modify-vpc-endpoint-service-permissions --service-id {} --add-allowed-principals arn:aws:iam::{CONSUMER}:root", published.service.id));
    s.show("AllowedPrincipals: arn:aws:iam::222222222222:root");

    s.step(
        "Consumer",
        "find the service by name",
        &format!("aws ec2 describe-vpc-endpoint-services --service-names {}", published.service.name),
    );
    let visible = consumer.describe_service_names().await.map_err(e)?;
    if !visible.contains(&published.service.name) {
        return Err("the consumer cannot see the service".into());
    }
    s.show(format!("found {}", published.service.name));

    s.step(
        "Consumer",
        "a VPC 10.24.0.0/16 with two subnets and a security group for the port",
        "aws ec2 create-vpc --cidr-block 10.24.0.0/16; aws ec2 create-subnet ...; aws ec2 create-security-group ...",
    );
    let cvpc = scenario::consumer_vpc(&consumer, port).await.map_err(e)?;
    s.show(format!(
        "{} with {} and {}, group {}",
        cvpc.vpc.id, cvpc.subnets[0].id, cvpc.subnets[1].id, cvpc.security_group
    ));

    s.step("Consumer", "the interface endpoint",
        &format!("aws ec2 create-vpc-endpoint --vpc-endpoint-type Interface --vpc-id {} --service-name {} --subnet-ids ... --security-group-ids {}", cvpc.vpc.id, published.service.name, cvpc.security_group));
    let subnets: Vec<&str> = cvpc.subnets.iter().map(|x| x.id.as_str()).collect();
    let ep = consumer
        .create_interface_endpoint(&cvpc.vpc.id, &published.service.name, &subnets, &[&cvpc.security_group], None)
        .await
        .map_err(e)?;
    s.show(format!("VpcEndpointId {}  State {}", ep.id, ep.state));

    s.step("Provider", "the pending connection", "aws ec2 describe-vpc-endpoint-connections");
    for c in provider.describe_connections(&published.service.id).await.map_err(e)? {
        s.show(format!("{} from {}: {}", c.endpoint_id, c.owner, c.state));
    }

    s.step(
        "Provider",
        "accept it",
        &format!(
            "aws ec2 accept-vpc-endpoint-connections --service-id {} --vpc-endpoint-ids {}",
            published.service.id, ep.id
        ),
    );
    let failed = provider.accept_connections(&published.service.id, &[&ep.id]).await.map_err(e)?;
    s.show(format!("Unsuccessful: {failed:?}"));

    s.step(
        "Consumer",
        "wait until available",
        &format!("aws ec2 describe-vpc-endpoints --vpc-endpoint-ids {} (polling)", ep.id),
    );
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let d = consumer.describe_endpoint(&ep.id).await.map_err(e)?;
        if seen.last() != Some(&d.state) {
            seen.push(d.state.clone());
            println!("    ... {}", d.state);
        }
        if d.state == "available" {
            break d;
        }
        if Instant::now() > deadline {
            return Err(format!("endpoint still {} after 30 s", d.state));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for name in &ready.dns_names {
        s.show(format!("DnsName {name}"));
    }
    let enis = consumer.describe_network_interfaces(&ready.network_interface_ids).await.map_err(e)?;
    for n in &enis {
        s.show(format!("ENI {} {} {} ({})", n.id, n.zone, n.private_ip, n.description));
    }

    let me = Host::in_vpc(url, &cvpc.vpc.id, Ipv4Addr::new(10, 24, 20, 251)).await.map_err(e)?;
    let regional = ready.dns_names.first().cloned().ok_or("the endpoint has no DNS name")?;
    s.step("Consumer host 10.24.20.251", "resolve the endpoint's regional name", &format!("dig {regional}"));
    let answers = me.resolve(&regional).await.map_err(e)?;
    for a in &answers {
        // The consumer VPC is a /16: its host block keeps the last two octets.
        let o = a.octets();
        s.show(format!("{regional}. 60 IN A 10.24.{}.{}   (on this host: {a})", o[2], o[3]));
    }
    let st = host::status(url).await.map_err(e)?;
    if let Some(port) = st["dns"]["vpc_resolver_port"].as_u64() {
        s.show(format!(
            ";; SERVER: 10.24.0.2#53 (the VPC resolver; on this host 127.{}.0.2#{port})",
            me.host_address.octets()[1]
        ));
    }
    if answers.len() != enis.len() {
        return Err(format!("{} addresses for {} ENIs", answers.len(), enis.len()));
    }

    s.step("Consumer host 10.24.20.251", "GET through the endpoint", &format!("curl {regional}"));
    let url_port = if port == 80 { String::new() } else { format!(":{port}") };
    // The listener appears as soon as the data plane has followed the change.
    let (code, body) = {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match me.http_get(&format!("http://{regional}{url_port}/")).await {
                Ok(r) => break r,
                Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(err) => return Err(err.to_string()),
            }
        }
    };
    s.show(format!("HTTP {code}: {}", body.trim_end()));
    if body != BODY {
        return Err("unexpected answer from the backend".into());
    }

    s.step("Provider's backend", "the access log: who connected?", "cat /var/log/httpd/access_log");
    let st = host::status(url).await.map_err(e)?;
    let nodes = node_map(&st);
    for peer in log.lock().map_err(e)?.iter() {
        let ip = match peer {
            SocketAddr::V4(v4) => *v4.ip(),
            SocketAddr::V6(_) => continue,
        };
        let vpc_ip = nodes.iter().find(|(h, _)| *h == ip).map(|(_, v)| v.clone()).unwrap_or_else(|| ip.to_string());
        s.show(format!(
            "{vpc_ip} - - \"GET / HTTP/1.1\" 200 {}   (the NLB's address, never the consumer's 10.24.20.251)",
            BODY.len()
        ));
    }
    friendly_name(&mut s, &consumer, &cvpc.vpc.id, &ready, &me, &answers, &url_port).await?;
    println!("\nDone in {:.0} ms.", s.started.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}

/// The zone and name the walkthrough gives the endpoint.
const FRIENDLY_ZONE: &str = "internal.example.com";
const FRIENDLY_NAME: &str = "api.internal.example.com";

/// The last steps: a private hosted zone of the consumer's VPC, an alias
/// to the endpoint's regional name, then dig and curl by that name. A zone
/// left by an earlier run against the same emulator is reused: the new VPC
/// joins it and the alias moves to the new endpoint.
async fn friendly_name(
    s: &mut Steps,
    consumer: &Client,
    vpc_id: &str,
    endpoint: &privatelink_client::resources::Endpoint,
    me: &Host,
    endpoint_answers: &[Ipv4Addr],
    url_port: &str,
) -> Result<(), String> {
    let change_wait = Duration::from_secs(30);
    s.step(
        "Consumer",
        &format!("a private hosted zone {FRIENDLY_ZONE} for the VPC"),
        &format!(
            "aws ec2 modify-vpc-attribute --vpc-id {vpc_id} --enable-dns-hostnames; \
             aws route53 create-hosted-zone --name {FRIENDLY_ZONE} --vpc VPCRegion={REGION},VPCId={vpc_id} --caller-reference ..."
        ),
    );
    // Route 53 answers private zones only in VPCs with DNS hostnames on.
    consumer.enable_dns_hostnames(vpc_id).await.map_err(e)?;
    let zone = match consumer.find_hosted_zone(FRIENDLY_ZONE, true).await.map_err(e)? {
        Some(zone) => {
            s.show(format!("{} already holds {FRIENDLY_ZONE} (from an earlier run): associating {vpc_id}", zone.id));
            let change = consumer.associate_vpc_with_zone(&zone.id, vpc_id).await.map_err(e)?;
            consumer.wait_for_change(&change, change_wait).await.map_err(e)?;
            zone
        }
        None => {
            let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let reference = format!("privatelink-demo-{}", since.as_nanos());
            let (zone, change) = consumer.create_private_zone(FRIENDLY_ZONE, vpc_id, &reference).await.map_err(e)?;
            consumer.wait_for_change(&change, change_wait).await.map_err(e)?;
            zone
        }
    };
    let zone = consumer.get_hosted_zone(&zone.id).await.map_err(e)?;
    s.show(format!("HostedZone /hostedzone/{}  Name {}  PrivateZone {}", zone.id, zone.name, zone.private));
    for (region, vpc) in &zone.vpcs {
        s.show(format!("VPC {vpc} ({region})"));
    }

    let regional = endpoint.dns_names.first().ok_or("the endpoint has no DNS name")?;
    s.step(
        "Consumer",
        &format!("an alias {FRIENDLY_NAME} to the endpoint"),
        &format!(
            "aws route53 change-resource-record-sets --hosted-zone-id {} --change-batch \
             '{{\"Changes\":[{{\"Action\":\"UPSERT\",\"ResourceRecordSet\":{{\"Name\":\"{FRIENDLY_NAME}\",\"Type\":\"A\",\"AliasTarget\":{{\"HostedZoneId\":\"{}\",\"DNSName\":\"{regional}\",\"EvaluateTargetHealth\":false}}}}}}]}}'",
            zone.id, endpoint.hosted_zone_id
        ),
    );
    let change = consumer.upsert_alias(&zone.id, FRIENDLY_NAME, &endpoint.hosted_zone_id, regional).await.map_err(e)?;
    consumer.wait_for_change(&change, change_wait).await.map_err(e)?;
    s.show(format!("{FRIENDLY_NAME}. A ALIAS {regional}. ({})  ChangeInfo INSYNC", endpoint.hosted_zone_id));

    s.step("Consumer host 10.24.20.251", "resolve the friendly name", &format!("dig {FRIENDLY_NAME}"));
    // The resolvers follow the change on their own; wait for the alias to
    // answer the endpoint's addresses.
    let mut want = endpoint_answers.to_vec();
    want.sort();
    let deadline = Instant::now() + Duration::from_secs(10);
    let answers = loop {
        let mut got = me.resolve(FRIENDLY_NAME).await.map_err(e)?;
        got.sort();
        if got == want {
            break got;
        }
        if Instant::now() > deadline {
            return Err(format!("{FRIENDLY_NAME} answers {got:?} in the VPC, not the endpoint's {want:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for a in &answers {
        let o = a.octets();
        s.show(format!("{FRIENDLY_NAME}. 60 IN A 10.24.{}.{}   (on this host: {a})", o[2], o[3]));
    }

    s.step("Consumer host 10.24.20.251", "GET by the friendly name", &format!("curl http://{FRIENDLY_NAME}/"));
    let (code, body) = me.http_get(&format!("http://{FRIENDLY_NAME}{url_port}/")).await.map_err(e)?;
    s.show(format!("HTTP {code}: {}", body.trim_end()));
    if body != BODY {
        return Err(format!("unexpected answer by {FRIENDLY_NAME}"));
    }
    Ok(())
}

/// (host address, VPC address) of every NLB node, from the data plane status.
fn node_map(st: &serde_json::Value) -> Vec<(Ipv4Addr, String)> {
    st["dataplane"]["listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            let h = l["nlb_node"]["host_address"].as_str()?.parse().ok()?;
            Some((h, l["nlb_node"]["vpc_address"].as_str()?.to_string()))
        })
        .collect()
}

async fn serve_backend(listener: TcpListener, log: Arc<Mutex<Vec<SocketAddr>>>) {
    loop {
        let Ok((mut stream, peer)) = listener.accept().await else { return };
        let log = log.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            if let Ok(mut l) = log.lock() {
                l.push(peer);
            }
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                BODY.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        });
    }
}
