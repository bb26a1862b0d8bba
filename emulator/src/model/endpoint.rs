//! Interface VPC endpoints and their connections, with AWS's state machine:
//!
//! ```text
//! create ── acceptance required ──> pendingAcceptance ── accept ──> pending ──> available
//!    └──── auto-accepted ─────────────────────────────────────────> pending ──> available
//! pendingAcceptance | available ── reject ──> rejected
//! any (consumer) ── delete ──> deleting ──> deleted ──> forgotten
//! ```
//!
//! Only `available` carries traffic; ENIs exist from creation until the
//! endpoint is deleted or rejected.

use std::net::Ipv4Addr;

use super::aws_service::AwsService;
use super::network_interface::EniSpec;
use super::service::invalid_service_name;
use super::tags::{self, Filter, Filterable, Tags};
use super::vpc::{not_found_group, not_found_subnet};
use super::{ids, region, Caller, Change, Error, Millis, Resource, Result, Transition, Unsuccessful, World};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndpointState {
    PendingAcceptance,
    Pending,
    Available,
    Deleting,
    Deleted,
    Rejected,
    Failed,
    Expired,
}

impl EndpointState {
    /// lowerCamel, as AWS sends it on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            EndpointState::PendingAcceptance => "pendingAcceptance",
            EndpointState::Pending => "pending",
            EndpointState::Available => "available",
            EndpointState::Deleting => "deleting",
            EndpointState::Deleted => "deleted",
            EndpointState::Rejected => "rejected",
            EndpointState::Failed => "failed",
            EndpointState::Expired => "expired",
        }
    }

    /// States that hold a connection open: they block deleting the service.
    pub fn is_live(&self) -> bool {
        matches!(self, EndpointState::PendingAcceptance | EndpointState::Pending | EndpointState::Available)
    }

    pub fn is_gone(&self) -> bool {
        matches!(self, EndpointState::Deleting | EndpointState::Deleted)
    }
}

/// Interface endpoints carry traffic through ENIs; gateway endpoints (S3,
/// DynamoDB) are routes in the VPC's route tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum EndpointType {
    #[default]
    Interface,
    Gateway,
}

impl EndpointType {
    pub fn as_str(&self) -> &'static str {
        match self {
            EndpointType::Interface => "Interface",
            EndpointType::Gateway => "Gateway",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsEntry {
    pub dns_name: String,
    pub hosted_zone_id: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VpcEndpoint {
    pub id: String,
    pub owner: String,
    pub region: String,
    pub vpc_id: String,
    pub service_name: String,
    /// The custom service behind the endpoint, if it is not an AWS service.
    pub service_id: Option<String>,
    /// The service's region when it is not the endpoint's (cross-region
    /// PrivateLink: CreateVpcEndpoint's ServiceRegion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_region: Option<String>,
    pub aws_service: Option<AwsService>,
    pub state: EndpointState,
    pub transition: Option<Transition>,
    pub subnet_ids: Vec<String>,
    pub network_interface_ids: Vec<String>,
    pub group_ids: Vec<String>,
    pub private_dns_enabled: bool,
    pub policy_document: Option<String>,
    pub ip_address_type: String,
    pub dns_record_ip_type: String,
    /// The 8 characters after the id in the endpoint's DNS names.
    pub dns_suffix: String,
    pub dns_entries: Vec<DnsEntry>,
    /// Hosted zone of the private DNS name in the consumer VPC.
    pub private_hosted_zone_id: String,
    pub connection_id: String,
    pub created: Millis,
    pub tags: Tags,
    pub last_error: Option<(String, String)>,
    /// Records written before gateway endpoints existed are interface ones.
    #[serde(default)]
    pub endpoint_type: EndpointType,
    /// A gateway endpoint's route tables, each with a route to the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route_table_ids: Vec<String>,
}

impl VpcEndpoint {
    /// True while the endpoint carries traffic.
    pub fn is_available(&self) -> bool {
        self.state == EndpointState::Available
    }

    /// The region of the service behind the endpoint.
    pub fn service_region(&self) -> &str {
        self.service_region.as_deref().unwrap_or(&self.region)
    }

    /// The private DNS name this endpoint answers inside its VPC, if any.
    pub fn private_dns_name(&self) -> Option<&str> {
        if !self.private_dns_enabled {
            return None;
        }
        self.dns_entries.get(1 + self.subnet_ids.len()).map(|e| e.dns_name.as_str())
    }
}

impl Filterable for VpcEndpoint {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "service-name" => vec![self.service_name.clone()],
            "vpc-id" => vec![self.vpc_id.clone()],
            "vpc-endpoint-id" => vec![self.id.clone()],
            "vpc-endpoint-state" => vec![self.state.as_str().to_string()],
            "vpc-endpoint-type" => vec![self.endpoint_type.as_str().into()],
            "ip-address-type" => vec![self.ip_address_type.clone()],
            "owner-id" => vec![self.owner.clone()],
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

pub const ENDPOINT_FILTERS: &[&str] = &[
    "service-name",
    "vpc-id",
    "vpc-endpoint-id",
    "vpc-endpoint-state",
    "vpc-endpoint-type",
    "ip-address-type",
    "owner-id",
];

/// The policy AWS gives an interface endpoint that is given none, as AWS
/// writes it (no Version; a space before each line break after a comma).
pub const DEFAULT_POLICY: &str = "{\n  \"Statement\": [\n    {\n      \"Action\": \"*\", \n      \"Effect\": \"Allow\", \n      \"Principal\": \"*\", \n      \"Resource\": \"*\"\n    }\n  ]\n}";

/// What CreateVpcEndpoint asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateEndpoint {
    pub vpc_id: String,
    pub service_name: String,
    pub endpoint_type: Option<String>,
    pub subnet_ids: Vec<String>,
    /// SubnetConfiguration.N: (subnet id, fixed IPv4 address)
    pub subnet_addresses: Vec<(String, Ipv4Addr)>,
    pub security_group_ids: Vec<String>,
    pub private_dns_enabled: Option<bool>,
    pub policy_document: Option<String>,
    pub ip_address_type: Option<String>,
    pub dns_record_ip_type: Option<String>,
    pub client_token: Option<String>,
    pub tags: Tags,
    /// The region of the service (ServiceRegion), when not the caller's.
    pub service_region: Option<String>,
    /// RouteTableId.N (gateway endpoints).
    pub route_table_ids: Vec<String>,
}

/// What ModifyVpcEndpoint asks for.
#[derive(Debug, Clone, Default)]
pub struct ModifyEndpoint {
    pub add_subnet_ids: Vec<String>,
    pub remove_subnet_ids: Vec<String>,
    pub add_security_group_ids: Vec<String>,
    pub remove_security_group_ids: Vec<String>,
    pub private_dns_enabled: Option<bool>,
    pub policy_document: Option<String>,
    pub reset_policy: bool,
    /// Add/RemoveRouteTableId.N (gateway endpoints).
    pub add_route_table_ids: Vec<String>,
    pub remove_route_table_ids: Vec<String>,
}

pub fn endpoint_not_found(id: &str) -> Error {
    Error::new("InvalidVpcEndpointId.NotFound", format!("The Vpc Endpoint Id '{id}' does not exist"))
}

pub fn check_endpoint_id(id: &str) -> Result<()> {
    if ids::is_well_formed(id, "vpce") {
        Ok(())
    } else {
        Err(Error::new("InvalidVpcEndpointId.Malformed", format!("The Vpc Endpoint Id '{id}' is malformed")))
    }
}

/// The service an endpoint may be created for, as the consumer sees it.
enum Target {
    Custom {
        id: String,
        /// The service's region, when it is not the caller's.
        region: Option<String>,
        acceptance_required: bool,
        private_dns: Option<String>,
        base: String,
        zones: Vec<String>,
    },
    Aws(AwsService),
}

impl World {
    /// The service `name` as the caller may connect to it: in the caller's
    /// region, or (cross-region) in `service_region` when the service lists
    /// the caller's region among its supported regions.
    fn resolve_service(&self, caller: &Caller, name: &str, service_region: Option<&str>) -> Result<Target> {
        let home = service_region.unwrap_or(&caller.region);
        if !region::is_region_name(home) {
            return Err(Error::invalid_value("ServiceRegion", home, "It is not a region name."));
        }
        let remote = home != caller.region;
        if let Some(aws) = AwsService::parse(name) {
            if aws.region != caller.region || remote {
                return Err(invalid_service_name(name));
            }
            return Ok(Target::Aws(aws));
        }
        let service = self
            .region(home)
            .and_then(|r| r.services.values().find(|s| s.name == name))
            .filter(|s| s.state == super::ServiceState::Available && s.allows(caller))
            .filter(|s| !remote || s.supported_regions.contains(&caller.region))
            .ok_or_else(|| invalid_service_name(name))?;
        Ok(Target::Custom {
            id: service.id.clone(),
            region: remote.then(|| home.to_string()),
            acceptance_required: service.acceptance_required,
            private_dns: service.usable_private_dns_name().map(str::to_string),
            // A cross-region endpoint is named, and placed, in its own
            // region: any of its zones will do.
            base: service.base_dns_name_in(&caller.region),
            zones: if remote {
                region::zones(&caller.region).into_iter().map(|z| z.name).collect()
            } else {
                service.availability_zones.clone()
            },
        })
    }

    pub fn create_endpoint(
        &mut self,
        caller: &Caller,
        now: Millis,
        req: CreateEndpoint,
        dry: bool,
    ) -> Result<VpcEndpoint> {
        let mut fingerprint = format!(
            "{:?}",
            (&req.vpc_id, &req.service_name, &req.subnet_ids, &req.security_group_ids, req.private_dns_enabled)
        );
        // Only when given, so tokens recorded before ServiceRegion existed still match.
        if let Some(r) = &req.service_region {
            fingerprint.push_str(r);
        }
        if let Some(id) = self.idempotent(caller, "CreateVpcEndpoint", req.client_token.as_deref(), &fingerprint)? {
            if let Some(e) = self.region(&caller.region).and_then(|r| r.endpoints.get(&id)) {
                return Ok(e.clone());
            }
        }
        let vpc = self.vpc(caller, &req.vpc_id)?.clone();
        let endpoint_type = req.endpoint_type.clone().unwrap_or_else(|| "Gateway".into());
        if endpoint_type == "Gateway" {
            return self.create_gateway_endpoint(caller, now, &vpc, req, fingerprint, dry);
        }
        super::gateway_endpoint::refuse_interface_of_gateway_service(caller, &req.service_name, &endpoint_type)?;
        let target = self.resolve_service(caller, &req.service_name, req.service_region.as_deref())?;
        if endpoint_type != "Interface" {
            return Err(Error::invalid_parameter(format!(
                "Endpoint type ({endpoint_type}) does not match available service types ([Interface])."
            )));
        }
        if !req.route_table_ids.is_empty() {
            return Err(Error::invalid_parameter("Route tables are only valid for Gateway endpoints"));
        }
        let (service_zones, private_dns_name) = match &target {
            Target::Custom { zones, private_dns, .. } => (zones.clone(), private_dns.clone()),
            Target::Aws(a) => (a.availability_zones(), Some(a.private_dns_name())),
        };
        let mut subnet_ids = req.subnet_ids.clone();
        for (sid, _) in &req.subnet_addresses {
            if !subnet_ids.contains(sid) {
                subnet_ids.push(sid.clone());
            }
        }
        let mut zones_used = Vec::new();
        for sid in &subnet_ids {
            let subnet = self.subnet(caller, sid)?;
            if subnet.vpc_id != vpc.id {
                return Err(Error::invalid_parameter(format!(
                    "The subnet ID '{sid}' does not belong to vpc '{}'",
                    vpc.id
                )));
            }
            if zones_used.contains(&subnet.availability_zone) {
                return Err(Error::new(
                    "DuplicateSubnetsInSameZone",
                    format!("Found another VPC endpoint subnet in the availability zone of {sid}. VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service."),
                ));
            }
            if !service_zones.contains(&subnet.availability_zone) {
                return Err(Error::invalid_parameter(format!(
                    "The VPC endpoint service {} does not support the availability zone of the subnet: {sid}.",
                    req.service_name
                )));
            }
            zones_used.push(subnet.availability_zone.clone());
        }
        let group_ids = if req.security_group_ids.is_empty() {
            vec![vpc.default_security_group.clone()]
        } else {
            req.security_group_ids.clone()
        };
        for g in &group_ids {
            let sg = self.security_group(caller, g)?;
            if sg.vpc_id != vpc.id {
                return Err(Error::invalid_parameter(format!(
                    "The security group '{g}' does not belong to vpc '{}'",
                    vpc.id
                )));
            }
        }
        let dns_ok = vpc.enable_dns_support && vpc.enable_dns_hostnames;
        let private_dns_enabled = match req.private_dns_enabled {
            Some(true) => {
                if private_dns_name.is_none() {
                    return Err(Error::invalid_parameter(format!(
                        "Private DNS can't be enabled because the service {} does not provide a private DNS name.",
                        req.service_name
                    )));
                }
                if !dns_ok {
                    return Err(Error::invalid_parameter(format!(
                        "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for {}",
                        vpc.id
                    )));
                }
                true
            }
            Some(false) => false,
            None => private_dns_name.is_some() && dns_ok,
        };
        let ip_address_type = req.ip_address_type.clone().unwrap_or_else(|| "ipv4".into());
        if ip_address_type != "ipv4" {
            return Err(Error::invalid_parameter(format!(
                "IpAddressType {ip_address_type} is not supported: the emulator's networks are IPv4"
            )));
        }
        if let Some(t) = &req.dns_record_ip_type {
            if t != "ipv4" && t != "service-defined" {
                return Err(Error::invalid_parameter(format!(
                    "DnsRecordIpType {t} is not supported for ipv4 endpoints"
                )));
            }
        }
        if let Some(p) = &req.policy_document {
            if serde_json::from_str::<serde_json::Value>(p).is_err() {
                return Err(Error::new("InvalidPolicyDocument", "The policy document is not valid JSON"));
            }
            if matches!(target, Target::Custom { .. }) {
                return Err(Error::invalid_parameter("This service does not support endpoint policies"));
            }
        }
        let in_vpc = self
            .region(&caller.region)
            .map(|r| {
                r.endpoints_in_vpc(&vpc.id)
                    .filter(|e| e.endpoint_type == EndpointType::Interface && !e.state.is_gone())
                    .count()
            })
            .unwrap_or(0);
        if in_vpc >= self.settings.endpoints_per_vpc {
            return Err(Error::new(
                "VpcEndpointLimitExceeded",
                format!(
                    "The maximum number of VPC endpoints ({}) has been reached for {}",
                    self.settings.endpoints_per_vpc, vpc.id
                ),
            ));
        }
        super::dry_run(dry)?;

        let id = ids::resource_id("vpce");
        let mut eni_ids = Vec::new();
        for sid in &subnet_ids {
            let ip = req.subnet_addresses.iter().find(|(s, _)| s == sid).map(|(_, ip)| *ip);
            let made = self.create_network_interface(
                &caller.region,
                EniSpec {
                    owner: &caller.account,
                    subnet_id: sid,
                    ip,
                    description: format!("VPC Endpoint Interface {id}"),
                    interface_type: "vpc_endpoint",
                    requester_id: "amazon-vpce",
                    group_ids: group_ids.clone(),
                },
            );
            match made {
                Ok(eni) => eni_ids.push(eni.id),
                Err(e) => {
                    for eni in &eni_ids {
                        self.delete_network_interface(&caller.region, eni);
                    }
                    return Err(e);
                }
            }
        }
        let (service_id, service_region, aws_service, acceptance_required, base) = match target {
            Target::Custom { id, region, acceptance_required, base, .. } => {
                (Some(id), region, None, acceptance_required, base)
            }
            Target::Aws(a) => {
                let base = a.base_dns_name();
                (None, None, Some(a), false, base)
            }
        };
        let state = if acceptance_required { EndpointState::PendingAcceptance } else { EndpointState::Pending };
        let mut endpoint = VpcEndpoint {
            id: id.clone(),
            owner: caller.account.clone(),
            region: caller.region.clone(),
            vpc_id: vpc.id.clone(),
            service_name: req.service_name.clone(),
            policy_document: if aws_service.is_some() {
                Some(req.policy_document.clone().unwrap_or_else(|| DEFAULT_POLICY.to_string()))
            } else {
                None
            },
            service_id,
            service_region,
            aws_service,
            state,
            transition: (state == EndpointState::Pending).then(|| self.transition(now)),
            subnet_ids,
            network_interface_ids: eni_ids,
            group_ids,
            private_dns_enabled,
            ip_address_type,
            dns_record_ip_type: "ipv4".into(),
            dns_suffix: ids::dns_suffix(),
            dns_entries: vec![],
            private_hosted_zone_id: region::synthetic_zone_id(&id, 3),
            connection_id: ids::resource_id("vpce-con"),
            created: now,
            tags: req.tags.clone(),
            last_error: None,
            endpoint_type: EndpointType::Interface,
            route_table_ids: vec![],
        };
        endpoint.dns_entries = self.dns_entries(&endpoint, &base, private_dns_name.as_deref());
        let r = self.region_mut(&caller.region);
        r.endpoints.insert(id.clone(), endpoint.clone());
        r.endpoints_by_vpc.entry(endpoint.vpc_id.clone()).or_default().insert(id.clone());
        self.remember_token(caller, "CreateVpcEndpoint", req.client_token.as_deref(), fingerprint, &id);
        if endpoint.transition.is_some() {
            self.schedule(&caller.region, Resource::Endpoint(id.clone()));
            // The create answer itself shows `pending`: that counts as seen.
            self.observe_endpoint(&caller.region, &id);
        }
        self.emit(&caller.region, Resource::Endpoint(id.clone()), Change::Created);
        self.notify(&caller.region, &id, "Connect");
        if !acceptance_required && endpoint.service_id.is_some() {
            // Acceptance not required: the service accepts at once.
            self.notify(&caller.region, &id, "Accept");
        }
        Ok(endpoint)
    }

    /// Regional name, one zonal name per subnet's zone, then the private name.
    fn dns_entries(&self, e: &VpcEndpoint, base: &str, private_dns_name: Option<&str>) -> Vec<DnsEntry> {
        let zone_id = region::vpce_hosted_zone(&e.region);
        let stem = format!("{}-{}", e.id, e.dns_suffix);
        let mut out = vec![DnsEntry { dns_name: format!("{stem}.{base}"), hosted_zone_id: zone_id.clone() }];
        let r = self.region(&e.region);
        for sid in &e.subnet_ids {
            if let Some(s) = r.and_then(|r| r.subnets.get(sid)) {
                out.push(DnsEntry {
                    dns_name: format!("{stem}-{}.{base}", s.availability_zone),
                    hosted_zone_id: zone_id.clone(),
                });
            }
        }
        if e.private_dns_enabled {
            if let Some(name) = private_dns_name {
                out.push(DnsEntry { dns_name: name.to_string(), hosted_zone_id: e.private_hosted_zone_id.clone() });
            }
        }
        out
    }

    fn base_and_private_name(&self, e: &VpcEndpoint) -> (String, Option<String>) {
        if let Some(a) = &e.aws_service {
            return (a.base_dns_name(), Some(a.private_dns_name()));
        }
        let s = e.service_id.as_ref().and_then(|id| self.region(e.service_region()).and_then(|r| r.services.get(id)));
        match s {
            Some(s) => (s.base_dns_name_in(&e.region), s.usable_private_dns_name().map(str::to_string)),
            None => {
                let base = e.dns_entries.first().and_then(|d| d.dns_name.split_once('.')).map(|(_, b)| b.to_string());
                (base.unwrap_or_default(), None)
            }
        }
    }

    /// Recomputes the DNS entries of every endpoint of a service, in any
    /// region (its private DNS name may have changed or been verified).
    pub(crate) fn refresh_endpoints_of_service(&mut self, region: &str, service_id: &str) {
        let ids: Vec<(String, String)> = self
            .regions()
            .flat_map(|r| {
                r.endpoints
                    .values()
                    .filter(|e| e.service_id.as_deref() == Some(service_id) && e.service_region() == region)
                    .map(|e| (e.region.clone(), e.id.clone()))
            })
            .collect();
        for (r, id) in ids {
            self.refresh_dns_entries(&r, &id);
        }
    }

    fn refresh_dns_entries(&mut self, region: &str, id: &str) {
        let Some(e) = self.region(region).and_then(|r| r.endpoints.get(id)).cloned() else {
            return;
        };
        let (base, private) = self.base_and_private_name(&e);
        let entries = self.dns_entries(&e, &base, private.as_deref());
        if entries != e.dns_entries {
            if let Some(e) = self.region_mut(region).endpoints.get_mut(id) {
                e.dns_entries = entries;
            }
            self.emit(region, Resource::Endpoint(id.to_string()), Change::Updated);
        }
    }

    pub fn observe_endpoint(&mut self, region: &str, id: &str) {
        // Read first: a write keeps an image of the record.
        let unseen = |e: &VpcEndpoint| e.transition.is_some_and(|t| !t.observed);
        if !self.region(region).and_then(|r| r.endpoints.get(id)).is_some_and(unseen) {
            return;
        }
        let seen = self.region_mut(region).endpoints.get_mut(id).and_then(|e| e.transition.as_mut());
        if let Some(t) = seen.filter(|t| !t.observed) {
            t.observed = true;
            self.revision += 1;
        }
    }

    pub(crate) fn advance_endpoint(&mut self, region: &str, id: &str, now: Millis) -> bool {
        let settings = self.settings.clone();
        let Some(e) = self.region_mut(region).endpoints.get_mut(id) else {
            return false;
        };
        let Some(t) = e.transition else { return false };
        if !t.due(now, &settings) {
            return true;
        }
        match e.state {
            EndpointState::Pending => {
                e.state = EndpointState::Available;
                e.transition = None;
                self.emit(region, Resource::Endpoint(id.to_string()), Change::Updated);
                false
            }
            EndpointState::Deleting => {
                e.state = EndpointState::Deleted;
                e.transition = Some(Transition { at: now + settings.deleted_retention_ms, observed: true });
                let enis = std::mem::take(&mut e.network_interface_ids);
                for eni in enis {
                    self.delete_network_interface(region, &eni);
                }
                self.emit(region, Resource::Endpoint(id.to_string()), Change::Updated);
                true
            }
            EndpointState::Deleted => {
                let r = self.region_mut(region);
                if let Some(gone) = r.endpoints.remove(id) {
                    if let Some(ids) = r.endpoints_by_vpc.get_mut(&gone.vpc_id) {
                        ids.remove(id);
                    }
                }
                self.emit(region, Resource::Endpoint(id.to_string()), Change::Deleted);
                false
            }
            _ => {
                e.transition = None;
                false
            }
        }
    }

    /// The caller's own endpoint.
    pub fn endpoint(&self, caller: &Caller, id: &str) -> Result<&VpcEndpoint> {
        check_endpoint_id(id)?;
        self.region(&caller.region)
            .and_then(|r| r.endpoints.get(id))
            .filter(|e| e.owner == caller.account)
            .ok_or_else(|| endpoint_not_found(id))
    }

    pub fn describe_endpoints(
        &mut self,
        caller: &Caller,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<VpcEndpoint>> {
        let found = self.describe_endpoint_ids(caller, ids, filters)?;
        let region = self.region(&caller.region);
        Ok(found.iter().filter_map(|id| region.and_then(|r| r.endpoints.get(id)).cloned()).collect())
    }

    /// The ids of the endpoints a describe lists (their transitions seen,
    /// as [`World::describe_endpoints`]), so that a caller can page through
    /// them before copying any endpoint.
    pub fn describe_endpoint_ids(
        &mut self,
        caller: &Caller,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<String>> {
        tags::check_filter_names(filters, ENDPOINT_FILTERS)?;
        for id in ids {
            self.endpoint(caller, id)?;
        }
        let mut observe = Vec::new();
        let found: Vec<String> = self
            .region(&caller.region)
            .map(|r| {
                let pick = |e: &&VpcEndpoint| e.owner == caller.account && tags::matches(*e, filters);
                let picked: Vec<&VpcEndpoint> = if ids.is_empty() {
                    r.endpoints.values().filter(pick).collect()
                } else {
                    ids.iter().filter_map(|id| r.endpoints.get(id)).filter(pick).collect()
                };
                observe = picked.iter().filter(|e| e.transition.is_some()).map(|e| e.id.clone()).collect();
                picked.into_iter().map(|e| e.id.clone()).collect()
            })
            .unwrap_or_default();
        for id in &observe {
            self.observe_endpoint(&caller.region, id);
        }
        Ok(found)
    }

    pub fn modify_endpoint(&mut self, caller: &Caller, id: &str, req: ModifyEndpoint, dry: bool) -> Result<()> {
        let e = self.endpoint(caller, id)?.clone();
        if e.state.is_gone() || matches!(e.state, EndpointState::Rejected | EndpointState::Failed) {
            return Err(Error::new(
                "IncorrectState",
                format!("The Vpc Endpoint {id} is in state {}", e.state.as_str()),
            ));
        }
        if e.endpoint_type == EndpointType::Gateway {
            return self.modify_gateway_endpoint(caller, &e, req, dry);
        }
        if !req.add_route_table_ids.is_empty() || !req.remove_route_table_ids.is_empty() {
            return Err(Error::invalid_parameter("Route tables are only valid for Gateway endpoints"));
        }
        let vpc = self.vpc(caller, &e.vpc_id)?.clone();
        let (base, private_name) = self.base_and_private_name(&e);
        let service_zones = match (&e.aws_service, &e.service_id) {
            (Some(a), _) => a.availability_zones(),
            (None, Some(_)) if e.service_region() != e.region => {
                region::zones(&e.region).into_iter().map(|z| z.name).collect()
            }
            (None, Some(sid)) => self
                .region(&caller.region)
                .and_then(|r| r.services.get(sid))
                .map(|s| s.availability_zones.clone())
                .unwrap_or_default(),
            _ => vec![],
        };
        let mut subnets = e.subnet_ids.clone();
        for sid in &req.remove_subnet_ids {
            if !subnets.contains(sid) {
                return Err(not_found_subnet(sid));
            }
            subnets.retain(|s| s != sid);
        }
        let mut zones: Vec<String> = subnets
            .iter()
            .filter_map(|s| {
                self.region(&caller.region).and_then(|r| r.subnets.get(s)).map(|s| s.availability_zone.clone())
            })
            .collect();
        for sid in &req.add_subnet_ids {
            if subnets.contains(sid) {
                continue;
            }
            let subnet = self.subnet(caller, sid)?;
            if subnet.vpc_id != vpc.id {
                return Err(Error::invalid_parameter(format!(
                    "The subnet ID '{sid}' does not belong to vpc '{}'",
                    vpc.id
                )));
            }
            if zones.contains(&subnet.availability_zone) {
                return Err(Error::new(
                    "DuplicateSubnetsInSameZone",
                    format!("Found another VPC endpoint subnet in the availability zone of {sid}."),
                ));
            }
            if !service_zones.contains(&subnet.availability_zone) {
                return Err(Error::invalid_parameter(format!(
                    "The VPC endpoint service {} does not support the availability zone of the subnet: {sid}.",
                    e.service_name
                )));
            }
            zones.push(subnet.availability_zone.clone());
            subnets.push(sid.clone());
        }
        let mut groups = e.group_ids.clone();
        for g in &req.add_security_group_ids {
            let sg = self.security_group(caller, g)?;
            if sg.vpc_id != vpc.id {
                return Err(Error::invalid_parameter(format!(
                    "The security group '{g}' does not belong to vpc '{}'",
                    vpc.id
                )));
            }
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
        for g in &req.remove_security_group_ids {
            if !groups.contains(g) {
                return Err(not_found_group(g));
            }
            groups.retain(|x| x != g);
        }
        if groups.is_empty() {
            return Err(Error::invalid_parameter("An interface endpoint must have at least one security group"));
        }
        if req.private_dns_enabled == Some(true) {
            if private_name.is_none() {
                return Err(Error::invalid_parameter(
                    "Private DNS can't be enabled because the service does not provide a private DNS name.",
                ));
            }
            if !(vpc.enable_dns_support && vpc.enable_dns_hostnames) {
                return Err(Error::invalid_parameter(format!(
                    "Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for {}",
                    vpc.id
                )));
            }
        }
        if req.policy_document.is_some() && e.aws_service.is_none() {
            return Err(Error::invalid_parameter("This service does not support endpoint policies"));
        }
        if let Some(p) = &req.policy_document {
            if serde_json::from_str::<serde_json::Value>(p).is_err() {
                return Err(Error::new("InvalidPolicyDocument", "The policy document is not valid JSON"));
            }
        }
        super::dry_run(dry)?;

        // ENIs follow the subnets: removed subnets lose theirs, added ones get one.
        let mut enis = e.network_interface_ids.clone();
        for sid in &req.remove_subnet_ids {
            let gone: Vec<String> = enis
                .iter()
                .filter(|n| {
                    self.region(&caller.region)
                        .and_then(|r| r.network_interfaces.get(*n))
                        .is_some_and(|n| &n.subnet_id == sid)
                })
                .cloned()
                .collect();
            for n in gone {
                self.delete_network_interface(&caller.region, &n);
                enis.retain(|x| x != &n);
            }
        }
        for sid in &req.add_subnet_ids {
            if e.subnet_ids.contains(sid) {
                continue;
            }
            let eni = self.create_network_interface(
                &caller.region,
                EniSpec {
                    owner: &caller.account,
                    subnet_id: sid,
                    ip: None,
                    description: format!("VPC Endpoint Interface {id}"),
                    interface_type: "vpc_endpoint",
                    requester_id: "amazon-vpce",
                    group_ids: groups.clone(),
                },
            )?;
            enis.push(eni.id);
        }
        let r = self.region_mut(&caller.region);
        for n in &enis {
            if let Some(eni) = r.network_interfaces.get_mut(n) {
                eni.group_ids = groups.clone();
            }
        }
        let Some(ep) = r.endpoints.get_mut(id) else {
            return Err(endpoint_not_found(id));
        };
        ep.subnet_ids = subnets;
        ep.network_interface_ids = enis.clone();
        ep.group_ids = groups;
        if let Some(p) = req.private_dns_enabled {
            ep.private_dns_enabled = p;
        }
        if req.reset_policy && ep.aws_service.is_some() {
            ep.policy_document = Some(DEFAULT_POLICY.to_string());
        }
        if let Some(p) = req.policy_document {
            ep.policy_document = Some(p);
        }
        let updated = ep.clone();
        let entries = self.dns_entries(&updated, &base, private_name.as_deref());
        if let Some(ep) = self.region_mut(&caller.region).endpoints.get_mut(id) {
            ep.dns_entries = entries;
        }
        for n in enis {
            self.emit(&caller.region, Resource::NetworkInterface(n), Change::Updated);
        }
        self.emit(&caller.region, Resource::Endpoint(id.to_string()), Change::Updated);
        Ok(())
    }

    pub fn delete_endpoints(&mut self, caller: &Caller, now: Millis, ids: &[String]) -> Vec<Unsuccessful> {
        let mut failed = Vec::new();
        for id in ids {
            let e = match self.endpoint(caller, id) {
                Ok(e) => e.clone(),
                Err(error) => {
                    failed.push(Unsuccessful { resource_id: id.clone(), error });
                    continue;
                }
            };
            if e.state.is_gone() {
                continue;
            }
            let transition = self.transition(now);
            if let Some(ep) = self.region_mut(&caller.region).endpoints.get_mut(id) {
                ep.state = EndpointState::Deleting;
                ep.transition = Some(transition);
            }
            self.schedule(&caller.region, Resource::Endpoint(id.clone()));
            self.emit(&caller.region, Resource::Endpoint(id.clone()), Change::Updated);
            self.notify(&caller.region, id, "Delete");
        }
        failed
    }
}

pub const ASSOCIATION_FILTERS: &[&str] = &[
    "vpc-endpoint-id",
    "associated-resource-accessibility",
    "association-id",
    "associated-resource-id",
    "service-network-arn",
    "resource-configuration-group-arn",
];

impl World {
    /// The service networks and resource configurations associated with
    /// the caller's endpoints. Only endpoints of type ServiceNetwork or
    /// Resource (VPC Lattice) have any; interface and gateway endpoints,
    /// the only kinds the emulator makes, never do.
    pub fn describe_endpoint_associations(&self, caller: &Caller, ids: &[String], filters: &[Filter]) -> Result<()> {
        tags::check_filter_names(filters, ASSOCIATION_FILTERS)?;
        for id in ids {
            self.endpoint(caller, id)?;
        }
        Ok(())
    }
}
