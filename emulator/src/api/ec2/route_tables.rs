//! Route tables, their associations and routes.

use super::{render_tags, Ctx};
use crate::api::query::Params;
use crate::api::xml::Xml;
use crate::model::route::{Destination, TargetSpec};
use crate::model::route_table::{routes_of, RouteTableView};
use crate::model::{self, Error, Result};

/// MaxResults in `lo..=hi` (EC2 actions whose models narrow the usual range).
pub fn max_results_in(p: &Params, lo: i64, hi: i64) -> Result<Option<usize>> {
    match p.int("MaxResults")? {
        None => Ok(None),
        Some(n) if (lo..=hi).contains(&n) => Ok(Some(n as usize)),
        Some(n) => Err(Error::new(
            "InvalidParameterValue",
            format!("Value ( {n} ) for parameter maxResults is invalid. Parameter must be between {lo} and {hi}."),
        )),
    }
}

/// MaxResults (in `lo..=hi`) and NextToken over a listing ordered by `key`.
pub fn page_in<T: Clone>(
    p: &Params,
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    lo: i64,
    hi: i64,
) -> Result<(Vec<T>, Option<String>)> {
    let max = max_results_in(p, lo, hi)?;
    let mut keyed: Vec<(String, T)> = items.into_iter().map(|t| (key(&t), t)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    model::paginate(keyed, max, p.get("NextToken"))
}

fn render_route_table(x: &mut Xml, v: &RouteTableView) {
    let t = &v.table;
    x.leaf("routeTableId", &t.id);
    x.leaf("vpcId", &t.vpc_id);
    x.leaf("ownerId", &t.owner);
    x.items("routeSet", &v.routes, |x, r| {
        x.opt("destinationCidrBlock", r.destination_cidr.as_ref());
        x.opt("destinationPrefixListId", r.destination_prefix_list.as_ref());
        x.opt("gatewayId", r.gateway_id.as_ref());
        x.opt("networkInterfaceId", r.network_interface_id.as_ref());
        x.leaf("origin", r.origin);
        x.leaf("state", r.state);
    });
    x.items("associationSet", &t.associations, |x, a| {
        x.bool("main", a.main);
        x.leaf("routeTableAssociationId", &a.id);
        x.leaf("routeTableId", &t.id);
        x.opt("subnetId", a.subnet_id.as_ref());
        x.node("associationState", |x| x.leaf("state", "associated"));
    });
    x.node("propagatingVgwSet", |_| {});
    render_tags(x, &t.tags);
}

pub fn create_route_table(c: &mut Ctx) -> Result<Xml> {
    let vpc = c.p.required("VpcId")?.to_string();
    let tags = c.p.tag_specifications("route-table")?;
    let token = c.p.string("ClientToken");
    let dry = c.p.flag("DryRun")?;
    let t = c.world.create_route_table(c.caller, &vpc, tags, token.as_deref(), dry)?;
    let routes = c.world.region(&c.caller.region).map(|r| routes_of(r, &t)).unwrap_or_default();
    let mut x = Xml::new();
    x.node("routeTable", |x| render_route_table(x, &RouteTableView { table: t, routes }));
    x.opt("clientToken", token);
    Ok(x)
}

pub fn describe_route_tables(c: &mut Ctx) -> Result<Xml> {
    max_results_in(c.p, 5, 100)?;
    let list = c.world.describe_route_tables(c.caller, &c.p.list("RouteTableId"), &c.p.filters()?)?;
    let (list, next) = page_in(c.p, list, |v| v.table.id.clone(), 5, 100)?;
    let mut x = Xml::new();
    x.items("routeTableSet", &list, render_route_table);
    x.opt("nextToken", next);
    Ok(x)
}

pub fn delete_route_table(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("RouteTableId")?.to_string();
    let dry = c.p.flag("DryRun")?;
    c.world.delete_route_table(c.caller, &id, dry)?;
    Ok(Xml::returns_true())
}

pub fn associate_route_table(c: &mut Ctx) -> Result<Xml> {
    let table = c.p.required("RouteTableId")?.to_string();
    let subnet = c.p.string("SubnetId");
    let gateway = c.p.string("GatewayId");
    let dry = c.p.flag("DryRun")?;
    let id = c.world.associate_route_table(c.caller, &table, subnet.as_deref(), gateway.as_deref(), dry)?;
    let mut x = Xml::new();
    x.leaf("associationId", id);
    x.node("associationState", |x| x.leaf("state", "associated"));
    Ok(x)
}

pub fn disassociate_route_table(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("AssociationId")?.to_string();
    let dry = c.p.flag("DryRun")?;
    c.world.disassociate_route_table(c.caller, &id, dry)?;
    Ok(Xml::returns_true())
}

pub fn replace_route_table_association(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("AssociationId")?.to_string();
    let table = c.p.required("RouteTableId")?.to_string();
    let dry = c.p.flag("DryRun")?;
    let new_id = c.world.replace_route_table_association(c.caller, &id, &table, dry)?;
    let mut x = Xml::new();
    x.leaf("newAssociationId", new_id);
    x.node("associationState", |x| x.leaf("state", "associated"));
    Ok(x)
}

/// Exactly one of DestinationCidrBlock, DestinationIpv6CidrBlock and
/// DestinationPrefixListId.
fn destination(p: &Params) -> Result<Destination> {
    let cidr = p.string("DestinationCidrBlock");
    let v6 = p.string("DestinationIpv6CidrBlock");
    let pl = p.string("DestinationPrefixListId");
    match (cidr, v6, pl) {
        (Some(c), None, None) => Ok(Destination::Cidr(c)),
        (None, None, Some(pl)) => Ok(Destination::PrefixList(pl)),
        (None, Some(v6), None) => Err(Error::invalid_value(
            "destinationIpv6CidrBlock",
            &v6,
            "IPv6 is not supported: the emulator's networks are IPv4.",
        )),
        (None, None, None) => Err(Error::new(
            "MissingParameter",
            "The request must contain the parameter destinationCidrBlock or destinationIpv6CidrBlock or destinationPrefixListId",
        )),
        _ => Err(Error::new(
            "InvalidParameterCombination",
            "Only one of destinationCidrBlock, destinationIpv6CidrBlock and destinationPrefixListId may be specified",
        )),
    }
}

const TARGETS: &[&str] = &[
    "GatewayId",
    "NatGatewayId",
    "NetworkInterfaceId",
    "InstanceId",
    "VpcPeeringConnectionId",
    "TransitGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "EgressOnlyInternetGatewayId",
    "VpcEndpointId",
    "CoreNetworkArn",
    "OdbNetworkArn",
];

fn target(p: &Params) -> Result<TargetSpec> {
    let given = TARGETS.iter().filter_map(|name| p.string(name).map(|id| (*name, id))).collect();
    Ok(TargetSpec { given, local: p.flag("LocalTarget")? })
}

pub fn create_route(c: &mut Ctx) -> Result<Xml> {
    let table = c.p.required("RouteTableId")?.to_string();
    let dest = destination(c.p)?;
    let target = target(c.p)?;
    if target.local {
        return Err(Error::new("InvalidParameter", "LocalTarget is a parameter of ReplaceRoute only"));
    }
    let dry = c.p.flag("DryRun")?;
    c.world.create_route(c.caller, &table, &dest, &target, dry)?;
    Ok(Xml::returns_true())
}

pub fn replace_route(c: &mut Ctx) -> Result<Xml> {
    let table = c.p.required("RouteTableId")?.to_string();
    let dest = destination(c.p)?;
    let target = target(c.p)?;
    let dry = c.p.flag("DryRun")?;
    c.world.replace_route(c.caller, &table, &dest, &target, dry)?;
    Ok(Xml::returns_true())
}

pub fn delete_route(c: &mut Ctx) -> Result<Xml> {
    let table = c.p.required("RouteTableId")?.to_string();
    let dest = destination(c.p)?;
    let dry = c.p.flag("DryRun")?;
    c.world.delete_route(c.caller, &table, &dest, dry)?;
    Ok(Xml::returns_true())
}
