//! Network ACLs: each VPC's default ACL (allow all, then the catch-all
//! deny, both ways), associated with every subnet of the VPC. The emulator
//! has no custom ACLs, so the default ones are derived from the VPCs and
//! subnets rather than stored: their ids come from the VPC's and subnets'
//! ids, the same on every load.

use sha2::{Digest, Sha256};

use super::tags::{self, Filter, Filterable, Tags};
use super::{ids, Caller, Error, Result, World};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAclEntry {
    pub rule_number: i32,
    pub egress: bool,
    pub protocol: &'static str,
    pub allow: bool,
    pub cidr: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAcl {
    pub id: String,
    pub vpc_id: String,
    pub owner: String,
    pub is_default: bool,
    pub entries: Vec<NetworkAclEntry>,
    /// (association id, subnet id)
    pub associations: Vec<(String, String)>,
    pub tags: Tags,
}

/// `prefix-` and 17 hex digits drawn from `of`: stable for the same input.
fn derived_id(prefix: &str, of: &str) -> String {
    let digest = Sha256::digest(format!("{prefix}/{of}").as_bytes());
    let hex: String = digest.iter().take(9).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{}", &hex[..17])
}

/// The entries of a default network ACL.
fn default_entries() -> Vec<NetworkAclEntry> {
    let mut out = Vec::new();
    for egress in [true, false] {
        out.push(NetworkAclEntry { rule_number: 100, egress, protocol: "-1", allow: true, cidr: "0.0.0.0/0" });
        out.push(NetworkAclEntry { rule_number: 32767, egress, protocol: "-1", allow: false, cidr: "0.0.0.0/0" });
    }
    out
}

pub const NETWORK_ACL_FILTERS: &[&str] = &[
    "network-acl-id",
    "vpc-id",
    "default",
    "owner-id",
    "association.association-id",
    "association.network-acl-id",
    "association.subnet-id",
    "entry.cidr",
    "entry.egress",
    "entry.protocol",
    "entry.rule-action",
    "entry.rule-number",
];

impl Filterable for NetworkAcl {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let entries = |f: fn(&NetworkAclEntry) -> String| self.entries.iter().map(f).collect();
        Some(match name {
            "network-acl-id" | "association.network-acl-id" => vec![self.id.clone()],
            "vpc-id" => vec![self.vpc_id.clone()],
            "default" => vec![self.is_default.to_string()],
            "owner-id" => vec![self.owner.clone()],
            "association.association-id" => self.associations.iter().map(|(a, _)| a.clone()).collect(),
            "association.subnet-id" => self.associations.iter().map(|(_, s)| s.clone()).collect(),
            "entry.cidr" => entries(|e| e.cidr.to_string()),
            "entry.egress" => entries(|e| e.egress.to_string()),
            "entry.protocol" => entries(|e| e.protocol.to_string()),
            "entry.rule-action" => entries(|e| if e.allow { "allow" } else { "deny" }.to_string()),
            "entry.rule-number" => entries(|e| e.rule_number.to_string()),
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

impl World {
    /// The default network ACLs of the caller's VPCs.
    pub fn network_acls(&self, caller: &Caller) -> Vec<NetworkAcl> {
        let Some(r) = self.region(&caller.region) else { return Vec::new() };
        r.vpcs
            .values()
            .filter(|v| v.owner == caller.account)
            .map(|v| NetworkAcl {
                id: derived_id("acl", &v.id),
                vpc_id: v.id.clone(),
                owner: v.owner.clone(),
                is_default: true,
                entries: default_entries(),
                associations: r
                    .subnets
                    .values()
                    .filter(|s| s.vpc_id == v.id)
                    .map(|s| (derived_id("aclassoc", &s.id), s.id.clone()))
                    .collect(),
                tags: Tags::new(),
            })
            .collect()
    }

    pub fn describe_network_acls(
        &self,
        caller: &Caller,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<NetworkAcl>> {
        tags::check_filter_names(filters, NETWORK_ACL_FILTERS)?;
        let all = self.network_acls(caller);
        for id in ids {
            if !ids::is_well_formed(id, "acl") {
                return Err(Error::new("InvalidNetworkAclID.Malformed", format!("Invalid id: \"{id}\"")));
            }
            if !all.iter().any(|a| &a.id == id) {
                return Err(Error::new(
                    "InvalidNetworkAclID.NotFound",
                    format!("The networkAcl ID '{id}' does not exist"),
                ));
            }
        }
        Ok(all
            .into_iter()
            .filter(|a| ids.is_empty() || ids.contains(&a.id))
            .filter(|a| tags::matches(a, filters))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Settings;

    #[test]
    fn default_acls_are_derived_the_same_every_time() {
        let mut w = World::new(Settings::default());
        let c = Caller::root("111111111111", "ap-northeast-1");
        let vpc = w.create_vpc(&c, 0, "10.7.0.0/16", None, Tags::new()).unwrap();
        let s = w.create_subnet(&c, &vpc.id, "10.7.0.0/24", Some("ap-northeast-1a"), Tags::new()).unwrap();
        let a = w.network_acls(&c);
        assert_eq!(a, w.network_acls(&c));
        assert_eq!(a.len(), 1);
        assert!(ids::is_well_formed(&a[0].id, "acl"), "{}", a[0].id);
        assert_eq!(a[0].associations.len(), 1);
        assert_eq!(a[0].associations[0].1, s.id);
        assert!(ids::is_well_formed(&a[0].associations[0].0, "aclassoc"));
        assert_eq!(a[0].entries.len(), 4);
        let other = Caller::root("222222222222", "ap-northeast-1");
        assert!(w.network_acls(&other).is_empty());
    }
}
