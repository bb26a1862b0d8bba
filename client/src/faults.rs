//! Injected faults through the emulator's admin API (`/_emulator/faults`):
//! add one, list them, clear one or all.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::api::{Error, Result};

async fn request(base: &str, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    let addr: SocketAddr = hostport.parse().map_err(|_| Error::Transport(format!("{base} must be http://IP:PORT")))?;
    let stream = TcpStream::connect(addr).await.map_err(|e| Error::Transport(format!("{addr}: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Error::Transport(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", hostport)
        .header("content-type", "application/json")
        .body(Full::new(bytes))
        .map_err(|e| Error::Transport(e.to_string()))?;
    let resp = sender.send_request(req).await.map_err(|e| Error::Transport(e.to_string()))?;
    let code = resp.status().as_u16();
    let body = resp.into_body().collect().await.map_err(|e| Error::Transport(e.to_string()))?.to_bytes();
    let value = serde_json::from_slice(&body).map_err(|e| Error::Parse(e.to_string()))?;
    Ok((code, value))
}

fn refused(code: u16, v: &Value) -> Error {
    Error::Transport(format!("the emulator answered {code}: {}", v["error"].as_str().unwrap_or("")))
}

/// Adds a fault (a JSON object with `kind`, see the emulator's README),
/// expiring after `for_seconds` when given; returns it as the emulator has it.
pub async fn add(base: &str, mut spec: Value, for_seconds: Option<f64>) -> Result<Value> {
    if let Some(s) = for_seconds {
        spec["for_seconds"] = s.into();
    }
    let (code, v) = request(base, "POST", "/_emulator/faults", Some(&spec)).await?;
    if code != 200 {
        return Err(refused(code, &v));
    }
    Ok(v)
}

/// The faults in force.
pub async fn list(base: &str) -> Result<Vec<Value>> {
    let (code, v) = request(base, "GET", "/_emulator/faults", None).await?;
    if code != 200 {
        return Err(refused(code, &v));
    }
    Ok(v["faults"].as_array().cloned().unwrap_or_default())
}

/// Clears one fault by id, or every fault; returns how many went.
pub async fn clear(base: &str, id: Option<&str>) -> Result<u64> {
    let path = match id {
        Some(id) => format!("/_emulator/faults?id={id}"),
        None => "/_emulator/faults".to_string(),
    };
    let (code, v) = request(base, "DELETE", &path, None).await?;
    if code != 200 {
        return Err(refused(code, &v));
    }
    Ok(v["removed"].as_u64().unwrap_or(0))
}

/// One line about a fault: id, kind, its settings, hits and expiry.
pub fn describe(f: &Value) -> String {
    let mut line = format!("{} {}", f["id"].as_str().unwrap_or("?"), f["kind"].as_str().unwrap_or("?"));
    if let Some(o) = f.as_object() {
        for (k, v) in o {
            if matches!(k.as_str(), "id" | "kind" | "created_ms" | "expires_ms" | "hits") || v.is_null() {
                continue;
            }
            let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            line.push_str(&format!(" {k}={v}"));
        }
    }
    line.push_str(&format!(" hits={}", f["hits"]));
    if let (Some(e), Some(c)) = (f["expires_ms"].as_u64(), f["created_ms"].as_u64()) {
        line.push_str(&format!(" expires {}s after it began", (e.saturating_sub(c)) / 1000));
    }
    line
}
