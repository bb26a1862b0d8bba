//! Acting as a host inside a VPC: an address of the VPC (bound on its host
//! block, so security groups and PROXY v2 see a VPC source), name
//! resolution as that VPC sees it, and a small HTTP GET on top.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};

use crate::api::{Error, Result};

/// The emulator's status document (`GET /_emulator/status`).
pub async fn status(endpoint_url: &str) -> Result<Value> {
    let (code, body) = get(endpoint_url, "/_emulator/status", None).await?;
    if code != 200 {
        return Err(Error::Transport(format!("status answered {code}")));
    }
    serde_json::from_str(&body).map_err(|e| Error::Parse(e.to_string()))
}

async fn get(base: &str, path: &str, source: Option<Ipv4Addr>) -> Result<(u16, String)> {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    let addr: SocketAddr = match hostport.parse() {
        Ok(a) => a,
        Err(_) => return Err(Error::Transport(format!("{base} must be http://IP:PORT"))),
    };
    let stream = match (source, addr) {
        (Some(src), SocketAddr::V4(v4)) => connect_from(src, v4).await,
        _ => TcpStream::connect(addr).await,
    }
    .map_err(|e| Error::Transport(format!("{addr}: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Error::Transport(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::get(path)
        .header("host", hostport)
        .header("user-agent", "privatelink-client")
        .body(Empty::<Bytes>::new())
        .map_err(|e| Error::Transport(e.to_string()))?;
    let resp = sender.send_request(req).await.map_err(|e| Error::Transport(e.to_string()))?;
    let code = resp.status().as_u16();
    let body = resp.into_body().collect().await.map_err(|e| Error::Transport(e.to_string()))?.to_bytes();
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

async fn connect_from(source: Ipv4Addr, target: SocketAddrV4) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))?;
    socket.connect(SocketAddr::V4(target)).await
}

/// Where `ip`, inside the VPC `cidr`, lives on the host: at the same offset
/// from the base of the VPC's host block (`127.k.0.0/16`, or `127.k.16.0/20`
/// for a smaller VPC sharing block k).
fn host_of(cidr: &str, block: Ipv4Addr, ip: Ipv4Addr) -> Option<Ipv4Addr> {
    let (base, prefix) = cidr.split_once('/')?;
    let base: Ipv4Addr = base.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    let off = u32::from(ip).checked_sub(u32::from(base))?;
    (u64::from(off) < 1u64 << (32 - prefix.min(32))).then(|| Ipv4Addr::from(u32::from(block).wrapping_add(off)))
}

/// The base of the VPC's host block, from the status document's
/// `host_block` (`127.k.0.0/16`).
fn block_of(v: &Value) -> Option<Ipv4Addr> {
    v["host_block"].as_str()?.split('/').next()?.parse().ok()
}

/// A host with an address in one VPC.
#[derive(Debug, Clone)]
pub struct Host {
    endpoint_url: String,
    pub vpc_id: String,
    pub address: Ipv4Addr,
    /// Where `address` lives on this machine (127.k.x.y).
    pub host_address: Ipv4Addr,
}

impl Host {
    /// A host at `address` (inside the VPC's CIDR) in `vpc_id`.
    pub async fn in_vpc(endpoint_url: &str, vpc_id: &str, address: Ipv4Addr) -> Result<Host> {
        let st = status(endpoint_url).await?;
        let vpc = find_vpc(&st, vpc_id).ok_or_else(|| Error::Parse(format!("no VPC {vpc_id} in the emulator")))?;
        let block = block_of(&vpc).ok_or_else(|| Error::Parse("status without host_block".into()))?;
        let host_address = host_of(vpc["cidr"].as_str().unwrap_or(""), block, address)
            .ok_or_else(|| Error::Parse(format!("{address} is not inside {vpc_id}")))?;
        Ok(Host { endpoint_url: endpoint_url.to_string(), vpc_id: vpc_id.to_string(), address, host_address })
    }

    /// Resolves a name through this VPC's resolver (block base + 2 on the
    /// emulator's DNS port), as the host's resolver library would: an
    /// endpoint's regional and zonal names resolve everywhere, its private
    /// DNS name only inside its VPC. Answers are host addresses (where to
    /// connect on this machine). An emulator without DNS is asked through
    /// its status document instead.
    pub async fn resolve(&self, name: &str) -> Result<Vec<Ipv4Addr>> {
        Ok(self.resolve_with_ttls(name).await?.into_iter().map(|(ip, _)| ip).collect())
    }

    /// [`Host::resolve`] with each address's TTL (the record set's, for a
    /// hosted zone's name; 60 for the emulator's own names).
    pub async fn resolve_with_ttls(&self, name: &str) -> Result<Vec<(Ipv4Addr, u32)>> {
        let st = status(&self.endpoint_url).await?;
        if let Some(port) = st["dns"]["vpc_resolver_port"].as_u64() {
            let vpc = find_vpc(&st, &self.vpc_id).ok_or_else(|| Error::Parse(format!("no VPC {}", self.vpc_id)))?;
            let block = block_of(&vpc).ok_or_else(|| Error::Parse("status without host_block".into()))?;
            let resolver = SocketAddrV4::new(Ipv4Addr::from(u32::from(block) + 2), port as u16);
            return Ok(crate::dns::query_a(resolver, self.host_address, name).await?.records);
        }
        Ok(resolve_from_status(&st, &self.vpc_id, name).into_iter().map(|ip| (ip, 60)).collect())
    }

    /// A TCP connection from this host's address.
    pub async fn connect(&self, target: SocketAddrV4) -> std::io::Result<TcpStream> {
        connect_from(self.host_address, target).await
    }

    /// GET `url` (`http://NAME[:PORT]/PATH`) from this host: the name is
    /// resolved as the VPC sees it; answers (status, body).
    pub async fn http_get(&self, url: &str) -> Result<(u16, String)> {
        let rest = url.strip_prefix("http://").ok_or_else(|| Error::Transport(format!("{url}: only http:// URLs")))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (name, port) = match authority.rsplit_once(':') {
            Some((n, p)) => (n, p.parse().map_err(|_| Error::Transport(format!("bad port in {url}")))?),
            None => (authority, 80u16),
        };
        let ip = match name.parse::<Ipv4Addr>() {
            Ok(ip) => ip,
            Err(_) => *self
                .resolve(name)
                .await?
                .first()
                .ok_or_else(|| Error::Transport(format!("{name}: name does not resolve in {}", self.vpc_id)))?,
        };
        get(&format!("http://{ip}:{port}"), path, Some(self.host_address)).await
    }
}

fn find_vpc(st: &Value, vpc_id: &str) -> Option<Value> {
    st["regions"]
        .as_array()?
        .iter()
        .flat_map(|r| r["vpcs"].as_array().cloned().unwrap_or_default())
        .find(|v| v["vpc_id"].as_str() == Some(vpc_id))
}

/// The same lookup from the status document, for an emulator without DNS.
fn resolve_from_status(st: &Value, own_vpc: &str, name: &str) -> Vec<Ipv4Addr> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let mut out = Vec::new();
    for region in st["regions"].as_array().into_iter().flatten() {
        for e in region["vpc_endpoints"].as_array().into_iter().flatten() {
            let names: Vec<&str> = e["dns_names"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let Some(pos) = names.iter().position(|n| *n == name) else { continue };
            let vpc_id = e["vpc_id"].as_str().unwrap_or("");
            let private = !name.contains(".vpce.amazonaws.com");
            if private && vpc_id != own_vpc {
                continue;
            }
            let Some(vpc) = find_vpc(st, vpc_id) else { continue };
            let Some(block) = block_of(&vpc) else { continue };
            let cidr = vpc["cidr"].as_str().unwrap_or("");
            let zones = e["zones"].as_array().cloned().unwrap_or_default();
            let label = name.split('.').next().unwrap_or("");
            for (i, a) in e["addresses"].as_array().into_iter().flatten().filter_map(Value::as_str).enumerate() {
                let Ok(ip) = a.parse::<Ipv4Addr>() else { continue };
                // A zonal name answers only its zone's address.
                let zone = zones.get(i).and_then(Value::as_str).unwrap_or("");
                if pos > 0 && !private && !label.ends_with(zone) {
                    continue;
                }
                if let Some(h) = host_of(cidr, block, ip) {
                    out.push(h);
                }
            }
        }
    }
    out
}
