//! Answers one DNS request from one view of the index.
//!
//! - A name with the asked type: its records (TTL 60 for the emulator's
//!   own names, the record set's for hosted zones), AA set; aliases and
//!   CNAMEs as [`super::answer`] resolves them.
//! - A name that exists without that type (AAAA of an IPv4 endpoint, an
//!   empty non-terminal): NOERROR with no answer and the zone's SOA in the
//!   authority section (NODATA).
//! - A name in a zone the view owns that does not exist: NXDOMAIN with the
//!   SOA.
//! - Any other name: forwarded to the upstream resolver when one is
//!   configured, otherwise NXDOMAIN without AA. NXDOMAIN rather than
//!   REFUSED because a VPC resolver answers for the whole namespace: the
//!   emulator's offline world simply has no such name.
//! - More or less than one question: FORMERR; opcodes other than QUERY:
//!   NOTIMP; classes other than IN: REFUSED; EDNS versions above 0: BADVERS.
//!   Undecodable packets never reach this handler ([`super::transport`]
//!   answers FORMERR when the header is readable and drops the rest).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::{DNSClass, RData, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tracing::debug;

use super::answer::{records, Pick};
use super::index::{Index, View};
use super::names::RrSets;
use crate::flowlog::query::{QueryRecord, Resolver};

/// Largest UDP answer offered to EDNS clients (the DNS flag day size).
pub(super) const MAX_UDP_PAYLOAD: u16 = 1232;
/// How long a forwarded question may wait for the upstream resolver.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The request handler of one listener: the public view or one VPC's.
#[derive(Clone)]
pub struct Handler {
    index: Arc<RwLock<Index>>,
    view: View,
    upstream: Option<SocketAddr>,
    log: Option<QueryLog>,
    faults: Option<Arc<crate::faults::Faults>>,
}

/// Where a listener's questions are recorded, and what names its resolver.
#[derive(Clone)]
pub struct QueryLog {
    pub logs: Arc<crate::flowlog::Logs>,
    pub resolver: Arc<Resolver>,
    /// The VPC's block, so a client inside it is logged at its VPC address.
    pub block: Option<crate::addressing::VpcBlock>,
}

/// A response decided under the index's read lock, sent after it is released.
enum Reply {
    Error(ResponseCode),
    /// Records of the index; `soa` goes to the authority section.
    Records {
        code: ResponseCode,
        authoritative: bool,
        shared: Vec<(Arc<RrSets>, Pick)>,
        owned: Vec<Record>,
        soa: Option<Arc<Record>>,
    },
    Forward(SocketAddr),
}

impl Handler {
    pub fn new(index: Arc<RwLock<Index>>, view: View, upstream: Option<SocketAddr>) -> Self {
        Handler { index, view, upstream, log: None, faults: None }
    }

    /// Whether an answer may wait on the network (questions forwarded to
    /// the upstream resolver), so that it is sent from a task of its own.
    pub fn may_wait(&self) -> bool {
        self.upstream.is_some()
    }

    /// Records every question answered in the query log.
    pub fn logging(mut self, log: QueryLog) -> Self {
        self.log = Some(log);
        self
    }

    /// The answer without the addresses of zones an injected fault has
    /// down, when it has some of those and others (as Route 53 leaves an
    /// unhealthy zone's address out of a name's answers, unless every
    /// address is unhealthy); `None` to answer as the index has it.
    fn without_failed_zones(&self, shared: &[(Arc<RrSets>, Pick)], owned: &[Record]) -> Option<Vec<Record>> {
        let hidden = self.faults.as_ref()?.hidden_addresses();
        if hidden.is_empty() {
            return None;
        }
        let all: Vec<&Record> = shared.iter().flat_map(|(rr, p)| records(rr, *p)).chain(owned.iter()).collect();
        let is_hidden = |r: &Record| matches!(&r.data, RData::A(a) if hidden.contains(&a.0));
        let kept: Vec<Record> = all.iter().filter(|r| !is_hidden(r)).map(|r| (*r).clone()).collect();
        (!kept.is_empty() && kept.len() < all.len()).then_some(kept)
    }

    /// Obeys the zone faults in `faults` (see [`crate::faults`]).
    pub fn with_faults(mut self, faults: Arc<crate::faults::Faults>) -> Self {
        self.faults = Some(faults);
        self
    }

    /// Records a question and its answer, when this listener logs.
    fn note<'a>(&self, request: &Request, code: ResponseCode, answers: impl Iterator<Item = &'a Record>) {
        let Some(log) = &self.log else { return };
        let Some(query) = request.queries.queries().first() else { return };
        let mut source = request.src();
        if let (SocketAddr::V4(v4), Some(block)) = (source, log.block.as_ref()) {
            if let Some(ip) = block.vpc_addr(*v4.ip()) {
                source = SocketAddr::new(ip.into(), v4.port());
            }
        }
        log.logs.record_query(QueryRecord {
            resolver: log.resolver.clone(),
            at_ms: crate::flowlog::now_ms(),
            name: query.name().clone(),
            qtype: query.query_type(),
            qclass: query.query_class(),
            rcode: code,
            answers: answers.map(|r| (r.record_type(), r.data.clone())).collect(),
            source,
            transport: if request.protocol().is_datagram() { "UDP" } else { "TCP" },
        });
    }

    fn decide(&self, request: &Request) -> Reply {
        let queries = request.queries.queries();
        if request.metadata.op_code != OpCode::Query {
            return Reply::Error(ResponseCode::NotImp);
        }
        if queries.len() != 1 {
            return Reply::Error(ResponseCode::FormErr);
        }
        let query = &queries[0];
        if query.query_class() != DNSClass::IN {
            return Reply::Error(ResponseCode::Refused);
        }
        let qtype = query.query_type();
        if matches!(qtype, RecordType::AXFR | RecordType::IXFR) {
            return Reply::Error(ResponseCode::Refused);
        }
        let text = query.name().to_string();
        let name = text.strip_suffix('.').unwrap_or(&text);
        let answer = {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            index.answer(&self.view, query.name(), name, qtype)
        };
        match answer {
            Some(a) => {
                Reply::Records { code: a.code, authoritative: true, shared: a.shared, owned: a.owned, soa: a.soa }
            }
            None => match self.upstream {
                Some(up) => Reply::Forward(up),
                None => Reply::Records {
                    code: ResponseCode::NXDomain,
                    authoritative: false,
                    shared: Vec::new(),
                    owned: Vec::new(),
                    soa: None,
                },
            },
        }
    }
}

/// The EDNS of the response, when the request had one.
fn response_edns(request: &Request) -> Option<Edns> {
    let theirs = request.edns.as_ref()?;
    let mut edns = Edns::new();
    edns.set_max_payload(theirs.max_payload().clamp(512, MAX_UDP_PAYLOAD));
    edns.set_version(0);
    Some(edns)
}

/// Sends a question to the upstream resolver and returns its answer.
async fn ask_upstream(upstream: SocketAddr, raw: &[u8]) -> Option<Message> {
    let bind: SocketAddr = if upstream.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(bind).await.ok()?;
    socket.send_to(raw, upstream).await.ok()?;
    let mut buf = vec![0u8; 65_535];
    let wait = async {
        loop {
            let (n, from) = socket.recv_from(&mut buf).await.ok()?;
            if from == upstream {
                return Message::from_vec(&buf[..n]).ok();
            }
        }
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, wait).await.ok().flatten()
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(&self, request: &Request, mut response: R) -> ResponseInfo {
        let edns = response_edns(request);
        let builder = || {
            let mut b = MessageResponseBuilder::new(&request.queries, None);
            if let Some(e) = edns.as_ref() {
                b.edns(e);
            }
            b
        };
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            self.note(request, ResponseCode::BADVERS, std::iter::empty());
            return send(&mut response, builder().error_msg(&request.metadata, ResponseCode::BADVERS)).await;
        }
        let mut metadata = Metadata::response_from_request(&request.metadata);
        match self.decide(request) {
            Reply::Error(code) => {
                self.note(request, code, std::iter::empty());
                send(&mut response, builder().error_msg(&request.metadata, code)).await
            }
            Reply::Records { code, authoritative, mut shared, mut owned, soa } => {
                if let Some(kept) = self.without_failed_zones(&shared, &owned) {
                    shared.clear();
                    owned = kept;
                }
                metadata.response_code = code;
                metadata.authoritative = authoritative;
                if matches!(self.view, View::Vpc(_)) {
                    // A VPC's resolver is a recursive resolver (flags
                    // `qr rd ra` on AWS), not the zone's authority.
                    metadata.authoritative = false;
                    metadata.recursion_available = true;
                }
                let answers = || shared.iter().flat_map(|(rr, p)| records(rr, *p)).chain(owned.iter());
                self.note(request, code, answers());
                let answers = answers();
                let reply = builder().build(metadata, answers, std::iter::empty(), soa.as_deref(), std::iter::empty());
                send(&mut response, reply).await
            }
            Reply::Forward(upstream) => match ask_upstream(upstream, request.as_slice()).await {
                Some(m) => {
                    self.note(request, m.metadata.response_code, m.answers.iter());
                    metadata.response_code = m.metadata.response_code;
                    metadata.recursion_available = m.metadata.recursion_available;
                    let reply = builder().build(
                        metadata,
                        m.answers.iter(),
                        m.authorities.iter(),
                        std::iter::empty(),
                        m.additionals.iter().filter(|r| r.record_type() != RecordType::OPT),
                    );
                    send(&mut response, reply).await
                }
                None => {
                    self.note(request, ResponseCode::ServFail, std::iter::empty());
                    send(&mut response, builder().error_msg(&request.metadata, ResponseCode::ServFail)).await
                }
            },
        }
    }
}

async fn send<'a, R: ResponseHandler>(
    response: &mut R,
    message: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
) -> ResponseInfo {
    match response.send_response(message).await {
        Ok(info) => info,
        Err(e) => {
            debug!(error = %e, "could not send a DNS response");
            let mut metadata = Metadata::new(0, MessageType::Response, OpCode::Query);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(hickory_server::proto::op::Header { metadata, counts: Default::default() })
        }
    }
}
