//! Network interfaces: the requester-managed ENIs of endpoints and NLB
//! nodes, which only their owner service changes, and the ones users create
//! in their subnets (CreateNetworkInterface), which are theirs to change
//! and delete.

use std::net::Ipv4Addr;

use rand::Rng;

use super::subnet::Subnet;
use super::tags::{self, Filter, Filterable, Tags};
use super::vpc::not_found_subnet;
use super::{ids, Caller, Change, Error, Region, Resource, Result, World};

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
    #[serde(default = "checked")]
    pub source_dest_check: bool,
    pub tags: Tags,
}

fn checked() -> bool {
    true
}

/// Security groups per interface (AWS's default quota).
pub const GROUPS_PER_INTERFACE: usize = 5;

/// One attribute of ModifyNetworkInterfaceAttribute (one per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceChange {
    Description(String),
    SourceDestCheck(bool),
    Groups(Vec<String>),
    /// An attachment's DeleteOnTermination, by attachment id.
    Attachment(String),
}

/// CreateNetworkInterface, as the user asked it.
#[derive(Debug, Clone, Default)]
pub struct InterfaceRequest {
    pub subnet_id: String,
    pub ip: Option<Ipv4Addr>,
    pub description: String,
    /// The VPC's default group when empty.
    pub group_ids: Vec<String>,
    pub tags: Tags,
    pub client_token: Option<String>,
}

impl NetworkInterface {
    /// Requester-managed interfaces are in use by their service; the
    /// emulator has no instances, so users' own are always available.
    pub fn status(&self) -> &'static str {
        if self.requester_managed {
            "in-use"
        } else {
            "available"
        }
    }

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
            "status" => vec![self.status().into()],
            "source-dest-check" => vec![self.source_dest_check.to_string()],
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
    "source-dest-check",
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

fn pick_free_address(r: &Region, subnet: &Subnet) -> Result<Ipv4Addr> {
    let size = subnet.cidr.size();
    let used = |ip: &Ipv4Addr| r.address_in_use(&subnet.id, *ip);
    if subnet.available_ip_count(r.addresses_in_use(&subnet.id)) == 0 {
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
        (0..64).map(|_| subnet.cidr.nth(rng.random_range(4..(size - 1)) as u32)).find(|ip| !used(ip))
    });
    if let Some(ip) = picked {
        return Ok(ip);
    }
    (4..size - 1)
        .map(|off| subnet.cidr.nth(off as u32))
        .find(|ip| !used(ip))
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
        self.insert_network_interface(region, spec, true)
    }

    fn insert_network_interface(
        &mut self,
        region: &str,
        spec: EniSpec<'_>,
        requester_managed: bool,
    ) -> Result<NetworkInterface> {
        let r = self.region_mut(region);
        let subnet = r.subnets.get(spec.subnet_id).ok_or_else(|| not_found_subnet(spec.subnet_id))?;
        let ip = match spec.ip {
            Some(ip) => {
                if !subnet.cidr.contains(ip) || subnet.cidr.is_reserved_in_subnet(ip) {
                    return Err(Error::new(
                        "InvalidParameterValue",
                        format!(
                            "Address {ip} does not fall within the subnet's address range or is reserved \
                             (the first four and the last address of a subnet are AWS's)"
                        ),
                    ));
                }
                if r.address_in_use(&subnet.id, ip) {
                    return Err(Error::new("InvalidIPAddress.InUse", format!("Address {ip} is in use.")));
                }
                ip
            }
            None => pick_free_address(r, subnet)?,
        };
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
            requester_managed,
            group_ids: spec.group_ids,
            source_dest_check: true,
            tags: Tags::new(),
        };
        r.network_interfaces.insert(eni.id.clone(), eni.clone());
        r.index_interface(&eni, true);
        self.emit(region, Resource::NetworkInterface(eni.id.clone()), Change::Created);
        Ok(eni)
    }

    /// Removes an interface and frees its address.
    pub(crate) fn delete_network_interface(&mut self, region: &str, id: &str) {
        let r = self.region_mut(region);
        if let Some(eni) = r.network_interfaces.remove(id) {
            r.index_interface(&eni, false);
            self.emit(region, Resource::NetworkInterface(id.to_string()), Change::Deleted);
        }
    }
}

/// Each group once, in the order first given.
fn unique(groups: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        if !out.contains(g) {
            out.push(g.clone());
        }
    }
    out
}

fn not_found_interface(id: &str) -> Error {
    Error::new("InvalidNetworkInterfaceID.NotFound", format!("The networkInterface ID '{id}' does not exist"))
}

/// What AWS answers for a change to an interface a service manages.
fn managed_by_a_service() -> Error {
    Error::new("AuthFailure", "You do not have permission to access the specified resource.")
}

impl World {
    /// The caller's interface, or InvalidNetworkInterfaceID.Malformed / .NotFound.
    pub fn network_interface(&self, caller: &Caller, id: &str) -> Result<&NetworkInterface> {
        if !ids::is_well_formed(id, "eni") {
            return Err(Error::new(
                "InvalidNetworkInterfaceID.Malformed",
                format!("Invalid id: \"{id}\" (expecting \"eni-...\")"),
            ));
        }
        self.region(&caller.region)
            .and_then(|r| r.network_interfaces.get(id))
            .filter(|n| n.owner == caller.account)
            .ok_or_else(|| not_found_interface(id))
    }

    /// Groups for an interface in `vpc`: each the caller's, in that VPC, at
    /// most five.
    fn check_interface_groups(&self, caller: &Caller, groups: &[String], vpc: &str, subnet: &str) -> Result<()> {
        if groups.len() > GROUPS_PER_INTERFACE {
            return Err(Error::new(
                "SecurityGroupsPerInterfaceLimitExceeded",
                "The maximum number of security groups per interface has been reached.",
            ));
        }
        for g in groups {
            if self.security_group(caller, g)?.vpc_id != vpc {
                return Err(Error::invalid_parameter(format!(
                    "Security group {g} and subnet {subnet} belong to different networks."
                )));
            }
        }
        Ok(())
    }

    /// CreateNetworkInterface: the user's own interface in one of its
    /// subnets, with a chosen or a free address, and the VPC's default group
    /// unless groups are given.
    pub fn create_user_network_interface(
        &mut self,
        caller: &Caller,
        req: InterfaceRequest,
    ) -> Result<NetworkInterface> {
        let fingerprint = format!("{}|{:?}|{}|{:?}", req.subnet_id, req.ip, req.description, req.group_ids);
        if let Some(id) =
            self.idempotent(caller, "CreateNetworkInterface", req.client_token.as_deref(), &fingerprint)?
        {
            if let Some(n) = self.region(&caller.region).and_then(|r| r.network_interfaces.get(&id)) {
                return Ok(n.clone());
            }
        }
        let subnet = self.subnet(caller, &req.subnet_id)?.clone();
        let groups = if req.group_ids.is_empty() {
            vec![self.vpc(caller, &subnet.vpc_id)?.default_security_group.clone()]
        } else {
            unique(&req.group_ids)
        };
        self.check_interface_groups(caller, &groups, &subnet.vpc_id, &subnet.id)?;
        if req.description.chars().count() > 255 {
            return Err(Error::invalid_value("Description", &req.description, "At most 255 characters."));
        }
        let spec = EniSpec {
            owner: &caller.account,
            subnet_id: &subnet.id,
            ip: req.ip,
            description: req.description.clone(),
            interface_type: "interface",
            requester_id: "",
            group_ids: groups,
        };
        let eni = self.insert_network_interface(&caller.region, spec, false)?;
        let eni = match self.region_mut(&caller.region).network_interfaces.get_mut(&eni.id) {
            Some(n) => {
                n.tags = req.tags;
                n.clone()
            }
            None => eni,
        };
        self.remember_token(caller, "CreateNetworkInterface", req.client_token.as_deref(), fingerprint, &eni.id);
        Ok(eni)
    }

    /// DeleteNetworkInterface: only the user's own; an endpoint's or an
    /// NLB's goes with its owner, and is in use until then.
    pub fn delete_user_network_interface(&mut self, caller: &Caller, id: &str) -> Result<()> {
        if self.network_interface(caller, id)?.requester_managed {
            return Err(Error::new("InvalidParameterValue", format!("Network interface '{id}' is currently in use.")));
        }
        self.delete_network_interface(&caller.region, id);
        Ok(())
    }

    /// ModifyNetworkInterfaceAttribute on the user's own interface.
    pub fn modify_network_interface_attribute(
        &mut self,
        caller: &Caller,
        id: &str,
        change: InterfaceChange,
    ) -> Result<()> {
        let eni = self.network_interface(caller, id)?.clone();
        if eni.requester_managed {
            return Err(managed_by_a_service());
        }
        match &change {
            InterfaceChange::Groups(groups) => {
                if groups.is_empty() {
                    return Err(Error::missing("SecurityGroupId"));
                }
                self.check_interface_groups(caller, &unique(groups), &eni.vpc_id, &eni.subnet_id)?;
            }
            InterfaceChange::Description(d) if d.chars().count() > 255 => {
                return Err(Error::invalid_value("Description", d, "At most 255 characters."));
            }
            // Users' interfaces are never attached here: no instances.
            InterfaceChange::Attachment(a) => {
                return Err(Error::new(
                    "InvalidAttachmentID.NotFound",
                    format!("The attachment ID '{a}' does not exist"),
                ))
            }
            _ => {}
        }
        let n =
            self.region_mut(&caller.region).network_interfaces.get_mut(id).ok_or_else(|| not_found_interface(id))?;
        match change {
            InterfaceChange::Description(d) => n.description = d,
            InterfaceChange::SourceDestCheck(v) => n.source_dest_check = v,
            InterfaceChange::Groups(g) => n.group_ids = unique(&g),
            InterfaceChange::Attachment(_) => {}
        }
        self.emit(&caller.region, Resource::NetworkInterface(id.to_string()), Change::Updated);
        Ok(())
    }
}
