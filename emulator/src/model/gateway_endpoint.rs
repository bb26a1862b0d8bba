//! Gateway endpoints (S3 and DynamoDB): no ENIs and no DNS names, only a
//! route in each of the endpoint's route tables, from the service's
//! AWS-managed prefix list to the endpoint. `available` at once; the routes
//! leave the tables as soon as the endpoint is deleted.

use super::endpoint::{endpoint_not_found, CreateEndpoint, EndpointState, EndpointType, ModifyEndpoint, VpcEndpoint};
use super::prefix_list::{self, GATEWAY_SERVICES};
use super::route_table::{RouteTable, RouteView};
use super::service::invalid_service_name;
use super::{ids, region, Caller, Change, Error, Millis, Region, Resource, Result, Vpc, World};

/// The policy AWS gives a gateway endpoint created without one, exactly as
/// DescribeVpcEndpoints returns it.
pub const GATEWAY_DEFAULT_POLICY: &str =
    r#"{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#;

/// Gateway endpoints per region and account (AWS's default quota).
pub const GATEWAY_ENDPOINTS_PER_REGION: usize = 20;

/// The short name of a gateway service of `region` (`s3`, `dynamodb`).
pub fn gateway_service(region_name: &str, service_name: &str) -> Option<&'static str> {
    let rest = service_name.strip_prefix("com.amazonaws.")?;
    let (r, short) = rest.split_once('.')?;
    let short = GATEWAY_SERVICES.iter().find(|s| **s == short)?;
    (r == region_name && region::is_region_name(r)).then_some(*short)
}

/// An interface endpoint of a gateway service: DynamoDB has gateway
/// endpoints only here; S3's interface endpoints are listed, as AWS lists
/// them, but the emulator does not serve S3 behind one.
pub fn refuse_interface_of_gateway_service(caller: &Caller, service_name: &str, endpoint_type: &str) -> Result<()> {
    match gateway_service(&caller.region, service_name) {
        None => Ok(()),
        Some("s3") if endpoint_type == "Interface" => Err(Error::invalid_parameter(format!(
            "The emulator serves {service_name} through Gateway endpoints only (VpcEndpointType=Gateway with RouteTableId.N)."
        ))),
        Some(_) => Err(Error::invalid_parameter(format!(
            "Endpoint type ({endpoint_type}) does not match available service types ([Gateway])."
        ))),
    }
}

/// The routes gateway endpoints put in table `t`.
pub fn routes_into(region: &Region, t: &RouteTable) -> Vec<RouteView> {
    region
        .endpoints_in_vpc(&t.vpc_id)
        .filter(|e| e.endpoint_type == EndpointType::Gateway && !e.state.is_gone() && e.route_table_ids.contains(&t.id))
        .filter_map(|e| {
            let list = prefix_list::of_service(&region.name, &e.service_name)?;
            Some(RouteView {
                destination_cidr: None,
                destination_prefix_list: Some(list.id),
                gateway_id: Some(e.id.clone()),
                network_interface_id: None,
                origin: "CreateRoute",
                state: "active",
            })
        })
        .collect()
}

impl World {
    /// Refuses route tables that already route `list_id` through another
    /// gateway endpoint, as AWS refuses a second route to one destination.
    fn check_prefix_list_free(&self, caller: &Caller, tables: &[String], list_id: &str, except: &str) -> Result<()> {
        let Some(r) = self.region(&caller.region) else { return Ok(()) };
        for id in tables {
            let Some(t) = r.route_tables.get(id) else { continue };
            let taken = super::route_table::routes_of(r, t).into_iter().any(|v| {
                v.destination_prefix_list.as_deref() == Some(list_id) && v.gateway_id.as_deref() != Some(except)
            });
            if taken {
                return Err(Error::new(
                    "RouteAlreadyExists",
                    format!("route table {id} already has a route with destination-prefix-list-id {list_id}"),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn create_gateway_endpoint(
        &mut self,
        caller: &Caller,
        now: Millis,
        vpc: &Vpc,
        req: CreateEndpoint,
        fingerprint: String,
        dry: bool,
    ) -> Result<VpcEndpoint> {
        if gateway_service(&caller.region, &req.service_name).is_none() {
            let known = super::aws_service::AwsService::parse(&req.service_name)
                .is_some_and(|a| a.region == caller.region)
                || self.visible_services(caller).iter().any(|s| s.name == req.service_name);
            return Err(if known {
                Error::invalid_parameter(
                    "Endpoint type (Gateway) does not match available service types ([Interface]).".to_string(),
                )
            } else {
                invalid_service_name(&req.service_name)
            });
        }
        let list = prefix_list::of_service(&caller.region, &req.service_name)
            .ok_or_else(|| invalid_service_name(&req.service_name))?;
        if !req.subnet_ids.is_empty() || !req.subnet_addresses.is_empty() {
            return Err(Error::invalid_parameter("Subnets are not supported for Gateway endpoints"));
        }
        if !req.security_group_ids.is_empty() {
            return Err(Error::invalid_parameter("Security groups are not supported for Gateway endpoints"));
        }
        if req.private_dns_enabled == Some(true) {
            return Err(Error::invalid_parameter("Private DNS is not supported for Gateway endpoints"));
        }
        if let Some(t) = req.ip_address_type.as_deref().filter(|t| *t != "ipv4") {
            return Err(Error::invalid_parameter(format!(
                "IpAddressType {t} is not supported: the emulator's networks are IPv4"
            )));
        }
        if req.dns_record_ip_type.is_some() {
            return Err(Error::invalid_parameter("DNS options are not supported for Gateway endpoints"));
        }
        if let Some(p) = &req.policy_document {
            if serde_json::from_str::<serde_json::Value>(p).is_err() {
                return Err(Error::new("InvalidPolicyDocument", "The policy document is not valid JSON"));
            }
        }
        let tables = self.endpoint_route_tables(caller, &vpc.id, &req.route_table_ids)?;
        self.check_prefix_list_free(caller, &tables, &list.id, "")?;
        let in_region = self
            .region(&caller.region)
            .map(|r| {
                r.endpoints
                    .values()
                    .filter(|e| {
                        e.owner == caller.account && e.endpoint_type == EndpointType::Gateway && !e.state.is_gone()
                    })
                    .count()
            })
            .unwrap_or(0);
        if in_region >= GATEWAY_ENDPOINTS_PER_REGION {
            return Err(Error::new(
                "VpcEndpointLimitExceeded",
                format!(
                    "The maximum number of gateway VPC endpoints ({GATEWAY_ENDPOINTS_PER_REGION}) has been reached."
                ),
            ));
        }
        super::dry_run(dry)?;

        let id = ids::resource_id("vpce");
        let endpoint = VpcEndpoint {
            id: id.clone(),
            owner: caller.account.clone(),
            region: caller.region.clone(),
            vpc_id: vpc.id.clone(),
            service_name: req.service_name.clone(),
            service_id: None,
            service_region: None,
            aws_service: None,
            state: EndpointState::Available,
            transition: None,
            subnet_ids: vec![],
            network_interface_ids: vec![],
            group_ids: vec![],
            private_dns_enabled: false,
            policy_document: Some(req.policy_document.clone().unwrap_or_else(|| GATEWAY_DEFAULT_POLICY.to_string())),
            ip_address_type: "ipv4".into(),
            dns_record_ip_type: "ipv4".into(),
            dns_suffix: String::new(),
            dns_entries: vec![],
            private_hosted_zone_id: String::new(),
            connection_id: ids::resource_id("vpce-con"),
            created: now,
            tags: req.tags.clone(),
            last_error: None,
            endpoint_type: EndpointType::Gateway,
            route_table_ids: tables.clone(),
        };
        let r = self.region_mut(&caller.region);
        r.endpoints.insert(id.clone(), endpoint.clone());
        r.endpoints_by_vpc.entry(endpoint.vpc_id.clone()).or_default().insert(id.clone());
        self.remember_token(caller, "CreateVpcEndpoint", req.client_token.as_deref(), fingerprint, &id);
        self.emit(&caller.region, Resource::Endpoint(id), Change::Created);
        for t in tables {
            self.emit(&caller.region, Resource::RouteTable(t), Change::Updated);
        }
        Ok(endpoint)
    }

    pub(crate) fn modify_gateway_endpoint(
        &mut self,
        caller: &Caller,
        e: &VpcEndpoint,
        req: ModifyEndpoint,
        dry: bool,
    ) -> Result<()> {
        if !req.add_subnet_ids.is_empty() || !req.remove_subnet_ids.is_empty() {
            return Err(Error::invalid_parameter("Subnets are not supported for Gateway endpoints"));
        }
        if !req.add_security_group_ids.is_empty() || !req.remove_security_group_ids.is_empty() {
            return Err(Error::invalid_parameter("Security groups are not supported for Gateway endpoints"));
        }
        if req.private_dns_enabled == Some(true) {
            return Err(Error::invalid_parameter("Private DNS is not supported for Gateway endpoints"));
        }
        if let Some(p) = &req.policy_document {
            if serde_json::from_str::<serde_json::Value>(p).is_err() {
                return Err(Error::new("InvalidPolicyDocument", "The policy document is not valid JSON"));
            }
        }
        let added = self.endpoint_route_tables(caller, &e.vpc_id, &req.add_route_table_ids)?;
        for id in &req.remove_route_table_ids {
            if !e.route_table_ids.contains(id) {
                return Err(Error::new(
                    "InvalidRouteTableId.NotFound",
                    format!("The routeTable ID '{id}' is not associated with the Vpc Endpoint {}", e.id),
                ));
            }
        }
        let list = prefix_list::of_service(&caller.region, &e.service_name)
            .ok_or_else(|| invalid_service_name(&e.service_name))?;
        self.check_prefix_list_free(caller, &added, &list.id, &e.id)?;
        super::dry_run(dry)?;

        let mut tables: Vec<String> =
            e.route_table_ids.iter().filter(|t| !req.remove_route_table_ids.contains(t)).cloned().collect();
        for t in &added {
            if !tables.contains(t) {
                tables.push(t.clone());
            }
        }
        let touched: Vec<String> = added.iter().chain(&req.remove_route_table_ids).cloned().collect();
        let ep = self.region_mut(&caller.region).endpoints.get_mut(&e.id).ok_or_else(|| endpoint_not_found(&e.id))?;
        ep.route_table_ids = tables;
        if req.reset_policy {
            ep.policy_document = Some(GATEWAY_DEFAULT_POLICY.to_string());
        }
        if let Some(p) = req.policy_document {
            ep.policy_document = Some(p);
        }
        self.emit(&caller.region, Resource::Endpoint(e.id.clone()), Change::Updated);
        for t in touched {
            self.emit(&caller.region, Resource::RouteTable(t), Change::Updated);
        }
        Ok(())
    }

    /// A route table is gone: the gateway endpoints that named it forget it.
    pub(crate) fn forget_route_table_in_endpoints(&mut self, region: &str, table_id: &str) {
        let Some(r) = self.region(region) else { return };
        let holders: Vec<String> = r
            .endpoints
            .values()
            .filter(|e| e.route_table_ids.iter().any(|t| t == table_id))
            .map(|e| e.id.clone())
            .collect();
        for id in holders {
            if let Some(e) = self.region_mut(region).endpoints.get_mut(&id) {
                e.route_table_ids.retain(|t| t != table_id);
            }
            self.emit(region, Resource::Endpoint(id), Change::Updated);
        }
    }
}
