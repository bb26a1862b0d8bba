//! The AWS Query protocol front: decode a request, find the caller, run the
//! action against the model, and answer in the envelope of the service
//! (EC2, ELBv2 or STS) with AWS's error shapes.
//!
//! [`handle`] is transport-free (bytes in, bytes out), so it is unit-tested
//! and fuzzed without sockets; the server module carries it over HTTP.

pub mod admin;
pub mod auth;
pub mod ec2;
pub mod elbv2;
pub mod query;
pub mod sts;
pub mod xml;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::model::{ids, region, Caller, Error, Event, Millis, World};
use query::Params;
use xml::Xml;

/// Credentials the emulator knows: an access key mapped to its account
/// (and secret, for strict mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account: String,
    /// Principal ARN; defaults to the account's root.
    pub arn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub strict: bool,
    pub default_account: String,
    pub default_region: String,
    pub credentials: HashMap<String, Credential>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            strict: false,
            default_account: "000000000000".into(),
            default_region: "us-east-1".into(),
            credentials: HashMap::new(),
        }
    }
}

type StatusSource = Box<dyn Fn() -> serde_json::Value + Send + Sync>;

/// State shared by every part of the emulator.
pub struct Shared {
    world: Mutex<World>,
    events: broadcast::Sender<Event>,
    pub auth: AuthSettings,
    pub started: std::time::Instant,
    /// Other parts (data plane, DNS) add their section of /_emulator/status.
    status: Mutex<Vec<(String, StatusSource)>>,
}

impl Shared {
    pub fn new(world: World, auth: AuthSettings) -> Arc<Shared> {
        let (events, _) = broadcast::channel(4096);
        Arc::new(Shared {
            world: Mutex::new(world),
            events,
            auth,
            started: std::time::Instant::now(),
            status: Mutex::new(Vec::new()),
        })
    }

    /// Changes the world and publishes what changed.
    pub fn mutate<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let (r, events) = {
            let mut w = self.world();
            let r = f(&mut w);
            (r, w.drain_events())
        };
        self.publish(events);
        r
    }

    pub fn add_status(&self, name: &str, source: impl Fn() -> serde_json::Value + Send + Sync + 'static) {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).push((name.to_string(), Box::new(source)));
    }

    /// The sections other parts contribute to the status document.
    pub fn status_sections(&self) -> Vec<(String, serde_json::Value)> {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(n, f)| (n.clone(), f())).collect()
    }

    /// The world, locked. A poisoned lock still holds consistent state (every
    /// mutation validates before it writes), so keep serving.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Advances transitions and publishes what changed.
    pub fn tick(&self) {
        let events = {
            let mut w = self.world();
            w.tick(now_ms());
            w.drain_events()
        };
        self.publish(events);
    }

    fn publish(&self, events: Vec<Event>) {
        for e in events {
            // No subscriber is fine: nothing follows the model yet.
            let _ = self.events.send(e);
        }
    }
}

pub fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0)
}

/// An HTTP request, reduced to what the protocol needs.
pub struct HttpRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Lowercase header names.
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
    pub peer: SocketAddr,
}

impl HttpRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

pub struct HttpResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Ec2,
    Elbv2,
    Sts,
}

impl Protocol {
    fn from_signing_name(name: &str) -> Option<Protocol> {
        match name {
            "ec2" => Some(Protocol::Ec2),
            "elasticloadbalancing" => Some(Protocol::Elbv2),
            "sts" => Some(Protocol::Sts),
            _ => None,
        }
    }

    fn from_version(v: &str) -> Option<Protocol> {
        match v {
            ec2::VERSION => Some(Protocol::Ec2),
            elbv2::VERSION => Some(Protocol::Elbv2),
            sts::VERSION => Some(Protocol::Sts),
            _ => None,
        }
    }

    fn from_action(a: &str) -> Option<Protocol> {
        if ec2::ACTIONS.contains(&a) {
            Some(Protocol::Ec2)
        } else if elbv2::ACTIONS.contains(&a) {
            Some(Protocol::Elbv2)
        } else if sts::ACTIONS.contains(&a) {
            Some(Protocol::Sts)
        } else {
            None
        }
    }
}

/// Answers one HTTP request.
pub fn handle(shared: &Shared, req: &HttpRequest<'_>) -> HttpResponse {
    if req.path.starts_with("/_emulator/") || req.path == "/_emulator" {
        return admin::handle(shared, req);
    }
    let request_id = ids::request_id();
    let mut params = Params::parse(req.query.as_bytes());
    params.extend(Params::parse(req.body));
    let query_pairs: Vec<(String, String)> =
        form_urlencoded::parse(req.query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let signature =
        req.header("authorization").and_then(auth::parse_authorization).or_else(|| auth::parse_presigned(&query_pairs));
    let protocol = signature
        .as_ref()
        .and_then(|s| Protocol::from_signing_name(&s.credential.service))
        .or_else(|| params.get("Version").and_then(Protocol::from_version))
        .or_else(|| params.get("Action").and_then(Protocol::from_action))
        .unwrap_or(Protocol::Ec2);
    let result = serve(shared, req, &params, signature.as_ref(), protocol);
    match result {
        Ok((action, body)) => HttpResponse {
            status: 200,
            content_type: "text/xml;charset=UTF-8",
            body: envelope(protocol, &action, body, &request_id),
        },
        Err(e) => error_response(protocol, &e, &request_id),
    }
}

fn serve(
    shared: &Shared,
    req: &HttpRequest<'_>,
    params: &Params,
    signature: Option<&auth::Signature>,
    protocol: Protocol,
) -> Result<(String, Xml), Error> {
    let (caller, access_key) = identify(shared, req, signature, protocol)?;
    let action = params
        .get("Action")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::new("MissingAction", "The request must contain the parameter Action"))?
        .to_string();
    if !action.bytes().all(|b| b.is_ascii_alphanumeric()) || action.len() > 128 {
        return Err(Error::new("InvalidAction", "The action is not valid for this web service."));
    }
    let now = now_ms();
    let (result, events) = {
        let mut world = shared.world();
        world.tick(now);
        let result = match protocol {
            Protocol::Sts => sts::dispatch(&action, &caller, &access_key),
            Protocol::Ec2 | Protocol::Elbv2 => {
                let mut ctx = ec2::Ctx { world: &mut world, caller: &caller, now, p: params };
                if protocol == Protocol::Ec2 {
                    ec2::dispatch(&action, &mut ctx)
                } else {
                    elbv2::dispatch(&action, &mut ctx)
                }
            }
        };
        (result, world.drain_events())
    };
    shared.publish(events);
    result.map(|x| (action, x))
}

/// The caller's account, principal and region, from the signature (or the
/// defaults for an unsigned request in lenient mode).
fn identify(
    shared: &Shared,
    req: &HttpRequest<'_>,
    signature: Option<&auth::Signature>,
    protocol: Protocol,
) -> Result<(Caller, String), Error> {
    let settings = &shared.auth;
    let Some(sig) = signature else {
        if settings.strict {
            return Err(match protocol {
                Protocol::Ec2 => {
                    Error::new("AuthFailure", "AWS was not able to validate the provided access credentials")
                        .with_status(401)
                }
                _ => {
                    Error::new("MissingAuthenticationToken", "Request is missing Authentication Token").with_status(403)
                }
            });
        }
        return Ok((Caller::root(&settings.default_account, &settings.default_region), String::new()));
    };
    let c = &sig.credential;
    if !region::is_region_name(&c.region) {
        return Err(Error::new(
            "AuthFailure",
            format!("Credential should be scoped to a valid region, not '{}'.", c.region),
        )
        .with_status(401));
    }
    let known = settings.credentials.get(&c.access_key_id);
    if settings.strict {
        let Some(cred) = known else {
            return Err(match protocol {
                Protocol::Ec2 => {
                    Error::new("AuthFailure", "AWS was not able to validate the provided access credentials")
                        .with_status(401)
                }
                _ => Error::new("InvalidClientTokenId", "The security token included in the request is invalid.")
                    .with_status(403),
            });
        };
        auth::verify(
            sig,
            &auth::SignedRequest {
                method: req.method,
                path: req.path,
                query: req.query,
                headers: &req.headers,
                body: req.body,
            },
            &cred.secret_access_key,
        )?;
    }
    let (account, arn) = match known {
        Some(cred) => (cred.account.clone(), cred.arn.clone()),
        None if c.access_key_id.len() == 12 && c.access_key_id.bytes().all(|b| b.is_ascii_digit()) => {
            (c.access_key_id.clone(), None)
        }
        None => (settings.default_account.clone(), None),
    };
    let mut caller = Caller::root(&account, &c.region);
    if let Some(arn) = arn {
        caller.arn = arn;
    }
    Ok((caller, c.access_key_id.clone()))
}

fn envelope(protocol: Protocol, action: &str, body: Xml, request_id: &str) -> String {
    let body = body.into_string();
    let mut out = String::with_capacity(body.len() + 256);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    match protocol {
        Protocol::Ec2 => {
            out.push_str(&format!("<{action}Response xmlns=\"{}\"><requestId>{request_id}</requestId>", xml::EC2_NS));
            out.push_str(&body);
            out.push_str(&format!("</{action}Response>"));
        }
        Protocol::Elbv2 | Protocol::Sts => {
            let ns = if protocol == Protocol::Sts { xml::STS_NS } else { xml::ELBV2_NS };
            out.push_str(&format!("<{action}Response xmlns=\"{ns}\"><{action}Result>"));
            out.push_str(&body);
            out.push_str(&format!(
                "</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
            ));
        }
    }
    out
}

pub fn error_response(protocol: Protocol, e: &Error, request_id: &str) -> HttpResponse {
    let mut message = String::new();
    xml::escape(&e.message, &mut message);
    let body = match protocol {
        Protocol::Ec2 => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
            e.code
        ),
        Protocol::Elbv2 | Protocol::Sts => {
            let ns = if protocol == Protocol::Sts { xml::STS_NS } else { xml::ELBV2_NS };
            let kind = if e.status >= 500 { "Receiver" } else { "Sender" };
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{ns}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                e.code
            )
        }
    };
    HttpResponse { status: e.status, content_type: "text/xml;charset=UTF-8", body }
}

#[cfg(test)]
mod tests;
