//! Subnets and their attributes.

use super::{page, render_tags, Ctx};
use crate::api::xml::Xml;
use crate::model::{Result, Subnet};

pub fn render_subnet(x: &mut Xml, s: &Subnet, region: &str) {
    x.leaf("subnetId", &s.id);
    x.leaf("subnetArn", s.arn(region));
    x.leaf("state", "available");
    x.leaf("vpcId", &s.vpc_id);
    x.leaf("ownerId", &s.owner);
    x.leaf("cidrBlock", s.cidr.to_string());
    x.node("ipv6CidrBlockAssociationSet", |_| {});
    x.num("availableIpAddressCount", s.available_ip_count());
    x.leaf("availabilityZone", &s.availability_zone);
    x.leaf("availabilityZoneId", &s.availability_zone_id);
    x.bool("defaultForAz", false);
    x.bool("mapPublicIpOnLaunch", false);
    x.bool("assignIpv6AddressOnCreation", false);
    x.bool("ipv6Native", false);
    x.bool("enableDns64", false);
    x.node("privateDnsNameOptionsOnLaunch", |x| {
        x.leaf("hostnameType", "ip-name");
        x.bool("enableResourceNameDnsARecord", false);
        x.bool("enableResourceNameDnsAAAARecord", false);
    });
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
    x.node("subnet", |x| render_subnet(x, &subnet, &c.caller.region));
    Ok(x)
}

pub fn describe_subnets(c: &mut Ctx) -> Result<Xml> {
    let subnets = c.world.describe_subnets(c.caller, &c.p.list("SubnetId"), &c.p.filters()?)?;
    let (subnets, next) = page(c.p, subnets, |s| s.id.clone())?;
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
