//! Resource record sets of hosted zones and ChangeResourceRecordSets: a
//! batch of CREATE, UPSERT and DELETE applied in order, all or nothing,
//! every refusal reported in Route 53's words.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::hosted_zone::{self, is_valid_name, is_within, normalise, ChangeInfo};
use super::{Caller, Change, Error, Millis, Resource, Result, World};

/// Resource record sets per zone (AWS's default quota).
pub const RECORDS_PER_ZONE: usize = 10_000;
/// Changes in one batch.
pub const CHANGES_PER_BATCH: usize = 1_000;

/// Record types Route 53 takes.
pub const TYPES: &[&str] = &[
    "SOA", "A", "TXT", "NS", "CNAME", "MX", "NAPTR", "PTR", "SRV", "SPF", "AAAA", "CAA", "DS", "TLSA", "SSHFP", "SVCB",
    "HTTPS",
];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AliasTarget {
    /// The target's hosted zone: a vpce zone of a region, the NLBs' zone of
    /// a region, or a hosted zone of the emulator.
    pub hosted_zone_id: String,
    /// Normalised (lower case, trailing dot).
    pub dns_name: String,
    pub evaluate_target_health: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordSet {
    /// Normalised: lower case with the trailing dot, `*` for a wildcard.
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_value_answer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// The values as the client wrote them (TXT values keep their quotes).
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasTarget>,
}

impl RecordSet {
    pub fn plain(name: &str, rtype: &str, ttl: u64, values: Vec<String>) -> RecordSet {
        RecordSet {
            name: name.to_string(),
            rtype: rtype.to_string(),
            set_identifier: None,
            weight: None,
            multi_value_answer: None,
            ttl: Some(ttl),
            values,
            alias: None,
        }
    }

    fn key(&self, zone: &str) -> RecordKey {
        (zone.to_string(), self.name.clone(), self.rtype.clone(), self.set_identifier.clone().unwrap_or_default())
    }

    /// `[name='a.example.com.', type='A']`, as Route 53's messages name a set.
    fn described(&self) -> String {
        match &self.set_identifier {
            Some(id) => format!("[name='{}', type='{}', set-identifier='{id}']", self.name, self.rtype),
            None => format!("[name='{}', type='{}']", self.name, self.rtype),
        }
    }
}

/// (zone id, name, type, set identifier or empty).
pub type RecordKey = (String, String, String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Upsert,
    Delete,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "CREATE" => Some(Action::Create),
            "UPSERT" => Some(Action::Upsert),
            "DELETE" => Some(Action::Delete),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Action::Create => "CREATE",
            Action::Upsert => "UPSERT",
            Action::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecordChange {
    pub action: Action,
    pub record: RecordSet,
}

/// The SOA and the apex NS records a zone is made with (and keeps).
pub fn is_required(r: &RecordSet, zone_name: &str) -> bool {
    r.name == zone_name && (r.rtype == "SOA" || r.rtype == "NS") && r.set_identifier.is_none()
}

fn fatal(problem: &str, why: &str, value: &str) -> String {
    format!("Invalid Resource Record: 'FATAL problem: {problem} ({why}) encountered with '{value}''")
}

/// The character strings of a TXT value: one or more quoted strings.
pub fn txt_strings(value: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = value.trim().chars().peekable();
    while chars.peek().is_some() {
        if chars.next()? != '"' {
            return None;
        }
        let mut s = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => s.push(chars.next()?),
                c => s.push(c),
            }
        }
        if s.len() > 255 {
            return None;
        }
        out.push(s);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
    }
    (!out.is_empty()).then_some(out)
}

fn is_host(s: &str) -> bool {
    let n = normalise(s);
    n == "." || is_valid_name(&n)
}

/// Checks one value of a record of type `rtype`; the message when it is bad.
fn check_value(rtype: &str, v: &str) -> Option<String> {
    let fields: Vec<&str> = v.split_whitespace().collect();
    let num = |s: &str| s.parse::<u16>().is_ok();
    match rtype {
        "A" if v.parse::<Ipv4Addr>().is_err() => {
            Some(fatal("ARRDATAIllegalIPv4Address", "Value is not a valid IPv4 address", v))
        }
        "AAAA" if v.parse::<Ipv6Addr>().is_err() => {
            Some(fatal("AAAARRDATAIllegalIPv6Address", "Value is not a valid IPv6 address", v))
        }
        "TXT" | "SPF" if txt_strings(v).is_none() => {
            Some(fatal("InvalidCharacterString", "Value should be enclosed in quotation marks", v))
        }
        "CNAME" | "NS" | "PTR" if fields.len() != 1 || !is_host(v) => {
            Some(fatal("DomainLabelEmpty", "Domain label is empty", v))
        }
        "MX" if fields.len() != 2 || !num(fields[0]) || !is_host(fields[1]) => {
            Some(fatal("MXRRDATAIncorrectFormat", "MX value should be 'priority domain-name'", v))
        }
        "SRV" if fields.len() != 4 || !fields[..3].iter().all(|f| num(f)) || !is_host(fields[3]) => {
            Some(fatal("SRVRRDATAIncorrectFormat", "SRV value should be 'priority weight port target'", v))
        }
        "SOA" if fields.len() != 7 || !is_host(fields[0]) || !fields[2..].iter().all(|f| f.parse::<u32>().is_ok()) => {
            Some(fatal("SOARRDATAIncorrectFormat", "SOA value should have 7 fields", v))
        }
        "CAA" if fields.len() < 3 || fields[0].parse::<u8>().is_err() => {
            Some(fatal("CAARRDATAIncorrectFormat", "CAA value should be 'flags tag \"value\"'", v))
        }
        _ if v.is_empty() || v.len() > 4000 => Some(fatal("RRDATAEmpty", "Value is empty or too long", v)),
        _ => None,
    }
}

fn batch_error(messages: Vec<String>) -> Error {
    Error::new("InvalidChangeBatch", format!("[{}]", messages.join(", ")))
}

impl World {
    pub(crate) fn put_record(&mut self, zone: &str, r: RecordSet) {
        self.rrsets.insert(r.key(zone), r);
    }

    /// The records of a zone, in key order.
    pub fn records_of<'a>(&'a self, zone: &str) -> impl Iterator<Item = &'a RecordSet> + 'a {
        let zone = zone.to_string();
        let start = (zone.clone(), String::new(), String::new(), String::new());
        self.rrsets.range(start..).take_while(move |(k, _)| k.0 == zone).map(|(_, v)| v)
    }

    pub(crate) fn record_keys_of(&self, zone: &str) -> Vec<RecordKey> {
        self.records_of(zone).map(|r| r.key(zone)).collect()
    }

    pub fn record_count(&self, zone: &str) -> usize {
        self.records_of(zone).count()
    }

    /// The records of a zone in Route 53's order (names by labels from the
    /// right, then type, then set identifier).
    pub fn records_in_order(&self, zone: &str) -> Vec<&RecordSet> {
        let mut out: Vec<&RecordSet> = self.records_of(zone).collect();
        out.sort_by_cached_key(|r| (hosted_zone::reversed(&r.name), r.rtype.clone(), r.set_identifier.clone()));
        out
    }

    /// Whether an alias may point at `target` of type `rtype`: a name the
    /// zone it names holds (an endpoint's vpce name, an NLB's name, a
    /// record of a hosted zone).
    fn alias_target_exists(
        &self,
        caller: &Caller,
        target: &super::record_set::AliasTarget,
        rtype: &str,
    ) -> Option<String> {
        let name = target.dns_name.trim_end_matches('.');
        let zone_id = target.hosted_zone_id.as_str();
        let lies_within = || {
            format!(
                "Tried to create an alias that targets {}, type {rtype} in zone {zone_id}, but the alias target name does not lie within the target zone",
                target.dns_name
            )
        };
        for r in self.regions() {
            if super::region::vpce_hosted_zone(&r.name) == zone_id {
                let found =
                    r.endpoints.values().any(|e| e.dns_entries.iter().any(|d| d.dns_name.eq_ignore_ascii_case(name)));
                return (!found).then(lies_within);
            }
            if super::region::nlb_hosted_zone(&r.name) == zone_id {
                let bare = name.strip_prefix("dualstack.").unwrap_or(name);
                let found = r.load_balancers.values().any(|l| l.dns_name.eq_ignore_ascii_case(bare));
                return (!found).then(lies_within);
            }
        }
        match self.hosted_zones.get(zone_id) {
            Some(z) if z.owner == caller.account => {
                if !is_within(&target.dns_name, &z.name) {
                    return Some(lies_within());
                }
                let found = self.records_of(zone_id).any(|r| r.name == target.dns_name && r.rtype == rtype);
                (!found).then(|| {
                    format!(
                        "Tried to create an alias that targets {}, type {rtype} in zone {zone_id}, but that target was not found",
                        target.dns_name
                    )
                })
            }
            _ => Some(lies_within()),
        }
    }

    /// Checks the shape of one change; an InvalidInput error when it is wrong.
    fn check_change_shape(c: &RecordChange) -> Result<()> {
        let r = &c.record;
        let described = format!(
            "Change with [Action={}, Name={}, Type={}, SetIdentifier={}]",
            c.action.as_str(),
            normalise(&r.name),
            r.rtype,
            r.set_identifier.as_deref().unwrap_or("null")
        );
        let plain = r.ttl.is_some() || !r.values.is_empty();
        let shapes = usize::from(r.alias.is_some()) + usize::from(plain);
        let whole = r.alias.is_some() || (r.ttl.is_some() && !r.values.is_empty());
        if shapes > 1 {
            return Err(Error::new(
                "InvalidInput",
                format!("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found more than one in {described}"),
            ));
        }
        if !whole {
            return Err(Error::new(
                "InvalidInput",
                format!("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in {described}"),
            ));
        }
        if !TYPES.contains(&r.rtype.as_str()) {
            return Err(Error::new(
                "InvalidInput",
                format!("Invalid request: unknown record type {} in {described}", r.rtype),
            ));
        }
        if r.set_identifier.is_some() != (r.weight.is_some() || r.multi_value_answer.is_some()) {
            return Err(Error::new(
                "InvalidInput",
                format!("Invalid request: a SetIdentifier goes with a routing policy (Weight or MultiValueAnswer) and only with one, in {described}"),
            ));
        }
        if r.ttl.is_some_and(|t| t > 2_147_483_647) {
            return Err(Error::new("InvalidInput", format!("Invalid request: TTL out of range in {described}")));
        }
        Ok(())
    }

    /// ChangeResourceRecordSets: the changes in order, all or none.
    pub fn change_record_sets(
        &mut self,
        caller: &Caller,
        zone_id: &str,
        changes: Vec<RecordChange>,
        comment: Option<String>,
        now: Millis,
    ) -> Result<ChangeInfo> {
        let zone = self.own_zone(caller, zone_id)?.clone();
        if changes.is_empty() {
            return Err(Error::new("InvalidInput", "Invalid request: the change batch holds no change"));
        }
        if changes.len() > CHANGES_PER_BATCH {
            return Err(Error::new(
                "InvalidInput",
                format!("Invalid request: a change batch holds at most {CHANGES_PER_BATCH} changes"),
            ));
        }
        if comment.as_ref().is_some_and(|c| c.chars().count() > 256) {
            return Err(Error::new("InvalidInput", "Invalid request: the comment must be at most 256 characters long"));
        }
        for c in &changes {
            Self::check_change_shape(c)?;
        }
        let mut messages = Vec::new();
        for c in changes {
            let mut r = c.record;
            r.name = normalise(&r.name);
            if let Some(a) = r.alias.as_mut() {
                a.dns_name = normalise(&a.dns_name);
            }
            if !is_valid_name(&r.name) {
                messages.push(fatal("DomainLabelEmpty", "Domain label is empty", &r.name));
                continue;
            }
            if !is_within(&r.name, &zone.name) {
                messages.push(format!("RRSet with DNS name {} is not permitted in zone {}", r.name, zone.name));
                continue;
            }
            let apex = r.name == zone.name;
            if r.rtype == "SOA" && (!apex || c.action != Action::Upsert) {
                messages.push("A HostedZone must contain exactly one SOA record.".into());
                continue;
            }
            if r.rtype == "NS" && apex && c.action == Action::Delete {
                messages.push("A HostedZone must contain at least one NS record for the zone itself.".into());
                continue;
            }
            if r.rtype == "CNAME" && apex {
                messages.push(format!(
                    "RRSet of type CNAME with DNS name {} is not permitted at apex in zone {}",
                    r.name, zone.name
                ));
                continue;
            }
            if r.rtype == "CNAME" && r.values.len() > 1 {
                messages.push(fatal("RRDATATooManyValues", "CNAME takes exactly one value", &r.values.join(",")));
                continue;
            }
            let bad: Vec<String> = r.values.iter().filter_map(|v| check_value(&r.rtype, v)).collect();
            if !bad.is_empty() {
                messages.extend(bad);
                continue;
            }
            let key = r.key(zone_id);
            let existing = self.rrsets.get(&key).cloned();
            match c.action {
                Action::Create if existing.is_some() => {
                    messages
                        .push(format!("Tried to create resource record set {} but it already exists", r.described()));
                    continue;
                }
                Action::Delete => {
                    match existing {
                        None => messages.push(format!(
                            "Tried to delete resource record set {} but it was not found",
                            r.described()
                        )),
                        Some(have) if have != r => messages.push(format!(
                            "Tried to delete resource record set {} but the values provided do not match the current values",
                            r.described()
                        )),
                        Some(_) => {
                            self.rrsets.remove(&key);
                        }
                    }
                    continue;
                }
                _ => {}
            }
            if let Some(target) = &r.alias {
                if let Some(m) = self.alias_target_exists(caller, target, &r.rtype) {
                    messages.push(m);
                    continue;
                }
            }
            // Sets of a name and type are all plain or all with a routing policy.
            let same_name_type = self
                .records_of(zone_id)
                .filter(|o| {
                    o.name == r.name && o.rtype == r.rtype && o.set_identifier.is_some() != r.set_identifier.is_some()
                })
                .count();
            if same_name_type > 0 {
                let kind = if r.set_identifier.is_some() { "a non-weighted set exists" } else { "weighted sets exist" };
                messages.push(format!(
                    "RRSet with DNS name {}, type {} cannot be created as {kind} with the same name and type.",
                    r.name, r.rtype
                ));
                continue;
            }
            let conflicts = self
                .records_of(zone_id)
                .any(|o| o.name == r.name && o.rtype != r.rtype && (o.rtype == "CNAME" || r.rtype == "CNAME"));
            if conflicts {
                messages.push(format!(
                    "RRSet of type CNAME with DNS name {} is not permitted as it conflicts with other records with the same DNS name in zone {}",
                    r.name, zone.name
                ));
                continue;
            }
            if existing.is_none() && self.record_count(zone_id) >= RECORDS_PER_ZONE {
                messages.push(format!(
                    "The number of resource record sets in zone {} would exceed its limit of {RECORDS_PER_ZONE}",
                    zone.name
                ));
                continue;
            }
            self.rrsets.insert(key, r);
        }
        if !messages.is_empty() {
            return Err(batch_error(messages));
        }
        self.emit("", Resource::HostedZone(zone_id.to_string()), Change::Updated);
        Ok(self.submit_change(now, comment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_values_are_quoted_strings() {
        assert_eq!(txt_strings("\"vpce:abc\""), Some(vec!["vpce:abc".to_string()]));
        assert_eq!(txt_strings("\"a b\" \"c\\\"d\""), Some(vec!["a b".to_string(), "c\"d".to_string()]));
        assert_eq!(txt_strings("vpce:abc"), None);
        assert_eq!(txt_strings("\"open"), None);
        assert_eq!(txt_strings(""), None);
    }

    #[test]
    fn values_are_checked_per_type() {
        assert!(check_value("A", "10.0.0.1").is_none());
        assert!(check_value("A", "300.0.0.1").unwrap().contains("ARRDATAIllegalIPv4Address"));
        assert!(check_value("AAAA", "fd00::1").is_none());
        assert!(check_value("MX", "10 mail.example.com").is_none());
        assert!(check_value("MX", "mail.example.com").is_some());
        assert!(check_value("SRV", "1 10 443 api.example.com").is_none());
        assert!(check_value("SRV", "1 10 api.example.com").is_some());
        assert!(check_value("CNAME", "target.example.com").is_none());
    }
}
