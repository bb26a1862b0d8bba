//! Route 53 hosted zones: public zones (answered everywhere, where a
//! provider proves it owns a domain) and private zones (answered by the
//! resolvers of the VPCs associated with them, across accounts once the
//! zone's owner authorizes a VPC).
//!
//! Route 53 is global: zones, their records and changes live beside the
//! regions, not in one. A zone names VPCs by region and id.

use super::record_set::{self, RecordSet};
use super::{ids, Caller, Change, Error, Millis, Resource, Result, Tags, World};

/// A VPC as Route 53 names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct ZoneVpc {
    pub region: String,
    pub vpc_id: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostedZone {
    /// `Z` and 20 upper-case alphanumerics (answered as `/hostedzone/Z...`).
    pub id: String,
    /// Lower case, with the trailing dot: `example.com.`.
    pub name: String,
    pub owner: String,
    pub caller_reference: String,
    #[serde(default)]
    pub comment: Option<String>,
    pub private: bool,
    /// Private zones: the VPCs whose resolvers answer from the zone.
    #[serde(default)]
    pub vpcs: Vec<ZoneVpc>,
    /// VPCs of other accounts the owner allows to be associated.
    #[serde(default)]
    pub authorizations: Vec<ZoneVpc>,
    /// Public zones: the delegation set (four name servers).
    #[serde(default)]
    pub name_servers: Vec<String>,
    #[serde(default)]
    pub tags: Tags,
    pub created: Millis,
}

/// One submitted change (a batch, a zone made or deleted, an association).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChangeInfo {
    pub id: String,
    pub submitted: Millis,
    #[serde(default)]
    pub comment: Option<String>,
}

impl ChangeInfo {
    /// PENDING until the followers could have applied it (the pending
    /// delay), INSYNC after.
    pub fn status(&self, now: Millis, pending_delay_ms: Millis) -> &'static str {
        if now >= self.submitted + pending_delay_ms {
            "INSYNC"
        } else {
            "PENDING"
        }
    }
}

/// Name servers of private zones, as Route 53 writes them in their NS and
/// SOA records.
pub const PRIVATE_NAME_SERVERS: [&str; 4] =
    ["ns-1536.awsdns-00.co.uk.", "ns-0.awsdns-00.com.", "ns-1024.awsdns-00.org.", "ns-512.awsdns-00.net."];

/// TTL of the NS records Route 53 makes with a zone.
pub const NS_TTL: u64 = 172_800;
/// TTL of the SOA record Route 53 makes with a zone.
pub const SOA_TTL: u64 = 900;
/// Hosted zones per account (AWS's default quota).
pub const ZONES_PER_ACCOUNT: usize = 500;
/// VPCs one private zone may be associated with.
pub const VPCS_PER_ZONE: usize = 300;

/// `name` lower case with one trailing dot; `\052` (how Route 53 writes
/// `*`) and other octal escapes read as their characters.
pub fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            if let Some(c) = char::from_u32(v) {
                out.push(c.to_ascii_lowercase());
                i += 4;
                continue;
            }
        }
        let c = name[i..].chars().next().unwrap_or('?');
        out.push(c.to_ascii_lowercase());
        i += c.len_utf8();
    }
    while out.ends_with("..") {
        out.pop();
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// How Route 53 writes a name in its answers: `*` as `\052`, other
/// characters outside letters, digits, `-`, `_` and `.` as octal escapes.
pub fn escaped(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            out.push(c);
        } else if (c as u32) < 256 {
            out.push_str(&format!("\\{:03o}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `name` (normalised) is a domain name Route 53 takes for a zone
/// or a record: labels of 1..=63 characters, 255 in all.
pub fn is_valid_name(name: &str) -> bool {
    let body = name.strip_suffix('.').unwrap_or(name);
    !body.is_empty()
        && name.len() <= 255
        && body.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_graphic() && b != b'.' && b != b'\\')
        })
}

/// Whether `name` is `zone` or below it (both normalised).
pub fn is_within(name: &str, zone: &str) -> bool {
    name == zone || (name.ends_with(zone) && name.as_bytes().get(name.len() - zone.len() - 1) == Some(&b'.'))
}

/// The order Route 53 lists names in: labels from the right (`com.example.www`).
pub fn reversed(name: &str) -> String {
    let body = name.strip_suffix('.').unwrap_or(name);
    body.rsplit('.').collect::<Vec<_>>().join(".")
}

/// The four name servers of a new public zone's delegation set.
fn delegation_set() -> Vec<String> {
    let pick = |base: u32| base + u32::from_str_radix(&ids::hex(3), 16).unwrap_or(0) % 512;
    let com = pick(0);
    let net = pick(512);
    let org = pick(1024);
    let couk = pick(1536);
    let label = |n: u32| format!("{:02}", (n % 512) / 8);
    vec![
        format!("ns-{com}.awsdns-{}.com", label(com)),
        format!("ns-{net}.awsdns-{}.net", label(net)),
        format!("ns-{org}.awsdns-{}.org", label(org)),
        format!("ns-{couk}.awsdns-{}.co.uk", label(couk)),
    ]
}

fn no_such_zone(id: &str) -> Error {
    Error::new("NoSuchHostedZone", format!("No hosted zone found with ID: {id}")).with_status(404)
}

fn invalid_input(message: impl Into<String>) -> Error {
    Error::new("InvalidInput", message)
}

/// What CreateHostedZone asks for.
#[derive(Debug, Clone, Default)]
pub struct NewZone {
    pub name: String,
    pub caller_reference: String,
    pub comment: Option<String>,
    pub private: Option<bool>,
    pub vpc: Option<ZoneVpc>,
    pub delegation_set_id: Option<String>,
}

impl World {
    pub fn hosted_zones(&self) -> impl Iterator<Item = &HostedZone> {
        self.hosted_zones.values()
    }

    pub fn hosted_zone(&self, id: &str) -> Option<&HostedZone> {
        self.hosted_zones.get(id)
    }

    /// The caller's zone `id` (a zone of another account is not found).
    pub fn own_zone(&self, caller: &Caller, id: &str) -> Result<&HostedZone> {
        self.hosted_zones.get(id).filter(|z| z.owner == caller.account).ok_or_else(|| no_such_zone(id))
    }

    pub fn route53_change(&self, id: &str) -> Option<&ChangeInfo> {
        self.route53_changes.get(id)
    }

    /// Records a change and returns it.
    pub(crate) fn submit_change(&mut self, now: Millis, comment: Option<String>) -> ChangeInfo {
        let change = ChangeInfo { id: format!("C{}", ids::upper_alnum(20)), submitted: now, comment };
        self.route53_changes.insert(change.id.clone(), change.clone());
        change
    }

    fn zone_event(&mut self, id: &str, change: Change) {
        self.emit("", Resource::HostedZone(id.to_string()), change);
    }

    /// Checks that `vpc` exists; `owned`: and belongs to the caller.
    fn check_zone_vpc(&self, caller: &Caller, vpc: &ZoneVpc, owned: bool) -> Result<()> {
        let found = self.region(&vpc.region).and_then(|r| r.vpcs.get(&vpc.vpc_id));
        match found {
            Some(v) if !owned || v.owner == caller.account => Ok(()),
            _ => Err(Error::new(
                "InvalidVPCId",
                format!("The VPC ID '{}' in region '{}' is not valid for this account.", vpc.vpc_id, vpc.region),
            )),
        }
    }

    /// A private zone of the same name already answers in `vpc`.
    fn conflicting_domain(&self, name: &str, vpc: &ZoneVpc, except: Option<&str>) -> Result<()> {
        let clash = self
            .hosted_zones
            .values()
            .any(|z| z.private && z.name == name && Some(z.id.as_str()) != except && z.vpcs.iter().any(|v| v == vpc));
        if clash {
            return Err(Error::new(
                "ConflictingDomainExists",
                format!(
                    "The VPC {} in {} is already associated with a private hosted zone named {name}",
                    vpc.vpc_id, vpc.region
                ),
            ));
        }
        Ok(())
    }

    pub fn create_hosted_zone(
        &mut self,
        caller: &Caller,
        req: NewZone,
        now: Millis,
    ) -> Result<(HostedZone, ChangeInfo)> {
        let name = normalise(&req.name);
        if !is_valid_name(&name) || name.starts_with("*.") {
            return Err(Error::new("InvalidDomainName", format!("{} is not a valid domain name.", req.name)));
        }
        if req.caller_reference.is_empty() || req.caller_reference.len() > 128 {
            return Err(invalid_input("CallerReference must be 1 to 128 characters long."));
        }
        if let Some(c) = &req.comment {
            if c.chars().count() > 256 {
                return Err(invalid_input("The comment must be at most 256 characters long."));
            }
        }
        if let Some(id) = &req.delegation_set_id {
            return Err(Error::new(
                "NoSuchDelegationSet",
                format!("A reusable delegation set with ID {id} does not exist."),
            )
            .with_status(400));
        }
        let private = req.vpc.is_some();
        if req.private == Some(true) && !private {
            return Err(invalid_input(
                "A private hosted zone needs a VPC: specify VPCId and VPCRegion when PrivateZone is true.",
            ));
        }
        if self.hosted_zones.values().any(|z| z.owner == caller.account && z.caller_reference == req.caller_reference) {
            return Err(Error::new(
                "HostedZoneAlreadyExists",
                format!(
                    "A hosted zone has already been created with the specified caller reference {}.",
                    req.caller_reference
                ),
            )
            .with_status(409));
        }
        if self.hosted_zones.values().filter(|z| z.owner == caller.account).count() >= ZONES_PER_ACCOUNT {
            return Err(Error::new(
                "TooManyHostedZones",
                format!("This account has reached its limit of {ZONES_PER_ACCOUNT} hosted zones."),
            ));
        }
        if let Some(vpc) = &req.vpc {
            self.check_zone_vpc(caller, vpc, true)?;
            self.conflicting_domain(&name, vpc, None)?;
        }
        let id = format!("Z{}", ids::upper_alnum(20));
        let zone = HostedZone {
            id: id.clone(),
            name: name.clone(),
            owner: caller.account.clone(),
            caller_reference: req.caller_reference,
            comment: req.comment,
            private,
            vpcs: req.vpc.into_iter().collect(),
            authorizations: Vec::new(),
            name_servers: if private { Vec::new() } else { delegation_set() },
            tags: Tags::new(),
            created: now,
        };
        let servers: Vec<String> = if private {
            PRIVATE_NAME_SERVERS.iter().map(|s| s.to_string()).collect()
        } else {
            zone.name_servers.iter().map(|s| format!("{s}.")).collect()
        };
        let soa = format!("{} awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400", servers[0]);
        self.put_record(&id, RecordSet::plain(&name, "SOA", SOA_TTL, vec![soa]));
        self.put_record(&id, RecordSet::plain(&name, "NS", NS_TTL, servers));
        self.hosted_zones.insert(id.clone(), zone.clone());
        self.zone_event(&id, Change::Created);
        let change = self.submit_change(now, None);
        Ok((zone, change))
    }

    pub fn delete_hosted_zone(&mut self, caller: &Caller, id: &str, now: Millis) -> Result<ChangeInfo> {
        let zone = self.own_zone(caller, id)?.clone();
        let own_records = self.records_of(id).filter(|r| !record_set::is_required(r, &zone.name)).count();
        if own_records > 0 {
            return Err(Error::new(
                "HostedZoneNotEmpty",
                "The specified hosted zone contains non-required resource record sets and so cannot be deleted.",
            ));
        }
        let keys: Vec<_> = self.record_keys_of(id);
        for k in keys {
            self.rrsets.remove(&k);
        }
        self.hosted_zones.remove(id);
        self.zone_event(id, Change::Deleted);
        Ok(self.submit_change(now, None))
    }

    pub fn update_hosted_zone_comment(
        &mut self,
        caller: &Caller,
        id: &str,
        comment: Option<String>,
    ) -> Result<HostedZone> {
        self.own_zone(caller, id)?;
        if comment.as_ref().is_some_and(|c| c.chars().count() > 256) {
            return Err(invalid_input("The comment must be at most 256 characters long."));
        }
        let z = self.hosted_zones.get_mut(id).ok_or_else(|| no_such_zone(id))?;
        z.comment = comment;
        Ok(z.clone())
    }

    /// Associates `vpc` with a private zone: the zone's owner with its own
    /// VPCs, the owner of a VPC the zone's owner has authorized.
    pub fn associate_vpc(
        &mut self,
        caller: &Caller,
        id: &str,
        vpc: ZoneVpc,
        comment: Option<String>,
        now: Millis,
    ) -> Result<ChangeInfo> {
        let zone = self.hosted_zones.get(id).ok_or_else(|| no_such_zone(id))?.clone();
        let vpc_owner = self.region(&vpc.region).and_then(|r| r.vpcs.get(&vpc.vpc_id)).map(|v| v.owner.clone());
        let Some(vpc_owner) = vpc_owner else {
            return Err(Error::new(
                "InvalidVPCId",
                format!("The VPC ID '{}' in region '{}' is not valid.", vpc.vpc_id, vpc.region),
            ));
        };
        let owns_zone = zone.owner == caller.account;
        let owns_vpc = vpc_owner == caller.account;
        if !owns_zone && !owns_vpc {
            return Err(no_such_zone(id));
        }
        if !zone.private {
            return Err(Error::new(
                "PublicZoneVPCAssociation",
                format!(
                    "Hosted zone {id} is a public hosted zone: only private hosted zones are associated with VPCs."
                ),
            ));
        }
        let allowed = owns_vpc && (owns_zone || zone.authorizations.contains(&vpc));
        if !allowed {
            return Err(Error::new(
                "NotAuthorizedException",
                format!(
                    "The VPC {} in {} is not authorized to associate with hosted zone {id}: its owner must call CreateVPCAssociationAuthorization first, and the VPC's owner associate it.",
                    vpc.vpc_id, vpc.region
                ),
            )
            .with_status(401));
        }
        if zone.vpcs.contains(&vpc) {
            return Err(Error::new(
                "ConflictingDomainExists",
                format!("The VPC {} in {} is already associated with the hosted zone {id}.", vpc.vpc_id, vpc.region),
            ));
        }
        self.conflicting_domain(&zone.name, &vpc, Some(id))?;
        if zone.vpcs.len() >= VPCS_PER_ZONE {
            return Err(Error::new(
                "LimitsExceeded",
                format!("Hosted zone {id} is already associated with {VPCS_PER_ZONE} VPCs."),
            ));
        }
        if let Some(c) = &comment {
            if c.chars().count() > 256 {
                return Err(invalid_input("The comment must be at most 256 characters long."));
            }
        }
        let z = self.hosted_zones.get_mut(id).ok_or_else(|| no_such_zone(id))?;
        z.vpcs.push(vpc);
        self.zone_event(id, Change::Updated);
        Ok(self.submit_change(now, comment))
    }

    pub fn disassociate_vpc(
        &mut self,
        caller: &Caller,
        id: &str,
        vpc: ZoneVpc,
        comment: Option<String>,
        now: Millis,
    ) -> Result<ChangeInfo> {
        let zone = self.hosted_zones.get(id).ok_or_else(|| no_such_zone(id))?.clone();
        let vpc_owner = self.region(&vpc.region).and_then(|r| r.vpcs.get(&vpc.vpc_id)).map(|v| v.owner.clone());
        let owns_vpc = vpc_owner.as_deref() == Some(caller.account.as_str());
        if zone.owner != caller.account && !owns_vpc {
            return Err(no_such_zone(id));
        }
        if vpc_owner.is_none() && !zone.vpcs.contains(&vpc) {
            return Err(Error::new(
                "InvalidVPCId",
                format!("The VPC ID '{}' in region '{}' is not valid.", vpc.vpc_id, vpc.region),
            ));
        }
        if !zone.vpcs.contains(&vpc) {
            return Err(Error::new(
                "VPCAssociationNotFound",
                format!("The VPC {} in {} is not associated with the hosted zone {id}.", vpc.vpc_id, vpc.region),
            )
            .with_status(404));
        }
        if zone.vpcs.len() == 1 {
            return Err(Error::new(
                "LastVPCAssociation",
                format!("The VPC {} is the last VPC associated with the private hosted zone {id}: a private hosted zone keeps at least one VPC.", vpc.vpc_id),
            ));
        }
        let z = self.hosted_zones.get_mut(id).ok_or_else(|| no_such_zone(id))?;
        z.vpcs.retain(|v| v != &vpc);
        self.zone_event(id, Change::Updated);
        Ok(self.submit_change(now, comment))
    }

    pub fn create_vpc_association_authorization(&mut self, caller: &Caller, id: &str, vpc: ZoneVpc) -> Result<()> {
        let zone = self.own_zone(caller, id)?;
        if !zone.private {
            return Err(Error::new(
                "InvalidInput",
                format!("Hosted zone {id} is a public hosted zone: only private hosted zones take VPC associations."),
            ));
        }
        self.check_zone_vpc(caller, &vpc, false)?;
        let z = self.hosted_zones.get_mut(id).ok_or_else(|| no_such_zone(id))?;
        if !z.authorizations.contains(&vpc) {
            if z.authorizations.len() >= 100 {
                return Err(Error::new(
                    "TooManyVPCAssociationAuthorizations",
                    format!("Hosted zone {id} already has 100 VPC association authorizations."),
                ));
            }
            z.authorizations.push(vpc);
        }
        Ok(())
    }

    pub fn delete_vpc_association_authorization(&mut self, caller: &Caller, id: &str, vpc: ZoneVpc) -> Result<()> {
        self.own_zone(caller, id)?;
        let z = self.hosted_zones.get_mut(id).ok_or_else(|| no_such_zone(id))?;
        if !z.authorizations.contains(&vpc) {
            return Err(Error::new(
                "VPCAssociationAuthorizationNotFound",
                format!(
                    "There is no authorization for the VPC {} in {} to associate with hosted zone {id}.",
                    vpc.vpc_id, vpc.region
                ),
            )
            .with_status(404));
        }
        z.authorizations.retain(|v| v != &vpc);
        Ok(())
    }

    /// The private zones associated with a VPC, of every account.
    pub fn zones_of_vpc<'a>(&'a self, vpc: &'a ZoneVpc) -> impl Iterator<Item = &'a HostedZone> + 'a {
        self.hosted_zones.values().filter(move |z| z.private && z.vpcs.contains(vpc))
    }

    /// Tags of the caller's zone.
    pub fn zone_tags_mut(&mut self, caller: &Caller, id: &str) -> Result<&mut Tags> {
        self.own_zone(caller, id)?;
        self.hosted_zones.get_mut(id).map(|z| &mut z.tags).ok_or_else(|| no_such_zone(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_escape_and_order() {
        assert_eq!(normalise("API.Example.com"), "api.example.com.");
        assert_eq!(normalise("\\052.example.com."), "*.example.com.");
        assert_eq!(escaped("*.example.com."), "\\052.example.com.");
        assert!(is_within("a.example.com.", "example.com."));
        assert!(is_within("example.com.", "example.com."));
        assert!(!is_within("badexample.com.", "example.com."));
        assert_eq!(reversed("www.example.com."), "com.example.www");
        assert!(is_valid_name("example.com."));
        assert!(!is_valid_name("a..b."));
        assert!(!is_valid_name(&format!("{}.com.", "x".repeat(64))));
    }

    #[test]
    fn delegation_sets_look_like_route53s() {
        let ns = delegation_set();
        assert_eq!(ns.len(), 4);
        assert!(ns[0].starts_with("ns-") && ns[0].ends_with(".com"));
        assert!(ns[3].ends_with(".co.uk"));
    }
}

#[cfg(test)]
mod world_tests {
    use super::*;
    use crate::model::record_set::{Action, RecordChange};
    use crate::model::{Settings, Tags};

    fn zone_with_record(w: &mut World, caller: &Caller) -> String {
        let vpc = w.create_vpc(caller, 0, "10.0.0.0/16", None, Tags::new()).unwrap();
        let (z, _) = w
            .create_hosted_zone(
                caller,
                NewZone {
                    name: "internal.example".into(),
                    caller_reference: "r".into(),
                    vpc: Some(ZoneVpc { region: caller.region.clone(), vpc_id: vpc.id }),
                    ..NewZone::default()
                },
                0,
            )
            .unwrap();
        let record = RecordSet::plain("api.internal.example", "A", 60, vec!["10.0.0.9".into()]);
        w.change_record_sets(caller, &z.id, vec![RecordChange { action: Action::Create, record }], None, 0).unwrap();
        z.id
    }

    #[test]
    fn zones_and_records_are_journaled_and_taken_back() {
        let caller = Caller::root("111111111111", "us-east-1");
        let mut w = World::new(Settings::default());
        let id = zone_with_record(&mut w, &caller);
        let effects = w.changes();
        assert!(effects.iter().any(|e| e.table == "hosted_zones"));
        assert!(effects.iter().any(|e| e.table == "rrsets"));
        // The journaled records rebuild the same world.
        let mut copy = World::new(Settings::default());
        let read_back: Vec<_> = effects.iter().map(|e| e.to_effect().unwrap()).collect();
        copy.apply_effects(&read_back).unwrap();
        assert_eq!(copy.to_json(), w.to_json());
        assert_eq!(copy.record_count(&id), 3);
        w.settle();
        // A refused batch changes nothing.
        let before = w.to_json();
        let bad = RecordSet::plain("api.internal.example", "A", 60, vec!["10.0.0.10".into()]);
        let good = RecordSet::plain("new.internal.example", "A", 60, vec!["10.0.0.11".into()]);
        let changes = vec![
            RecordChange { action: Action::Create, record: good },
            RecordChange { action: Action::Create, record: bad },
        ];
        let err = w.change_record_sets(&caller, &id, changes, None, 0).unwrap_err();
        assert_eq!(err.code, "InvalidChangeBatch");
        w.undo();
        assert_eq!(w.to_json(), before);
    }

    #[test]
    fn worlds_from_before_route53_load_without_zones() {
        let caller = Caller::root("111111111111", "us-east-1");
        let mut w = World::new(Settings::default());
        zone_with_record(&mut w, &caller);
        let mut json = w.to_json();
        for k in ["hosted_zones", "rrsets", "route53_changes"] {
            json.as_object_mut().unwrap().remove(k);
        }
        let old = World::from_json(json, Settings::default()).unwrap();
        assert_eq!(old.hosted_zones().count(), 0);
        assert!(old.region("us-east-1").is_some());
    }
}
