//! EC2 (protocol `ec2`): lists are `Name.N`, answers use `<item>` lists
//! and lowerCamel names, with no Result wrapper.

mod endpoints;
mod network_interfaces;
mod notifications;
mod prefix_lists;
mod regions;
mod route_tables;
mod security_groups;
mod services;
mod subnets;
mod tags;
mod vpcs;

use crate::api::query::Params;
use crate::api::xml::Xml;
use crate::api::{Access, Action};
use crate::model::{self, check_max_results, Caller, Error, Millis, Result, Tags, Unsuccessful, World};
use Access::{Read, Write};

pub const VERSION: &str = "2016-11-15";

/// What a handler works with.
pub struct Ctx<'a> {
    pub world: &'a mut World,
    pub caller: &'a Caller,
    pub now: Millis,
    pub p: &'a Params,
}

impl Ctx<'_> {
    /// DryRun=true: everything checked so far passed, so answer DryRunOperation.
    pub fn dry_run(&self) -> Result<()> {
        model::dry_run(self.p.flag("DryRun")?)
    }
}

impl Xml {
    pub fn returns_true() -> Xml {
        let mut x = Xml::new();
        x.bool("return", true);
        x
    }
}

pub fn render_tags(x: &mut Xml, tags: &Tags) {
    x.items("tagSet", tags, |x, (k, v)| {
        x.leaf("key", k);
        x.leaf("value", v);
    });
}

pub fn render_unsuccessful(x: &mut Xml, failed: &[Unsuccessful]) {
    x.items("unsuccessful", failed, |x, u| {
        x.node("error", |x| {
            x.leaf("code", u.error.code);
            x.leaf("message", &u.error.message);
        });
        x.leaf("resourceId", &u.resource_id);
    });
}

/// MaxResults / NextToken over a listing ordered by `key`.
pub fn page<T: Clone>(p: &Params, items: Vec<T>, key: impl Fn(&T) -> String) -> Result<(Vec<T>, Option<String>)> {
    let max = check_max_results(p.int("MaxResults")?)?;
    let mut keyed: Vec<(String, T)> = items.into_iter().map(|t| (key(&t), t)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    model::paginate(keyed, max, p.get("NextToken"))
}

/// Every EC2 action the emulator answers: dispatch, dry runs and the
/// README's list of supported actions come from this table.
pub const ACTIONS: &[Action] = &[
    Action::new("CreateVpc", Write, vpcs::create_vpc),
    Action::new("DescribeVpcs", Read, vpcs::describe_vpcs),
    Action::new("DeleteVpc", Write, vpcs::delete_vpc),
    Action::new("ModifyVpcAttribute", Write, vpcs::modify_vpc_attribute),
    Action::new("DescribeVpcAttribute", Read, vpcs::describe_vpc_attribute),
    Action::new("CreateDefaultVpc", Write, vpcs::create_default_vpc),
    Action::new("DescribeAccountAttributes", Read, regions::describe_account_attributes),
    Action::new("DescribeNetworkAcls", Read, vpcs::describe_network_acls),
    Action::new("CreateSubnet", Write, subnets::create_subnet),
    Action::new("DescribeSubnets", Read, subnets::describe_subnets),
    Action::new("DeleteSubnet", Write, subnets::delete_subnet),
    Action::new("ModifySubnetAttribute", Write, subnets::modify_subnet_attribute),
    Action::new("CreateSecurityGroup", Write, security_groups::create_security_group),
    Action::new("DescribeSecurityGroups", Read, security_groups::describe_security_groups),
    Action::new("DeleteSecurityGroup", Write, security_groups::delete_security_group),
    Action::new("AuthorizeSecurityGroupIngress", Write, security_groups::authorize_ingress),
    Action::new("RevokeSecurityGroupIngress", Write, security_groups::revoke_ingress),
    Action::new("AuthorizeSecurityGroupEgress", Write, security_groups::authorize_egress),
    Action::new("RevokeSecurityGroupEgress", Write, security_groups::revoke_egress),
    Action::new("DescribeSecurityGroupRules", Read, security_groups::describe_security_group_rules),
    Action::new("ModifySecurityGroupRules", Write, security_groups::modify_security_group_rules),
    Action::new("UpdateSecurityGroupRuleDescriptionsIngress", Write, security_groups::update_descriptions_ingress),
    Action::new("UpdateSecurityGroupRuleDescriptionsEgress", Write, security_groups::update_descriptions_egress),
    Action::new("GetSecurityGroupsForVpc", Read, security_groups::get_security_groups_for_vpc),
    Action::new("DescribeNetworkInterfaces", Read, network_interfaces::describe_network_interfaces),
    Action::new("CreateNetworkInterface", Write, network_interfaces::create_network_interface),
    Action::new("DeleteNetworkInterface", Write, network_interfaces::delete_network_interface),
    Action::new("DescribeNetworkInterfaceAttribute", Read, network_interfaces::describe_network_interface_attribute),
    Action::new("ModifyNetworkInterfaceAttribute", Write, network_interfaces::modify_network_interface_attribute),
    Action::new("DescribeAvailabilityZones", Read, regions::describe_availability_zones),
    Action::new("DescribeRegions", Read, regions::describe_regions),
    Action::new("CreateTags", Write, tags::create_tags),
    Action::new("DeleteTags", Write, tags::delete_tags),
    Action::new("DescribeTags", Read, tags::describe_tags),
    Action::new("CreateVpcEndpointServiceConfiguration", Write, services::create_service_configuration),
    Action::new("DescribeVpcEndpointServiceConfigurations", Read, services::describe_service_configurations),
    Action::new("ModifyVpcEndpointServiceConfiguration", Write, services::modify_service_configuration),
    Action::new("DeleteVpcEndpointServiceConfigurations", Write, services::delete_service_configurations),
    Action::new("ModifyVpcEndpointServicePermissions", Write, services::modify_permissions),
    Action::new("DescribeVpcEndpointServicePermissions", Read, services::describe_permissions),
    Action::new("ModifyVpcEndpointServicePayerResponsibility", Write, services::modify_payer_responsibility),
    Action::new("StartVpcEndpointServicePrivateDnsVerification", Write, services::start_private_dns_verification),
    Action::new("DescribeVpcEndpointConnections", Read, services::describe_connections),
    Action::new("AcceptVpcEndpointConnections", Write, services::accept_connections),
    Action::new("RejectVpcEndpointConnections", Write, services::reject_connections),
    Action::new("CreateVpcEndpointConnectionNotification", Write, notifications::create_notification),
    Action::new("DescribeVpcEndpointConnectionNotifications", Read, notifications::describe_notifications),
    Action::new("ModifyVpcEndpointConnectionNotification", Write, notifications::modify_notification),
    Action::new("DeleteVpcEndpointConnectionNotifications", Write, notifications::delete_notifications),
    Action::new("DescribeVpcEndpointServices", Read, services::describe_services),
    Action::new("CreateVpcEndpoint", Write, endpoints::create_endpoint),
    Action::new("DescribeVpcEndpoints", Read, endpoints::describe_endpoints),
    Action::new("ModifyVpcEndpoint", Write, endpoints::modify_endpoint),
    Action::new("DeleteVpcEndpoints", Write, endpoints::delete_endpoints),
    Action::new("DescribeVpcEndpointAssociations", Read, endpoints::describe_associations),
    Action::new("CreateRouteTable", Write, route_tables::create_route_table),
    Action::new("DescribeRouteTables", Read, route_tables::describe_route_tables),
    Action::new("DeleteRouteTable", Write, route_tables::delete_route_table),
    Action::new("AssociateRouteTable", Write, route_tables::associate_route_table),
    Action::new("DisassociateRouteTable", Write, route_tables::disassociate_route_table),
    Action::new("ReplaceRouteTableAssociation", Write, route_tables::replace_route_table_association),
    Action::new("CreateRoute", Write, route_tables::create_route),
    Action::new("ReplaceRoute", Write, route_tables::replace_route),
    Action::new("DeleteRoute", Write, route_tables::delete_route),
    Action::new("DescribePrefixLists", Read, prefix_lists::describe_prefix_lists),
    Action::new("DescribeManagedPrefixLists", Read, prefix_lists::describe_managed_prefix_lists),
    Action::new("GetManagedPrefixListEntries", Read, prefix_lists::get_managed_prefix_list_entries),
];

/// Runs one EC2 action; the answer is the body inside `<ActionResponse>`.
pub fn dispatch(action: &str, c: &mut Ctx) -> Result<Xml> {
    let Some(a) = super::find(ACTIONS, action) else {
        return Err(Error::new("InvalidAction", format!("The action {action} is not valid for this web service.")));
    };
    let answer = (a.handler)(c)?;
    // Writing handlers stop before they change anything; a reading one is
    // simply run, and a dry run of it reports that it would have worked.
    if a.access == Access::Read {
        c.dry_run()?;
    }
    Ok(answer)
}
