//! Listener rules as a network load balancer has them: every listener has
//! exactly one, its default rule (priority `default`, no conditions, the
//! listener's forward action). Other rules need HTTP or HTTPS listeners,
//! which only Application Load Balancers have.

use super::listener::Listener;
use super::tags::Tags;
use super::{Caller, Error, Result, World};

pub fn rule_not_found() -> Error {
    Error::new("RuleNotFound", "One or more rules not found")
}

/// FNV-1a: a stable id from the listener's ARN, so the default rule keeps
/// its ARN across restarts without being stored.
fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

impl Listener {
    /// `arn:...:listener-rule/net/NAME/<lb id>/<listener id>/<rule id>`.
    pub fn default_rule_arn(&self) -> String {
        format!("{}/{:016x}", self.arn.replacen(":listener/", ":listener-rule/", 1), fnv64(&self.arn))
    }
}

impl World {
    /// The listener whose default rule `rule_arn` is.
    pub fn listener_of_rule(&self, caller: &Caller, rule_arn: &str) -> Result<&Listener> {
        let listener_arn = rule_arn
            .rsplit_once('/')
            .map(|(l, _)| l.replacen(":listener-rule/", ":listener/", 1))
            .ok_or_else(rule_not_found)?;
        self.listener(caller, &listener_arn)
            .ok()
            .filter(|l| l.default_rule_arn() == rule_arn)
            .ok_or_else(rule_not_found)
    }

    /// The tags of a listener's default rule.
    pub(crate) fn rule_tags_mut(&mut self, caller: &Caller, rule_arn: &str) -> Result<&mut Tags> {
        let arn = self.listener_of_rule(caller, rule_arn)?.arn.clone();
        let l = self.region_mut(&caller.region).listeners.get_mut(&arn).ok_or_else(rule_not_found)?;
        Ok(&mut l.rule_tags)
    }
}
