//! VPC endpoint services: configurations, allowed principals, private DNS
//! names with their TXT ownership challenge, and the AWS services every
//! account can reach.

use super::private_dns::{check_dns_name, new_private_dns, PrivateDnsName, VerificationState};
use super::tags::{self, Filter, Filterable, Tags};
use super::{ids, Caller, Change, Error, Millis, Resource, Result, Transition, Unsuccessful, World};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ServiceState {
    Pending,
    Available,
    Deleting,
    Deleted,
    Failed,
}

impl ServiceState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceState::Pending => "Pending",
            ServiceState::Available => "Available",
            ServiceState::Deleting => "Deleting",
            ServiceState::Deleted => "Deleted",
            ServiceState::Failed => "Failed",
        }
    }

    pub fn is_gone(&self) -> bool {
        matches!(self, ServiceState::Deleting | ServiceState::Deleted)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Principal {
    pub principal: String,
    pub id: String,
}

impl Principal {
    /// All, Account, User, Role, Service, as AWS classifies an ARN.
    pub fn principal_type(&self) -> &'static str {
        let p = &self.principal;
        if p == "*" {
            "All"
        } else if p.ends_with(":root") {
            "Account"
        } else if p.contains(":user/") {
            "User"
        } else if p.contains(":role/") {
            "Role"
        } else if p.ends_with(".amazonaws.com") {
            "Service"
        } else {
            "Account"
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EndpointService {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub region: String,
    pub state: ServiceState,
    pub transition: Option<Transition>,
    pub acceptance_required: bool,
    pub network_load_balancer_arns: Vec<String>,
    pub supported_ip_address_types: Vec<String>,
    pub supported_regions: Vec<String>,
    pub private_dns: Option<PrivateDnsName>,
    pub principals: Vec<Principal>,
    /// Availability zones of the NLBs behind the service.
    pub availability_zones: Vec<String>,
    pub created: Millis,
    pub tags: Tags,
    /// `ServiceOwner` once the provider took the endpoints' costs
    /// (ModifyVpcEndpointServicePayerResponsibility); unset, the endpoint
    /// owners pay, and AWS answers no field.
    #[serde(default)]
    pub payer_responsibility: Option<String>,
}

impl EndpointService {
    /// `vpce-svc-<id>.<region>.vpce.amazonaws.com`
    pub fn base_dns_name(&self) -> String {
        self.base_dns_name_in(&self.region)
    }

    /// The base name of endpoints to this service made in `region` (a
    /// cross-region endpoint is named in its own region).
    pub fn base_dns_name_in(&self, region: &str) -> String {
        format!("{}.{region}.vpce.amazonaws.com", self.id)
    }

    pub fn allows(&self, caller: &Caller) -> bool {
        self.owner == caller.account
            || self.principals.iter().any(|p| {
                p.principal == "*"
                    || p.principal == caller.arn
                    || p.principal == format!("arn:aws:iam::{}:root", caller.account)
                    || p.principal == caller.account
            })
    }

    /// The private DNS name consumers may use: only once verified.
    pub fn usable_private_dns_name(&self) -> Option<&str> {
        self.private_dns.as_ref().filter(|p| p.state == VerificationState::Verified).map(|p| p.name.as_str())
    }
}

impl Filterable for EndpointService {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "service-name" => vec![self.name.clone()],
            "service-id" => vec![self.id.clone()],
            "service-state" => vec![self.state.as_str().to_string()],
            "service-type" => vec!["Interface".into()],
            "owner" => vec![self.owner.clone()],
            "supported-ip-address-types" => self.supported_ip_address_types.clone(),
            "service-region" => vec![self.region.clone()],
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

pub const SERVICE_CONFIGURATION_FILTERS: &[&str] =
    &["service-name", "service-id", "service-state", "supported-ip-address-types"];
pub const SERVICE_FILTERS: &[&str] =
    &["service-name", "service-type", "owner", "supported-ip-address-types", "service-region"];

/// What CreateVpcEndpointServiceConfiguration asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateService {
    pub acceptance_required: Option<bool>,
    pub private_dns_name: Option<String>,
    pub network_load_balancer_arns: Vec<String>,
    pub gateway_load_balancer_arns: Vec<String>,
    pub supported_ip_address_types: Vec<String>,
    pub supported_regions: Vec<String>,
    pub client_token: Option<String>,
    pub tags: Tags,
}

/// What ModifyVpcEndpointServiceConfiguration asks for.
#[derive(Debug, Clone, Default)]
pub struct ModifyService {
    pub private_dns_name: Option<String>,
    pub remove_private_dns_name: bool,
    pub acceptance_required: Option<bool>,
    pub add_network_load_balancer_arns: Vec<String>,
    pub remove_network_load_balancer_arns: Vec<String>,
    pub add_supported_ip_address_types: Vec<String>,
    pub remove_supported_ip_address_types: Vec<String>,
    pub add_supported_regions: Vec<String>,
    pub remove_supported_regions: Vec<String>,
}

fn check_regions(param: &str, regions: &[String]) -> Result<()> {
    match regions.iter().find(|r| !super::region::is_region_name(r)) {
        Some(r) => Err(Error::invalid_value(param, r, "It is not a region name.")),
        None => Ok(()),
    }
}

pub fn service_not_found(id: &str) -> Error {
    Error::new("InvalidVpcEndpointServiceId.NotFound", format!("The VpcEndpointService Id '{id}' does not exist"))
}

fn check_service_id(id: &str) -> Result<()> {
    if ids::is_well_formed(id, "vpce-svc") {
        Ok(())
    } else {
        Err(Error::new(
            "InvalidVpcEndpointServiceId.Malformed",
            format!("The VpcEndpointService Id '{id}' is malformed"),
        ))
    }
}

impl World {
    fn check_nlbs(&self, caller: &Caller, arns: &[String]) -> Result<Vec<String>> {
        let mut zones: Vec<String> = Vec::new();
        for arn in arns {
            if !arn.starts_with("arn:aws:elasticloadbalancing:") || !arn.contains(":loadbalancer/net/") {
                return Err(Error::new(
                    "InvalidNetworkLoadBalancerArn.Malformed",
                    format!("The Network Load Balancer ARN '{arn}' is malformed"),
                ));
            }
            let lb = self.load_balancer(caller, arn).map_err(|_| {
                Error::new(
                    "InvalidNetworkLoadBalancerArn.NotFound",
                    format!("The Network Load Balancer ARN '{arn}' does not exist"),
                )
            })?;
            if lb.scheme != "internal" && lb.scheme != "internet-facing" {
                return Err(Error::invalid_parameter("Unsupported load balancer scheme"));
            }
            for z in lb.zones() {
                if !zones.contains(&z) {
                    zones.push(z);
                }
            }
        }
        zones.sort();
        Ok(zones)
    }

    pub fn create_service(
        &mut self,
        caller: &Caller,
        now: Millis,
        req: CreateService,
        dry: bool,
    ) -> Result<EndpointService> {
        let fingerprint =
            format!("{:?}", (&req.network_load_balancer_arns, req.acceptance_required, &req.private_dns_name));
        if let Some(id) =
            self.idempotent(caller, "CreateVpcEndpointServiceConfiguration", req.client_token.as_deref(), &fingerprint)?
        {
            if let Some(s) = self.region(&caller.region).and_then(|r| r.services.get(&id)) {
                return Ok(s.clone());
            }
        }
        if !req.gateway_load_balancer_arns.is_empty() {
            return Err(Error::invalid_parameter(
                "Gateway Load Balancer endpoint services are not supported by this emulator",
            ));
        }
        if req.network_load_balancer_arns.is_empty() {
            return Err(Error::new(
                "InvalidParameter",
                "Exactly one of NetworkLoadBalancerArns or GatewayLoadBalancerArns must be specified",
            ));
        }
        let zones = self.check_nlbs(caller, &req.network_load_balancer_arns)?;
        for arn in &req.network_load_balancer_arns {
            let taken = self.region(&caller.region).is_some_and(|r| {
                r.services.values().any(|s| !s.state.is_gone() && s.network_load_balancer_arns.contains(arn))
            });
            if taken {
                return Err(Error::invalid_parameter(format!(
                    "Network Load Balancer '{arn}' is already associated with another VPC Endpoint Service"
                )));
            }
        }
        let ip_types = if req.supported_ip_address_types.is_empty() {
            vec!["ipv4".to_string()]
        } else {
            req.supported_ip_address_types.clone()
        };
        for t in &ip_types {
            if t != "ipv4" && t != "ipv6" {
                return Err(Error::invalid_value("SupportedIpAddressType", t, "Valid values are ipv4 and ipv6."));
            }
        }
        if let Some(name) = &req.private_dns_name {
            check_dns_name(name)?;
        }
        check_regions("SupportedRegion", &req.supported_regions)?;
        super::dry_run(dry)?;
        let id = ids::resource_id("vpce-svc");
        let mut supported_regions = req.supported_regions.clone();
        if !supported_regions.contains(&caller.region) {
            supported_regions.insert(0, caller.region.clone());
        }
        let service = EndpointService {
            name: format!("com.amazonaws.vpce.{}.{id}", caller.region),
            id: id.clone(),
            owner: caller.account.clone(),
            region: caller.region.clone(),
            state: ServiceState::Pending,
            transition: Some(self.transition(now)),
            acceptance_required: req.acceptance_required.unwrap_or(true),
            network_load_balancer_arns: req.network_load_balancer_arns.clone(),
            supported_ip_address_types: ip_types,
            supported_regions,
            private_dns: req.private_dns_name.as_deref().map(new_private_dns),
            principals: vec![],
            availability_zones: zones,
            created: now,
            tags: req.tags,
            payer_responsibility: None,
        };
        self.region_mut(&caller.region).services.insert(id.clone(), service.clone());
        self.remember_token(
            caller,
            "CreateVpcEndpointServiceConfiguration",
            req.client_token.as_deref(),
            fingerprint,
            &id,
        );
        self.schedule(&caller.region, Resource::Service(id.clone()));
        // The create answer shows `Pending`: that counts as seen.
        self.observe_service(&caller.region, &id);
        self.emit(&caller.region, Resource::Service(id), Change::Created);
        Ok(service)
    }

    pub(crate) fn advance_service(&mut self, region: &str, id: &str, now: Millis) -> bool {
        let settings = self.settings.clone();
        let Some(s) = self.region_mut(region).services.get_mut(id) else {
            return false;
        };
        let Some(t) = s.transition else { return false };
        if !t.due(now, &settings) {
            return true;
        }
        s.transition = None;
        match s.state {
            ServiceState::Pending => {
                s.state = ServiceState::Available;
                self.emit(region, Resource::Service(id.to_string()), Change::Updated);
            }
            ServiceState::Deleting => {
                self.region_mut(region).services.remove(id);
                self.emit(region, Resource::Service(id.to_string()), Change::Deleted);
            }
            _ => {}
        }
        false
    }

    /// The caller's own service configuration.
    pub fn own_service(&self, caller: &Caller, id: &str) -> Result<&EndpointService> {
        check_service_id(id)?;
        self.region(&caller.region)
            .and_then(|r| r.services.get(id))
            .filter(|s| s.owner == caller.account)
            .ok_or_else(|| service_not_found(id))
    }

    pub(crate) fn own_service_mut(&mut self, caller: &Caller, id: &str) -> Result<&mut EndpointService> {
        self.own_service(caller, id)?;
        self.region_mut(&caller.region).services.get_mut(id).ok_or_else(|| service_not_found(id))
    }

    pub fn observe_service(&mut self, region: &str, id: &str) {
        let unseen = |s: &EndpointService| s.transition.is_some_and(|t| !t.observed);
        if !self.region(region).and_then(|r| r.services.get(id)).is_some_and(unseen) {
            return;
        }
        let seen = self.region_mut(region).services.get_mut(id).and_then(|s| s.transition.as_mut());
        if let Some(t) = seen.filter(|t| !t.observed) {
            t.observed = true;
            self.revision += 1;
        }
    }

    pub fn describe_service_configurations(
        &mut self,
        caller: &Caller,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<EndpointService>> {
        tags::check_filter_names(filters, SERVICE_CONFIGURATION_FILTERS)?;
        for id in ids {
            self.own_service(caller, id)?;
        }
        let found: Vec<EndpointService> = self
            .region(&caller.region)
            .map(|r| {
                r.services
                    .values()
                    .filter(|s| s.owner == caller.account)
                    .filter(|s| ids.is_empty() || ids.contains(&s.id))
                    .filter(|s| tags::matches(*s, filters))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for s in &found {
            self.observe_service(&caller.region, &s.id);
        }
        Ok(found)
    }

    pub fn modify_service(&mut self, caller: &Caller, id: &str, req: ModifyService, dry: bool) -> Result<()> {
        let current = self.own_service(caller, id)?.clone();
        let mut nlbs = current.network_load_balancer_arns.clone();
        self.check_nlbs(caller, &req.add_network_load_balancer_arns)?;
        for arn in &req.add_network_load_balancer_arns {
            if !nlbs.contains(arn) {
                nlbs.push(arn.clone());
            }
        }
        for arn in &req.remove_network_load_balancer_arns {
            if !nlbs.contains(arn) {
                return Err(Error::new(
                    "InvalidNetworkLoadBalancerArn.NotFound",
                    format!("The Network Load Balancer ARN '{arn}' is not associated with the service"),
                ));
            }
            nlbs.retain(|a| a != arn);
        }
        if nlbs.is_empty() {
            return Err(Error::invalid_parameter(
                "A VPC endpoint service must have at least one Network Load Balancer",
            ));
        }
        check_regions("AddSupportedRegion", &req.add_supported_regions)?;
        if req.remove_supported_regions.contains(&current.region) {
            return Err(Error::invalid_value(
                "RemoveSupportedRegion",
                &current.region,
                "The service's own region is always supported.",
            ));
        }
        if req.private_dns_name.is_some() && req.remove_private_dns_name {
            return Err(Error::new(
                "InvalidParameterCombination",
                "PrivateDnsName and RemovePrivateDnsName cannot both be specified",
            ));
        }
        if let Some(name) = &req.private_dns_name {
            check_dns_name(name)?;
        }
        let zones = self.check_nlbs(caller, &nlbs)?;
        super::dry_run(dry)?;
        let s = self.own_service_mut(caller, id)?;
        s.network_load_balancer_arns = nlbs;
        s.availability_zones = zones;
        if let Some(a) = req.acceptance_required {
            s.acceptance_required = a;
        }
        if let Some(name) = &req.private_dns_name {
            if s.private_dns.as_ref().map(|p| p.name.as_str()) != Some(name.to_ascii_lowercase().as_str()) {
                s.private_dns = Some(new_private_dns(name));
            }
        }
        if req.remove_private_dns_name {
            s.private_dns = None;
        }
        for t in &req.add_supported_ip_address_types {
            if !s.supported_ip_address_types.contains(t) {
                s.supported_ip_address_types.push(t.clone());
            }
        }
        s.supported_ip_address_types.retain(|t| !req.remove_supported_ip_address_types.contains(t));
        for r in &req.add_supported_regions {
            if !s.supported_regions.contains(r) {
                s.supported_regions.push(r.clone());
            }
        }
        s.supported_regions.retain(|r| !req.remove_supported_regions.contains(r));
        self.emit(&caller.region, Resource::Service(id.to_string()), Change::Updated);
        self.refresh_endpoints_of_service(&caller.region, id);
        Ok(())
    }

    /// Deletes services; a service with live connections (pendingAcceptance,
    /// pending or available) stays, with ExistingVpcEndpointConnections.
    pub fn delete_services(&mut self, caller: &Caller, now: Millis, ids: &[String]) -> Vec<Unsuccessful> {
        let mut failed = Vec::new();
        for id in ids {
            if let Err(mut error) = self.own_service(caller, id) {
                // This action's items name a missing service so (Terraform
                // takes that code as "already gone").
                if error.code == "InvalidVpcEndpointServiceId.NotFound" {
                    error.code = "InvalidVpcEndpointService.NotFound";
                }
                failed.push(Unsuccessful { resource_id: id.clone(), error });
                continue;
            }
            // Endpoints in other regions (cross-region) count too.
            let live = self.regions().any(|r| {
                r.endpoints.values().any(|e| {
                    e.service_id.as_deref() == Some(id.as_str())
                        && e.service_region() == caller.region
                        && e.state.is_live()
                })
            });
            if live {
                failed.push(Unsuccessful {
                    resource_id: id.clone(),
                    error: Error::new(
                        "ExistingVpcEndpointConnections",
                        format!("Service {id} has existing VPC Endpoint connections"),
                    ),
                });
                continue;
            }
            let transition = self.transition(now);
            if let Ok(s) = self.own_service_mut(caller, id) {
                s.state = ServiceState::Deleting;
                s.transition = Some(transition);
            }
            self.schedule(&caller.region, Resource::Service(id.clone()));
            self.emit(&caller.region, Resource::Service(id.clone()), Change::Updated);
        }
        failed
    }

    pub fn modify_service_permissions(
        &mut self,
        caller: &Caller,
        id: &str,
        add: &[String],
        remove: &[String],
        dry: bool,
    ) -> Result<Vec<Principal>> {
        let current = self.own_service(caller, id)?.clone();
        for p in add {
            let ok = p == "*"
                || (p.starts_with("arn:aws:iam::")
                    && p.split(':').nth(4).is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())))
                || p.ends_with(".amazonaws.com");
            if !ok {
                return Err(Error::new("InvalidPrincipal", format!("Invalid principal {p}")));
            }
        }
        for p in remove {
            if !current.principals.iter().any(|x| &x.principal == p) {
                return Err(Error::new("InvalidPrincipal", format!("Principal {p} is not allowed on this service")));
            }
        }
        super::dry_run(dry)?;
        let s = self.own_service_mut(caller, id)?;
        let mut added = Vec::new();
        for p in add {
            if let Some(existing) = s.principals.iter().find(|x| &x.principal == p) {
                added.push(existing.clone());
                continue;
            }
            let principal = Principal { principal: p.clone(), id: ids::resource_id("vpce-svc-perm") };
            s.principals.push(principal.clone());
            added.push(principal);
        }
        s.principals.retain(|x| !remove.contains(&x.principal));
        self.emit(&caller.region, Resource::Service(id.to_string()), Change::Updated);
        Ok(added)
    }
}

impl World {
    /// The provider takes the costs of its service's endpoints; there is no
    /// way back (AWS takes only `ServiceOwner`).
    pub fn modify_payer_responsibility(&mut self, caller: &Caller, id: &str, payer: &str, dry: bool) -> Result<()> {
        self.own_service(caller, id)?;
        if payer != "ServiceOwner" {
            return Err(Error::invalid_value("PayerResponsibility", payer, "The only valid value is ServiceOwner."));
        }
        super::dry_run(dry)?;
        let s = self.own_service_mut(caller, id)?;
        if s.payer_responsibility.as_deref() != Some(payer) {
            s.payer_responsibility = Some(payer.to_string());
            self.emit(&caller.region, Resource::Service(id.to_string()), Change::Updated);
        }
        Ok(())
    }
}

pub fn invalid_service_name(name: &str) -> Error {
    Error::new("InvalidServiceName", format!("The Vpc Endpoint Service '{name}' does not exist"))
}
