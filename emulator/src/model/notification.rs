//! Connection notifications: a provider (for a service) or a consumer (for
//! an endpoint) names an SNS topic and the endpoint events it wants to hear
//! of (`Connect`, `Accept`, `Reject`, `Delete`). SNS is not emulated: each
//! event becomes a [`Notice`], the message AWS would publish to the topic,
//! which the engine hands out once the change that caused it is kept.

use serde_json::json;

use super::endpoint::{EndpointState, VpcEndpoint};
use super::tags::{self, Filter, Filterable, Tags};
use super::{ids, Caller, Error, Millis, Result, Unsuccessful, World};

pub const EVENTS: &[&str] = &["Accept", "Connect", "Delete", "Reject"];

pub const NOTIFICATION_FILTERS: &[&str] = &[
    "connection-notification-arn",
    "connection-notification-id",
    "connection-notification-state",
    "connection-notification-type",
    "service-id",
    "vpc-endpoint-id",
];

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConnectionNotification {
    pub id: String,
    pub owner: String,
    pub region: String,
    /// Exactly one of these two names what the notification is for.
    pub service_id: Option<String>,
    pub endpoint_id: Option<String>,
    /// The SNS topic.
    pub arn: String,
    pub events: Vec<String>,
    pub created: Millis,
}

impl ConnectionNotification {
    pub fn state(&self) -> &'static str {
        "Enabled"
    }
}

impl Filterable for ConnectionNotification {
    fn filter_values(&self, name: &str) -> Option<Vec<String>> {
        Some(match name {
            "connection-notification-arn" => vec![self.arn.clone()],
            "connection-notification-id" => vec![self.id.clone()],
            "connection-notification-state" => vec![self.state().into()],
            "connection-notification-type" => vec!["Topic".into()],
            "service-id" => self.service_id.iter().cloned().collect(),
            "vpc-endpoint-id" => self.endpoint_id.iter().cloned().collect(),
            _ => return None,
        })
    }
    fn tags(&self) -> &Tags {
        static NONE: Tags = Tags::new();
        &NONE
    }
}

/// A message for an SNS topic, published (and stamped with its time) once
/// the change that made it is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub topic_arn: String,
    /// The message body (SNS carries it as a JSON string).
    pub message: serde_json::Value,
}

/// What CreateVpcEndpointConnectionNotification asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateNotification {
    pub service_id: Option<String>,
    pub endpoint_id: Option<String>,
    pub arn: String,
    pub events: Vec<String>,
    pub client_token: Option<String>,
}

pub fn notification_not_found(id: &str) -> Error {
    Error::new("InvalidConnectionNotification", format!("The connection notification '{id}' does not exist"))
}

/// `arn:aws:sns:REGION:ACCOUNT:NAME`
fn check_topic_arn(arn: &str) -> Result<()> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && super::region::is_region_name(parts[3])
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && !parts[5].is_empty()
        && parts[5].len() <= 256
        && parts[5].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::new("InvalidConnectionNotification", format!("The connection notification ARN '{arn}' is invalid")))
    }
}

fn check_events(events: &[String]) -> Result<Vec<String>> {
    if events.is_empty() {
        return Err(Error::missing("ConnectionEvents"));
    }
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if !EVENTS.contains(&e.as_str()) {
            return Err(Error::invalid_value(
                "ConnectionEvents",
                e,
                "Valid values are Accept, Connect, Delete and Reject.",
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    Ok(out)
}

impl World {
    pub fn create_connection_notification(
        &mut self,
        caller: &Caller,
        now: Millis,
        req: CreateNotification,
        dry: bool,
    ) -> Result<ConnectionNotification> {
        let fingerprint = format!("{:?}", (&req.service_id, &req.endpoint_id, &req.arn, &req.events));
        let action = "CreateVpcEndpointConnectionNotification";
        if let Some(id) = self.idempotent(caller, action, req.client_token.as_deref(), &fingerprint)? {
            if let Some(n) = self.region(&caller.region).and_then(|r| r.connection_notifications.get(&id)) {
                return Ok(n.clone());
            }
        }
        match (&req.service_id, &req.endpoint_id) {
            (Some(_), Some(_)) => {
                return Err(Error::new(
                    "InvalidParameterCombination",
                    "Specify either a VPC endpoint service ID or a VPC endpoint ID, not both",
                ))
            }
            (None, None) => return Err(Error::missing("ServiceId")),
            (Some(s), None) => {
                self.own_service(caller, s)?;
            }
            (None, Some(e)) => {
                self.endpoint(caller, e)?;
            }
        }
        check_topic_arn(&req.arn)?;
        let events = check_events(&req.events)?;
        super::dry_run(dry)?;
        let id = ids::resource_id("vpce-nfn");
        let n = ConnectionNotification {
            id: id.clone(),
            owner: caller.account.clone(),
            region: caller.region.clone(),
            service_id: req.service_id,
            endpoint_id: req.endpoint_id,
            arn: req.arn,
            events,
            created: now,
        };
        self.region_mut(&caller.region).connection_notifications.insert(id.clone(), n.clone());
        self.remember_token(caller, action, req.client_token.as_deref(), fingerprint, &id);
        Ok(n)
    }

    /// The caller's own notification.
    fn own_notification(&self, caller: &Caller, id: &str) -> Result<&ConnectionNotification> {
        self.region(&caller.region)
            .and_then(|r| r.connection_notifications.get(id))
            .filter(|n| n.owner == caller.account)
            .ok_or_else(|| notification_not_found(id))
    }

    pub fn describe_connection_notifications(
        &self,
        caller: &Caller,
        id: Option<&str>,
        filters: &[Filter],
    ) -> Result<Vec<ConnectionNotification>> {
        tags::check_filter_names(filters, NOTIFICATION_FILTERS)?;
        if let Some(id) = id {
            self.own_notification(caller, id)?;
        }
        Ok(self
            .region(&caller.region)
            .map(|r| {
                r.connection_notifications
                    .values()
                    .filter(|n| n.owner == caller.account && id.is_none_or(|id| n.id == id))
                    .filter(|n| tags::matches(*n, filters))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    pub fn modify_connection_notification(
        &mut self,
        caller: &Caller,
        id: &str,
        arn: Option<&str>,
        events: &[String],
        dry: bool,
    ) -> Result<()> {
        self.own_notification(caller, id)?;
        if let Some(arn) = arn {
            check_topic_arn(arn)?;
        }
        let events = if events.is_empty() { None } else { Some(check_events(events)?) };
        super::dry_run(dry)?;
        if let Some(n) = self.region_mut(&caller.region).connection_notifications.get_mut(id) {
            if let Some(arn) = arn {
                n.arn = arn.to_string();
            }
            if let Some(events) = events {
                n.events = events;
            }
        }
        Ok(())
    }

    pub fn delete_connection_notifications(&mut self, caller: &Caller, ids: &[String]) -> Vec<Unsuccessful> {
        let mut failed = Vec::new();
        for id in ids {
            if let Err(error) = self.own_notification(caller, id) {
                failed.push(Unsuccessful { resource_id: id.clone(), error });
                continue;
            }
            self.region_mut(&caller.region).connection_notifications.remove(id);
        }
        failed
    }

    /// Queues the message of `event` on endpoint `endpoint_id` for every
    /// notification that asked for it: those on the endpoint, and those on
    /// its service (which may sit in another region).
    pub(crate) fn notify(&mut self, region: &str, endpoint_id: &str, event: &str) {
        let Some(e) = self.region(region).and_then(|r| r.endpoints.get(endpoint_id)) else { return };
        let mut notices = Vec::new();
        let service = e.service_id.as_ref().and_then(|sid| {
            let home = e.service_region();
            self.region(home).and_then(|r| r.services.get(sid)).map(|s| (home, s))
        });
        let mut push = |n: &ConnectionNotification| {
            if n.events.iter().any(|x| x == event) {
                notices.push(Notice { topic_arn: n.arn.clone(), message: message(n, e, event, service) });
            }
        };
        if let Some(r) = self.region(region) {
            r.connection_notifications
                .values()
                .filter(|n| n.endpoint_id.as_deref() == Some(endpoint_id))
                .for_each(&mut push);
        }
        if let Some((home, s)) = service {
            if let Some(r) = self.region(home) {
                r.connection_notifications
                    .values()
                    .filter(|n| n.service_id.as_deref() == Some(s.id.as_str()))
                    .for_each(&mut push);
            }
        }
        self.notices.extend(notices);
    }
}

/// The message of one event (the time is added where it is published). AWS
/// does not document the body it publishes for these events; this one names
/// the event, the endpoint and its service with the EC2 API's own names
/// (`VpcEndpointConnection`'s fields).
fn message(
    n: &ConnectionNotification,
    e: &VpcEndpoint,
    event: &str,
    service: Option<(&str, &super::EndpointService)>,
) -> serde_json::Value {
    let state = match (event, e.state) {
        // A deleted endpoint is announced as it goes.
        ("Delete", EndpointState::Deleting) => "deleting",
        (_, s) => s.as_str(),
    };
    json!({
        "eventType": event,
        "awsAccountId": n.owner,
        "region": n.region,
        "connectionNotificationId": n.id,
        "connectionNotificationArn": n.arn,
        "serviceId": service.map(|(_, s)| s.id.clone()),
        "serviceName": e.service_name,
        "serviceRegion": service.map(|(home, _)| home.to_string()),
        "vpcEndpointId": e.id,
        "vpcEndpointOwner": e.owner,
        "vpcEndpointRegion": e.region,
        "vpcEndpointState": state,
    })
}

#[cfg(test)]
mod tests {
    use super::super::endpoint::CreateEndpoint;
    use super::super::tests::{consumer, provider, seed_with};
    use super::*;
    use crate::model::Settings;

    fn create_endpoint(s: &mut super::super::tests::Seed) -> VpcEndpoint {
        let req = CreateEndpoint {
            vpc_id: s.consumer_vpc.clone(),
            service_name: s.service_name.clone(),
            endpoint_type: Some("Interface".into()),
            subnet_ids: s.consumer_subnets.clone(),
            ..Default::default()
        };
        s.world.create_endpoint(&consumer(), 10, req, false).unwrap()
    }

    fn events(w: &mut World) -> Vec<(String, String)> {
        w.drain_notices()
            .into_iter()
            .map(|n| (n.topic_arn, n.message["eventType"].as_str().unwrap_or_default().to_string()))
            .collect()
    }

    #[test]
    fn each_event_reaches_the_notifications_that_asked_for_it() {
        let mut s = seed_with(Settings::default(), true);
        let topic = "arn:aws:sns:ap-northeast-1:111111111111:t".to_string();
        let req = CreateNotification {
            service_id: Some(s.service_id.clone()),
            arn: topic.clone(),
            events: vec!["Connect".into(), "Reject".into()],
            ..Default::default()
        };
        s.world.create_connection_notification(&provider(), 1, req, false).unwrap();
        let e = create_endpoint(&mut s);
        assert_eq!(events(&mut s.world), vec![(topic.clone(), "Connect".to_string())]);
        s.world.accept_connections(&provider(), 20, &s.service_id, std::slice::from_ref(&e.id), false).unwrap();
        assert_eq!(events(&mut s.world), vec![], "Accept was not asked for");
        s.world.reject_connections(&provider(), &s.service_id, std::slice::from_ref(&e.id), false).unwrap();
        assert_eq!(events(&mut s.world), vec![(topic, "Reject".to_string())]);
    }

    #[test]
    fn a_change_taken_back_takes_its_messages_back() {
        let mut s = seed_with(Settings::default(), true);
        let req = CreateNotification {
            service_id: Some(s.service_id.clone()),
            arn: "arn:aws:sns:ap-northeast-1:111111111111:t".into(),
            events: vec!["Connect".into()],
            ..Default::default()
        };
        s.world.create_connection_notification(&provider(), 1, req, false).unwrap();
        s.world.settle();
        create_endpoint(&mut s);
        s.world.undo();
        assert_eq!(events(&mut s.world), vec![]);
    }

    #[test]
    fn refusals() {
        let mut s = seed_with(Settings::default(), true);
        let ok = |w: &mut World, req: CreateNotification, code: &str| {
            let e = w.create_connection_notification(&provider(), 1, req, false).unwrap_err();
            assert_eq!(e.code, code);
        };
        let base = CreateNotification {
            service_id: Some(s.service_id.clone()),
            arn: "arn:aws:sns:ap-northeast-1:111111111111:t".into(),
            events: vec!["Connect".into()],
            ..Default::default()
        };
        ok(
            &mut s.world,
            CreateNotification { arn: "arn:aws:sqs:ap-northeast-1:1:q".into(), ..base.clone() },
            "InvalidConnectionNotification",
        );
        ok(&mut s.world, CreateNotification { events: vec!["Boom".into()], ..base.clone() }, "InvalidParameterValue");
        ok(&mut s.world, CreateNotification { service_id: None, ..base.clone() }, "MissingParameter");
        ok(
            &mut s.world,
            CreateNotification { endpoint_id: Some("vpce-0123456789abcdef0".into()), ..base.clone() },
            "InvalidParameterCombination",
        );
        let e = s.world.create_connection_notification(&consumer(), 1, base, false).unwrap_err();
        assert_eq!(e.code, "InvalidVpcEndpointServiceId.NotFound");
    }
}
