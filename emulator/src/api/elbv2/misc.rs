//! Account-wide reads: the predefined SSL policies and the account's limits.

use super::page;
use crate::api::ec2::Ctx;
use crate::api::xml::Xml;
use crate::model::ssl_policy::{SslPolicy, SSL_POLICIES};
use crate::model::{Error, Result};

pub(super) fn describe_ssl_policies(c: &mut Ctx) -> Result<Xml> {
    let names = c.p.member_list("Names");
    if let Some(missing) = names.iter().find(|n| !SSL_POLICIES.iter().any(|p| &p.name == n)) {
        return Err(Error::new("SSLPolicyNotFound", format!("SSL policy '{missing}' not found")));
    }
    let for_type = match c.p.get("LoadBalancerType") {
        None | Some("application") | Some("network") => true,
        Some("gateway") => false,
        Some(t) => {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '{t}' at 'loadBalancerType' failed to satisfy constraint: Member must satisfy enum value set: [application, network, gateway]"
            )))
        }
    };
    // Keyed by position, so pages keep AWS's order.
    let list: Vec<(usize, &SslPolicy)> = SSL_POLICIES
        .iter()
        .filter(|p| for_type && (names.is_empty() || names.iter().any(|n| n == p.name)))
        .enumerate()
        .collect();
    let (list, next) = page(c, list, |(i, _)| format!("{i:04}"))?;
    let mut x = Xml::new();
    x.members("SslPolicies", &list, |x, (_, p)| {
        x.member_strings("SslProtocols", p.protocols);
        x.members("Ciphers", p.ciphers().enumerate(), |x, (i, name)| {
            x.leaf("Name", name);
            x.num("Priority", i + 1);
        });
        x.leaf("Name", p.name);
        x.member_strings("SupportedLoadBalancerTypes", ["application", "network"]);
    });
    x.opt("NextMarker", next);
    Ok(x)
}

/// AWS's default Elastic Load Balancing quotas, in the order AWS lists
/// them; the number of NLBs is the emulator's own (`--load-balancers-per-region`).
const ACCOUNT_LIMITS: &[(&str, usize)] = &[
    ("target-groups", 3000),
    ("targets-per-application-load-balancer", 1000),
    ("listeners-per-application-load-balancer", 50),
    ("rules-per-application-load-balancer", 100),
    ("network-load-balancers", 50),
    ("targets-per-network-load-balancer", 3000),
    ("targets-per-availability-zone-per-network-load-balancer", 500),
    ("listeners-per-network-load-balancer", 50),
    ("condition-values-per-alb-rule", 5),
    ("condition-wildcards-per-alb-rule", 5),
    ("target-groups-per-application-load-balancer", 100),
    ("target-groups-per-action-on-application-load-balancer", 5),
    ("target-groups-per-action-on-network-load-balancer", 1),
    ("certificates-per-application-load-balancer", 25),
    ("certificates-per-network-load-balancer", 25),
    ("targets-per-target-group", 1000),
    ("target-id-registrations-per-application-load-balancer", 1000),
    ("network-load-balancer-enis-per-vpc", 1200),
    ("application-load-balancers", 50),
    ("gateway-load-balancers", 100),
    ("gateway-load-balancers-per-vpc", 100),
    ("geneve-target-groups", 100),
    ("targets-per-availability-zone-per-gateway-load-balancer", 300),
];

pub(super) fn describe_account_limits(c: &mut Ctx) -> Result<Xml> {
    let nlbs = c.world.settings().load_balancers_per_region;
    let limits: Vec<(usize, (&str, usize))> = ACCOUNT_LIMITS
        .iter()
        .map(|&(name, max)| (name, if name == "network-load-balancers" { nlbs } else { max }))
        .enumerate()
        .collect();
    let (limits, next) = page(c, limits, |(i, _)| format!("{i:04}"))?;
    let mut x = Xml::new();
    x.members("Limits", &limits, |x, (_, (name, max))| {
        x.leaf("Name", name);
        x.leaf("Max", max.to_string());
    });
    x.opt("NextMarker", next);
    Ok(x)
}
