//! Listener rules of network load balancers: each listener's default rule
//! can be read (and tagged); creating, changing, reordering or deleting
//! rules is refused as AWS refuses it for TCP, TLS and UDP listeners.

use super::listeners::render_forward;
use super::{page, required};
use crate::api::ec2::Ctx;
use crate::api::xml::Xml;
use crate::model::{Error, Listener, Result};

fn render_default_rule(x: &mut Xml, l: &Listener) {
    x.leaf("RuleArn", l.default_rule_arn());
    x.leaf("Priority", "default");
    x.members("Conditions", std::iter::empty::<()>(), |_, _| {});
    render_forward(x, "Actions", l);
    x.bool("IsDefault", true);
}

fn null(member: &str) -> Error {
    Error::validation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

fn given(c: &Ctx, name: &str) -> bool {
    c.p.get(name).is_some() || c.p.pairs().any(|(k, _)| k.starts_with(&format!("{name}.")))
}

pub(super) fn describe_rules(c: &mut Ctx) -> Result<Xml> {
    let listener = c.p.string("ListenerArn");
    let rules = c.p.member_list("RuleArns");
    let found: Vec<Listener> = match (listener, rules.is_empty()) {
        (Some(_), false) => {
            return Err(Error::validation("Listener rule ARNs and a listener ARN cannot be specified at the same time"))
        }
        (None, true) => return Err(Error::validation("You must specify either listener rule ARNs or a listener ARN")),
        (Some(arn), true) => vec![c.world.listener(c.caller, &arn)?.clone()],
        (None, false) => {
            let mut out: Vec<Listener> = Vec::new();
            for r in &rules {
                let l = c.world.listener_of_rule(c.caller, r)?;
                if !out.iter().any(|o| o.arn == l.arn) {
                    out.push(l.clone());
                }
            }
            out
        }
    };
    let (found, next) = page(c, found, |l| l.default_rule_arn())?;
    let mut x = Xml::new();
    x.members("Rules", &found, render_default_rule);
    x.opt("NextMarker", next);
    Ok(x)
}

fn rules_unsupported(l: &Listener) -> Error {
    Error::new(
        "UnsupportedProtocol",
        format!(
            "Listener rules are supported only on HTTP and HTTPS listeners of Application Load Balancers; the listener's protocol is '{}'",
            l.protocol
        ),
    )
}

pub(super) fn create_rule(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "ListenerArn")?.to_string();
    for (name, member) in [("Conditions", "conditions"), ("Priority", "priority"), ("Actions", "actions")] {
        if !given(c, name) {
            return Err(null(member));
        }
    }
    let l = c.world.listener(c.caller, &arn)?;
    Err(rules_unsupported(l))
}

fn default_rule_untouchable(what: &str) -> Error {
    Error::new(
        "OperationNotPermitted",
        format!(
            "The default rule of a listener cannot be {what}; change the listener's default action with ModifyListener"
        ),
    )
}

pub(super) fn modify_rule(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "RuleArn")?.to_string();
    c.world.listener_of_rule(c.caller, &arn)?;
    Err(default_rule_untouchable("modified"))
}

pub(super) fn delete_rule(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "RuleArn")?.to_string();
    c.world.listener_of_rule(c.caller, &arn)?;
    Err(default_rule_untouchable("deleted"))
}

pub(super) fn set_rule_priorities(c: &mut Ctx) -> Result<Xml> {
    let priorities = c.p.members("RulePriorities");
    if priorities.is_empty() {
        return Err(null("rulePriorities"));
    }
    for p in &priorities {
        let arn = p.string("RuleArn").ok_or_else(|| null("rulePriorities.member.ruleArn"))?;
        c.world.listener_of_rule(c.caller, &arn)?;
    }
    Err(default_rule_untouchable("given a priority"))
}
