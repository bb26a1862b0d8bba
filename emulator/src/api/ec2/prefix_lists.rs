//! The AWS-managed prefix lists of the gateway endpoint services.

use super::route_tables::{max_results_in, page_in};
use super::{page, render_tags, Ctx};
use crate::api::xml::Xml;
use crate::model::prefix_list::{self, PrefixList, MANAGED_PREFIX_LIST_FILTERS, PREFIX_LIST_FILTERS};
use crate::model::tags::{self, Filter, Tags};
use crate::model::{Error, Result};

/// The region's lists, checked against ids and filters.
fn select(c: &Ctx, ids: &[String], filters: &[Filter], valid: &[&str]) -> Result<Vec<PrefixList>> {
    tags::check_filter_names(filters, valid)?;
    let all = prefix_list::managed(&c.caller.region);
    for id in ids {
        prefix_list::check_id(id)?;
        if !all.iter().any(|l| &l.id == id) {
            return Err(prefix_list::not_found(id));
        }
    }
    Ok(all
        .into_iter()
        .filter(|l| ids.is_empty() || ids.contains(&l.id))
        .filter(|l| tags::matches(l, filters))
        .collect())
}

pub fn describe_prefix_lists(c: &mut Ctx) -> Result<Xml> {
    let lists = select(c, &c.p.list("PrefixListId"), &c.p.filters()?, PREFIX_LIST_FILTERS)?;
    let (lists, next) = page(c.p, lists, |l| l.name.clone())?;
    let mut x = Xml::new();
    x.items("prefixListSet", &lists, |x, l| {
        x.leaf("prefixListId", &l.id);
        x.leaf("prefixListName", &l.name);
        x.item_strings("cidrSet", &l.cidrs);
    });
    x.opt("nextToken", next);
    Ok(x)
}

pub fn describe_managed_prefix_lists(c: &mut Ctx) -> Result<Xml> {
    max_results_in(c.p, 1, 100)?;
    let lists = select(c, &c.p.list("PrefixListId"), &c.p.filters()?, MANAGED_PREFIX_LIST_FILTERS)?;
    let (lists, next) = page_in(c.p, lists, |l| l.name.clone(), 1, 100)?;
    let mut x = Xml::new();
    x.items("prefixListSet", &lists, |x, l| {
        x.leaf("prefixListId", &l.id);
        x.leaf("addressFamily", "IPv4");
        x.leaf("state", "create-complete");
        x.leaf("prefixListArn", l.arn());
        x.leaf("prefixListName", &l.name);
        render_tags(x, &Tags::new());
        x.leaf("ownerId", "AWS");
    });
    x.opt("nextToken", next);
    Ok(x)
}

pub fn get_managed_prefix_list_entries(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("PrefixListId")?.to_string();
    max_results_in(c.p, 1, 100)?;
    let list = select(c, std::slice::from_ref(&id), &[], MANAGED_PREFIX_LIST_FILTERS)?
        .into_iter()
        .next()
        .ok_or_else(|| prefix_list::not_found(&id))?;
    if let Some(v) = c.p.int("TargetVersion")? {
        return Err(Error::invalid_value(
            "TargetVersion",
            &v.to_string(),
            &format!("The AWS-managed prefix list {id} has no versions."),
        ));
    }
    let (entries, next) = page_in(c.p, list.cidrs, |cidr| cidr.clone(), 1, 100)?;
    let mut x = Xml::new();
    x.items("entrySet", &entries, |x, cidr| x.leaf("cidr", cidr));
    x.opt("nextToken", next);
    Ok(x)
}
