//! One DNS question and its answer, in the format of Route 53 Resolver
//! query logs (version 1.100000): the VPC's owner, region and id, the
//! question, the response code and answers, and where it came from.
//!
//! Questions to the public view (the vpce names any host may resolve) are
//! kept the same way, without `account_id`, `region` and `vpc_id`: no VPC's resolver
//! answered them.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{DNSClass, LowerName, RData, RecordType};
use serde_json::{json, Value};

/// Which resolver answered: a VPC's (at its base + 2) or the public view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    pub region: String,
    /// The VPC and its owner; `None` for the public view.
    pub vpc: Option<(String, String)>,
}

/// One question as the resolver saw and answered it. Kept as the answer's
/// own values and spelled out only when read: a resolver records every
/// question, and most records are never read before the ring forgets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRecord {
    pub resolver: Arc<Resolver>,
    pub at_ms: u64,
    /// Fully qualified, as the client asked it.
    pub name: LowerName,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub rcode: ResponseCode,
    /// Each answer record's type and data.
    pub answers: Vec<(RecordType, RData)>,
    /// The client: its VPC address when it is inside the VPC's block.
    pub source: SocketAddr,
    pub transport: &'static str,
}

impl QueryRecord {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "version": "1.100000",
            "query_timestamp": timestamp(self.at_ms),
            "query_name": self.name.to_string(),
            "query_type": self.qtype.to_string(),
            "query_class": self.qclass.to_string(),
            "rcode": rcode_name(self.rcode),
            "answers": self.answers.iter()
                .map(|(rtype, rdata)| json!({"Rdata": rdata.to_string(), "Type": rtype.to_string(), "Class": "IN"}))
                .collect::<Vec<_>>(),
            "srcaddr": self.source.ip().to_string(),
            "srcport": self.source.port().to_string(),
            "transport": self.transport,
        });
        if let Some((vpc_id, account)) = &self.resolver.vpc {
            v["account_id"] = json!(account);
            v["region"] = json!(self.resolver.region);
            v["vpc_id"] = json!(vpc_id);
        }
        v
    }
}

/// A response code as dig and the query log spell it.
pub fn rcode_name(code: ResponseCode) -> String {
    match u16::from(code) {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        16 => "BADVERS".into(),
        n => n.to_string(),
    }
}

/// `2021-02-04T17:51:55Z`: whole seconds, as the query log has them.
fn timestamp(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_server::proto::rr::Name;

    #[test]
    fn a_vpc_resolver_record_has_resolvers_fields() {
        let r = QueryRecord {
            resolver: Arc::new(Resolver {
                region: "us-east-1".into(),
                vpc: Some(("vpc-0123456789abcdef0".into(), "222222222222".into())),
            }),
            at_ms: 1_612_461_115_123,
            name: LowerName::new(&Name::from_ascii("api.example.com.").unwrap()),
            qtype: RecordType::A,
            qclass: DNSClass::IN,
            rcode: ResponseCode::NoError,
            answers: vec![(RecordType::A, RData::A("10.24.20.69".parse::<std::net::Ipv4Addr>().unwrap().into()))],
            source: "10.24.16.99:56067".parse().unwrap(),
            transport: "UDP",
        };
        assert_eq!(
            r.to_json(),
            json!({
                "version": "1.100000", "account_id": "222222222222", "region": "us-east-1",
                "vpc_id": "vpc-0123456789abcdef0", "query_timestamp": "2021-02-04T17:51:55Z",
                "query_name": "api.example.com.", "query_type": "A", "query_class": "IN", "rcode": "NOERROR",
                "answers": [{"Rdata": "10.24.20.69", "Type": "A", "Class": "IN"}],
                "srcaddr": "10.24.16.99", "srcport": "56067", "transport": "UDP",
            })
        );
    }
}
