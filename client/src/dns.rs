//! A minimal DNS stub: one A query over UDP, as a host's resolver library
//! sends it to the VPC's resolver.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::api::{Error, Result};

/// What came back: the response code and the A records with their TTLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// 0 NOERROR, 3 NXDOMAIN, ...
    pub rcode: u8,
    pub records: Vec<(Ipv4Addr, u32)>,
}

fn encode_query(id: u16, name: &str) -> Result<Vec<u8>> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD; one question
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(Error::Transport(format!("{name}: not a valid DNS name")));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 1, 0, 1]); // A, IN
    Ok(q)
}

fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)? as usize;
        if len == 0 {
            return Some(at + 1);
        }
        if len & 0xC0 == 0xC0 {
            return Some(at + 2);
        }
        at += 1 + len;
    }
}

fn decode(id: u16, msg: &[u8]) -> Option<Answer> {
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id {
        return None;
    }
    let rcode = msg[3] & 0x0F;
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(msg, at)? + 4;
    }
    let mut records = Vec::new();
    for _ in 0..an {
        at = skip_name(msg, at)?;
        let head = msg.get(at..at + 10)?;
        let (kind, ttl, len) = (
            u16::from_be_bytes([head[0], head[1]]),
            u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
            u16::from_be_bytes([head[8], head[9]]) as usize,
        );
        let data = msg.get(at + 10..at + 10 + len)?;
        if kind == 1 && len == 4 {
            records.push((Ipv4Addr::new(data[0], data[1], data[2], data[3]), ttl));
        }
        at += 10 + len;
    }
    Some(Answer { rcode, records })
}

/// Asks `server` for the A records of `name`, from `source`.
pub async fn query_a(server: SocketAddrV4, source: Ipv4Addr, name: &str) -> Result<Answer> {
    let id = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(7)
        & 0xFFFF) as u16;
    let query = encode_query(id, name)?;
    let socket = UdpSocket::bind(SocketAddr::V4(SocketAddrV4::new(source, 0)))
        .await
        .map_err(|e| Error::Transport(format!("bind {source}: {e}")))?;
    let mut buf = vec![0u8; 4096];
    for _ in 0..3 {
        socket.send_to(&query, SocketAddr::V4(server)).await.map_err(|e| Error::Transport(e.to_string()))?;
        match tokio::time::timeout(Duration::from_millis(700), socket.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => {
                if let Some(a) = decode(id, &buf[..n]) {
                    return Ok(a);
                }
            }
            Ok(Err(e)) => return Err(Error::Transport(format!("{server}: {e}"))),
            Err(_) => continue,
        }
    }
    Err(Error::Transport(format!("no answer from the resolver at {server}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_a_canned_answer() {
        let q = encode_query(0x1234, "a.example.com").unwrap();
        let mut r = q.clone();
        r[2] = 0x85; // QR, AA, RD
        r[3] = 0x80;
        r[7] = 1; // one answer
        r.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 24, 20, 69]);
        let a = decode(0x1234, &r).unwrap();
        assert_eq!(a, Answer { rcode: 0, records: vec![(Ipv4Addr::new(10, 24, 20, 69), 60)] });
        assert!(decode(0x9999, &r).is_none());
        assert!(decode(0x1234, &r[..20]).is_none() || decode(0x1234, &r[..20]).unwrap().records.is_empty());
        assert!(encode_query(1, "bad..name").is_err());
    }
}
