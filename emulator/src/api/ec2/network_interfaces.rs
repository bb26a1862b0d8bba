//! Network interfaces: the ENIs of endpoints and NLBs, and users' own.

use std::net::Ipv4Addr;

use super::{page, render_tags, Ctx};
use crate::api::xml::Xml;
use crate::model::network_interface::{InterfaceChange, InterfaceRequest};
use crate::model::{self, Error, NetworkInterface, Result};

pub fn render_network_interface(x: &mut Xml, n: &NetworkInterface, region: &model::Region) {
    x.leaf("networkInterfaceId", &n.id);
    x.leaf("subnetId", &n.subnet_id);
    x.leaf("vpcId", &n.vpc_id);
    x.leaf("availabilityZone", &n.availability_zone);
    x.leaf("availabilityZoneId", &n.availability_zone_id);
    x.leaf("description", &n.description);
    x.leaf("ownerId", &n.owner);
    if !n.requester_id.is_empty() {
        x.leaf("requesterId", &n.requester_id);
    }
    x.bool("requesterManaged", n.requester_managed);
    x.leaf("status", n.status());
    x.leaf("macAddress", &n.mac_address);
    x.leaf("privateIpAddress", n.private_ip.to_string());
    x.leaf("privateDnsName", n.private_dns_name(&region.name));
    x.bool("sourceDestCheck", n.source_dest_check);
    x.leaf("interfaceType", &n.interface_type);
    render_groups(x, &n.group_ids, region);
    x.items("privateIpAddressesSet", [n], |x, n| {
        x.leaf("privateIpAddress", n.private_ip.to_string());
        x.leaf("privateDnsName", n.private_dns_name(&region.name));
        x.bool("primary", true);
    });
    x.node("ipv6AddressesSet", |_| {});
    render_tags(x, &n.tags);
}

fn render_groups(x: &mut Xml, groups: &[String], region: &model::Region) {
    x.items("groupSet", groups, |x, gid| {
        x.leaf("groupId", gid);
        if let Some(g) = region.security_groups.get(gid) {
            x.leaf("groupName", &g.name);
        }
    });
}

pub fn describe_network_interfaces(c: &mut Ctx) -> Result<Xml> {
    let enis = c.world.describe_network_interfaces(c.caller, &c.p.list("NetworkInterfaceId"), &c.p.filters()?)?;
    let (enis, next) = page(c.p, enis, |n| n.id.clone())?;
    let empty = model::Region::default();
    let region = c.world.region(&c.caller.region).unwrap_or(&empty);
    let mut x = Xml::new();
    x.items("networkInterfaceSet", &enis, |x, n| render_network_interface(x, n, region));
    x.opt("nextToken", next);
    Ok(x)
}

fn parse_ip(value: &str) -> Result<Ipv4Addr> {
    value.parse().map_err(|_| Error::invalid_value("PrivateIpAddress", value, "This is not an IPv4 address."))
}

/// The primary address asked for: PrivateIpAddress, or the primary entry
/// of PrivateIpAddresses.N. Secondary addresses and IPv6 addresses are not
/// modelled, so asking for them is refused.
fn primary_address(c: &Ctx) -> Result<Option<Ipv4Addr>> {
    let mut ip = c.p.get("PrivateIpAddress").map(parse_ip).transpose()?;
    for a in c.p.indexed("PrivateIpAddresses") {
        let Some(value) = a.get("PrivateIpAddress") else { continue };
        if a.flag("Primary")? && ip.is_none() {
            ip = Some(parse_ip(value)?);
        } else {
            return Err(Error::invalid_value(
                "PrivateIpAddresses",
                value,
                "The emulator gives an interface one private address, its primary one.",
            ));
        }
    }
    if c.p.int("SecondaryPrivateIpAddressCount")?.is_some_and(|n| n > 0) {
        return Err(Error::invalid_value(
            "SecondaryPrivateIpAddressCount",
            c.p.get("SecondaryPrivateIpAddressCount").unwrap_or_default(),
            "The emulator gives an interface one private address, its primary one.",
        ));
    }
    Ok(ip)
}

pub fn create_network_interface(c: &mut Ctx) -> Result<Xml> {
    let subnet_id = c.p.required("SubnetId")?.to_string();
    let ip = primary_address(c)?;
    if c.p.int("Ipv6AddressCount")?.is_some_and(|n| n > 0) || !c.p.indexed("Ipv6Addresses").is_empty() {
        return Err(Error::new(
            "InvalidParameterValue",
            format!(
                "The subnet '{subnet_id}' has no IPv6 CIDR block, so an interface in it cannot have IPv6 addresses."
            ),
        ));
    }
    if let Some(t) = c.p.get("InterfaceType") {
        return Err(Error::invalid_value(
            "InterfaceType",
            t,
            "The emulator makes standard interfaces only (EFA, trunk and branch interfaces need instances).",
        ));
    }
    let req = InterfaceRequest {
        subnet_id,
        ip,
        description: c.p.string("Description").unwrap_or_default(),
        group_ids: c.p.list("SecurityGroupId"),
        tags: c.p.tag_specifications("network-interface")?,
        client_token: c.p.string("ClientToken"),
    };
    let token = req.client_token.clone();
    let eni = c.world.create_user_network_interface(c.caller, req)?;
    c.dry_run()?;
    let empty = model::Region::default();
    let region = c.world.region(&c.caller.region).unwrap_or(&empty);
    let mut x = Xml::new();
    x.node("networkInterface", |x| render_network_interface(x, &eni, region));
    x.opt("clientToken", token);
    Ok(x)
}

pub fn delete_network_interface(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("NetworkInterfaceId")?.to_string();
    c.world.delete_user_network_interface(c.caller, &id)?;
    c.dry_run()?;
    Ok(Xml::returns_true())
}

pub fn describe_network_interface_attribute(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("NetworkInterfaceId")?.to_string();
    let attribute = c.p.required("Attribute")?.to_string();
    let n = c.world.network_interface(c.caller, &id)?;
    let empty = model::Region::default();
    let region = c.world.region(&c.caller.region).unwrap_or(&empty);
    let mut x = Xml::new();
    x.leaf("networkInterfaceId", &n.id);
    match attribute.as_str() {
        "description" => x.node("description", |x| x.leaf("value", &n.description)),
        "groupSet" => render_groups(&mut x, &n.group_ids, region),
        "sourceDestCheck" => x.node("sourceDestCheck", |x| x.bool("value", n.source_dest_check)),
        // Neither kind of interface here is attached to an instance.
        "attachment" => {}
        "associatePublicIpAddress" => x.bool("associatePublicIpAddress", false),
        other => {
            return Err(Error::invalid_value(
                "Attribute",
                other,
                "Valid values are description, groupSet, sourceDestCheck, attachment and associatePublicIpAddress.",
            ))
        }
    }
    Ok(x)
}

pub fn modify_network_interface_attribute(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("NetworkInterfaceId")?.to_string();
    let mut given: Vec<(&str, InterfaceChange)> = Vec::new();
    if let Some(d) = c.p.get("Description.Value") {
        given.push(("description", InterfaceChange::Description(d.to_string())));
    }
    if let Some(v) = c.p.bool("SourceDestCheck.Value")? {
        given.push(("sourceDestCheck", InterfaceChange::SourceDestCheck(v)));
    }
    let groups = c.p.list("SecurityGroupId");
    if !groups.is_empty() {
        given.push(("groupSet", InterfaceChange::Groups(groups)));
    }
    if let Some(a) = c.p.get("Attachment.AttachmentId") {
        given.push(("attachment", InterfaceChange::Attachment(a.to_string())));
    } else if c.p.get("Attachment.DeleteOnTermination").is_some() {
        return Err(Error::missing("Attachment.AttachmentId"));
    }
    let change = match given.len() {
        0 => return Err(Error::missing("Attribute")),
        1 => given.remove(0).1,
        _ => {
            let names: Vec<&str> = given.iter().map(|(n, _)| *n).collect();
            return Err(Error::new(
                "InvalidParameterCombination",
                format!("Fields for multiple attribute types specified: {}", names.join(", ")),
            ));
        }
    };
    c.world.modify_network_interface_attribute(c.caller, &id, change)?;
    c.dry_run()?;
    Ok(Xml::returns_true())
}
