//! AWS services reachable through interface endpoints, and the consumer's
//! view of every service it may use (gateway services included).

use super::service::{invalid_service_name, ServiceState, SERVICE_FILTERS};
use super::tags::{self, Filter, Filterable, Tags};
use super::{region, Caller, Result, World};

/// An AWS service reachable through interface endpoints (`com.amazonaws.REGION.SHORT`).
/// Stored and dumped as its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsService {
    pub short: &'static str,
    pub region: String,
}

impl AwsService {
    pub fn parse(name: &str) -> Option<AwsService> {
        let rest = name.strip_prefix("com.amazonaws.")?;
        let (region, short) = rest.split_once('.')?;
        let short = AWS_SERVICES.iter().find(|s| **s == short)?;
        region::is_region_name(region).then(|| AwsService { short, region: region.to_string() })
    }

    pub fn all(region: &str) -> Vec<AwsService> {
        AWS_SERVICES.iter().map(|short| AwsService { short, region: region.to_string() }).collect()
    }

    pub fn name(&self) -> String {
        format!("com.amazonaws.{}.{}", self.region, self.short)
    }

    /// A stable id, as AWS services have one per region.
    pub fn id(&self) -> String {
        stable_service_id(&self.name(), 7)
    }

    pub fn private_dns_name(&self) -> String {
        format!("{}.{}.amazonaws.com", self.short, self.region)
    }

    pub fn base_dns_name(&self) -> String {
        format!("{}.{}.vpce.amazonaws.com", self.short, self.region)
    }

    pub fn availability_zones(&self) -> Vec<String> {
        region::zones(&self.region).into_iter().map(|z| z.name).collect()
    }
}

impl serde::Serialize for AwsService {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> serde::Deserialize<'de> for AwsService {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        AwsService::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("{name} is not an AWS service the emulator serves")))
    }
}

/// The AWS services the emulator itself answers, so their endpoints carry traffic.
pub const AWS_SERVICES: &[&str] = &["ec2", "elasticloadbalancing", "sts"];

/// One row of DescribeVpcEndpointServices, for either kind of service.
#[derive(Debug, Clone)]
pub struct ServiceDetail {
    pub name: String,
    /// `Interface` or `Gateway`: S3 is listed once as each.
    pub service_type: &'static str,
    pub id: String,
    pub owner: String,
    pub availability_zones: Vec<String>,
    pub base_dns_name: String,
    pub private_dns_name: Option<String>,
    pub verification_state: Option<String>,
    pub acceptance_required: bool,
    pub endpoint_policy_supported: bool,
    pub supported_ip_address_types: Vec<String>,
    pub region: String,
    pub tags: Tags,
    pub payer_responsibility: Option<String>,
}

impl Filterable for ServiceDetail {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "service-name" => vec![self.name.clone()],
            "service-type" => vec![self.service_type.into()],
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

impl World {
    /// Services a consumer may use: AWS services and the custom services that
    /// allow the caller, in this region.
    pub fn visible_services(&self, caller: &Caller) -> Vec<ServiceDetail> {
        let mut out: Vec<ServiceDetail> = AwsService::all(&caller.region)
            .into_iter()
            .map(|a| ServiceDetail {
                name: a.name(),
                service_type: "Interface",
                id: a.id(),
                owner: "amazon".into(),
                availability_zones: a.availability_zones(),
                base_dns_name: a.base_dns_name(),
                private_dns_name: Some(a.private_dns_name()),
                verification_state: Some("verified".into()),
                acceptance_required: false,
                endpoint_policy_supported: true,
                supported_ip_address_types: vec!["ipv4".into()],
                region: caller.region.clone(),
                tags: Tags::new(),
                payer_responsibility: None,
            })
            .collect();
        out.extend(self.custom_services(caller, &caller.region));
        out.extend(gateway_services(&caller.region));
        out.sort_by(|a, b| (&a.name, a.service_type).cmp(&(&b.name, b.service_type)));
        out
    }

    /// The custom services of region `home` the caller may use from its
    /// own region: there, those that allow it; elsewhere (cross-region),
    /// those that also list the caller's region as supported, shown with
    /// the caller region's zones and names.
    fn custom_services(&self, caller: &Caller, home: &str) -> Vec<ServiceDetail> {
        let remote = home != caller.region;
        let Some(r) = self.region(home) else { return vec![] };
        r.services
            .values()
            .filter(|s| s.state == ServiceState::Available && s.allows(caller))
            .filter(|s| !remote || s.supported_regions.contains(&caller.region))
            .map(|s| ServiceDetail {
                name: s.name.clone(),
                service_type: "Interface",
                id: s.id.clone(),
                owner: s.owner.clone(),
                availability_zones: if remote {
                    region::zones(&caller.region).into_iter().map(|z| z.name).collect()
                } else {
                    s.availability_zones.clone()
                },
                base_dns_name: s.base_dns_name_in(&caller.region),
                private_dns_name: s.private_dns.as_ref().map(|p| p.name.clone()),
                verification_state: s.private_dns.as_ref().map(|p| p.state.as_str().to_string()),
                acceptance_required: s.acceptance_required,
                endpoint_policy_supported: false,
                supported_ip_address_types: s.supported_ip_address_types.clone(),
                region: s.region.clone(),
                tags: if s.owner == caller.account { s.tags.clone() } else { Tags::new() },
                payer_responsibility: s.payer_responsibility.clone(),
            })
            .collect()
    }

    /// DescribeVpcEndpointServices; `service_regions` (ServiceRegion.N)
    /// adds the custom services of other regions open to the caller's.
    pub fn describe_services(
        &self,
        caller: &Caller,
        names: &[String],
        service_regions: &[String],
        filters: &[Filter],
    ) -> Result<Vec<ServiceDetail>> {
        tags::check_filter_names(filters, SERVICE_FILTERS)?;
        if let Some(r) = service_regions.iter().find(|r| !region::is_region_name(r)) {
            return Err(super::Error::invalid_value("ServiceRegion", r, "It is not a region name."));
        }
        let mut all = self.visible_services(caller);
        for home in service_regions.iter().filter(|r| **r != caller.region) {
            all.extend(self.custom_services(caller, home));
        }
        all.sort_by(|a, b| (&a.name, a.service_type).cmp(&(&b.name, b.service_type)));
        all.dedup_by(|a, b| a.name == b.name && a.service_type == b.service_type);
        for n in names {
            if !all.iter().any(|s| &s.name == n) {
                return Err(invalid_service_name(n));
            }
        }
        Ok(all
            .into_iter()
            .filter(|s| names.is_empty() || names.contains(&s.name))
            .filter(|s| tags::matches(s, filters))
            .collect())
    }
}

/// The services with gateway endpoints as DescribeVpcEndpointServices lists
/// them: S3 and DynamoDB as Gateway services, and S3 as an Interface service
/// too (listed as AWS lists it; the emulator serves S3 through gateway
/// endpoints only).
fn gateway_services(region_name: &str) -> Vec<ServiceDetail> {
    if !region::is_region_name(region_name) {
        return vec![];
    }
    let zones: Vec<String> = region::zones(region_name).into_iter().map(|z| z.name).collect();
    let detail = |short: &str, service_type: &'static str| {
        let name = format!("com.amazonaws.{region_name}.{short}");
        let (base, salt) = match service_type {
            "Gateway" => (format!("{short}.{region_name}.amazonaws.com"), 11),
            _ => (format!("{short}.{region_name}.vpce.amazonaws.com"), 7),
        };
        ServiceDetail {
            id: stable_service_id(&name, salt),
            name,
            service_type,
            owner: "amazon".into(),
            availability_zones: zones.clone(),
            base_dns_name: base,
            private_dns_name: None,
            verification_state: None,
            acceptance_required: false,
            endpoint_policy_supported: true,
            supported_ip_address_types: vec!["ipv4".into()],
            region: region_name.to_string(),
            tags: Tags::new(),
            payer_responsibility: None,
        }
    };
    vec![detail("s3", "Gateway"), detail("s3", "Interface"), detail("dynamodb", "Gateway")]
}

/// `vpce-svc-` and 17 hex digits that depend on the name only.
fn stable_service_id(name: &str, salt: u64) -> String {
    let h = region::synthetic_zone_id(name, salt).to_ascii_lowercase();
    let digits: String = h
        .bytes()
        .map(|b| char::from(b"0123456789abcdef"[(b % 16) as usize]))
        .chain("0123456789abcdef".chars())
        .take(17)
        .collect();
    format!("vpce-svc-{digits}")
}
