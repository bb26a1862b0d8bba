//! ChangeResourceRecordSets and ListResourceRecordSets.

use super::zones::render_change;
use super::{invalid_input, Ctx, Element, Reply};
use crate::api::xml::Xml;
use crate::model::hosted_zone::{escaped, normalise, reversed};
use crate::model::record_set::{Action, AliasTarget, RecordChange, RecordSet, TYPES};
use crate::model::{Error, Result};

/// Routing policies the emulator does not model: refused rather than
/// silently answered as simple records.
const UNSUPPORTED: &[&str] =
    &["Region", "GeoLocation", "Failover", "TrafficPolicyInstanceId", "CidrRoutingConfig", "GeoProximityLocation"];

fn number(e: &Element, name: &str) -> Result<Option<u64>> {
    match e.text_of(name) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| invalid_input(format!("Invalid request: '{v}' is not a valid {name}"))),
    }
}

fn record_of(e: &Element) -> Result<RecordSet> {
    let name = e
        .text_of("Name")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid_input("Invalid request: a ResourceRecordSet needs its Name"))?;
    let rtype = e
        .text_of("Type")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid_input("Invalid request: a ResourceRecordSet needs its Type"))?;
    if !TYPES.contains(&rtype) {
        return Err(invalid_input(format!("Invalid request: '{rtype}' is not a valid record type")));
    }
    // The emulator has no health checks, so every id names one that does
    // not exist, as Route 53 says of an id it does not know.
    if let Some(id) = e.text_of("HealthCheckId") {
        return Err(Error::new("NoSuchHealthCheck", format!("No health check exists with the specified ID {id}"))
            .with_status(404));
    }
    if let Some(field) = UNSUPPORTED.iter().find(|f| e.child(f).is_some()) {
        return Err(invalid_input(format!(
            "Invalid request: {field} is not supported by the emulator (simple, weighted and multivalue answer records are)"
        )));
    }
    let weight = number(e, "Weight")?;
    if weight.is_some_and(|w| w > 255) {
        return Err(invalid_input("Invalid request: Weight must be between 0 and 255"));
    }
    let multi = match e.text_of("MultiValueAnswer") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(v) => return Err(invalid_input(format!("Invalid request: '{v}' is not a boolean"))),
    };
    let values: Vec<String> = e
        .child("ResourceRecords")
        .map(|rr| rr.all("ResourceRecord").map(|r| r.text_of("Value").unwrap_or("").to_string()).collect())
        .unwrap_or_default();
    let alias = match e.child("AliasTarget") {
        None => None,
        Some(a) => Some(AliasTarget {
            hosted_zone_id: a
                .text_of("HostedZoneId")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| invalid_input("Invalid request: an AliasTarget needs its HostedZoneId"))?
                .trim_start_matches("/hostedzone/")
                .to_string(),
            dns_name: a
                .text_of("DNSName")
                .filter(|s| !s.is_empty())
                .ok_or_else(|| invalid_input("Invalid request: an AliasTarget needs its DNSName"))?
                .to_string(),
            evaluate_target_health: a.text_of("EvaluateTargetHealth") == Some("true"),
        }),
    };
    Ok(RecordSet {
        name: name.to_string(),
        rtype: rtype.to_string(),
        set_identifier: e.text_of("SetIdentifier").filter(|s| !s.is_empty()).map(str::to_string),
        weight,
        multi_value_answer: multi,
        ttl: number(e, "TTL")?,
        values,
        alias,
    })
}

pub(super) fn change_resource_record_sets(c: &mut Ctx) -> Result<Reply> {
    let batch = c.body.child("ChangeBatch").ok_or_else(|| invalid_input("Invalid request: ChangeBatch is required"))?;
    let comment = batch.text_of("Comment").filter(|s| !s.is_empty()).map(str::to_string);
    let mut changes = Vec::new();
    for ch in batch.child("Changes").map(|x| x.all("Change").collect::<Vec<_>>()).unwrap_or_default() {
        let action = ch.text_of("Action").unwrap_or("");
        let action = Action::parse(action)
            .ok_or_else(|| invalid_input(format!("Invalid request: '{action}' is not CREATE, UPSERT or DELETE")))?;
        let set = ch
            .child("ResourceRecordSet")
            .ok_or_else(|| invalid_input("Invalid request: a Change needs its ResourceRecordSet"))?;
        changes.push(RecordChange { action, record: record_of(set)? });
    }
    let id = c.id().to_string();
    let change = c.world.change_record_sets(c.caller, &id, changes, comment, c.now)?;
    let mut x = Xml::new();
    render_change(&mut x, &change, "PENDING");
    Ok(x.into())
}

pub(super) fn render_record(x: &mut Xml, r: &RecordSet) {
    x.node("ResourceRecordSet", |x| {
        x.leaf("Name", escaped(&r.name));
        x.leaf("Type", &r.rtype);
        x.opt("SetIdentifier", r.set_identifier.as_ref());
        if let Some(w) = r.weight {
            x.num("Weight", w);
        }
        if let Some(m) = r.multi_value_answer {
            x.bool("MultiValueAnswer", m);
        }
        if let Some(t) = r.ttl {
            x.num("TTL", t);
        }
        if !r.values.is_empty() {
            x.node("ResourceRecords", |x| {
                for v in &r.values {
                    x.node("ResourceRecord", |x| x.leaf("Value", v));
                }
            });
        }
        if let Some(a) = &r.alias {
            x.node("AliasTarget", |x| {
                x.leaf("HostedZoneId", &a.hosted_zone_id);
                x.leaf("DNSName", escaped(&a.dns_name));
                x.bool("EvaluateTargetHealth", a.evaluate_target_health);
            });
        }
    });
}

pub(super) fn list_resource_record_sets(c: &mut Ctx) -> Result<Reply> {
    let zone = c.world.own_zone(c.caller, c.id())?;
    let max = c.max_items("maxitems", 300, 300)?;
    let name = c.query("name").filter(|s| !s.is_empty());
    let rtype = c.query("type").filter(|s| !s.is_empty());
    let ident = c.query("identifier").filter(|s| !s.is_empty());
    if rtype.is_some() && name.is_none() {
        return Err(invalid_input("Invalid request: type is only valid with name"));
    }
    if let Some(t) = rtype {
        if !TYPES.contains(&t) {
            return Err(invalid_input(format!("Invalid request: '{t}' is not a valid record type")));
        }
    }
    if ident.is_some() && rtype.is_none() {
        return Err(invalid_input("Invalid request: identifier is only valid with name and type"));
    }
    let start = (
        name.map(|n| reversed(&normalise(n))).unwrap_or_default(),
        rtype.unwrap_or("").to_string(),
        ident.unwrap_or("").to_string(),
    );
    let all: Vec<&RecordSet> = c
        .world
        .records_in_order(&zone.id)
        .into_iter()
        .filter(|r| (reversed(&r.name), r.rtype.clone(), r.set_identifier.clone().unwrap_or_default()) >= start)
        .collect();
    let next = all.get(max).copied();
    let mut x = Xml::new();
    x.node("ResourceRecordSets", |x| {
        for r in all.iter().take(max) {
            render_record(x, r);
        }
    });
    x.bool("IsTruncated", next.is_some());
    if let Some(n) = next {
        x.leaf("NextRecordName", escaped(&n.name));
        x.leaf("NextRecordType", &n.rtype);
        x.opt("NextRecordIdentifier", n.set_identifier.as_ref());
    }
    x.num("MaxItems", max);
    Ok(x.into())
}
