//! The AWS-managed prefix lists of the gateway endpoint services
//! (`com.amazonaws.REGION.s3` and `com.amazonaws.REGION.dynamodb`): fixed
//! per region, owned by AWS, the destination of a gateway endpoint's routes.
//! Regions AWS published ids for get those ids and address ranges; any
//! other region gets ids and ranges derived from its name, the same on
//! every start.

use super::tags::{Filterable, Tags};
use super::{ids, region, Error};

/// The services with gateway endpoints, in the order AWS lists them.
pub const GATEWAY_SERVICES: &[&str] = &["s3", "dynamodb"];

/// (region, s3 list id, s3 ranges, dynamodb list id, dynamodb ranges).
type Published = (&'static str, &'static str, &'static [&'static str], &'static str, &'static [&'static str]);

const PUBLISHED: &[Published] = &[
    (
        "us-east-1",
        "pl-63a5400a",
        &["54.231.0.0/17", "52.216.0.0/15"],
        "pl-02cd2c6b",
        &["52.94.0.0/22", "52.119.224.0/20"],
    ),
    (
        "us-east-2",
        "pl-7ba54012",
        &["52.219.80.0/20", "52.219.96.0/20", "52.92.76.0/22"],
        "pl-4ca54025",
        &["52.94.4.0/24"],
    ),
    (
        "us-west-1",
        "pl-6ba54002",
        &["52.219.20.0/22", "54.231.232.0/21", "52.219.24.0/21", "52.92.48.0/22"],
        "pl-6ea54007",
        &["52.94.12.0/24"],
    ),
    (
        "us-west-2",
        "pl-68a54001",
        &["54.231.160.0/19", "52.218.128.0/17", "52.92.32.0/22"],
        "pl-00a54069",
        &["52.94.28.0/23"],
    ),
    (
        "ca-central-1",
        "pl-7da54014",
        &["52.95.146.0/23", "52.95.145.0/24", "52.92.84.0/22"],
        "pl-4ea54027",
        &["52.94.14.0/24"],
    ),
    (
        "sa-east-1",
        "pl-6aa54003",
        &["52.95.138.0/24", "52.92.64.0/22", "52.95.163.0/24", "52.95.136.0/23"],
        "pl-60a54009",
        &["52.94.7.0/24"],
    ),
    (
        "eu-west-1",
        "pl-6da54004",
        &["52.218.0.0/17", "54.231.128.0/19"],
        "pl-6fa54006",
        &["52.94.5.0/24", "52.119.240.0/21", "52.94.24.0/23"],
    ),
    (
        "eu-west-2",
        "pl-7ca54015",
        &["52.95.150.0/24", "52.92.88.0/22", "52.95.148.0/23"],
        "pl-b3a742da",
        &["52.94.15.0/24"],
    ),
    ("eu-west-3", "pl-23ad484a", &["52.95.154.0/23", "52.95.156.0/24"], "pl-abb451c2", &["52.94.16.0/24"]),
    (
        "eu-central-1",
        "pl-6ea54007",
        &["52.219.44.0/22", "54.231.192.0/20", "52.219.72.0/22"],
        "pl-66a5400f",
        &["52.94.17.0/24"],
    ),
    (
        "ap-south-1",
        "pl-78a54011",
        &["52.92.248.0/22", "52.219.62.0/23", "52.219.64.0/22"],
        "pl-66a7420f",
        &["52.94.20.0/24"],
    ),
    (
        "ap-northeast-1",
        "pl-61a54008",
        &["52.219.0.0/20", "54.231.224.0/21", "52.219.16.0/22", "52.219.68.0/22"],
        "pl-78a54011",
        &["52.94.8.0/24"],
    ),
    (
        "ap-northeast-2",
        "pl-78a54011",
        &["52.92.0.0/20", "52.219.60.0/23", "52.219.56.0/22"],
        "pl-48a54021",
        &["52.94.6.0/24"],
    ),
    (
        "ap-southeast-1",
        "pl-6fa54006",
        &["52.219.32.0/21", "52.219.40.0/22", "54.231.240.0/22", "52.219.76.0/22"],
        "pl-67a5400e",
        &["52.94.11.0/24"],
    ),
    (
        "ap-southeast-2",
        "pl-6ca54005",
        &["54.231.248.0/22", "54.231.252.0/24", "52.95.128.0/21"],
        "pl-62a5400b",
        &["52.94.13.0/24"],
    ),
];

/// One AWS-managed prefix list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixList {
    pub id: String,
    /// `com.amazonaws.REGION.SERVICE`, also the service's name.
    pub name: String,
    pub region: String,
    pub cidrs: Vec<String>,
    tags: Tags,
}

impl PrefixList {
    pub fn arn(&self) -> String {
        format!("arn:aws:ec2:{}:aws:prefix-list/{}", self.region, self.id)
    }
}

impl Filterable for PrefixList {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "prefix-list-id" => vec![self.id.clone()],
            "prefix-list-name" => vec![self.name.clone()],
            "owner-id" => vec!["AWS".into()],
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        &self.tags
    }
}

/// Filters of DescribePrefixLists.
pub const PREFIX_LIST_FILTERS: &[&str] = &["prefix-list-id", "prefix-list-name"];
/// Filters of DescribeManagedPrefixLists.
pub const MANAGED_PREFIX_LIST_FILTERS: &[&str] = &["owner-id", "prefix-list-id", "prefix-list-name"];

/// The region's AWS-managed lists: s3, then dynamodb.
pub fn managed(region_name: &str) -> Vec<PrefixList> {
    if !region::is_region_name(region_name) {
        return vec![];
    }
    let published = PUBLISHED.iter().find(|p| p.0 == region_name);
    GATEWAY_SERVICES
        .iter()
        .enumerate()
        .map(|(n, short)| {
            let name = format!("com.amazonaws.{region_name}.{short}");
            let (id, cidrs) = match (published, n) {
                (Some(p), 0) => (p.1.to_string(), p.2.iter().map(|c| c.to_string()).collect()),
                (Some(p), _) => (p.3.to_string(), p.4.iter().map(|c| c.to_string()).collect()),
                (None, _) => derived(&name, n),
            };
            PrefixList { id, name, region: region_name.to_string(), cidrs, tags: Tags::new() }
        })
        .collect()
}

/// An id and one address range for a region AWS published none for.
fn derived(name: &str, n: usize) -> (String, Vec<String>) {
    let id = ids::derived_id("pl", name);
    let short = format!("pl-{}", &id["pl-".len().."pl-".len() + 8]);
    let third = u8::from_str_radix(&id[id.len() - 2..], 16).unwrap_or(0);
    let cidr = if n == 0 { format!("52.92.{}.0/22", third & 0xfc) } else { format!("52.94.{third}.0/24") };
    (short, vec![cidr])
}

/// The list of a gateway endpoint service, by the service's name.
pub fn of_service(region_name: &str, service_name: &str) -> Option<PrefixList> {
    managed(region_name).into_iter().find(|l| l.name == service_name)
}

pub fn not_found(id: &str) -> Error {
    Error::new("InvalidPrefixListID.NotFound", format!("The prefix list ID '{id}' does not exist"))
}

pub fn check_id(id: &str) -> Result<(), Error> {
    let ok = id
        .strip_prefix("pl-")
        .is_some_and(|rest| (8..=17).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(Error::new("InvalidPrefixListId.Malformed", format!("Invalid id: \"{id}\" (expecting \"pl-...\")")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_and_derived_lists() {
        let tokyo = managed("ap-northeast-1");
        assert_eq!(tokyo[0].name, "com.amazonaws.ap-northeast-1.s3");
        assert_eq!(tokyo[0].id, "pl-61a54008");
        assert_eq!(tokyo[1].name, "com.amazonaws.ap-northeast-1.dynamodb");
        assert_eq!(tokyo[0].arn(), "arn:aws:ec2:ap-northeast-1:aws:prefix-list/pl-61a54008");
        let other = managed("eu-south-2");
        assert_eq!(other.len(), 2);
        assert_eq!(other, managed("eu-south-2"), "derived lists are stable");
        for l in &other {
            check_id(&l.id).expect("well-formed id");
            assert_eq!(l.id.len(), "pl-".len() + 8);
            assert!(l.cidrs[0].parse::<crate::model::net::Ipv4Cidr>().is_ok(), "{:?}", l.cidrs);
        }
        assert_ne!(other[0].id, other[1].id);
        assert!(managed("nowhere-1").is_empty());
        assert_eq!(
            of_service("us-east-1", "com.amazonaws.us-east-1.dynamodb").map(|l| l.id),
            Some("pl-02cd2c6b".into())
        );
    }
}
