//! Listeners of network load balancers.

use super::{attributes, page, render_attributes, required, tags};
use crate::api::ec2::Ctx;
use crate::api::query::Params;
use crate::api::xml::Xml;
use crate::model::listener::ListenerRequest;
use crate::model::{Error, Listener, Result};

pub(super) fn render_listener(x: &mut Xml, l: &Listener) {
    x.leaf("ListenerArn", &l.arn);
    x.leaf("LoadBalancerArn", &l.load_balancer_arn);
    x.num("Port", l.port);
    x.leaf("Protocol", &l.protocol);
    if let Some(cert) = &l.certificate_arn {
        x.members("Certificates", [cert], |x, c| x.leaf("CertificateArn", c));
    }
    x.opt("SslPolicy", l.ssl_policy.as_ref());
    render_forward(x, "DefaultActions", l);
    if let Some(alpn) = &l.alpn_policy {
        x.member_strings("AlpnPolicy", std::slice::from_ref(alpn));
    }
}

/// The listener's one action, a forward to its target group: the default
/// actions of the listener, the actions of its default rule.
pub(super) fn render_forward(x: &mut Xml, name: &str, l: &Listener) {
    x.members(name, [l], |x, l| {
        x.leaf("Type", "forward");
        x.leaf("TargetGroupArn", &l.target_group_arn);
        x.node("ForwardConfig", |x| {
            x.members("TargetGroups", [l], |x, l| {
                x.leaf("TargetGroupArn", &l.target_group_arn);
                x.num("Weight", 1);
            });
            x.node("TargetGroupStickinessConfig", |x| x.bool("Enabled", false));
        });
    });
}

/// The target group of the forward default action (`None` when no
/// DefaultActions were given): a network load balancer's listener has
/// exactly one default action, a forward to one target group.
fn forward_target(c: &Ctx) -> Result<Option<String>> {
    let actions = c.p.members("DefaultActions");
    let Some(action) = actions.first() else { return Ok(None) };
    if actions.len() > 1 {
        return Err(Error::new(
            "TooManyActions",
            "A listener of a network load balancer takes exactly one default action",
        ));
    }
    let kind = action.get("Type").filter(|k| !k.is_empty()).ok_or_else(|| {
        Error::validation("1 validation error detected: Value null at 'defaultActions.1.member.type' failed to satisfy constraint: Member must not be null")
    })?;
    if kind != "forward" {
        return Err(Error::new(
            "InvalidLoadBalancerAction",
            format!("Action type '{kind}' is not supported for network load balancers; their listeners only forward"),
        ));
    }
    let direct = action.string("TargetGroupArn");
    let listed: Vec<String> =
        action.members("ForwardConfig.TargetGroups").iter().filter_map(|t| t.string("TargetGroupArn")).collect();
    if listed.len() > 1 {
        return Err(Error::new(
            "InvalidLoadBalancerAction",
            "A forward action of a network load balancer takes exactly one target group",
        ));
    }
    match (direct, listed.into_iter().next()) {
        (Some(d), Some(l)) if d != l => {
            Err(Error::validation("TargetGroupArn and ForwardConfig must name the same target group"))
        }
        (Some(t), _) | (None, Some(t)) => Ok(Some(t)),
        (None, None) => Err(Error::validation("A target group ARN must be specified for a forward action")),
    }
}

fn listener_request(c: &Ctx) -> Result<ListenerRequest> {
    let given = |name: &str| c.p.get(name).is_some() || c.p.pairs().any(|(k, _)| k.starts_with(&format!("{name}.")));
    let certificates = if given("Certificates") {
        let certs: Vec<Params> = c.p.members("Certificates");
        Some(
            certs
                .iter()
                .map(|m| {
                    m.string("CertificateArn").ok_or_else(|| Error::validation("A certificate ARN must be specified"))
                })
                .collect::<Result<Vec<_>>>()?,
        )
    } else {
        None
    };
    Ok(ListenerRequest {
        protocol: c.p.string("Protocol"),
        port: c.p.int("Port").map_err(|e| Error::validation(e.message))?,
        target_group_arn: forward_target(c)?,
        ssl_policy: c.p.string("SslPolicy"),
        certificates,
        alpn_policy: given("AlpnPolicy").then(|| c.p.member_list("AlpnPolicy")),
    })
}

pub(super) fn create_listener(c: &mut Ctx) -> Result<Xml> {
    let lb = required(c, "LoadBalancerArn")?.to_string();
    if c.p.members("DefaultActions").is_empty() {
        return Err(Error::validation("A default action must be specified"));
    }
    let req = listener_request(c)?;
    let t = tags(c, "Tags")?;
    let l = c.world.create_listener_with(c.caller, &lb, &req, t)?;
    let mut x = Xml::new();
    x.members("Listeners", [&l], render_listener);
    Ok(x)
}

pub(super) fn modify_listener(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "ListenerArn")?.to_string();
    let req = listener_request(c)?;
    let l = c.world.modify_listener(c.caller, &arn, &req)?;
    let mut x = Xml::new();
    x.members("Listeners", [&l], render_listener);
    Ok(x)
}

pub(super) fn describe_listeners(c: &mut Ctx) -> Result<Xml> {
    let lb = c.p.string("LoadBalancerArn");
    let list = c.world.describe_listeners(c.caller, lb.as_deref(), &c.p.member_list("ListenerArns"))?;
    let (list, next) = page(c, list, |l| l.arn.clone())?;
    let mut x = Xml::new();
    x.members("Listeners", &list, render_listener);
    x.opt("NextMarker", next);
    Ok(x)
}

pub(super) fn delete_listener(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "ListenerArn")?.to_string();
    c.world.delete_listener(c.caller, &arn)?;
    Ok(Xml::new())
}

pub(super) fn describe_listener_attributes(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "ListenerArn")?;
    let attrs = c.world.listener_attributes(c.caller, arn)?;
    let mut x = Xml::new();
    render_attributes(&mut x, attrs.iter().map(|(k, v)| (k, v)));
    Ok(x)
}

pub(super) fn modify_listener_attributes(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "ListenerArn")?.to_string();
    let attrs = attributes(c)?;
    c.world.modify_listener_attributes(c.caller, &arn, &attrs)?;
    let mut x = Xml::new();
    render_attributes(&mut x, attrs.iter().map(|(k, v)| (k, v)));
    Ok(x)
}

fn certificate_arns(c: &Ctx) -> Result<Vec<String>> {
    let certs = c.p.members("Certificates");
    if certs.is_empty() {
        return Err(Error::validation(
            "1 validation error detected: Value null at 'certificates' failed to satisfy constraint: Member must not be null",
        ));
    }
    certs
        .iter()
        .map(|m| m.string("CertificateArn").ok_or_else(|| Error::validation("A certificate ARN must be specified")))
        .collect()
}

fn render_certificates(x: &mut Xml, certs: &[(String, bool)]) {
    x.members("Certificates", certs, |x, (arn, default)| {
        x.leaf("CertificateArn", arn);
        x.bool("IsDefault", *default);
    });
}

pub(super) fn add_listener_certificates(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "ListenerArn")?.to_string();
    let certs = certificate_arns(c)?;
    let list = c.world.add_listener_certificates(c.caller, &arn, &certs)?;
    let list: Vec<(String, bool)> = list.into_iter().map(|a| (a, false)).collect();
    let mut x = Xml::new();
    render_certificates(&mut x, &list);
    Ok(x)
}

pub(super) fn remove_listener_certificates(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "ListenerArn")?.to_string();
    let certs = certificate_arns(c)?;
    c.world.remove_listener_certificates(c.caller, &arn, &certs)?;
    Ok(Xml::new())
}

pub(super) fn describe_listener_certificates(c: &mut Ctx) -> Result<Xml> {
    let arn = required(c, "ListenerArn")?.to_string();
    // Keyed by position: the default certificate comes first.
    let certs: Vec<(usize, (String, bool))> =
        c.world.listener_certificates(c.caller, &arn)?.into_iter().enumerate().collect();
    let (certs, next) = page(c, certs, |(i, _)| format!("{i:04}"))?;
    let certs: Vec<(String, bool)> = certs.into_iter().map(|(_, c)| c).collect();
    let mut x = Xml::new();
    render_certificates(&mut x, &certs);
    x.opt("NextMarker", next);
    Ok(x)
}
