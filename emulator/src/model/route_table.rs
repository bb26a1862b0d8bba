//! Route tables: every VPC's main table with its local route, the tables
//! users add, their associations with subnets, and routes.
//!
//! A gateway endpoint's route (its service's prefix list to the endpoint) is
//! not stored in the table: it is read from the endpoints that name the
//! table (see `gateway_endpoint`), so it comes and goes with them.
//!
//! VPCs created by releases before route tables existed get their main
//! table when a world is loaded, with ids derived from the VPC's id, so the
//! same table appears on every load until a change writes it for good.

use std::collections::BTreeSet;

use super::net::Ipv4Cidr;
use super::tags::{self, Filter, Filterable, Tags};
use super::vpc::Vpc;
use super::{ids, Caller, Change, Error, Region, Resource, Result, World};

/// Route tables per VPC (AWS's default quota).
pub const TABLES_PER_VPC: usize = 200;
/// Routes per route table, the local route aside (AWS's default quota).
pub const ROUTES_PER_TABLE: usize = 50;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RouteTable {
    pub id: String,
    pub owner: String,
    pub vpc_id: String,
    #[serde(default)]
    pub associations: Vec<Association>,
    /// The routes users manage (the local route first); gateway endpoint
    /// routes are not here.
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub tags: Tags,
}

impl RouteTable {
    pub fn is_main(&self) -> bool {
        self.associations.iter().any(|a| a.main)
    }

    pub fn arn(&self, region: &str) -> String {
        format!("arn:aws:ec2:{region}:{}:route-table/{}", self.owner, self.id)
    }
}

/// The main association of a VPC, or one subnet's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Association {
    pub id: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub main: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Route {
    pub destination: Ipv4Cidr,
    pub target: RouteTarget,
    pub origin: RouteOrigin,
}

/// Where a route sends traffic: the VPC itself, or a network interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteTarget {
    Local,
    NetworkInterface(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RouteOrigin {
    CreateRouteTable,
    CreateRoute,
}

impl RouteOrigin {
    pub fn as_str(&self) -> &'static str {
        match self {
            RouteOrigin::CreateRouteTable => "CreateRouteTable",
            RouteOrigin::CreateRoute => "CreateRoute",
        }
    }
}

/// A route as DescribeRouteTables shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteView {
    pub destination_cidr: Option<String>,
    pub destination_prefix_list: Option<String>,
    /// `local`, or a gateway endpoint's id.
    pub gateway_id: Option<String>,
    pub network_interface_id: Option<String>,
    pub origin: &'static str,
    /// `active`, or `blackhole` once the target is gone.
    pub state: &'static str,
}

/// A route table with the routes it shows, for describes and filters.
#[derive(Debug, Clone)]
pub struct RouteTableView {
    pub table: RouteTable,
    pub routes: Vec<RouteView>,
}

impl Filterable for RouteTableView {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        let t = &self.table;
        let routes = |f: &dyn Fn(&RouteView) -> Option<String>| self.routes.iter().filter_map(f).collect();
        Some(match name {
            "route-table-id" => vec![t.id.clone()],
            "vpc-id" => vec![t.vpc_id.clone()],
            "owner-id" => vec![t.owner.clone()],
            "association.route-table-association-id" => t.associations.iter().map(|a| a.id.clone()).collect(),
            "association.route-table-id" => t.associations.iter().map(|_| t.id.clone()).collect(),
            "association.subnet-id" => t.associations.iter().filter_map(|a| a.subnet_id.clone()).collect(),
            "association.main" => t.associations.iter().map(|a| a.main.to_string()).collect(),
            "route.destination-cidr-block" => routes(&|r| r.destination_cidr.clone()),
            "route.destination-prefix-list-id" => routes(&|r| r.destination_prefix_list.clone()),
            "route.gateway-id" => routes(&|r| r.gateway_id.clone()),
            "route.origin" => routes(&|r| Some(r.origin.to_string())),
            "route.state" => routes(&|r| Some(r.state.to_string())),
            // Targets the emulator does not model: never matched.
            "association.gateway-id"
            | "route.destination-ipv6-cidr-block"
            | "route.egress-only-internet-gateway-id"
            | "route.instance-id"
            | "route.nat-gateway-id"
            | "route.transit-gateway-id"
            | "route.vpc-peering-connection-id" => vec![],
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.table.tags
    }
}

pub const ROUTE_TABLE_FILTERS: &[&str] = &[
    "route-table-id",
    "vpc-id",
    "owner-id",
    "association.route-table-association-id",
    "association.route-table-id",
    "association.subnet-id",
    "association.main",
    "association.gateway-id",
    "route.destination-cidr-block",
    "route.destination-ipv6-cidr-block",
    "route.destination-prefix-list-id",
    "route.egress-only-internet-gateway-id",
    "route.gateway-id",
    "route.instance-id",
    "route.nat-gateway-id",
    "route.transit-gateway-id",
    "route.origin",
    "route.state",
    "route.vpc-peering-connection-id",
];

pub fn not_found(id: &str) -> Error {
    Error::new("InvalidRouteTableID.NotFound", format!("The routeTable ID '{id}' does not exist"))
}

fn association_not_found(id: &str) -> Error {
    Error::new("InvalidAssociationID.NotFound", format!("The association ID '{id}' does not exist"))
}

pub fn check_id(id: &str) -> Result<()> {
    if ids::is_well_formed(id, "rtb") {
        Ok(())
    } else {
        Err(Error::new("InvalidRouteTableId.Malformed", format!("Invalid id: \"{id}\" (expecting \"rtb-...\")")))
    }
}

fn check_association_id(id: &str) -> Result<()> {
    if ids::is_well_formed(id, "rtbassoc") {
        Ok(())
    } else {
        Err(Error::new("InvalidAssociationID.Malformed", format!("Invalid id: \"{id}\" (expecting \"rtbassoc-...\")")))
    }
}

/// The routes table `t` shows: its own, then those of the gateway endpoints
/// that name it.
pub fn routes_of(region: &Region, t: &RouteTable) -> Vec<RouteView> {
    let mut out: Vec<RouteView> = t
        .routes
        .iter()
        .map(|r| {
            let (gateway_id, network_interface_id, state) = match &r.target {
                RouteTarget::Local => (Some("local".to_string()), None, "active"),
                RouteTarget::NetworkInterface(eni) => {
                    let alive = region.network_interfaces.contains_key(eni);
                    (None, Some(eni.clone()), if alive { "active" } else { "blackhole" })
                }
            };
            RouteView {
                destination_cidr: Some(r.destination.to_string()),
                destination_prefix_list: None,
                gateway_id,
                network_interface_id,
                origin: r.origin.as_str(),
                state,
            }
        })
        .collect();
    out.extend(super::gateway_endpoint::routes_into(region, t));
    out
}

/// A new main route table for `vpc`, with its local route.
fn main_table(vpc: &Vpc, id: String, association_id: String) -> RouteTable {
    RouteTable {
        id: id.clone(),
        owner: vpc.owner.clone(),
        vpc_id: vpc.id.clone(),
        associations: vec![Association { id: association_id, main: true, subnet_id: None }],
        routes: vec![local_route(vpc)],
        tags: Tags::new(),
    }
}

fn local_route(vpc: &Vpc) -> Route {
    Route { destination: vpc.cidr, target: RouteTarget::Local, origin: RouteOrigin::CreateRouteTable }
}

impl Region {
    /// The tables of one VPC, in id order.
    pub fn route_tables_of<'a>(&'a self, vpc_id: &'a str) -> impl Iterator<Item = &'a RouteTable> + 'a {
        self.route_tables.values().filter(move |t| t.vpc_id == vpc_id)
    }

    /// Gives every VPC named in `vpcs` that has no main route table one,
    /// with ids derived from the VPC's, and forgets the tables of VPCs that
    /// are gone. Used on load only: what it writes is not a change.
    pub(crate) fn derive_main_route_tables<'a>(&mut self, vpcs: impl IntoIterator<Item = &'a String>) {
        let mut wanted: BTreeSet<&String> = vpcs.into_iter().collect();
        if wanted.is_empty() {
            return;
        }
        let have_main: BTreeSet<String> =
            self.route_tables.values().filter(|t| t.is_main()).map(|t| t.vpc_id.clone()).collect();
        let gone: Vec<String> = self
            .route_tables
            .values()
            .filter(|t| wanted.contains(&t.vpc_id) && !self.vpcs.contains_key(&t.vpc_id))
            .map(|t| t.id.clone())
            .collect();
        for id in gone {
            self.route_tables.remove(&id);
        }
        wanted.retain(|v| !have_main.contains(*v));
        let derived: Vec<RouteTable> = wanted
            .into_iter()
            .filter_map(|v| self.vpcs.get(v))
            .map(|vpc| {
                main_table(
                    vpc,
                    ids::derived_id("rtb", &vpc.id),
                    ids::derived_id("rtbassoc", &format!("{}/main", vpc.id)),
                )
            })
            .collect();
        for t in derived {
            self.route_tables.insert(t.id.clone(), t);
        }
    }
}

impl World {
    /// Makes the main route table of a VPC just created.
    pub(crate) fn create_main_route_table(&mut self, region: &str, vpc: &Vpc) -> RouteTable {
        let t = main_table(vpc, ids::resource_id("rtb"), ids::resource_id("rtbassoc"));
        self.region_mut(region).route_tables.insert(t.id.clone(), t.clone());
        self.emit(region, Resource::RouteTable(t.id.clone()), Change::Created);
        t
    }

    /// The caller's own route table.
    pub fn route_table(&self, caller: &Caller, id: &str) -> Result<&RouteTable> {
        check_id(id)?;
        self.region(&caller.region)
            .and_then(|r| r.route_tables.get(id))
            .filter(|t| t.owner == caller.account)
            .ok_or_else(|| not_found(id))
    }

    pub fn create_route_table(
        &mut self,
        caller: &Caller,
        vpc_id: &str,
        tags: Tags,
        client_token: Option<&str>,
        dry: bool,
    ) -> Result<RouteTable> {
        let fingerprint = vpc_id.to_string();
        if let Some(id) = self.idempotent(caller, "CreateRouteTable", client_token, &fingerprint)? {
            if let Some(t) = self.region(&caller.region).and_then(|r| r.route_tables.get(&id)) {
                return Ok(t.clone());
            }
        }
        let vpc = self.vpc(caller, vpc_id)?.clone();
        let count = self.region(&caller.region).map(|r| r.route_tables_of(vpc_id).count()).unwrap_or(0);
        if count >= TABLES_PER_VPC {
            return Err(Error::new(
                "RouteTableLimitExceeded",
                format!("The maximum number of route tables ({TABLES_PER_VPC}) has been reached for {vpc_id}."),
            ));
        }
        super::dry_run(dry)?;
        let t = RouteTable {
            id: ids::resource_id("rtb"),
            owner: caller.account.clone(),
            vpc_id: vpc.id.clone(),
            associations: vec![],
            routes: vec![local_route(&vpc)],
            tags,
        };
        self.region_mut(&caller.region).route_tables.insert(t.id.clone(), t.clone());
        self.remember_token(caller, "CreateRouteTable", client_token, fingerprint, &t.id);
        self.emit(&caller.region, Resource::RouteTable(t.id.clone()), Change::Created);
        Ok(t)
    }

    pub fn describe_route_tables(
        &self,
        caller: &Caller,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<RouteTableView>> {
        tags::check_filter_names(filters, ROUTE_TABLE_FILTERS)?;
        for id in ids {
            self.route_table(caller, id)?;
        }
        let Some(r) = self.region(&caller.region) else { return Ok(vec![]) };
        Ok(r.route_tables
            .values()
            .filter(|t| t.owner == caller.account && (ids.is_empty() || ids.contains(&t.id)))
            .map(|t| RouteTableView { table: t.clone(), routes: routes_of(r, t) })
            .filter(|v| tags::matches(v, filters))
            .collect())
    }

    pub fn delete_route_table(&mut self, caller: &Caller, id: &str, dry: bool) -> Result<()> {
        let t = self.route_table(caller, id)?;
        if !t.associations.is_empty() {
            return Err(Error::new(
                "DependencyViolation",
                format!("The routeTable '{id}' has dependencies and cannot be deleted."),
            ));
        }
        super::dry_run(dry)?;
        self.region_mut(&caller.region).route_tables.remove(id);
        self.forget_route_table_in_endpoints(&caller.region, id);
        self.emit(&caller.region, Resource::RouteTable(id.to_string()), Change::Deleted);
        Ok(())
    }

    /// The table holding association `id`, among the caller's.
    fn table_of_association(&self, caller: &Caller, id: &str) -> Result<&RouteTable> {
        check_association_id(id)?;
        self.region(&caller.region)
            .and_then(|r| r.route_tables.values().find(|t| t.associations.iter().any(|a| a.id == id)))
            .filter(|t| t.owner == caller.account)
            .ok_or_else(|| association_not_found(id))
    }

    pub fn associate_route_table(
        &mut self,
        caller: &Caller,
        table_id: &str,
        subnet_id: Option<&str>,
        gateway_id: Option<&str>,
        dry: bool,
    ) -> Result<String> {
        let t = self.route_table(caller, table_id)?.clone();
        let subnet_id = match (subnet_id, gateway_id) {
            (Some(s), None) => s,
            (None, Some(g)) => {
                return Err(Error::new("InvalidGatewayID.NotFound", format!("The gateway ID '{g}' does not exist")))
            }
            (None, None) => {
                return Err(Error::new("MissingParameter", "Either subnetId or gatewayId must be specified."))
            }
            (Some(_), Some(_)) => {
                return Err(Error::new(
                    "InvalidParameterCombination",
                    "The parameter subnetId cannot be used with the parameter gatewayId",
                ))
            }
        };
        let subnet = self.subnet(caller, subnet_id)?;
        if subnet.vpc_id != t.vpc_id {
            return Err(Error::invalid_value(
                "subnetId",
                subnet_id,
                &format!("Route table {table_id} and subnet {subnet_id} belong to different networks."),
            ));
        }
        let taken = self.region(&caller.region).and_then(|r| {
            r.route_tables_of(&t.vpc_id)
                .find(|x| x.associations.iter().any(|a| a.subnet_id.as_deref() == Some(subnet_id)))
        });
        if let Some(other) = taken {
            return Err(Error::new(
                "Resource.AlreadyAssociated",
                format!(
                    "the specified association for route table {} conflicts with an existing association",
                    other.id
                ),
            ));
        }
        super::dry_run(dry)?;
        let association =
            Association { id: ids::resource_id("rtbassoc"), main: false, subnet_id: Some(subnet_id.to_string()) };
        let id = association.id.clone();
        if let Some(t) = self.region_mut(&caller.region).route_tables.get_mut(table_id) {
            t.associations.push(association);
        }
        self.emit(&caller.region, Resource::RouteTable(table_id.to_string()), Change::Updated);
        Ok(id)
    }

    pub fn disassociate_route_table(&mut self, caller: &Caller, association_id: &str, dry: bool) -> Result<()> {
        let t = self.table_of_association(caller, association_id)?;
        if t.associations.iter().any(|a| a.id == association_id && a.main) {
            return Err(super::route::bad_value(format!(
                "cannot disassociate the main route table association {association_id}"
            )));
        }
        let table_id = t.id.clone();
        super::dry_run(dry)?;
        if let Some(t) = self.region_mut(&caller.region).route_tables.get_mut(&table_id) {
            t.associations.retain(|a| a.id != association_id);
        }
        self.emit(&caller.region, Resource::RouteTable(table_id), Change::Updated);
        Ok(())
    }

    /// Moves an association (a subnet's, or the VPC's main one) to another
    /// table of the same VPC; answers the new association's id.
    pub fn replace_route_table_association(
        &mut self,
        caller: &Caller,
        association_id: &str,
        table_id: &str,
        dry: bool,
    ) -> Result<String> {
        let from = self.table_of_association(caller, association_id)?.clone();
        let to = self.route_table(caller, table_id)?.clone();
        if from.vpc_id != to.vpc_id {
            return Err(Error::invalid_value(
                "routeTableId",
                table_id,
                &format!("Route table {table_id} and association {association_id} belong to different networks."),
            ));
        }
        let Some(old) = from.associations.iter().find(|a| a.id == association_id).cloned() else {
            return Err(association_not_found(association_id));
        };
        super::dry_run(dry)?;
        let moved = Association { id: ids::resource_id("rtbassoc"), ..old };
        let new_id = moved.id.clone();
        let r = self.region_mut(&caller.region);
        if let Some(t) = r.route_tables.get_mut(&from.id) {
            t.associations.retain(|a| a.id != association_id);
        }
        if let Some(t) = r.route_tables.get_mut(table_id) {
            t.associations.push(moved);
        }
        self.emit(&caller.region, Resource::RouteTable(from.id), Change::Updated);
        self.emit(&caller.region, Resource::RouteTable(table_id.to_string()), Change::Updated);
        Ok(new_id)
    }

    /// Forgets the subnet's association (the subnet is being deleted).
    pub(crate) fn forget_subnet_association(&mut self, region: &str, vpc_id: &str, subnet_id: &str) {
        let Some(r) = self.region(region) else { return };
        let holder = r
            .route_tables_of(vpc_id)
            .find(|t| t.associations.iter().any(|a| a.subnet_id.as_deref() == Some(subnet_id)))
            .map(|t| t.id.clone());
        if let Some(id) = holder {
            if let Some(t) = self.region_mut(region).route_tables.get_mut(&id) {
                t.associations.retain(|a| a.subnet_id.as_deref() != Some(subnet_id));
            }
            self.emit(region, Resource::RouteTable(id), Change::Updated);
        }
    }

    /// The caller's route tables by id, in the order asked, for the gateway
    /// endpoints of `vpc_id`.
    pub(crate) fn endpoint_route_tables(&self, caller: &Caller, vpc_id: &str, ids: &[String]) -> Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for id in ids {
            let t = self
                .region(&caller.region)
                .and_then(|r| r.route_tables.get(id))
                .filter(|t| t.owner == caller.account && ids::is_well_formed(id, "rtb"))
                .ok_or_else(|| {
                    Error::new("InvalidRouteTableId.NotFound", format!("The routeTable ID '{id}' does not exist"))
                })?;
            if t.vpc_id != vpc_id {
                return Err(Error::invalid_parameter(format!("Route table {id} does not belong to vpc {vpc_id}")));
            }
            if !out.contains(id) {
                out.push(id.clone());
            }
        }
        Ok(out)
    }
}
