//! Target groups, their targets and target health.

use super::{attributes, page, render_attributes, required, tags};
use crate::api::ec2::Ctx;
use crate::api::xml::Xml;
use crate::model::target_group::{CreateTargetGroup, HealthCheck, TargetSpec};
use crate::model::target_group_settings::HealthCheckRequest;
use crate::model::{Error, Result, Target, TargetGroup};

pub(super) fn render_health_check(x: &mut Xml, h: &HealthCheck) {
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

pub(super) fn render_tg(x: &mut Xml, tg: &TargetGroup, lbs: &[String]) {
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

pub(super) fn create_target_group(c: &mut Ctx) -> Result<Xml> {
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

pub(super) fn describe_target_groups(c: &mut Ctx) -> Result<Xml> {
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

fn health_check_request(c: &Ctx) -> Result<HealthCheckRequest> {
    let int = |name: &str| c.p.int(name).map_err(|e| Error::validation(e.message));
    Ok(HealthCheckRequest {
        enabled: c.p.bool("HealthCheckEnabled").map_err(|e| Error::validation(e.message))?,
        protocol: c.p.string("HealthCheckProtocol"),
        port: c.p.string("HealthCheckPort"),
        path: c.p.string("HealthCheckPath"),
        interval: int("HealthCheckIntervalSeconds")?,
        timeout: int("HealthCheckTimeoutSeconds")?,
        healthy_threshold: int("HealthyThresholdCount")?,
        unhealthy_threshold: int("UnhealthyThresholdCount")?,
        matcher: c.p.string("Matcher.HttpCode"),
    })
}

pub(super) fn modify_target_group(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?.to_string();
    if c.p.get("Matcher.GrpcCode").is_some() {
        return Err(Error::validation(
            "A gRPC matcher cannot be specified for target groups of network load balancers",
        ));
    }
    let req = health_check_request(c)?;
    let tg = c.world.modify_target_group(c.caller, &arn, &req)?;
    let lbs = c.world.target_group_load_balancers(&c.caller.region, &tg.arn);
    let mut x = Xml::new();
    x.members("TargetGroups", [&tg], |x, tg| render_tg(x, tg, &lbs));
    Ok(x)
}

pub(super) fn delete_target_group(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?.to_string();
    c.world.delete_target_group(c.caller, &arn)?;
    Ok(Xml::new())
}

pub(super) fn targets(c: &Ctx) -> Result<Vec<TargetSpec>> {
    c.p.members("Targets")
        .into_iter()
        .map(|t| {
            let id = t.get("Id").ok_or_else(|| Error::validation("A target ID must be specified"))?.to_string();
            let port = t.int("Port").map_err(|e| Error::validation(e.message))?;
            Ok((id, port, t.string("AvailabilityZone")))
        })
        .collect()
}

pub(super) fn register_targets(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?.to_string();
    let t = targets(c)?;
    c.world.register_targets(c.caller, &arn, &t)?;
    Ok(Xml::new())
}

pub(super) fn deregister_targets(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?.to_string();
    let t: Vec<(String, Option<i64>)> = targets(c)?.into_iter().map(|(i, p, _)| (i, p)).collect();
    if t.is_empty() {
        return Err(Error::validation("At least one target must be specified"));
    }
    c.world.deregister_targets(c.caller, c.now, &arn, &t)?;
    Ok(Xml::new())
}

pub(super) fn modify_tg_attributes(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?.to_string();
    let attrs = attributes(c)?;
    c.world.modify_target_group_attributes(c.caller, &arn, &attrs)?;
    let mut x = Xml::new();
    render_attributes(&mut x, attrs.iter().map(|(k, v)| (k, v)));
    Ok(x)
}

pub(super) fn describe_tg_attributes(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "TargetGroupArn")?;
    let tg = c.world.target_group(c.caller, arn)?;
    let mut x = Xml::new();
    render_attributes(&mut x, &tg.attributes);
    Ok(x)
}

pub(super) fn describe_target_health(c: &mut Ctx) -> Result<Xml> {
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
