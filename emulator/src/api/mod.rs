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
use crate::persist::{Op, Store, Syncer};
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
    /// The journal, with `--state-dir`. Appended to while the world is
    /// locked (so it holds operations in the order they ran), synced after.
    store: Option<Mutex<Store>>,
    syncer: Option<Arc<Syncer>>,
    /// Bounds the API server enforces.
    pub limits: crate::server::Limits,
    /// The local CA's certificate (PEM), once the data plane has one.
    pub tls_ca_pem: std::sync::OnceLock<String>,
}

impl Shared {
    pub fn new(world: World, auth: AuthSettings) -> Arc<Shared> {
        Self::build(world, auth, None, crate::server::Limits::default())
    }

    /// Shared state with the server's bounds and, when `store` is given,
    /// journaling every change to it.
    pub fn build(world: World, auth: AuthSettings, store: Option<Store>, limits: crate::server::Limits) -> Arc<Shared> {
        let (events, _) = broadcast::channel(4096);
        let syncer = store.as_ref().map(Store::syncer);
        Arc::new(Shared {
            world: Mutex::new(world),
            events,
            auth,
            started: std::time::Instant::now(),
            status: Mutex::new(Vec::new()),
            tls_ca_pem: std::sync::OnceLock::new(),
            store: store.map(Mutex::new),
            syncer,
            limits,
        })
    }

    pub fn is_durable(&self) -> bool {
        self.store.is_some()
    }

    /// Journals `op`, which just ran on `world` (still locked by the caller);
    /// returns the sequence number to [`Shared::sync`] before answering.
    pub fn journal(&self, world: &World, op: Op) -> Result<u64, Error> {
        let Some(store) = &self.store else { return Ok(0) };
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        let seq = store.append(op).map_err(storage_error)?;
        if store.wants_snapshot() {
            if let Err(e) = store.snapshot(world.to_json()) {
                tracing::error!(error = %e, "cannot write the snapshot; the journal keeps growing");
            }
        }
        Ok(seq)
    }

    /// Waits until the journal holds `seq` on disk.
    pub fn sync(&self, seq: u64) -> Result<(), Error> {
        match &self.syncer {
            Some(s) if seq > 0 => s.sync_through(seq).map_err(storage_error),
            _ => Ok(()),
        }
    }

    /// Folds the journal into a snapshot (on shutdown, after an import).
    pub fn snapshot(&self) -> std::io::Result<()> {
        let Some(store) = &self.store else { return Ok(()) };
        let w = self.world();
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        store.snapshot(w.to_json())
    }

    /// Runs an administrative change (TXT records, reset, import) and
    /// journals it; durable when this returns `Ok`.
    pub fn change(&self, op: Op) -> Result<(), Error> {
        let (seq, events) = {
            let mut w = self.world();
            apply_admin(&mut w, &op).map_err(|e| Error::new("InvalidParameterValue", e))?;
            let seq = self.journal(&w, op)?;
            (seq, w.drain_events())
        };
        self.publish(events);
        self.sync(seq)
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
            self.tick_locked(&mut w, now_ms());
            w.drain_events()
        };
        self.publish(events);
    }

    /// Advances transitions on a locked world, journaling the tick when it
    /// changed something. Nobody waits on a tick: the next request's sync
    /// makes it durable.
    fn tick_locked(&self, w: &mut World, now: Millis) {
        let before = w.revision();
        let Some(seed) = self.is_durable().then(ids::seed) else {
            return w.tick(now);
        };
        ids::with_seed(seed, || w.tick(now));
        if w.revision() != before {
            if let Err(e) = self.journal(w, Op::Tick { now, seed }) {
                tracing::error!(error = %e.message, "cannot journal a state transition");
            }
        }
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
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Ec2 => "ec2",
            Protocol::Elbv2 => "elasticloadbalancing",
            Protocol::Sts => "sts",
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
    // Fills in the server's span of this request, so every log line of it
    // says which (the action quoted and cut: it is the caller's input).
    let action = params.get("Action").map(|a| a.char_indices().nth(64).map_or(a, |(i, _)| &a[..i]));
    tracing::Span::current().record("request_id", tracing::field::display(&request_id)).record("action", action);
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
    params.check_characters(protocol)?;
    if protocol == Protocol::Sts {
        return sts::dispatch(&action, &caller, &access_key).map(|x| (action, x));
    }
    let now = now_ms();
    // Journaled requests draw their random choices from a seed, so a replay
    // draws the same ones.
    let seed = shared.is_durable().then(ids::seed);
    let (result, seq, events) = {
        let mut world = shared.world();
        shared.tick_locked(&mut world, now);
        let before = world.revision();
        let result = match seed {
            Some(seed) => ids::with_seed(seed, || run(&mut world, protocol, &action, &caller, now, params)),
            None => run(&mut world, protocol, &action, &caller, now, params),
        };
        // Reads change nothing but the "seen" mark of a transitional state;
        // anything else that succeeded, and anything that changed the world,
        // is journaled.
        let read = action.starts_with("Describe") || action.starts_with("Get");
        let changed = world.revision() != before || (result.is_ok() && !read);
        let seq = if let (true, Some(seed)) = (changed, seed) {
            let op = Op::Api {
                now,
                seed,
                account: caller.account.clone(),
                arn: caller.arn.clone(),
                region: caller.region.clone(),
                protocol: protocol.name().to_string(),
                action: action.clone(),
                params: params.pairs().map(|(k, v)| (k.clone(), v.clone())).collect(),
            };
            shared.journal(&world, op)?
        } else {
            0
        };
        (result, seq, world.drain_events())
    };
    shared.publish(events);
    shared.sync(seq)?;
    result.map(|x| (action, x))
}

/// Runs one EC2 or ELBv2 action on the world.
fn run(
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
        Protocol::Sts => Err(Error::new("InvalidAction", "STS changes nothing")),
    }
}

fn storage_error(e: std::io::Error) -> Error {
    tracing::error!(error = %e, "cannot write the state directory");
    Error::new("InternalError", "The emulator could not make the change durable; it is not acknowledged.")
        .with_status(500)
}

/// Applies an administrative operation (not an API request).
fn apply_admin(w: &mut World, op: &Op) -> Result<(), String> {
    match op {
        Op::PublishTxt { name, value } => w.publish_txt(name, value),
        Op::UnpublishTxt { name, value } => w.unpublish_txt(name, value.as_deref()),
        Op::Reset { account } => w.reset(account.as_deref()),
        Op::Import { world } => {
            let imported = World::from_json(world.clone(), w.settings().clone())?;
            w.replace(imported);
        }
        Op::Api { .. } | Op::Tick { .. } => return Err("not an administrative operation".into()),
    }
    Ok(())
}

/// Replays journaled operations onto `world`, as they first ran.
pub fn replay(world: &mut World, ops: Vec<Op>) -> usize {
    let mut failed = 0;
    for op in ops {
        match op {
            Op::Api { now, seed, account, arn, region, protocol, action, params } => {
                let Some(protocol) = Protocol::from_name(&protocol) else {
                    failed += 1;
                    continue;
                };
                let caller = Caller { account, arn, region };
                let params = Params::from_pairs(params);
                let _ = ids::with_seed(seed, || run(world, protocol, &action, &caller, now, &params));
            }
            Op::Tick { now, seed } => ids::with_seed(seed, || world.tick(now)),
            other => {
                if let Err(e) = apply_admin(world, &other) {
                    tracing::warn!(error = %e, "a journaled change no longer applies");
                    failed += 1;
                }
            }
        }
        world.drain_events();
    }
    failed
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
