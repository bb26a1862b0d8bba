//! The web console at `/_emulator/console` (loopback only, as every admin
//! endpoint): one server-rendered page with a little JavaScript and CSS of
//! its own, embedded in the binary. It draws the topology
//! (`/_emulator/console/topology`), the traffic (flow records), the DNS
//! questions and the faults, and follows them live over Server-Sent Events
//! (`/_emulator/console/events`): the engine's revisions, the flows and
//! queries recorded (once a second, the latest of each), and fault
//! changes. Its buttons act as the
//! service's owner (accept, reject: `/_emulator/console/act`, see
//! [`actions`]) and through the fault endpoints, so they work under
//! `--strict-auth` too.

mod actions;
mod topology;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::Frame;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, watch};

use crate::api::HttpResponse;
use crate::engine::Shared;
use crate::flowlog::Fresh;

pub use topology::topology;

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// The path of the event stream.
pub const EVENTS: &str = "/_emulator/console/events";

pub fn handles(path: &str) -> bool {
    path == "/_emulator/console" || path.starts_with("/_emulator/console/")
}

pub fn handle(shared: &Shared, method: &str, path: &str, body: &[u8]) -> HttpResponse {
    let page = |content_type, body: &str| HttpResponse {
        status: 200,
        content_type,
        body: body.to_string(),
        headers: vec![("cache-control", "no-cache".to_string())],
    };
    match (method, path) {
        ("GET", "/_emulator/console" | "/_emulator/console/") => page("text/html; charset=utf-8", PAGE),
        ("GET", "/_emulator/console/console.js") => page("text/javascript; charset=utf-8", SCRIPT),
        ("GET", "/_emulator/console/console.css") => page("text/css; charset=utf-8", STYLE),
        ("POST", "/_emulator/console/act") => actions::handle(shared, body),
        ("GET", "/_emulator/console/topology") => {
            shared.tick();
            let body = json!({"revision": shared.revision(), "regions": topology(&shared.world())});
            HttpResponse { status: 200, content_type: "application/json", body: body.to_string(), headers: Vec::new() }
        }
        _ => HttpResponse {
            status: 404,
            content_type: "application/json",
            body: json!({"error": format!("no such console path: {method} {path}")}).to_string(),
            headers: Vec::new(),
        },
    }
}

/// An event stream: what a task writes to it, until the connection closes
/// or the server stops.
pub struct Events {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

/// The console's event stream for a loopback caller (`None` for others,
/// who get the admin API's refusal).
pub fn events_response(
    shared: Arc<Shared>,
    peer: std::net::SocketAddr,
    closing: watch::Receiver<bool>,
) -> Option<hyper::Response<Events>> {
    if !peer.ip().is_loopback() {
        return None;
    }
    let mut resp = hyper::Response::new(events(shared, closing));
    let headers = resp.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/event-stream"));
    headers.insert(hyper::header::CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-cache"));
    Some(resp)
}

fn event(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// A console is sent the flows and queries recorded since its last look,
/// once per this long at most: at a thousand flows a second the page
/// redraws once a second rather than a thousand times (a headless browser
/// spent about 15 ms of CPU on each redraw of the page), and a record costs
/// nothing more with a console open than without (the console reads the
/// buffer the admin endpoints read; nobody is woken per flow).
const BATCH: std::time::Duration = std::time::Duration::from_millis(1000);
/// Records of each kind in one message, the latest; older ones are counted.
const LIVE: usize = 25;

/// The message for what `fresh` holds, if anything, named after what it
/// carries: `{"<name>": [...], "skipped": n}`.
fn batch<T>(name: &str, fresh: &Fresh<T>, json: impl Fn(&T) -> serde_json::Value) -> Option<Bytes> {
    if fresh.items.is_empty() && fresh.skipped == 0 {
        return None;
    }
    let items: Vec<serde_json::Value> = fresh.items.iter().map(json).collect();
    Some(event(name, &json!({name: items, "skipped": fresh.skipped}).to_string()))
}

/// Starts the event stream of one console: `change` with the revision
/// when the world changed (a burst becomes one); every second, `flows`
/// with the flow records made since the last look and `queries` with the
/// DNS records (the latest 25 of each, and how many more there were);
/// `faults` when faults change. Ends when `closing` turns true or the
/// client is gone.
pub fn events(shared: Arc<Shared>, mut closing: watch::Receiver<bool>) -> Events {
    let (tx, rx) = mpsc::channel(256);
    let mut changes = shared.subscribe();
    let mut faults = shared.faults.watch();
    tokio::spawn(async move {
        if tx.send(Bytes::from(format!("retry: 1000\nevent: hello\ndata: {}\n\n", shared.revision()))).await.is_err() {
            return;
        }
        let (mut flows, mut queries) = (shared.logs.flows_reached(), shared.logs.queries_reached());
        let mut look = tokio::time::interval(BATCH);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let messages: Vec<Bytes> = tokio::select! {
                _ = look.tick() => {
                    let f = shared.logs.flows_since(flows, LIVE);
                    let q = shared.logs.queries_since(queries, LIVE);
                    (flows, queries) = (f.reached, q.reached);
                    let f = batch("flows", &f, |r| serde_json::to_value(r.as_ref()).unwrap_or_default());
                    let q = batch("queries", &q, |r| r.to_json());
                    f.into_iter().chain(q).collect()
                }
                e = changes.recv() => match e {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        // A burst of changes is one message.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = changes.try_recv() {}
                        vec![event("change", &shared.revision().to_string())]
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                c = faults.changed() => match c {
                    Ok(()) => vec![event("faults", &shared.faults.to_json().to_string())],
                    Err(_) => break,
                },
                c = closing.changed() => {
                    let closed = c.is_err() || *closing.borrow();
                    if closed {
                        break;
                    }
                    continue;
                }
            };
            for message in messages {
                if tx.send(message).await.is_err() {
                    return;
                }
            }
        }
    });
    Events { rx }
}
