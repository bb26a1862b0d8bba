//! Load balancers: create, describe, delete, attributes.

use std::net::Ipv4Addr;

use super::{attributes, page, render_attributes, required, tags};
use crate::api::ec2::Ctx;
use crate::api::xml::{timestamp, Xml};
use crate::model::capacity::CapacityReservation;
use crate::model::elb::CreateLoadBalancer;
use crate::model::load_balancer_settings::{check_ip_address_type, on_off, parse_on_off};
use crate::model::{Error, LoadBalancer, Result};

pub(super) fn render_lb(x: &mut Xml, lb: &LoadBalancer) {
    x.leaf("LoadBalancerArn", &lb.arn);
    x.leaf("DNSName", &lb.dns_name);
    x.leaf("CanonicalHostedZoneId", &lb.canonical_hosted_zone_id);
    x.leaf("CreatedTime", timestamp(lb.created));
    x.leaf("LoadBalancerName", &lb.name);
    x.leaf("Scheme", &lb.scheme);
    x.leaf("VpcId", &lb.vpc_id);
    x.node("State", |x| x.leaf("Code", &lb.state));
    x.leaf("Type", "network");
    render_zones(x, lb);
    if !lb.security_groups.is_empty() {
        x.member_strings("SecurityGroups", &lb.security_groups);
    }
    x.leaf("IpAddressType", &lb.ip_address_type);
    if !lb.security_groups.is_empty() {
        x.leaf(
            "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic",
            on_off(lb.enforce_security_group_inbound_rules_on_private_link_traffic),
        );
    }
}

/// Subnets.member.N and SubnetMappings.member.N (with a fixed private
/// address or not), as CreateLoadBalancer and SetSubnets take them.
fn subnet_mappings(c: &Ctx) -> Result<Vec<(String, Option<Ipv4Addr>)>> {
    let mut subnets: Vec<(String, Option<Ipv4Addr>)> =
        c.p.member_list("Subnets").into_iter().map(|s| (s, None)).collect();
    for m in c.p.members("SubnetMappings") {
        let sid = m
            .get("SubnetId")
            .ok_or_else(|| Error::validation("A subnet ID must be specified in each subnet mapping"))?;
        if m.get("AllocationId").is_some() {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                "Elastic IP addresses can only be given to subnets of internet-facing load balancers, which the emulator does not run",
            ));
        }
        let ip = match m.get("PrivateIPv4Address") {
            Some(ip) => Some(
                ip.parse().map_err(|_| Error::validation(format!("The private IPv4 address '{ip}' is not valid")))?,
            ),
            None => None,
        };
        subnets.push((sid.to_string(), ip));
    }
    Ok(subnets)
}

pub(super) fn render_zones(x: &mut Xml, lb: &LoadBalancer) {
    x.members("AvailabilityZones", &lb.nodes, |x, n| {
        x.leaf("ZoneName", &n.availability_zone);
        x.leaf("SubnetId", &n.subnet_id);
        x.members("LoadBalancerAddresses", [n], |x, n| {
            x.leaf("PrivateIPv4Address", n.private_ip.to_string());
        });
    });
}

pub(super) fn create_load_balancer(c: &mut Ctx) -> Result<Xml> {
    let name = required(c, "Name")?.to_string();
    let subnets = subnet_mappings(c)?;
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

pub(super) fn describe_load_balancers(c: &mut Ctx) -> Result<Xml> {
    let list =
        c.world.describe_load_balancers(c.caller, &c.p.member_list("LoadBalancerArns"), &c.p.member_list("Names"))?;
    let (list, next) = page(c, list, |l| l.arn.clone())?;
    let mut x = Xml::new();
    x.members("LoadBalancers", &list, render_lb);
    x.opt("NextMarker", next);
    Ok(x)
}

pub(super) fn delete_load_balancer(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?.to_string();
    c.world.delete_load_balancer(c.caller, &arn)?;
    Ok(Xml::new())
}

pub(super) fn modify_lb_attributes(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?.to_string();
    let attrs = attributes(c)?;
    c.world.modify_load_balancer_attributes(c.caller, &arn, &attrs)?;
    let mut x = Xml::new();
    render_attributes(&mut x, attrs.iter().map(|(k, v)| (k, v)));
    Ok(x)
}

pub(super) fn describe_lb_attributes(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?;
    let attrs = c.world.load_balancer(c.caller, arn)?.all_attributes();
    let mut x = Xml::new();
    render_attributes(&mut x, &attrs);
    Ok(x)
}

pub(super) fn set_security_groups(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?.to_string();
    if c.p.get("SecurityGroups").is_none() && c.p.member_list("SecurityGroups").is_empty() {
        return Err(Error::validation(
            "1 validation error detected: Value null at 'securityGroups' failed to satisfy constraint: Member must not be null",
        ));
    }
    let groups = c.p.member_list("SecurityGroups");
    let enforce = c.p.get("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic").map(parse_on_off).transpose()?;
    let (groups, enforce) = c.world.set_load_balancer_security_groups(c.caller, &arn, &groups, enforce)?;
    let mut x = Xml::new();
    x.member_strings("SecurityGroupIds", &groups);
    x.leaf("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic", on_off(enforce));
    Ok(x)
}

pub(super) fn set_subnets(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?.to_string();
    let subnets = subnet_mappings(c)?;
    if let Some(t) = c.p.get("IpAddressType") {
        check_ip_address_type(t)?;
    }
    if c.p.get("EnablePrefixForIpv6SourceNat") == Some("on") {
        return Err(Error::validation("A prefix for IPv6 source NAT needs the dualstack IP address type"));
    }
    let lb = c.world.set_load_balancer_subnets(c.caller, &arn, &subnets)?;
    let mut x = Xml::new();
    render_zones(&mut x, &lb);
    x.leaf("IpAddressType", &lb.ip_address_type);
    Ok(x)
}

pub(super) fn set_ip_address_type(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?.to_string();
    let t = required(c, "IpAddressType")?.to_string();
    let t = c.world.set_ip_address_type(c.caller, &arn, &t)?;
    let mut x = Xml::new();
    x.leaf("IpAddressType", t);
    Ok(x)
}

fn render_capacity(x: &mut Xml, lb: &LoadBalancer, c: &CapacityReservation, now: u64) {
    x.opt("LastModifiedTime", c.last_modified.map(timestamp));
    x.num("DecreaseRequestsRemaining", c.decreases_remaining(now));
    if let Some(units) = c.minimum_capacity_units {
        x.node("MinimumLoadBalancerCapacity", |x| x.num("CapacityUnits", units));
    }
    let zones = lb.zones();
    let reserved = c.minimum_capacity_units.map(|u| u as f64 / zones.len().max(1) as f64);
    x.members(
        "CapacityReservationState",
        reserved.map(|r| (r, zones)).into_iter().flat_map(|(r, zs)| zs.into_iter().map(move |z| (r, z))),
        |x, (r, z)| {
            x.node("State", |x| x.leaf("Code", "provisioned"));
            x.leaf("AvailabilityZone", z);
            x.num("EffectiveCapacityUnits", r);
        },
    );
}

pub(super) fn describe_capacity_reservation(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?;
    let lb = c.world.load_balancer(c.caller, arn)?;
    let mut x = Xml::new();
    render_capacity(&mut x, lb, &lb.capacity_reservation, c.now);
    Ok(x)
}

pub(super) fn modify_capacity_reservation(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?.to_string();
    let units = c.p.int("MinimumLoadBalancerCapacity.CapacityUnits").map_err(|e| Error::validation(e.message))?;
    let reset = c.p.bool("ResetCapacityReservation").map_err(|e| Error::validation(e.message))?.unwrap_or(false);
    let units = match (units, reset) {
        (Some(_), true) => {
            return Err(Error::validation(
                "MinimumLoadBalancerCapacity and ResetCapacityReservation cannot be specified together",
            ))
        }
        (None, false) => {
            return Err(Error::validation(
                "Either MinimumLoadBalancerCapacity or ResetCapacityReservation must be specified",
            ))
        }
        (u, _) => u,
    };
    let reservation = c.world.modify_capacity_reservation(c.caller, c.now, &arn, units)?;
    let lb = c.world.load_balancer(c.caller, &arn)?;
    let mut x = Xml::new();
    render_capacity(&mut x, lb, &reservation, c.now);
    Ok(x)
}
