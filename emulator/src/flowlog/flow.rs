//! One flow through an endpoint as it ended, and the VPC Flow Logs
//! (version 2) records AWS would write for it.
//!
//! A flow touches two network interfaces: the consumer's endpoint ENI
//! (consumer -> ENI and back) and, once a target is chosen, the provider's
//! NLB ENI in the node's zone (node -> target and back, the node's address
//! being what the target sees). Each carries one record per direction, in
//! the account owning the interface. A flow refused by the ENI's security
//! groups, or by an endpoint that is not available, gets one REJECT record
//! for its inbound direction on the endpoint ENI, as AWS logs dropped
//! traffic.
//!
//! A flow the NLB's security groups refuse passed the endpoint ENI's groups
//! and was dropped at the NLB: an ACCEPT record of its inbound direction on
//! the endpoint ENI, and a REJECT record on the NLB's ENI in the node's
//! zone, from the client's private address (the source those rules see)
//! to the node's address and the listener port. Nothing came back, so
//! neither interface has an outbound record (the reset the emulator sends
//! the client in place of AWS's silence is not logged).
//!
//! Packets are the TCP segments each socket counted (Linux's `TCP_INFO`,
//! SYN, FIN and pure ACKs included; on loopback one segment can carry up to
//! 64 KiB). Bytes are the TCP payload the data plane moved plus 40 bytes of
//! IPv4 and TCP headers per packet (their size without options), which is
//! how flow logs count bytes: whole IP packets.

use std::net::{Ipv4Addr, SocketAddrV4};

use serde::Serialize;

/// The fields of a version 2 record, as the header of a flow log file.
pub const V2_HEADER: &str =
    "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

/// IPv4 and TCP headers without options.
pub const HEADER_BYTES: u64 = 40;

/// How a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ended {
    /// Both sides closed with FIN.
    Closed,
    /// A side reset or failed; the other side was reset too.
    Reset,
    /// Idle longer than the listener's idle timeout.
    IdleTimeout,
    /// The endpoint stopped being available (rejected, deleted).
    EndpointGone,
    /// The emulator shut down.
    Shutdown,
    /// The endpoint ENI's security groups do not admit the source and port.
    SecurityGroup,
    /// The NLB's security groups, enforced on PrivateLink traffic, do not
    /// admit the client and port. Logged as an ACCEPT of the inbound
    /// direction on the endpoint ENI and a REJECT on the NLB's ENI (see
    /// [`FlowRecord::load_balancer_refusal`]).
    LoadBalancerSecurityGroup,
    /// The endpoint has its interfaces but is not available (its
    /// connection awaits acceptance, or is being set up): the flow is
    /// refused, logged as a REJECT of the inbound direction on the
    /// endpoint ENI.
    EndpointNotAvailable,
    /// No registered target may take the flow.
    NoTarget,
    /// The chosen target refused or did not answer.
    TargetUnreachable,
    /// The zone of the ENI or NLB node is down (an injected fault): nothing
    /// answered.
    ZoneDown,
    /// Reset by an injected fault.
    InjectedReset,
}

/// Whether a flow was let through, or refused by a security group (the
/// endpoint ENI's or the NLB's) or by an endpoint that is not available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Action {
    Accept,
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "ACCEPT",
            Action::Reject => "REJECT",
        }
    }
}

/// Segments seen on each socket of a flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Packets {
    /// From the consumer to the endpoint ENI, and back.
    pub consumer_in: u64,
    pub consumer_out: u64,
    /// From the NLB node to the target, and back.
    pub target_out: u64,
    pub target_in: u64,
}

/// The provider's side of a flow: the NLB node it entered by and the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NlbLeg {
    pub provider_account: String,
    pub load_balancer_eni: String,
    /// The node's VPC address and the port the target saw the flow from.
    pub node: SocketAddrV4,
    pub target_id: String,
    /// The target's VPC address (its registered IP) and port.
    pub target: SocketAddrV4,
    /// Bytes sent to the target before the consumer's (a PROXY v2 header).
    pub header_bytes: u64,
}

/// Where the NLB's security groups refused a flow: its ENI in the zone of
/// the node the flow entered by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NlbRefusal {
    pub provider_account: String,
    pub load_balancer_eni: String,
    /// The node's VPC address and the listener port.
    pub node: SocketAddrV4,
}

/// One flow through an endpoint, from its first packet to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowRecord {
    pub id: u64,
    pub region: String,
    pub vpc_endpoint_id: String,
    pub consumer_account: String,
    pub endpoint_eni: String,
    /// The consumer's address: its VPC address, or its host address for a
    /// client outside every VPC block.
    pub source: SocketAddrV4,
    /// The endpoint ENI's VPC address and the listener port.
    pub destination: SocketAddrV4,
    pub nlb: Option<NlbLeg>,
    /// Set when the NLB's security groups refused the flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer_refusal: Option<NlbRefusal>,
    /// TCP payload from the consumer to the target, and back.
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets: Packets,
    /// Milliseconds since the epoch.
    pub start_ms: u64,
    pub end_ms: u64,
    pub ended: Ended,
    pub action: Action,
}

/// One version 2 record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Record<'a> {
    pub account_id: &'a str,
    pub interface_id: &'a str,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub packets: u64,
    pub bytes: u64,
    pub start: u64,
    pub end: u64,
    pub action: Action,
}

impl std::fmt::Display for V2Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "2 {} {} {} {} {} {} 6 {} {} {} {} {} OK",
            self.account_id,
            self.interface_id,
            self.src.ip(),
            self.dst.ip(),
            self.src.port(),
            self.dst.port(),
            self.packets,
            self.bytes,
            self.start,
            self.end,
            self.action.as_str()
        )
    }
}

impl FlowRecord {
    /// The flow log records of this flow: the endpoint ENI's, then the NLB
    /// ENI's; a direction that carried no packet has none.
    pub fn v2_records(&self) -> Vec<V2Record<'_>> {
        let (start, end) = (self.start_ms / 1000, self.end_ms.max(self.start_ms) / 1000);
        let p = &self.packets;
        let record = |account, eni, src, dst, packets: u64, payload: u64, action| V2Record {
            account_id: account,
            interface_id: eni,
            src,
            dst,
            packets,
            bytes: payload + HEADER_BYTES * packets,
            start,
            end,
            action,
        };
        let (account, eni) = (self.consumer_account.as_str(), self.endpoint_eni.as_str());
        let inbound = p.consumer_in.max(1);
        if let Some(n) = &self.load_balancer_refusal {
            return vec![
                record(account, eni, self.source, self.destination, inbound, self.bytes_in, Action::Accept),
                record(
                    &n.provider_account,
                    &n.load_balancer_eni,
                    self.source,
                    n.node,
                    inbound,
                    self.bytes_in,
                    Action::Reject,
                ),
            ];
        }
        let mut out = vec![record(account, eni, self.source, self.destination, inbound, self.bytes_in, self.action)];
        if self.action == Action::Reject {
            return out;
        }
        if p.consumer_out > 0 {
            out.push(record(account, eni, self.destination, self.source, p.consumer_out, self.bytes_out, self.action));
        }
        if let Some(n) = &self.nlb {
            let (account, eni) = (n.provider_account.as_str(), n.load_balancer_eni.as_str());
            if p.target_out > 0 {
                let bytes = self.bytes_in + n.header_bytes;
                out.push(record(account, eni, n.node, n.target, p.target_out, bytes, self.action));
            }
            if p.target_in > 0 {
                out.push(record(account, eni, n.target, n.node, p.target_in, self.bytes_out, self.action));
            }
        }
        out
    }

    pub fn v2_lines(&self) -> Vec<String> {
        self.v2_records().iter().map(ToString::to_string).collect()
    }

    /// Whether any record of this flow is on `interface_id`.
    pub fn touches(&self, interface_id: &str) -> bool {
        self.endpoint_eni == interface_id
            || self.nlb.as_ref().is_some_and(|n| n.load_balancer_eni == interface_id)
            || self.load_balancer_refusal.as_ref().is_some_and(|n| n.load_balancer_eni == interface_id)
    }
}

/// Segments a socket sent and received so far, from the kernel.
#[cfg(target_os = "linux")]
pub fn segments(stream: &tokio::net::TcpStream) -> Option<(u64, u64)> {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain data; zeroes are a valid value of it.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: an open socket, a buffer of `len` bytes and its length.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    (r == 0).then_some((u64::from(info.tcpi_segs_out), u64::from(info.tcpi_segs_in)))
}

/// Elsewhere the kernel does not say: segments are estimated from the bytes.
#[cfg(not(target_os = "linux"))]
pub fn segments(_stream: &tokio::net::TcpStream) -> Option<(u64, u64)> {
    None
}

/// An estimate of the segments of `bytes` of payload, with the handshake
/// and the close, for systems without `TCP_INFO`.
pub fn estimated_segments(bytes: u64) -> u64 {
    2 + bytes.div_ceil(1448)
}

/// The address of an ip target in its VPC (its registered IP), or where it
/// is dialled for a target outside every VPC.
pub fn target_addr(id: &str, dial: SocketAddrV4) -> SocketAddrV4 {
    match id.parse::<Ipv4Addr>() {
        Ok(ip) => SocketAddrV4::new(ip, dial.port()),
        Err(_) => dial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: Action) -> FlowRecord {
        FlowRecord {
            id: 1,
            region: "ap-northeast-1".into(),
            vpc_endpoint_id: "vpce-0123456789abcdef0".into(),
            consumer_account: "222222222222".into(),
            endpoint_eni: "eni-0aaaaaaaaaaaaaaaa".into(),
            source: "10.24.16.99:40000".parse().unwrap(),
            destination: "10.24.20.69:80".parse().unwrap(),
            nlb: (action == Action::Accept).then(|| NlbLeg {
                provider_account: "111111111111".into(),
                load_balancer_eni: "eni-0bbbbbbbbbbbbbbbb".into(),
                node: "10.0.128.6:51000".parse().unwrap(),
                target_id: "10.0.128.142".into(),
                target: "10.0.128.142:8080".parse().unwrap(),
                header_bytes: 0,
            }),
            load_balancer_refusal: None,
            bytes_in: 78,
            bytes_out: 850,
            packets: Packets { consumer_in: 6, consumer_out: 4, target_out: 5, target_in: 4 },
            start_ms: 1_700_000_000_400,
            end_ms: 1_700_000_001_200,
            ended: Ended::Closed,
            action,
        }
    }

    #[test]
    fn an_accepted_flow_has_two_records_on_each_interface() {
        let lines = record(Action::Accept).v2_lines();
        assert_eq!(
            lines,
            vec![
                "2 222222222222 eni-0aaaaaaaaaaaaaaaa 10.24.16.99 10.24.20.69 40000 80 6 6 318 1700000000 1700000001 ACCEPT OK",
                "2 222222222222 eni-0aaaaaaaaaaaaaaaa 10.24.20.69 10.24.16.99 80 40000 6 4 1010 1700000000 1700000001 ACCEPT OK",
                "2 111111111111 eni-0bbbbbbbbbbbbbbbb 10.0.128.6 10.0.128.142 51000 8080 6 5 278 1700000000 1700000001 ACCEPT OK",
                "2 111111111111 eni-0bbbbbbbbbbbbbbbb 10.0.128.142 10.0.128.6 8080 51000 6 4 1010 1700000000 1700000001 ACCEPT OK",
            ]
        );
        assert_eq!(V2_HEADER.split(' ').count(), lines[0].split(' ').count());
    }

    #[test]
    fn a_rejected_flow_has_its_inbound_record_only() {
        let mut r = record(Action::Reject);
        r.bytes_in = 0;
        r.bytes_out = 0;
        r.packets = Packets { consumer_in: 2, ..Packets::default() };
        assert_eq!(
            r.v2_lines(),
            vec!["2 222222222222 eni-0aaaaaaaaaaaaaaaa 10.24.16.99 10.24.20.69 40000 80 6 2 80 1700000000 1700000001 REJECT OK"]
        );
    }

    #[test]
    fn a_flow_the_load_balancer_refuses_is_accepted_by_the_endpoint_and_rejected_by_the_nlb() {
        let mut r = record(Action::Reject);
        r.ended = Ended::LoadBalancerSecurityGroup;
        (r.bytes_in, r.bytes_out) = (0, 0);
        r.packets = Packets { consumer_in: 2, ..Packets::default() };
        r.load_balancer_refusal = Some(NlbRefusal {
            provider_account: "111111111111".into(),
            load_balancer_eni: "eni-0bbbbbbbbbbbbbbbb".into(),
            node: "10.0.128.6:80".parse().unwrap(),
        });
        assert_eq!(
            r.v2_lines(),
            vec![
                "2 222222222222 eni-0aaaaaaaaaaaaaaaa 10.24.16.99 10.24.20.69 40000 80 6 2 80 1700000000 1700000001 ACCEPT OK",
                "2 111111111111 eni-0bbbbbbbbbbbbbbbb 10.24.16.99 10.0.128.6 40000 80 6 2 80 1700000000 1700000001 REJECT OK",
            ]
        );
        assert!(r.touches("eni-0bbbbbbbbbbbbbbbb") && r.touches("eni-0aaaaaaaaaaaaaaaa"));
    }
}
