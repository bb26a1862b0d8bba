//! Network load balancers: nodes (one address per subnet) and attributes.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::capacity::CapacityReservation;
use super::listener::listener_not_found;
use super::network_interface::EniSpec;
use super::tags::Tags;
use super::target_group::tg_not_found;
use super::vpc::not_found_subnet;
use super::{ids, region, Caller, Change, Error, Millis, Resource, Result, Transition, World};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadBalancer {
    pub arn: String,
    pub name: String,
    pub owner: String,
    pub dns_name: String,
    pub canonical_hosted_zone_id: String,
    pub scheme: String,
    pub vpc_id: String,
    pub ip_address_type: String,
    /// `provisioning` until the transition fires, then `active`.
    pub state: String,
    pub transition: Option<Transition>,
    pub nodes: Vec<LoadBalancerNode>,
    pub security_groups: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub created: Millis,
    pub tags: Tags,
    /// EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic (`on` is true,
    /// AWS's default): whether the inbound rules of `security_groups` apply
    /// to traffic arriving through PrivateLink endpoints. Means nothing for
    /// an NLB without security groups; see
    /// [`LoadBalancer::enforces_inbound_rules_on_private_link`].
    #[serde(default = "super::load_balancer_settings::on")]
    pub enforce_security_group_inbound_rules_on_private_link_traffic: bool,
    /// ModifyCapacityReservation's minimum capacity and its decreases.
    #[serde(default)]
    pub capacity_reservation: CapacityReservation,
}

/// One node of an NLB: its subnet and private address (and the ENI that
/// holds it), the address its targets see as the source.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadBalancerNode {
    pub subnet_id: String,
    pub availability_zone: String,
    pub private_ip: Ipv4Addr,
    pub network_interface_id: String,
}

impl LoadBalancer {
    /// `net/NAME/<16 hex>`: the tail of the ARN, used in ENI descriptions.
    pub fn resource_suffix(&self) -> &str {
        self.arn.split_once(":loadbalancer/").map(|(_, s)| s).unwrap_or("")
    }

    /// An attribute's value, AWS's default for one this record predates.
    pub fn attribute(&self, key: &str) -> &str {
        self.attributes
            .get(key)
            .map(String::as_str)
            .or_else(|| LOAD_BALANCER_ATTRIBUTES.iter().find(|(k, _)| *k == key).map(|(_, v)| *v))
            .unwrap_or("")
    }

    /// Every attribute, with AWS's defaults for those this record predates.
    pub fn all_attributes(&self) -> BTreeMap<String, String> {
        let mut all: BTreeMap<String, String> =
            LOAD_BALANCER_ATTRIBUTES.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        all.extend(self.attributes.clone());
        all
    }

    pub fn cross_zone(&self) -> bool {
        self.attributes.get("load_balancing.cross_zone.enabled").map(String::as_str) == Some("true")
    }

    /// Whether flows from PrivateLink endpoints must pass the inbound rules
    /// of the NLB's security groups (it has some, and enforcement is on).
    pub fn enforces_inbound_rules_on_private_link(&self) -> bool {
        !self.security_groups.is_empty() && self.enforce_security_group_inbound_rules_on_private_link_traffic
    }

    pub fn zones(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.availability_zone.clone()).collect()
    }
}

/// What CreateLoadBalancer asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateLoadBalancer {
    pub name: String,
    /// (subnet id, optional fixed private address)
    pub subnets: Vec<(String, Option<Ipv4Addr>)>,
    pub scheme: Option<String>,
    pub lb_type: Option<String>,
    pub ip_address_type: Option<String>,
    pub security_groups: Vec<String>,
    pub tags: Tags,
}

pub const LOAD_BALANCER_ATTRIBUTES: &[(&str, &str)] = &[
    ("access_logs.s3.bucket", ""),
    ("access_logs.s3.enabled", "false"),
    ("access_logs.s3.prefix", ""),
    ("deletion_protection.enabled", "false"),
    ("dns_record.client_routing_policy", "any_availability_zone"),
    ("ipv6.deny_all_igw_traffic", "true"),
    ("load_balancing.cross_zone.enabled", "false"),
    ("secondary_ips.auto_assigned.per_subnet", "0"),
    ("zonal_shift.config.enabled", "false"),
];

pub fn lb_not_found() -> Error {
    Error::new("LoadBalancerNotFound", "One or more load balancers not found")
}

pub(crate) fn check_elb_name(name: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.starts_with("internal-");
    if ok {
        Ok(())
    } else {
        Err(Error::validation(format!(
            "{what} name '{name}' cannot be longer than '32' characters, must contain only alphanumeric characters or hyphens, and must not begin or end with a hyphen"
        )))
    }
}

pub(crate) fn in_range(name: &str, v: Option<i64>, lo: i64, hi: i64, default: i64) -> Result<i64> {
    match v {
        None => Ok(default),
        Some(x) if (lo..=hi).contains(&x) => Ok(x),
        Some(x) => Err(Error::validation(format!("{name} '{x}' must be between '{lo}' and '{hi}'"))),
    }
}

impl World {
    /// A node of an NLB in `subnet_id`: its network interface, at `ip` or
    /// the next free address.
    pub(crate) fn new_load_balancer_node(
        &mut self,
        caller: &Caller,
        subnet_id: &str,
        ip: Option<Ipv4Addr>,
        description: &str,
        groups: &[String],
    ) -> Result<LoadBalancerNode> {
        let eni = self.create_network_interface(
            &caller.region,
            EniSpec {
                owner: &caller.account,
                subnet_id,
                ip,
                description: description.to_string(),
                interface_type: "network_load_balancer",
                requester_id: "amazon-elb",
                group_ids: groups.to_vec(),
            },
        )?;
        Ok(LoadBalancerNode {
            subnet_id: subnet_id.to_string(),
            availability_zone: eni.availability_zone.clone(),
            private_ip: eni.private_ip,
            network_interface_id: eni.id,
        })
    }

    pub fn create_load_balancer(
        &mut self,
        caller: &Caller,
        now: Millis,
        req: CreateLoadBalancer,
    ) -> Result<LoadBalancer> {
        check_elb_name(&req.name, "Load balancer")?;
        let lb_type = req.lb_type.clone().unwrap_or_else(|| "application".into());
        if lb_type != "network" {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                format!("Load balancer type '{lb_type}' is not supported by this emulator; use 'network'"),
            ));
        }
        let scheme = req.scheme.clone().unwrap_or_else(|| "internet-facing".into());
        if scheme != "internal" && scheme != "internet-facing" {
            return Err(Error::validation(format!("Scheme '{scheme}' is not valid")));
        }
        if req.subnets.is_empty() {
            return Err(Error::validation("At least one subnet must be specified"));
        }
        if let Some(t) = &req.ip_address_type {
            super::load_balancer_settings::check_ip_address_type(t)?;
        }
        let mut vpc_id = None;
        let mut zones = Vec::new();
        for (sid, _) in &req.subnets {
            let subnet = self
                .subnet(caller, sid)
                .map_err(|_| Error::new("SubnetNotFound", format!("The subnet ID '{sid}' is not valid")))?;
            if vpc_id.get_or_insert_with(|| subnet.vpc_id.clone()) != &subnet.vpc_id {
                return Err(Error::new("InvalidConfigurationRequest", "All subnets must belong to the same VPC"));
            }
            if zones.contains(&subnet.availability_zone) {
                return Err(Error::new(
                    "InvalidConfigurationRequest",
                    "A load balancer cannot be attached to multiple subnets in the same Availability Zone",
                ));
            }
            zones.push(subnet.availability_zone.clone());
        }
        let vpc_id = vpc_id.unwrap_or_default();
        let security_groups = self.check_load_balancer_security_groups(caller, &vpc_id, &req.security_groups)?;
        // Same name and same settings: AWS answers with the existing one.
        if let Some(existing) = self
            .region(&caller.region)
            .and_then(|r| r.load_balancers.values().find(|l| l.owner == caller.account && l.name == req.name))
        {
            let same = existing.vpc_id == vpc_id
                && existing.scheme == scheme
                && existing.nodes.iter().map(|n| &n.subnet_id).eq(req.subnets.iter().map(|s| &s.0));
            return if same {
                Ok(existing.clone())
            } else {
                Err(Error::new(
                    "DuplicateLoadBalancerName",
                    format!("A load balancer with the same name '{}' exists, but with different settings", req.name),
                ))
            };
        }
        let count = self
            .region(&caller.region)
            .map(|r| r.load_balancers.values().filter(|l| l.owner == caller.account).count())
            .unwrap_or(0);
        if count >= self.settings.load_balancers_per_region {
            return Err(Error::new(
                "TooManyLoadBalancers",
                "The quota for the number of load balancers has been reached",
            ));
        }
        let hex = ids::hex(16);
        let arn = format!(
            "arn:aws:elasticloadbalancing:{}:{}:loadbalancer/net/{}/{hex}",
            caller.region, caller.account, req.name
        );
        let prefix = if scheme == "internal" { "internal-" } else { "" };
        let _ = prefix; // NLB DNS names carry no `internal-` prefix.
        let dns_name = format!("{}-{hex}.elb.{}.amazonaws.com", req.name, caller.region);
        let description = format!("ELB net/{}/{hex}", req.name);
        let mut nodes = Vec::new();
        for (sid, ip) in &req.subnets {
            nodes.push(self.new_load_balancer_node(caller, sid, *ip, &description, &security_groups)?);
        }
        let lb = LoadBalancer {
            arn: arn.clone(),
            name: req.name,
            owner: caller.account.clone(),
            dns_name,
            canonical_hosted_zone_id: region::nlb_hosted_zone(&caller.region),
            scheme,
            vpc_id,
            ip_address_type: req.ip_address_type.unwrap_or_else(|| "ipv4".into()),
            state: "provisioning".into(),
            transition: Some(self.transition(now)),
            nodes,
            security_groups,
            attributes: LOAD_BALANCER_ATTRIBUTES.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            created: now,
            tags: req.tags,
            enforce_security_group_inbound_rules_on_private_link_traffic: true,
            capacity_reservation: CapacityReservation::default(),
        };
        self.region_mut(&caller.region).load_balancers.insert(arn.clone(), lb.clone());
        self.schedule(&caller.region, Resource::LoadBalancer(arn.clone()));
        // The create answer shows `provisioning`: that counts as seen.
        self.observe_load_balancer(&caller.region, &arn);
        self.emit(&caller.region, Resource::LoadBalancer(arn), Change::Created);
        Ok(lb)
    }

    pub(crate) fn advance_load_balancer(&mut self, region: &str, arn: &str, now: Millis) -> bool {
        let settings = self.settings.clone();
        let Some(lb) = self.region_mut(region).load_balancers.get_mut(arn) else {
            return false;
        };
        match lb.transition {
            Some(t) if t.due(now, &settings) => {
                lb.state = "active".into();
                lb.transition = None;
                self.emit(region, Resource::LoadBalancer(arn.to_string()), Change::Updated);
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    pub fn load_balancer(&self, caller: &Caller, arn: &str) -> Result<&LoadBalancer> {
        self.region(&caller.region)
            .and_then(|r| r.load_balancers.get(arn))
            .filter(|l| l.owner == caller.account)
            .ok_or_else(lb_not_found)
    }

    /// Marks a transitional state as seen by a client.
    pub fn observe_load_balancer(&mut self, region: &str, arn: &str) {
        let unseen = |l: &LoadBalancer| l.transition.is_some_and(|t| !t.observed);
        if !self.region(region).and_then(|r| r.load_balancers.get(arn)).is_some_and(unseen) {
            return;
        }
        let seen = self.region_mut(region).load_balancers.get_mut(arn).and_then(|l| l.transition.as_mut());
        if let Some(t) = seen.filter(|t| !t.observed) {
            t.observed = true;
            self.revision += 1;
        }
    }

    pub fn describe_load_balancers(
        &mut self,
        caller: &Caller,
        arns: &[String],
        names: &[String],
    ) -> Result<Vec<LoadBalancer>> {
        let found: Vec<LoadBalancer> = self
            .region(&caller.region)
            .map(|r| {
                r.load_balancers
                    .values()
                    .filter(|l| l.owner == caller.account)
                    .filter(|l| arns.is_empty() || arns.contains(&l.arn))
                    .filter(|l| names.is_empty() || names.contains(&l.name))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if found.len() < arns.len().max(names.len()) {
            return Err(if names.is_empty() {
                lb_not_found()
            } else {
                let missing: Vec<&String> = names.iter().filter(|n| !found.iter().any(|l| &l.name == *n)).collect();
                Error::new("LoadBalancerNotFound", format!("Load balancers '{missing:?}' not found"))
            });
        }
        for lb in &found {
            self.observe_load_balancer(&caller.region, &lb.arn);
        }
        Ok(found)
    }

    pub fn delete_load_balancer(&mut self, caller: &Caller, arn: &str) -> Result<()> {
        let lb = match self.load_balancer(caller, arn) {
            Ok(lb) => lb.clone(),
            // Deleting a load balancer that is already gone succeeds in AWS.
            Err(_) if arn.starts_with("arn:aws:elasticloadbalancing:") => return Ok(()),
            Err(e) => return Err(e),
        };
        if lb.attributes.get("deletion_protection.enabled").map(String::as_str) == Some("true") {
            return Err(Error::new(
                "OperationNotPermitted",
                format!("Load balancer '{arn}' cannot be deleted because deletion protection is enabled"),
            ));
        }
        let r = self.region_mut(&caller.region);
        if r.services.values().any(|s| !s.state.is_gone() && s.network_load_balancer_arns.iter().any(|a| a == arn)) {
            return Err(Error::new(
                "ResourceInUse",
                format!(
                    "Load balancer '{arn}' cannot be deleted because it is currently associated with another service"
                ),
            ));
        }
        let listeners: Vec<String> =
            r.listeners.values().filter(|l| l.load_balancer_arn == arn).map(|l| l.arn.clone()).collect();
        for l in &listeners {
            r.listeners.remove(l);
        }
        r.load_balancers.remove(arn);
        for l in listeners {
            self.emit(&caller.region, Resource::Listener(l), Change::Deleted);
        }
        for n in &lb.nodes {
            self.delete_network_interface(&caller.region, &n.network_interface_id);
        }
        self.refresh_target_usage(&caller.region);
        self.emit(&caller.region, Resource::LoadBalancer(arn.to_string()), Change::Deleted);
        Ok(())
    }

    pub fn modify_load_balancer_attributes(
        &mut self,
        caller: &Caller,
        arn: &str,
        attrs: &[(String, String)],
    ) -> Result<BTreeMap<String, String>> {
        self.load_balancer(caller, arn)?;
        for (k, v) in attrs {
            if !LOAD_BALANCER_ATTRIBUTES.iter().any(|(name, _)| name == k) {
                return Err(Error::new(
                    "InvalidConfigurationRequest",
                    format!("Load balancer attribute key '{k}' is not recognized"),
                ));
            }
            let valid = match k.as_str() {
                _ if k.ends_with(".enabled") => v == "true" || v == "false",
                "dns_record.client_routing_policy" => matches!(
                    v.as_str(),
                    "availability_zone_affinity" | "partial_availability_zone_affinity" | "any_availability_zone"
                ),
                "secondary_ips.auto_assigned.per_subnet" => v.parse::<u8>().is_ok_and(|n| n <= 7),
                _ => true,
            };
            if !valid {
                return Err(Error::new(
                    "InvalidConfigurationRequest",
                    format!("Load balancer attribute value '{v}' is not valid for key '{k}'"),
                ));
            }
            if k == "secondary_ips.auto_assigned.per_subnet" {
                let now = self.load_balancer(caller, arn)?.attribute(k).parse::<u8>().unwrap_or(0);
                if v.parse::<u8>().is_ok_and(|n| n < now) {
                    return Err(Error::new(
                        "InvalidConfigurationRequest",
                        format!("The number of secondary IP addresses per subnet cannot be decreased from '{now}'"),
                    ));
                }
            }
        }
        let lb = self.region_mut(&caller.region).load_balancers.get_mut(arn).ok_or_else(lb_not_found)?;
        for (k, v) in attrs {
            lb.attributes.insert(k.clone(), v.clone());
        }
        let out = lb.attributes.clone();
        self.emit(&caller.region, Resource::LoadBalancer(arn.to_string()), Change::Updated);
        Ok(out)
    }

    /// Tags of any ELBv2 resource by ARN.
    pub fn elb_tags_mut(&mut self, caller: &Caller, arn: &str) -> Result<&mut Tags> {
        if arn.contains(":listener-rule/") {
            return self.rule_tags_mut(caller, arn);
        }
        if arn.contains(":truststore/") {
            return Err(Error::new("TrustStoreNotFound", "One or more trust stores not found"));
        }
        let account = caller.account.clone();
        let r = self.region_mut(&caller.region);
        if let Some(l) = r.load_balancers.get_mut(arn).filter(|l| l.owner == account) {
            return Ok(&mut l.tags);
        }
        if let Some(t) = r.target_groups.get_mut(arn).filter(|t| t.owner == account) {
            return Ok(&mut t.tags);
        }
        if let Some(l) = r.listeners.get_mut(arn).filter(|l| l.owner == account) {
            return Ok(&mut l.tags);
        }
        Err(if arn.contains(":targetgroup/") {
            tg_not_found()
        } else if arn.contains(":listener/") {
            listener_not_found()
        } else {
            lb_not_found()
        })
    }

    pub fn ensure_subnet(&self, caller: &Caller, id: &str) -> Result<()> {
        self.subnet(caller, id).map(|_| ()).map_err(|_| not_found_subnet(id))
    }
}
