//! The rules of security groups: how requests name them (protocols,
//! ranges, prefix lists), authorize, revoke, modify, describe.

use std::net::Ipv6Addr;

use super::net::{parse_cidr_lenient, Ipv4Cidr};
use super::security_group::{Peer, Permission, SecurityGroupRule};
use super::tags::{self, Filter, Filterable, Tags};
use super::vpc::not_found_group;
use super::{ids, Caller, Change, Error, IpPermission, Resource, Result, SecurityGroup, World};

/// Rules per group and direction (AWS's default quota).
pub const RULES_PER_DIRECTION: usize = 60;

/// ModifySecurityGroupRules: a rule, by id, and what it becomes.
#[derive(Debug, Clone)]
pub struct RuleUpdate {
    pub rule_id: String,
    pub permission: Permission,
}

/// Normalises a protocol the way EC2 does (`TCP`, `6` -> `tcp`; `all` ->
/// `-1`; other protocol numbers stay numbers).
pub fn normalise_protocol(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "6" | "tcp" => "tcp".into(),
        "17" | "udp" => "udp".into(),
        "1" | "icmp" => "icmp".into(),
        "58" | "icmpv6" => "icmpv6".into(),
        "-1" | "all" => "-1".into(),
        // A protocol number as EC2 shows it (`050` -> `50`); anything else
        // as given, for validation to refuse.
        other => other.parse::<u16>().map_or_else(|_| other.to_string(), |n| n.to_string()),
    }
}

pub fn parse_rule_cidr(s: &str) -> Result<Ipv4Cidr> {
    parse_cidr_lenient(s).ok_or_else(|| {
        Error::new(
            "InvalidParameterValue",
            format!("Value ({s}) for parameter cidrIp is invalid. This is not a valid CIDR block."),
        )
    })
}

/// An IPv6 range of a rule, normalised (host bits cleared, shortest form).
pub fn parse_rule_cidr_v6(s: &str) -> Result<String> {
    let bad = || {
        Error::new(
            "InvalidParameterValue",
            format!("Value ({s}) for parameter cidrIpv6 is invalid. This is not a valid IPv6 CIDR block."),
        )
    };
    let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
    let addr: Ipv6Addr = addr.parse().map_err(|_| bad())?;
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    if prefix > 128 {
        return Err(bad());
    }
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix) };
    Ok(format!("{}/{prefix}", Ipv6Addr::from(u128::from(addr) & mask)))
}

pub fn parse_prefix_list_id(s: &str) -> Result<String> {
    if ids::is_well_formed(s, "pl") {
        Ok(s.to_string())
    } else {
        Err(Error::new("InvalidPrefixListId.Malformed", format!("The prefix list ID '{s}' is malformed")))
    }
}

/// Checks a permission's protocol and ports and puts them in the form the
/// group keeps: no ports for all protocols (-1) and protocol numbers, -1
/// for an ICMP type or code not given.
pub fn normalise_permission(p: &mut Permission) -> Result<()> {
    match p.protocol.as_str() {
        "-1" => {
            p.from_port = None;
            p.to_port = None;
        }
        "tcp" | "udp" => match (p.from_port, p.to_port) {
            (Some(f), Some(t)) if (0..=65535).contains(&f) && (f..=65535).contains(&t) => {}
            (None, _) | (_, None) => {
                return Err(Error::new(
                    "InvalidParameterValue",
                    "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange",
                ))
            }
            (Some(f), Some(t)) => {
                return Err(Error::new(
                    "InvalidParameterValue",
                    format!("Invalid TCP/UDP port range: from port {f} to port {t}."),
                ))
            }
        },
        "icmp" | "icmpv6" => {
            let from = p.from_port.unwrap_or(-1);
            let to = p.to_port.unwrap_or(-1);
            if !(-1..=255).contains(&from) || !(-1..=255).contains(&to) {
                return Err(Error::new(
                    "InvalidParameterValue",
                    format!("Invalid value 'type={from}, code={to}' for ICMP type and code."),
                ));
            }
            p.from_port = Some(from);
            p.to_port = Some(to);
        }
        n if n.parse::<u8>().is_ok() => {
            p.from_port = None;
            p.to_port = None;
        }
        other => {
            return Err(Error::new(
                "InvalidParameterValue",
                format!("Invalid value '{other}' for IP protocol. Unknown protocol."),
            ))
        }
    }
    Ok(())
}

fn rule_text(protocol: &str, from: Option<i32>, to: Option<i32>, peer: &Peer) -> String {
    let peer = peer.shown_for_message();
    match protocol {
        "-1" => format!("peer: {peer}, ALL, ALLOW"),
        p => format!(
            "peer: {peer}, {}, from port: {}, to port: {}, ALLOW",
            p.to_uppercase(),
            from.unwrap_or(-1),
            to.unwrap_or(-1)
        ),
    }
}

fn duplicate(protocol: &str, from: Option<i32>, to: Option<i32>, peer: &Peer) -> Error {
    Error::new(
        "InvalidPermission.Duplicate",
        format!("the specified rule \"{}\" already exists", rule_text(protocol, from, to, peer)),
    )
}

fn permission_not_found() -> Error {
    Error::new("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
}

fn rule_not_found(id: &str) -> Error {
    Error::new("InvalidSecurityGroupRuleId.NotFound", format!("The security group rule ID '{id}' does not exist"))
}

fn check_rule_id(id: &str) -> Result<()> {
    if ids::is_well_formed(id, "sgr") {
        Ok(())
    } else {
        Err(Error::new(
            "InvalidSecurityGroupRuleId.Malformed",
            format!("The security group rule ID '{id}' is malformed"),
        ))
    }
}

impl Filterable for (String, SecurityGroupRule) {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "group-id" => vec![self.0.clone()],
            "security-group-rule-id" => vec![self.1.id.clone()],
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.1.tags
    }
}

impl World {
    /// The group, for changing: the caller's own, or InvalidGroup.NotFound.
    fn group_mut(&mut self, caller: &Caller, id: &str) -> Result<&mut SecurityGroup> {
        self.security_group(caller, id)?;
        self.region_mut(&caller.region).security_groups.get_mut(id).ok_or_else(|| not_found_group(id))
    }

    /// Every peer group must exist.
    fn check_peers(&self, caller: &Caller, perms: &[Permission]) -> Result<()> {
        for p in perms {
            for (peer, _) in &p.peers {
                if let Peer::Group { id, .. } = peer {
                    if self.region(&caller.region).and_then(|r| r.security_groups.get(id)).is_none() {
                        return Err(not_found_group(id));
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds rules to a group (AuthorizeSecurityGroupIngress/Egress); returns
    /// them as added, one per peer, in the order given. A rule the group
    /// already has (or the request names twice) is InvalidPermission.Duplicate.
    pub fn authorize_rules(
        &mut self,
        caller: &Caller,
        group_id: &str,
        egress: bool,
        mut perms: Vec<Permission>,
        tags: Tags,
    ) -> Result<Vec<SecurityGroupRule>> {
        self.security_group(caller, group_id)?;
        for p in perms.iter_mut() {
            normalise_permission(p)?;
        }
        self.check_peers(caller, &perms)?;
        let group = self.group_mut(caller, group_id)?;
        let mut added: Vec<SecurityGroupRule> = Vec::new();
        for p in &perms {
            for (peer, description) in &p.peers {
                let exists = |r: &SecurityGroupRule| r.same_rule(egress, &p.protocol, p.from_port, p.to_port, peer);
                if group.rules.iter().any(exists) || added.iter().any(exists) {
                    return Err(duplicate(&p.protocol, p.from_port, p.to_port, peer));
                }
                added.push(SecurityGroupRule {
                    id: ids::resource_id("sgr"),
                    egress,
                    protocol: p.protocol.clone(),
                    from_port: p.from_port,
                    to_port: p.to_port,
                    peer: peer.clone(),
                    description: description.clone(),
                    tags: tags.clone(),
                });
            }
        }
        if group.rules.iter().filter(|r| r.egress == egress).count() + added.len() > RULES_PER_DIRECTION {
            return Err(Error::new(
                "RulesPerSecurityGroupLimitExceeded",
                "The maximum number of rules per security group has been reached.",
            ));
        }
        group.rules.extend(added.iter().cloned());
        self.emit(&caller.region, Resource::SecurityGroup(group_id.to_string()), Change::Updated);
        Ok(added)
    }

    /// Adds ingress rules named the way the data plane reads them.
    pub fn authorize_ingress(
        &mut self,
        caller: &Caller,
        group_id: &str,
        permissions: Vec<IpPermission>,
    ) -> Result<Vec<SecurityGroupRule>> {
        let perms = permissions.iter().map(IpPermission::to_permission).collect();
        self.authorize_rules(caller, group_id, false, perms, Tags::new())
    }

    /// Removes rules named by protocol, ports and peer, or by rule id; every
    /// one named must exist. Returns the rules removed.
    pub fn revoke_rules(
        &mut self,
        caller: &Caller,
        group_id: &str,
        egress: bool,
        mut perms: Vec<Permission>,
        rule_ids: &[String],
    ) -> Result<Vec<SecurityGroupRule>> {
        self.security_group(caller, group_id)?;
        for id in rule_ids {
            check_rule_id(id)?;
        }
        for p in perms.iter_mut() {
            normalise_permission(p)?;
        }
        let group = self.group_mut(caller, group_id)?;
        let mut gone: Vec<String> = Vec::new();
        for id in rule_ids {
            if !group.rules.iter().any(|r| &r.id == id && r.egress == egress) {
                return Err(rule_not_found(id));
            }
            gone.push(id.clone());
        }
        for p in &perms {
            for (peer, _) in &p.peers {
                let found = group
                    .rules
                    .iter()
                    .find(|r| r.same_rule(egress, &p.protocol, p.from_port, p.to_port, peer))
                    .ok_or_else(permission_not_found)?;
                gone.push(found.id.clone());
            }
        }
        let removed: Vec<SecurityGroupRule> = group.rules.iter().filter(|r| gone.contains(&r.id)).cloned().collect();
        group.rules.retain(|r| !gone.contains(&r.id));
        self.emit(&caller.region, Resource::SecurityGroup(group_id.to_string()), Change::Updated);
        Ok(removed)
    }

    /// ModifySecurityGroupRules: each rule named becomes what is given
    /// (protocol, ports, one peer, description), keeping its id and tags.
    pub fn modify_security_group_rules(
        &mut self,
        caller: &Caller,
        group_id: &str,
        mut updates: Vec<RuleUpdate>,
    ) -> Result<()> {
        self.security_group(caller, group_id)?;
        for u in updates.iter_mut() {
            check_rule_id(&u.rule_id)?;
            normalise_permission(&mut u.permission)?;
            if u.permission.peers.len() != 1 {
                return Err(Error::new(
                    "InvalidParameterCombination",
                    "Exactly one of CidrIpv4, CidrIpv6, PrefixListId and ReferencedGroupId must be specified.",
                ));
            }
        }
        let perms: Vec<Permission> = updates.iter().map(|u| u.permission.clone()).collect();
        self.check_peers(caller, &perms)?;
        let group = self.group_mut(caller, group_id)?;
        for u in &updates {
            let Some(i) = group.rules.iter().position(|r| r.id == u.rule_id) else {
                return Err(rule_not_found(&u.rule_id));
            };
            let p = &u.permission;
            let (peer, description) = p.peers[0].clone();
            let egress = group.rules[i].egress;
            let clash = group
                .rules
                .iter()
                .enumerate()
                .any(|(j, r)| j != i && r.same_rule(egress, &p.protocol, p.from_port, p.to_port, &peer));
            if clash {
                return Err(duplicate(&p.protocol, p.from_port, p.to_port, &peer));
            }
            let rule = &mut group.rules[i];
            rule.protocol = p.protocol.clone();
            rule.from_port = p.from_port;
            rule.to_port = p.to_port;
            rule.peer = peer;
            rule.description = description;
        }
        self.emit(&caller.region, Resource::SecurityGroup(group_id.to_string()), Change::Updated);
        Ok(())
    }

    /// UpdateSecurityGroupRuleDescriptionsIngress/Egress: by protocol, ports
    /// and peer, or by rule id; a description left out clears it.
    pub fn update_rule_descriptions(
        &mut self,
        caller: &Caller,
        group_id: &str,
        egress: bool,
        mut perms: Vec<Permission>,
        by_id: &[(String, Option<String>)],
    ) -> Result<()> {
        self.security_group(caller, group_id)?;
        for (id, _) in by_id {
            check_rule_id(id)?;
        }
        for p in perms.iter_mut() {
            normalise_permission(p)?;
        }
        let group = self.group_mut(caller, group_id)?;
        for (id, description) in by_id {
            let rule =
                group.rules.iter_mut().find(|r| &r.id == id && r.egress == egress).ok_or_else(|| rule_not_found(id))?;
            rule.description = description.clone();
        }
        for p in &perms {
            for (peer, description) in &p.peers {
                let rule = group
                    .rules
                    .iter_mut()
                    .find(|r| r.same_rule(egress, &p.protocol, p.from_port, p.to_port, peer))
                    .ok_or_else(permission_not_found)?;
                rule.description = description.clone();
            }
        }
        self.emit(&caller.region, Resource::SecurityGroup(group_id.to_string()), Change::Updated);
        Ok(())
    }

    /// DescribeSecurityGroupRules: (group id, rule) of the caller's groups.
    pub fn describe_security_group_rules(
        &self,
        caller: &Caller,
        rule_ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<(String, SecurityGroupRule)>> {
        tags::check_filter_names(filters, &["group-id", "security-group-rule-id"])?;
        for id in rule_ids {
            check_rule_id(id)?;
        }
        let all: Vec<(String, SecurityGroupRule)> = self
            .region(&caller.region)
            .map(|r| {
                r.security_groups
                    .values()
                    .filter(|g| g.owner == caller.account)
                    .flat_map(|g| g.rules.iter().map(|rule| (g.id.clone(), rule.clone())))
                    .collect()
            })
            .unwrap_or_default();
        for id in rule_ids {
            if !all.iter().any(|(_, r)| &r.id == id) {
                return Err(rule_not_found(id));
            }
        }
        Ok(all
            .into_iter()
            .filter(|(_, r)| rule_ids.is_empty() || rule_ids.contains(&r.id))
            .filter(|x| tags::matches(x, filters))
            .collect())
    }

    /// The group holding a rule of the caller's, by rule id.
    pub fn group_of_rule(&self, caller: &Caller, rule_id: &str) -> Option<String> {
        self.region(&caller.region)?
            .security_groups
            .values()
            .find(|g| g.owner == caller.account && g.rules.iter().any(|r| r.id == rule_id))
            .map(|g| g.id.clone())
    }
}
