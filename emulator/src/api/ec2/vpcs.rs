//! VPCs and their attributes, default VPCs, and the default network ACLs.

use super::{page, render_tags, Ctx};
use crate::api::xml::Xml;
use crate::model::network_acl::NetworkAcl;
use crate::model::{Error, Result, Vpc};

/// A VPC in `state`: `pending` in the answer to its creation, as AWS
/// answers, `available` from then on.
pub fn render_vpc(x: &mut Xml, v: &Vpc, state: &str) {
    x.leaf("vpcId", &v.id);
    x.leaf("ownerId", &v.owner);
    x.leaf("state", state);
    x.leaf("cidrBlock", v.cidr.to_string());
    x.items("cidrBlockAssociationSet", [v], |x, v| {
        x.leaf("associationId", &v.cidr_association_id);
        x.leaf("cidrBlock", v.cidr.to_string());
        x.node("cidrBlockState", |x| x.leaf("state", "associated"));
    });
    x.node("ipv6CidrBlockAssociationSet", |_| {});
    x.leaf("dhcpOptionsId", &v.dhcp_options_id);
    x.leaf("instanceTenancy", &v.instance_tenancy);
    x.bool("isDefault", v.is_default);
    x.node("blockPublicAccessStates", |x| x.leaf("internetGatewayBlockMode", "off"));
    render_tags(x, &v.tags);
}

pub fn create_vpc(c: &mut Ctx) -> Result<Xml> {
    let cidr = c.p.required("CidrBlock")?.to_string();
    let tags = c.p.tag_specifications("vpc")?;
    let tenancy = c.p.string("InstanceTenancy");
    let vpc = c.world.create_vpc(c.caller, c.now, &cidr, tenancy.as_deref(), tags)?;
    // After the change, so a dry run is checked whole; the engine takes the
    // change back when the answer is an error.
    c.dry_run()?;
    let mut x = Xml::new();
    x.node("vpc", |x| render_vpc(x, &vpc, "pending"));
    Ok(x)
}

pub fn create_default_vpc(c: &mut Ctx) -> Result<Xml> {
    let vpc = c.world.create_default_vpc(c.caller, c.now)?;
    c.dry_run()?;
    let mut x = Xml::new();
    x.node("vpc", |x| render_vpc(x, &vpc, "pending"));
    Ok(x)
}

pub fn describe_vpcs(c: &mut Ctx) -> Result<Xml> {
    let vpcs = c.world.describe_vpcs(c.caller, &c.p.list("VpcId"), &c.p.filters()?)?;
    let (vpcs, next) = page(c.p, vpcs, |v| v.id.clone())?;
    let mut x = Xml::new();
    x.items("vpcSet", &vpcs, |x, v| render_vpc(x, v, "available"));
    x.opt("nextToken", next);
    Ok(x)
}

pub fn delete_vpc(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("VpcId")?.to_string();
    c.world.vpc(c.caller, &id)?;
    c.dry_run()?;
    c.world.delete_vpc(c.caller, &id)?;
    Ok(Xml::returns_true())
}

pub fn modify_vpc_attribute(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("VpcId")?.to_string();
    let support = c.p.bool("EnableDnsSupport.Value")?;
    let hostnames = c.p.bool("EnableDnsHostnames.Value")?;
    c.world.vpc(c.caller, &id)?;
    c.dry_run()?;
    c.world.modify_vpc_attribute(c.caller, &id, support, hostnames)?;
    Ok(Xml::returns_true())
}

pub fn describe_vpc_attribute(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("VpcId")?;
    let attribute = c.p.required("Attribute")?;
    let vpc = c.world.vpc(c.caller, id)?;
    let value = match attribute {
        "enableDnsSupport" => vpc.enable_dns_support,
        "enableDnsHostnames" => vpc.enable_dns_hostnames,
        "enableNetworkAddressUsageMetrics" => false,
        other => {
            return Err(Error::invalid_value(
                "Attribute",
                other,
                "Valid values are enableDnsSupport, enableDnsHostnames, enableNetworkAddressUsageMetrics.",
            ))
        }
    };
    let mut x = Xml::new();
    x.leaf("vpcId", &vpc.id);
    x.node(attribute, |x| x.bool("value", value));
    Ok(x)
}

fn render_network_acl(x: &mut Xml, a: &NetworkAcl) {
    x.items("associationSet", &a.associations, |x, (id, subnet)| {
        x.leaf("networkAclAssociationId", id);
        x.leaf("networkAclId", &a.id);
        x.leaf("subnetId", subnet);
    });
    x.items("entrySet", &a.entries, |x, e| {
        x.leaf("cidrBlock", e.cidr);
        x.bool("egress", e.egress);
        x.leaf("protocol", e.protocol);
        x.leaf("ruleAction", if e.allow { "allow" } else { "deny" });
        x.num("ruleNumber", e.rule_number);
    });
    x.bool("default", a.is_default);
    x.leaf("networkAclId", &a.id);
    render_tags(x, &a.tags);
    x.leaf("vpcId", &a.vpc_id);
    x.leaf("ownerId", &a.owner);
}

pub fn describe_network_acls(c: &mut Ctx) -> Result<Xml> {
    let acls = c.world.describe_network_acls(c.caller, &c.p.list("NetworkAclId"), &c.p.filters()?)?;
    let (acls, next) = page(c.p, acls, |a| a.id.clone())?;
    let mut x = Xml::new();
    x.items("networkAclSet", &acls, render_network_acl);
    x.opt("nextToken", next);
    Ok(x)
}
