//! Settings of a network load balancer changed after it exists: its
//! security groups and whether they apply to PrivateLink traffic, its
//! subnets and its address type.

use std::net::Ipv4Addr;

use super::elb::{lb_not_found, LoadBalancerNode};
use super::endpoint::EndpointState;
use super::{Caller, Change, Error, LoadBalancer, Resource, Result, World};

/// AWS's quota of security groups per load balancer.
pub const SECURITY_GROUPS_PER_LOAD_BALANCER: usize = 5;

pub fn on() -> bool {
    true
}

/// `on`/`off` as EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic says it.
pub fn parse_on_off(v: &str) -> Result<bool> {
    match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(Error::validation(format!(
            "1 validation error detected: Value '{v}' at 'enforceSecurityGroupInboundRulesOnPrivateLinkTraffic' failed to satisfy constraint: Member must satisfy enum value set: [off, on]"
        ))),
    }
}

pub fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

impl World {
    /// The security groups a load balancer in `vpc_id` may carry, each
    /// named once, in the order given.
    pub(crate) fn check_load_balancer_security_groups(
        &self,
        caller: &Caller,
        vpc_id: &str,
        groups: &[String],
    ) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for g in groups {
            if out.contains(g) {
                continue;
            }
            let sg = self
                .security_group(caller, g)
                .map_err(|_| Error::new("InvalidSecurityGroup", format!("Security group '{g}' does not exist")))?;
            if sg.vpc_id != vpc_id {
                return Err(Error::new(
                    "InvalidSecurityGroup",
                    format!("Security group '{g}' does not belong to VPC '{vpc_id}'"),
                ));
            }
            out.push(g.clone());
        }
        if out.len() > SECURITY_GROUPS_PER_LOAD_BALANCER {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                format!(
                    "A load balancer cannot be associated with more than {SECURITY_GROUPS_PER_LOAD_BALANCER} security groups"
                ),
            ));
        }
        Ok(out)
    }

    /// SetSecurityGroups: replaces the NLB's security groups (and those of
    /// its network interfaces) and, when given, the PrivateLink enforcement.
    /// An NLB created without security groups never gets any, and one
    /// created with them keeps at least one.
    pub fn set_load_balancer_security_groups(
        &mut self,
        caller: &Caller,
        arn: &str,
        groups: &[String],
        enforce: Option<bool>,
    ) -> Result<(Vec<String>, bool)> {
        let lb = self.load_balancer(caller, arn)?.clone();
        if lb.security_groups.is_empty() {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                "You cannot set security groups on a Network Load Balancer which was created without any security groups",
            ));
        }
        if groups.is_empty() {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                "You cannot remove all security groups from a Network Load Balancer which was created with security groups",
            ));
        }
        let groups = self.check_load_balancer_security_groups(caller, &lb.vpc_id, groups)?;
        let enforce = enforce.unwrap_or(lb.enforce_security_group_inbound_rules_on_private_link_traffic);
        if groups == lb.security_groups && enforce == lb.enforce_security_group_inbound_rules_on_private_link_traffic {
            return Ok((groups, enforce));
        }
        let region = caller.region.clone();
        let r = self.region_mut(&region);
        let l = r.load_balancers.get_mut(arn).ok_or_else(lb_not_found)?;
        l.security_groups = groups.clone();
        l.enforce_security_group_inbound_rules_on_private_link_traffic = enforce;
        let mut enis = Vec::new();
        for n in &lb.nodes {
            if let Some(eni) = r.network_interfaces.get_mut(&n.network_interface_id) {
                if eni.group_ids != groups {
                    eni.group_ids = groups.clone();
                    enis.push(n.network_interface_id.clone());
                }
            }
        }
        for id in enis {
            self.emit(&region, Resource::NetworkInterface(id), Change::Updated);
        }
        self.emit(&region, Resource::LoadBalancer(arn.to_string()), Change::Updated);
        Ok((groups, enforce))
    }
}

/// Refuses an address type the emulator's NLBs cannot take: their subnets
/// have no IPv6 blocks, so `dualstack` is refused as AWS refuses it for
/// such subnets.
pub fn check_ip_address_type(t: &str) -> Result<()> {
    match t {
        "ipv4" => Ok(()),
        "dualstack" => Err(Error::new(
            "InvalidConfigurationRequest",
            "You must specify subnets with an associated IPv6 CIDR block to use the dualstack IP address type",
        )),
        "dualstack-without-public-ipv4" => Err(Error::validation(
            "The IP address type 'dualstack-without-public-ipv4' is supported only for Application Load Balancers",
        )),
        _ => Err(Error::validation(format!(
            "1 validation error detected: Value '{t}' at 'ipAddressType' failed to satisfy constraint: Member must satisfy enum value set: [dualstack-without-public-ipv4, ipv4, dualstack]"
        ))),
    }
}

impl World {
    pub fn set_ip_address_type(&mut self, caller: &Caller, arn: &str, t: &str) -> Result<String> {
        let lb = self.load_balancer(caller, arn)?;
        check_ip_address_type(t)?;
        Ok(lb.ip_address_type.clone())
    }

    /// Whether endpoints of an endpoint service of this NLB are in use
    /// (pending acceptance, pending or available).
    fn has_active_endpoint_associations(&self, region: &str, lb_arn: &str) -> bool {
        let Some(r) = self.region(region) else { return false };
        let services: Vec<&String> = r
            .services
            .values()
            .filter(|s| !s.state.is_gone() && s.network_load_balancer_arns.iter().any(|a| a == lb_arn))
            .map(|s| &s.id)
            .collect();
        r.endpoints.values().any(|e| {
            e.service_id.as_ref().is_some_and(|s| services.contains(&s))
                && matches!(
                    e.state,
                    EndpointState::PendingAcceptance | EndpointState::Pending | EndpointState::Available
                )
        })
    }

    /// SetSubnets: the NLB's subnets become `subnets` (all the current ones
    /// with their addresses, plus any added; a subnet may be removed unless
    /// endpoints use the NLB). An added subnet gets a new node and network
    /// interface, a removed one loses them; endpoint services of the NLB
    /// follow its zones.
    pub fn set_load_balancer_subnets(
        &mut self,
        caller: &Caller,
        arn: &str,
        subnets: &[(String, Option<Ipv4Addr>)],
    ) -> Result<LoadBalancer> {
        let lb = self.load_balancer(caller, arn)?.clone();
        if subnets.is_empty() {
            return Err(Error::validation("You must specify subnets or subnet mappings"));
        }
        let mut zones: Vec<String> = Vec::new();
        for (sid, ip) in subnets {
            let subnet = self
                .subnet(caller, sid)
                .map_err(|_| Error::new("SubnetNotFound", format!("The subnet ID '{sid}' is not valid")))?;
            if subnet.vpc_id != lb.vpc_id {
                return Err(Error::new(
                    "InvalidSubnet",
                    format!("Subnet '{sid}' is not in the load balancer's VPC '{}'", lb.vpc_id),
                ));
            }
            let zone = subnet.availability_zone.clone();
            if zones.contains(&zone) {
                return Err(Error::new(
                    "InvalidConfigurationRequest",
                    "A load balancer cannot be attached to multiple subnets in the same Availability Zone",
                ));
            }
            match lb.nodes.iter().find(|n| &n.subnet_id == sid) {
                Some(n) if ip.is_some_and(|ip| ip != n.private_ip) => {
                    return Err(Error::new(
                        "InvalidConfigurationRequest",
                        format!("The private IPv4 address of subnet '{sid}' cannot be changed"),
                    ));
                }
                Some(_) => {}
                None if lb.nodes.iter().any(|n| n.availability_zone == zone) => {
                    return Err(Error::new(
                        "InvalidConfigurationRequest",
                        format!(
                            "The load balancer already has a subnet in Availability Zone '{zone}': remove it first, then add '{sid}'"
                        ),
                    ));
                }
                None => {}
            }
            zones.push(zone);
        }
        let removed: Vec<LoadBalancerNode> =
            lb.nodes.iter().filter(|n| !subnets.iter().any(|(s, _)| s == &n.subnet_id)).cloned().collect();
        if !removed.is_empty() && self.has_active_endpoint_associations(&caller.region, arn) {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                "Subnets cannot be removed from a Network Load Balancer with active VPC endpoint associations",
            ));
        }
        let description = format!("ELB {}", lb.resource_suffix());
        let mut nodes = Vec::new();
        for (sid, ip) in subnets {
            match lb.nodes.iter().find(|n| &n.subnet_id == sid) {
                Some(n) => nodes.push(n.clone()),
                None => nodes.push(self.new_load_balancer_node(caller, sid, *ip, &description, &lb.security_groups)?),
            }
        }
        if nodes == lb.nodes {
            return Ok(lb);
        }
        for n in &removed {
            self.delete_network_interface(&caller.region, &n.network_interface_id);
        }
        let l = self.region_mut(&caller.region).load_balancers.get_mut(arn).ok_or_else(lb_not_found)?;
        l.nodes = nodes;
        let out = l.clone();
        self.follow_load_balancer_zones(&caller.region, arn);
        self.emit(&caller.region, Resource::LoadBalancer(arn.to_string()), Change::Updated);
        Ok(out)
    }

    /// Endpoint services of this NLB offer the zones of all their NLBs.
    fn follow_load_balancer_zones(&mut self, region: &str, lb_arn: &str) {
        let Some(r) = self.region(region) else { return };
        let mut changed = Vec::new();
        for s in r
            .services
            .values()
            .filter(|s| !s.state.is_gone() && s.network_load_balancer_arns.iter().any(|a| a == lb_arn))
        {
            let mut zones: Vec<String> = s
                .network_load_balancer_arns
                .iter()
                .filter_map(|a| r.load_balancers.get(a))
                .flat_map(|l| l.zones())
                .collect();
            zones.sort();
            zones.dedup();
            if zones != s.availability_zones {
                changed.push((s.id.clone(), zones));
            }
        }
        for (id, zones) in changed {
            if let Some(s) = self.region_mut(region).services.get_mut(&id) {
                s.availability_zones = zones;
            }
            self.emit(region, Resource::Service(id), Change::Updated);
        }
    }
}
