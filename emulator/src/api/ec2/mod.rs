//! EC2 (protocol `ec2`): lists are `Name.N`, answers use `<item>` lists
//! and lowerCamel names, with no Result wrapper.

mod endpoints;
mod services;
mod vpc;

use crate::api::query::Params;
use crate::api::xml::Xml;
use crate::model::{self, check_max_results, Caller, Error, Millis, Result, Tags, Unsuccessful, World};

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

/// Every EC2 action the emulator answers.
pub const ACTIONS: &[&str] = &[
    "CreateVpc",
    "DescribeVpcs",
    "DeleteVpc",
    "ModifyVpcAttribute",
    "DescribeVpcAttribute",
    "CreateSubnet",
    "DescribeSubnets",
    "DeleteSubnet",
    "CreateSecurityGroup",
    "DescribeSecurityGroups",
    "DeleteSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "DescribeNetworkInterfaces",
    "DescribeAvailabilityZones",
    "DescribeRegions",
    "CreateTags",
    "DeleteTags",
    "DescribeTags",
    "CreateVpcEndpointServiceConfiguration",
    "DescribeVpcEndpointServiceConfigurations",
    "ModifyVpcEndpointServiceConfiguration",
    "DeleteVpcEndpointServiceConfigurations",
    "ModifyVpcEndpointServicePermissions",
    "DescribeVpcEndpointServicePermissions",
    "StartVpcEndpointServicePrivateDnsVerification",
    "DescribeVpcEndpointConnections",
    "AcceptVpcEndpointConnections",
    "RejectVpcEndpointConnections",
    "DescribeVpcEndpointServices",
    "CreateVpcEndpoint",
    "DescribeVpcEndpoints",
    "ModifyVpcEndpoint",
    "DeleteVpcEndpoints",
];

/// Runs one EC2 action; the answer is the body inside `<ActionResponse>`.
pub fn dispatch(action: &str, c: &mut Ctx) -> Result<Xml> {
    let answer = run(action, c)?;
    // Mutating handlers stop before they change anything; a read-only action
    // is simply run, and a dry run of it reports that it would have worked.
    if action.starts_with("Describe") {
        c.dry_run()?;
    }
    Ok(answer)
}

fn run(action: &str, c: &mut Ctx) -> Result<Xml> {
    match action {
        "CreateVpc" => vpc::create_vpc(c),
        "DescribeVpcs" => vpc::describe_vpcs(c),
        "DeleteVpc" => vpc::delete_vpc(c),
        "ModifyVpcAttribute" => vpc::modify_vpc_attribute(c),
        "DescribeVpcAttribute" => vpc::describe_vpc_attribute(c),
        "CreateSubnet" => vpc::create_subnet(c),
        "DescribeSubnets" => vpc::describe_subnets(c),
        "DeleteSubnet" => vpc::delete_subnet(c),
        "CreateSecurityGroup" => vpc::create_security_group(c),
        "DescribeSecurityGroups" => vpc::describe_security_groups(c),
        "DeleteSecurityGroup" => vpc::delete_security_group(c),
        "AuthorizeSecurityGroupIngress" => vpc::authorize_ingress(c),
        "RevokeSecurityGroupIngress" => vpc::revoke_ingress(c),
        "DescribeNetworkInterfaces" => vpc::describe_network_interfaces(c),
        "DescribeAvailabilityZones" => vpc::describe_availability_zones(c),
        "DescribeRegions" => vpc::describe_regions(c),
        "CreateTags" => vpc::create_tags(c),
        "DeleteTags" => vpc::delete_tags(c),
        "DescribeTags" => vpc::describe_tags(c),
        "CreateVpcEndpointServiceConfiguration" => services::create_service_configuration(c),
        "DescribeVpcEndpointServiceConfigurations" => services::describe_service_configurations(c),
        "ModifyVpcEndpointServiceConfiguration" => services::modify_service_configuration(c),
        "DeleteVpcEndpointServiceConfigurations" => services::delete_service_configurations(c),
        "ModifyVpcEndpointServicePermissions" => services::modify_permissions(c),
        "DescribeVpcEndpointServicePermissions" => services::describe_permissions(c),
        "StartVpcEndpointServicePrivateDnsVerification" => services::start_private_dns_verification(c),
        "DescribeVpcEndpointConnections" => services::describe_connections(c),
        "AcceptVpcEndpointConnections" => services::accept_connections(c),
        "RejectVpcEndpointConnections" => services::reject_connections(c),
        "DescribeVpcEndpointServices" => services::describe_services(c),
        "CreateVpcEndpoint" => endpoints::create_endpoint(c),
        "DescribeVpcEndpoints" => endpoints::describe_endpoints(c),
        "ModifyVpcEndpoint" => endpoints::modify_endpoint(c),
        "DeleteVpcEndpoints" => endpoints::delete_endpoints(c),
        other => Err(Error::new("InvalidAction", format!("The action {other} is not valid for this web service."))),
    }
}
