//! Private DNS names of endpoint services and the TXT record that proves a
//! provider owns the domain, checked against the emulator's public zones:
//! the TXT records of public Route 53 hosted zones (any account's, as any
//! public DNS would do) and those published through the admin API.

use std::collections::BTreeMap;

use super::{ids, Caller, Change, Error, Resource, Result, World};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum VerificationState {
    PendingVerification,
    Verified,
    Failed,
}

impl VerificationState {
    pub fn as_str(&self) -> &'static str {
        match self {
            VerificationState::PendingVerification => "pendingVerification",
            VerificationState::Verified => "verified",
            VerificationState::Failed => "failed",
        }
    }
}

/// A custom private DNS name and the TXT record that proves its ownership.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrivateDnsName {
    pub name: String,
    pub state: VerificationState,
    /// The record's leftmost label, `_` and 20 alphanumerics.
    pub txt_name: String,
    /// The record's value, `vpce:` and 20 alphanumerics.
    pub txt_value: String,
}

pub(crate) fn new_private_dns(name: &str) -> PrivateDnsName {
    PrivateDnsName {
        name: name.to_ascii_lowercase(),
        state: VerificationState::PendingVerification,
        txt_name: format!("_{}", ids::alnum(20)),
        txt_value: format!("vpce:{}", ids::alnum(20)),
    }
}

pub(crate) fn check_dns_name(name: &str) -> Result<()> {
    let body = name.strip_prefix("*.").unwrap_or(name);
    let ok = body.len() <= 253
        && body.contains('.')
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::new("InvalidParameter", format!("Private DNS name '{name}' is not a valid domain name")))
    }
}

fn normalise_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `_x.api.example.com`, `_x.example.com` for private DNS name `api.example.com`.
pub fn candidate_record_names(private_dns_name: &str, txt_name: &str) -> Vec<String> {
    let name = private_dns_name.strip_prefix("*.").unwrap_or(private_dns_name);
    let labels: Vec<&str> = name.split('.').collect();
    (0..labels.len().saturating_sub(1)).map(|i| format!("{txt_name}.{}", labels[i..].join("."))).collect()
}

impl World {
    /// Checks the TXT challenge of the service's private DNS name against the
    /// records published in the emulator's public zones: at `_name.<domain>`
    /// for the name itself or any parent domain below the top level.
    pub fn start_private_dns_verification(&mut self, caller: &Caller, id: &str, dry: bool) -> Result<()> {
        let s = self.own_service(caller, id)?;
        let Some(p) = s.private_dns.clone() else {
            return Err(Error::invalid_parameter(format!("Service {id} does not have a private DNS name")));
        };
        if p.state == VerificationState::Verified {
            return Err(Error::invalid_parameter(format!("The private DNS name of service {id} is already verified")));
        }
        super::dry_run(dry)?;
        let verified = candidate_record_names(&p.name, &p.txt_name).iter().any(|n| {
            self.txt_records(n).iter().any(|v| v == &p.txt_value) || self.public_zone_txt(n).contains(&p.txt_value)
        });
        let s = self.own_service_mut(caller, id)?;
        if let Some(pd) = s.private_dns.as_mut() {
            pd.state = if verified { VerificationState::Verified } else { VerificationState::Failed };
        }
        self.emit(&caller.region, Resource::Service(id.to_string()), Change::Updated);
        self.refresh_endpoints_of_service(&caller.region, id);
        Ok(())
    }

    /// Records a TXT value in the emulator's public zones (what a provider
    /// publishes to prove it owns a domain).
    pub fn publish_txt(&mut self, name: &str, value: &str) {
        let key = normalise_name(name);
        let values = self.public_txt.entry_or_default(key.clone());
        if !values.iter().any(|v| v == value) {
            values.push(value.to_string());
            self.emit("", Resource::PublicTxt(key), Change::Updated);
        }
    }

    pub fn unpublish_txt(&mut self, name: &str, value: Option<&str>) {
        let key = normalise_name(name);
        if let Some(values) = self.public_txt.get_mut(&key) {
            values.retain(|v| value.is_some_and(|want| want != v));
            if values.is_empty() {
                self.public_txt.remove(&key);
            }
            self.emit("", Resource::PublicTxt(key), Change::Updated);
        }
    }

    /// The TXT values at `name` in the public hosted zones (each value's
    /// character strings joined, as a resolver reads them).
    pub fn public_zone_txt(&self, name: &str) -> Vec<String> {
        let name = super::hosted_zone::normalise(name);
        let mut out = Vec::new();
        for z in self.hosted_zones().filter(|z| !z.private && super::hosted_zone::is_within(&name, &z.name)) {
            for r in self.records_of(&z.id).filter(|r| r.name == name && r.rtype == "TXT") {
                out.extend(r.values.iter().filter_map(|v| super::record_set::txt_strings(v)).map(|s| s.concat()));
            }
        }
        out
    }

    pub fn txt_records(&self, name: &str) -> Vec<String> {
        self.public_txt.get(&normalise_name(name)).cloned().unwrap_or_default()
    }

    pub fn public_txt_records(&self) -> &BTreeMap<String, Vec<String>> {
        &self.public_txt
    }
}
