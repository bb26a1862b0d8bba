//! Tags on load balancers, target groups and listeners.

use super::tags;
use crate::api::ec2::Ctx;
use crate::api::xml::Xml;
use crate::model::{Error, Result};

pub(super) fn add_tags(c: &mut Ctx) -> Result<Xml> {
    let arns = c.p.member_list("ResourceArns");
    if arns.is_empty() {
        return Err(Error::validation("At least one resource ARN must be specified"));
    }
    let t = tags(c, "Tags")?;
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
    let arns = c.p.member_list("ResourceArns");
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
    let arns = c.p.member_list("ResourceArns");
    if arns.is_empty() {
        return Err(Error::validation("At least one resource ARN must be specified"));
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
