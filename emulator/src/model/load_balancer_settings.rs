//! Settings of a network load balancer changed after it exists: its
//! security groups and whether they apply to PrivateLink traffic.

use super::elb::lb_not_found;
use super::{Caller, Change, Error, Resource, Result, World};

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
