//! Health checks from the NLB nodes: TCP connects or HTTP GETs against every
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
                running.spawn(async move {
                    let verdict = match dial {
                        Some(addr) => check(&group, addr).await,
                        None => Verdict::Fail("Target.FailedHealthChecks"),
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
        if group.protocol == "TCP" {
            return Ok(());
        }
        http_check(stream, group, addr).await
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
    mut stream: tokio::net::TcpStream,
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
    #[test]
    fn matchers() {
        assert!(super::matches("200-399", 302));
        assert!(!super::matches("200-399", 404));
        assert!(super::matches("200,202", 202));
        assert!(!super::matches("200,202", 201));
        assert!(!super::matches("junk", 200));
    }
}
