//! The names of one view and the zones they belong to, with their answers
//! prebuilt so a query costs a few hash lookups and no allocation of
//! records.
//!
//! Names are lowercase, without the trailing dot. Each name belongs to one
//! zone of the view: a zone's names are looked up only once the zone is the
//! closest one enclosing the question, so a more specific zone hides what a
//! less specific one holds below it (as delegation does). Several sources
//! (endpoints, hosted zones, published TXT records) may put records on the
//! same name of the same zone; each keeps its own share, and for each record
//! type the shares of the highest rank answer (an endpoint's private DNS
//! name outranks a hosted zone's records of the same name and type).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_server::proto::rr::rdata::{A, SOA, TXT};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};

/// TTL of every record, as AWS gives vpce names.
pub const TTL: u32 = 60;
/// Negative answers are cached no longer than positive ones: records come
/// and go with the model, and a resolver must not remember an NXDOMAIN for
/// the quarter hour Route 53's own SOA would allow.
const NEGATIVE_TTL: u32 = 60;

/// Rank of records the model derives from endpoints (their names).
pub const RANK_ENDPOINT: u8 = 1;
/// Rank of records users write (hosted zones, published TXT records).
pub const RANK_RECORD: u8 = 0;

/// An alias record: answered at query time with the target's current
/// records of the alias's type, so it follows the target's changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub rtype: RecordType,
    /// Lowercase, without the trailing dot.
    pub target: String,
    /// The target is a name of AWS's own zones (an endpoint's vpce name, an
    /// NLB's name): looked up in the public view whatever the asking view
    /// has, as Route 53 resolves aliases inside its own data.
    pub public: bool,
}

/// What one source puts on a name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Share {
    pub records: Vec<Record>,
    pub aliases: Vec<Alias>,
    pub rank: u8,
}

impl Share {
    /// A share of A records with the TTL of vpce names.
    pub fn addresses(name: &str, addrs: &[Ipv4Addr], rank: u8) -> Share {
        if addrs.is_empty() {
            return Share::default();
        }
        let Some(owner) = fqdn(name) else { return Share::default() };
        let records = addrs.iter().map(|ip| Record::from_rdata(owner.clone(), TTL, RData::A(A(*ip)))).collect();
        Share { records, aliases: Vec::new(), rank }
    }

    pub fn txt(name: &str, values: &[String]) -> Share {
        let Some(owner) = fqdn(name) else { return Share::default() };
        let records = values.iter().map(|v| Record::from_rdata(owner.clone(), TTL, RData::TXT(txt_rdata(v)))).collect();
        Share { records, aliases: Vec::new(), rank: RANK_RECORD }
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty() && self.aliases.is_empty()
    }
}

/// The records a name answers with, built once per change.
#[derive(Debug, Default)]
pub struct RrSets {
    /// Records by type, each set sorted.
    pub sets: Vec<(RecordType, Vec<Record>)>,
    pub aliases: Vec<Alias>,
    /// The SOA for negative answers, when this name (an apex) has one.
    negative_soa: Option<Arc<Record>>,
}

impl RrSets {
    pub fn get(&self, rtype: RecordType) -> &[Record] {
        self.sets.iter().find(|(t, _)| *t == rtype).map_or(&[], |(_, r)| r.as_slice())
    }

    pub fn a(&self) -> &[Record] {
        self.get(RecordType::A)
    }

    pub fn txt(&self) -> &[Record] {
        self.get(RecordType::TXT)
    }

    pub fn alias(&self, rtype: RecordType) -> Option<&Alias> {
        self.aliases.iter().find(|a| a.rtype == rtype)
    }

    pub fn all(&self) -> impl Iterator<Item = &Record> {
        self.sets.iter().flat_map(|(_, r)| r.iter())
    }
}

#[derive(Debug, Default)]
struct Node {
    shares: BTreeMap<Arc<str>, Share>,
    rrsets: Arc<RrSets>,
}

impl Node {
    fn rebuild(&mut self) {
        let mut best: BTreeMap<RecordType, u8> = BTreeMap::new();
        let types = self.shares.values().flat_map(|s| {
            s.records.iter().map(|r| (r.record_type(), s.rank)).chain(s.aliases.iter().map(|a| (a.rtype, s.rank)))
        });
        for (t, rank) in types {
            let b = best.entry(t).or_insert(rank);
            *b = (*b).max(rank);
        }
        let mut sets: BTreeMap<RecordType, Vec<Record>> = BTreeMap::new();
        let mut aliases = Vec::new();
        for share in self.shares.values() {
            for r in &share.records {
                if best.get(&r.record_type()) == Some(&share.rank) {
                    sets.entry(r.record_type()).or_default().push(r.clone());
                }
            }
            for a in &share.aliases {
                if best.get(&a.rtype) == Some(&share.rank) && !aliases.contains(a) {
                    aliases.push(a.clone());
                }
            }
        }
        for set in sets.values_mut() {
            set.sort();
            set.dedup();
        }
        let negative_soa = sets.get(&RecordType::SOA).and_then(|s| s.first()).map(|r| {
            let mut r = r.clone();
            if let RData::SOA(soa) = &r.data {
                r.ttl = r.ttl.min(soa.minimum).min(NEGATIVE_TTL);
            }
            Arc::new(r)
        });
        self.rrsets = Arc::new(RrSets { sets: sets.into_iter().collect(), aliases, negative_soa });
    }
}

/// A TXT value in 255-byte character strings (the wire limit of one).
pub(crate) fn txt_rdata(value: &str) -> TXT {
    if value.len() <= 255 {
        return TXT::new(vec![value.to_string()]);
    }
    TXT::new(value.as_bytes().chunks(255).map(|c| String::from_utf8_lossy(c).into_owned()).collect())
}

/// `name` (lowercase, no trailing dot) as a fully qualified name. Names of
/// plain labels (letters, digits, `-`, `_`, or `*`) are built label by
/// label; parsing the whole text (escapes and all) was most of what placing
/// an endpoint's names cost. Anything else takes the general parse.
pub(crate) fn fqdn(name: &str) -> Option<Name> {
    let plain = |label: &str| {
        let b = label.as_bytes();
        let inner = |c: &u8| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_';
        b == b"*"
            || (b.len() <= 63
                && b.first().is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                && b.iter().all(inner))
    };
    if !name.split('.').all(plain) {
        return Name::from_ascii(format!("{name}.")).ok();
    }
    let mut owner = Name::new();
    for label in name.split('.') {
        owner = owner.append_label(label.as_bytes()).ok()?;
    }
    owner.set_fqdn(true);
    Some(owner)
}

#[derive(Debug)]
struct Zone {
    refs: u32,
    soa: Arc<Record>,
    nodes: HashMap<String, Node>,
    /// How many names sit below each name: names with none of their own
    /// records but names below (empty non-terminals) exist.
    below: HashMap<String, u32>,
}

impl Zone {
    /// The SOA of negative answers: the zone's own when it has one.
    fn negative_soa(&self, apex: &str) -> Arc<Record> {
        self.nodes.get(apex).and_then(|n| n.rrsets.negative_soa.clone()).unwrap_or_else(|| self.soa.clone())
    }

    fn count_below(&mut self, name: &str, apex_len: usize, add: bool) {
        for parent in suffixes(name).skip(1).take_while(|s| s.len() >= apex_len) {
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
    zones: HashMap<String, Zone>,
    /// Names with records, over every zone.
    len: usize,
}

/// `a.b.c`, `b.c`, `c`.
fn suffixes(name: &str) -> impl Iterator<Item = &str> {
    std::iter::once(name).chain(name.match_indices('.').map(move |(i, _)| &name[i + 1..]))
}

impl Names {
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Every name of every zone with its records and aliases as text,
    /// sorted (tests compare views with it).
    #[cfg(test)]
    pub(crate) fn records(&self) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for (apex, zone) in &self.zones {
            out.insert(format!("{apex} (zone)"), vec![zone.soa.to_string()]);
            for (name, node) in &zone.nodes {
                let mut records: Vec<String> = node.rrsets.all().map(|r| r.to_string()).collect();
                records.extend(node.rrsets.aliases.iter().map(|a| format!("{a:?}")));
                records.sort();
                out.insert(format!("{name} in {apex}"), records);
            }
        }
        assert_eq!(out.len() - self.zones.len(), self.len);
        out
    }

    /// Sets (or, when `addrs` is empty, removes) `source`'s addresses on
    /// `name` of the zone at `apex`.
    pub fn set_a(&mut self, apex: &str, name: &str, source: &Arc<str>, addrs: &[Ipv4Addr], rank: u8) {
        self.set(apex, name, source, Share::addresses(name, addrs, rank));
    }

    /// Sets (or, when `share` is empty, removes) `source`'s records on
    /// `name` of the zone at `apex`; nothing when the view has no such zone.
    pub fn set(&mut self, apex: &str, name: &str, source: &Arc<str>, share: Share) {
        let Some(zone) = self.zones.get_mut(apex) else { return };
        let fresh = !zone.nodes.contains_key(name);
        if fresh && share.is_empty() {
            return;
        }
        let node = zone.nodes.entry(name.to_string()).or_default();
        if share.is_empty() {
            node.shares.remove(source);
        } else {
            node.shares.insert(source.clone(), share);
        }
        if node.shares.is_empty() {
            zone.nodes.remove(name);
            zone.count_below(name, apex.len(), false);
            self.len -= 1;
            return;
        }
        node.rebuild();
        if fresh {
            zone.count_below(name, apex.len(), true);
            self.len += 1;
        }
    }

    /// Counts one more user of the zone at `apex`.
    pub fn add_zone(&mut self, apex: &str) {
        if let Some(z) = self.zones.get_mut(apex) {
            z.refs += 1;
        } else if let Some(soa) = soa_record(apex) {
            let zone = Zone { refs: 1, soa: Arc::new(soa), nodes: HashMap::new(), below: HashMap::new() };
            self.zones.insert(apex.to_string(), zone);
        }
    }

    /// Counts one user less; the last takes the zone (and whatever names
    /// its users left in it) away.
    pub fn remove_zone(&mut self, apex: &str) {
        if let Some(z) = self.zones.get_mut(apex) {
            z.refs -= 1;
            if z.refs == 0 {
                let left = z.nodes.len();
                self.zones.remove(apex);
                self.len -= left;
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
        let zone = self.zones.get(apex)?;
        let is_apex = apex.len() == name.len();
        let found = |rrsets: Option<Arc<RrSets>>, exists: bool, wildcard: bool| Found {
            soa: zone.negative_soa(apex),
            apex: is_apex,
            rrsets,
            exists,
            wildcard,
        };
        if let Some(node) = zone.nodes.get(name) {
            return Some(found(Some(node.rrsets.clone()), true, false));
        }
        if is_apex || zone.below.contains_key(name) {
            return Some(found(None, true, false));
        }
        // A wildcard (`*.example.com`) stands for names that do not exist,
        // from the closest ancestor up to the zone's apex.
        let ancestors = suffixes(name).skip(1).take_while(|s| s.len() >= apex.len());
        for parent in ancestors {
            if let Some(node) = zone.nodes.get(&format!("*.{parent}")) {
                return Some(found(Some(node.rrsets.clone()), true, true));
            }
            if zone.below.contains_key(parent) || zone.nodes.contains_key(parent) {
                // The closest existing ancestor stops the wildcard search.
                break;
            }
        }
        Some(found(None, false, false))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    const Z: &str = "vpce.amazonaws.com";
    const E: &str = "api.example.com";

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn names_zones_and_empty_non_terminals() {
        let mut n = Names::default();
        n.add_zone("vpce.amazonaws.com");
        let src: Arc<str> = Arc::from("vpce-1");
        n.set_a(Z, "a.svc.us-east-1.vpce.amazonaws.com", &src, &[ip("127.1.0.9"), ip("127.1.0.5")], 0);
        let f = n.lookup("a.svc.us-east-1.vpce.amazonaws.com").unwrap();
        let rr = f.rrsets.unwrap();
        assert_eq!(rr.a().len(), 2);
        assert_eq!(rr.a()[0].ttl, TTL);
        let ent = n.lookup("svc.us-east-1.vpce.amazonaws.com").unwrap();
        assert!(ent.exists && ent.rrsets.is_none());
        let apex = n.lookup("vpce.amazonaws.com").unwrap();
        assert!(apex.exists && apex.apex);
        let nx = n.lookup("b.svc.us-east-1.vpce.amazonaws.com").unwrap();
        assert!(!nx.exists);
        assert!(n.lookup("example.com").is_none());

        n.set_a(Z, "a.svc.us-east-1.vpce.amazonaws.com", &src, &[], 0);
        assert!(!n.lookup("a.svc.us-east-1.vpce.amazonaws.com").unwrap().exists);
        assert!(!n.lookup("svc.us-east-1.vpce.amazonaws.com").unwrap().exists, "no name below any more");
        assert!(n.zones[Z].below.is_empty());
    }

    #[test]
    fn shares_of_several_sources_merge_and_leave_separately() {
        let mut n = Names::default();
        n.add_zone("api.example.com");
        let (one, two): (Arc<str>, Arc<str>) = (Arc::from("vpce-1"), Arc::from("vpce-2"));
        n.set_a(E, "api.example.com", &one, &[ip("127.1.0.5")], 0);
        n.set_a(E, "api.example.com", &two, &[ip("127.1.0.6"), ip("127.1.0.5")], 0);
        assert_eq!(n.lookup("api.example.com").unwrap().rrsets.unwrap().a().len(), 2);
        n.set_a(E, "api.example.com", &one, &[], 0);
        assert_eq!(n.lookup("api.example.com").unwrap().rrsets.unwrap().a().len(), 2);
        n.set_a(E, "api.example.com", &two, &[], 0);
        assert!(n.lookup("api.example.com").unwrap().rrsets.is_none());
        n.remove_zone("api.example.com");
        assert!(n.is_empty());
        assert_eq!(n.len(), 0);
    }

    #[test]
    fn wildcards_answer_for_missing_names_only() {
        let mut n = Names::default();
        n.add_zone("example.com");
        let src: Arc<str> = Arc::from("vpce-1");
        n.set_a("example.com", "*.example.com", &src, &[ip("127.2.0.7")], 0);
        n.set("example.com", "_x.example.com", &src, Share::txt("_x.example.com", &["vpce:abc".into()]));
        let f = n.lookup("anything.example.com").unwrap();
        assert!(f.wildcard && f.exists);
        let t = n.lookup("_x.example.com").unwrap();
        assert!(!t.wildcard);
        assert_eq!(t.rrsets.unwrap().txt().len(), 1);
        assert!(n.lookup("deep.below.example.com").unwrap().wildcard);
    }

    #[test]
    fn long_txt_values_split_into_character_strings() {
        let long = "v".repeat(600);
        let t = txt_rdata(&long);
        assert_eq!(t.txt_data.len(), 3);
    }

    #[test]
    fn the_closest_zone_hides_what_a_parent_zone_holds_below_it() {
        let mut n = Names::default();
        n.add_zone("example.com");
        let (zone, ep): (Arc<str>, Arc<str>) = (Arc::from("Z1"), Arc::from("vpce-1"));
        n.set_a("example.com", "www.example.com", &zone, &[ip("10.0.0.1")], RANK_RECORD);
        n.set_a("example.com", "x.api.example.com", &zone, &[ip("10.0.0.2")], RANK_RECORD);
        assert!(n.lookup("x.api.example.com").unwrap().exists);
        n.add_zone("api.example.com");
        n.set_a("api.example.com", "api.example.com", &ep, &[ip("127.1.0.5")], RANK_ENDPOINT);
        let hidden = n.lookup("x.api.example.com").unwrap();
        assert!(!hidden.exists, "api.example.com is the closest zone and has no such name");
        assert!(n.lookup("www.example.com").unwrap().exists);
        n.remove_zone("api.example.com");
        assert!(n.lookup("x.api.example.com").unwrap().exists);
        assert_eq!(n.len(), 2);
    }

    #[test]
    fn higher_ranks_answer_a_type_alone() {
        let mut n = Names::default();
        n.add_zone("example.com");
        let (zone, ep): (Arc<str>, Arc<str>) = (Arc::from("Z1"), Arc::from("vpce-1"));
        let mut share = Share::addresses("example.com", &[ip("10.0.0.1")], RANK_RECORD);
        share.records.extend(Share::txt("example.com", &["hello".into()]).records);
        n.set("example.com", "example.com", &zone, share);
        n.set_a("example.com", "example.com", &ep, &[ip("127.1.0.5")], RANK_ENDPOINT);
        let rr = n.lookup("example.com").unwrap().rrsets.unwrap();
        assert_eq!(rr.a().len(), 1);
        assert!(matches!(&rr.a()[0].data, RData::A(a) if a.0 == ip("127.1.0.5")));
        assert_eq!(rr.txt().len(), 1, "other types still answer from the lower rank");
    }

    #[test]
    fn names_are_built_as_the_whole_text_would_parse() {
        let names = [
            "vpce-0a1b2c3d4e5f60718-abcdefgh.vpce-svc-0123456789abcdef0.ap-northeast-1.vpce.amazonaws.com",
            "vpce-0a1b-abcdefgh-ap-northeast-1a.vpce-svc-01.ap-northeast-1.vpce.amazonaws.com",
            "*.example.com",
            "*x.example.com",
            "a*.example.com",
            "-a.example.com",
            "a-.example.com",
            "_acme-challenge.example.com",
            "UPPER.Example.com",
            "ec2.ap-northeast-1.amazonaws.com",
            "com",
            "",
            "a..b",
            "trailing.",
            ".leading",
            "bad name.example.com",
            "Ünicode.example.com",
            "escaped\\.dot.example.com",
            &format!("{}.example.com", "x".repeat(64)),
            &format!("{}.com", vec!["y".repeat(63); 4].join(".")),
        ];
        for name in names {
            let whole = Name::from_ascii(format!("{name}.")).ok();
            assert_eq!(fqdn(name), whole, "{name:?}");
            if let Some(n) = fqdn(name) {
                assert!(n.is_fqdn(), "{name:?}");
                assert_eq!(n.to_ascii(), whole.unwrap().to_ascii());
            }
        }
    }
}
