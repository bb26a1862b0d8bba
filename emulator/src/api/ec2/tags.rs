//! CreateTags, DeleteTags, DescribeTags across EC2 resources.

use super::{page, Ctx};
use crate::api::xml::Xml;
use crate::model::{self, Error, Result};

pub fn create_tags(c: &mut Ctx) -> Result<Xml> {
    let ids = c.p.list("ResourceId");
    if ids.is_empty() {
        return Err(Error::missing("ResourceId"));
    }
    let tags = c.p.tag_pairs("Tag", "Key", "Value")?;
    if tags.is_empty() {
        return Err(Error::missing("Tag"));
    }
    model::tags::validate(&tags)?;
    for id in &ids {
        c.world.ec2_tags_mut(c.caller, id)?;
    }
    c.dry_run()?;
    for id in &ids {
        let t = c.world.ec2_tags_mut(c.caller, id)?;
        t.extend(tags.iter().cloned());
    }
    Ok(Xml::returns_true())
}

pub fn delete_tags(c: &mut Ctx) -> Result<Xml> {
    let ids = c.p.list("ResourceId");
    if ids.is_empty() {
        return Err(Error::missing("ResourceId"));
    }
    // A tag without its key would otherwise read as "every tag".
    let tags: Vec<(String, Option<String>)> =
        c.p.indexed("Tag")
            .into_iter()
            .map(|t| Ok((t.required("Key").map_err(|_| Error::missing("Tag.N.Key"))?.to_string(), t.string("Value"))))
            .collect::<Result<_>>()?;
    for id in &ids {
        c.world.ec2_tags_mut(c.caller, id)?;
    }
    c.dry_run()?;
    for id in &ids {
        let t = c.world.ec2_tags_mut(c.caller, id)?;
        if tags.is_empty() {
            t.clear();
        }
        for (k, v) in &tags {
            if v.as_ref().is_none_or(|v| t.get(k) == Some(v)) {
                t.remove(k);
            }
        }
    }
    Ok(Xml::returns_true())
}

pub fn describe_tags(c: &mut Ctx) -> Result<Xml> {
    let filters = c.p.filters()?;
    model::tags::check_filter_names(&filters, &["resource-id", "resource-type", "key", "value"])?;
    let all: Vec<(String, &'static str, String, String)> = c
        .world
        .ec2_tags(c.caller)
        .into_iter()
        .filter(|(id, kind, k, v)| {
            filters.iter().all(|f| {
                let have = match f.name.as_str() {
                    "resource-id" => id.as_str(),
                    "resource-type" => kind,
                    "key" => k.as_str(),
                    _ => v.as_str(),
                };
                f.values.iter().any(|want| model::tags::glob_match(want, have))
            })
        })
        .collect();
    let (all, next) = page(c.p, all, |(id, _, k, _)| format!("{id}\u{1}{k}"))?;
    let mut x = Xml::new();
    x.items("tagSet", &all, |x, (id, kind, k, v)| {
        x.leaf("resourceId", id);
        x.leaf("resourceType", kind);
        x.leaf("key", k);
        x.leaf("value", v);
    });
    x.opt("nextToken", next);
    Ok(x)
}
