//! Actions of other load balancer types, answered as AWS answers them in
//! an account whose load balancers are network load balancers: trust
//! stores (mutual TLS of Application Load Balancers) need a CA bundle in
//! S3, which the emulator has none of, so none exists; resource policies
//! belong to trust stores; IPAM pools are for Application Load Balancers.

use super::{required, tags};
use crate::api::ec2::Ctx;
use crate::api::xml::Xml;
use crate::model::elb::check_elb_name;
use crate::model::{Error, Result};

fn trust_store_not_found() -> Error {
    Error::new("TrustStoreNotFound", "One or more trust stores not found")
}

pub(super) fn create_trust_store(c: &mut Ctx) -> Result<Xml> {
    let name = required(c, "Name")?.to_string();
    let bucket = required(c, "CaCertificatesBundleS3Bucket")?.to_string();
    let key = required(c, "CaCertificatesBundleS3Key")?.to_string();
    check_elb_name(&name, "Trust store")?;
    tags(c, "Tags")?;
    Err(Error::new(
        "CaCertificatesBundleNotFound",
        format!("The CA certificates bundle 's3://{bucket}/{key}' was not found"),
    ))
}

pub(super) fn describe_trust_stores(c: &mut Ctx) -> Result<Xml> {
    if !c.p.member_list("TrustStoreArns").is_empty() || !c.p.member_list("Names").is_empty() {
        return Err(trust_store_not_found());
    }
    super::page(c, Vec::<String>::new(), String::clone)?;
    let mut x = Xml::new();
    x.members("TrustStores", std::iter::empty::<()>(), |_, _| {});
    Ok(x)
}

/// Every action on one trust store: there is none to act on.
pub(super) fn on_trust_store(c: &mut Ctx) -> Result<Xml> {
    required(c, "TrustStoreArn")?;
    Err(trust_store_not_found())
}

pub(super) fn delete_shared_trust_store_association(c: &mut Ctx) -> Result<Xml> {
    required(c, "TrustStoreArn")?;
    required(c, "ResourceArn")?;
    Err(trust_store_not_found())
}

pub(super) fn get_resource_policy(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "ResourceArn")?;
    Err(Error::new("ResourceNotFound", format!("The resource '{arn}' has no resource policy or does not exist")))
}

pub(super) fn modify_ip_pools(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "LoadBalancerArn")?.to_string();
    c.world.load_balancer(c.caller, &arn)?;
    if c.p.get("IpamPools.Ipv4IpamPoolId").is_some() {
        return Err(Error::validation("IPAM pools can be used only with Application Load Balancers"));
    }
    for pool in c.p.member_list("RemoveIpamPools") {
        if pool != "ipv4" {
            return Err(Error::validation(format!(
                "1 validation error detected: Value '[{pool}]' at 'removeIpamPools' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [ipv4]]"
            )));
        }
    }
    Ok(Xml::new())
}
