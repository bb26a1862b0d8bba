//! The world as the console draws it: per region, accounts' VPCs with
//! their subnets, NLBs with nodes, listeners, target groups and targets'
//! health, endpoint services, and endpoints with their ENIs.

use serde_json::{json, Value};

use crate::model::World;

pub fn topology(w: &World) -> Value {
    let mut regions: Vec<Value> = Vec::new();
    let mut names: Vec<&str> = w.regions().map(|r| r.name.as_str()).collect();
    names.sort();
    for name in names {
        let Some(r) = w.region(name) else { continue };
        let vpcs: Vec<Value> = r
            .vpcs
            .values()
            .map(|v| {
                let subnets: Vec<Value> = r
                    .subnets
                    .values()
                    .filter(|s| s.vpc_id == v.id)
                    .map(|s| json!({"id": s.id, "cidr": s.cidr.to_string(), "zone": s.availability_zone}))
                    .collect();
                json!({"id": v.id, "owner": v.owner, "cidr": v.cidr.to_string(), "subnets": subnets})
            })
            .collect();
        let target_groups = |lb_arn: &str| -> Vec<Value> {
            r.listeners
                .values()
                .filter(|l| l.load_balancer_arn == lb_arn)
                .map(|l| {
                    let tg = r.target_groups.get(&l.target_group_arn);
                    let targets: Vec<Value> = tg
                        .map(|tg| {
                            tg.targets
                                .iter()
                                .map(|t| {
                                    json!({"id": t.id, "port": t.port, "zone": t.availability_zone,
                                           "health": t.health.as_str(), "reason": t.reason})
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    json!({
                        "listener": format!("{} {}", l.protocol, l.port),
                        "target_group": tg.map(|t| t.name.clone()), "target_group_arn": l.target_group_arn,
                        "targets": targets,
                    })
                })
                .collect()
        };
        let load_balancers: Vec<Value> = r
            .load_balancers
            .values()
            .map(|l| {
                json!({
                    "arn": l.arn, "name": l.name, "owner": l.owner, "state": l.state, "vpc_id": l.vpc_id,
                    "nodes": l.nodes.iter().map(|n| json!({"zone": n.availability_zone, "address": n.private_ip.to_string(), "eni": n.network_interface_id})).collect::<Vec<_>>(),
                    "listeners": target_groups(&l.arn),
                })
            })
            .collect();
        let services: Vec<Value> = r
            .services
            .values()
            .map(|s| {
                json!({
                    "id": s.id, "name": s.name, "owner": s.owner, "state": s.state.as_str(),
                    "acceptance_required": s.acceptance_required,
                    "allowed_principals": s.principals.iter().map(|p| p.principal.clone()).collect::<Vec<_>>(),
                    "load_balancers": s.network_load_balancer_arns,
                })
            })
            .collect();
        let endpoints: Vec<Value> = r
            .endpoints
            .values()
            .map(|e| {
                let enis: Vec<Value> = e
                    .network_interface_ids
                    .iter()
                    .filter_map(|n| r.network_interfaces.get(n))
                    .map(|n| json!({"id": n.id, "zone": n.availability_zone, "address": n.private_ip.to_string()}))
                    .collect();
                json!({
                    "id": e.id, "owner": e.owner, "vpc_id": e.vpc_id, "state": e.state.as_str(),
                    "service_id": e.service_id, "service_name": e.service_name,
                    "service_region": e.service_region(), "enis": enis,
                })
            })
            .collect();
        regions.push(json!({
            "region": name, "vpcs": vpcs, "load_balancers": load_balancers,
            "services": services, "endpoints": endpoints,
        }));
    }
    Value::Array(regions)
}
