//! The web console at `/_emulator/console` (loopback only, as every admin
//! endpoint): one server-rendered page with a little JavaScript and CSS of
//! its own, embedded in the binary. It draws the topology
//! (`/_emulator/console/topology`), the traffic (flow records), the DNS
//! questions and the faults, and follows them live over Server-Sent Events
//! (`/_emulator/console/events`): the engine's revisions, each flow and
//! query as it is recorded, and fault changes. Its buttons act as the
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
use crate::flowlog::Seen;

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

/// Flow records a console is sent at most once per this long, in one
/// message: at a thousand flows a second the page redraws four times a
/// second rather than a thousand, and the data plane's records are
/// serialized for it at most [`LIVE_FLOWS`] at a time.
const FLOW_BATCH: std::time::Duration = std::time::Duration::from_millis(250);
/// Flows in one message, the latest; older ones of a batch are counted.
const LIVE_FLOWS: usize = 25;

/// Flow records waiting for the next message.
#[derive(Default)]
struct Batch {
    flows: std::collections::VecDeque<Arc<crate::flowlog::FlowRecord>>,
    skipped: u64,
    due: Option<tokio::time::Instant>,
}

impl Batch {
    fn push(&mut self, f: Arc<crate::flowlog::FlowRecord>) {
        if self.flows.len() == LIVE_FLOWS {
            self.flows.pop_front();
            self.skipped += 1;
        }
        self.flows.push_back(f);
        self.due.get_or_insert_with(|| tokio::time::Instant::now() + FLOW_BATCH);
    }

    fn take(&mut self) -> Bytes {
        let flows: Vec<&crate::flowlog::FlowRecord> = self.flows.iter().map(|f| f.as_ref()).collect();
        let data = json!({"flows": flows, "skipped": self.skipped}).to_string();
        self.flows.clear();
        self.skipped = 0;
        self.due = None;
        event("flows", &data)
    }
}

/// Starts the event stream of one console: `change` with the revision
/// when the world changed (a burst becomes one), `flows` with the flow
/// records of the last 250 ms (the latest 25, and how many more there
/// were), `query` with each DNS record, `faults` when faults change. Ends
/// when `closing` turns true or the client is gone.
pub fn events(shared: Arc<Shared>, mut closing: watch::Receiver<bool>) -> Events {
    let (tx, rx) = mpsc::channel(256);
    let mut changes = shared.subscribe();
    let mut seen = shared.logs.watch();
    let mut faults = shared.faults.watch();
    tokio::spawn(async move {
        if tx.send(Bytes::from(format!("retry: 1000\nevent: hello\ndata: {}\n\n", shared.revision()))).await.is_err() {
            return;
        }
        let mut batch = Batch::default();
        loop {
            let due = batch.due;
            let message = tokio::select! {
                _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                    batch.take()
                }
                e = changes.recv() => match e {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        // A burst of changes is one message.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = changes.try_recv() {}
                        event("change", &shared.revision().to_string())
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                s = seen.recv() => match s {
                    Ok(Seen::Flow(f)) => {
                        batch.push(f);
                        continue;
                    }
                    Ok(Seen::Query(q)) => event("query", &q.to_json().to_string()),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        batch.skipped += n;
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                c = faults.changed() => match c {
                    Ok(()) => event("faults", &shared.faults.to_json().to_string()),
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
            if tx.send(message).await.is_err() {
                break;
            }
        }
    });
    Events { rx }
}
