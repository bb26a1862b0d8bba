//! Security groups and their rules.

use super::{page, render_tags, Ctx};
use crate::api::query::Params;
use crate::api::xml::Xml;
use crate::model::security_group_rules::{
    normalise_protocol, parse_prefix_list_id, parse_rule_cidr, parse_rule_cidr_v6, RuleUpdate,
};
use crate::model::{self, Error, Peer, Permission, Result, SecurityGroup, SecurityGroupRule};

fn render_permission(x: &mut Xml, p: &Permission, region: &model::Region) {
    x.leaf("ipProtocol", &p.protocol);
    if let Some(f) = p.from_port {
        x.num("fromPort", f);
    }
    if let Some(t) = p.to_port {
        x.num("toPort", t);
    }
    let of = |f: fn(&Peer) -> bool| p.peers.iter().filter(move |(peer, _)| f(peer));
    x.items("groups", of(|p| matches!(p, Peer::Group { .. })), |x, (peer, desc)| {
        if let Peer::Group { id, owner } = peer {
            x.opt("description", desc.as_ref());
            x.leaf("userId", owner);
            x.leaf("groupId", id);
            if let Some(g) = region.security_groups.get(id) {
                x.leaf("groupName", &g.name);
                x.leaf("vpcId", &g.vpc_id);
            }
        }
    });
    x.items("ipRanges", of(|p| matches!(p, Peer::Ipv4(_))), |x, (peer, desc)| {
        if let Peer::Ipv4(cidr) = peer {
            x.leaf("cidrIp", cidr.to_string());
            x.opt("description", desc.as_ref());
        }
    });
    x.items("ipv6Ranges", of(|p| matches!(p, Peer::Ipv6(_))), |x, (peer, desc)| {
        if let Peer::Ipv6(cidr) = peer {
            x.leaf("cidrIpv6", cidr);
            x.opt("description", desc.as_ref());
        }
    });
    x.items("prefixListIds", of(|p| matches!(p, Peer::PrefixList(_))), |x, (peer, desc)| {
        if let Peer::PrefixList(id) = peer {
            x.opt("description", desc.as_ref());
            x.leaf("prefixListId", id);
        }
    });
}

pub fn render_group(x: &mut Xml, g: &SecurityGroup, region: &model::Region) {
    x.leaf("ownerId", &g.owner);
    x.leaf("groupId", &g.id);
    x.leaf("groupName", &g.name);
    x.leaf("groupDescription", &g.description);
    x.leaf("vpcId", &g.vpc_id);
    x.leaf("securityGroupArn", g.arn(&region.name));
    x.items("ipPermissions", g.permissions(false), |x, p| render_permission(x, &p, region));
    x.items("ipPermissionsEgress", g.permissions(true), |x, p| render_permission(x, &p, region));
    render_tags(x, &g.tags);
}

fn render_peer(x: &mut Xml, peer: &Peer, group_info: bool) {
    match peer {
        Peer::Ipv4(c) => x.leaf("cidrIpv4", c.to_string()),
        Peer::Ipv6(c) => x.leaf("cidrIpv6", c),
        Peer::PrefixList(p) => x.leaf("prefixListId", p),
        Peer::Group { id, owner } if group_info => x.node("referencedGroupInfo", |x| {
            x.leaf("groupId", id);
            x.leaf("userId", owner);
        }),
        Peer::Group { id, .. } => x.leaf("referencedGroupId", id),
    }
}

/// One SecurityGroupRule, as Authorize* and DescribeSecurityGroupRules answer it.
fn render_rule(x: &mut Xml, group_id: &str, owner: &str, r: &SecurityGroupRule, region: &str) {
    x.leaf("securityGroupRuleId", &r.id);
    x.leaf("groupId", group_id);
    x.leaf("groupOwnerId", owner);
    x.bool("isEgress", r.egress);
    x.leaf("ipProtocol", &r.protocol);
    x.num("fromPort", r.from_port.unwrap_or(-1));
    x.num("toPort", r.to_port.unwrap_or(-1));
    render_peer(x, &r.peer, true);
    x.opt("description", r.description.as_ref());
    render_tags(x, &r.tags);
    x.leaf("securityGroupRuleArn", r.arn(region, owner));
}

fn render_revoked(x: &mut Xml, group_id: &str, r: &SecurityGroupRule) {
    x.leaf("securityGroupRuleId", &r.id);
    x.leaf("groupId", group_id);
    x.bool("isEgress", r.egress);
    x.leaf("ipProtocol", &r.protocol);
    x.num("fromPort", r.from_port.unwrap_or(-1));
    x.num("toPort", r.to_port.unwrap_or(-1));
    render_peer(x, &r.peer, false);
    x.opt("description", r.description.as_ref());
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

/// GroupId, or the group of that GroupName.
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

/// Rule descriptions: at most 255 characters of the set AWS allows.
fn rule_description(p: &Params, name: &str) -> Result<Option<String>> {
    let Some(d) = p.string(name) else { return Ok(None) };
    let allowed = |ch: char| ch.is_ascii_alphanumeric() || ". _-:/()#,@[]+=&;{}!$*".contains(ch);
    if d.chars().count() > 255 || !d.chars().all(allowed) {
        return Err(Error::new(
            "InvalidParameterValue",
            "Invalid rule description. Valid descriptions are strings less than 256 characters from the following \
             set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*",
        ));
    }
    Ok(Some(d))
}

/// A group named as a peer: by id, or by name among the caller's groups
/// of the VPC the rule's group is in.
fn peer_group(c: &Ctx, g: &Params, vpc: &str) -> Result<Peer> {
    let owner = g.get("UserId").unwrap_or(&c.caller.account).to_string();
    if let Some(id) = g.get("GroupId") {
        return Ok(Peer::Group { id: id.to_string(), owner });
    }
    let name = g.get("GroupName").ok_or_else(|| Error::missing("GroupId"))?;
    named_group(c, name, vpc).map(|id| Peer::Group { id, owner })
}

fn named_group(c: &Ctx, name: &str, vpc: &str) -> Result<String> {
    c.world
        .region(&c.caller.region)
        .and_then(|r| {
            r.security_groups.values().find(|g| g.owner == c.caller.account && g.vpc_id == vpc && g.name == name)
        })
        .map(|g| g.id.clone())
        .ok_or_else(|| Error::new("InvalidGroup.NotFound", format!("The security group '{name}' does not exist")))
}

/// IpPermissions.N (with IpRanges, Ipv6Ranges, PrefixListIds and Groups),
/// or the flat IpProtocol/FromPort/ToPort/CidrIp/SourceSecurityGroupName form.
fn permissions(c: &Ctx, vpc: &str) -> Result<Vec<Permission>> {
    let mut out = Vec::new();
    for p in c.p.indexed("IpPermissions") {
        let protocol =
            normalise_protocol(p.get("IpProtocol").ok_or_else(|| Error::missing("IpPermissions.N.IpProtocol"))?);
        let mut peers = Vec::new();
        for r in p.indexed("IpRanges") {
            let cidr = r.get("CidrIp").ok_or_else(|| Error::missing("IpRanges.N.CidrIp"))?;
            peers.push((Peer::Ipv4(parse_rule_cidr(cidr)?), rule_description(&r, "Description")?));
        }
        for r in p.indexed("Ipv6Ranges") {
            let cidr = r.get("CidrIpv6").ok_or_else(|| Error::missing("Ipv6Ranges.N.CidrIpv6"))?;
            peers.push((Peer::Ipv6(parse_rule_cidr_v6(cidr)?), rule_description(&r, "Description")?));
        }
        for r in p.indexed("PrefixListIds") {
            let id = r.get("PrefixListId").ok_or_else(|| Error::missing("PrefixListIds.N.PrefixListId"))?;
            peers.push((Peer::PrefixList(parse_prefix_list_id(id)?), rule_description(&r, "Description")?));
        }
        for g in p.indexed("Groups") {
            peers.push((peer_group(c, &g, vpc)?, rule_description(&g, "Description")?));
        }
        out.push(Permission { protocol, from_port: port(&p, "FromPort")?, to_port: port(&p, "ToPort")?, peers });
    }
    if let Some(proto) = c.p.get("IpProtocol") {
        let mut peers = Vec::new();
        if let Some(cidr) = c.p.get("CidrIp") {
            peers.push((Peer::Ipv4(parse_rule_cidr(cidr)?), None));
        }
        if let Some(name) = c.p.get("SourceSecurityGroupName") {
            let owner = c.p.get("SourceSecurityGroupOwnerId").unwrap_or(&c.caller.account).to_string();
            peers.push((Peer::Group { id: named_group(c, name, vpc)?, owner }, None));
        }
        out.push(Permission {
            protocol: normalise_protocol(proto),
            from_port: port(c.p, "FromPort")?,
            to_port: port(c.p, "ToPort")?,
            peers,
        });
    }
    if out.iter().any(|p| p.peers.is_empty()) {
        return Err(Error::new(
            "InvalidParameterValue",
            "Each permission must name a source or destination: an IPv4 or IPv6 range, a prefix list or a security group.",
        ));
    }
    Ok(out)
}

fn port(p: &Params, name: &str) -> Result<Option<i32>> {
    match p.int(name)? {
        None => Ok(None),
        Some(v) => i32::try_from(v).map(Some).map_err(|_| Error::invalid_value(name, &v.to_string(), "Out of range.")),
    }
}

fn authorize(c: &mut Ctx, egress: bool) -> Result<Xml> {
    let id = group_id(c)?;
    let vpc = c.world.security_group(c.caller, &id)?.vpc_id.clone();
    let perms = permissions(c, &vpc)?;
    let tags = c.p.tag_specifications("security-group-rule")?;
    let added = c.world.authorize_rules(c.caller, &id, egress, perms, tags)?;
    // Checked after the change so a dry run validates everything; the
    // engine takes the change back when the answer is an error.
    c.dry_run()?;
    let mut x = Xml::returns_true();
    let (owner, region) = (&c.caller.account, &c.caller.region);
    x.items("securityGroupRuleSet", &added, |x, r| render_rule(x, &id, owner, r, region));
    Ok(x)
}

pub fn authorize_ingress(c: &mut Ctx) -> Result<Xml> {
    authorize(c, false)
}

pub fn authorize_egress(c: &mut Ctx) -> Result<Xml> {
    c.p.required("GroupId")?;
    authorize(c, true)
}

fn revoke(c: &mut Ctx, egress: bool) -> Result<Xml> {
    let id = group_id(c)?;
    let vpc = c.world.security_group(c.caller, &id)?.vpc_id.clone();
    let rule_ids = c.p.list("SecurityGroupRuleId");
    let perms = if rule_ids.is_empty() || !c.p.indexed("IpPermissions").is_empty() || c.p.get("IpProtocol").is_some() {
        permissions(c, &vpc)?
    } else {
        Vec::new()
    };
    let removed = c.world.revoke_rules(c.caller, &id, egress, perms, &rule_ids)?;
    c.dry_run()?;
    let mut x = Xml::returns_true();
    x.items("revokedSecurityGroupRuleSet", &removed, |x, r| render_revoked(x, &id, r));
    Ok(x)
}

pub fn revoke_ingress(c: &mut Ctx) -> Result<Xml> {
    revoke(c, false)
}

pub fn revoke_egress(c: &mut Ctx) -> Result<Xml> {
    c.p.required("GroupId")?;
    revoke(c, true)
}

pub fn describe_security_group_rules(c: &mut Ctx) -> Result<Xml> {
    let rules = c.world.describe_security_group_rules(c.caller, &c.p.list("SecurityGroupRuleId"), &c.p.filters()?)?;
    let (rules, next) = page(c.p, rules, |(_, r)| r.id.clone())?;
    let (owner, region) = (&c.caller.account, &c.caller.region);
    let mut x = Xml::new();
    x.items("securityGroupRuleSet", &rules, |x, (g, r)| render_rule(x, g, owner, r, region));
    x.opt("nextToken", next);
    Ok(x)
}

pub fn modify_security_group_rules(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("GroupId")?.to_string();
    c.world.security_group(c.caller, &id)?;
    let items = c.p.indexed("SecurityGroupRule");
    if items.is_empty() {
        return Err(Error::missing("SecurityGroupRule"));
    }
    let mut updates = Vec::new();
    for item in items {
        let rule_id = item.required("SecurityGroupRuleId")?.to_string();
        let r = &sub(&item, "SecurityGroupRule");
        let protocol = normalise_protocol(r.get("IpProtocol").ok_or_else(|| Error::missing("IpProtocol"))?);
        let description = rule_description(r, "Description")?;
        let mut peers = Vec::new();
        if let Some(cidr) = r.get("CidrIpv4") {
            peers.push((Peer::Ipv4(parse_rule_cidr(cidr)?), description.clone()));
        }
        if let Some(cidr) = r.get("CidrIpv6") {
            peers.push((Peer::Ipv6(parse_rule_cidr_v6(cidr)?), description.clone()));
        }
        if let Some(pl) = r.get("PrefixListId") {
            peers.push((Peer::PrefixList(parse_prefix_list_id(pl)?), description.clone()));
        }
        if let Some(g) = r.get("ReferencedGroupId") {
            let owner = c
                .world
                .region(&c.caller.region)
                .and_then(|reg| reg.security_groups.get(g))
                .map_or_else(|| c.caller.account.clone(), |grp| grp.owner.clone());
            peers.push((Peer::Group { id: g.to_string(), owner }, description.clone()));
        }
        let permission = Permission { protocol, from_port: port(r, "FromPort")?, to_port: port(r, "ToPort")?, peers };
        updates.push(RuleUpdate { rule_id, permission });
    }
    c.world.modify_security_group_rules(c.caller, &id, updates)?;
    c.dry_run()?;
    Ok(Xml::returns_true())
}

/// The parameters under `prefix.` of `p`, with the prefix stripped.
fn sub(p: &Params, prefix: &str) -> Params {
    let dotted = format!("{prefix}.");
    Params::from_pairs(p.pairs().filter_map(|(k, v)| k.strip_prefix(&dotted).map(|k| (k.to_string(), v.clone()))))
}

fn update_descriptions(c: &mut Ctx, egress: bool) -> Result<Xml> {
    let id = group_id(c)?;
    let vpc = c.world.security_group(c.caller, &id)?.vpc_id.clone();
    let mut by_id = Vec::new();
    for d in c.p.indexed("SecurityGroupRuleDescription") {
        let rule = d.required("SecurityGroupRuleId")?.to_string();
        by_id.push((rule, rule_description(&d, "Description")?));
    }
    let perms =
        if by_id.is_empty() || !c.p.indexed("IpPermissions").is_empty() { permissions(c, &vpc)? } else { Vec::new() };
    c.world.update_rule_descriptions(c.caller, &id, egress, perms, &by_id)?;
    c.dry_run()?;
    Ok(Xml::returns_true())
}

pub fn update_descriptions_ingress(c: &mut Ctx) -> Result<Xml> {
    update_descriptions(c, false)
}

pub fn update_descriptions_egress(c: &mut Ctx) -> Result<Xml> {
    update_descriptions(c, true)
}

pub fn get_security_groups_for_vpc(c: &mut Ctx) -> Result<Xml> {
    let vpc = c.p.required("VpcId")?.to_string();
    let groups = c.world.security_groups_for_vpc(c.caller, &vpc, &c.p.filters()?)?;
    let (groups, next) = page(c.p, groups, |g| g.id.clone())?;
    let mut x = Xml::new();
    x.items("securityGroupForVpcSet", &groups, |x, g| {
        x.leaf("description", &g.description);
        x.leaf("groupName", &g.name);
        x.leaf("ownerId", &g.owner);
        x.leaf("groupId", &g.id);
        render_tags(x, &g.tags);
        x.leaf("primaryVpcId", &g.vpc_id);
    });
    x.opt("nextToken", next);
    Ok(x)
}
