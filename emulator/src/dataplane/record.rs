//! A flow's record, made once when the flow is over (see [`crate::flowlog`]).

use std::net::SocketAddrV4;

use tokio::net::TcpStream;

use super::plan::Route;
use crate::flowlog::flow::{estimated_segments, segments, NlbLeg, NlbRefusal, Packets};
use crate::flowlog::{self, Action, Ended, FlowRecord, Logs};

/// Segments each socket of a flow sent and received, read before they close.
#[derive(Debug, Clone, Copy, Default)]
pub struct Segments {
    pub client: Option<(u64, u64)>,
    pub upstream: Option<(u64, u64)>,
}

impl Segments {
    pub fn of(client: &TcpStream, upstream: Option<&TcpStream>) -> Segments {
        Segments { client: segments(client), upstream: upstream.and_then(segments) }
    }
}

/// What a flow's record needs to know from its start.
pub struct Recorder<'a> {
    pub logs: &'a Logs,
    pub route: &'a Route,
    /// The consumer's address (its VPC address when it has one).
    pub source: SocketAddrV4,
    pub start_ms: u64,
}

impl Recorder<'_> {
    /// Records the flow: `bytes` of payload from the consumer and back.
    pub fn record(&self, segs: Segments, leg: Option<NlbLeg>, bytes: (u64, u64), ended: Ended) {
        let action = match ended {
            Ended::SecurityGroup | Ended::LoadBalancerSecurityGroup | Ended::EndpointNotAvailable => Action::Reject,
            _ => Action::Accept,
        };
        let (consumer_out, consumer_in) =
            segs.client.unwrap_or_else(|| (estimated_segments(bytes.1), estimated_segments(bytes.0)));
        let mut packets = Packets { consumer_in, consumer_out, ..Packets::default() };
        if leg.is_some() {
            let (out, inn) =
                segs.upstream.unwrap_or_else(|| (estimated_segments(bytes.0), estimated_segments(bytes.1)));
            packets.target_out = out;
            packets.target_in = inn;
        }
        let names = &self.route.names;
        let load_balancer_refusal = (ended == Ended::LoadBalancerSecurityGroup).then(|| NlbRefusal {
            provider_account: names.provider_account.clone(),
            load_balancer_eni: names.load_balancer_eni.clone(),
            node: SocketAddrV4::new(self.route.node_addr, self.route.port),
        });
        self.logs.record_flow(FlowRecord {
            id: self.logs.flow_id(),
            region: self.route.region.clone(),
            vpc_endpoint_id: self.route.endpoint_id.clone(),
            consumer_account: names.consumer_account.clone(),
            endpoint_eni: names.endpoint_eni.clone(),
            source: self.source,
            destination: SocketAddrV4::new(self.route.eni_addr, self.route.port),
            nlb: leg,
            load_balancer_refusal,
            bytes_in: bytes.0,
            bytes_out: bytes.1,
            packets,
            start_ms: self.start_ms,
            end_ms: flowlog::now_ms(),
            ended,
            action,
        });
    }

    /// The provider's side of the flow, once the node has connected.
    pub fn leg(&self, upstream: &TcpStream, target_id: &str, target: SocketAddrV4) -> NlbLeg {
        let names = &self.route.names;
        let header_bytes = if self.route.proxy_protocol_v2 {
            super::proxy_protocol::header(
                self.source,
                SocketAddrV4::new(self.route.eni_addr, self.route.port),
                self.route.proxy_endpoint(),
            )
            .len() as u64
        } else {
            0
        };
        NlbLeg {
            provider_account: names.provider_account.clone(),
            load_balancer_eni: names.load_balancer_eni.clone(),
            node: SocketAddrV4::new(self.route.node_addr, upstream.local_addr().map(|a| a.port()).unwrap_or(0)),
            target_id: target_id.to_string(),
            target: flowlog::flow::target_addr(target_id, target),
            header_bytes,
        }
    }
}
