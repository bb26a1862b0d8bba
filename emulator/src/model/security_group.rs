//! Security groups and their ingress rules.

use super::net::{parse_cidr_lenient, Ipv4Cidr};
use super::tags::{self, Filter, Filterable, Tags};
use super::vpc::not_found_group;
use super::{ids, Caller, Change, Error, Resource, Result, World};

/// One rule set of a security group: a protocol and port range with its sources.
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
    fn same_rule(&self, other: &IpPermission) -> bool {
        self.protocol == other.protocol && self.from_port == other.from_port && self.to_port == other.to_port
    }

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
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub owner: String,
    pub vpc_id: String,
    pub name: String,
    pub description: String,
    pub ingress: Vec<IpPermission>,
    pub egress: Vec<IpPermission>,
    pub tags: Tags,
}

impl SecurityGroup {
    pub fn arn(&self, region: &str) -> String {
        format!("arn:aws:ec2:{region}:{}:security-group/{}", self.owner, self.id)
    }
}

impl Filterable for SecurityGroup {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "group-id" => vec![self.id.clone()],
            "group-name" => vec![self.name.clone()],
            "vpc-id" => vec![self.vpc_id.clone()],
            "owner-id" => vec![self.owner.clone()],
            "description" => vec![self.description.clone()],
            "ip-permission.protocol" => self.ingress.iter().map(|p| p.protocol.clone()).collect(),
            "ip-permission.from-port" => {
                self.ingress.iter().filter_map(|p| p.from_port).map(|p| p.to_string()).collect()
            }
            "ip-permission.to-port" => self.ingress.iter().filter_map(|p| p.to_port).map(|p| p.to_string()).collect(),
            "ip-permission.cidr" => {
                self.ingress.iter().flat_map(|p| p.ranges.iter().map(|r| r.0.to_string())).collect()
            }
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

pub const SECURITY_GROUP_FILTERS: &[&str] = &[
    "group-id",
    "group-name",
    "vpc-id",
    "owner-id",
    "description",
    "ip-permission.protocol",
    "ip-permission.from-port",
    "ip-permission.to-port",
    "ip-permission.cidr",
];

pub(crate) fn allow_all_egress() -> IpPermission {
    IpPermission {
        protocol: "-1".into(),
        from_port: None,
        to_port: None,
        ranges: vec![("0.0.0.0/0".parse().expect("literal CIDR"), None)],
        groups: vec![],
    }
}

fn duplicate_permission(p: &IpPermission, source: &str) -> Error {
    Error::new(
        "InvalidPermission.Duplicate",
        format!(
            "the specified rule \"peer: {source}, {}, from port: {}, to port: {}, ALLOW\" already exists",
            p.protocol.to_uppercase(),
            p.from_port.unwrap_or(-1),
            p.to_port.unwrap_or(-1)
        ),
    )
}

fn validate_permission(p: &IpPermission) -> Result<()> {
    match p.protocol.as_str() {
        "-1" => Ok(()),
        "tcp" | "udp" => match (p.from_port, p.to_port) {
            (Some(f), Some(t)) if (0..=65535).contains(&f) && (f..=65535).contains(&t) => Ok(()),
            (None, _) | (_, None) => Err(Error::new(
                "InvalidParameterValue",
                "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange",
            )),
            _ => Err(Error::new(
                "InvalidParameterValue",
                format!("Invalid port range: from {:?} to {:?}", p.from_port, p.to_port),
            )),
        },
        "icmp" => Ok(()),
        other => Err(Error::new(
            "InvalidParameterValue",
            format!("Invalid value '{other}' for IP protocol. Unknown protocol."),
        )),
    }
}

/// Normalises a protocol the way EC2 does (`TCP`, `6` -> `tcp`; `all` -> `-1`).
pub fn normalise_protocol(p: &str) -> String {
    match p.to_ascii_lowercase().as_str() {
        "6" | "tcp" => "tcp".into(),
        "17" | "udp" => "udp".into(),
        "1" | "icmp" => "icmp".into(),
        "-1" | "all" => "-1".into(),
        other => other.to_string(),
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

impl World {
    pub fn create_security_group(
        &mut self,
        caller: &Caller,
        name: &str,
        description: &str,
        vpc_id: Option<&str>,
        tags: Tags,
    ) -> Result<SecurityGroup> {
        let vpc_id = vpc_id.ok_or_else(|| {
            Error::new(
                "VPCIdNotSpecified",
                "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.",
            )
        })?;
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
        let group = SecurityGroup {
            id: ids::resource_id("sg"),
            owner: caller.account.clone(),
            vpc_id: vpc_id.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            ingress: vec![],
            egress: vec![allow_all_egress()],
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
        tags::check_filter_names(filters, SECURITY_GROUP_FILTERS)?;
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
            || r.security_groups
                .values()
                .any(|g| g.id != group.id && g.ingress.iter().any(|p| p.groups.iter().any(|(gid, _, _)| gid == id)));
        if in_use {
            return Err(Error::new("DependencyViolation", format!("resource {id} has a dependent object")));
        }
        r.security_groups.remove(id);
        self.emit(&caller.region, Resource::SecurityGroup(id.to_string()), Change::Deleted);
        Ok(())
    }

    /// Adds ingress permissions; returns them as stored (with security group
    /// rule ids in the order given).
    pub fn authorize_ingress(
        &mut self,
        caller: &Caller,
        group_id: &str,
        permissions: Vec<IpPermission>,
    ) -> Result<Vec<(String, IpPermission)>> {
        self.security_group(caller, group_id)?;
        let mut added = Vec::new();
        for p in &permissions {
            validate_permission(p)?;
            for (gid, _, _) in &p.groups {
                if self.region(&caller.region).and_then(|r| r.security_groups.get(gid)).is_none() {
                    return Err(not_found_group(gid));
                }
            }
        }
        let group = self
            .region_mut(&caller.region)
            .security_groups
            .get_mut(group_id)
            .ok_or_else(|| not_found_group(group_id))?;
        for p in permissions {
            let existing = group.ingress.iter_mut().find(|e| e.same_rule(&p));
            match existing {
                Some(e) => {
                    for r in &p.ranges {
                        if e.ranges.iter().any(|x| x.0 == r.0) {
                            return Err(duplicate_permission(&p, &r.0.to_string()));
                        }
                    }
                    for g in &p.groups {
                        if e.groups.iter().any(|x| x.0 == g.0) {
                            return Err(duplicate_permission(&p, &g.0));
                        }
                    }
                    e.ranges.extend(p.ranges.iter().cloned());
                    e.groups.extend(p.groups.iter().cloned());
                }
                None => group.ingress.push(p.clone()),
            }
            added.push((ids::resource_id("sgr"), p));
        }
        self.emit(&caller.region, Resource::SecurityGroup(group_id.to_string()), Change::Updated);
        Ok(added)
    }

    pub fn revoke_ingress(&mut self, caller: &Caller, group_id: &str, permissions: Vec<IpPermission>) -> Result<()> {
        self.security_group(caller, group_id)?;
        let group = self
            .region_mut(&caller.region)
            .security_groups
            .get_mut(group_id)
            .ok_or_else(|| not_found_group(group_id))?;
        for p in &permissions {
            let Some(e) = group.ingress.iter_mut().find(|e| e.same_rule(p)) else {
                return Err(Error::new(
                    "InvalidPermission.NotFound",
                    "The specified rule does not exist in this security group.",
                ));
            };
            let before = e.ranges.len() + e.groups.len();
            e.ranges.retain(|r| !p.ranges.iter().any(|x| x.0 == r.0));
            e.groups.retain(|g| !p.groups.iter().any(|x| x.0 == g.0));
            if e.ranges.len() + e.groups.len() == before && (!p.ranges.is_empty() || !p.groups.is_empty()) {
                return Err(Error::new(
                    "InvalidPermission.NotFound",
                    "The specified rule does not exist in this security group.",
                ));
            }
        }
        group.ingress.retain(|e| !e.ranges.is_empty() || !e.groups.is_empty());
        self.emit(&caller.region, Resource::SecurityGroup(group_id.to_string()), Change::Updated);
        Ok(())
    }
}
