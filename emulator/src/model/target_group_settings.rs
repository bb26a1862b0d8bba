//! Settings of target groups: health checks (checked the same way when a
//! group is created and when ModifyTargetGroup changes them) and the
//! attributes, refused as AWS refuses them for the group's protocol.

use std::collections::BTreeMap;

use super::elb::in_range;
use super::target_group::{tg_not_found, HealthCheck};
use super::{Caller, Change, Error, Resource, Result, TargetGroup, World};

/// Health check settings as CreateTargetGroup or ModifyTargetGroup give
/// them: `None` keeps the current value (or takes AWS's default).
#[derive(Debug, Clone, Default)]
pub struct HealthCheckRequest {
    pub enabled: Option<bool>,
    pub protocol: Option<String>,
    pub port: Option<String>,
    pub path: Option<String>,
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
    pub healthy_threshold: Option<i64>,
    pub unhealthy_threshold: Option<i64>,
    pub matcher: Option<String>,
}

fn is_http(protocol: &str) -> bool {
    matches!(protocol, "HTTP" | "HTTPS")
}

/// `200`, `200-399` or `200,202`, every code within AWS's range for the
/// target group's protocol (200-599 for network load balancers).
fn check_matcher(m: &str, lo: u16, hi: u16) -> Result<()> {
    let code = |s: &str| s.parse::<u16>().ok().filter(|c| (lo..=hi).contains(c));
    let ok = !m.is_empty()
        && m.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => matches!((code(a), code(b)), (Some(a), Some(b)) if a <= b),
            None => code(part).is_some(),
        });
    if ok {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "Health check matcher HTTP code '{m}' must be like 200 | 200-399 | 200,201 with codes between {lo} and {hi}"
        )))
    }
}

/// The health check a target group of `tg_protocol` and `target_type` ends
/// up with: `current` (None on create) changed by `req`.
pub fn health_check(
    tg_protocol: &str,
    target_type: &str,
    current: Option<&HealthCheck>,
    req: &HealthCheckRequest,
) -> Result<HealthCheck> {
    let protocol = req.protocol.clone().or_else(|| current.map(|h| h.protocol.clone())).unwrap_or_else(|| {
        if is_http(tg_protocol) {
            tg_protocol.to_string()
        } else {
            "TCP".into()
        }
    });
    let allowed: &[&str] = if is_http(tg_protocol) { &["HTTP", "HTTPS"] } else { &["TCP", "HTTP", "HTTPS"] };
    if !allowed.contains(&protocol.as_str()) {
        return Err(Error::validation(format!(
            "Health check protocol '{protocol}' is not supported for target groups with the '{tg_protocol}' protocol"
        )));
    }
    let http = is_http(&protocol);
    if !http && req.path.is_some() {
        return Err(Error::validation(format!(
            "A health check path cannot be specified with the {protocol} health check protocol"
        )));
    }
    if !http && req.matcher.is_some() {
        return Err(Error::validation(format!(
            "A health check matcher cannot be specified with the {protocol} health check protocol"
        )));
    }
    if let Some(p) = &req.path {
        if !p.starts_with('/') || p.len() > 1024 {
            return Err(Error::validation(format!(
                "Health check path '{p}' must begin with '/' and be at most 1024 characters long"
            )));
        }
    }
    let (lo, hi) = if is_http(tg_protocol) { (200, 499) } else { (200, 599) };
    if let Some(m) = &req.matcher {
        check_matcher(m, lo, hi)?;
    }
    let port = req.port.clone().or_else(|| current.map(|h| h.port.clone())).unwrap_or_else(|| "traffic-port".into());
    if port != "traffic-port" && !port.parse::<u16>().is_ok_and(|p| p > 0) {
        return Err(Error::validation(format!(
            "Health check port '{port}' must be 'traffic-port' or a port between 1 and 65535"
        )));
    }
    if req.enabled == Some(false) && target_type != "lambda" {
        return Err(Error::new(
            "InvalidConfigurationRequest",
            format!("Health checks cannot be disabled for target groups with target type '{target_type}'"),
        ));
    }
    // A check that stays HTTP keeps its path and codes; one that becomes
    // HTTP starts from AWS's defaults.
    let was_http = current.is_some_and(|h| is_http(&h.protocol));
    let keep = |f: fn(&HealthCheck) -> Option<String>| if was_http { current.and_then(f) } else { None };
    let path = http.then(|| req.path.clone().or_else(|| keep(|h| h.path.clone())).unwrap_or_else(|| "/".into()));
    let matcher =
        http.then(|| req.matcher.clone().or_else(|| keep(|h| h.matcher.clone())).unwrap_or_else(|| "200-399".into()));
    let cur = |f: fn(&HealthCheck) -> i64| current.map(f);
    let interval = in_range("Health check interval", req.interval.or(cur(|h| h.interval_seconds)), 5, 300, 30)?;
    let timeout = in_range(
        "Health check timeout",
        req.timeout.or(cur(|h| h.timeout_seconds)),
        2,
        120,
        if http { 6 } else { 10 },
    )?;
    if timeout > interval {
        return Err(Error::validation(format!(
            "Health check timeout '{timeout}' must be smaller than or equal to the interval '{interval}'"
        )));
    }
    Ok(HealthCheck {
        enabled: true,
        protocol,
        port,
        path,
        interval_seconds: interval,
        timeout_seconds: timeout,
        healthy_threshold: in_range(
            "Healthy threshold count",
            req.healthy_threshold.or(cur(|h| h.healthy_threshold)),
            2,
            10,
            5,
        )?,
        unhealthy_threshold: in_range(
            "Unhealthy threshold count",
            req.unhealthy_threshold.or(cur(|h| h.unhealthy_threshold)),
            2,
            10,
            2,
        )?,
        matcher,
    })
}

/// Keys of Application Load Balancer target groups: a network load
/// balancer's groups refuse them as not supported.
const OTHER_TARGET_GROUP_ATTRIBUTES: &[&str] = &[
    "lambda.multi_value_headers.enabled",
    "load_balancing.algorithm.type",
    "load_balancing.algorithm.anomaly_mitigation",
    "slow_start.duration_seconds",
    "stickiness.app_cookie.cookie_name",
    "stickiness.app_cookie.duration_seconds",
    "stickiness.lb_cookie.duration_seconds",
];

fn not_supported() -> Error {
    Error::new("InvalidConfigurationRequest", "The provided target group attribute is not supported")
}

fn bad_value(k: &str, v: &str, why: &str) -> Error {
    Error::validation(format!("Target group attribute '{k}' value '{v}' is not valid: {why}"))
}

fn number(k: &str, v: &str, lo: u64, hi: u64) -> Result<()> {
    match v.parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(()),
        _ => Err(bad_value(k, v, &format!("it must be an integer between '{lo}' and '{hi}'"))),
    }
}

/// Checks one attribute of `tg` as AWS does for a network load balancer's
/// target group of that protocol.
fn check_attribute(tg: &TargetGroup, k: &str, v: &str) -> Result<()> {
    let proto = tg.protocol.as_str();
    let udp = matches!(proto, "UDP" | "TCP_UDP");
    let boolean =
        || if v == "true" || v == "false" { Ok(()) } else { Err(bad_value(k, v, "it must be 'true' or 'false'")) };
    match k {
        "deregistration_delay.timeout_seconds" => number(k, v, 0, 3600),
        "deregistration_delay.connection_termination.enabled"
        | "target_health_state.unhealthy.connection_termination.enabled" => boolean(),
        "target_health_state.unhealthy.draining_interval_seconds" => number(k, v, 0, 360_000),
        "preserve_client_ip.enabled" => {
            boolean()?;
            if udp && v == "false" {
                return Err(Error::new(
                    "InvalidConfigurationRequest",
                    format!("Client IP preservation cannot be disabled for target groups with the {proto} protocol"),
                ));
            }
            Ok(())
        }
        "proxy_protocol_v2.enabled" => {
            boolean()?;
            if udp && v == "true" {
                return Err(Error::new(
                    "InvalidConfigurationRequest",
                    format!("Proxy protocol v2 is not supported for target groups with the {proto} protocol"),
                ));
            }
            Ok(())
        }
        "stickiness.enabled" => boolean(),
        "stickiness.type" => match v {
            "source_ip" => Ok(()),
            "lb_cookie" | "app_cookie" => Err(Error::new(
                "InvalidConfigurationRequest",
                format!("Stickiness type '{v}' is not supported for target groups with the {proto} protocol"),
            )),
            _ => Err(Error::validation("'Stickiness type' must be one of [app_cookie, lb_cookie, source_ip]")),
        },
        "load_balancing.cross_zone.enabled" => match v {
            "true" | "false" | "use_load_balancer_configuration" => Ok(()),
            _ => Err(bad_value(k, v, "it must be 'true', 'false' or 'use_load_balancer_configuration'")),
        },
        "target_group_health.dns_failover.minimum_healthy_targets.count"
        | "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count" => {
            if v == "off" && k.contains("dns_failover") {
                return Ok(());
            }
            number(k, v, 1, 5000)
        }
        "target_group_health.dns_failover.minimum_healthy_targets.percentage"
        | "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage" => {
            if v == "off" {
                return Ok(());
            }
            number(k, v, 1, 100)
        }
        _ if OTHER_TARGET_GROUP_ATTRIBUTES.contains(&k) => Err(not_supported()),
        _ => Err(Error::validation(format!("Target group attribute key '{k}' is not recognized"))),
    }
}

impl World {
    pub fn modify_target_group_attributes(
        &mut self,
        caller: &Caller,
        arn: &str,
        attrs: &[(String, String)],
    ) -> Result<BTreeMap<String, String>> {
        let tg = self.target_group(caller, arn)?;
        let mut after = tg.attributes.clone();
        for (k, v) in attrs {
            after.insert(k.clone(), v.clone());
        }
        for (k, v) in attrs {
            check_attribute(tg, k, v)?;
        }
        let sticky = after.get("stickiness.enabled").map(String::as_str) == Some("true");
        if sticky && tg.protocol == "TLS" {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                "You cannot enable stickiness on target groups with the TLS protocol",
            ));
        }
        if after == tg.attributes {
            return Ok(after);
        }
        let tg = self.region_mut(&caller.region).target_groups.get_mut(arn).ok_or_else(tg_not_found)?;
        tg.attributes = after.clone();
        self.emit(&caller.region, Resource::TargetGroup(arn.to_string()), Change::Updated);
        Ok(after)
    }

    /// ModifyTargetGroup: changes the health check; the data plane's checker
    /// follows the published change (a new interval counts from the last
    /// check).
    pub fn modify_target_group(&mut self, caller: &Caller, arn: &str, req: &HealthCheckRequest) -> Result<TargetGroup> {
        let tg = self.target_group(caller, arn)?;
        let hc = health_check(&tg.protocol, &tg.target_type, Some(&tg.health_check), req)?;
        if hc == tg.health_check {
            return Ok(tg.clone());
        }
        let tg = self.region_mut(&caller.region).target_groups.get_mut(arn).ok_or_else(tg_not_found)?;
        tg.health_check = hc;
        let out = tg.clone();
        self.emit(&caller.region, Resource::TargetGroup(arn.to_string()), Change::Updated);
        Ok(out)
    }
}
