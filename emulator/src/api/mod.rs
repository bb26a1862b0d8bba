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
pub mod route53;
pub mod sts;
pub mod xml;

use std::net::SocketAddr;

pub use crate::config::{AuthSettings, Credential};
pub use crate::engine::Shared;
use crate::engine::{now_ms, Cause};
use crate::model::{ids, region, Caller, Error, Millis, World};
use crate::persist::Op;
use query::Params;
use xml::Xml;

/// Whether an action only reads the world (a dry run of it answers
/// DryRunOperation after it ran) or may change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// One row of a service's action table.
pub struct Action {
    pub name: &'static str,
    pub access: Access,
    pub handler: fn(&mut ec2::Ctx) -> Result<Xml, Error>,
}

impl Action {
    pub const fn new(name: &'static str, access: Access, handler: fn(&mut ec2::Ctx) -> Result<Xml, Error>) -> Action {
        Action { name, access, handler }
    }
}

/// The row of `action` in a table.
pub fn find<'a>(table: &'a [Action], action: &str) -> Option<&'a Action> {
    table.iter().find(|a| a.name == action)
}

/// The supported actions as the README lists them, from the tables.
pub fn supported_actions_markdown() -> String {
    let mut out = String::from("| Service | Action | Reads or writes |\n|---|---|---|\n");
    let rows = [("EC2", ec2::ACTIONS), ("ELBv2", elbv2::ACTIONS)];
    for (service, table) in rows {
        for a in table {
            let access = if a.access == Access::Read { "reads" } else { "writes" };
            out.push_str(&format!("| {service} | `{}` | {access} |\n", a.name));
        }
    }
    for name in sts::ACTIONS {
        out.push_str(&format!("| STS | `{name}` | reads |\n"));
    }
    for r in route53::ROUTES {
        let access = if r.access == Access::Read { "reads" } else { "writes" };
        out.push_str(&format!("| Route 53 | `{}` | {access} |\n", r.name));
    }
    out
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
    /// Headers besides the content type (lowercase names).
    pub headers: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Ec2,
    Elbv2,
    Sts,
    Route53,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Ec2 => "ec2",
            Protocol::Elbv2 => "elasticloadbalancing",
            Protocol::Sts => "sts",
            Protocol::Route53 => "route53",
        }
    }

    pub fn from_name(name: &str) -> Option<Protocol> {
        Self::from_signing_name(name)
    }

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
        if find(ec2::ACTIONS, a).is_some() {
            Some(Protocol::Ec2)
        } else if find(elbv2::ACTIONS, a).is_some() {
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
    let query_pairs: Vec<(String, String)> =
        form_urlencoded::parse(req.query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let signature =
        req.header("authorization").and_then(auth::parse_authorization).or_else(|| auth::parse_presigned(&query_pairs));
    if route53::is_route53(req, signature.as_ref()) {
        return route53::handle(shared, req, signature.as_ref());
    }
    let request_id = ids::request_id();
    let mut params = Params::parse(req.query.as_bytes());
    params.extend(Params::parse(req.body));
    // Fills in the server's span of this request, so every log line of it
    // says which (the action quoted and cut: it is the caller's input).
    let action = params.get("Action").map(|a| a.char_indices().nth(64).map_or(a, |(i, _)| &a[..i]));
    tracing::Span::current().record("request_id", tracing::field::display(&request_id)).record("action", action);
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
            headers: Vec::new(),
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
    params.check_characters(protocol)?;
    if let Some(e) = shared.faults.api(protocol.name(), &action) {
        return Err(e);
    }
    if protocol == Protocol::Sts {
        return sts::dispatch(&action, &caller, &access_key).map(|x| (action, x));
    }
    let now = now_ms();
    let cause = Cause::at(now, format!("{}:{action} by {}", protocol.name(), caller.account));
    let body = shared.apply(cause, |world| {
        world.ensure_default_vpc(&caller, now)?;
        run(world, protocol, &action, &caller, now, params)
    })?;
    Ok((action, body))
}

/// Runs one EC2 or ELBv2 action on the world.
pub(crate) fn run(
    world: &mut World,
    protocol: Protocol,
    action: &str,
    caller: &Caller,
    now: Millis,
    p: &Params,
) -> Result<Xml, Error> {
    let mut ctx = ec2::Ctx { world, caller, now, p };
    match protocol {
        Protocol::Ec2 => ec2::dispatch(action, &mut ctx),
        Protocol::Elbv2 => elbv2::dispatch(action, &mut ctx),
        Protocol::Sts | Protocol::Route53 => Err(Error::new("InvalidAction", "not a Query action")),
    }
}

/// Replays one operation journaled by format 1 (releases up to d8452a2),
/// as it first ran: the only way to migrate those records, which hold
/// requests rather than what they changed.
pub fn replay_legacy(world: &mut World, op: Op) -> Result<(), String> {
    match op {
        Op::Api { now, seed, account, arn, region, protocol, action, params } => {
            let protocol = Protocol::from_name(&protocol).ok_or_else(|| format!("unknown protocol {protocol}"))?;
            let caller = Caller { account, arn, region };
            let params = Params::from_pairs(params);
            // Replayed as it first ran: the releases that wrote format 1 kept
            // what a failing request had done before it failed, and so does
            // the migrated world (later records' addresses depend on it).
            // Their VPCs had a host block each: addresses stay where they were.
            world.place_vpcs_one_block_each(true);
            let _ = ids::with_seed(seed, || run(world, protocol, &action, &caller, now, &params));
            world.place_vpcs_one_block_each(false);
        }
        Op::Tick { now, seed } => ids::with_seed(seed, || world.tick(now)),
        Op::PublishTxt { name, value } => world.publish_txt(&name, &value),
        Op::UnpublishTxt { name, value } => world.unpublish_txt(&name, value.as_deref()),
        Op::Reset { account } => world.reset(account.as_deref()),
        Op::Import { world: dump } => {
            let imported = World::from_json(dump, world.settings().clone())?;
            world.replace(imported);
        }
    }
    world.settle();
    world.drain_events();
    world.drain_notices();
    Ok(())
}

/// The caller's account, principal and region, from the signature (or the
/// defaults for an unsigned request in lenient mode).
pub(crate) fn identify(
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
        Protocol::Route53 | Protocol::Elbv2 | Protocol::Sts => {
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
    if protocol == Protocol::Route53 {
        return route53::error_response(e, request_id);
    }
    let mut message = String::new();
    xml::escape(&e.message, &mut message);
    let body = match protocol {
        Protocol::Ec2 => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>",
            e.code
        ),
        Protocol::Elbv2 | Protocol::Sts | Protocol::Route53 => {
            let ns = if protocol == Protocol::Sts { xml::STS_NS } else { xml::ELBV2_NS };
            let kind = if e.status >= 500 { "Receiver" } else { "Sender" };
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{ns}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                e.code
            )
        }
    };
    HttpResponse { status: e.status, content_type: "text/xml;charset=UTF-8", body, headers: Vec::new() }
}

#[cfg(test)]
mod tests;
