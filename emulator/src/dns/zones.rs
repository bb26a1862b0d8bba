//! Route 53 hosted zones in the DNS views.
//!
//! A public zone is answered by the public view (and so by every VPC
//! resolver, which falls back to it); a private zone by the resolvers of
//! the VPCs associated with it, of any account, while the VPC has
//! enableDnsSupport and enableDnsHostnames on (as AWS requires for private
//! zones). A zone is read from the world as a copy under its lock; its
//! records are built afterwards, once per view, so that A records of
//! addresses inside a VPC answer there with their host addresses (as the
//! endpoint names do).
//!
//! Record types answered: A, AAAA, CNAME, TXT, MX, SRV, NS, SOA and PTR;
//! others are kept by the API but not served. Sets with a routing policy
//! (weighted, multivalue) answer all their values together. Alias records
//! answer at query time (see [`super::answer`]).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};

use super::index::VpcKey;
use super::names::{fqdn, Alias, Share, RANK_RECORD};
use crate::addressing::VpcBlock;
use crate::model::hosted_zone::normalise;
use crate::model::record_set::{txt_strings, RecordSet};
use crate::model::World;

/// A hosted zone as the DNS needs it, copied from the world.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneCopy {
    /// Lowercase, without the trailing dot.
    pub apex: String,
    pub public: bool,
    /// Private zones: the associated VPCs whose resolvers answer from it,
    /// with what translates their addresses.
    pub vpcs: Vec<(VpcKey, VpcBlock)>,
    pub records: Vec<ZoneRecord>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ZoneRecord {
    pub set: RecordSet,
    /// An alias to a name of AWS's own zones (vpce or NLB names) rather
    /// than to a record of a hosted zone.
    pub public_alias: bool,
}

/// Copies zone `id` from the world; `None` when it is gone.
pub fn read(world: &World, id: &str) -> Option<ZoneCopy> {
    let z = world.hosted_zone(id)?;
    let vpcs = if z.private {
        z.vpcs
            .iter()
            .filter_map(|v| {
                let vpc = world.region(&v.region)?.vpcs.get(&v.vpc_id)?;
                let on = vpc.enable_dns_support && vpc.enable_dns_hostnames;
                on.then(|| (VpcKey { region: v.region.clone(), vpc_id: v.vpc_id.clone() }, VpcBlock::from(vpc)))
            })
            .collect()
    } else {
        Vec::new()
    };
    let records = world
        .records_of(id)
        .map(|set| ZoneRecord {
            public_alias: set.alias.as_ref().is_some_and(|a| world.hosted_zone(&a.hosted_zone_id).is_none()),
            set: set.clone(),
        })
        .collect();
    Some(ZoneCopy { apex: bare(&z.name), public: !z.private, vpcs, records })
}

/// `name` lowercase without the trailing dot.
fn bare(name: &str) -> String {
    normalise(name).trim_end_matches('.').to_string()
}

/// The names a zone's records are on (to take them back).
pub fn names(copy: &ZoneCopy) -> impl Iterator<Item = String> + '_ {
    let mut seen: Vec<String> = copy.records.iter().map(|r| bare(&r.set.name)).collect();
    seen.sort();
    seen.dedup();
    seen.into_iter()
}

/// The zone's records as one share per name; `block`: the VPC whose view
/// they are for, whose addresses answer as host addresses.
pub fn shares(copy: &ZoneCopy, block: Option<&VpcBlock>) -> BTreeMap<String, Share> {
    let mut out: BTreeMap<String, Share> = BTreeMap::new();
    for r in &copy.records {
        let name = bare(&r.set.name);
        let Some(owner) = fqdn(&name) else { continue };
        let Ok(rtype) = r.set.rtype.parse::<RecordType>() else { continue };
        let share = out.entry(name).or_insert_with(|| Share { rank: RANK_RECORD, ..Share::default() });
        if let Some(a) = &r.set.alias {
            let target = bare(&a.dns_name);
            // An NLB's dualstack name answers as its name.
            let target = match target.strip_prefix("dualstack.") {
                Some(t) if r.public_alias => t.to_string(),
                _ => target,
            };
            share.aliases.push(Alias { rtype, target, public: r.public_alias });
            continue;
        }
        let ttl = r.set.ttl.map_or(300, |t| u32::try_from(t).unwrap_or(u32::MAX));
        for v in &r.set.values {
            if let Some(data) = rdata(rtype, v, block) {
                share.records.push(Record::from_rdata(owner.clone(), ttl, data));
            }
        }
    }
    out
}

/// A host name in a record's value: relative names are taken as absolute,
/// as Route 53 does.
fn host(v: &str) -> Option<Name> {
    let n = normalise(v);
    if n == "." {
        return Some(Name::root());
    }
    Name::from_ascii(n).ok()
}

/// The record data of one value; `None` for types not served.
fn rdata(rtype: RecordType, v: &str, block: Option<&VpcBlock>) -> Option<RData> {
    let f: Vec<&str> = v.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<u16>().ok());
    Some(match rtype {
        RecordType::A => {
            let ip: Ipv4Addr = v.trim().parse().ok()?;
            RData::A(A(block.and_then(|b| b.host_addr(ip)).unwrap_or(ip)))
        }
        RecordType::AAAA => RData::AAAA(AAAA(v.trim().parse::<Ipv6Addr>().ok()?)),
        RecordType::CNAME => RData::CNAME(CNAME(host(v.trim())?)),
        RecordType::NS => RData::NS(NS(host(v.trim())?)),
        RecordType::PTR => RData::PTR(PTR(host(v.trim())?)),
        RecordType::TXT => RData::TXT(TXT::new(txt_strings(v)?)),
        RecordType::MX => RData::MX(MX::new(num(0)?, host(f.get(1)?)?)),
        RecordType::SRV => RData::SRV(SRV::new(num(0)?, num(1)?, num(2)?, host(f.get(3)?)?)),
        RecordType::SOA => {
            let n = |i: usize| f.get(i).and_then(|s| s.parse::<u32>().ok());
            let signed = |i: usize| n(i).and_then(|x| i32::try_from(x).ok());
            RData::SOA(SOA::new(host(f.first()?)?, host(f.get(1)?)?, n(2)?, signed(3)?, signed(4)?, signed(5)?, n(6)?))
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_record_data() {
        let a = rdata(RecordType::A, "10.24.20.69", None).unwrap();
        assert_eq!(a, RData::A(A("10.24.20.69".parse().unwrap())));
        let mx = rdata(RecordType::MX, "10 mail.example.com", None).unwrap();
        assert_eq!(mx.to_string(), "10 mail.example.com.");
        let srv = rdata(RecordType::SRV, "1 10 443 api.example.com.", None).unwrap();
        assert_eq!(srv.to_string(), "1 10 443 api.example.com.");
        let txt = rdata(RecordType::TXT, "\"a b\" \"c\"", None).unwrap();
        assert!(matches!(txt, RData::TXT(t) if t.txt_data.len() == 2));
        let soa =
            rdata(RecordType::SOA, "ns-0.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400", None);
        assert!(matches!(soa, Some(RData::SOA(s)) if s.minimum == 86400));
        assert!(rdata(RecordType::A, "nonsense", None).is_none());
        assert!(rdata(RecordType::CAA, "0 issue \"amazon.com\"", None).is_none());
    }
}
