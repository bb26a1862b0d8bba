//! Subnets and their attributes (ModifySubnetAttribute).

use rand::Rng;

use super::net::Ipv4Cidr;
use super::tags::{self, Filter, Filterable, Tags};
use super::vpc::not_found_subnet;
use super::{ids, region, Caller, Change, Error, Resource, Result, World};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Subnet {
    pub id: String,
    pub owner: String,
    pub vpc_id: String,
    pub cidr: Ipv4Cidr,
    pub availability_zone: String,
    pub availability_zone_id: String,
    // The addresses handed out to interfaces are derived from them (see
    // `Region::addresses_in_use`); records of earlier releases also carry them
    // as `used`, which loading ignores.
    /// What ModifySubnetAttribute sets (AWS's defaults for records of
    /// releases that had none).
    #[serde(default)]
    pub attributes: SubnetAttributes,
    pub tags: Tags,
}

/// The launch settings of a subnet, as DescribeSubnets shows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SubnetAttributes {
    /// A default subnet of the default VPC (one per zone).
    pub default_for_az: bool,
    pub map_public_ip_on_launch: bool,
    pub assign_ipv6_address_on_creation: bool,
    pub enable_dns64: bool,
    /// `ip-name` or `resource-name`.
    pub hostname_type: String,
    pub resource_name_dns_a_record: bool,
    pub resource_name_dns_aaaa_record: bool,
}

impl Default for SubnetAttributes {
    fn default() -> Self {
        SubnetAttributes {
            default_for_az: false,
            map_public_ip_on_launch: false,
            assign_ipv6_address_on_creation: false,
            enable_dns64: false,
            hostname_type: "ip-name".into(),
            resource_name_dns_a_record: false,
            resource_name_dns_aaaa_record: false,
        }
    }
}

/// One attribute of ModifySubnetAttribute (AWS takes one per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubnetAttribute {
    MapPublicIpOnLaunch(bool),
    AssignIpv6AddressOnCreation(bool),
    EnableDns64(bool),
    PrivateDnsHostnameTypeOnLaunch(String),
    EnableResourceNameDnsARecordOnLaunch(bool),
    EnableResourceNameDnsAAAARecordOnLaunch(bool),
    MapCustomerOwnedIpOnLaunch(bool),
    EnableLniAtDeviceIndex(i64),
    DisableLniAtDeviceIndex(bool),
}

impl Subnet {
    /// Addresses left when `in_use` of them are taken.
    pub fn available_ip_count(&self, in_use: usize) -> u64 {
        self.cidr.usable().saturating_sub(in_use as u64)
    }

    pub fn arn(&self, region: &str) -> String {
        format!("arn:aws:ec2:{region}:{}:subnet/{}", self.owner, self.id)
    }
}

impl Filterable for Subnet {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let a = &self.attributes;
        Some(match name {
            "subnet-id" => vec![self.id.clone()],
            "vpc-id" => vec![self.vpc_id.clone()],
            "cidr" | "cidr-block" | "cidrBlock" => vec![self.cidr.to_string()],
            "availability-zone" | "availabilityZone" => vec![self.availability_zone.clone()],
            "availability-zone-id" => vec![self.availability_zone_id.clone()],
            "state" => vec!["available".into()],
            "owner-id" => vec![self.owner.clone()],
            "default-for-az" | "defaultForAz" => vec![a.default_for_az.to_string()],
            "map-public-ip-on-launch" => vec![a.map_public_ip_on_launch.to_string()],
            "enable-dns64" => vec![a.enable_dns64.to_string()],
            "ipv6-native" | "map-customer-owned-ip-on-launch" => vec!["false".into()],
            "private-dns-name-options-on-launch.hostname-type" => vec![a.hostname_type.clone()],
            "private-dns-name-options-on-launch.enable-resource-name-dns-a-record" => {
                vec![a.resource_name_dns_a_record.to_string()]
            }
            "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record" => {
                vec![a.resource_name_dns_aaaa_record.to_string()]
            }
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

/// A subnet with how many of its addresses interfaces hold, as
/// DescribeSubnets shows and filters it.
#[derive(Debug, Clone)]
pub struct Counted {
    pub subnet: Subnet,
    pub in_use: usize,
}

impl Counted {
    pub fn available_ip_count(&self) -> u64 {
        self.subnet.available_ip_count(self.in_use)
    }
}

impl Filterable for Counted {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        match name {
            "available-ip-address-count" => Some(vec![self.available_ip_count().to_string()]),
            _ => self.subnet.filter_values(name),
        }
    }
    fn tags(&self) -> &Tags {
        &self.subnet.tags
    }
}

pub const SUBNET_FILTERS: &[&str] = &[
    "subnet-id",
    "vpc-id",
    "cidr",
    "cidr-block",
    "cidrBlock",
    "availability-zone",
    "availabilityZone",
    "availability-zone-id",
    "state",
    "owner-id",
    "default-for-az",
    "defaultForAz",
    "available-ip-address-count",
    "map-public-ip-on-launch",
    "enable-dns64",
    "ipv6-native",
    "map-customer-owned-ip-on-launch",
    "private-dns-name-options-on-launch.hostname-type",
    "private-dns-name-options-on-launch.enable-resource-name-dns-a-record",
    "private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record",
];

fn no_ipv6(subnet: &str, attribute: &str) -> Error {
    Error::new(
        "InvalidParameterValue",
        format!(
            "Invalid value 'true' for {attribute}. Cannot set {attribute} to true unless the subnet ({subnet}) \
             has an IPv6 CIDR block associated with it."
        ),
    )
}

fn not_on_an_outpost(subnet: &str, attribute: &str) -> Error {
    Error::new(
        "InvalidParameterValue",
        format!("Invalid value for {attribute}: the subnet ({subnet}) is not on an Outpost."),
    )
}

impl World {
    pub fn create_subnet(
        &mut self,
        caller: &Caller,
        vpc_id: &str,
        cidr: &str,
        zone: Option<&str>,
        tags: Tags,
    ) -> Result<Subnet> {
        let vpc = self.vpc(caller, vpc_id)?.clone();
        let cidr: Ipv4Cidr = cidr.parse().map_err(|_| {
            Error::new(
                "InvalidParameterValue",
                format!("Value ({cidr}) for parameter cidrBlock is invalid. This is not a valid CIDR block."),
            )
        })?;
        if !(16..=28).contains(&cidr.prefix()) || !vpc.cidr.contains_cidr(&cidr) {
            return Err(Error::new("InvalidSubnet.Range", format!("The CIDR '{cidr}' is invalid.")));
        }
        let zone = match zone {
            Some(z) => region::zone(&caller.region, z).ok_or_else(|| {
                Error::new(
                    "InvalidParameterValue",
                    format!("Value ({z}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {}.",
                        region::zones(&caller.region).iter().map(|z| z.name.as_str()).collect::<Vec<_>>().join(", ")),
                )
            })?,
            None => {
                let zones = region::zones(&caller.region);
                zones[ids::with_rng(|rng| rng.random_range(0..zones.len()))].clone()
            }
        };
        let r = self.region_mut(&caller.region);
        if r.subnets.values().any(|s| s.vpc_id == vpc_id && s.cidr.overlaps(&cidr)) {
            return Err(Error::new(
                "InvalidSubnet.Conflict",
                format!("The CIDR '{cidr}' conflicts with another subnet"),
            ));
        }
        let subnet = Subnet {
            id: ids::resource_id("subnet"),
            owner: caller.account.clone(),
            vpc_id: vpc_id.to_string(),
            cidr,
            availability_zone: zone.name,
            availability_zone_id: zone.id,
            attributes: SubnetAttributes::default(),
            tags,
        };
        r.subnets.insert(subnet.id.clone(), subnet.clone());
        self.emit(&caller.region, Resource::Subnet(subnet.id.clone()), Change::Created);
        Ok(subnet)
    }

    pub fn subnet(&self, caller: &Caller, id: &str) -> Result<&Subnet> {
        self.region(&caller.region)
            .and_then(|r| r.subnets.get(id))
            .filter(|s| s.owner == caller.account)
            .ok_or_else(|| not_found_subnet(id))
    }

    pub fn describe_subnets(&self, caller: &Caller, ids: &[String], filters: &[Filter]) -> Result<Vec<Counted>> {
        tags::check_filter_names(filters, SUBNET_FILTERS)?;
        for id in ids {
            self.subnet(caller, id)?;
        }
        Ok(self
            .region(&caller.region)
            .map(|r| {
                r.subnets
                    .values()
                    .filter(|s| s.owner == caller.account)
                    .filter(|s| ids.is_empty() || ids.contains(&s.id))
                    .map(|s| Counted { subnet: s.clone(), in_use: r.addresses_in_use(&s.id) })
                    .filter(|c| tags::matches(c, filters))
                    .collect()
            })
            .unwrap_or_default())
    }

    pub fn delete_subnet(&mut self, caller: &Caller, id: &str) -> Result<()> {
        let vpc_id = self.subnet(caller, id)?.vpc_id.clone();
        let r = self.region_mut(&caller.region);
        if r.network_interfaces.values().any(|n| n.subnet_id == id) {
            return Err(Error::new(
                "DependencyViolation",
                format!("The subnet '{id}' has dependencies and cannot be deleted."),
            ));
        }
        r.subnets.remove(id);
        self.forget_subnet_association(&caller.region, &vpc_id, id);
        self.emit(&caller.region, Resource::Subnet(id.to_string()), Change::Deleted);
        Ok(())
    }

    /// ModifySubnetAttribute: one attribute. The emulator's subnets have no
    /// IPv6 block and are on no Outpost, so what needs one is refused as
    /// AWS refuses it for such a subnet.
    pub fn modify_subnet_attribute(&mut self, caller: &Caller, id: &str, attribute: SubnetAttribute) -> Result<()> {
        self.subnet(caller, id)?;
        use SubnetAttribute::*;
        match &attribute {
            AssignIpv6AddressOnCreation(true) => return Err(no_ipv6(id, "assignIpv6AddressOnCreation")),
            EnableResourceNameDnsAAAARecordOnLaunch(true) => {
                return Err(no_ipv6(id, "enableResourceNameDnsAAAARecordOnLaunch"))
            }
            MapCustomerOwnedIpOnLaunch(true) => return Err(not_on_an_outpost(id, "mapCustomerOwnedIpOnLaunch")),
            EnableLniAtDeviceIndex(_) => return Err(not_on_an_outpost(id, "enableLniAtDeviceIndex")),
            PrivateDnsHostnameTypeOnLaunch(t) if t != "ip-name" && t != "resource-name" => {
                return Err(Error::invalid_value(
                    "PrivateDnsHostnameTypeOnLaunch",
                    t,
                    "Valid values are ip-name and resource-name.",
                ))
            }
            _ => {}
        }
        let subnet = self.region_mut(&caller.region).subnets.get_mut(id).ok_or_else(|| not_found_subnet(id))?;
        let a = &mut subnet.attributes;
        match attribute {
            MapPublicIpOnLaunch(v) => a.map_public_ip_on_launch = v,
            AssignIpv6AddressOnCreation(v) => a.assign_ipv6_address_on_creation = v,
            EnableDns64(v) => a.enable_dns64 = v,
            PrivateDnsHostnameTypeOnLaunch(t) => a.hostname_type = t,
            EnableResourceNameDnsARecordOnLaunch(v) => a.resource_name_dns_a_record = v,
            EnableResourceNameDnsAAAARecordOnLaunch(v) => a.resource_name_dns_aaaa_record = v,
            MapCustomerOwnedIpOnLaunch(_) | EnableLniAtDeviceIndex(_) | DisableLniAtDeviceIndex(_) => {}
        }
        self.emit(&caller.region, Resource::Subnet(id.to_string()), Change::Updated);
        Ok(())
    }
}
