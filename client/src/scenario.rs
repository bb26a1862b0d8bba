//! The walkthrough as functions: publish a service behind an NLB, allow a
//! principal, build a consumer VPC, create an endpoint, accept it, wait.

use std::time::Duration;

use crate::api::{Client, Result};
use crate::resources::{Endpoint, LoadBalancer, ServiceConfiguration, Subnet, Vpc};

/// What a provider publishes.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub vpc_cidr: String,
    /// (CIDR, zone) of each NLB subnet.
    pub subnets: Vec<(String, String)>,
    pub listener_port: u16,
    /// (id, port, zone): an address in the VPC, or a loopback one with zone `all`.
    pub targets: Vec<(String, u16, Option<String>)>,
    pub acceptance_required: bool,
    pub cross_zone: bool,
    /// Principals allowed to connect, e.g. `arn:aws:iam::222222222222:root`.
    pub allowed: Vec<String>,
}

impl ServiceSpec {
    /// The seed walkthrough's provider: 10.0.0.0/16 in two zones, port 80,
    /// one target at 10.0.128.142, acceptance required, cross-zone on.
    pub fn walkthrough(consumer_account: &str) -> ServiceSpec {
        ServiceSpec {
            name: "privatelink-web".into(),
            vpc_cidr: "10.0.0.0/16".into(),
            subnets: vec![
                ("10.0.0.0/20".into(), "ap-northeast-1a".into()),
                ("10.0.128.0/20".into(), "ap-northeast-1c".into()),
            ],
            listener_port: 80,
            targets: vec![("10.0.128.142".into(), 80, None)],
            acceptance_required: true,
            cross_zone: true,
            allowed: vec![format!("arn:aws:iam::{consumer_account}:root")],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Published {
    pub vpc: Vpc,
    pub subnets: Vec<Subnet>,
    pub load_balancer: LoadBalancer,
    pub target_group: String,
    pub service: ServiceConfiguration,
}

pub async fn publish_service(provider: &Client, spec: &ServiceSpec) -> Result<Published> {
    let vpc = provider.create_vpc(&spec.vpc_cidr).await?;
    let mut subnets = Vec::new();
    for (cidr, zone) in &spec.subnets {
        subnets.push(provider.create_subnet(&vpc.id, cidr, zone).await?);
    }
    let ids: Vec<&str> = subnets.iter().map(|s| s.id.as_str()).collect();
    let lb = provider.create_network_load_balancer(&spec.name, &ids).await?;
    let tg = provider.create_target_group(&spec.name, &vpc.id, spec.listener_port).await?;
    let targets: Vec<(&str, u16, Option<&str>)> =
        spec.targets.iter().map(|(id, port, zone)| (id.as_str(), *port, zone.as_deref())).collect();
    provider.register_targets(&tg, &targets).await?;
    provider.create_listener(&lb.arn, spec.listener_port, &tg).await?;
    if spec.cross_zone {
        provider.set_cross_zone(&lb.arn, true).await?;
    }
    let service = provider.create_endpoint_service(&lb.arn, spec.acceptance_required).await?;
    if !spec.allowed.is_empty() {
        let allowed: Vec<&str> = spec.allowed.iter().map(String::as_str).collect();
        provider.allow_principals(&service.id, &allowed).await?;
    }
    let load_balancer = provider.describe_load_balancer(&lb.arn).await?;
    Ok(Published { vpc, subnets, load_balancer, target_group: tg, service })
}

#[derive(Debug, Clone)]
pub struct ConsumerVpc {
    pub vpc: Vpc,
    pub subnets: Vec<Subnet>,
    pub security_group: String,
}

/// The walkthrough's consumer VPC: 10.24.0.0/16, a subnet in each of two
/// zones, a security group admitting `port` from the VPC.
pub async fn consumer_vpc(consumer: &Client, port: u16) -> Result<ConsumerVpc> {
    let vpc = consumer.create_vpc("10.24.0.0/16").await?;
    let mut subnets = Vec::new();
    for (cidr, zone) in [("10.24.16.0/20", "ap-northeast-1a"), ("10.24.112.0/20", "ap-northeast-1c")] {
        subnets.push(consumer.create_subnet(&vpc.id, cidr, zone).await?);
    }
    let security_group = consumer.create_security_group(&vpc.id, "endpoint", port, "10.24.0.0/16").await?;
    Ok(ConsumerVpc { vpc, subnets, security_group })
}

/// Creates the endpoint, has the provider accept it when needed, and waits
/// until it is available.
pub async fn connect(
    consumer: &Client,
    provider: &Client,
    service: &ServiceConfiguration,
    vpc: &ConsumerVpc,
) -> Result<Endpoint> {
    let subnets: Vec<&str> = vpc.subnets.iter().map(|s| s.id.as_str()).collect();
    let endpoint =
        consumer.create_interface_endpoint(&vpc.vpc.id, &service.name, &subnets, &[&vpc.security_group], None).await?;
    if endpoint.state == "pendingAcceptance" {
        provider.accept_connections(&service.id, &[&endpoint.id]).await?;
    }
    consumer.wait_until_available(&endpoint.id, Duration::from_secs(30)).await
}
