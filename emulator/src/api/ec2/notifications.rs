//! Connection notifications of endpoint services and endpoints.

use super::{page, render_unsuccessful, Ctx};
use crate::api::xml::Xml;
use crate::model::notification::CreateNotification;
use crate::model::{ConnectionNotification, Error, Result};

fn render_notification(x: &mut Xml, n: &ConnectionNotification) {
    x.leaf("connectionNotificationId", &n.id);
    x.opt("serviceId", n.service_id.as_ref());
    x.opt("vpcEndpointId", n.endpoint_id.as_ref());
    x.leaf("connectionNotificationType", "Topic");
    x.leaf("connectionNotificationArn", &n.arn);
    x.item_strings("connectionEvents", &n.events);
    x.leaf("connectionNotificationState", n.state());
    if n.service_id.is_some() {
        x.leaf("serviceRegion", &n.region);
    }
}

pub fn create_notification(c: &mut Ctx) -> Result<Xml> {
    let req = CreateNotification {
        service_id: c.p.string("ServiceId"),
        endpoint_id: c.p.string("VpcEndpointId"),
        arn: c.p.required("ConnectionNotificationArn")?.to_string(),
        events: c.p.list("ConnectionEvents"),
        client_token: c.p.string("ClientToken"),
    };
    if req.events.is_empty() {
        return Err(Error::missing("ConnectionEvents"));
    }
    let token = req.client_token.clone();
    let dry = c.p.flag("DryRun")?;
    let n = c.world.create_connection_notification(c.caller, c.now, req, dry)?;
    let mut x = Xml::new();
    x.node("connectionNotification", |x| render_notification(x, &n));
    x.opt("clientToken", token);
    Ok(x)
}

pub fn describe_notifications(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.string("ConnectionNotificationId");
    let list = c.world.describe_connection_notifications(c.caller, id.as_deref(), &c.p.filters()?)?;
    let (list, next) = page(c.p, list, |n| n.id.clone())?;
    let mut x = Xml::new();
    x.items("connectionNotificationSet", &list, render_notification);
    x.opt("nextToken", next);
    Ok(x)
}

pub fn modify_notification(c: &mut Ctx) -> Result<Xml> {
    let id = c.p.required("ConnectionNotificationId")?.to_string();
    let arn = c.p.string("ConnectionNotificationArn");
    let events = c.p.list("ConnectionEvents");
    let dry = c.p.flag("DryRun")?;
    c.world.modify_connection_notification(c.caller, &id, arn.as_deref(), &events, dry)?;
    Ok(Xml::returns_true())
}

pub fn delete_notifications(c: &mut Ctx) -> Result<Xml> {
    let ids = c.p.list("ConnectionNotificationId");
    if ids.is_empty() {
        return Err(Error::missing("ConnectionNotificationId"));
    }
    c.dry_run()?;
    let failed = c.world.delete_connection_notifications(c.caller, &ids);
    let mut x = Xml::new();
    render_unsuccessful(&mut x, &failed);
    Ok(x)
}
