//! How a view answers one question, as AWS's resolver would from the same
//! data:
//!
//! - the name's records of the asked type (ANY: all of them);
//! - an alias of the asked type: the target's current records of that
//!   type, under the alias's name and with the target's TTL; a target with
//!   none (an endpoint deleted or rejected) leaves NOERROR with no answer;
//! - a CNAME: the CNAME, then the target chased in the same view while it
//!   is in the emulator's data (the response code is the last name's);
//! - otherwise NODATA (the name exists) or NXDOMAIN, with the zone's SOA.

use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, RData, Record, RecordType};

use super::index::{Index, View};
use super::names::{Alias, Found, RrSets};

/// CNAMEs and aliases followed for one question, at most.
const MAX_CHAIN: usize = 8;

/// Which of a name's record sets answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Type(RecordType),
    Any,
}

/// The records of `rr` that `pick` chooses.
pub fn records(rr: &RrSets, pick: Pick) -> Box<dyn Iterator<Item = &Record> + Send + '_> {
    match pick {
        Pick::Type(t) => Box::new(rr.get(t).iter()),
        Pick::Any => Box::new(rr.all()),
    }
}

/// An answer from the index, decided under its lock.
#[derive(Debug)]
pub struct Answer {
    pub code: ResponseCode,
    /// Record sets of the index, in answer order, before `owned`.
    pub shared: Vec<(Arc<RrSets>, Pick)>,
    /// Records made for this answer (wildcard and alias answers).
    pub owned: Vec<Record>,
    /// For the authority section of a negative answer.
    pub soa: Option<Arc<Record>>,
}

impl Answer {
    fn new() -> Answer {
        Answer { code: ResponseCode::NoError, shared: Vec::new(), owned: Vec::new(), soa: None }
    }

    fn push(&mut self, rr: &Arc<RrSets>, pick: Pick, wildcard: bool, owner: &Name) {
        if wildcard {
            // Synthesised from the wildcard: owned by the asked name.
            self.owned.extend(records(rr, pick).map(|r| reowned(r, owner)));
        } else {
            self.shared.push((rr.clone(), pick));
        }
    }
}

fn reowned(r: &Record, owner: &Name) -> Record {
    Record::from_rdata(owner.clone(), r.ttl, r.data.clone())
}

/// `name` lowercase, without the trailing dot.
fn bare(name: &Name) -> String {
    let text = name.to_lowercase().to_ascii();
    text.strip_suffix('.').unwrap_or(&text).to_string()
}

impl Index {
    /// What `view` answers for `qname` (`name`: the same, lowercase without
    /// the trailing dot); `None` when the name is in none of its zones.
    pub fn answer(&self, view: &View, qname: &Name, name: &str, qtype: RecordType) -> Option<Answer> {
        let mut found = self.lookup(view, name)?;
        let mut owner = qname.clone();
        let mut answer = Answer::new();
        let pick = if qtype == RecordType::ANY { Pick::Any } else { Pick::Type(qtype) };
        let mut seen = vec![name.to_string()];
        for _ in 0..MAX_CHAIN {
            let Some(rr) = found.rrsets.clone() else {
                return Some(negative(answer, found, qtype));
            };
            if records(&rr, pick).next().is_some() {
                answer.push(&rr, pick, found.wildcard, &owner);
                return Some(answer);
            }
            let alias_type = if qtype == RecordType::ANY { RecordType::A } else { qtype };
            if let Some(alias) = rr.alias(alias_type) {
                let got = self.alias_records(view, alias, 0);
                if got.is_empty() {
                    answer.soa = Some(found.soa);
                }
                answer.owned.extend(got.iter().map(|r| reowned(r, &owner)));
                return Some(answer);
            }
            let cname = rr.get(RecordType::CNAME).first().and_then(|r| match &r.data {
                RData::CNAME(c) => Some(c.0.clone()),
                _ => None,
            });
            let Some(target) = cname.filter(|_| qtype != RecordType::CNAME) else {
                return Some(negative(answer, found, qtype));
            };
            answer.push(&rr, Pick::Type(RecordType::CNAME), found.wildcard, &owner);
            let next = bare(&target);
            if seen.contains(&next) {
                // A loop: each name once, as a resolver gives up on it.
                return Some(answer);
            }
            match self.lookup(view, &next) {
                Some(next) => found = next,
                // Outside the emulator's data: the CNAME is the answer.
                None => return Some(answer),
            }
            seen.push(next);
            owner = target;
        }
        Some(answer)
    }

    /// The current records an alias stands for.
    fn alias_records(&self, view: &View, alias: &Alias, depth: usize) -> Vec<Record> {
        if depth >= MAX_CHAIN {
            return Vec::new();
        }
        let found =
            if alias.public { self.lookup(&View::Public, &alias.target) } else { self.lookup(view, &alias.target) };
        let Some(rr) = found.filter(|f| f.exists).and_then(|f| f.rrsets) else { return Vec::new() };
        let records = rr.get(alias.rtype);
        if !records.is_empty() {
            return records.to_vec();
        }
        match rr.alias(alias.rtype) {
            Some(next) => self.alias_records(view, next, depth + 1),
            None => Vec::new(),
        }
    }
}

/// NODATA or NXDOMAIN for the last name reached; the SOA of a zone's apex
/// when that is what was asked and the zone keeps none of its own.
fn negative(mut answer: Answer, found: Found, qtype: RecordType) -> Answer {
    if qtype == RecordType::SOA && found.apex {
        answer.owned.push(found.soa.as_ref().clone());
        return answer;
    }
    answer.code = if found.exists { ResponseCode::NoError } else { ResponseCode::NXDomain };
    answer.soa = Some(found.soa);
    answer
}
