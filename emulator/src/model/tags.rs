//! Tags, and the filter matching EC2's Describe* actions share.

use std::collections::BTreeMap;

use super::error::{Error, Result};

/// Tags keep insertion-independent order (sorted by key), as AWS does not
/// promise any order and tests like stability.
pub type Tags = BTreeMap<String, String>;

pub fn validate(tags: &[(String, String)]) -> Result<()> {
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(Error::new("InvalidParameterValue", format!("Tag key '{k}' must be 1 to 128 characters")));
        }
        if k.starts_with("aws:") {
            return Err(Error::new(
                "InvalidParameterValue",
                "Tag keys starting with 'aws:' are reserved for internal use",
            ));
        }
        if v.chars().count() > 256 {
            return Err(Error::new(
                "InvalidParameterValue",
                format!("Tag value for key '{k}' must be at most 256 characters"),
            ));
        }
    }
    if tags.len() > 50 {
        return Err(Error::new("TagLimitExceeded", "The maximum number of tags per resource is 50"));
    }
    Ok(())
}

/// One `Filter.N` of a Describe request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

/// AWS filter values allow `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// What a resource exposes to filters: the values it has for a filter name,
/// or `None` if that filter name is not valid for this resource type.
pub trait Filterable {
    fn filter_values(&self, name: &str) -> Option<Vec<String>>;
    fn tags(&self) -> &Tags;
}

/// Checks the filter names once, before any resource is looked at, so that an
/// invalid filter is an error even when nothing would match.
pub fn check_filter_names(filters: &[Filter], valid: &[&str]) -> Result<()> {
    for f in filters {
        if f.name.starts_with("tag:") || f.name == "tag-key" || f.name == "tag-value" {
            continue;
        }
        if !valid.contains(&f.name.as_str()) {
            return Err(Error::new("InvalidParameterValue", format!("The filter '{}' is invalid", f.name)));
        }
    }
    Ok(())
}

/// All filters must match (AND); within a filter any value may match (OR).
pub fn matches<T: Filterable + ?Sized>(item: &T, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let have: Vec<String> = if let Some(key) = f.name.strip_prefix("tag:") {
            item.tags().get(key).cloned().into_iter().collect()
        } else if f.name == "tag-key" {
            item.tags().keys().cloned().collect()
        } else if f.name == "tag-value" {
            item.tags().values().cloned().collect()
        } else {
            item.filter_values(&f.name).unwrap_or_default()
        };
        f.values.iter().any(|want| have.iter().any(|h| glob_match(want, h)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("vpce-*", "vpce-0123"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "abbc"));
        assert!(glob_match("*", ""));
        assert!(glob_match("available", "available"));
        assert!(!glob_match("available", "pending"));
    }
}
