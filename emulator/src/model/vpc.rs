//! VPCs and their attributes, and each account's default VPC.

use std::net::Ipv4Addr;

use super::net::Ipv4Cidr;
use super::security_group::{allow_all_egress, allow_from_itself, SecurityGroup};
use super::subnet::SubnetAttributes;
use super::tags::{self, Filter, Filterable, Tags};
use super::{ids, region, Caller, Change, Error, Millis, Resource, Result, World};

/// Where AWS puts every default VPC.
pub const DEFAULT_VPC_CIDR: &str = "172.31.0.0/16";

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Vpc {
    pub id: String,
    pub owner: String,
    pub cidr: Ipv4Cidr,
    pub cidr_association_id: String,
    pub dhcp_options_id: String,
    pub instance_tenancy: String,
    pub enable_dns_support: bool,
    pub enable_dns_hostnames: bool,
    pub default_security_group: String,
    /// Host block k: in loopback mode this VPC lives in 127.k.0.0/16.
    pub host_block: u8,
    /// A VPC smaller than /16 shares its block with other such VPCs: its
    /// addresses keep their two low octets there, so VPCs whose low 16 bits
    /// do not overlap fit in one block. False for /16 VPCs and for every
    /// VPC of a world written before blocks were shared (it owns block k
    /// and its addresses keep their offset from the VPC's base).
    #[serde(default)]
    pub shares_block: bool,
    /// In interface mode: the VPC's addresses are real on an interface
    /// (its CIDR is inside an attached block), so host address = VPC address.
    #[serde(default)]
    pub attached: bool,
    /// The account's default VPC in its region (172.31.0.0/16).
    #[serde(default)]
    pub is_default: bool,
    pub created: Millis,
    pub tags: Tags,
}

impl Vpc {
    /// The Amazon-provided DNS resolver: base address + 2.
    pub fn resolver_address(&self) -> Ipv4Addr {
        self.cidr.nth(2)
    }
}

impl Filterable for Vpc {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "vpc-id" => vec![self.id.clone()],
            "cidr" | "cidr-block-association.cidr-block" => vec![self.cidr.to_string()],
            "cidr-block-association.association-id" => vec![self.cidr_association_id.clone()],
            "cidr-block-association.state" | "state" => vec!["available".into()],
            "owner-id" => vec![self.owner.clone()],
            "is-default" => vec![self.is_default.to_string()],
            "dhcp-options-id" => vec![self.dhcp_options_id.clone()],
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

pub const VPC_FILTERS: &[&str] = &[
    "vpc-id",
    "cidr",
    "cidr-block-association.cidr-block",
    "cidr-block-association.association-id",
    "cidr-block-association.state",
    "state",
    "owner-id",
    "is-default",
    "dhcp-options-id",
];
fn not_found_vpc(id: &str) -> Error {
    Error::new("InvalidVpcID.NotFound", format!("The vpc ID '{id}' does not exist"))
}

pub(crate) fn not_found_subnet(id: &str) -> Error {
    Error::new("InvalidSubnetID.NotFound", format!("The subnet ID '{id}' does not exist"))
}

pub(crate) fn not_found_group(id: &str) -> Error {
    Error::new("InvalidGroup.NotFound", format!("The security group '{id}' does not exist"))
}

impl World {
    pub fn create_vpc(
        &mut self,
        caller: &Caller,
        now: Millis,
        cidr: &str,
        tenancy: Option<&str>,
        tags: Tags,
    ) -> Result<Vpc> {
        let cidr: Ipv4Cidr = cidr.parse().map_err(|_| {
            Error::new(
                "InvalidParameterValue",
                format!("Value ({cidr}) for parameter cidrBlock is invalid. This is not a valid CIDR block."),
            )
        })?;
        if !(16..=28).contains(&cidr.prefix()) {
            return Err(Error::new("InvalidVpc.Range", format!("The CIDR '{cidr}' is invalid.")));
        }
        match tenancy {
            None | Some("default" | "dedicated") => {}
            Some("host") => {
                return Err(Error::new(
                    "InvalidParameterValue",
                    "The tenancy value host is not supported for VPCs. Valid values are default and dedicated.",
                ))
            }
            Some(other) => {
                return Err(Error::invalid_value("InstanceTenancy", other, "Valid values are default and dedicated."))
            }
        }
        let attached = self.settings.attached.iter().any(|a| a.contains_cidr(&cidr))
            && !self.regions.values().flat_map(|r| r.vpcs.values()).any(|v| v.attached && v.cidr.overlaps(&cidr));
        let shares_block = cidr.prefix() > 16 && !attached && !self.one_block_per_vpc;
        let host_block = self.place_vpc(&cidr, shares_block).ok_or_else(|| {
            Error::new(
                "VpcLimitExceeded",
                "The maximum number of VPCs has been reached (254 host blocks on one emulator; VPCs smaller than /16 share them).",
            )
        })?;
        if !shares_block {
            self.host_blocks.insert(host_block, ());
        }
        let vpc_id = ids::resource_id("vpc");
        let sg_id = ids::resource_id("sg");
        let vpc = Vpc {
            id: vpc_id.clone(),
            owner: caller.account.clone(),
            cidr,
            cidr_association_id: ids::resource_id("vpc-cidr-assoc"),
            dhcp_options_id: ids::resource_id("dopt"),
            instance_tenancy: tenancy.unwrap_or("default").to_string(),
            enable_dns_support: true,
            enable_dns_hostnames: false,
            default_security_group: sg_id.clone(),
            host_block,
            shares_block,
            attached,
            is_default: false,
            created: now,
            tags,
        };
        let default_sg = SecurityGroup {
            id: sg_id.clone(),
            owner: caller.account.clone(),
            vpc_id: vpc_id.clone(),
            name: "default".into(),
            description: "default VPC security group".into(),
            rules: vec![allow_from_itself(&sg_id, &caller.account), allow_all_egress()],
            tags: Tags::new(),
        };
        let r = self.region_mut(&caller.region);
        r.vpcs.insert(vpc_id.clone(), vpc.clone());
        r.security_groups.insert(sg_id.clone(), default_sg);
        self.emit(&caller.region, Resource::Vpc(vpc_id), Change::Created);
        self.emit(&caller.region, Resource::SecurityGroup(sg_id), Change::Created);
        // Drawn after the VPC's own ids, so a replayed CreateVpc of an older
        // release gets the ids it had.
        self.create_main_route_table(&caller.region, &vpc);
        Ok(vpc)
    }

    /// CreateDefaultVpc: 172.31.0.0/16 with DNS hostnames on and a default
    /// subnet (a /20, public IPs on launch) in every zone, as AWS makes it.
    pub fn create_default_vpc(&mut self, caller: &Caller, now: Millis) -> Result<Vpc> {
        if let Some(id) = self.default_vpc_id(caller) {
            return Err(Error::new(
                "DefaultVpcAlreadyExists",
                format!("A Default VPC already exists for this account in this region ({id})."),
            ));
        }
        let mut vpc = self.create_vpc(caller, now, DEFAULT_VPC_CIDR, None, Tags::new())?;
        let r = self.region_mut(&caller.region);
        if let Some(v) = r.vpcs.get_mut(&vpc.id) {
            v.is_default = true;
            v.enable_dns_hostnames = true;
            vpc = v.clone();
        }
        r.default_vpcs.insert(caller.account.clone(), vpc.id.clone());
        let base: Ipv4Cidr = DEFAULT_VPC_CIDR.parse().expect("literal CIDR");
        for (i, zone) in region::zones(&caller.region).iter().enumerate() {
            let cidr = Ipv4Cidr::new(base.nth(i as u32 * 4096), 20).expect("a /20 inside the /16");
            let subnet = self.create_subnet(caller, &vpc.id, &cidr.to_string(), Some(&zone.name), Tags::new())?;
            if let Some(s) = self.region_mut(&caller.region).subnets.get_mut(&subnet.id) {
                s.attributes =
                    SubnetAttributes { default_for_az: true, map_public_ip_on_launch: true, ..Default::default() };
            }
        }
        Ok(vpc)
    }

    /// With the default VPC setting on: the caller's first request in a
    /// region gives it its default VPC. Once made, it is never made again
    /// for that account and region, even after the user deletes it.
    pub fn ensure_default_vpc(&mut self, caller: &Caller, now: Millis) -> Result<()> {
        if !self.settings.default_vpc
            || self.region(&caller.region).is_some_and(|r| r.default_vpcs.contains_key(&caller.account))
        {
            return Ok(());
        }
        self.create_default_vpc(caller, now).map(|_| ())
    }

    /// The caller's default VPC in its region, if it has one.
    pub fn default_vpc_id(&self, caller: &Caller) -> Option<String> {
        self.region(&caller.region)?
            .vpcs
            .values()
            .find(|v| v.owner == caller.account && v.is_default)
            .map(|v| v.id.clone())
    }

    /// The caller's own VPC, or InvalidVpcID.NotFound.
    pub fn vpc(&self, caller: &Caller, id: &str) -> Result<&Vpc> {
        self.region(&caller.region)
            .and_then(|r| r.vpcs.get(id))
            .filter(|v| v.owner == caller.account)
            .ok_or_else(|| not_found_vpc(id))
    }

    pub fn describe_vpcs(&self, caller: &Caller, ids: &[String], filters: &[Filter]) -> Result<Vec<Vpc>> {
        tags::check_filter_names(filters, VPC_FILTERS)?;
        for id in ids {
            self.vpc(caller, id)?;
        }
        Ok(self
            .region(&caller.region)
            .map(|r| {
                r.vpcs
                    .values()
                    .filter(|v| v.owner == caller.account)
                    .filter(|v| ids.is_empty() || ids.contains(&v.id))
                    .filter(|v| tags::matches(*v, filters))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    pub fn delete_vpc(&mut self, caller: &Caller, id: &str) -> Result<()> {
        let vpc = self.vpc(caller, id)?.clone();
        let r = self.region_mut(&caller.region);
        let busy = r.subnets.values().any(|s| s.vpc_id == id)
            || r.endpoints.values().any(|e| e.vpc_id == id && !e.state.is_gone())
            || r.load_balancers.values().any(|l| l.vpc_id == id)
            || r.target_groups.values().any(|t| t.vpc_id.as_deref() == Some(id))
            || r.security_groups.values().any(|g| g.vpc_id == id && g.id != vpc.default_security_group)
            || r.route_tables_of(id).any(|t| !t.is_main());
        if busy {
            return Err(Error::new(
                "DependencyViolation",
                format!("The vpc '{id}' has dependencies and cannot be deleted."),
            ));
        }
        r.vpcs.remove(id);
        r.security_groups.remove(&vpc.default_security_group);
        let tables: Vec<String> = r.route_tables_of(id).map(|t| t.id.clone()).collect();
        for t in &tables {
            r.route_tables.remove(t);
        }
        if !vpc.shares_block {
            self.host_blocks.remove(&vpc.host_block);
        }
        self.emit(&caller.region, Resource::SecurityGroup(vpc.default_security_group), Change::Deleted);
        for t in tables {
            self.emit(&caller.region, Resource::RouteTable(t), Change::Deleted);
        }
        self.emit(&caller.region, Resource::Vpc(id.to_string()), Change::Deleted);
        Ok(())
    }

    /// The host block for a new VPC with `cidr`, k in 1..=254. A VPC that
    /// shares goes to the lowest block whose sharing VPCs leave its low 16
    /// bits free, else to the lowest empty block; one that does not goes to
    /// the lowest empty block. `None` when no block is left.
    fn place_vpc(&self, cidr: &Ipv4Cidr, shares: bool) -> Option<u8> {
        let low = |c: &Ipv4Cidr| {
            let first = u32::from(c.network()) & 0xffff;
            (first, first + (c.size() as u32 - 1))
        };
        // Blocks in use by sharing VPCs, with the low ranges each holds.
        let mut shared: std::collections::BTreeMap<u8, Vec<(u32, u32)>> = Default::default();
        for v in self.regions.values().flat_map(|r| r.vpcs.values()).filter(|v| v.shares_block) {
            shared.entry(v.host_block).or_default().push(low(&v.cidr));
        }
        let empty = (1..=254u8).find(|k| !self.host_blocks.contains_key(k) && !shared.contains_key(k));
        if !shares {
            return empty;
        }
        let (first, last) = low(cidr);
        shared
            .iter()
            .find(|(k, ranges)| {
                !self.host_blocks.contains_key(*k) && ranges.iter().all(|&(a, b)| last < a || b < first)
            })
            .map(|(k, _)| *k)
            .or(empty)
    }

    /// Sets one of enableDnsSupport / enableDnsHostnames.
    pub fn modify_vpc_attribute(
        &mut self,
        caller: &Caller,
        id: &str,
        dns_support: Option<bool>,
        dns_hostnames: Option<bool>,
    ) -> Result<()> {
        self.vpc(caller, id)?;
        if dns_support.is_some() == dns_hostnames.is_some() {
            return Err(Error::new(
                "InvalidParameterCombination",
                "Fields for multiple attribute types specified: enableDnsSupport, enableDnsHostnames",
            ));
        }
        let vpc = self.region_mut(&caller.region).vpcs.get_mut(id).ok_or_else(|| not_found_vpc(id))?;
        if let Some(v) = dns_support {
            vpc.enable_dns_support = v;
        }
        if let Some(v) = dns_hostnames {
            vpc.enable_dns_hostnames = v;
        }
        self.emit(&caller.region, Resource::Vpc(id.to_string()), Change::Updated);
        Ok(())
    }
}
