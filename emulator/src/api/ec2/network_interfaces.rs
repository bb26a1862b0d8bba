//! Network interfaces: the ENIs of endpoints and NLBs, and users' own.

use super::{page, render_tags, Ctx};
use crate::api::xml::Xml;
use crate::model::{self, NetworkInterface, Result};

pub fn render_network_interface(x: &mut Xml, n: &NetworkInterface, region: &model::Region) {
    x.leaf("networkInterfaceId", &n.id);
    x.leaf("subnetId", &n.subnet_id);
    x.leaf("vpcId", &n.vpc_id);
    x.leaf("availabilityZone", &n.availability_zone);
    x.leaf("availabilityZoneId", &n.availability_zone_id);
    x.leaf("description", &n.description);
    x.leaf("ownerId", &n.owner);
    x.leaf("requesterId", &n.requester_id);
    x.bool("requesterManaged", n.requester_managed);
    x.leaf("status", "in-use");
    x.leaf("macAddress", &n.mac_address);
    x.leaf("privateIpAddress", n.private_ip.to_string());
    x.leaf("privateDnsName", n.private_dns_name(&region.name));
    x.bool("sourceDestCheck", true);
    x.leaf("interfaceType", &n.interface_type);
    x.items("groupSet", &n.group_ids, |x, gid| {
        x.leaf("groupId", gid);
        if let Some(g) = region.security_groups.get(gid) {
            x.leaf("groupName", &g.name);
        }
    });
    x.items("privateIpAddressesSet", [n], |x, n| {
        x.leaf("privateIpAddress", n.private_ip.to_string());
        x.leaf("privateDnsName", n.private_dns_name(&region.name));
        x.bool("primary", true);
    });
    x.node("ipv6AddressesSet", |_| {});
    render_tags(x, &n.tags);
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
