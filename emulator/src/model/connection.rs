//! The provider's side of endpoints: connections to its services, accepted
//! or rejected.

use super::endpoint::{check_endpoint_id, endpoint_not_found, EndpointState, VpcEndpoint};
use super::tags::{self, Filter, Filterable, Tags};
use super::{Caller, Change, Error, Millis, Resource, Result, Unsuccessful, World};

pub const CONNECTION_FILTERS: &[&str] =
    &["service-id", "vpc-endpoint-owner", "vpc-endpoint-state", "vpc-endpoint-id", "ip-address-type"];

/// The provider's view of an endpoint: a connection to its service.
#[derive(Debug, Clone)]
pub struct Connection {
    pub service_id: String,
    pub endpoint: VpcEndpoint,
    pub network_load_balancer_arns: Vec<String>,
}

impl Filterable for Connection {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "service-id" => vec![self.service_id.clone()],
            "vpc-endpoint-owner" => vec![self.endpoint.owner.clone()],
            "vpc-endpoint-state" => vec![self.endpoint.state.as_str().to_string()],
            "vpc-endpoint-id" => vec![self.endpoint.id.clone()],
            "ip-address-type" => vec![self.endpoint.ip_address_type.clone()],
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.endpoint.tags
    }
}

impl World {
    /// The provider's connections: endpoints of its services, made in this
    /// region or (cross-region) in another.
    pub fn describe_connections(&mut self, caller: &Caller, filters: &[Filter]) -> Result<Vec<Connection>> {
        tags::check_filter_names(filters, CONNECTION_FILTERS)?;
        let Some(home) = self.region(&caller.region) else { return Ok(vec![]) };
        let found: Vec<Connection> = self
            .regions()
            .flat_map(|r| r.endpoints.values())
            .filter(|e| e.service_region() == caller.region)
            .filter_map(|e| {
                let sid = e.service_id.as_ref()?;
                let s = home.services.get(sid)?;
                (s.owner == caller.account).then(|| Connection {
                    service_id: sid.clone(),
                    endpoint: e.clone(),
                    network_load_balancer_arns: s.network_load_balancer_arns.clone(),
                })
            })
            .filter(|c| tags::matches(c, filters))
            .collect();
        for c in &found {
            if c.endpoint.transition.is_some() {
                self.observe_endpoint(&c.endpoint.region, &c.endpoint.id);
            }
        }
        Ok(found)
    }

    /// An endpoint of the caller's service, in whatever region it was made.
    fn connection_endpoint(&self, caller: &Caller, service_id: &str, endpoint_id: &str) -> Result<VpcEndpoint> {
        check_endpoint_id(endpoint_id)?;
        self.regions()
            .find_map(|r| r.endpoints.get(endpoint_id))
            .filter(|e| e.service_id.as_deref() == Some(service_id) && e.service_region() == caller.region)
            .cloned()
            .ok_or_else(|| endpoint_not_found(endpoint_id))
    }

    pub fn accept_connections(
        &mut self,
        caller: &Caller,
        now: Millis,
        service_id: &str,
        endpoint_ids: &[String],
        dry: bool,
    ) -> Result<Vec<Unsuccessful>> {
        self.own_service(caller, service_id)?;
        super::dry_run(dry)?;
        let mut failed = Vec::new();
        for id in endpoint_ids {
            match self.connection_endpoint(caller, service_id, id) {
                Err(error) => failed.push(Unsuccessful { resource_id: id.clone(), error }),
                Ok(e) if e.state != EndpointState::PendingAcceptance => failed.push(Unsuccessful {
                    resource_id: id.clone(),
                    error: Error::new(
                        "InvalidState",
                        format!("Vpc Endpoint {id} is in state {} and cannot be accepted", e.state.as_str()),
                    ),
                }),
                Ok(e) => {
                    let transition = self.transition(now);
                    if let Some(ep) = self.region_mut(&e.region).endpoints.get_mut(id) {
                        ep.state = EndpointState::Pending;
                        ep.transition = Some(transition);
                    }
                    self.schedule(&e.region, Resource::Endpoint(id.clone()));
                    self.emit(&e.region, Resource::Endpoint(id.clone()), Change::Updated);
                    self.notify(&e.region, id, "Accept");
                }
            }
        }
        Ok(failed)
    }

    /// Rejects pending or live connections; a rejected endpoint loses its
    /// network interfaces and carries nothing.
    pub fn reject_connections(
        &mut self,
        caller: &Caller,
        service_id: &str,
        endpoint_ids: &[String],
        dry: bool,
    ) -> Result<Vec<Unsuccessful>> {
        self.own_service(caller, service_id)?;
        super::dry_run(dry)?;
        let mut failed = Vec::new();
        for id in endpoint_ids {
            match self.connection_endpoint(caller, service_id, id) {
                Err(error) => failed.push(Unsuccessful { resource_id: id.clone(), error }),
                Ok(e) if !e.state.is_live() => failed.push(Unsuccessful {
                    resource_id: id.clone(),
                    error: Error::new(
                        "InvalidState",
                        format!("Vpc Endpoint {id} is in state {} and cannot be rejected", e.state.as_str()),
                    ),
                }),
                Ok(e) => {
                    let enis = match self.region_mut(&e.region).endpoints.get_mut(id) {
                        Some(ep) => {
                            ep.state = EndpointState::Rejected;
                            ep.transition = None;
                            std::mem::take(&mut ep.network_interface_ids)
                        }
                        None => vec![],
                    };
                    for eni in enis {
                        self.delete_network_interface(&e.region, &eni);
                    }
                    self.emit(&e.region, Resource::Endpoint(id.clone()), Change::Updated);
                    self.notify(&e.region, id, "Reject");
                }
            }
        }
        Ok(failed)
    }
}
