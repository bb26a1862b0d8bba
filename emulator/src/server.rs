//! Serves the API over HTTP/1.1 on an already-bound listener.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::CONNECTION;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::field::Empty;
use tracing::{debug, info, warn, Instrument};

use crate::api::{self, HttpRequest, Protocol, Shared};
use crate::model::Error;

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

/// How long a connection that ends with an error answer keeps reading what
/// the client still sends (the rest of a refused body), how long it waits
/// for more once the client goes quiet, and at most how much: closing with
/// unread input resets the connection, and the reset can destroy the answer
/// before the client reads it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_QUIET: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// Serves API requests on one connection (plain TCP, or TLS from an
/// interface endpoint of an AWS service) until the client is done or `stop`
/// resolves, then finishes the request in flight.
///
/// hyper answers a request line it cannot parse with a bare 400 and a
/// stalled head with nothing, so the connection's first request line is
/// read here first: garbage gets AWS's 400 document, a head that stalls gets
/// 408. A later request's head that stalls comes back from hyper as a
/// timeout error with the connection in hand, and gets 408 too.
pub async fn serve_connection<S>(stream: S, shared: Arc<Shared>, peer: SocketAddr, stop: impl Future<Output = ()>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let limits = shared.limits;
    let mut stream = stream;
    tokio::pin!(stop);
    // A connection that has not begun a request when the server stops has
    // nothing to finish: it is closed, not waited for (a client's idle
    // pooled connection would otherwise hold the shutdown for the whole
    // request timeout).
    let first = tokio::select! {
        first = first_line(&mut stream, limits.request_timeout) => first,
        _ = &mut stop => return,
    };
    let first = match first {
        FirstLine::Request(bytes) => bytes,
        FirstLine::Closed => return,
        FirstLine::Stalled => return answer_and_close(&mut stream, &head_timeout()).await,
        FirstLine::Garbage => {
            let err = Error::new("InvalidQueryParameter", "The request is not an HTTP/1.1 request.");
            return answer_and_close(&mut stream, &err).await;
        }
    };
    // Set when an answer closes the connection while the client may still
    // be sending (a refused or late body).
    let linger = Arc::new(AtomicBool::new(false));
    // Turns true when the server stops: the console's event streams end.
    let (closing_tx, closing) = watch::channel(false);
    let service = {
        let linger = linger.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            let linger = linger.clone();
            let closing = closing.clone();
            let span = tracing::info_span!("request", request_id = Empty, action = Empty);
            Box::pin(
                async move {
                    if req.method() == hyper::Method::GET && req.uri().path() == crate::console::EVENTS {
                        if let Some(events) = crate::console::events_response(shared.clone(), peer, closing) {
                            return Ok(events.map(http_body_util::Either::Right));
                        }
                    }
                    let resp = respond(&shared, req, peer).await.map(http_body_util::Either::Left);
                    if resp.headers().get(CONNECTION).is_some_and(|v| v == "close") {
                        linger.store(true, Ordering::Relaxed);
                    }
                    Ok::<_, std::convert::Infallible>(resp)
                }
                .instrument(span),
            )
        })
    };
    let mut conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.request_timeout)
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .keep_alive(true)
        .serve_connection(TokioIo::new(Rewind { prefix: first, stream }), service);
    let ended = tokio::select! {
        r = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => r,
        _ = &mut stop => {
            let _ = closing_tx.send(true);
            Pin::new(&mut conn).graceful_shutdown();
            std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)).await
        }
    };
    let mut io = conn.into_parts().io.into_inner();
    match ended {
        Ok(()) if linger.load(Ordering::Relaxed) => close_gently(&mut io).await,
        Ok(()) => {
            let _ = io.shutdown().await;
        }
        Err(e) if e.is_timeout() => {
            debug!("request head stalled; answering 408");
            answer_and_close(&mut io, &head_timeout()).await
        }
        Err(e) => debug!(error = %e, "connection ended"),
    }
}

fn head_timeout() -> Error {
    Error::new("RequestTimeout", "The request head did not arrive in time").with_status(408)
}

/// Writes `err` as an EC2 error document and closes the connection after
/// the client has had the chance to read it.
async fn answer_and_close<S>(io: &mut S, err: &Error)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request_id = crate::model::ids::request_id();
    let r = api::error_response(Protocol::Ec2, err, &request_id);
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        r.content_type,
        r.body.len()
    );
    debug!(%request_id, status = r.status, code = err.code, "answered before HTTP parsing");
    let write = async {
        io.write_all(head.as_bytes()).await?;
        io.write_all(r.body.as_bytes()).await?;
        io.flush().await
    };
    // A client that does not read its answer does not hold the connection.
    if let Ok(Ok(())) = tokio::time::timeout(LINGER, write).await {
        close_gently(io).await;
    }
}

/// Ends the connection with FIN after the answer, reading (and dropping)
/// what the client still sends until it closes or goes quiet, for a while
/// at most.
async fn close_gently<S>(io: &mut S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(LINGER, io.shutdown()).await;
    let drain = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut total = 0;
        while total < LINGER_BYTES {
            match tokio::time::timeout(LINGER_QUIET, io.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => total += n,
                _ => break,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// What the first bytes of a connection turn out to be.
#[derive(Debug, PartialEq, Eq)]
enum FirstLine {
    /// A plausible HTTP/1.x request line (with what followed it in the same
    /// reads), for hyper to parse.
    Request(Vec<u8>),
    /// Nothing arrived before the client closed or the timeout.
    Closed,
    /// A request line started and stopped arriving.
    Stalled,
    /// Not an HTTP/1.x request line.
    Garbage,
}

/// Reads until the first request line can be judged (or the head limit is
/// reached, which hyper answers itself).
async fn first_line<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, timeout: Duration) -> FirstLine {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = Vec::with_capacity(4096);
    loop {
        match judge_request_line(&buf) {
            Some(true) => return FirstLine::Request(buf),
            Some(false) => return FirstLine::Garbage,
            None if buf.len() >= MAX_HEAD_BYTES => return FirstLine::Request(buf),
            None => {}
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) if buf.is_empty() => return FirstLine::Closed,
            // Cut short: hyper sees the end of the input and says so.
            Ok(Ok(0)) | Ok(Err(_)) => return FirstLine::Request(buf),
            Ok(Ok(_)) => {}
            Err(_) if buf.iter().all(|b| matches!(b, b'\r' | b'\n')) => return FirstLine::Closed,
            Err(_) => return FirstLine::Stalled,
        }
    }
}

/// Whether `buf` opens with an HTTP/1.x request line (`METHOD SP target SP
/// HTTP/1.0|1.1 CRLF`, after any empty lines, as hyper accepts them):
/// `Some(true)` for a whole line, `Some(false)` as soon as a byte rules it
/// out, `None` while the bytes so far could still be one.
fn judge_request_line(buf: &[u8]) -> Option<bool> {
    let start = buf.iter().position(|b| !matches!(b, b'\r' | b'\n'))?;
    let line = &buf[start..];
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let method = line.iter().take_while(|b| is_tchar(**b)).count();
    match line.get(method) {
        None => return None,
        Some(b' ') if method > 0 => {}
        Some(_) => return Some(false),
    }
    let rest = &line[method + 1..];
    let target = rest.iter().take_while(|b| **b > b' ' && **b != 0x7f).count();
    match rest.get(target) {
        None => return None,
        Some(b' ') if target > 0 => {}
        Some(_) => return Some(false),
    }
    let version = &rest[target + 1..];
    for expected in [&b"HTTP/1.1\r\n"[..], b"HTTP/1.1\n", b"HTTP/1.0\r\n", b"HTTP/1.0\n"] {
        let n = version.len().min(expected.len());
        if version[..n] == expected[..n] {
            return if n == expected.len() { Some(true) } else { None };
        }
    }
    Some(false)
}

/// The connection's stream with the bytes read while judging its first
/// request line put back in front.
struct Rewind<S> {
    prefix: Vec<u8>,
    stream: S,
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Rewind<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

async fn respond(shared: &Shared, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let head: usize =
        parts.uri.to_string().len() + parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum::<usize>();
    if head > MAX_HEAD_BYTES {
        let message = format!("The request line and headers exceed {MAX_HEAD_BYTES} bytes");
        return refuse(Error::new("RequestHeaderSectionTooLarge", message).with_status(431));
    }
    let max = if parts.uri.path().starts_with("/_emulator/") { MAX_ADMIN_BODY_BYTES } else { MAX_BODY_BYTES };
    let too_large =
        || Error::new("RequestEntityTooLarge", format!("Request body exceeds {max} bytes")).with_status(413);
    // A declared length over the bound is refused before any of it is read.
    let declared = parts.headers.get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return refuse(too_large());
    }
    let read = tokio::time::timeout(shared.limits.request_timeout, Limited::new(body, max).collect());
    let body = match read.await {
        Ok(Ok(b)) => b.to_bytes(),
        Err(_) => {
            return refuse(Error::new("RequestTimeout", "The request body did not arrive in time").with_status(408))
        }
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return refuse(too_large()),
        Ok(Err(_)) => return refuse(Error::new("MalformedRequest", "The request body could not be read")),
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

/// An EC2 error document for a request refused before the API saw it; the
/// connection closes after it, as the rest of the request is not read.
fn refuse(err: Error) -> Response<Full<Bytes>> {
    let request_id = crate::model::ids::request_id();
    tracing::Span::current().record("request_id", tracing::field::display(&request_id));
    debug!(status = err.status, code = err.code, "refused");
    let mut r = build(api::error_response(Protocol::Ec2, &err, &request_id));
    r.headers_mut().insert(CONNECTION, hyper::header::HeaderValue::from_static("close"));
    r
}

fn build(r: api::HttpResponse) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(r.body)));
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
    if let Ok(v) = hyper::header::HeaderValue::from_str(r.content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    for (name, value) in r.headers {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
            resp.headers_mut().insert(hyper::header::HeaderName::from_static(name), v);
        }
    }
    resp
}

#[cfg(test)]
mod tests;
