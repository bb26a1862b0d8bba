//! Serves the API over HTTP/1.1 on an already-bound listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn, Instrument};

use crate::api::{self, HttpRequest, Protocol, Shared};

/// Largest API request body accepted (AWS's own Query limit is far below this).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Largest body of the admin endpoints (a world dump for `PUT /_emulator/state`).
pub const MAX_ADMIN_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Largest request head (request line and headers); more gets 431.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Bounds of the API server, so slow or flooding clients cannot exhaust
/// memory or descriptors.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; more are closed as they are accepted.
    pub max_connections: usize,
    /// Time to send a request's headers, and again its body.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_connections: 1024, request_timeout: Duration::from_secs(10) }
    }
}
/// How often transitional states are advanced without a request.
pub const TICK_INTERVAL: Duration = Duration::from_millis(50);

/// Accepts connections until `shutdown` resolves, then lets in-flight
/// requests finish.
pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: impl Future<Output = ()>) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let ticker = {
        let shared = shared.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(TICK_INTERVAL);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = every.tick() => shared.tick(),
                    _ = stop.changed() => break,
                }
            }
        })
    };
    tokio::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    let limits = shared.limits;
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    // At the bound: close at once; the client sees a reset
                    // or EOF and may retry.
                    debug!(%peer, max = limits.max_connections, "too many API connections; closing");
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let mut stop = stop_rx.clone();
                connections.spawn(
                    async move {
                        serve_connection(stream, shared, peer, async move {
                            let _ = stop.changed().await;
                        })
                        .await;
                        drop(slot);
                    }
                    .instrument(tracing::debug_span!("api", %peer)),
                );
                while connections.try_join_next().is_some() {}
            }
            _ = &mut shutdown => break,
        }
    }
    info!("api shutting down");
    let _ = stop_tx.send(true);
    let _ = ticker.await;
    while connections.join_next().await.is_some() {}
}

/// Serves API requests on one connection (plain TCP, or TLS from an
/// interface endpoint of an AWS service) until the client is done or `stop`
/// resolves, then finishes the request in flight.
pub async fn serve_connection<S>(stream: S, shared: Arc<Shared>, peer: SocketAddr, stop: impl Future<Output = ()>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let limits = shared.limits;
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, std::convert::Infallible>(respond(&shared, req, peer).await) }
    });
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.request_timeout)
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::pin!(stop);
    tokio::select! {
        r = conn.as_mut() => if let Err(e) = r { debug!(error = %e, "connection ended") },
        _ = &mut stop => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn respond(shared: &Shared, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let head: usize =
        parts.uri.to_string().len() + parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum::<usize>();
    if head > MAX_HEAD_BYTES {
        let err = crate::model::Error::new(
            "RequestHeaderSectionTooLarge",
            format!("The request line and headers exceed {MAX_HEAD_BYTES} bytes"),
        )
        .with_status(431);
        return build(api::error_response(Protocol::Ec2, &err, &crate::model::ids::request_id()));
    }
    let max = if parts.uri.path().starts_with("/_emulator/") { MAX_ADMIN_BODY_BYTES } else { MAX_BODY_BYTES };
    let read = tokio::time::timeout(shared.limits.request_timeout, Limited::new(body, max).collect());
    let body = match read.await {
        Ok(Ok(b)) => b.to_bytes(),
        Err(_) => {
            let err =
                crate::model::Error::new("RequestTimeout", "The request body did not arrive in time").with_status(408);
            let mut r = build(api::error_response(Protocol::Ec2, &err, &crate::model::ids::request_id()));
            r.headers_mut().insert(hyper::header::CONNECTION, hyper::header::HeaderValue::from_static("close"));
            return r;
        }
        Ok(Err(e)) => {
            let too_big = e.downcast_ref::<http_body_util::LengthLimitError>().is_some();
            let err = if too_big {
                crate::model::Error::new("RequestEntityTooLarge", format!("Request body exceeds {max} bytes"))
                    .with_status(413)
            } else {
                crate::model::Error::new("MalformedRequest", "The request body could not be read")
            };
            let r = api::error_response(Protocol::Ec2, &err, &crate::model::ids::request_id());
            return build(r);
        }
    };
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let request = HttpRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers,
        body: &body,
        peer,
    };
    // The one admin answer that waits: for the followers to settle.
    let response = if request.method == "GET" && request.path == "/_emulator/ready" {
        api::admin::ready(shared, &request).await
    } else {
        api::handle(shared, &request)
    };
    debug!(status = response.status, path = request.path, "answered");
    build(response)
}

fn build(r: api::HttpResponse) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(r.body)));
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    if let Ok(v) = hyper::header::HeaderValue::from_str(r.content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
