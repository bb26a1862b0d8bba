//! The listeners of an NLB's own clients: at each node's address, for
//! clients in the NLB's VPC that reach it by its DNS name rather than
//! through an endpoint.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use super::{block, ingress_of, target_routes, FlowNames, Route};
use crate::dataplane::tls_listener::Termination;
use crate::model::{IpPermission, Region};

/// Listeners at the node addresses of the region's active load balancers,
/// for clients of the NLB itself. Endpoints' listeners are at their ENIs'
/// addresses, so the two never share an address.
pub(super) fn listeners(region: &Region, port_offset: u16, out: &mut HashMap<SocketAddrV4, Arc<Route>>) {
    for lb in region.load_balancers.values().filter(|lb| lb.state == "active") {
        let Some(vpc) = block(region, &lb.vpc_id) else { continue };
        let ingress = if lb.security_groups.is_empty() {
            vec![IpPermission {
                protocol: "-1".into(),
                from_port: None,
                to_port: None,
                ranges: crate::model::net::Ipv4Cidr::new(Ipv4Addr::UNSPECIFIED, 0)
                    .map(|c| (c, None))
                    .into_iter()
                    .collect(),
                groups: vec![],
            }]
        } else {
            ingress_of(region, &lb.security_groups)
        };
        for listener in region.listeners.values().filter(|l| l.load_balancer_arn == lb.arn) {
            let Some(tg) = region.target_groups.get(&listener.target_group_arn) else { continue };
            let Some(host_port) = listener.port.checked_add(port_offset) else { continue };
            let targets = target_routes(region, tg);
            let tls = Termination::of(region, lb, listener).map(Arc::new);
            for node in &lb.nodes {
                let Some(node_host) = vpc.host_addr(node.private_ip) else { continue };
                out.insert(
                    SocketAddrV4::new(node_host, host_port),
                    Arc::new(Route {
                        endpoint_id: lb.arn.clone(),
                        region: region.name.clone(),
                        eni_addr: node.private_ip,
                        port: listener.port,
                        zone: node.availability_zone.clone(),
                        consumer: vpc,
                        ingress: ingress.clone(),
                        // Not PrivateLink traffic: `ingress` already holds
                        // the NLB's groups, whatever the enforcement says.
                        load_balancer_ingress: None,
                        node_addr: node.private_ip,
                        node_host,
                        target_group_arn: tg.arn.clone(),
                        targets: targets.clone(),
                        cross_zone: lb.cross_zone(),
                        proxy_protocol_v2: tg.proxy_protocol_v2(),
                        idle_timeout_seconds: listener.tcp_idle_timeout_seconds,
                        target_tls: tls.is_some() && tg.protocol == "TLS",
                        tls: tls.clone(),
                        direct: true,
                        // The client and the target both meet the NLB's
                        // ENI: both of its records are on it.
                        names: Arc::new(FlowNames {
                            consumer_account: lb.owner.clone(),
                            endpoint_eni: node.network_interface_id.clone(),
                            provider_account: lb.owner.clone(),
                            load_balancer_eni: node.network_interface_id.clone(),
                        }),
                        unavailable: None,
                    }),
                );
            }
        }
    }
}
