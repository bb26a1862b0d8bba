//! Health checks from the NLB nodes: TCP connects or HTTP(S) GETs against every
//! target of every target group in use, at the group's interval, with its
//! timeout and thresholds; verdicts go into the model (DescribeTargetHealth
//! shows them, and the plan stops sending new flows to unhealthy targets).

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::plan::HealthGroup;
use super::DataPlane;
use crate::model::TargetHealthState;

type Key = (String, String, u16);

#[derive(Debug, Default)]
struct Check {
    due: Option<Instant>,
    /// When the last check started, and the interval it was due by: a
    /// group whose interval changes (ModifyTargetGroup) is next checked at
    /// the new interval after the last check.
    started: Option<Instant>,
    interval: u64,
    in_flight: bool,
    successes: u32,
    failures: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail(&'static str),
}

pub async fn run(dp: Arc<DataPlane>, mut stop: watch::Receiver<bool>) {
    let mut checks: HashMap<Key, Check> = HashMap::new();
    let mut running: JoinSet<(Key, String, Verdict)> = JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(done) = running.join_next() => {
                if let Ok((key, region, verdict)) = done {
                    record(&dp, &mut checks, key, &region, verdict);
                }
                continue;
            }
            _ = stop.changed() => break,
        }
        let plan = dp.plan();
        let now = Instant::now();
        let mut live: HashSet<Key> = HashSet::new();
        for group in plan.health.values() {
            for t in &group.targets {
                if matches!(t.health, TargetHealthState::Draining | TargetHealthState::Unused) {
                    continue;
                }
                let key = (group.target_group_arn.clone(), t.id.clone(), t.port);
                live.insert(key.clone());
                let c = checks.entry(key.clone()).or_default();
                if c.interval != group.interval_seconds {
                    c.interval = group.interval_seconds;
                    c.due = c.started.map(|s| s + Duration::from_secs(group.interval_seconds));
                }
                if c.in_flight || c.due.is_some_and(|d| now < d) {
                    continue;
                }
                c.in_flight = true;
                c.started = Some(now);
                c.due = Some(now + Duration::from_secs(group.interval_seconds));
                let port = group.port.unwrap_or(t.port);
                let dial = t.dial.map(|d| SocketAddrV4::new(*d.ip(), port));
                let group = group.clone();
                let down = dp.shared.faults.target_down(&t.id, t.port, t.dial, t.zone.as_deref());
                running.spawn(async move {
                    let verdict = match (down, dial) {
                        // A target that an injected fault has down fails as such a host does.
                        (Some(crate::faults::DownMode::Refuse), _) => Verdict::Fail("Target.FailedHealthChecks"),
                        (Some(crate::faults::DownMode::Blackhole), _) => {
                            tokio::time::sleep(Duration::from_secs(group.timeout_seconds)).await;
                            Verdict::Fail("Target.Timeout")
                        }
                        (None, Some(addr)) => check(&group, addr).await,
                        (None, None) => Verdict::Fail("Target.FailedHealthChecks"),
                    };
                    (key, group.region.clone(), verdict)
                });
            }
        }
        checks.retain(|k, _| live.contains(k));
    }
    running.shutdown().await;
}

fn record(dp: &DataPlane, checks: &mut HashMap<Key, Check>, key: Key, region: &str, verdict: Verdict) {
    let Some(c) = checks.get_mut(&key) else { return };
    c.in_flight = false;
    let plan = dp.plan();
    let Some(group) = plan.health.get(&(region.to_string(), key.0.clone())) else { return };
    let current = group.targets.iter().find(|t| t.id == key.1 && t.port == key.2).map(|t| t.health);
    let change = match verdict {
        Verdict::Pass => {
            c.successes += 1;
            c.failures = 0;
            (c.successes >= group.healthy_threshold && current != Some(TargetHealthState::Healthy))
                .then_some((TargetHealthState::Healthy, None))
        }
        Verdict::Fail(reason) => {
            c.failures += 1;
            c.successes = 0;
            (c.failures >= group.unhealthy_threshold && current != Some(TargetHealthState::Unhealthy))
                .then_some((TargetHealthState::Unhealthy, Some(reason)))
        }
    };
    if let Some((state, reason)) = change {
        tracing::info!(target_group = %key.0, target = %format!("{}:{}", key.1, key.2), state = state.as_str(), "target health changed");
        let cause = crate::engine::Cause::new("health");
        let applied = dp.shared.apply(cause, |w| {
            w.set_target_health(region, &key.0, (&key.1, key.2), state, reason);
            Ok(())
        });
        if let Err(e) = applied {
            tracing::error!(error = %e.message, "cannot record a target's health");
        }
    }
}

async fn check(group: &HealthGroup, addr: SocketAddrV4) -> Verdict {
    let timeout = Duration::from_secs(group.timeout_seconds);
    let attempt = async {
        let stream = connect(group.source, addr).await.map_err(|_| "Target.FailedHealthChecks")?;
        match group.protocol.as_str() {
            "TCP" => Ok(()),
            "HTTPS" => {
                // As for flows to TLS targets: the target's certificate is
                // not checked, no SNI is sent.
                let connector = super::tls_listener::connector(None).map_err(|_| "Target.FailedHealthChecks")?;
                let name = rustls::pki_types::ServerName::IpAddress(std::net::IpAddr::V4(*addr.ip()).into());
                let tls = connector.connect(name, stream).await.map_err(|_| "Target.FailedHealthChecks")?;
                http_check(tls, group, addr).await
            }
            _ => http_check(stream, group, addr).await,
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => Verdict::Pass,
        Ok(Err(reason)) => Verdict::Fail(reason),
        Err(_) => Verdict::Fail("Target.Timeout"),
    }
}

async fn connect(source: Ipv4Addr, addr: SocketAddrV4) -> std::io::Result<tokio::net::TcpStream> {
    let socket = super::socket::bound_to(source)?;
    socket.connect(SocketAddr::V4(addr)).await
}

async fn http_check(
    mut stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    group: &HealthGroup,
    addr: SocketAddrV4,
) -> Result<(), &'static str> {
    let path = group.path.as_deref().unwrap_or("/");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: ELB-HealthChecker/2.0\r\nConnection: close\r\nAccept: */*\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.map_err(|_| "Target.FailedHealthChecks")?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match stream.read(&mut buf[n..]).await {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return Err("Target.FailedHealthChecks"),
        }
    }
    let line = std::str::from_utf8(&buf[..n]).unwrap_or("");
    let code: u16 = line.get(9..12).and_then(|c| c.parse().ok()).ok_or("Target.FailedHealthChecks")?;
    if matches(group.matcher.as_deref().unwrap_or("200-399"), code) {
        Ok(())
    } else {
        Err("Target.ResponseCodeMismatch")
    }
}

/// ELB matchers: `200`, `200,202`, `200-399`.
pub fn matches(matcher: &str, code: u16) -> bool {
    matcher.split(',').any(|part| match part.trim().split_once('-') {
        Some((lo, hi)) => match (lo.parse::<u16>(), hi.parse::<u16>()) {
            (Ok(lo), Ok(hi)) => (lo..=hi).contains(&code),
            _ => false,
        },
        None => part.trim().parse::<u16>() == Ok(code),
    })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::{check, HealthGroup, Verdict};

    fn group(protocol: &str) -> HealthGroup {
        HealthGroup {
            region: "ap-northeast-1".into(),
            target_group_arn: "tg".into(),
            protocol: protocol.into(),
            port: None,
            path: Some("/health".into()),
            matcher: Some("200".into()),
            interval_seconds: 10,
            timeout_seconds: 5,
            healthy_threshold: 3,
            unhealthy_threshold: 3,
            source: Ipv4Addr::LOCALHOST,
            targets: vec![],
        }
    }

    /// A target answering `200` to one request per connection, over TLS
    /// with a self-signed certificate when `tls`.
    async fn target(tls: bool) -> SocketAddrV4 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let SocketAddr::V4(addr) = listener.local_addr().unwrap() else { unreachable!() };
        let cert = rcgen::generate_simple_self_signed(vec!["target.internal".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    async fn answer(mut s: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin) {
                        let mut buf = [0u8; 1024];
                        let n = s.read(&mut buf).await.unwrap_or(0);
                        if buf[..n].starts_with(b"GET /health HTTP/1.1") {
                            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await;
                            let _ = s.shutdown().await;
                        }
                    }
                    if tls {
                        if let Ok(t) = acceptor.accept(s).await {
                            answer(t).await;
                        }
                    } else {
                        answer(s).await;
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn https_checks_speak_tls_without_checking_the_certificate() {
        let (tls, plain) = (target(true).await, target(false).await);
        assert_eq!(check(&group("HTTPS"), tls).await, Verdict::Pass);
        assert_eq!(check(&group("HTTP"), plain).await, Verdict::Pass);
        assert_eq!(check(&group("TCP"), tls).await, Verdict::Pass);
        // The wrong protocol fails, both ways.
        assert_eq!(check(&group("HTTPS"), plain).await, Verdict::Fail("Target.FailedHealthChecks"));
        assert_ne!(check(&group("HTTP"), tls).await, Verdict::Pass);
    }

    #[test]
    fn matchers() {
        assert!(super::matches("200-399", 302));
        assert!(!super::matches("200-399", 404));
        assert!(super::matches("200,202", 202));
        assert!(!super::matches("200,202", 201));
        assert!(!super::matches("junk", 200));
    }
}
