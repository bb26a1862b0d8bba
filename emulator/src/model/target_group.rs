//! Target groups, their targets and target health.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::elb::check_elb_name;
use super::tags::Tags;
use super::target_group_settings::{health_check, HealthCheckRequest};
use super::{ids, region, Caller, Change, Error, Millis, Resource, Result, World};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HealthCheck {
    pub enabled: bool,
    pub protocol: String,
    pub port: String,
    pub path: Option<String>,
    pub interval_seconds: i64,
    pub timeout_seconds: i64,
    pub healthy_threshold: i64,
    pub unhealthy_threshold: i64,
    pub matcher: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    pub owner: String,
    pub protocol: String,
    pub port: Option<u16>,
    pub vpc_id: Option<String>,
    pub target_type: String,
    pub ip_address_type: String,
    pub health_check: HealthCheck,
    pub targets: Vec<Target>,
    pub attributes: BTreeMap<String, String>,
    pub created: Millis,
    pub tags: Tags,
}

impl TargetGroup {
    pub fn deregistration_delay_ms(&self) -> Millis {
        self.attributes.get("deregistration_delay.timeout_seconds").and_then(|v| v.parse::<u64>().ok()).unwrap_or(300)
            * 1000
    }

    pub fn proxy_protocol_v2(&self) -> bool {
        self.attributes.get("proxy_protocol_v2.enabled").map(String::as_str) == Some("true")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetHealthState {
    Initial,
    Healthy,
    Unhealthy,
    Unused,
    Draining,
}

impl TargetHealthState {
    pub fn as_str(&self) -> &'static str {
        match self {
            TargetHealthState::Initial => "initial",
            TargetHealthState::Healthy => "healthy",
            TargetHealthState::Unhealthy => "unhealthy",
            TargetHealthState::Unused => "unused",
            TargetHealthState::Draining => "draining",
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub id: String,
    pub port: u16,
    pub availability_zone: Option<String>,
    pub health: TargetHealthState,
    pub reason: Option<String>,
    pub description: Option<String>,
    /// Set while draining: when the target is finally removed.
    pub draining_until: Option<Millis>,
}

/// What CreateTargetGroup asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateTargetGroup {
    pub name: String,
    pub protocol: Option<String>,
    pub port: Option<i64>,
    pub vpc_id: Option<String>,
    pub target_type: Option<String>,
    pub ip_address_type: Option<String>,
    pub health_check_enabled: Option<bool>,
    pub health_check_protocol: Option<String>,
    pub health_check_port: Option<String>,
    pub health_check_path: Option<String>,
    pub health_check_interval: Option<i64>,
    pub health_check_timeout: Option<i64>,
    pub healthy_threshold: Option<i64>,
    pub unhealthy_threshold: Option<i64>,
    pub matcher: Option<String>,
    pub tags: Tags,
}

/// A target as RegisterTargets names it: id, optional port, optional zone.
pub type TargetSpec = (String, Option<i64>, Option<String>);

pub const TARGET_GROUP_ATTRIBUTES: &[(&str, &str)] = &[
    ("deregistration_delay.connection_termination.enabled", "false"),
    ("deregistration_delay.timeout_seconds", "300"),
    ("load_balancing.cross_zone.enabled", "use_load_balancer_configuration"),
    ("preserve_client_ip.enabled", "false"),
    ("proxy_protocol_v2.enabled", "false"),
    ("stickiness.enabled", "false"),
    ("stickiness.type", "source_ip"),
    ("target_group_health.dns_failover.minimum_healthy_targets.count", "1"),
    ("target_group_health.dns_failover.minimum_healthy_targets.percentage", "off"),
    ("target_group_health.unhealthy_state_routing.minimum_healthy_targets.count", "1"),
    ("target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage", "off"),
    ("target_health_state.unhealthy.connection_termination.enabled", "true"),
    ("target_health_state.unhealthy.draining_interval_seconds", "0"),
];

pub fn tg_not_found() -> Error {
    Error::new("TargetGroupNotFound", "One or more target groups not found")
}

fn initial_health(in_use: bool) -> (TargetHealthState, Option<String>, Option<String>) {
    if in_use {
        (
            TargetHealthState::Initial,
            Some("Elb.InitialHealthChecking".into()),
            Some("Initial health checks in progress".into()),
        )
    } else {
        (
            TargetHealthState::Unused,
            Some("Target.NotInUse".into()),
            Some("Target group is not configured to receive traffic from the load balancer".into()),
        )
    }
}

impl World {
    pub fn create_target_group(&mut self, caller: &Caller, now: Millis, req: CreateTargetGroup) -> Result<TargetGroup> {
        check_elb_name(&req.name, "Target group")?;
        let target_type = req.target_type.clone().unwrap_or_else(|| "instance".into());
        if !matches!(target_type.as_str(), "instance" | "ip") {
            return Err(Error::validation(format!(
                "Target type '{target_type}' is not supported for network load balancers by this emulator; use 'instance' or 'ip'"
            )));
        }
        let protocol = req.protocol.clone().ok_or_else(|| Error::validation("A protocol must be specified"))?;
        if !matches!(protocol.as_str(), "TCP" | "TLS" | "UDP" | "TCP_UDP" | "HTTP" | "HTTPS") {
            return Err(Error::validation(format!("Protocol '{protocol}' is not valid")));
        }
        let port = req.port.ok_or_else(|| Error::validation("A port must be specified"))?;
        if !(1..=65535).contains(&port) {
            return Err(Error::validation(format!("Port '{port}' must be between '1' and '65535'")));
        }
        let vpc_id = req.vpc_id.clone().ok_or_else(|| Error::validation("A VPC ID must be specified"))?;
        self.vpc(caller, &vpc_id).map_err(|_| Error::validation(format!("The VPC ID '{vpc_id}' is not found")))?;
        let health_check = health_check(
            &protocol,
            &target_type,
            None,
            &HealthCheckRequest {
                enabled: req.health_check_enabled,
                protocol: req.health_check_protocol.clone(),
                port: req.health_check_port.clone(),
                path: req.health_check_path.clone(),
                interval: req.health_check_interval,
                timeout: req.health_check_timeout,
                healthy_threshold: req.healthy_threshold,
                unhealthy_threshold: req.unhealthy_threshold,
                matcher: req.matcher.clone(),
            },
        )?;
        if let Some(existing) = self
            .region(&caller.region)
            .and_then(|r| r.target_groups.values().find(|t| t.owner == caller.account && t.name == req.name))
        {
            let same = existing.protocol == protocol
                && existing.port == Some(port as u16)
                && existing.vpc_id.as_deref() == Some(vpc_id.as_str())
                && existing.target_type == target_type;
            return if same {
                Ok(existing.clone())
            } else {
                Err(Error::new(
                    "DuplicateTargetGroupName",
                    format!("A target group with the same name '{}' exists, but with different settings", req.name),
                ))
            };
        }
        let arn = format!(
            "arn:aws:elasticloadbalancing:{}:{}:targetgroup/{}/{}",
            caller.region,
            caller.account,
            req.name,
            ids::hex(16)
        );
        let mut attributes: BTreeMap<String, String> =
            TARGET_GROUP_ATTRIBUTES.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // Client IP preservation defaults on for instance targets, off for ip
        // targets over TCP and TLS; UDP keeps it always.
        let preserve = target_type == "instance" || matches!(protocol.as_str(), "UDP" | "TCP_UDP");
        attributes.insert("preserve_client_ip.enabled".into(), preserve.to_string());
        let tg = TargetGroup {
            arn: arn.clone(),
            name: req.name,
            owner: caller.account.clone(),
            protocol,
            port: Some(port as u16),
            vpc_id: Some(vpc_id),
            target_type,
            ip_address_type: req.ip_address_type.unwrap_or_else(|| "ipv4".into()),
            health_check,
            targets: vec![],
            attributes,
            created: now,
            tags: req.tags,
        };
        self.region_mut(&caller.region).target_groups.insert(arn.clone(), tg.clone());
        self.emit(&caller.region, Resource::TargetGroup(arn), Change::Created);
        Ok(tg)
    }

    pub fn target_group(&self, caller: &Caller, arn: &str) -> Result<&TargetGroup> {
        self.region(&caller.region)
            .and_then(|r| r.target_groups.get(arn))
            .filter(|t| t.owner == caller.account)
            .ok_or_else(tg_not_found)
    }

    /// The load balancers whose listeners forward to a target group.
    pub fn target_group_load_balancers(&self, region: &str, tg_arn: &str) -> Vec<String> {
        let mut arns: Vec<String> = self
            .region(region)
            .map(|r| {
                r.listeners
                    .values()
                    .filter(|l| l.target_group_arn == tg_arn)
                    .map(|l| l.load_balancer_arn.clone())
                    .collect()
            })
            .unwrap_or_default();
        arns.sort();
        arns.dedup();
        arns
    }

    pub fn describe_target_groups(
        &self,
        caller: &Caller,
        arns: &[String],
        names: &[String],
        lb_arn: Option<&str>,
    ) -> Result<Vec<TargetGroup>> {
        if let Some(lb) = lb_arn {
            self.load_balancer(caller, lb)?;
        }
        let found: Vec<TargetGroup> = self
            .region(&caller.region)
            .map(|r| {
                r.target_groups
                    .values()
                    .filter(|t| t.owner == caller.account)
                    .filter(|t| arns.is_empty() || arns.contains(&t.arn))
                    .filter(|t| names.is_empty() || names.contains(&t.name))
                    .filter(|t| {
                        lb_arn.is_none_or(|lb| {
                            self.target_group_load_balancers(&caller.region, &t.arn).iter().any(|a| a == lb)
                        })
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if found.len() < arns.len().max(names.len()) {
            return Err(tg_not_found());
        }
        Ok(found)
    }

    pub fn delete_target_group(&mut self, caller: &Caller, arn: &str) -> Result<()> {
        if self.target_group(caller, arn).is_err() {
            return Ok(()); // idempotent, as in AWS
        }
        if !self.target_group_load_balancers(&caller.region, arn).is_empty() {
            return Err(Error::new(
                "ResourceInUse",
                format!("Target group '{arn}' is currently in use by a listener or a rule"),
            ));
        }
        self.region_mut(&caller.region).target_groups.remove(arn);
        self.emit(&caller.region, Resource::TargetGroup(arn.to_string()), Change::Deleted);
        Ok(())
    }

    /// Registers targets; a registered target starts `initial` (or `unused`
    /// while no listener forwards to its group).
    pub fn register_targets(&mut self, caller: &Caller, arn: &str, targets: &[TargetSpec]) -> Result<()> {
        let tg = self.target_group(caller, arn)?.clone();
        if targets.is_empty() {
            return Err(Error::validation("At least one target must be specified"));
        }
        let vpc_cidr =
            tg.vpc_id.as_ref().and_then(|v| self.region(&caller.region).and_then(|r| r.vpcs.get(v))).map(|v| v.cidr);
        let mut new = Vec::new();
        for (id, port, az) in targets {
            let port = port.or(tg.port.map(i64::from)).unwrap_or(0);
            if !(1..=65535).contains(&port) {
                return Err(Error::validation(format!("Port '{port}' must be between '1' and '65535'")));
            }
            match tg.target_type.as_str() {
                "ip" => {
                    let ip: Ipv4Addr = id.parse().map_err(|_| {
                        Error::new("InvalidTarget", format!("The IP address '{id}' is not a valid IPv4 address"))
                    })?;
                    let inside = vpc_cidr.is_some_and(|c| c.contains(ip));
                    match az.as_deref() {
                        Some("all") => {}
                        Some(z) if region::zone(&caller.region, z).is_some() && inside => {}
                        Some(z) if region::zone(&caller.region, z).is_none() => {
                            return Err(Error::validation(format!("Availability zone '{z}' is not valid")));
                        }
                        _ if inside => {}
                        _ => {
                            return Err(Error::new(
                                "InvalidTarget",
                                format!("The IP address '{id}' is not within the VPC's CIDR range; to register it, specify AvailabilityZone 'all'"),
                            ))
                        }
                    }
                }
                _ => {
                    if !ids::is_well_formed(id, "i") {
                        return Err(Error::new(
                            "InvalidTarget",
                            format!("The following targets are not valid instances: '{id}'"),
                        ));
                    }
                }
            }
            new.push((id.clone(), port as u16, az.clone()));
        }
        let in_use = !self.target_group_load_balancers(&caller.region, arn).is_empty();
        let tg = self.region_mut(&caller.region).target_groups.get_mut(arn).ok_or_else(tg_not_found)?;
        for (id, port, az) in new {
            let (health, reason, description) = initial_health(in_use);
            match tg.targets.iter_mut().find(|t| t.id == id && t.port == port) {
                Some(t) if t.health == TargetHealthState::Draining => {
                    t.health = health;
                    t.reason = reason;
                    t.description = description;
                    t.draining_until = None;
                }
                Some(_) => {}
                None => tg.targets.push(Target {
                    id,
                    port,
                    availability_zone: az,
                    health,
                    reason,
                    description,
                    draining_until: None,
                }),
            }
        }
        self.emit(&caller.region, Resource::TargetGroup(arn.to_string()), Change::Updated);
        Ok(())
    }

    /// Deregisters targets: they drain for the deregistration delay (existing
    /// flows go on, no new ones) and are then forgotten.
    pub fn deregister_targets(
        &mut self,
        caller: &Caller,
        now: Millis,
        arn: &str,
        targets: &[(String, Option<i64>)],
    ) -> Result<()> {
        let tg = self.target_group(caller, arn)?.clone();
        for (id, port) in targets {
            let port = port.or(tg.port.map(i64::from)).unwrap_or(0);
            if !tg.targets.iter().any(|t| &t.id == id && i64::from(t.port) == port) {
                return Err(Error::new(
                    "InvalidTarget",
                    format!("The target '{id}:{port}' is not registered with the target group"),
                ));
            }
        }
        let in_use = !self.target_group_load_balancers(&caller.region, arn).is_empty();
        let delay = tg.deregistration_delay_ms();
        let t = self.region_mut(&caller.region).target_groups.get_mut(arn).ok_or_else(tg_not_found)?;
        for (id, port) in targets {
            let port = port.or(t.port.map(i64::from)).unwrap_or(0);
            if in_use && delay > 0 {
                if let Some(target) = t.targets.iter_mut().find(|x| &x.id == id && i64::from(x.port) == port) {
                    target.health = TargetHealthState::Draining;
                    target.reason = Some("Target.DeregistrationInProgress".into());
                    target.description = Some("Target deregistration is in progress".into());
                    target.draining_until = Some(now + delay);
                }
            } else {
                t.targets.retain(|x| !(&x.id == id && i64::from(x.port) == port));
            }
        }
        if in_use && delay > 0 {
            self.schedule(&caller.region, Resource::TargetGroup(arn.to_string()));
        }
        self.emit(&caller.region, Resource::TargetGroup(arn.to_string()), Change::Updated);
        Ok(())
    }

    pub(crate) fn advance_target_group(&mut self, region: &str, arn: &str, now: Millis) -> bool {
        let Some(tg) = self.region_mut(region).target_groups.get_mut(arn) else {
            return false;
        };
        let before = tg.targets.len();
        tg.targets.retain(|t| t.draining_until.is_none_or(|until| now < until));
        let still = tg.targets.iter().any(|t| t.draining_until.is_some());
        if tg.targets.len() != before {
            self.emit(region, Resource::TargetGroup(arn.to_string()), Change::Updated);
        }
        still
    }

    /// Records a health checker's verdict on a target.
    /// Records a health checker's verdict on a target (`reason` is one of
    /// AWS's reason codes; the description follows from it).
    pub fn set_target_health(
        &mut self,
        region: &str,
        tg_arn: &str,
        target: (&str, u16),
        health: TargetHealthState,
        reason: Option<&str>,
    ) {
        let Some(tg) = self.region_mut(region).target_groups.get_mut(tg_arn) else { return };
        let Some(t) = tg.targets.iter_mut().find(|t| t.id == target.0 && t.port == target.1) else { return };
        if t.health == TargetHealthState::Draining || t.health == health && t.reason.as_deref() == reason {
            return;
        }
        t.health = health;
        t.reason = reason.map(str::to_string);
        t.description = reason.map(|r| reason_description(r).to_string());
        self.emit(region, Resource::TargetGroup(tg_arn.to_string()), Change::Updated);
    }

    /// Targets of groups no listener uses are `unused`; groups that gained a
    /// listener start health checking.
    pub(crate) fn refresh_target_usage(&mut self, region: &str) {
        let arns: Vec<String> =
            self.region(region).map(|r| r.target_groups.keys().cloned().collect()).unwrap_or_default();
        for arn in arns {
            let in_use = !self.target_group_load_balancers(region, &arn).is_empty();
            let stale = |t: &Target| {
                (in_use == (t.health == TargetHealthState::Unused)) && t.health != TargetHealthState::Draining
            };
            // Read first: a write keeps an image of the whole group.
            if !self.region(region).and_then(|r| r.target_groups.get(&arn)).is_some_and(|g| g.targets.iter().any(stale))
            {
                continue;
            }
            let Some(tg) = self.region_mut(region).target_groups.get_mut(&arn) else {
                continue;
            };
            let mut changed = false;
            for t in tg.targets.iter_mut() {
                let unused = t.health == TargetHealthState::Unused;
                if in_use == unused && t.health != TargetHealthState::Draining {
                    let (h, r, d) = initial_health(in_use);
                    t.health = h;
                    t.reason = r;
                    t.description = d;
                    changed = true;
                }
            }
            if changed {
                self.emit(region, Resource::TargetGroup(arn), Change::Updated);
            }
        }
    }

    pub fn describe_target_health(
        &self,
        caller: &Caller,
        arn: &str,
        targets: &[(String, Option<i64>)],
    ) -> Result<Vec<Target>> {
        let tg = self.target_group(caller, arn)?;
        if targets.is_empty() {
            return Ok(tg.targets.clone());
        }
        Ok(targets
            .iter()
            .map(|(id, port)| {
                let port = port.map(|p| p as u16).or(tg.port).unwrap_or(0);
                tg.targets.iter().find(|t| &t.id == id && t.port == port).cloned().unwrap_or(Target {
                    id: id.clone(),
                    port,
                    availability_zone: None,
                    health: TargetHealthState::Unused,
                    reason: Some("Target.NotRegistered".into()),
                    description: Some("Target is not registered to the target group".into()),
                    draining_until: None,
                })
            })
            .collect())
    }
}

/// AWS's description for each target health reason code.
pub fn reason_description(reason: &str) -> &'static str {
    match reason {
        "Elb.RegistrationInProgress" => "Target registration is in progress",
        "Elb.InitialHealthChecking" => "Initial health checks in progress",
        "Target.ResponseCodeMismatch" => "Health checks failed with these codes",
        "Target.Timeout" => "Request timed out",
        "Target.FailedHealthChecks" => "Health checks failed",
        "Target.NotRegistered" => "Target is not registered to the target group",
        "Target.NotInUse" => "Target group is not configured to receive traffic from the load balancer",
        "Target.DeregistrationInProgress" => "Target deregistration is in progress",
        "Target.InvalidState" => "Target is in the stopped or terminated state",
        "Target.HealthCheckDisabled" => "Health checks are disabled",
        _ => "",
    }
}
