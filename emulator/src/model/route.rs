//! Routes of a route table: CreateRoute, ReplaceRoute and DeleteRoute, and
//! the targets a route may have.

use super::net::Ipv4Cidr;
use super::route_table::{routes_of, Route, RouteOrigin, RouteTable, RouteTarget, ROUTES_PER_TABLE};
use super::{Caller, Change, Error, Resource, Result, Vpc, World};

/// The destination of CreateRoute, ReplaceRoute and DeleteRoute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Cidr(String),
    PrefixList(String),
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Cidr(c) | Destination::PrefixList(c) => f.write_str(c),
        }
    }
}

/// The target of CreateRoute and ReplaceRoute: (wire name, id) of each
/// target parameter given, and ReplaceRoute's LocalTarget.
#[derive(Debug, Clone, Default)]
pub struct TargetSpec {
    pub given: Vec<(&'static str, String)>,
    pub local: bool,
}

fn route_not_found(destination: &Destination) -> Error {
    Error::new(
        "InvalidRoute.NotFound",
        format!("There is no route defined for '{destination}' in the route table. Use a different destination address and try again."),
    )
}

impl World {
    /// Checks a route's target and turns it into one the table can hold.
    fn route_target(&self, caller: &Caller, t: &RouteTable, spec: &TargetSpec) -> Result<RouteTarget> {
        match (spec.given.as_slice(), spec.local) {
            ([], true) => Ok(RouteTarget::Local),
            ([], false) => Err(Error::new(
                "MissingParameter",
                "The request must contain exactly one route target: gatewayId, natGatewayId, networkInterfaceId, \
                 instanceId, vpcPeeringConnectionId, transitGatewayId, localGatewayId, carrierGatewayId, \
                 egressOnlyInternetGatewayId, vpcEndpointId or coreNetworkArn.",
            )),
            ([(a, _), (b, _), ..], _) => Err(Error::new(
                "InvalidParameterCombination",
                format!("The parameter {a} cannot be used with the parameter {b}"),
            )),
            ([(name, _)], true) => Err(Error::new(
                "InvalidParameterCombination",
                format!("The parameter localTarget cannot be used with the parameter {name}"),
            )),
            ([(name, id)], false) => match *name {
                "NetworkInterfaceId" => {
                    let eni = self
                        .region(&caller.region)
                        .and_then(|r| r.network_interfaces.get(id))
                        .filter(|n| n.owner == caller.account)
                        .ok_or_else(|| {
                            Error::new(
                                "InvalidNetworkInterfaceID.NotFound",
                                format!("The networkInterface ID '{id}' does not exist"),
                            )
                        })?;
                    if eni.vpc_id != t.vpc_id {
                        return Err(bad_value(format!(
                            "route table {} and network interface {id} belong to different networks",
                            t.id
                        )));
                    }
                    Ok(RouteTarget::NetworkInterface(id.clone()))
                }
                "GatewayId" if id == "local" => Ok(RouteTarget::Local),
                "GatewayId" if id.starts_with("vpce-") => Err(bad_value(format!(
                    "The gateway endpoint {id} is not a valid route target: its routes come with the endpoint's route tables (ModifyVpcEndpoint)."
                ))),
                // Kinds of targets the emulator does not model: none exists.
                other => Err(missing_target(other, id)),
            },
        }
    }

    pub fn create_route(
        &mut self,
        caller: &Caller,
        table_id: &str,
        destination: &Destination,
        target: &TargetSpec,
        dry: bool,
    ) -> Result<()> {
        let t = self.route_table(caller, table_id)?.clone();
        let vpc = self.vpc(caller, &t.vpc_id)?.clone();
        let cidr = match destination {
            Destination::Cidr(c) => parse_destination(c)?,
            Destination::PrefixList(pl) => {
                return Err(self.prefix_list_destination_refused(caller, pl));
            }
        };
        let target = self.route_target(caller, &t, target)?;
        if t.routes.iter().any(|r| r.destination == cidr) {
            return Err(Error::new("RouteAlreadyExists", format!("The route identified by {cidr} already exists.")));
        }
        if target == RouteTarget::Local {
            return Err(bad_value(format!(
                "The local route of {} is {}: a route to local can only be restored on it (ReplaceRoute LocalTarget).",
                t.id, vpc.cidr
            )));
        }
        self.check_inside_vpc(caller, &vpc, &cidr)?;
        if t.routes.len() > ROUTES_PER_TABLE {
            return Err(Error::new(
                "RouteLimitExceeded",
                format!("The maximum number of routes ({ROUTES_PER_TABLE}) has been reached for {}.", t.id),
            ));
        }
        super::dry_run(dry)?;
        if let Some(t) = self.region_mut(&caller.region).route_tables.get_mut(table_id) {
            t.routes.push(Route { destination: cidr, target, origin: RouteOrigin::CreateRoute });
        }
        self.emit(&caller.region, Resource::RouteTable(table_id.to_string()), Change::Updated);
        Ok(())
    }

    pub fn replace_route(
        &mut self,
        caller: &Caller,
        table_id: &str,
        destination: &Destination,
        target: &TargetSpec,
        dry: bool,
    ) -> Result<()> {
        let t = self.route_table(caller, table_id)?.clone();
        let vpc = self.vpc(caller, &t.vpc_id)?.clone();
        let cidr = match destination {
            Destination::Cidr(c) => parse_destination(c)?,
            Destination::PrefixList(pl) => return Err(self.managed_route_refused(caller, &t, pl, destination)),
        };
        let Some(index) = t.routes.iter().position(|r| r.destination == cidr) else {
            return Err(route_not_found(destination));
        };
        let target = self.route_target(caller, &t, target)?;
        let is_local_route = t.routes[index].origin == RouteOrigin::CreateRouteTable;
        if target == RouteTarget::Local && !is_local_route {
            return Err(bad_value(format!("Only the local route ({}) can target local in {}.", vpc.cidr, t.id)));
        }
        super::dry_run(dry)?;
        if let Some(t) = self.region_mut(&caller.region).route_tables.get_mut(table_id) {
            t.routes[index].target = target;
        }
        self.emit(&caller.region, Resource::RouteTable(table_id.to_string()), Change::Updated);
        Ok(())
    }

    pub fn delete_route(
        &mut self,
        caller: &Caller,
        table_id: &str,
        destination: &Destination,
        dry: bool,
    ) -> Result<()> {
        let t = self.route_table(caller, table_id)?.clone();
        let cidr = match destination {
            Destination::Cidr(c) => parse_destination(c)?,
            Destination::PrefixList(pl) => return Err(self.managed_route_refused(caller, &t, pl, destination)),
        };
        let Some(index) = t.routes.iter().position(|r| r.destination == cidr) else {
            return Err(route_not_found(destination));
        };
        if t.routes[index].origin == RouteOrigin::CreateRouteTable {
            return Err(bad_value(format!("cannot remove local route {cidr} in route table {table_id}")));
        }
        super::dry_run(dry)?;
        if let Some(t) = self.region_mut(&caller.region).route_tables.get_mut(table_id) {
            t.routes.remove(index);
        }
        self.emit(&caller.region, Resource::RouteTable(table_id.to_string()), Change::Updated);
        Ok(())
    }

    /// A destination inside the VPC (more specific than its local route)
    /// must be exactly one of its subnets.
    fn check_inside_vpc(&self, caller: &Caller, vpc: &Vpc, cidr: &Ipv4Cidr) -> Result<()> {
        if !vpc.cidr.contains_cidr(cidr) {
            return Ok(());
        }
        let is_subnet = self
            .region(&caller.region)
            .is_some_and(|r| r.subnets.values().any(|s| s.vpc_id == vpc.id && s.cidr == *cidr));
        if is_subnet {
            return Ok(());
        }
        Err(bad_value(format!(
            "The destination CIDR block {cidr} is equal to or more specific than one of this VPC's CIDR blocks. \
             This route can target only an interface, and its destination must be the CIDR block of a subnet of {}.",
            vpc.id
        )))
    }

    /// Why a route to prefix list `pl` cannot be created by CreateRoute.
    fn prefix_list_destination_refused(&self, caller: &Caller, pl: &str) -> Error {
        match super::prefix_list::managed(&caller.region).into_iter().find(|l| l.id == pl) {
            Some(l) => bad_value(format!(
                "The AWS-managed prefix list {pl} ({}) is a route destination only through a gateway endpoint of {}.",
                l.name, l.name
            )),
            None => Error::new("InvalidPrefixListID.NotFound", format!("The prefix list ID '{pl}' does not exist")),
        }
    }

    /// ReplaceRoute and DeleteRoute of a prefix list destination: only a
    /// gateway endpoint's route has one, and it belongs to the endpoint.
    fn managed_route_refused(&self, caller: &Caller, t: &RouteTable, pl: &str, destination: &Destination) -> Error {
        let owner = self.region(&caller.region).and_then(|r| {
            routes_of(r, t)
                .into_iter()
                .find(|v| v.destination_prefix_list.as_deref() == Some(pl))
                .and_then(|v| v.gateway_id)
        });
        match owner {
            Some(vpce) => bad_value(format!(
                "The route to {pl} in {} belongs to the gateway endpoint {vpce}: remove the route table from the endpoint (ModifyVpcEndpoint RemoveRouteTableId) instead.",
                t.id
            )),
            None => route_not_found(destination),
        }
    }
}

fn parse_destination(c: &str) -> Result<Ipv4Cidr> {
    c.parse().map_err(|_| Error::invalid_value("destinationCidrBlock", c, "This is not a valid CIDR block."))
}

/// No target of this kind exists in the emulated world.
fn missing_target(name: &str, id: &str) -> Error {
    let (code, what) = match name {
        "GatewayId" | "EgressOnlyInternetGatewayId" => ("InvalidGatewayID.NotFound", "gateway"),
        "NatGatewayId" => ("NatGatewayNotFound", "natGateway"),
        "InstanceId" => ("InvalidInstanceID.NotFound", "instance"),
        "VpcPeeringConnectionId" => ("InvalidVpcPeeringConnectionID.NotFound", "vpcPeeringConnection"),
        "TransitGatewayId" => ("InvalidTransitGatewayID.NotFound", "transitGateway"),
        "LocalGatewayId" => ("InvalidLocalGatewayID.NotFound", "localGateway"),
        "CarrierGatewayId" => ("InvalidCarrierGatewayID.NotFound", "carrierGateway"),
        "VpcEndpointId" => ("InvalidVpcEndpointId.NotFound", "vpcEndpoint"),
        _ => ("InvalidParameterValue", "route target"),
    };
    Error::new(code, format!("The {what} ID '{id}' does not exist"))
}

pub(crate) fn bad_value(message: String) -> Error {
    Error::new("InvalidParameterValue", message)
}
