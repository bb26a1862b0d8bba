//! VPCs, subnets, security groups, network interfaces, zones, regions, tags.

use super::{page, render_tags, Ctx};
use crate::api::xml::Xml;
use crate::model::net::Ipv4Cidr;
use crate::model::security_group::{normalise_protocol, parse_rule_cidr};
use crate::model::{self, region, Error, IpPermission, NetworkInterface, Result, SecurityGroup, Subnet, Vpc};

pub fn render_vpc(x: &mut Xml, v: &Vpc) {
    x.leaf("vpcId", &v.id);
    x.leaf("ownerId", &v.owner);
    x.leaf("state", "available");
    x.leaf("cidrBlock", v.cidr.to_string());
    x.items("cidrBlockAssociationSet", [v], |x, v| {
        x.leaf("associationId", &v.cidr_association_id);
        x.leaf("cidrBlock", v.cidr.to_string());
        x.node("cidrBlockState", |x| x.leaf("state", "associated"));
    });
    x.node("ipv6CidrBlockAssociationSet", |_| {});
    x.leaf("dhcpOptionsId", &v.dhcp_options_id);
    x.leaf("instanceTenancy", &v.instance_tenancy);
    x.bool("isDefault", false);
    render_tags(x, &v.tags);
}

pub fn create_vpc(c: &mut Ctx) -> Result<Xml> {
    let cidr = c.p.required("CidrBlock")?.to_string();
    let tags = c.p.tag_specifications("vpc")?;
    let tenancy = c.p.string("InstanceTenancy");
    c.dry_run()?;
    let vpc = c.world.create_vpc(c.caller, c.now, &cidr, tenancy.as_deref(), tags)?;
    let mut x = Xml::new();
    x.node("vpc", |x| render_vpc(x, &vpc));
    Ok(x)
}

pub fn describe_vpcs(c: &mut Ctx) -> Result<Xml> {
    let vpcs = c.world.describe_vpcs(c.caller, &c.p.list("VpcId"), &c.p.filters()?)?;
    let (vpcs, next) = page(c.p, vpcs, |v| v.id.clone())?;
    let mut x = Xml::new();
    x.items("vpcSet", &vpcs, render_vpc);
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

fn render_permission(x: &mut Xml, p: &IpPermission, groups: &model::Region) {
    x.leaf("ipProtocol", &p.protocol);
    if let Some(f) = p.from_port {
        x.num("fromPort", f);
    }
    if let Some(t) = p.to_port {
        x.num("toPort", t);
    }
    x.items("groups", &p.groups, |x, (gid, owner, desc)| {
        x.opt("description", desc.as_ref());
        x.leaf("userId", owner);
        x.leaf("groupId", gid);
        if let Some(g) = groups.security_groups.get(gid) {
            x.leaf("groupName", &g.name);
            x.leaf("vpcId", &g.vpc_id);
        }
    });
    x.items("ipRanges", &p.ranges, |x, (cidr, desc)| {
        x.leaf("cidrIp", cidr.to_string());
        x.opt("description", desc.as_ref());
    });
    x.node("ipv6Ranges", |_| {});
    x.node("prefixListIds", |_| {});
}

pub fn render_group(x: &mut Xml, g: &SecurityGroup, region: &model::Region) {
    x.leaf("ownerId", &g.owner);
    x.leaf("groupId", &g.id);
    x.leaf("groupName", &g.name);
    x.leaf("groupDescription", &g.description);
    x.leaf("vpcId", &g.vpc_id);
    x.leaf("securityGroupArn", g.arn(&region.name));
    x.items("ipPermissions", &g.ingress, |x, p| render_permission(x, p, region));
    x.items("ipPermissionsEgress", &g.egress, |x, p| render_permission(x, p, region));
    render_tags(x, &g.tags);
}

pub fn create_security_group(c: &mut Ctx) -> Result<Xml> {
    let name = c.p.required("GroupName")?.to_string();
    let description = c.p.required("GroupDescription")?.to_string();
    let vpc = c.p.string("VpcId");
    let tags = c.p.tag_specifications("security-group")?;
    if let Some(v) = &vpc {
        c.world.vpc(c.caller, v)?;
    }
    c.dry_run()?;
    let g = c.world.create_security_group(c.caller, &name, &description, vpc.as_deref(), tags)?;
    let mut x = Xml::new();
    x.leaf("groupId", &g.id);
    x.leaf("securityGroupArn", g.arn(&c.caller.region));
    render_tags(&mut x, &g.tags);
    x.bool("return", true);
    Ok(x)
}

pub fn describe_security_groups(c: &mut Ctx) -> Result<Xml> {
    let groups =
        c.world.describe_security_groups(c.caller, &c.p.list("GroupId"), &c.p.list("GroupName"), &c.p.filters()?)?;
    let (groups, next) = page(c.p, groups, |g| g.id.clone())?;
    let empty = model::Region::default();
    let region = c.world.region(&c.caller.region).unwrap_or(&empty);
    let mut x = Xml::new();
    x.items("securityGroupInfo", &groups, |x, g| render_group(x, g, region));
    x.opt("nextToken", next);
    Ok(x)
}

fn group_id(c: &Ctx) -> Result<String> {
    if let Some(id) = c.p.get("GroupId") {
        return Ok(id.to_string());
    }
    let name = c.p.get("GroupName").ok_or_else(|| Error::missing("GroupId"))?;
    c.world
        .describe_security_groups(c.caller, &[], &[name.to_string()], &[])?
        .first()
        .map(|g| g.id.clone())
        .ok_or_else(|| Error::new("InvalidGroup.NotFound", format!("The security group '{name}' does not exist")))
}

pub fn delete_security_group(c: &mut Ctx) -> Result<Xml> {
    let id = group_id(c)?;
    c.world.security_group(c.caller, &id)?;
    c.dry_run()?;
    c.world.delete_security_group(c.caller, &id)?;
    let mut x = Xml::returns_true();
    x.leaf("groupId", &id);
    Ok(x)
}

/// IpPermissions.N..., or the flat CidrIp/IpProtocol/FromPort/ToPort form.
fn permissions(c: &Ctx) -> Result<Vec<IpPermission>> {
    let mut out = Vec::new();
    for p in c.p.indexed("IpPermissions") {
        let protocol =
            normalise_protocol(p.get("IpProtocol").ok_or_else(|| Error::missing("IpPermissions.N.IpProtocol"))?);
        let mut ranges = Vec::new();
        for r in p.indexed("IpRanges") {
            let cidr = r.get("CidrIp").ok_or_else(|| Error::missing("IpRanges.N.CidrIp"))?;
            ranges.push((parse_rule_cidr(cidr)?, r.string("Description")));
        }
        let mut groups = Vec::new();
        for g in p.indexed("Groups") {
            let gid = g.get("GroupId").ok_or_else(|| Error::missing("Groups.N.GroupId"))?;
            groups.push((
                gid.to_string(),
                g.get("UserId").unwrap_or(&c.caller.account).to_string(),
                g.string("Description"),
            ));
        }
        let (from, to) = ports(&protocol, p.int("FromPort")?, p.int("ToPort")?);
        out.push(IpPermission { protocol, from_port: from, to_port: to, ranges, groups });
    }
    if let Some(proto) = c.p.get("IpProtocol") {
        let protocol = normalise_protocol(proto);
        let mut ranges = Vec::new();
        if let Some(cidr) = c.p.get("CidrIp") {
            ranges.push((parse_rule_cidr(cidr)?, None));
        }
        let (from, to) = ports(&protocol, c.p.int("FromPort")?, c.p.int("ToPort")?);
        out.push(IpPermission { protocol, from_port: from, to_port: to, ranges, groups: vec![] });
    }
    if out.is_empty() {
        return Err(Error::missing("IpPermissions"));
    }
    Ok(out)
}

fn ports(protocol: &str, from: Option<i64>, to: Option<i64>) -> (Option<i32>, Option<i32>) {
    if protocol == "-1" {
        return (None, None);
    }
    (from.map(|v| v as i32), to.map(|v| v as i32))
}

pub fn authorize_ingress(c: &mut Ctx) -> Result<Xml> {
    let id = group_id(c)?;
    let perms = permissions(c)?;
    c.world.security_group(c.caller, &id)?;
    c.dry_run()?;
    let added = c.world.authorize_ingress(c.caller, &id, perms)?;
    let mut x = Xml::returns_true();
    let owner = c.caller.account.clone();
    x.node("securityGroupRuleSet", |x| {
        for (rule_id, p) in &added {
            let sources: Vec<(Option<Ipv4Cidr>, Option<&str>, Option<&String>)> = p
                .ranges
                .iter()
                .map(|(cidr, d)| (Some(*cidr), None, d.as_ref()))
                .chain(p.groups.iter().map(|(g, _, d)| (None, Some(g.as_str()), d.as_ref())))
                .collect();
            for (cidr, group, desc) in sources {
                x.node("item", |x| {
                    x.leaf("securityGroupRuleId", rule_id);
                    x.leaf("groupId", &id);
                    x.leaf("groupOwnerId", &owner);
                    x.bool("isEgress", false);
                    x.leaf("ipProtocol", &p.protocol);
                    x.num("fromPort", p.from_port.unwrap_or(-1));
                    x.num("toPort", p.to_port.unwrap_or(-1));
                    x.opt("cidrIpv4", cidr.map(|c| c.to_string()));
                    if let Some(g) = group {
                        x.node("referencedGroupInfo", |x| {
                            x.leaf("groupId", g);
                            x.leaf("userId", &owner);
                        });
                    }
                    x.opt("description", desc);
                });
            }
        }
    });
    Ok(x)
}

pub fn revoke_ingress(c: &mut Ctx) -> Result<Xml> {
    let id = group_id(c)?;
    let perms = permissions(c)?;
    c.world.security_group(c.caller, &id)?;
    c.dry_run()?;
    c.world.revoke_ingress(c.caller, &id, perms)?;
    Ok(Xml::returns_true())
}

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

pub fn describe_availability_zones(c: &mut Ctx) -> Result<Xml> {
    let names = c.p.list("ZoneName");
    let zone_ids = c.p.list("ZoneId");
    let filters = c.p.filters()?;
    model::tags::check_filter_names(
        &filters,
        &["zone-name", "zone-id", "region-name", "state", "zone-type", "group-name", "opt-in-status"],
    )?;
    let region_name = c.caller.region.clone();
    let zones = region::zones(&region_name);
    for n in &names {
        if !zones.iter().any(|z| &z.name == n) {
            return Err(Error::new("InvalidParameterValue", format!("The zone '{n}' does not exist.")));
        }
    }
    let values = |z: &region::Zone, f: &str| -> Vec<String> {
        match f {
            "zone-name" => vec![z.name.clone()],
            "zone-id" => vec![z.id.clone()],
            "region-name" | "group-name" => vec![region_name.clone()],
            "state" => vec!["available".into()],
            "zone-type" => vec!["availability-zone".into()],
            "opt-in-status" => vec!["opt-in-not-required".into()],
            _ => vec![],
        }
    };
    let selected: Vec<&region::Zone> = zones
        .iter()
        .filter(|z| names.is_empty() || names.contains(&z.name))
        .filter(|z| zone_ids.is_empty() || zone_ids.contains(&z.id))
        .filter(|z| {
            filters
                .iter()
                .all(|f| f.values.iter().any(|v| values(z, &f.name).iter().any(|h| model::tags::glob_match(v, h))))
        })
        .collect();
    c.dry_run()?;
    let mut x = Xml::new();
    x.items("availabilityZoneInfo", selected, |x, z| {
        x.leaf("zoneName", &z.name);
        x.leaf("zoneState", "available");
        x.leaf("regionName", &region_name);
        x.leaf("zoneId", &z.id);
        x.leaf("zoneType", "availability-zone");
        x.leaf("groupName", &region_name);
        x.leaf("networkBorderGroup", &region_name);
        x.leaf("optInStatus", "opt-in-not-required");
        x.node("messageSet", |_| {});
    });
    Ok(x)
}

pub fn describe_regions(c: &mut Ctx) -> Result<Xml> {
    let names = c.p.list("RegionName");
    for n in &names {
        if region::lookup(n).is_none() {
            return Err(Error::new("InvalidParameterValue", format!("Invalid region: {n}")));
        }
    }
    c.dry_run()?;
    let mut x = Xml::new();
    x.items(
        "regionInfo",
        region::REGIONS.iter().filter(|r| names.is_empty() || names.iter().any(|n| n == r.name)),
        |x, r| {
            x.leaf("regionName", r.name);
            x.leaf("regionEndpoint", format!("ec2.{}.amazonaws.com", r.name));
            x.leaf("optInStatus", "opt-in-not-required");
        },
    );
    Ok(x)
}

pub fn create_tags(c: &mut Ctx) -> Result<Xml> {
    let ids = c.p.list("ResourceId");
    if ids.is_empty() {
        return Err(Error::missing("ResourceId"));
    }
    let tags = c.p.tag_pairs("Tag", "Key", "Value")?;
    model::tags::validate(&tags)?;
    for id in &ids {
        c.world.ec2_tags_mut(c.caller, id)?;
    }
    c.dry_run()?;
    for id in &ids {
        let t = c.world.ec2_tags_mut(c.caller, id)?;
        t.extend(tags.iter().cloned());
    }
    Ok(Xml::returns_true())
}

pub fn delete_tags(c: &mut Ctx) -> Result<Xml> {
    let ids = c.p.list("ResourceId");
    if ids.is_empty() {
        return Err(Error::missing("ResourceId"));
    }
    let tags: Vec<(String, Option<String>)> =
        c.p.indexed("Tag").into_iter().filter_map(|t| t.string("Key").map(|k| (k, t.string("Value")))).collect();
    for id in &ids {
        c.world.ec2_tags_mut(c.caller, id)?;
    }
    c.dry_run()?;
    for id in &ids {
        let t = c.world.ec2_tags_mut(c.caller, id)?;
        if tags.is_empty() {
            t.clear();
        }
        for (k, v) in &tags {
            if v.as_ref().is_none_or(|v| t.get(k) == Some(v)) {
                t.remove(k);
            }
        }
    }
    Ok(Xml::returns_true())
}

pub fn describe_tags(c: &mut Ctx) -> Result<Xml> {
    let filters = c.p.filters()?;
    model::tags::check_filter_names(&filters, &["resource-id", "resource-type", "key", "value"])?;
    let all: Vec<(String, &'static str, String, String)> = c
        .world
        .ec2_tags(c.caller)
        .into_iter()
        .filter(|(id, kind, k, v)| {
            filters.iter().all(|f| {
                let have = match f.name.as_str() {
                    "resource-id" => id.as_str(),
                    "resource-type" => kind,
                    "key" => k.as_str(),
                    _ => v.as_str(),
                };
                f.values.iter().any(|want| model::tags::glob_match(want, have))
            })
        })
        .collect();
    let (all, next) = page(c.p, all, |(id, _, k, _)| format!("{id}\u{1}{k}"))?;
    let mut x = Xml::new();
    x.items("tagSet", &all, |x, (id, kind, k, v)| {
        x.leaf("resourceId", id);
        x.leaf("resourceType", kind);
        x.leaf("key", k);
        x.leaf("value", v);
    });
    x.opt("nextToken", next);
    Ok(x)
}
