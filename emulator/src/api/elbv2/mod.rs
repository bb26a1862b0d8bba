//! ELBv2 (protocol `query`) for network load balancers: lists are
//! `Name.member.N`, answers are PascalCase inside an `XResult` wrapper.

//!
//! One file per resource family; this one holds the action table, the
//! dispatch and the parameter helpers they share.

mod listeners;
mod load_balancers;
mod misc;
mod rules;
mod tags;
mod target_groups;
mod trust_stores;

use super::ec2::Ctx;
use super::xml::Xml;
use super::{Access, Action};
use crate::model::{Error, Result, Tags};
use Access::{Read, Write};

pub const VERSION: &str = "2015-12-01";

/// Every ELBv2 action the emulator answers (see the EC2 table).
pub const ACTIONS: &[Action] = &[
    Action::new("CreateLoadBalancer", Write, load_balancers::create_load_balancer),
    Action::new("DescribeLoadBalancers", Read, load_balancers::describe_load_balancers),
    Action::new("DeleteLoadBalancer", Write, load_balancers::delete_load_balancer),
    Action::new("CreateTargetGroup", Write, target_groups::create_target_group),
    Action::new("DescribeTargetGroups", Read, target_groups::describe_target_groups),
    Action::new("DeleteTargetGroup", Write, target_groups::delete_target_group),
    Action::new("RegisterTargets", Write, target_groups::register_targets),
    Action::new("DeregisterTargets", Write, target_groups::deregister_targets),
    Action::new("CreateListener", Write, listeners::create_listener),
    Action::new("DescribeListeners", Read, listeners::describe_listeners),
    Action::new("DeleteListener", Write, listeners::delete_listener),
    Action::new("ModifyLoadBalancerAttributes", Write, load_balancers::modify_lb_attributes),
    Action::new("DescribeLoadBalancerAttributes", Read, load_balancers::describe_lb_attributes),
    Action::new("ModifyTargetGroupAttributes", Write, target_groups::modify_tg_attributes),
    Action::new("DescribeTargetGroupAttributes", Read, target_groups::describe_tg_attributes),
    Action::new("DescribeTargetHealth", Read, target_groups::describe_target_health),
    Action::new("DescribeListenerAttributes", Read, listeners::describe_listener_attributes),
    Action::new("ModifyListenerAttributes", Write, listeners::modify_listener_attributes),
    Action::new("SetSecurityGroups", Write, load_balancers::set_security_groups),
    Action::new("ModifyTargetGroup", Write, target_groups::modify_target_group),
    Action::new("ModifyListener", Write, listeners::modify_listener),
    Action::new("AddListenerCertificates", Write, listeners::add_listener_certificates),
    Action::new("RemoveListenerCertificates", Write, listeners::remove_listener_certificates),
    Action::new("DescribeListenerCertificates", Read, listeners::describe_listener_certificates),
    Action::new("DescribeSSLPolicies", Read, misc::describe_ssl_policies),
    Action::new("SetSubnets", Write, load_balancers::set_subnets),
    Action::new("SetIpAddressType", Write, load_balancers::set_ip_address_type),
    Action::new("DescribeCapacityReservation", Read, load_balancers::describe_capacity_reservation),
    Action::new("ModifyCapacityReservation", Write, load_balancers::modify_capacity_reservation),
    Action::new("DescribeAccountLimits", Read, misc::describe_account_limits),
    Action::new("DescribeRules", Read, rules::describe_rules),
    Action::new("CreateRule", Write, rules::create_rule),
    Action::new("ModifyRule", Write, rules::modify_rule),
    Action::new("DeleteRule", Write, rules::delete_rule),
    Action::new("SetRulePriorities", Write, rules::set_rule_priorities),
    Action::new("CreateTrustStore", Write, trust_stores::create_trust_store),
    Action::new("DescribeTrustStores", Read, trust_stores::describe_trust_stores),
    Action::new("ModifyTrustStore", Write, trust_stores::on_trust_store),
    Action::new("DeleteTrustStore", Write, trust_stores::on_trust_store),
    Action::new("GetTrustStoreCaCertificatesBundle", Read, trust_stores::on_trust_store),
    Action::new("DescribeTrustStoreAssociations", Read, trust_stores::on_trust_store),
    Action::new("DescribeTrustStoreRevocations", Read, trust_stores::on_trust_store),
    Action::new("AddTrustStoreRevocations", Write, trust_stores::on_trust_store),
    Action::new("RemoveTrustStoreRevocations", Write, trust_stores::on_trust_store),
    Action::new("GetTrustStoreRevocationContent", Read, trust_stores::on_trust_store),
    Action::new("DeleteSharedTrustStoreAssociation", Write, trust_stores::delete_shared_trust_store_association),
    Action::new("GetResourcePolicy", Read, trust_stores::get_resource_policy),
    Action::new("ModifyIpPools", Write, trust_stores::modify_ip_pools),
    Action::new("AddTags", Write, tags::add_tags),
    Action::new("RemoveTags", Write, tags::remove_tags),
    Action::new("DescribeTags", Read, tags::describe_tags),
];
pub fn dispatch(action: &str, c: &mut Ctx) -> Result<Xml> {
    match super::find(ACTIONS, action) {
        Some(a) => (a.handler)(c),
        None => Err(Error::new("InvalidAction", format!("Could not find operation {action} for version {VERSION}"))),
    }
}

pub(super) fn required<'a>(c: &'a Ctx, name: &str) -> Result<&'a str> {
    c.p.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        Error::validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
}

pub(super) fn tags(c: &Ctx, prefix: &str) -> Result<Tags> {
    let pairs: Vec<(String, String)> =
        c.p.members(prefix)
            .into_iter()
            .map(|t| {
                let k = t.get("Key").ok_or_else(|| Error::validation("A tag key must be specified"))?;
                Ok((k.to_string(), t.get("Value").unwrap_or("").to_string()))
            })
            .collect::<Result<_>>()?;
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(seen, _)| seen == k) {
            return Err(Error::new("DuplicateTagKeys", format!("Tag key '{k}' is specified more than once")));
        }
    }
    if pairs.len() > 50 {
        return Err(Error::new("TooManyTags", "The quota for the number of tags per resource has been reached"));
    }
    crate::model::tags::validate(&pairs).map_err(|e| Error::validation(e.message))?;
    Ok(pairs.into_iter().collect())
}

/// PageSize (1..=400) and Marker, as ELBv2 paginates.
pub(super) fn page<T: Clone>(c: &Ctx, items: Vec<T>, key: impl Fn(&T) -> String) -> Result<(Vec<T>, Option<String>)> {
    let size = match c.p.int("PageSize")? {
        None => None,
        Some(n) if (1..=400).contains(&n) => Some(n as usize),
        Some(n) => return Err(Error::validation(format!("Page size '{n}' must be between '1' and '400'"))),
    };
    let keyed: Vec<(String, T)> = items.into_iter().map(|t| (key(&t), t)).collect();
    crate::model::paginate(keyed, size, c.p.get("Marker")).map_err(|_| Error::validation("The marker is not valid"))
}

pub(super) fn attributes(c: &Ctx) -> Result<Vec<(String, String)>> {
    let attrs: Vec<(String, String)> =
        c.p.members("Attributes")
            .into_iter()
            .map(|a| {
                let k = a.get("Key").ok_or_else(|| Error::validation("An attribute key must be specified"))?;
                Ok((k.to_string(), a.get("Value").unwrap_or("").to_string()))
            })
            .collect::<Result<_>>()?;
    if attrs.is_empty() {
        return Err(Error::validation("At least one attribute must be specified"));
    }
    Ok(attrs)
}

pub(super) fn render_attributes<'a>(x: &mut Xml, attrs: impl IntoIterator<Item = (&'a String, &'a String)>) {
    x.members("Attributes", attrs, |x, (k, v)| {
        x.leaf("Key", k);
        x.leaf("Value", v);
    });
}
