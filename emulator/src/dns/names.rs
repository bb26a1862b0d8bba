//! The names of one view and the zones they belong to, with their answers
//! prebuilt so a query costs a few hash lookups and no allocation of
//! records.
//!
//! Names are lowercase, without the trailing dot. Several endpoints may put
//! addresses on the same name (a private DNS name shared by two endpoints);
//! each keeps its own share, keyed by the endpoint id.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_server::proto::rr::rdata::{A, SOA, TXT};
use hickory_server::proto::rr::{Name, RData, Record};

/// TTL of every record, as AWS gives vpce names.
pub const TTL: u32 = 60;
/// Negative answers are cached no longer than positive ones: records come
/// and go with the model, and a resolver must not remember an NXDOMAIN for
/// the quarter hour Route 53's own SOA would allow.
const NEGATIVE_TTL: u32 = 60;

/// The records a name answers with, built once per change.
#[derive(Debug, Default)]
pub struct RrSets {
    pub a: Vec<Record>,
    pub txt: Vec<Record>,
}

#[derive(Debug, Default)]
struct Node {
    a: BTreeMap<Arc<str>, Vec<Ipv4Addr>>,
    txt: Vec<String>,
    rrsets: Arc<RrSets>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.a.is_empty() && self.txt.is_empty()
    }

    fn rebuild(&mut self, name: &str) {
        let Some(owner) = fqdn(name) else {
            self.rrsets = Arc::default();
            return;
        };
        let mut addrs: Vec<Ipv4Addr> = self.a.values().flatten().copied().collect();
        addrs.sort();
        addrs.dedup();
        let a = addrs.into_iter().map(|ip| Record::from_rdata(owner.clone(), TTL, RData::A(A(ip)))).collect();
        let txt = self.txt.iter().map(|v| Record::from_rdata(owner.clone(), TTL, RData::TXT(txt_rdata(v)))).collect();
        self.rrsets = Arc::new(RrSets { a, txt });
    }
}

/// A TXT value in 255-byte character strings (the wire limit of one).
fn txt_rdata(value: &str) -> TXT {
    if value.len() <= 255 {
        return TXT::new(vec![value.to_string()]);
    }
    TXT::new(value.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect())
}

pub(crate) fn fqdn(name: &str) -> Option<Name> {
    Name::from_ascii(format!("{name}.")).ok()
}

#[derive(Debug)]
struct Zone {
    refs: u32,
    soa: Arc<Record>,
}

fn soa_record(apex: &str) -> Option<Record> {
    let owner = fqdn(apex)?;
    let mname = Name::from_ascii("ns-0.awsdns-00.com.").ok()?;
    let rname = Name::from_ascii("awsdns-hostmaster.amazon.com.").ok()?;
    let soa = SOA::new(mname, rname, 1, 7200, 900, 1_209_600, NEGATIVE_TTL);
    Some(Record::from_rdata(owner, NEGATIVE_TTL, RData::SOA(soa)))
}

/// What a view knows about a name inside one of its zones.
#[derive(Debug, Clone)]
pub struct Found {
    /// The zone's SOA, for the authority section of negative answers.
    pub soa: Arc<Record>,
    /// The name is the zone's apex.
    pub apex: bool,
    /// The name's records; `None` when it has none of its own.
    pub rrsets: Option<Arc<RrSets>>,
    /// The name exists (records, names below it, or the apex): NODATA rather
    /// than NXDOMAIN for types it lacks.
    pub exists: bool,
    /// Records came from a wildcard and carry its owner name.
    pub wildcard: bool,
}

/// One view's names.
#[derive(Debug, Default)]
pub struct Names {
    nodes: HashMap<String, Node>,
    /// How many names sit below each name: names with none of their own
    /// records but names below (empty non-terminals) exist.
    below: HashMap<String, u32>,
    zones: HashMap<String, Zone>,
}

/// `a.b.c`, `b.c`, `c`.
fn suffixes(name: &str) -> impl Iterator<Item = &str> {
    std::iter::once(name).chain(name.match_indices('.').map(move |(i, _)| &name[i + 1..]))
}

impl Names {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.zones.is_empty()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Sets (or, when `addrs` is empty, removes) `source`'s addresses on `name`.
    pub fn set_a(&mut self, name: &str, source: &Arc<str>, addrs: Vec<Ipv4Addr>) {
        self.edit(name, |n| {
            if addrs.is_empty() {
                n.a.remove(source);
            } else {
                n.a.insert(source.clone(), addrs);
            }
        });
    }

    pub fn set_txt(&mut self, name: &str, values: Vec<String>) {
        self.edit(name, |n| n.txt = values);
    }

    fn edit(&mut self, name: &str, f: impl FnOnce(&mut Node)) {
        let fresh = !self.nodes.contains_key(name);
        let node = self.nodes.entry(name.to_string()).or_default();
        f(node);
        if node.is_empty() {
            self.nodes.remove(name);
            if !fresh {
                self.count_below(name, false);
            }
            return;
        }
        node.rebuild(name);
        if fresh {
            self.count_below(name, true);
        }
    }

    fn count_below(&mut self, name: &str, add: bool) {
        for parent in suffixes(name).skip(1) {
            if add {
                *self.below.entry(parent.to_string()).or_default() += 1;
            } else if let Some(n) = self.below.get_mut(parent) {
                *n -= 1;
                if *n == 0 {
                    self.below.remove(parent);
                }
            }
        }
    }

    /// Counts one more user of the zone at `apex`.
    pub fn add_zone(&mut self, apex: &str) {
        if let Some(z) = self.zones.get_mut(apex) {
            z.refs += 1;
        } else if let Some(soa) = soa_record(apex) {
            self.zones.insert(apex.to_string(), Zone { refs: 1, soa: Arc::new(soa) });
        }
    }

    pub fn remove_zone(&mut self, apex: &str) {
        if let Some(z) = self.zones.get_mut(apex) {
            z.refs -= 1;
            if z.refs == 0 {
                self.zones.remove(apex);
            }
        }
    }

    /// The closest zone of this view that `name` is in.
    pub fn zone_of<'a>(&self, name: &'a str) -> Option<&'a str> {
        suffixes(name).find(|s| self.zones.contains_key(*s))
    }

    /// What this view says about `name`, or `None` outside its zones.
    pub fn lookup(&self, name: &str) -> Option<Found> {
        let apex = self.zone_of(name)?;
        let soa = self.zones.get(apex)?.soa.clone();
        let is_apex = apex.len() == name.len();
        if let Some(node) = self.nodes.get(name) {
            return Some(Found {
                soa,
                apex: is_apex,
                rrsets: Some(node.rrsets.clone()),
                exists: true,
                wildcard: false,
            });
        }
        if is_apex || self.below.contains_key(name) {
            return Some(Found { soa, apex: is_apex, rrsets: None, exists: true, wildcard: false });
        }
        // A wildcard (`*.example.com`) stands for names that do not exist,
        // from the closest ancestor up to the zone's apex.
        let ancestors = suffixes(name).skip(1).take_while(|s| s.len() >= apex.len());
        for parent in ancestors {
            if let Some(node) = self.nodes.get(&format!("*.{parent}")) {
                return Some(Found {
                    soa,
                    apex: false,
                    rrsets: Some(node.rrsets.clone()),
                    exists: true,
                    wildcard: true,
                });
            }
            if self.below.contains_key(parent) || self.nodes.contains_key(parent) {
                // The closest existing ancestor stops the wildcard search.
                break;
            }
        }
        Some(Found { soa, apex: false, rrsets: None, exists: false, wildcard: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn names_zones_and_empty_non_terminals() {
        let mut n = Names::default();
        n.add_zone("vpce.amazonaws.com");
        let src: Arc<str> = Arc::from("vpce-1");
        n.set_a("a.svc.us-east-1.vpce.amazonaws.com", &src, vec![ip("127.1.0.9"), ip("127.1.0.5")]);
        let f = n.lookup("a.svc.us-east-1.vpce.amazonaws.com").unwrap();
        let rr = f.rrsets.unwrap();
        assert_eq!(rr.a.len(), 2);
        assert_eq!(rr.a[0].ttl, TTL);
        let ent = n.lookup("svc.us-east-1.vpce.amazonaws.com").unwrap();
        assert!(ent.exists && ent.rrsets.is_none());
        let apex = n.lookup("vpce.amazonaws.com").unwrap();
        assert!(apex.exists && apex.apex);
        let nx = n.lookup("b.svc.us-east-1.vpce.amazonaws.com").unwrap();
        assert!(!nx.exists);
        assert!(n.lookup("example.com").is_none());

        n.set_a("a.svc.us-east-1.vpce.amazonaws.com", &src, vec![]);
        assert!(!n.lookup("a.svc.us-east-1.vpce.amazonaws.com").unwrap().exists);
        assert!(!n.lookup("svc.us-east-1.vpce.amazonaws.com").unwrap().exists, "no name below any more");
        assert!(n.below.is_empty());
    }

    #[test]
    fn shares_of_several_sources_merge_and_leave_separately() {
        let mut n = Names::default();
        n.add_zone("api.example.com");
        let (one, two): (Arc<str>, Arc<str>) = (Arc::from("vpce-1"), Arc::from("vpce-2"));
        n.set_a("api.example.com", &one, vec![ip("127.1.0.5")]);
        n.set_a("api.example.com", &two, vec![ip("127.1.0.6"), ip("127.1.0.5")]);
        assert_eq!(n.lookup("api.example.com").unwrap().rrsets.unwrap().a.len(), 2);
        n.set_a("api.example.com", &one, vec![]);
        assert_eq!(n.lookup("api.example.com").unwrap().rrsets.unwrap().a.len(), 2);
        n.set_a("api.example.com", &two, vec![]);
        assert!(n.lookup("api.example.com").unwrap().rrsets.is_none());
        n.remove_zone("api.example.com");
        assert!(n.is_empty());
    }

    #[test]
    fn wildcards_answer_for_missing_names_only() {
        let mut n = Names::default();
        n.add_zone("example.com");
        let src: Arc<str> = Arc::from("vpce-1");
        n.set_a("*.example.com", &src, vec![ip("127.2.0.7")]);
        n.set_txt("_x.example.com", vec!["vpce:abc".into()]);
        let f = n.lookup("anything.example.com").unwrap();
        assert!(f.wildcard && f.exists);
        let t = n.lookup("_x.example.com").unwrap();
        assert!(!t.wildcard);
        assert_eq!(t.rrsets.unwrap().txt.len(), 1);
        assert!(n.lookup("deep.below.example.com").unwrap().wildcard);
    }

    #[test]
    fn long_txt_values_split_into_character_strings() {
        let long = "v".repeat(600);
        let t = txt_rdata(&long);
        assert_eq!(t.txt_data.len(), 3);
    }
}
