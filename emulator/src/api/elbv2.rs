//! ELBv2 (protocol `query`) for network load balancers: lists are
//! `Name.member.N`, answers are PascalCase inside an `XResult` wrapper.

use super::ec2::Ctx;
use super::xml::{timestamp, Xml};
use super::{Access, Action};
use crate::model::elb::CreateLoadBalancer;
use crate::model::target_group::{CreateTargetGroup, HealthCheck, TargetSpec};
use crate::model::{Error, Listener, LoadBalancer, Result, Tags, Target, TargetGroup};
use Access::{Read, Write};

pub const VERSION: &str = "2015-12-01";

/// Every ELBv2 action the emulator answers (see the EC2 table).
pub const ACTIONS: &[Action] = &[
    Action::new("CreateLoadBalancer", Write, create_load_balancer),
    Action::new("DescribeLoadBalancers", Read, describe_load_balancers),
    Action::new("DeleteLoadBalancer", Write, delete_load_balancer),
    Action::new("CreateTargetGroup", Write, create_target_group),
    Action::new("DescribeTargetGroups", Read, describe_target_groups),
    Action::new("DeleteTargetGroup", Write, delete_target_group),
    Action::new("RegisterTargets", Write, register_targets),
    Action::new("DeregisterTargets", Write, deregister_targets),
    Action::new("CreateListener", Write, create_listener),
    Action::new("DescribeListeners", Read, describe_listeners),
    Action::new("DeleteListener", Write, delete_listener),
    Action::new("ModifyLoadBalancerAttributes", Write, modify_lb_attributes),
    Action::new("DescribeLoadBalancerAttributes", Read, describe_lb_attributes),
    Action::new("ModifyTargetGroupAttributes", Write, modify_tg_attributes),
    Action::new("DescribeTargetGroupAttributes", Read, describe_tg_attributes),
    Action::new("DescribeTargetHealth", Read, describe_target_health),
    Action::new("AddTags", Write, add_tags),
    Action::new("RemoveTags", Write, remove_tags),
    Action::new("DescribeTags", Read, describe_tags),
];

pub fn dispatch(action: &str, c: &mut Ctx) -> Result<Xml> {
    match super::find(ACTIONS, action) {
        Some(a) => (a.handler)(c),
        None => Err(Error::new("InvalidAction", format!("Could not find operation {action} for version {VERSION}"))),
    }
}

fn required<'a>(c: &'a Ctx, name: &str) -> Result<&'a str> {
    c.p.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        Error::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
}

fn tags(c: &Ctx, prefix: &str) -> Result<Tags> {
    let pairs: Vec<(String, String)> =
        c.p.members(prefix)
            .into_iter()
            .map(|t| {
                let k = t.get("Key").ok_or_else(|| Error::validation("A tag key must be specified"))?;
                Ok((k.to_string(), t.get("Value").unwrap_or("").to_string()))
            })
            .collect::<Result<_>>()?;
    crate::model::tags::validate(&pairs).map_err(|e| Error::validation(e.message))?;
    Ok(pairs.into_iter().collect())
}

/// PageSize (1..=400) and Marker, as ELBv2 paginates.
fn page<T: Clone>(c: &Ctx, items: Vec<T>, key: impl Fn(&T) -> String) -> Result<(Vec<T>, Option<String>)> {
    let size = match c.p.int("PageSize")? {
        None => None,
        Some(n) if (1..=400).contains(&n) => Some(n as usize),
        Some(n) => return Err(Error::validation(format!("Page size '{n}' must be between '1' and '400'"))),
    };
    let keyed: Vec<(String, T)> = items.into_iter().map(|t| (key(&t), t)).collect();
    crate::model::paginate(keyed, size, c.p.get("Marker")).map_err(|_| Error::validation("The marker is not valid"))
}

fn render_lb(x: &mut Xml, lb: &LoadBalancer) {
    x.leaf("LoadBalancerArn", &lb.arn);
    x.leaf("DNSName", &lb.dns_name);
    x.leaf("CanonicalHostedZoneId", &lb.canonical_hosted_zone_id);
    x.leaf("CreatedTime", timestamp(lb.created));
    x.leaf("LoadBalancerName", &lb.name);
    x.leaf("Scheme", &lb.scheme);
    x.leaf("VpcId", &lb.vpc_id);
    x.node("State", |x| x.leaf("Code", &lb.state));
    x.leaf("Type", "network");
    x.members("AvailabilityZones", &lb.nodes, |x, n| {
        x.leaf("ZoneName", &n.availability_zone);
        x.leaf("SubnetId", &n.subnet_id);
        x.members("LoadBalancerAddresses", [n], |x, n| {
            x.leaf("PrivateIPv4Address", n.private_ip.to_string());
        });
    });
    if !lb.security_groups.is_empty() {
        x.member_strings("SecurityGroups", &lb.security_groups);
    }
    x.leaf("IpAddressType", &lb.ip_address_type);
}

fn create_load_balancer(c: &mut Ctx) -> Result<Xml> {
    let name = required(c, "Name")?.to_string();
    let mut subnets: Vec<(String, Option<std::net::Ipv4Addr>)> =
        c.p.member_list("Subnets").into_iter().map(|s| (s, None)).collect();
    for m in c.p.members("SubnetMappings") {
        let sid = m
            .get("SubnetId")
            .ok_or_else(|| Error::validation("A subnet ID must be specified in each subnet mapping"))?;
        let ip = match m.get("PrivateIPv4Address") {
            Some(ip) => Some(
                ip.parse().map_err(|_| Error::validation(format!("The private IPv4 address '{ip}' is not valid")))?,
            ),
            None => None,
        };
        subnets.push((sid.to_string(), ip));
    }
    let req = CreateLoadBalancer {
        name,
        subnets,
        scheme: c.p.string("Scheme"),
        lb_type: c.p.string("Type"),
        ip_address_type: c.p.string("IpAddressType"),
        security_groups: c.p.member_list("SecurityGroups"),
        tags: tags(c, "Tags")?,
    };
    let lb = c.world.create_load_balancer(c.caller, c.now, req)?;
    let mut x = Xml::new();
    x.members("LoadBalancers", [&lb], render_lb);
    Ok(x)
}

fn describe_load_balancers(c: &mut Ctx) -> Result<Xml> {
    let list =
        c.world.describe_load_balancers(c.caller, &c.p.member_list("LoadBalancerArns"), &c.p.member_list("Names"))?;
    let (list, next) = page(c, list, |l| l.arn.clone())?;
    let mut x = Xml::new();
    x.members("LoadBalancers", &list, render_lb);
    x.opt("NextMarker", next);
    Ok(x)
}

fn delete_load_balancer(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?.to_string();
    c.world.delete_load_balancer(c.caller, &arn)?;
    Ok(Xml::new())
}

fn render_health_check(x: &mut Xml, h: &HealthCheck) {
    x.leaf("HealthCheckProtocol", &h.protocol);
    x.leaf("HealthCheckPort", &h.port);
    x.bool("HealthCheckEnabled", h.enabled);
    x.num("HealthCheckIntervalSeconds", h.interval_seconds);
    x.num("HealthCheckTimeoutSeconds", h.timeout_seconds);
    x.num("HealthyThresholdCount", h.healthy_threshold);
    x.num("UnhealthyThresholdCount", h.unhealthy_threshold);
    x.opt("HealthCheckPath", h.path.as_ref());
    if let Some(m) = &h.matcher {
        x.node("Matcher", |x| x.leaf("HttpCode", m));
    }
}

fn render_tg(x: &mut Xml, tg: &TargetGroup, lbs: &[String]) {
    x.leaf("TargetGroupArn", &tg.arn);
    x.leaf("TargetGroupName", &tg.name);
    x.leaf("Protocol", &tg.protocol);
    if let Some(p) = tg.port {
        x.num("Port", p);
    }
    x.opt("VpcId", tg.vpc_id.as_ref());
    render_health_check(x, &tg.health_check);
    x.member_strings("LoadBalancerArns", lbs);
    x.leaf("TargetType", &tg.target_type);
    x.leaf("IpAddressType", &tg.ip_address_type);
}

fn create_target_group(c: &mut Ctx) -> Result<Xml> {
    let req = CreateTargetGroup {
        name: required(c, "Name")?.to_string(),
        protocol: c.p.string("Protocol"),
        port: c.p.int("Port").map_err(|e| Error::validation(e.message))?,
        vpc_id: c.p.string("VpcId"),
        target_type: c.p.string("TargetType"),
        ip_address_type: c.p.string("IpAddressType"),
        health_check_enabled: c.p.bool("HealthCheckEnabled").map_err(|e| Error::validation(e.message))?,
        health_check_protocol: c.p.string("HealthCheckProtocol"),
        health_check_port: c.p.string("HealthCheckPort"),
        health_check_path: c.p.string("HealthCheckPath"),
        health_check_interval: c.p.int("HealthCheckIntervalSeconds").map_err(|e| Error::validation(e.message))?,
        health_check_timeout: c.p.int("HealthCheckTimeoutSeconds").map_err(|e| Error::validation(e.message))?,
        healthy_threshold: c.p.int("HealthyThresholdCount").map_err(|e| Error::validation(e.message))?,
        unhealthy_threshold: c.p.int("UnhealthyThresholdCount").map_err(|e| Error::validation(e.message))?,
        matcher: c.p.string("Matcher.HttpCode"),
        tags: tags(c, "Tags")?,
    };
    let tg = c.world.create_target_group(c.caller, c.now, req)?;
    let lbs = c.world.target_group_load_balancers(&c.caller.region, &tg.arn);
    let mut x = Xml::new();
    x.members("TargetGroups", [&tg], |x, tg| render_tg(x, tg, &lbs));
    Ok(x)
}

fn describe_target_groups(c: &mut Ctx) -> Result<Xml> {
    let lb = c.p.string("LoadBalancerArn");
    let list = c.world.describe_target_groups(
        c.caller,
        &c.p.member_list("TargetGroupArns"),
        &c.p.member_list("Names"),
        lb.as_deref(),
    )?;
    let (list, next) = page(c, list, |t| t.arn.clone())?;
    let mut x = Xml::new();
    let region = c.caller.region.clone();
    let world = &*c.world;
    x.members("TargetGroups", &list, |x, tg| render_tg(x, tg, &world.target_group_load_balancers(&region, &tg.arn)));
    x.opt("NextMarker", next);
    Ok(x)
}

fn delete_target_group(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?.to_string();
    c.world.delete_target_group(c.caller, &arn)?;
    Ok(Xml::new())
}

fn targets(c: &Ctx) -> Result<Vec<TargetSpec>> {
    c.p.members("Targets")
        .into_iter()
        .map(|t| {
            let id = t.get("Id").ok_or_else(|| Error::validation("A target ID must be specified"))?.to_string();
            let port = t.int("Port").map_err(|e| Error::validation(e.message))?;
            Ok((id, port, t.string("AvailabilityZone")))
        })
        .collect()
}

fn register_targets(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?.to_string();
    let t = targets(c)?;
    c.world.register_targets(c.caller, &arn, &t)?;
    Ok(Xml::new())
}

fn deregister_targets(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?.to_string();
    let t: Vec<(String, Option<i64>)> = targets(c)?.into_iter().map(|(i, p, _)| (i, p)).collect();
    if t.is_empty() {
        return Err(Error::validation("At least one target must be specified"));
    }
    c.world.deregister_targets(c.caller, c.now, &arn, &t)?;
    Ok(Xml::new())
}

fn render_listener(x: &mut Xml, l: &Listener) {
    x.leaf("ListenerArn", &l.arn);
    x.leaf("LoadBalancerArn", &l.load_balancer_arn);
    x.num("Port", l.port);
    x.leaf("Protocol", &l.protocol);
    x.members("DefaultActions", [l], |x, l| {
        x.leaf("Type", "forward");
        x.leaf("TargetGroupArn", &l.target_group_arn);
        x.node("ForwardConfig", |x| {
            x.members("TargetGroups", [l], |x, l| {
                x.leaf("TargetGroupArn", &l.target_group_arn);
                x.num("Weight", 1);
            });
            x.node("TargetGroupStickinessConfig", |x| x.bool("Enabled", false));
        });
    });
}

fn create_listener(c: &mut Ctx) -> Result<Xml> {
    let lb = required(c, "LoadBalancerArn")?.to_string();
    let actions = c.p.members("DefaultActions");
    let action = actions.first().ok_or_else(|| Error::validation("A default action must be specified"))?;
    let kind = action.get("Type").unwrap_or("forward");
    if kind != "forward" {
        return Err(Error::validation(format!("Action type '{kind}' is not supported for network load balancers")));
    }
    let tg = action
        .string("TargetGroupArn")
        .or_else(|| action.members("ForwardConfig.TargetGroups").first().and_then(|t| t.string("TargetGroupArn")));
    let port = c.p.int("Port").map_err(|e| Error::validation(e.message))?;
    let t = tags(c, "Tags")?;
    let protocol = c.p.string("Protocol");
    let l = c.world.create_listener(c.caller, &lb, protocol.as_deref(), port, tg.as_deref(), t)?;
    let mut x = Xml::new();
    x.members("Listeners", [&l], render_listener);
    Ok(x)
}

fn describe_listeners(c: &mut Ctx) -> Result<Xml> {
    let lb = c.p.string("LoadBalancerArn");
    let list = c.world.describe_listeners(c.caller, lb.as_deref(), &c.p.member_list("ListenerArns"))?;
    let (list, next) = page(c, list, |l| l.arn.clone())?;
    let mut x = Xml::new();
    x.members("Listeners", &list, render_listener);
    x.opt("NextMarker", next);
    Ok(x)
}

fn delete_listener(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "ListenerArn")?.to_string();
    c.world.delete_listener(c.caller, &arn)?;
    Ok(Xml::new())
}

fn attributes(c: &Ctx) -> Result<Vec<(String, String)>> {
    let attrs: Vec<(String, String)> =
        c.p.members("Attributes")
            .into_iter()
            .map(|a| {
                let k = a.get("Key").ok_or_else(|| Error::validation("An attribute key must be specified"))?;
                Ok((k.to_string(), a.get("Value").unwrap_or("").to_string()))
            })
            .collect::<Result<_>>()?;
    if attrs.is_empty() {
        return Err(Error::validation("At least one attribute must be specified"));
    }
    Ok(attrs)
}

fn render_attributes<'a>(x: &mut Xml, attrs: impl IntoIterator<Item = (&'a String, &'a String)>) {
    x.members("Attributes", attrs, |x, (k, v)| {
        x.leaf("Key", k);
        x.leaf("Value", v);
    });
}

fn modify_lb_attributes(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?.to_string();
    let attrs = attributes(c)?;
    c.world.modify_load_balancer_attributes(c.caller, &arn, &attrs)?;
    let mut x = Xml::new();
    render_attributes(&mut x, attrs.iter().map(|(k, v)| (k, v)));
    Ok(x)
}

fn describe_lb_attributes(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?;
    let lb = c.world.load_balancer(c.caller, arn)?;
    let mut x = Xml::new();
    render_attributes(&mut x, &lb.attributes);
    Ok(x)
}

fn modify_tg_attributes(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?.to_string();
    let attrs = attributes(c)?;
    c.world.modify_target_group_attributes(c.caller, &arn, &attrs)?;
    let mut x = Xml::new();
    render_attributes(&mut x, attrs.iter().map(|(k, v)| (k, v)));
    Ok(x)
}

fn describe_tg_attributes(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?;
    let tg = c.world.target_group(c.caller, arn)?;
    let mut x = Xml::new();
    render_attributes(&mut x, &tg.attributes);
    Ok(x)
}

fn describe_target_health(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?.to_string();
    let wanted: Vec<(String, Option<i64>)> = targets(c)?.into_iter().map(|(i, p, _)| (i, p)).collect();
    let list = c.world.describe_target_health(c.caller, &arn, &wanted)?;
    let hc_port = c.world.target_group(c.caller, &arn)?.health_check.port.clone();
    let mut x = Xml::new();
    x.members("TargetHealthDescriptions", &list, |x, t: &Target| {
        x.node("Target", |x| {
            x.leaf("Id", &t.id);
            x.num("Port", t.port);
            x.opt("AvailabilityZone", t.availability_zone.as_ref());
        });
        x.leaf("HealthCheckPort", if hc_port == "traffic-port" { t.port.to_string() } else { hc_port.clone() });
        x.node("TargetHealth", |x| {
            x.leaf("State", t.health.as_str());
            x.opt("Reason", t.reason.as_ref());
            x.opt("Description", t.description.as_ref());
        });
    });
    Ok(x)
}

fn add_tags(c: &mut Ctx) -> Result<Xml> {
    let arns = c.p.member_list("ResourceArns");
    if arns.is_empty() {
        return Err(Error::validation("At least one resource ARN must be specified"));
    }
    let t = tags(c, "Tags")?;
    for arn in &arns {
        c.world.elb_tags_mut(c.caller, arn)?;
    }
    for arn in &arns {
        let have = c.world.elb_tags_mut(c.caller, arn)?;
        have.extend(t.clone());
        if have.len() > 50 {
            return Err(Error::new("TooManyTags", "The quota for the number of tags per resource has been reached"));
        }
    }
    Ok(Xml::new())
}

fn remove_tags(c: &mut Ctx) -> Result<Xml> {
    let arns = c.p.member_list("ResourceArns");
    let keys = c.p.member_list("TagKeys");
    for arn in &arns {
        c.world.elb_tags_mut(c.caller, arn)?;
    }
    for arn in &arns {
        let have = c.world.elb_tags_mut(c.caller, arn)?;
        for k in &keys {
            have.remove(k);
        }
    }
    Ok(Xml::new())
}

fn describe_tags(c: &mut Ctx) -> Result<Xml> {
    let arns = c.p.member_list("ResourceArns");
    if arns.is_empty() {
        return Err(Error::validation("At least one resource ARN must be specified"));
    }
    let mut found = Vec::new();
    for arn in &arns {
        found.push((arn.clone(), c.world.elb_tags_mut(c.caller, arn)?.clone()));
    }
    let mut x = Xml::new();
    x.members("TagDescriptions", &found, |x, (arn, tags)| {
        x.leaf("ResourceArn", arn);
        x.members("Tags", tags, |x, (k, v)| {
            x.leaf("Key", k);
            x.leaf("Value", v);
        });
    });
    Ok(x)
}
