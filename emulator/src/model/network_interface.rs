//! Requester-managed network interfaces: the ENIs of endpoints and NLB nodes.

use std::net::Ipv4Addr;

use rand::Rng;

use super::tags::{self, Filter, Filterable, Tags};
use super::vpc::{not_found_subnet, Subnet};
use super::{ids, Caller, Change, Error, Resource, Result, World};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetworkInterface {
    pub id: String,
    pub owner: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    pub availability_zone_id: String,
    pub private_ip: Ipv4Addr,
    pub mac_address: String,
    pub description: String,
    /// `vpc_endpoint` or `network_load_balancer`.
    pub interface_type: String,
    pub requester_id: String,
    pub requester_managed: bool,
    pub group_ids: Vec<String>,
    pub tags: Tags,
}

impl NetworkInterface {
    pub fn private_dns_name(&self, region: &str) -> String {
        let ip = self.private_ip.to_string().replace('.', "-");
        if region == "us-east-1" {
            format!("ip-{ip}.ec2.internal")
        } else {
            format!("ip-{ip}.{region}.compute.internal")
        }
    }
}

impl Filterable for NetworkInterface {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "network-interface-id" => vec![self.id.clone()],
            "subnet-id" => vec![self.subnet_id.clone()],
            "vpc-id" => vec![self.vpc_id.clone()],
            "availability-zone" => vec![self.availability_zone.clone()],
            "description" => vec![self.description.clone()],
            "interface-type" => vec![self.interface_type.clone()],
            "requester-id" => vec![self.requester_id.clone()],
            "requester-managed" => vec![self.requester_managed.to_string()],
            "owner-id" => vec![self.owner.clone()],
            "status" => vec!["in-use".into()],
            "private-ip-address" | "addresses.private-ip-address" => {
                vec![self.private_ip.to_string()]
            }
            "mac-address" => vec![self.mac_address.clone()],
            "group-id" => self.group_ids.clone(),
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

pub const NETWORK_INTERFACE_FILTERS: &[&str] = &[
    "network-interface-id",
    "subnet-id",
    "vpc-id",
    "availability-zone",
    "description",
    "interface-type",
    "requester-id",
    "requester-managed",
    "owner-id",
    "status",
    "private-ip-address",
    "addresses.private-ip-address",
    "mac-address",
    "group-id",
];

/// What a network interface is for, when the emulator creates one.
pub(crate) struct EniSpec<'a> {
    pub owner: &'a str,
    pub subnet_id: &'a str,
    pub ip: Option<Ipv4Addr>,
    pub description: String,
    pub interface_type: &'static str,
    pub requester_id: &'static str,
    pub group_ids: Vec<String>,
}

fn pick_free_address(subnet: &Subnet) -> Result<Ipv4Addr> {
    let size = subnet.cidr.size();
    if subnet.available_ip_count() == 0 {
        return Err(Error::new(
            "InsufficientFreeAddressesInSubnet",
            format!(
                "There are not enough free addresses in subnet '{}' to satisfy the requested number of instances.",
                subnet.id
            ),
        ));
    }
    // Random like AWS (10.24.20.69), falling back to a scan when crowded.
    let picked = super::ids::with_rng(|rng| {
        (0..64).map(|_| subnet.cidr.nth(rng.random_range(4..(size - 1)) as u32)).find(|ip| !subnet.used.contains(ip))
    });
    if let Some(ip) = picked {
        return Ok(ip);
    }
    (4..size - 1)
        .map(|off| subnet.cidr.nth(off as u32))
        .find(|ip| !subnet.used.contains(ip))
        .ok_or_else(|| Error::new("InsufficientFreeAddressesInSubnet", "No free address"))
}

impl World {
    pub fn describe_network_interfaces(
        &self,
        caller: &Caller,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<NetworkInterface>> {
        tags::check_filter_names(filters, NETWORK_INTERFACE_FILTERS)?;
        let r = self.region(&caller.region);
        for id in ids {
            if r.and_then(|r| r.network_interfaces.get(id)).is_none_or(|n| n.owner != caller.account) {
                return Err(Error::new(
                    "InvalidNetworkInterfaceID.NotFound",
                    format!("The networkInterface ID '{id}' does not exist"),
                ));
            }
        }
        Ok(r.map(|r| {
            r.network_interfaces
                .values()
                .filter(|n| n.owner == caller.account)
                .filter(|n| ids.is_empty() || ids.contains(&n.id))
                .filter(|n| tags::matches(*n, filters))
                .cloned()
                .collect()
        })
        .unwrap_or_default())
    }

    /// Creates a requester-managed interface in a subnet with an address
    /// from its CIDR (a chosen one, or a random free one).
    pub(crate) fn create_network_interface(&mut self, region: &str, spec: EniSpec<'_>) -> Result<NetworkInterface> {
        let r = self.region_mut(region);
        let subnet = r.subnets.get_mut(spec.subnet_id).ok_or_else(|| not_found_subnet(spec.subnet_id))?;
        let ip = match spec.ip {
            Some(ip) => {
                if !subnet.cidr.contains(ip) || subnet.cidr.is_reserved_in_subnet(ip) {
                    return Err(Error::new(
                        "InvalidParameterValue",
                        format!("Address {ip} does not fall within the subnet's address range or is reserved"),
                    ));
                }
                if subnet.used.contains(&ip) {
                    return Err(Error::new("InvalidIPAddress.InUse", format!("Address {ip} is in use.")));
                }
                ip
            }
            None => pick_free_address(subnet)?,
        };
        subnet.used.insert(ip);
        let eni = NetworkInterface {
            id: ids::resource_id("eni"),
            owner: spec.owner.to_string(),
            subnet_id: subnet.id.clone(),
            vpc_id: subnet.vpc_id.clone(),
            availability_zone: subnet.availability_zone.clone(),
            availability_zone_id: subnet.availability_zone_id.clone(),
            private_ip: ip,
            mac_address: ids::mac_address(),
            description: spec.description,
            interface_type: spec.interface_type.to_string(),
            requester_id: spec.requester_id.to_string(),
            requester_managed: true,
            group_ids: spec.group_ids,
            tags: Tags::new(),
        };
        r.network_interfaces.insert(eni.id.clone(), eni.clone());
        self.emit(region, Resource::NetworkInterface(eni.id.clone()), Change::Created);
        Ok(eni)
    }

    /// Removes an interface and frees its address.
    pub(crate) fn delete_network_interface(&mut self, region: &str, id: &str) {
        let r = self.region_mut(region);
        if let Some(eni) = r.network_interfaces.remove(id) {
            if let Some(s) = r.subnets.get_mut(&eni.subnet_id) {
                s.used.remove(&eni.private_ip);
            }
            self.emit(region, Resource::NetworkInterface(id.to_string()), Change::Deleted);
        }
    }
}
