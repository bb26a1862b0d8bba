//! Subnets and their attributes.

use super::{page, render_tags, Ctx};
use crate::api::xml::Xml;
use crate::model::subnet::{Counted, SubnetAttribute};
use crate::model::{Error, Result};

pub fn render_subnet(x: &mut Xml, counted: &Counted, region: &str) {
    let s = &counted.subnet;
    x.leaf("subnetId", &s.id);
    x.leaf("subnetArn", s.arn(region));
    x.leaf("state", "available");
    x.leaf("vpcId", &s.vpc_id);
    x.leaf("ownerId", &s.owner);
    x.leaf("cidrBlock", s.cidr.to_string());
    x.node("ipv6CidrBlockAssociationSet", |_| {});
    x.num("availableIpAddressCount", counted.available_ip_count());
    x.leaf("availabilityZone", &s.availability_zone);
    x.leaf("availabilityZoneId", &s.availability_zone_id);
    let a = &s.attributes;
    x.bool("defaultForAz", a.default_for_az);
    x.bool("mapPublicIpOnLaunch", a.map_public_ip_on_launch);
    x.bool("mapCustomerOwnedIpOnLaunch", false);
    x.bool("assignIpv6AddressOnCreation", a.assign_ipv6_address_on_creation);
    x.bool("ipv6Native", false);
    x.bool("enableDns64", a.enable_dns64);
    x.node("privateDnsNameOptionsOnLaunch", |x| {
        x.leaf("hostnameType", &a.hostname_type);
        x.bool("enableResourceNameDnsARecord", a.resource_name_dns_a_record);
        x.bool("enableResourceNameDnsAAAARecord", a.resource_name_dns_aaaa_record);
    });
    x.node("blockPublicAccessStates", |x| x.leaf("internetGatewayBlockMode", "off"));
    render_tags(x, &s.tags);
}

pub fn create_subnet(c: &mut Ctx) -> Result<Xml> {
    let vpc = c.p.required("VpcId")?.to_string();
    let cidr = c.p.required("CidrBlock")?.to_string();
    let zone = c.p.string("AvailabilityZone").or_else(|| c.p.string("AvailabilityZoneId"));
    let tags = c.p.tag_specifications("subnet")?;
    c.world.vpc(c.caller, &vpc)?;
    c.dry_run()?;
    let subnet = c.world.create_subnet(c.caller, &vpc, &cidr, zone.as_deref(), tags)?;
    let mut x = Xml::new();
    let counted = Counted { subnet, in_use: 0 };
    x.node("subnet", |x| render_subnet(x, &counted, &c.caller.region));
    Ok(x)
}

pub fn describe_subnets(c: &mut Ctx) -> Result<Xml> {
    let subnets = c.world.describe_subnets(c.caller, &c.p.list("SubnetId"), &c.p.filters()?)?;
    let (subnets, next) = page(c.p, subnets, |s| s.subnet.id.clone())?;
    let mut x = Xml::new();
    x.items("subnetSet", &subnets, |x, s| render_subnet(x, s, &c.caller.region));
    x.opt("nextToken", next);
    Ok(x)
}

pub fn delete_subnet(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("SubnetId")?.to_string();
    c.world.subnet(c.caller, &id)?;
    c.dry_run()?;
    c.world.delete_subnet(c.caller, &id)?;
    Ok(Xml::returns_true())
}

/// ModifySubnetAttribute: exactly one attribute per request, as AWS takes it.
pub fn modify_subnet_attribute(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("SubnetId")?.to_string();
    let p = c.p;
    let flag = |name: &str| p.bool(&format!("{name}.Value"));
    let mut given: Vec<(&str, SubnetAttribute)> = Vec::new();
    if let Some(v) = flag("MapPublicIpOnLaunch")? {
        given.push(("mapPublicIpOnLaunch", SubnetAttribute::MapPublicIpOnLaunch(v)));
    }
    if let Some(v) = flag("AssignIpv6AddressOnCreation")? {
        given.push(("assignIpv6AddressOnCreation", SubnetAttribute::AssignIpv6AddressOnCreation(v)));
    }
    if let Some(v) = flag("EnableDns64")? {
        given.push(("enableDns64", SubnetAttribute::EnableDns64(v)));
    }
    if let Some(t) = p.string("PrivateDnsHostnameTypeOnLaunch") {
        given.push(("privateDnsHostnameTypeOnLaunch", SubnetAttribute::PrivateDnsHostnameTypeOnLaunch(t)));
    }
    if let Some(v) = flag("EnableResourceNameDnsARecordOnLaunch")? {
        given.push(("enableResourceNameDnsARecordOnLaunch", SubnetAttribute::EnableResourceNameDnsARecordOnLaunch(v)));
    }
    if let Some(v) = flag("EnableResourceNameDnsAAAARecordOnLaunch")? {
        given.push((
            "enableResourceNameDnsAAAARecordOnLaunch",
            SubnetAttribute::EnableResourceNameDnsAAAARecordOnLaunch(v),
        ));
    }
    if let Some(v) = flag("MapCustomerOwnedIpOnLaunch")? {
        given.push(("mapCustomerOwnedIpOnLaunch", SubnetAttribute::MapCustomerOwnedIpOnLaunch(v)));
    }
    if let Some(v) = p.int("EnableLniAtDeviceIndex")? {
        given.push(("enableLniAtDeviceIndex", SubnetAttribute::EnableLniAtDeviceIndex(v)));
    }
    if let Some(v) = flag("DisableLniAtDeviceIndex")? {
        given.push(("disableLniAtDeviceIndex", SubnetAttribute::DisableLniAtDeviceIndex(v)));
    }
    let attribute = match given.len() {
        0 => return Err(Error::missing("MapPublicIpOnLaunch")),
        1 => given.remove(0).1,
        _ => {
            let names: Vec<&str> = given.iter().map(|(n, _)| *n).collect();
            return Err(Error::new(
                "InvalidParameterCombination",
                format!("Fields for multiple attribute types specified: {}", names.join(", ")),
            ));
        }
    };
    c.world.modify_subnet_attribute(c.caller, &id, attribute)?;
    c.dry_run()?;
    Ok(Xml::returns_true())
}
