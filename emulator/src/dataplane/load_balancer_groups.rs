//! The security groups of a Network Load Balancer, as they filter flows that
//! reach it through PrivateLink endpoints.
//!
//! AWS applies an NLB's inbound rules to PrivateLink traffic unless
//! EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic is `off`, and an NLB
//! created without security groups checks nothing. When the rules apply,
//! "the source of the traffic is the private IP address of the client, not
//! the endpoint interface" (Elastic Load Balancing, "Security groups for your
//! Network Load Balancer"). So a rule admits a flow by the consumer's client
//! address: an address range, the ranges of a prefix list, or a security
//! group whose network interfaces hold that address. A group reference
//! reaches the interfaces of the NLB's own VPC only (PrivateLink is no
//! peering), so it admits clients of an endpoint in the NLB's VPC and no
//! one from another VPC; and a rule naming the endpoint's group admits
//! nothing by it, as the endpoint interface is never the source.

use std::net::Ipv4Addr;

use crate::addressing::VpcBlock;
use crate::model::elb::LoadBalancer;
use crate::model::net::Ipv4Cidr;
use crate::model::security_group::Peer;
use crate::model::{prefix_list, IpPermission, Region};

/// The interface type of endpoint interfaces, which are never a source.
const ENDPOINT_INTERFACE: &str = "vpc_endpoint";

/// One inbound rule of an NLB's groups, resolved for the flows of one
/// consumer VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRule {
    /// Protocol and ports, with the rule's address range or its prefix
    /// list's ranges (no group peers: those are `members`).
    pub permission: IpPermission,
    /// The groups the rule names that can match these flows: groups of the
    /// NLB's VPC, when the consumer's VPC is that VPC.
    pub groups: Vec<String>,
    /// Private addresses of that VPC's network interfaces (endpoint
    /// interfaces aside) that hold one of `groups`.
    pub members: Vec<Ipv4Addr>,
}

/// The inbound rules of `lb` (in `home`) that apply to flows from clients in
/// VPC `consumer_vpc` of region `consumer_region`, or `None` when the NLB
/// checks no PrivateLink traffic (no groups, or enforcement off).
pub fn inbound_rules(
    home: &Region,
    lb: &LoadBalancer,
    consumer_region: &str,
    consumer_vpc: &str,
) -> Option<Vec<InboundRule>> {
    if !lb.enforces_inbound_rules_on_private_link() {
        return None;
    }
    let same_vpc = home.name == consumer_region && lb.vpc_id == consumer_vpc;
    let mut out = Vec::new();
    for group in lb.security_groups.iter().filter_map(|g| home.security_groups.get(g)) {
        for rule in group.rules.iter().filter(|r| !r.egress) {
            let mut resolved = InboundRule {
                permission: IpPermission {
                    protocol: rule.protocol.clone(),
                    from_port: rule.from_port,
                    to_port: rule.to_port,
                    ranges: vec![],
                    groups: vec![],
                },
                groups: vec![],
                members: vec![],
            };
            match &rule.peer {
                Peer::Ipv4(cidr) => resolved.permission.ranges.push((*cidr, None)),
                Peer::PrefixList(id) => {
                    let list = prefix_list::managed(&home.name).into_iter().find(|l| &l.id == id);
                    let cidrs = list.map(|l| l.cidrs).unwrap_or_default();
                    let ranges = cidrs.iter().filter_map(|c| c.parse::<Ipv4Cidr>().ok()).map(|c| (c, None));
                    resolved.permission.ranges.extend(ranges);
                }
                Peer::Group { id, .. } => {
                    let in_vpc = home.security_groups.get(id).is_some_and(|g| g.vpc_id == lb.vpc_id);
                    if same_vpc && in_vpc {
                        resolved.groups.push(id.clone());
                        resolved.members.extend(
                            home.network_interfaces
                                .values()
                                .filter(|n| n.vpc_id == lb.vpc_id && n.interface_type != ENDPOINT_INTERFACE)
                                .filter(|n| n.group_ids.contains(id))
                                .map(|n| n.private_ip),
                        );
                    }
                }
                // The data plane carries IPv4 only.
                Peer::Ipv6(_) => {}
            }
            out.push(resolved);
        }
    }
    Some(out)
}

/// Does any rule admit a TCP flow to `port` from `source`, the client's
/// address in the consumer VPC? `None` is a client on the host outside every
/// VPC block, counted (as for the endpoint's own groups) as an unnamed host
/// of the consumer VPC: a range overlapping the VPC admits it, a group does
/// not, as no interface of the group holds its address.
pub fn admits(rules: &[InboundRule], port: u16, consumer: &VpcBlock, source: Option<Ipv4Addr>) -> bool {
    rules.iter().any(|rule| {
        rule.permission.allows_port("tcp", port)
            && match source {
                Some(ip) => {
                    rule.permission.ranges.iter().any(|(cidr, _)| cidr.contains(ip)) || rule.members.contains(&ip)
                }
                None => rule.permission.ranges.iter().any(|(cidr, _)| cidr.overlaps(&consumer.cidr)),
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer() -> VpcBlock {
        VpcBlock { cidr: "10.24.0.0/16".parse().unwrap(), host_block: 2, shares_block: false, attached: false }
    }

    fn rule(protocol: &str, ports: Option<(i32, i32)>, cidr: Option<&str>, members: &[&str]) -> InboundRule {
        InboundRule {
            permission: IpPermission {
                protocol: protocol.into(),
                from_port: ports.map(|p| p.0),
                to_port: ports.map(|p| p.1),
                ranges: cidr.map(|c| (c.parse().unwrap(), None)).into_iter().collect(),
                groups: vec![],
            },
            groups: if members.is_empty() { vec![] } else { vec!["sg-0123456789abcdef0".into()] },
            members: members.iter().map(|m| m.parse().unwrap()).collect(),
        }
    }

    fn ip(s: &str) -> Option<Ipv4Addr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn ranges_admit_the_client_address_on_the_listener_port() {
        let rules = [rule("tcp", Some((80, 80)), Some("10.24.16.0/20"), &[])];
        assert!(admits(&rules, 80, &consumer(), ip("10.24.16.99")));
        assert!(!admits(&rules, 80, &consumer(), ip("10.24.200.1")), "outside the range");
        assert!(!admits(&rules, 443, &consumer(), ip("10.24.16.99")), "another port");
        assert!(admits(&rules, 80, &consumer(), None), "a host client is an unnamed host of the VPC");
        let elsewhere = [rule("tcp", Some((80, 80)), Some("192.168.0.0/16"), &[])];
        assert!(!admits(&elsewhere, 80, &consumer(), None));
        let all = [rule("-1", None, Some("0.0.0.0/0"), &[])];
        assert!(admits(&all, 8443, &consumer(), ip("10.24.16.99")));
        let range = [rule("tcp", Some((8000, 9000)), Some("10.24.0.0/16"), &[])];
        assert!(admits(&range, 8080, &consumer(), ip("10.24.16.99")));
        let udp = [rule("udp", Some((80, 80)), Some("10.24.0.0/16"), &[])];
        assert!(!admits(&udp, 80, &consumer(), ip("10.24.16.99")), "UDP rules say nothing of TCP");
    }

    #[test]
    fn no_rules_admit_nothing() {
        assert!(!admits(&[], 80, &consumer(), ip("10.24.16.99")));
        assert!(!admits(&[], 80, &consumer(), None));
    }

    #[test]
    fn groups_admit_the_addresses_of_their_interfaces_only() {
        let rules = [rule("tcp", Some((80, 80)), None, &["10.24.16.50"])];
        assert!(admits(&rules, 80, &consumer(), ip("10.24.16.50")));
        assert!(!admits(&rules, 80, &consumer(), ip("10.24.16.99")), "an address no member holds");
        assert!(!admits(&rules, 80, &consumer(), None), "an unnamed host holds no group");
        let empty = [rule("tcp", Some((80, 80)), None, &[])];
        assert!(!admits(&empty, 80, &consumer(), ip("10.24.16.50")));
    }
}
