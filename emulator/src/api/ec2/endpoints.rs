//! Interface endpoints, the consumer side.

use std::net::Ipv4Addr;

use super::{page, render_tags, render_unsuccessful, Ctx};
use crate::api::xml::{timestamp, Xml};
use crate::model::endpoint::{CreateEndpoint, EndpointType, ModifyEndpoint};
use crate::model::{self, Error, Result, VpcEndpoint};

pub fn render_dns_entries(x: &mut Xml, e: &VpcEndpoint) {
    x.items("dnsEntrySet", &e.dns_entries, |x, d| {
        x.leaf("dnsName", &d.dns_name);
        x.leaf("hostedZoneId", &d.hosted_zone_id);
    });
}

/// A gateway endpoint, with the fields AWS answers for one (no address
/// type, DNS options or names).
fn render_gateway_endpoint(x: &mut Xml, e: &VpcEndpoint) {
    x.leaf("vpcEndpointId", &e.id);
    x.leaf("vpcEndpointType", "Gateway");
    x.leaf("vpcId", &e.vpc_id);
    x.leaf("serviceName", &e.service_name);
    x.leaf("state", e.state.as_str());
    x.opt("policyDocument", e.policy_document.as_ref());
    x.item_strings("routeTableIdSet", &e.route_table_ids);
    x.item_strings("subnetIdSet", &e.subnet_ids);
    x.node("groupSet", |_| {});
    x.bool("privateDnsEnabled", false);
    x.bool("requesterManaged", false);
    x.node("networkInterfaceIdSet", |_| {});
    x.node("dnsEntrySet", |_| {});
    x.leaf("creationTimestamp", timestamp(e.created));
    render_tags(x, &e.tags);
    x.leaf("ownerId", &e.owner);
}

/// How an interface endpoint is answered. `created`: the answer to
/// CreateVpcEndpoint, which has no `tagSet` when the endpoint has no tags
/// (DescribeVpcEndpoints answers an empty one).
pub fn render_endpoint(x: &mut Xml, e: &VpcEndpoint, region: Option<&model::Region>, created: bool) {
    if e.endpoint_type == EndpointType::Gateway {
        return render_gateway_endpoint(x, e);
    }
    x.leaf("vpcEndpointId", &e.id);
    x.leaf("vpcEndpointType", "Interface");
    x.leaf("vpcId", &e.vpc_id);
    x.leaf("serviceName", &e.service_name);
    x.leaf("state", e.state.as_str());
    x.opt("policyDocument", e.policy_document.as_ref());
    x.node("routeTableIdSet", |_| {});
    x.item_strings("subnetIdSet", &e.subnet_ids);
    x.items("groupSet", &e.group_ids, |x, gid| {
        x.leaf("groupId", gid);
        if let Some(g) = region.and_then(|r| r.security_groups.get(gid)) {
            x.leaf("groupName", &g.name);
        }
    });
    x.leaf("ipAddressType", &e.ip_address_type);
    x.node("dnsOptions", |x| {
        x.leaf("dnsRecordIpType", &e.dns_record_ip_type);
        x.bool("privateDnsOnlyForInboundResolverEndpoint", false);
    });
    x.bool("privateDnsEnabled", e.private_dns_enabled);
    x.bool("requesterManaged", false);
    x.item_strings("networkInterfaceIdSet", &e.network_interface_ids);
    render_dns_entries(x, e);
    x.leaf("creationTimestamp", timestamp(e.created));
    if !(created && e.tags.is_empty()) {
        render_tags(x, &e.tags);
    }
    x.leaf("ownerId", &e.owner);
    x.leaf("serviceRegion", e.service_region());
    if let Some((code, message)) = &e.last_error {
        x.node("lastError", |x| {
            x.leaf("message", message);
            x.leaf("code", code);
        });
    }
}

pub fn create_endpoint(c: &mut Ctx) -> Result<Xml> {
    let mut subnet_addresses = Vec::new();
    for s in c.p.indexed("SubnetConfiguration") {
        let sid = s.required("SubnetId")?.to_string();
        if let Some(ip) = s.get("Ipv4") {
            let ip: Ipv4Addr = ip
                .parse()
                .map_err(|_| Error::invalid_value("SubnetConfiguration.Ipv4", ip, "Expected an IPv4 address."))?;
            subnet_addresses.push((sid, ip));
        }
    }
    let req = CreateEndpoint {
        vpc_id: c.p.required("VpcId")?.to_string(),
        service_name: c.p.required("ServiceName")?.to_string(),
        endpoint_type: c.p.string("VpcEndpointType"),
        subnet_ids: c.p.list("SubnetId"),
        subnet_addresses,
        security_group_ids: c.p.list("SecurityGroupId"),
        private_dns_enabled: c.p.bool("PrivateDnsEnabled")?,
        policy_document: c.p.string("PolicyDocument"),
        ip_address_type: c.p.string("IpAddressType"),
        dns_record_ip_type: c.p.string("DnsOptions.DnsRecordIpType"),
        client_token: c.p.string("ClientToken"),
        service_region: c.p.string("ServiceRegion"),
        tags: c.p.tag_specifications("vpc-endpoint")?,
        route_table_ids: c.p.list("RouteTableId"),
    };
    let token = req.client_token.clone();
    let dry = c.p.flag("DryRun")?;
    let e = c.world.create_endpoint(c.caller, c.now, req, dry)?;
    let region = c.world.region(&c.caller.region);
    let mut x = Xml::new();
    x.node("vpcEndpoint", |x| render_endpoint(x, &e, region, true));
    x.opt("clientToken", token);
    Ok(x)
}

pub fn describe_endpoints(c: &mut Ctx) -> Result<Xml> {
    let ids = c.p.list("VpcEndpointId");
    let filters = c.p.filters()?;
    model::check_max_results(c.p.int("MaxResults")?)?;
    // Paged by id before any endpoint is read, so a page costs its own size
    // and not the whole listing's.
    let found = c.world.describe_endpoint_ids(c.caller, &ids, &filters)?;
    let (found, next) = page(c.p, found, Clone::clone)?;
    let region = c.world.region(&c.caller.region);
    let list: Vec<&VpcEndpoint> = found.iter().filter_map(|id| region?.endpoints.get(id)).collect();
    let mut x = Xml::new();
    x.items("vpcEndpointSet", &list, |x, e| render_endpoint(x, e, region, false));
    x.opt("nextToken", next);
    Ok(x)
}

/// Interface and gateway endpoints have no service network or resource
/// associations: the listing is empty once the ids and filters check out.
pub fn describe_associations(c: &mut Ctx) -> Result<Xml> {
    model::check_max_results(c.p.int("MaxResults")?)?;
    c.world.describe_endpoint_associations(c.caller, &c.p.list("VpcEndpointId"), &c.p.filters()?)?;
    let (_, next) = page(c.p, Vec::<String>::new(), Clone::clone)?;
    let mut x = Xml::new();
    x.node("vpcEndpointAssociationSet", |_| {});
    x.opt("nextToken", next);
    Ok(x)
}

pub fn modify_endpoint(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("VpcEndpointId")?.to_string();
    let req = ModifyEndpoint {
        add_subnet_ids: c.p.list("AddSubnetId"),
        remove_subnet_ids: c.p.list("RemoveSubnetId"),
        add_security_group_ids: c.p.list("AddSecurityGroupId"),
        remove_security_group_ids: c.p.list("RemoveSecurityGroupId"),
        private_dns_enabled: c.p.bool("PrivateDnsEnabled")?,
        policy_document: c.p.string("PolicyDocument"),
        reset_policy: c.p.flag("ResetPolicy")?,
        add_route_table_ids: c.p.list("AddRouteTableId"),
        remove_route_table_ids: c.p.list("RemoveRouteTableId"),
    };
    let dry = c.p.flag("DryRun")?;
    c.world.modify_endpoint(c.caller, &id, req, dry)?;
    Ok(Xml::returns_true())
}

pub fn delete_endpoints(c: &mut Ctx) -> Result<Xml> {
    let ids = c.p.list("VpcEndpointId");
    if ids.is_empty() {
        return Err(Error::missing("VpcEndpointId"));
    }
    c.dry_run()?;
    let failed = c.world.delete_endpoints(c.caller, c.now, &ids);
    let mut x = Xml::new();
    render_unsuccessful(&mut x, &failed);
    Ok(x)
}
