//! Security groups. A group keeps its rules one by one, as AWS does since
//! security group rule ids: each rule is one direction, one protocol and
//! port range and one peer (an IPv4 or IPv6 range, a prefix list or a
//! group), with its own `sgr-` id, description and tags.
//! DescribeSecurityGroups shows them gathered into IpPermissions.

use sha2::{Digest, Sha256};

use super::net::Ipv4Cidr;
use super::tags::{self, Filter, Filterable, Tags};
use super::vpc::not_found_group;
use super::{ids, Caller, Change, Error, Resource, Result, World};

/// Who a rule admits (ingress) or lets out to (egress).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    Ipv4(Ipv4Cidr),
    /// Kept as written after normalising (`2001:db8::/64`).
    Ipv6(String),
    PrefixList(String),
    Group {
        id: String,
        owner: String,
    },
}

impl Peer {
    /// How AWS names the peer in InvalidPermission messages.
    pub(crate) fn shown_for_message(&self) -> String {
        match self {
            Peer::Ipv4(c) => c.to_string(),
            Peer::Ipv6(c) | Peer::PrefixList(c) => c.clone(),
            Peer::Group { id, .. } => id.clone(),
        }
    }

    /// The same peer: a group is the same group whoever is named as owner.
    fn same(&self, other: &Peer) -> bool {
        match (self, other) {
            (Peer::Group { id: a, .. }, Peer::Group { id: b, .. }) => a == b,
            (a, b) => a == b,
        }
    }
}

/// One rule of a security group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecurityGroupRule {
    pub id: String,
    pub egress: bool,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, `-1` (all) or a protocol number.
    pub protocol: String,
    /// None where the protocol has no ports (`-1`, protocol numbers).
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub peer: Peer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
}

impl SecurityGroupRule {
    /// Same direction, protocol, ports and peer: the same rule to AWS
    /// (descriptions and tags aside).
    pub fn same_rule(&self, egress: bool, protocol: &str, from: Option<i32>, to: Option<i32>, peer: &Peer) -> bool {
        self.egress == egress
            && self.protocol == protocol
            && self.from_port == from
            && self.to_port == to
            && self.peer.same(peer)
    }

    pub fn arn(&self, region: &str, owner: &str) -> String {
        format!("arn:aws:ec2:{region}:{owner}:security-group-rule/{}", self.id)
    }
}

/// A protocol and port range with its peers: how requests name rules
/// (IpPermissions.N) and how DescribeSecurityGroups shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    /// (peer, description), in the order given.
    pub peers: Vec<(Peer, Option<String>)>,
}

impl Permission {
    fn key(&self) -> (&str, Option<i32>, Option<i32>) {
        (&self.protocol, self.from_port, self.to_port)
    }
}

/// The IPv4 view of a group's rules the data plane filters traffic with.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IpPermission {
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub ranges: Vec<(Ipv4Cidr, Option<String>)>,
    /// (group id, owner account, description)
    pub groups: Vec<(String, String, Option<String>)>,
}

impl IpPermission {
    pub fn allows_port(&self, protocol: &str, port: u16) -> bool {
        if self.protocol == "-1" {
            return true;
        }
        if self.protocol != protocol {
            return false;
        }
        match (self.from_port, self.to_port) {
            (Some(from), Some(to)) if from >= 0 => (from..=to).contains(&(port as i32)),
            _ => true,
        }
    }

    /// The same rules as a request names them.
    pub fn to_permission(&self) -> Permission {
        let peers = self
            .ranges
            .iter()
            .map(|(c, d)| (Peer::Ipv4(*c), d.clone()))
            .chain(
                self.groups
                    .iter()
                    .map(|(id, owner, d)| (Peer::Group { id: id.clone(), owner: owner.clone() }, d.clone())),
            )
            .collect();
        Permission { protocol: self.protocol.clone(), from_port: self.from_port, to_port: self.to_port, peers }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "SecurityGroupRecord")]
pub struct SecurityGroup {
    pub id: String,
    pub owner: String,
    pub vpc_id: String,
    pub name: String,
    pub description: String,
    /// Ingress and egress rules, in the order they were added.
    pub rules: Vec<SecurityGroupRule>,
    pub tags: Tags,
}

/// A group as any release wrote it: releases before rule ids kept
/// `ingress` and `egress` lists of permissions instead of `rules`.
#[derive(serde::Deserialize)]
struct SecurityGroupRecord {
    id: String,
    owner: String,
    vpc_id: String,
    name: String,
    description: String,
    #[serde(default)]
    rules: Option<Vec<SecurityGroupRule>>,
    #[serde(default)]
    ingress: Vec<IpPermission>,
    #[serde(default)]
    egress: Vec<IpPermission>,
    #[serde(default)]
    tags: Tags,
}

impl From<SecurityGroupRecord> for SecurityGroup {
    fn from(r: SecurityGroupRecord) -> Self {
        let rules = match r.rules {
            Some(rules) => rules,
            None => {
                let mut rules = Vec::new();
                for (egress, perms) in [(false, &r.ingress), (true, &r.egress)] {
                    for p in perms {
                        for (peer, description) in p.to_permission().peers {
                            let id = legacy_rule_id(&r.id, egress, rules.len());
                            rules.push(SecurityGroupRule {
                                id,
                                egress,
                                protocol: p.protocol.clone(),
                                from_port: p.from_port,
                                to_port: p.to_port,
                                peer,
                                description,
                                tags: Tags::new(),
                            });
                        }
                    }
                }
                rules
            }
        };
        SecurityGroup {
            id: r.id,
            owner: r.owner,
            vpc_id: r.vpc_id,
            name: r.name,
            description: r.description,
            rules,
            tags: r.tags,
        }
    }
}

/// The id a rule written before rule ids gets: drawn from the group and the
/// rule's place in it, so every load of the same record gives the same id.
fn legacy_rule_id(group: &str, egress: bool, n: usize) -> String {
    let digest = Sha256::digest(format!("{group}/{egress}/{n}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sgr-{}", &hex[..17])
}

impl SecurityGroup {
    pub fn arn(&self, region: &str) -> String {
        format!("arn:aws:ec2:{region}:{}:security-group/{}", self.owner, self.id)
    }

    /// The rules of one direction gathered by protocol and ports, in the
    /// order each combination first appears.
    pub fn permissions(&self, egress: bool) -> Vec<Permission> {
        let mut out: Vec<Permission> = Vec::new();
        for r in self.rules.iter().filter(|r| r.egress == egress) {
            let peer = (r.peer.clone(), r.description.clone());
            match out.iter_mut().find(|p| p.key() == (r.protocol.as_str(), r.from_port, r.to_port)) {
                Some(p) => p.peers.push(peer),
                None => out.push(Permission {
                    protocol: r.protocol.clone(),
                    from_port: r.from_port,
                    to_port: r.to_port,
                    peers: vec![peer],
                }),
            }
        }
        out
    }

    /// Ingress rules with an IPv4 range or a group as peer, for the data plane.
    pub fn ingress(&self) -> Vec<IpPermission> {
        self.permissions(false)
            .into_iter()
            .map(|p| {
                let mut out = IpPermission {
                    protocol: p.protocol,
                    from_port: p.from_port,
                    to_port: p.to_port,
                    ranges: vec![],
                    groups: vec![],
                };
                for (peer, d) in p.peers {
                    match peer {
                        Peer::Ipv4(c) => out.ranges.push((c, d)),
                        Peer::Group { id, owner } => out.groups.push((id, owner, d)),
                        Peer::Ipv6(_) | Peer::PrefixList(_) => {}
                    }
                }
                out
            })
            .filter(|p| !p.ranges.is_empty() || !p.groups.is_empty())
            .collect()
    }

    /// Whether any rule names `group` as its peer.
    pub fn references(&self, group: &str) -> bool {
        self.rules.iter().any(|r| matches!(&r.peer, Peer::Group { id, .. } if id == group))
    }
}

impl Filterable for SecurityGroup {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let (egress, field) = match name.strip_prefix("egress.") {
            Some(rest) => (true, rest),
            None => (false, name),
        };
        let rules = || self.rules.iter().filter(move |r| r.egress == egress);
        let ports = |f: fn(&SecurityGroupRule) -> Option<i32>| -> Vec<String> {
            rules().map(|r| f(r).unwrap_or(-1).to_string()).collect()
        };
        Some(match field {
            "group-id" if !egress => vec![self.id.clone()],
            "group-name" if !egress => vec![self.name.clone()],
            "vpc-id" if !egress => vec![self.vpc_id.clone()],
            "owner-id" if !egress => vec![self.owner.clone()],
            "description" if !egress => vec![self.description.clone()],
            "ip-permission.protocol" => rules().map(|r| r.protocol.clone()).collect(),
            "ip-permission.from-port" => ports(|r| r.from_port),
            "ip-permission.to-port" => ports(|r| r.to_port),
            "ip-permission.cidr" => rules()
                .filter_map(|r| match &r.peer {
                    Peer::Ipv4(c) => Some(c.to_string()),
                    _ => None,
                })
                .collect(),
            "ip-permission.ipv6-cidr" => rules()
                .filter_map(|r| match &r.peer {
                    Peer::Ipv6(c) => Some(c.clone()),
                    _ => None,
                })
                .collect(),
            "ip-permission.prefix-list-id" => rules()
                .filter_map(|r| match &r.peer {
                    Peer::PrefixList(p) => Some(p.clone()),
                    _ => None,
                })
                .collect(),
            "ip-permission.group-id" => rules()
                .filter_map(|r| match &r.peer {
                    Peer::Group { id, .. } => Some(id.clone()),
                    _ => None,
                })
                .collect(),
            "ip-permission.user-id" => rules()
                .filter_map(|r| match &r.peer {
                    Peer::Group { owner, .. } => Some(owner.clone()),
                    _ => None,
                })
                .collect(),
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

const PERMISSION_FILTERS: &[&str] = &[
    "ip-permission.protocol",
    "ip-permission.from-port",
    "ip-permission.to-port",
    "ip-permission.cidr",
    "ip-permission.ipv6-cidr",
    "ip-permission.prefix-list-id",
    "ip-permission.group-id",
    "ip-permission.user-id",
];

fn is_security_group_filter(name: &str) -> bool {
    ["group-id", "group-name", "vpc-id", "owner-id", "description"].contains(&name)
        || PERMISSION_FILTERS.contains(&name)
        || name.strip_prefix("egress.").is_some_and(|rest| PERMISSION_FILTERS.contains(&rest))
}

fn check_security_group_filters(filters: &[Filter]) -> Result<()> {
    for f in filters {
        let tag = f.name.starts_with("tag:") || f.name == "tag-key" || f.name == "tag-value";
        if !tag && !is_security_group_filter(&f.name) {
            return Err(Error::new("InvalidParameterValue", format!("The filter '{}' is invalid", f.name)));
        }
    }
    Ok(())
}

/// The allow-all egress rule every new group starts with.
pub(crate) fn allow_all_egress() -> SecurityGroupRule {
    SecurityGroupRule {
        id: ids::resource_id("sgr"),
        egress: true,
        protocol: "-1".into(),
        from_port: None,
        to_port: None,
        peer: Peer::Ipv4("0.0.0.0/0".parse().expect("literal CIDR")),
        description: None,
        tags: Tags::new(),
    }
}

/// The default group's rule admitting everything from the group itself.
pub(crate) fn allow_from_itself(group: &str, owner: &str) -> SecurityGroupRule {
    SecurityGroupRule {
        id: ids::resource_id("sgr"),
        egress: false,
        protocol: "-1".into(),
        from_port: None,
        to_port: None,
        peer: Peer::Group { id: group.to_string(), owner: owner.to_string() },
        description: None,
        tags: Tags::new(),
    }
}

impl World {
    pub fn create_security_group(
        &mut self,
        caller: &Caller,
        name: &str,
        description: &str,
        vpc_id: Option<&str>,
        tags: Tags,
    ) -> Result<SecurityGroup> {
        let vpc_id = match vpc_id {
            Some(v) => v.to_string(),
            None => self.default_vpc_id(caller).ok_or_else(|| {
                Error::new(
                    "VPCIdNotSpecified",
                    "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.",
                )
            })?,
        };
        let vpc_id = vpc_id.as_str();
        self.vpc(caller, vpc_id)?;
        if name.is_empty() || name.len() > 255 || name.starts_with("sg-") {
            return Err(Error::invalid_value(
                "GroupName",
                name,
                "Group names may not be empty, longer than 255 characters or start with sg-.",
            ));
        }
        if description.len() > 255 {
            return Err(Error::invalid_value(
                "GroupDescription",
                description,
                "Descriptions may be at most 255 characters.",
            ));
        }
        let r = self.region_mut(&caller.region);
        if r.security_groups.values().any(|g| g.vpc_id == vpc_id && g.name == name) {
            return Err(Error::new(
                "InvalidGroup.Duplicate",
                format!("The security group '{name}' already exists for VPC '{vpc_id}'"),
            ));
        }
        let id = ids::resource_id("sg");
        let group = SecurityGroup {
            id,
            owner: caller.account.clone(),
            vpc_id: vpc_id.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            rules: vec![allow_all_egress()],
            tags,
        };
        r.security_groups.insert(group.id.clone(), group.clone());
        self.emit(&caller.region, Resource::SecurityGroup(group.id.clone()), Change::Created);
        Ok(group)
    }

    pub fn security_group(&self, caller: &Caller, id: &str) -> Result<&SecurityGroup> {
        self.region(&caller.region)
            .and_then(|r| r.security_groups.get(id))
            .filter(|g| g.owner == caller.account)
            .ok_or_else(|| not_found_group(id))
    }

    pub fn describe_security_groups(
        &self,
        caller: &Caller,
        ids: &[String],
        names: &[String],
        filters: &[Filter],
    ) -> Result<Vec<SecurityGroup>> {
        check_security_group_filters(filters)?;
        for id in ids {
            self.security_group(caller, id)?;
        }
        let found: Vec<SecurityGroup> = self
            .region(&caller.region)
            .map(|r| {
                r.security_groups
                    .values()
                    .filter(|g| g.owner == caller.account)
                    .filter(|g| ids.is_empty() || ids.contains(&g.id))
                    .filter(|g| names.is_empty() || names.contains(&g.name))
                    .filter(|g| tags::matches(*g, filters))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for name in names {
            if !found.iter().any(|g| &g.name == name) {
                return Err(Error::new(
                    "InvalidGroup.NotFound",
                    format!("The security group '{name}' does not exist in default VPC"),
                ));
            }
        }
        Ok(found)
    }

    /// GetSecurityGroupsForVpc: the caller's groups usable in a VPC.
    pub fn security_groups_for_vpc(
        &self,
        caller: &Caller,
        vpc_id: &str,
        filters: &[Filter],
    ) -> Result<Vec<SecurityGroup>> {
        tags::check_filter_names(filters, &["group-id", "group-name", "description", "owner-id", "primary-vpc-id"])?;
        self.vpc(caller, vpc_id)?;
        let primary: Vec<Filter> = filters
            .iter()
            .map(|f| match f.name.as_str() {
                "primary-vpc-id" => Filter { name: "vpc-id".into(), values: f.values.clone() },
                _ => f.clone(),
            })
            .collect();
        Ok(self
            .region(&caller.region)
            .map(|r| {
                r.security_groups
                    .values()
                    .filter(|g| g.owner == caller.account && g.vpc_id == vpc_id)
                    .filter(|g| tags::matches(*g, &primary))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    pub fn delete_security_group(&mut self, caller: &Caller, id: &str) -> Result<()> {
        let group = self.security_group(caller, id)?.clone();
        let r = self.region_mut(&caller.region);
        if r.vpcs.get(&group.vpc_id).is_some_and(|v| v.default_security_group == id) {
            return Err(Error::new(
                "CannotDelete",
                format!("the specified group: \"{id}\" name: \"default\" cannot be deleted by a user"),
            ));
        }
        let in_use = r.network_interfaces.values().any(|n| n.group_ids.contains(&group.id))
            || r.endpoints.values().any(|e| !e.state.is_gone() && e.group_ids.contains(&group.id))
            || r.security_groups.values().any(|g| g.id != group.id && g.references(id));
        if in_use {
            return Err(Error::new("DependencyViolation", format!("resource {id} has a dependent object")));
        }
        r.security_groups.remove(id);
        self.emit(&caller.region, Resource::SecurityGroup(id.to_string()), Change::Deleted);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::security_group_rules::{normalise_protocol, parse_rule_cidr_v6};

    #[test]
    fn groups_of_earlier_releases_get_the_same_rule_ids_on_every_load() {
        let old = serde_json::json!({
            "description": "d", "id": "sg-0123456789abcdef0", "name": "n", "owner": "111111111111",
            "tags": {}, "vpc_id": "vpc-1",
            "egress": [{"from_port": null, "groups": [], "protocol": "-1", "ranges": [["0.0.0.0/0", null]], "to_port": null}],
            "ingress": [{"from_port": 80, "groups": [["sg-0123456789abcdef0", "111111111111", "self"]], "protocol": "tcp",
                         "ranges": [["10.0.0.0/16", "vpc"], ["10.1.0.0/16", null]], "to_port": 80}],
        });
        let a: SecurityGroup = serde_json::from_value(old.clone()).unwrap();
        let b: SecurityGroup = serde_json::from_value(old).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.rules.len(), 4);
        assert!(a.rules.iter().all(|r| ids::is_well_formed(&r.id, "sgr")));
        let mut seen: Vec<&str> = a.rules.iter().map(|r| r.id.as_str()).collect();
        seen.dedup();
        assert_eq!(seen.len(), 4);
        let ingress = a.permissions(false);
        assert_eq!(ingress.len(), 1);
        assert_eq!(ingress[0].peers.len(), 3);
        assert_eq!(a.permissions(true)[0].protocol, "-1");
        // Written again, the group keeps its rules and their ids.
        let again: SecurityGroup = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
        assert_eq!(again, a);
    }

    #[test]
    fn protocols_and_v6_ranges_normalise() {
        assert_eq!(normalise_protocol("TCP"), "tcp");
        assert_eq!(normalise_protocol("58"), "icmpv6");
        assert_eq!(normalise_protocol("050"), "50");
        assert_eq!(normalise_protocol("all"), "-1");
        assert_eq!(parse_rule_cidr_v6("2001:db8::1/64").unwrap(), "2001:db8::/64");
        assert_eq!(parse_rule_cidr_v6("::/0").unwrap(), "::/0");
        assert!(parse_rule_cidr_v6("10.0.0.0/8").is_err());
        assert!(parse_rule_cidr_v6("::/129").is_err());
    }
}
