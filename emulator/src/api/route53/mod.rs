//! Route 53 (protocol `rest-xml`, version 2013-04-01): the operation is
//! the method and path under `/2013-04-01/`, inputs are path segments,
//! query parameters and an XML body; answers are `<XResponse>` documents in
//! Route 53's namespace, errors `<ErrorResponse>` with AWS's codes and
//! HTTP statuses.
//!
//! One file per resource family; this one holds the route table, the
//! request body reader and the envelopes.

mod records;
mod zones;

use super::xml::Xml;
use super::{auth, Access, HttpRequest, HttpResponse, Protocol, Shared};
use crate::engine::{now_ms, Cause};
use crate::model::{ids, Caller, Error, Millis, Result, World};
use Access::{Read, Write};

pub const VERSION: &str = "2013-04-01";
pub const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";
const PREFIX: &str = "/2013-04-01/";

/// What a handler works with.
pub struct Ctx<'a> {
    pub world: &'a mut World,
    pub caller: &'a Caller,
    pub now: Millis,
    /// The path's parameters (`{Id}`, or `{ResourceType}` and `{ResourceId}`).
    pub path: Vec<String>,
    pub query: &'a [(String, String)],
    pub body: &'a Element,
}

impl Ctx<'_> {
    pub fn id(&self) -> &str {
        self.path.first().map(String::as_str).unwrap_or("")
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `maxitems` (or another name), 1..=`cap` (larger asks get `cap`, as
    /// Route 53 answers), `default` when absent.
    pub fn max_items(&self, name: &str, default: usize, cap: usize) -> Result<usize> {
        match self.query(name) {
            None => Ok(default),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 1 => Ok((n as usize).min(cap)),
                _ => Err(invalid_input(format!("Invalid value for {name}: {v}"))),
            },
        }
    }
}

/// What a handler answers: the body of `<XResponse>`, and for a creation
/// 201 with the new resource's address.
pub struct Reply {
    pub xml: Xml,
    pub status: u16,
    pub location: Option<String>,
}

impl From<Xml> for Reply {
    fn from(xml: Xml) -> Reply {
        Reply { xml, status: 200, location: None }
    }
}

/// One row of the route table.
pub struct Route {
    pub name: &'static str,
    pub access: Access,
    pub method: &'static str,
    /// Segments after `/2013-04-01/`; `{}` takes one path parameter.
    pub path: &'static str,
    pub handler: fn(&mut Ctx) -> Result<Reply>,
}

const fn route(
    name: &'static str,
    access: Access,
    method: &'static str,
    path: &'static str,
    handler: fn(&mut Ctx) -> Result<Reply>,
) -> Route {
    Route { name, access, method, path, handler }
}

/// Every Route 53 operation the emulator answers.
pub const ROUTES: &[Route] = &[
    route("CreateHostedZone", Write, "POST", "hostedzone", zones::create_hosted_zone),
    route("GetHostedZone", Read, "GET", "hostedzone/{}", zones::get_hosted_zone),
    route("ListHostedZones", Read, "GET", "hostedzone", zones::list_hosted_zones),
    route("ListHostedZonesByName", Read, "GET", "hostedzonesbyname", zones::list_hosted_zones_by_name),
    route("ListHostedZonesByVPC", Read, "GET", "hostedzonesbyvpc", zones::list_hosted_zones_by_vpc),
    route("GetHostedZoneCount", Read, "GET", "hostedzonecount", zones::get_hosted_zone_count),
    route("UpdateHostedZoneComment", Write, "POST", "hostedzone/{}", zones::update_hosted_zone_comment),
    route("DeleteHostedZone", Write, "DELETE", "hostedzone/{}", zones::delete_hosted_zone),
    route("ChangeResourceRecordSets", Write, "POST", "hostedzone/{}/rrset", records::change_resource_record_sets),
    route("ListResourceRecordSets", Read, "GET", "hostedzone/{}/rrset", records::list_resource_record_sets),
    route("GetChange", Read, "GET", "change/{}", zones::get_change),
    route("AssociateVPCWithHostedZone", Write, "POST", "hostedzone/{}/associatevpc", zones::associate_vpc),
    route("DisassociateVPCFromHostedZone", Write, "POST", "hostedzone/{}/disassociatevpc", zones::disassociate_vpc),
    route(
        "CreateVPCAssociationAuthorization",
        Write,
        "POST",
        "hostedzone/{}/authorizevpcassociation",
        zones::create_authorization,
    ),
    route(
        "ListVPCAssociationAuthorizations",
        Read,
        "GET",
        "hostedzone/{}/authorizevpcassociation",
        zones::list_authorizations,
    ),
    route(
        "DeleteVPCAssociationAuthorization",
        Write,
        "POST",
        "hostedzone/{}/deauthorizevpcassociation",
        zones::delete_authorization,
    ),
    route("ChangeTagsForResource", Write, "POST", "tags/{}/{}", zones::change_tags),
    route("ListTagsForResource", Read, "GET", "tags/{}/{}", zones::list_tags),
    route("GetDNSSEC", Read, "GET", "hostedzone/{}/dnssec", zones::get_dnssec),
];

/// Whether a request is for Route 53: its path, or its signature's service.
pub fn is_route53(req: &HttpRequest<'_>, signature: Option<&auth::Signature>) -> bool {
    req.path.starts_with(PREFIX) || signature.is_some_and(|s| s.credential.service == "route53")
}

/// The route of a method and path, with the path's parameters.
fn find_route(method: &str, path: &str) -> Option<(&'static Route, Vec<String>)> {
    let rest = path.strip_prefix(PREFIX)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    'routes: for r in ROUTES {
        if r.method != method {
            continue;
        }
        let pattern: Vec<&str> = r.path.split('/').collect();
        if pattern.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        for (p, s) in pattern.iter().zip(&segments) {
            if *p == "{}" {
                if s.is_empty() {
                    continue 'routes;
                }
                let decoded = percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
                params.push(decoded);
            } else if p != s {
                continue 'routes;
            }
        }
        return Some((r, params));
    }
    None
}

/// Answers one Route 53 request.
pub fn handle(shared: &Shared, req: &HttpRequest<'_>, signature: Option<&auth::Signature>) -> HttpResponse {
    let request_id = ids::request_id();
    let found = find_route(req.method, req.path);
    tracing::Span::current()
        .record("request_id", tracing::field::display(&request_id))
        .record("action", found.as_ref().map(|(r, _)| r.name));
    match serve(shared, req, signature, found) {
        Ok((name, reply)) => {
            let body = reply.xml.into_string();
            let mut out = String::with_capacity(body.len() + 160);
            out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            out.push_str(&format!("<{name}Response xmlns=\"{NS}\">"));
            out.push_str(&body);
            out.push_str(&format!("</{name}Response>"));
            let mut headers = vec![("x-amzn-requestid", request_id)];
            if let Some(l) = reply.location {
                headers.push(("location", l));
            }
            HttpResponse { status: reply.status, content_type: "text/xml", body: out, headers }
        }
        Err(e) => error_response(&e, &request_id),
    }
}

fn serve(
    shared: &Shared,
    req: &HttpRequest<'_>,
    signature: Option<&auth::Signature>,
    found: Option<(&'static Route, Vec<String>)>,
) -> Result<(&'static str, Reply)> {
    let (caller, _) = super::identify(shared, req, signature, Protocol::Route53)?;
    let Some((route, path)) = found else {
        return Err(Error::new(
            "UnknownOperationException",
            format!("Route 53 has no operation {} {}", req.method, req.path),
        )
        .with_status(404));
    };
    check_zone_id(route, &path)?;
    let body =
        if req.body.iter().all(u8::is_ascii_whitespace) { Element::default() } else { Element::parse(req.body)? };
    let query: Vec<(String, String)> =
        form_urlencoded::parse(req.query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let now = now_ms();
    let cause = Cause::at(now, format!("route53:{} by {}", route.name, caller.account));
    let reply = shared.apply(cause, |world| {
        let mut ctx = Ctx { world, caller: &caller, now, path, query: &query, body: &body };
        (route.handler)(&mut ctx)
    })?;
    Ok((route.name, reply))
}

/// Longest hosted zone id Route 53 takes in a path.
const ZONE_ID_MAX: usize = 32;

/// A zone id longer than Route 53's is a malformed request, not a zone that
/// is not there.
fn check_zone_id(route: &Route, path: &[String]) -> Result<()> {
    let id = match (route.path.starts_with("hostedzone/"), path.first()) {
        (true, Some(id)) => id,
        _ => return Ok(()),
    };
    if id.chars().count() > ZONE_ID_MAX {
        return Err(invalid_input(format!(
            "1 validation error detected: Value '{id}' at 'id' failed to satisfy constraint: Member must have length less than or equal to {ZONE_ID_MAX}"
        )));
    }
    Ok(())
}

pub fn error_response(e: &Error, request_id: &str) -> HttpResponse {
    let mut message = String::new();
    super::xml::escape(&e.message, &mut message);
    let kind = if e.status >= 500 { "Receiver" } else { "Sender" };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        e.code
    );
    HttpResponse {
        status: e.status,
        content_type: "text/xml",
        body,
        headers: vec![("x-amzn-requestid", request_id.to_string())],
    }
}

pub fn invalid_input(message: impl Into<String>) -> Error {
    Error::new("InvalidInput", message)
}

/// An element of a request body: its local name, text and children.
#[derive(Debug, Default, Clone)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

/// Deepest nesting a request body may have (ChangeBatch is six deep).
const MAX_DEPTH: usize = 32;

impl Element {
    /// Parses a request body; its root element is returned.
    pub fn parse(body: &[u8]) -> Result<Element> {
        use quick_xml::events::Event;
        let malformed = |why: String| invalid_input(format!("The XML document is malformed: {why}"));
        let text = std::str::from_utf8(body).map_err(|_| malformed("it is not UTF-8".into()))?;
        let mut reader = quick_xml::Reader::from_str(text);
        let mut stack: Vec<Element> = vec![Element::default()];
        let name_of =
            |e: &quick_xml::events::BytesStart<'_>| String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        loop {
            match reader.read_event().map_err(|e| malformed(e.to_string()))? {
                Event::Start(e) => {
                    if stack.len() > MAX_DEPTH {
                        return Err(malformed("it is nested too deeply".into()));
                    }
                    stack.push(Element { name: name_of(&e), ..Element::default() });
                }
                Event::Empty(e) => {
                    let el = Element { name: name_of(&e), ..Element::default() };
                    stack.last_mut().ok_or_else(|| malformed("unbalanced".into()))?.children.push(el);
                }
                Event::End(_) => {
                    let done = stack.pop().ok_or_else(|| malformed("unbalanced".into()))?;
                    stack
                        .last_mut()
                        .ok_or_else(|| malformed("an end tag without its start".into()))?
                        .children
                        .push(done);
                }
                Event::Text(t) => {
                    let raw = t.decode().map_err(|e| malformed(e.to_string()))?;
                    let s = quick_xml::escape::unescape(&raw).map_err(|e| malformed(e.to_string()))?;
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&s);
                    }
                }
                Event::CData(t) => {
                    let s = t.decode().map_err(|e| malformed(e.to_string()))?;
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&s);
                    }
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref().map_err(|e| malformed(e.to_string()))? {
                        Some(c) => c.to_string(),
                        None => match r.decode().map_err(|e| malformed(e.to_string()))?.as_ref() {
                            "amp" => "&".into(),
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "quot" => "\"".into(),
                            "apos" => "'".into(),
                            other => return Err(malformed(format!("undeclared entity &{other};"))),
                        },
                    };
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&resolved);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        let mut document = stack.pop().ok_or_else(|| malformed("unbalanced".into()))?;
        if !stack.is_empty() {
            return Err(malformed("an element is never closed".into()));
        }
        match document.children.len() {
            1 => Ok(document.children.remove(0)),
            _ => Err(malformed("it needs exactly one root element".into())),
        }
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of a child, trimmed; `None` when absent.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

#[cfg(test)]
mod tests;
