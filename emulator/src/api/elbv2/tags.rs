//! Tags on load balancers, target groups, listeners and listener rules.

use super::tags;
use crate::api::ec2::Ctx;
use crate::api::xml::Xml;
use crate::model::{Error, Result};

/// AWS's limit of resources in one DescribeTags.
const RESOURCES_PER_DESCRIBE: usize = 20;

fn null(member: &str) -> Error {
    Error::validation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

fn empty(member: &str) -> Error {
    Error::validation(format!(
        "1 validation error detected: Value '[]' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to 1"
    ))
}

/// Whether a list parameter was sent at all (`Name=` is an empty list).
fn given(c: &Ctx, name: &str) -> bool {
    c.p.get(name).is_some() || c.p.pairs().any(|(k, _)| k.starts_with(&format!("{name}.")))
}

fn resource_arns(c: &Ctx) -> Result<Vec<String>> {
    if !given(c, "ResourceArns") {
        return Err(null("resourceArns"));
    }
    let arns = c.p.member_list("ResourceArns");
    if arns.is_empty() {
        return Err(empty("resourceArns"));
    }
    Ok(arns)
}

pub(super) fn add_tags(c: &mut Ctx) -> Result<Xml> {
    let arns = resource_arns(c)?;
    if !given(c, "Tags") {
        return Err(null("tags"));
    }
    let t = tags(c, "Tags")?;
    if t.is_empty() {
        return Err(empty("tags"));
    }
    for arn in &arns {
        c.world.elb_tags_mut(c.caller, arn)?;
    }
    for arn in &arns {
        let have = c.world.elb_tags_mut(c.caller, arn)?;
        have.extend(t.clone());
        if have.len() > 50 {
            return Err(Error::new("TooManyTags", "The quota for the number of tags per resource has been reached"));
        }
    }
    Ok(Xml::new())
}

pub(super) fn remove_tags(c: &mut Ctx) -> Result<Xml> {
    let arns = resource_arns(c)?;
    if !given(c, "TagKeys") {
        return Err(null("tagKeys"));
    }
    let keys = c.p.member_list("TagKeys");
    for arn in &arns {
        c.world.elb_tags_mut(c.caller, arn)?;
    }
    for arn in &arns {
        let have = c.world.elb_tags_mut(c.caller, arn)?;
        for k in &keys {
            have.remove(k);
        }
    }
    Ok(Xml::new())
}

pub(super) fn describe_tags(c: &mut Ctx) -> Result<Xml> {
    let arns = resource_arns(c)?;
    if arns.len() > RESOURCES_PER_DESCRIBE {
        return Err(Error::validation(format!(
            "1 validation error detected: Value at 'resourceArns' failed to satisfy constraint: Member must have length less than or equal to {RESOURCES_PER_DESCRIBE}"
        )));
    }
    let mut found = Vec::new();
    for arn in &arns {
        found.push((arn.clone(), c.world.elb_tags_mut(c.caller, arn)?.clone()));
    }
    let mut x = Xml::new();
    x.members("TagDescriptions", &found, |x, (arn, tags)| {
        x.leaf("ResourceArn", arn);
        x.members("Tags", tags, |x, (k, v)| {
            x.leaf("Key", k);
            x.leaf("Value", v);
        });
    });
    Ok(x)
}
