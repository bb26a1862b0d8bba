//! Listeners of network load balancers.

use super::{attributes, page, render_attributes, required, tags};
use crate::api::ec2::Ctx;
use crate::api::xml::Xml;
use crate::model::{Error, Listener, Result};

pub(super) fn render_listener(x: &mut Xml, l: &Listener) {
    x.leaf("ListenerArn", &l.arn);
    x.leaf("LoadBalancerArn", &l.load_balancer_arn);
    x.num("Port", l.port);
    x.leaf("Protocol", &l.protocol);
    x.members("DefaultActions", [l], |x, l| {
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

pub(super) fn create_listener(c: &mut Ctx) -> Result<Xml> {
    let lb = required(c, "LoadBalancerArn")?.to_string();
    let actions = c.p.members("DefaultActions");
    let action = actions.first().ok_or_else(|| Error::validation("A default action must be specified"))?;
    let kind = action.get("Type").unwrap_or("forward");
    if kind != "forward" {
        return Err(Error::validation(format!("Action type '{kind}' is not supported for network load balancers")));
    }
    let tg = action
        .string("TargetGroupArn")
        .or_else(|| action.members("ForwardConfig.TargetGroups").first().and_then(|t| t.string("TargetGroupArn")));
    let port = c.p.int("Port").map_err(|e| Error::validation(e.message))?;
    let t = tags(c, "Tags")?;
    let protocol = c.p.string("Protocol");
    let l = c.world.create_listener(c.caller, &lb, protocol.as_deref(), port, tg.as_deref(), t)?;
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
