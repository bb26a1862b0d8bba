//! Regions, availability zones and the account's attributes.

use super::Ctx;
use crate::api::xml::Xml;
use crate::model::{self, region, Error, Result};

pub fn describe_availability_zones(c: &mut Ctx) -> Result<Xml> {
    let names = c.p.list("ZoneName");
    let zone_ids = c.p.list("ZoneId");
    let filters = c.p.filters()?;
    model::tags::check_filter_names(
        &filters,
        &["zone-name", "zone-id", "region-name", "state", "zone-type", "group-name", "opt-in-status"],
    )?;
    let region_name = c.caller.region.clone();
    let zones = region::zones(&region_name);
    for n in &names {
        if !zones.iter().any(|z| &z.name == n) {
            return Err(Error::new("InvalidParameterValue", format!("The zone '{n}' does not exist.")));
        }
    }
    let values = |z: &region::Zone, f: &str| -> Vec<String> {
        match f {
            "zone-name" => vec![z.name.clone()],
            "zone-id" => vec![z.id.clone()],
            "region-name" | "group-name" => vec![region_name.clone()],
            "state" => vec!["available".into()],
            "zone-type" => vec!["availability-zone".into()],
            "opt-in-status" => vec!["opt-in-not-required".into()],
            _ => vec![],
        }
    };
    let selected: Vec<&region::Zone> = zones
        .iter()
        .filter(|z| names.is_empty() || names.contains(&z.name))
        .filter(|z| zone_ids.is_empty() || zone_ids.contains(&z.id))
        .filter(|z| {
            filters
                .iter()
                .all(|f| f.values.iter().any(|v| values(z, &f.name).iter().any(|h| model::tags::glob_match(v, h))))
        })
        .collect();
    c.dry_run()?;
    let mut x = Xml::new();
    x.items("availabilityZoneInfo", selected, |x, z| {
        x.leaf("zoneName", &z.name);
        x.leaf("zoneState", "available");
        x.leaf("regionName", &region_name);
        x.leaf("zoneId", &z.id);
        x.leaf("zoneType", "availability-zone");
        x.leaf("groupName", &region_name);
        x.leaf("networkBorderGroup", &region_name);
        x.leaf("optInStatus", "opt-in-not-required");
        x.node("messageSet", |_| {});
    });
    Ok(x)
}

pub fn describe_regions(c: &mut Ctx) -> Result<Xml> {
    let names = c.p.list("RegionName");
    for n in &names {
        if region::lookup(n).is_none() {
            return Err(Error::new("InvalidParameterValue", format!("Invalid region: {n}")));
        }
    }
    c.dry_run()?;
    let mut x = Xml::new();
    x.items(
        "regionInfo",
        region::REGIONS.iter().filter(|r| names.is_empty() || names.iter().any(|n| n == r.name)),
        |x, r| {
            x.leaf("regionName", r.name);
            x.leaf("regionEndpoint", format!("ec2.{}.amazonaws.com", r.name));
            x.leaf("optInStatus", "opt-in-not-required");
        },
    );
    Ok(x)
}

/// The attributes DescribeAccountAttributes answers, in AWS's order; the
/// limits are AWS's defaults for a new account (the interface limit is the
/// one CreateNetworkInterface enforces).
fn account_attributes(default_vpc: Option<String>) -> Vec<(&'static str, String)> {
    vec![
        ("vpc-max-security-groups-per-interface", crate::model::network_interface::GROUPS_PER_INTERFACE.to_string()),
        ("max-instances", "20".into()),
        ("supported-platforms", "VPC".into()),
        ("default-vpc", default_vpc.unwrap_or_else(|| "none".into())),
        ("max-elastic-ips", "5".into()),
        ("vpc-max-elastic-ips", "5".into()),
    ]
}

pub fn describe_account_attributes(c: &mut Ctx) -> Result<Xml> {
    let names = c.p.list("AttributeName");
    let all = account_attributes(c.world.default_vpc_id(c.caller));
    for n in &names {
        if !all.iter().any(|(name, _)| name == n) {
            return Err(Error::invalid_value(
                "AttributeName",
                n,
                "Valid values are supported-platforms, default-vpc, max-instances, vpc-max-security-groups-per-interface, max-elastic-ips and vpc-max-elastic-ips.",
            ));
        }
    }
    let mut x = Xml::new();
    x.items(
        "accountAttributeSet",
        all.iter().filter(|(n, _)| names.is_empty() || names.iter().any(|m| m == n)),
        |x, (n, v)| {
            x.leaf("attributeName", *n);
            x.items("attributeValueSet", [v], |x, v| x.leaf("attributeValue", v));
        },
    );
    Ok(x)
}
