//! Endpoint services: the provider's configurations, permissions and
//! connections, and the consumer's DescribeVpcEndpointServices.

use super::endpoints::render_dns_entries;
use super::{page, render_tags, render_unsuccessful, Ctx};
use crate::api::xml::{timestamp, Xml};
use crate::model::aws_service::ServiceDetail;
use crate::model::service::{CreateService, ModifyService};
use crate::model::{check_max_results, EndpointService, Error, Result};

/// How a service configuration is answered. `created`: the answer to
/// CreateVpcEndpointServiceConfiguration, which has no `tagSet` when the
/// service has no tags (the describe answers an empty one).
pub fn render_service(x: &mut Xml, s: &EndpointService, created: bool) {
    x.items("serviceType", [()], |x, _| x.leaf("serviceType", "Interface"));
    x.leaf("serviceId", &s.id);
    x.leaf("serviceName", &s.name);
    x.leaf("serviceState", s.state.as_str());
    x.item_strings("availabilityZoneSet", &s.availability_zones);
    x.bool("acceptanceRequired", s.acceptance_required);
    x.bool("managesVpcEndpoints", false);
    x.item_strings("networkLoadBalancerArnSet", &s.network_load_balancer_arns);
    x.item_strings("supportedIpAddressTypeSet", &s.supported_ip_address_types);
    x.item_strings("baseEndpointDnsNameSet", [s.base_dns_name()]);
    x.opt("privateDnsName", s.private_dns.as_ref().map(|p| &p.name));
    // Present, empty, on a service without a private DNS name.
    x.node("privateDnsNameConfiguration", |x| {
        if let Some(p) = &s.private_dns {
            x.leaf("state", p.state.as_str());
            x.leaf("type", "TXT");
            x.leaf("value", &p.txt_value);
            x.leaf("name", &p.txt_name);
        }
    });
    x.opt("payerResponsibility", s.payer_responsibility.as_ref());
    x.items("supportedRegionSet", &s.supported_regions, |x, r| {
        x.leaf("region", r);
        x.leaf("serviceState", s.state.as_str());
    });
    x.bool("remoteAccessEnabled", false);
    if !(created && s.tags.is_empty()) {
        render_tags(x, &s.tags);
    }
}

pub fn create_service_configuration(c: &mut Ctx) -> Result<Xml> {
    let req = CreateService {
        acceptance_required: c.p.bool("AcceptanceRequired")?,
        private_dns_name: c.p.string("PrivateDnsName"),
        network_load_balancer_arns: c.p.list("NetworkLoadBalancerArn"),
        gateway_load_balancer_arns: c.p.list("GatewayLoadBalancerArn"),
        supported_ip_address_types: c.p.list("SupportedIpAddressType"),
        supported_regions: c.p.list("SupportedRegion"),
        client_token: c.p.string("ClientToken"),
        tags: c.p.tag_specifications("vpc-endpoint-service")?,
    };
    let token = req.client_token.clone();
    let dry = c.p.flag("DryRun")?;
    let s = c.world.create_service(c.caller, c.now, req, dry)?;
    let mut x = Xml::new();
    x.node("serviceConfiguration", |x| render_service(x, &s, true));
    x.opt("clientToken", token);
    Ok(x)
}

pub fn describe_service_configurations(c: &mut Ctx) -> Result<Xml> {
    let list = c.world.describe_service_configurations(c.caller, &c.p.list("ServiceId"), &c.p.filters()?)?;
    let (list, next) = page(c.p, list, |s| s.id.clone())?;
    let mut x = Xml::new();
    x.items("serviceConfigurationSet", &list, |x, s| render_service(x, s, false));
    x.opt("nextToken", next);
    Ok(x)
}

pub fn modify_service_configuration(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("ServiceId")?.to_string();
    let req = ModifyService {
        private_dns_name: c.p.string("PrivateDnsName"),
        remove_private_dns_name: c.p.flag("RemovePrivateDnsName")?,
        acceptance_required: c.p.bool("AcceptanceRequired")?,
        add_network_load_balancer_arns: c.p.list("AddNetworkLoadBalancerArn"),
        remove_network_load_balancer_arns: c.p.list("RemoveNetworkLoadBalancerArn"),
        add_supported_ip_address_types: c.p.list("AddSupportedIpAddressType"),
        remove_supported_ip_address_types: c.p.list("RemoveSupportedIpAddressType"),
        add_supported_regions: c.p.list("AddSupportedRegion"),
        remove_supported_regions: c.p.list("RemoveSupportedRegion"),
    };
    let dry = c.p.flag("DryRun")?;
    c.world.modify_service(c.caller, &id, req, dry)?;
    Ok(Xml::returns_true())
}

pub fn delete_service_configurations(c: &mut Ctx) -> Result<Xml> {
    let ids = c.p.list("ServiceId");
    if ids.is_empty() {
        return Err(Error::missing("ServiceId"));
    }
    c.dry_run()?;
    let failed = c.world.delete_services(c.caller, c.now, &ids);
    let mut x = Xml::new();
    render_unsuccessful(&mut x, &failed);
    Ok(x)
}

pub fn modify_permissions(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("ServiceId")?.to_string();
    let add = c.p.list("AddAllowedPrincipals");
    let remove = c.p.list("RemoveAllowedPrincipals");
    let dry = c.p.flag("DryRun")?;
    let added = c.world.modify_service_permissions(c.caller, &id, &add, &remove, dry)?;
    let mut x = Xml::new();
    x.items("addedPrincipalSet", &added, |x, p| {
        x.leaf("principalType", p.principal_type());
        x.leaf("principal", &p.principal);
        x.leaf("servicePermissionId", &p.id);
        x.leaf("serviceId", &id);
    });
    x.bool("return", true);
    Ok(x)
}

pub fn describe_permissions(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("ServiceId")?.to_string();
    let filters = c.p.filters()?;
    crate::model::tags::check_filter_names(&filters, &["principal", "principal-type"])?;
    let s = c.world.own_service(c.caller, &id)?;
    let list: Vec<_> = s
        .principals
        .iter()
        .filter(|p| {
            filters.iter().all(|f| {
                let have = if f.name == "principal" { p.principal.as_str() } else { p.principal_type() };
                f.values.iter().any(|v| crate::model::tags::glob_match(v, have))
            })
        })
        .cloned()
        .collect();
    c.dry_run()?;
    let (list, next) = page(c.p, list, |p| p.id.clone())?;
    let mut x = Xml::new();
    x.items("allowedPrincipals", &list, |x, p| {
        x.leaf("principalType", p.principal_type());
        x.leaf("principal", &p.principal);
        x.leaf("servicePermissionId", &p.id);
        x.leaf("serviceId", &id);
    });
    x.opt("nextToken", next);
    Ok(x)
}

pub fn modify_payer_responsibility(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("ServiceId")?.to_string();
    let payer = c.p.required("PayerResponsibility")?.to_string();
    let dry = c.p.flag("DryRun")?;
    c.world.modify_payer_responsibility(c.caller, &id, &payer, dry)?;
    Ok(Xml::returns_true())
}

pub fn start_private_dns_verification(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("ServiceId")?.to_string();
    let dry = c.p.flag("DryRun")?;
    c.world.start_private_dns_verification(c.caller, &id, dry)?;
    Ok(Xml::returns_true())
}

fn render_detail(x: &mut Xml, s: &ServiceDetail) {
    x.leaf("serviceName", &s.name);
    x.leaf("serviceId", &s.id);
    x.items("serviceType", [()], |x, _| x.leaf("serviceType", s.service_type));
    x.leaf("serviceRegion", &s.region);
    x.item_strings("availabilityZoneSet", &s.availability_zones);
    x.leaf("owner", &s.owner);
    x.item_strings("baseEndpointDnsNameSet", [&s.base_dns_name]);
    if let Some(name) = &s.private_dns_name {
        x.leaf("privateDnsName", name);
        x.items("privateDnsNameSet", [name], |x, n| x.leaf("privateDnsName", n));
    }
    x.bool("vpcEndpointPolicySupported", s.endpoint_policy_supported);
    x.bool("acceptanceRequired", s.acceptance_required);
    x.bool("managesVpcEndpoints", false);
    x.opt("payerResponsibility", s.payer_responsibility.as_ref());
    render_tags(x, &s.tags);
    x.opt("privateDnsNameVerificationState", s.verification_state.as_ref());
    x.item_strings("supportedIpAddressTypeSet", &s.supported_ip_address_types);
}

pub fn describe_services(c: &mut Ctx) -> Result<Xml> {
    let list =
        c.world.describe_services(c.caller, &c.p.list("ServiceName"), &c.p.list("ServiceRegion"), &c.p.filters()?)?;
    let (list, next) = page(c.p, list, |s| format!("{}\u{1}{}", s.name, s.service_type))?;
    let mut names: Vec<&String> = list.iter().map(|s| &s.name).collect();
    names.dedup();
    let mut x = Xml::new();
    x.item_strings("serviceNameSet", names);
    x.items("serviceDetailSet", &list, render_detail);
    x.opt("nextToken", next);
    Ok(x)
}

pub fn describe_connections(c: &mut Ctx) -> Result<Xml> {
    let filters = c.p.filters()?;
    check_max_results(c.p.int("MaxResults")?)?;
    let list = c.world.describe_connections(c.caller, &filters)?;
    let (list, next) = page(c.p, list, |c| format!("{}{}", c.service_id, c.endpoint.id))?;
    let mut x = Xml::new();
    x.items("vpcEndpointConnectionSet", &list, |x, conn| {
        let e = &conn.endpoint;
        x.leaf("serviceId", &conn.service_id);
        x.leaf("vpcEndpointId", &e.id);
        x.leaf("vpcEndpointOwner", &e.owner);
        x.leaf("vpcEndpointState", e.state.as_str());
        x.leaf("creationTimestamp", timestamp(e.created));
        render_dns_entries(x, e);
        x.item_strings("networkLoadBalancerArnSet", &conn.network_load_balancer_arns);
        x.leaf("ipAddressType", &e.ip_address_type);
        x.leaf("vpcEndpointConnectionId", &e.connection_id);
        x.leaf("vpcEndpointRegion", &e.region);
    });
    x.opt("nextToken", next);
    Ok(x)
}

pub fn accept_connections(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("ServiceId")?.to_string();
    let endpoints = c.p.list("VpcEndpointId");
    if endpoints.is_empty() {
        return Err(Error::missing("VpcEndpointId"));
    }
    let dry = c.p.flag("DryRun")?;
    let failed = c.world.accept_connections(c.caller, c.now, &id, &endpoints, dry)?;
    let mut x = Xml::new();
    render_unsuccessful(&mut x, &failed);
    Ok(x)
}

pub fn reject_connections(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("ServiceId")?.to_string();
    let endpoints = c.p.list("VpcEndpointId");
    if endpoints.is_empty() {
        return Err(Error::missing("VpcEndpointId"));
    }
    let dry = c.p.flag("DryRun")?;
    let failed = c.world.reject_connections(c.caller, &id, &endpoints, dry)?;
    let mut x = Xml::new();
    render_unsuccessful(&mut x, &failed);
    Ok(x)
}
