//! The HTTP edges, over in-memory streams: what a connection that is not
//! a well-behaved HTTP/1.1 client gets before it is closed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::model::{Settings, World};

const TIMEOUT: Duration = Duration::from_millis(300);

/// A connection served with a short request timeout; the client's end.
fn connect() -> DuplexStream {
    let limits = Limits { max_connections: 8, request_timeout: TIMEOUT };
    let shared = Shared::build(World::new(Settings::default()), Default::default(), None, limits);
    let (client, server) = tokio::io::duplex(1 << 16);
    let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
    tokio::spawn(serve_connection(server, shared, peer, std::future::pending()));
    client
}

/// Everything the server sends until it closes (or 5 s pass).
async fn reply(client: &mut DuplexStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn request_lines_are_judged_as_soon_as_a_byte_rules_them_out() {
    for whole in [&b"GET / HTTP/1.1\r\n"[..], b"\r\nPOST /?a=b HTTP/1.0\n", b"M-SEARCH * HTTP/1.1\r\nHost: x"] {
        assert_eq!(judge_request_line(whole), Some(true), "{whole:?}");
    }
    for partial in [&b""[..], b"\r\n", b"GET", b"GET ", b"GET /x", b"GET / HTT", b"GET / HTTP/1.1\r"] {
        assert_eq!(judge_request_line(partial), None, "{partial:?}");
    }
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"\x16\x03\x01\x02\x00",
        b"\x00",
        b" GET / HTTP/1.1\r\n",
        b"GET  / HTTP/1.1\r\n",
        b"GET /\r\n",
        b"GET / HTTP/2.0\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET / HTTP/1.1x",
        b"GET /\x01 HTTP/1.1\r\n",
    ] {
        assert_eq!(judge_request_line(garbage), Some(false), "{garbage:?}");
    }
}

#[tokio::test]
async fn garbage_gets_an_aws_shaped_400() {
    for junk in [&b"GARBAGE\r\n\r\n"[..], b"\x16\x03\x01\x02\x00hello\r\n\r\n"] {
        let mut c = connect();
        c.write_all(junk).await.unwrap();
        let r = reply(&mut c).await;
        assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
        assert!(r.contains("connection: close\r\n"), "{r}");
        assert!(r.contains("<Response><Errors><Error><Code>InvalidQueryParameter</Code>"), "{r}");
    }
}

#[tokio::test]
async fn a_stalled_head_gets_408_first_request_or_later() {
    let mut c = connect();
    c.write_all(b"POST / HT").await.unwrap();
    let r = reply(&mut c).await;
    assert!(r.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{r}");
    assert!(r.contains("<Code>RequestTimeout</Code>"), "{r}");

    // After an answered request on the same connection, hyper reads the head.
    let mut c = connect();
    let body = "Action=DescribeRegions&Version=2016-11-15";
    let request = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    c.write_all(request.as_bytes()).await.unwrap();
    let mut first = vec![0u8; 65536];
    let n = c.read(&mut first).await.unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&first[..n]));
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let r = reply(&mut c).await;
    assert!(r.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{r}");
    assert!(r.contains("<Response><Errors><Error><Code>RequestTimeout</Code>"), "{r}");

    // A connection that never sends anything is closed without a word.
    let mut c = connect();
    assert_eq!(reply(&mut c).await, "");
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_and_closes() {
    // Declared: refused before any of it is read.
    let mut c = connect();
    let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\nAction=", MAX_BODY_BYTES + 1);
    c.write_all(head.as_bytes()).await.unwrap();
    let r = reply(&mut c).await;
    assert!(r.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{r}");
    assert!(r.contains("connection: close\r\n") && r.contains("<Code>RequestEntityTooLarge</Code>"), "{r}");

    // Chunked: refused once the bound is crossed, while the client still sends.
    let mut c = connect();
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "x".repeat(1 << 20));
    let (mut read, mut write) = tokio::io::split(c);
    let sender = tokio::spawn(async move {
        for _ in 0..6 {
            if write.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = write.write_all(b"0\r\n\r\n").await;
    });
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), read.read_to_end(&mut out)).await;
    let r = String::from_utf8_lossy(&out);
    assert!(r.starts_with("HTTP/1.1 413 Payload Too Large\r\n"), "{r}");
    assert!(r.contains("<Code>RequestEntityTooLarge</Code>"), "{r}");
    let _ = sender.await;
}

/// Log lines written to memory.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_log_line_of_a_request_names_its_request_id_and_action() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("privatelink_emulator=debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // The test's runtime has one thread: the connection's task logs here.
    let _default = tracing::subscriber::set_default(subscriber);
    let mut c = connect();
    let body = "Action=DescribeVpcs&Version=2016-11-15&MaxResults=abc";
    let request =
        format!("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    c.write_all(request.as_bytes()).await.unwrap();
    let r = reply(&mut c).await;
    let request_id = r.split("<RequestID>").nth(1).and_then(|t| t.split('<').next()).unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let answered = log.lines().find(|l| l.contains("answered")).unwrap_or_else(|| panic!("no answer logged: {log}"));
    assert!(answered.contains(&format!("request_id={request_id}")), "{answered}");
    assert!(answered.contains("action=\"DescribeVpcs\""), "{answered}");
}
