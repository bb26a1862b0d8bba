//! Hosted zones, their VPC associations and authorizations, changes and tags.

use super::{invalid_input, Ctx, Element, Reply};
use crate::api::xml::{timestamp, Xml};
use crate::model::hosted_zone::{
    escaped, is_valid_name, normalise, reversed, ChangeInfo, HostedZone, NewZone, ZoneVpc,
};
use crate::model::{region, Error, Result};

pub(super) fn render_change(x: &mut Xml, c: &ChangeInfo, status: &str) {
    x.node("ChangeInfo", |x| {
        x.leaf("Id", format!("/change/{}", c.id));
        x.leaf("Status", status);
        x.leaf("SubmittedAt", timestamp(c.submitted));
        x.opt("Comment", c.comment.as_ref());
    });
}

/// A change as a reply: PENDING, as Route 53 answers a change it just took.
fn change_reply(c: &ChangeInfo) -> Reply {
    let mut x = Xml::new();
    render_change(&mut x, c, "PENDING");
    x.into()
}

fn render_zone(x: &mut Xml, z: &HostedZone, records: usize) {
    x.node("HostedZone", |x| {
        x.leaf("Id", format!("/hostedzone/{}", z.id));
        x.leaf("Name", escaped(&z.name));
        x.leaf("CallerReference", &z.caller_reference);
        x.node("Config", |x| {
            x.opt("Comment", z.comment.as_ref());
            x.bool("PrivateZone", z.private);
        });
        x.num("ResourceRecordSetCount", records);
    });
}

fn render_vpc(x: &mut Xml, v: &ZoneVpc) {
    x.node("VPC", |x| {
        x.leaf("VPCRegion", &v.region);
        x.leaf("VPCId", &v.vpc_id);
    });
}

fn render_delegation_set(x: &mut Xml, z: &HostedZone) {
    x.node("DelegationSet", |x| {
        x.node("NameServers", |x| {
            for ns in &z.name_servers {
                x.leaf("NameServer", ns);
            }
        });
    });
}

/// The `<VPC>` of a request body.
fn vpc_of(body: &Element) -> Result<Option<ZoneVpc>> {
    let Some(v) = body.child("VPC") else { return Ok(None) };
    let id = v.text_of("VPCId").filter(|s| !s.is_empty());
    let region = v.text_of("VPCRegion").filter(|s| !s.is_empty());
    match (id, region) {
        (Some(id), Some(r)) if region::is_region_name(r) => {
            Ok(Some(ZoneVpc { region: r.to_string(), vpc_id: id.to_string() }))
        }
        (Some(_), Some(r)) => Err(invalid_input(format!("Invalid request: '{r}' is not a valid VPCRegion"))),
        (None, _) => Err(invalid_input("Invalid request: the VPC needs its VPCId")),
        (_, None) => Err(invalid_input("Invalid request: the VPC needs its VPCRegion")),
    }
}

fn required_vpc(body: &Element) -> Result<ZoneVpc> {
    vpc_of(body)?.ok_or_else(|| invalid_input("Invalid request: the request needs a VPC"))
}

fn flag(s: Option<&str>) -> Result<Option<bool>> {
    match s {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(invalid_input(format!("Invalid request: '{other}' is not a boolean"))),
    }
}

pub(super) fn create_hosted_zone(c: &mut Ctx) -> Result<Reply> {
    let body = c.body;
    let name = body
        .text_of("Name")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid_input("Invalid request: Name is required"))?;
    let caller_reference = body
        .text_of("CallerReference")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid_input("Invalid request: CallerReference is required"))?;
    let config = body.child("HostedZoneConfig");
    let req = NewZone {
        name: name.to_string(),
        caller_reference: caller_reference.to_string(),
        comment: config.and_then(|x| x.text_of("Comment")).map(str::to_string),
        private: flag(config.and_then(|x| x.text_of("PrivateZone")))?,
        vpc: vpc_of(body)?,
        delegation_set_id: body.text_of("DelegationSetId").filter(|s| !s.is_empty()).map(str::to_string),
    };
    let (zone, change) = c.world.create_hosted_zone(c.caller, req, c.now)?;
    let records = c.world.record_count(&zone.id);
    let mut x = Xml::new();
    render_zone(&mut x, &zone, records);
    render_change(&mut x, &change, "PENDING");
    if !zone.private {
        render_delegation_set(&mut x, &zone);
    }
    if let Some(v) = zone.vpcs.first() {
        render_vpc(&mut x, v);
    }
    Ok(Reply {
        xml: x,
        status: 201,
        location: Some(format!("https://route53.amazonaws.com/2013-04-01/hostedzone/{}", zone.id)),
    })
}

pub(super) fn get_hosted_zone(c: &mut Ctx) -> Result<Reply> {
    let zone = c.world.own_zone(c.caller, c.id())?;
    let mut x = Xml::new();
    render_zone(&mut x, zone, c.world.record_count(&zone.id));
    if zone.private {
        x.node("VPCs", |x| {
            for v in &zone.vpcs {
                render_vpc(x, v);
            }
        });
    } else {
        render_delegation_set(&mut x, zone);
    }
    Ok(x.into())
}

fn check_delegation_set(c: &Ctx) -> Result<()> {
    match c.query("delegationsetid") {
        Some(id) if !id.is_empty() => {
            Err(Error::new("NoSuchDelegationSet", format!("A reusable delegation set with ID {id} does not exist.")))
        }
        _ => Ok(()),
    }
}

pub(super) fn list_hosted_zones(c: &mut Ctx) -> Result<Reply> {
    check_delegation_set(c)?;
    let max = c.max_items("maxitems", 100, 100)?;
    let private_only = match c.query("hostedzonetype") {
        None => false,
        Some("PrivateHostedZone") => true,
        Some(other) => return Err(invalid_input(format!("Invalid value for hostedzonetype: {other}"))),
    };
    let marker = c.query("marker").unwrap_or("");
    let mut zones: Vec<&HostedZone> = c
        .world
        .hosted_zones()
        .filter(|z| z.owner == c.caller.account && (!private_only || z.private) && z.id.as_str() >= marker)
        .collect();
    zones.sort_by(|a, b| a.id.cmp(&b.id));
    let next = zones.get(max).map(|z| z.id.clone());
    zones.truncate(max);
    let mut x = Xml::new();
    x.node("HostedZones", |x| {
        for z in &zones {
            render_zone(x, z, c.world.record_count(&z.id));
        }
    });
    x.leaf("Marker", marker);
    x.bool("IsTruncated", next.is_some());
    x.opt("NextMarker", next.as_ref());
    x.num("MaxItems", max);
    Ok(x.into())
}

pub(super) fn list_hosted_zones_by_name(c: &mut Ctx) -> Result<Reply> {
    let max = c.max_items("maxitems", 100, 100)?;
    let dns_name = c.query("dnsname").filter(|s| !s.is_empty());
    let zone_id = c.query("hostedzoneid").filter(|s| !s.is_empty());
    if zone_id.is_some() && dns_name.is_none() {
        return Err(invalid_input("Invalid request: hostedzoneid is only valid with dnsname"));
    }
    if let Some(n) = dns_name {
        if !is_valid_name(&normalise(n)) {
            return Err(Error::new("InvalidDomainName", format!("{n} is not a valid domain name.")));
        }
    }
    let start = (dns_name.map(|n| reversed(&normalise(n))).unwrap_or_default(), zone_id.unwrap_or("").to_string());
    let mut zones: Vec<((String, String), &HostedZone)> = c
        .world
        .hosted_zones()
        .filter(|z| z.owner == c.caller.account)
        .map(|z| ((reversed(&z.name), z.id.clone()), z))
        .filter(|(k, _)| *k >= start)
        .collect();
    zones.sort_by(|a, b| a.0.cmp(&b.0));
    let next = zones.get(max).map(|(_, z)| (z.name.clone(), z.id.clone()));
    zones.truncate(max);
    let mut x = Xml::new();
    x.node("HostedZones", |x| {
        for (_, z) in &zones {
            render_zone(x, z, c.world.record_count(&z.id));
        }
    });
    x.opt("DNSName", dns_name);
    x.opt("HostedZoneId", zone_id);
    x.bool("IsTruncated", next.is_some());
    if let Some((name, id)) = &next {
        x.leaf("NextDNSName", escaped(name));
        x.leaf("NextHostedZoneId", id);
    }
    x.num("MaxItems", max);
    Ok(x.into())
}

pub(super) fn list_hosted_zones_by_vpc(c: &mut Ctx) -> Result<Reply> {
    let id = c
        .query("vpcid")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid_input("Invalid request: vpcid is required"))?;
    let region = c
        .query("vpcregion")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid_input("Invalid request: vpcregion is required"))?;
    if !region::is_region_name(region) {
        return Err(invalid_input(format!("Invalid request: '{region}' is not a valid VPCRegion")));
    }
    let max = c.max_items("maxitems", 100, 100)?;
    let vpc = ZoneVpc { region: region.to_string(), vpc_id: id.to_string() };
    let owned = c.world.region(region).and_then(|r| r.vpcs.get(id)).is_some_and(|v| v.owner == c.caller.account);
    if !owned {
        return Err(Error::new(
            "InvalidVPCId",
            format!("The VPC ID '{id}' in region '{region}' is not valid for this account."),
        ));
    }
    let after = match c.query("nexttoken") {
        None => None,
        Some(t) => Some(hex::decode(t).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
            Error::new("InvalidPaginationToken", "The value that you specified for NextToken is not valid.")
        })?),
    };
    let mut zones: Vec<&HostedZone> =
        c.world.zones_of_vpc(&vpc).filter(|z| after.as_ref().is_none_or(|a| &z.id > a)).collect();
    zones.sort_by(|a, b| a.id.cmp(&b.id));
    let more = zones.len() > max;
    zones.truncate(max);
    let mut x = Xml::new();
    x.node("HostedZoneSummaries", |x| {
        for z in &zones {
            x.node("HostedZoneSummary", |x| {
                x.leaf("HostedZoneId", &z.id);
                x.leaf("Name", escaped(&z.name));
                x.node("Owner", |x| x.leaf("OwningAccount", &z.owner));
            });
        }
    });
    x.num("MaxItems", max);
    if more {
        x.opt("NextToken", zones.last().map(|z| hex::encode(&z.id)));
    }
    Ok(x.into())
}

pub(super) fn get_hosted_zone_count(c: &mut Ctx) -> Result<Reply> {
    let n = c.world.hosted_zones().filter(|z| z.owner == c.caller.account).count();
    let mut x = Xml::new();
    x.num("HostedZoneCount", n);
    Ok(x.into())
}

pub(super) fn update_hosted_zone_comment(c: &mut Ctx) -> Result<Reply> {
    let comment = c.body.text_of("Comment").filter(|s| !s.is_empty()).map(str::to_string);
    let id = c.id().to_string();
    let zone = c.world.update_hosted_zone_comment(c.caller, &id, comment)?;
    let mut x = Xml::new();
    render_zone(&mut x, &zone, c.world.record_count(&zone.id));
    Ok(x.into())
}

pub(super) fn delete_hosted_zone(c: &mut Ctx) -> Result<Reply> {
    let id = c.id().to_string();
    let change = c.world.delete_hosted_zone(c.caller, &id, c.now)?;
    Ok(change_reply(&change))
}

pub(super) fn get_change(c: &mut Ctx) -> Result<Reply> {
    let id = c.id().trim_start_matches("/change/").to_string();
    let pending = c.world.settings().pending_delay_ms;
    let change = c.world.route53_change(&id).cloned().ok_or_else(|| {
        Error::new("NoSuchChange", format!("A change with the specified change ID {id} does not exist."))
            .with_status(404)
    })?;
    let mut x = Xml::new();
    render_change(&mut x, &change, change.status(c.now, pending));
    Ok(x.into())
}

fn comment_of(body: &Element) -> Option<String> {
    body.text_of("Comment").filter(|s| !s.is_empty()).map(str::to_string)
}

pub(super) fn associate_vpc(c: &mut Ctx) -> Result<Reply> {
    let vpc = required_vpc(c.body)?;
    let id = c.id().to_string();
    let change = c.world.associate_vpc(c.caller, &id, vpc, comment_of(c.body), c.now)?;
    Ok(change_reply(&change))
}

pub(super) fn disassociate_vpc(c: &mut Ctx) -> Result<Reply> {
    let vpc = required_vpc(c.body)?;
    let id = c.id().to_string();
    let change = c.world.disassociate_vpc(c.caller, &id, vpc, comment_of(c.body), c.now)?;
    Ok(change_reply(&change))
}

pub(super) fn create_authorization(c: &mut Ctx) -> Result<Reply> {
    let vpc = required_vpc(c.body)?;
    let id = c.id().to_string();
    c.world.create_vpc_association_authorization(c.caller, &id, vpc.clone())?;
    let mut x = Xml::new();
    x.leaf("HostedZoneId", &id);
    render_vpc(&mut x, &vpc);
    Ok(x.into())
}

pub(super) fn delete_authorization(c: &mut Ctx) -> Result<Reply> {
    let vpc = required_vpc(c.body)?;
    let id = c.id().to_string();
    c.world.delete_vpc_association_authorization(c.caller, &id, vpc)?;
    Ok(Xml::new().into())
}

pub(super) fn list_authorizations(c: &mut Ctx) -> Result<Reply> {
    let zone = c.world.own_zone(c.caller, c.id())?;
    let max = c.max_items("maxresults", 50, 50)?;
    let start = match c.query("nexttoken") {
        None => 0,
        Some(t) => t.parse::<usize>().ok().filter(|n| *n <= zone.authorizations.len()).ok_or_else(|| {
            Error::new("InvalidPaginationToken", "The value that you specified for NextToken is not valid.")
        })?,
    };
    let page: Vec<&ZoneVpc> = zone.authorizations.iter().skip(start).take(max).collect();
    let next = (start + page.len() < zone.authorizations.len()).then(|| (start + page.len()).to_string());
    let mut x = Xml::new();
    x.leaf("HostedZoneId", &zone.id);
    x.opt("NextToken", next);
    x.node("VPCs", |x| {
        for v in page {
            render_vpc(x, v);
        }
    });
    Ok(x.into())
}

/// The zone a tag request names; health checks are not emulated.
fn tagged_zone(c: &Ctx) -> Result<String> {
    let kind = c.path.first().map(String::as_str).unwrap_or("");
    let id = c.path.get(1).map(String::as_str).unwrap_or("");
    match kind {
        "hostedzone" => Ok(id.to_string()),
        "healthcheck" => {
            Err(Error::new("NoSuchHealthCheck", format!("No health check exists with the specified ID {id}"))
                .with_status(404))
        }
        other => Err(invalid_input(format!("Invalid request: '{other}' is not a taggable resource type"))),
    }
}

pub(super) fn change_tags(c: &mut Ctx) -> Result<Reply> {
    let id = tagged_zone(c)?;
    let mut add = Vec::new();
    if let Some(tags) = c.body.child("AddTags") {
        for t in tags.all("Tag") {
            let key = t.text_of("Key").unwrap_or("");
            let value = t.text_of("Value").unwrap_or("");
            if key.is_empty() || key.chars().count() > 128 || value.chars().count() > 256 {
                return Err(invalid_input("Invalid request: a tag key is 1 to 128 characters, its value at most 256"));
            }
            add.push((key.to_string(), value.to_string()));
        }
    }
    let remove: Vec<String> = c
        .body
        .child("RemoveTagKeys")
        .map(|r| r.all("Key").map(|k| k.text.trim().to_string()).collect())
        .unwrap_or_default();
    if add.len() > 10 || remove.len() > 10 {
        return Err(invalid_input("Invalid request: at most 10 tags are added and 10 removed in one request"));
    }
    let tags = c.world.zone_tags_mut(c.caller, &id)?;
    for k in &remove {
        tags.remove(k);
    }
    tags.extend(add);
    if tags.len() > 50 {
        return Err(invalid_input("Invalid request: a hosted zone has at most 50 tags"));
    }
    Ok(Xml::new().into())
}

pub(super) fn list_tags(c: &mut Ctx) -> Result<Reply> {
    let id = tagged_zone(c)?;
    let zone = c.world.own_zone(c.caller, &id)?;
    let mut x = Xml::new();
    x.node("ResourceTagSet", |x| {
        x.leaf("ResourceType", "hostedzone");
        x.leaf("ResourceId", &zone.id);
        x.node("Tags", |x| {
            for (k, v) in &zone.tags {
                x.node("Tag", |x| {
                    x.leaf("Key", k);
                    x.leaf("Value", v);
                });
            }
        });
    });
    Ok(x.into())
}

/// DNSSEC signing is not emulated: every zone answers that it is not
/// signing and has no key-signing keys (what tools read before deleting a
/// zone, to know whether signing must be disabled first).
pub(super) fn get_dnssec(c: &mut Ctx) -> Result<Reply> {
    c.world.own_zone(c.caller, c.id())?;
    let mut x = Xml::new();
    x.node("Status", |x| x.leaf("ServeSignature", "NOT_SIGNING"));
    x.node("KeySigningKeys", |_| {});
    Ok(x.into())
}
