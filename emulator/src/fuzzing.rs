//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz): each takes
//! arbitrary bytes and drives one parser or writer the way the server does,
//! checking what must hold whatever the input. Not part of the emulator's
//! API for users.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, OnceLock, RwLock};

use crate::api::query::Params;
use crate::api::{self, HttpRequest, Shared};
use crate::dataplane::proxy_protocol;
use crate::dns::handler::Handler;
use crate::dns::index::{Index, View};
use crate::model::{Settings, World};

// Needs an XML parser: in the fuzz targets' build (feature `fuzzing`) and in
// unit tests.
#[cfg(any(test, feature = "fuzzing"))]
mod query_xml;
#[cfg(any(test, feature = "fuzzing"))]
pub use query_xml::query_xml;

/// The Query-parameter parser and every typed accessor on its result.
pub fn query_params(data: &[u8]) {
    let p = Params::parse(data);
    let names: Vec<String> = p.pairs().map(|(k, _)| k.clone()).take(8).collect();
    for name in names.iter().map(String::as_str).chain(["Action", "MaxResults", "DryRun"]) {
        let _ = p.get(name);
        let _ = p.required(name);
        let _ = p.bool(name);
        let _ = p.int(name);
        let _ = p.list(name);
        let _ = p.indexed(name);
        let _ = p.members(name);
        let _ = p.member_list(name);
        let _ = p.tag_pairs(name, "Key", "Value");
    }
    let _ = p.filters();
    let _ = p.tag_specifications("vpc-endpoint");
}

fn shared() -> &'static Arc<Shared> {
    static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();
    SHARED.get_or_init(|| Shared::new(World::new(Settings::default()), Default::default()))
}

/// A whole HTTP request through the dispatcher: the input is split into
/// query string, headers and body at its first two `\n\n`s. Every answer is
/// an HTTP status with an AWS-shaped (XML) or admin (JSON) body.
pub fn api_request(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == b'\n');
    let query = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let header_line = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    let headers: Vec<(String, String)> = header_line
        .split('\t')
        .filter_map(|h| h.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let path = if query.starts_with("/_emulator/") { query.split('?').next().unwrap_or("/") } else { "/" };
    let req = HttpRequest {
        method: if body.is_empty() { "GET" } else { "POST" },
        path,
        query: &query,
        headers,
        body,
        peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
    };
    let resp = api::handle(shared(), &req);
    assert!((200..600).contains(&resp.status), "status {}", resp.status);
    if resp.content_type.starts_with("text/xml") {
        assert!(resp.body.starts_with("<?xml"), "an XML answer without its declaration");
    }
}

fn dns() -> &'static (tokio::runtime::Runtime, Handler, Handler) {
    static DNS: OnceLock<(tokio::runtime::Runtime, Handler, Handler)> = OnceLock::new();
    DNS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let index = Arc::new(RwLock::new(Index::from_world(&dns_world().world())));
        let public = Handler::new(index.clone(), View::Public, None);
        let key = index.read().unwrap_or_else(|e| e.into_inner()).vpcs().keys().next().cloned();
        let vpc = Handler::new(index, key.map(View::Vpc).unwrap_or(View::Public), None);
        (rt, public, vpc)
    })
}

/// A world with something to answer: a consumer VPC (DNS hostnames on) with
/// an interface endpoint of EC2 with private DNS, so the public view has its
/// vpce names and the VPC's view `ec2.ap-northeast-1.amazonaws.com` too.
fn dns_world() -> Arc<Shared> {
    let shared = Shared::new(World::new(Settings::default()), Default::default());
    let call = |body: String| {
        let req = HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: vec![(
                "authorization".into(),
                "AWS4-HMAC-SHA256 Credential=222222222222/20260101/ap-northeast-1/ec2/aws4_request, \
                 SignedHeaders=host, Signature=00"
                    .into(),
            )],
            body: body.as_bytes(),
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
        };
        let resp = api::handle(&shared, &req);
        assert_eq!(resp.status, 200, "{}", resp.body);
        resp.body
    };
    let id = |body: &str, tag: &str| -> String {
        let open = format!("<{tag}>");
        let start = body.find(&open).map(|i| i + open.len()).expect("an id in the answer");
        body[start..].split('<').next().unwrap_or_default().to_string()
    };
    let v = "Version=2016-11-15";
    let vpc = id(&call(format!("Action=CreateVpc&{v}&CidrBlock=10.24.0.0%2F16")), "vpcId");
    call(format!("Action=ModifyVpcAttribute&{v}&VpcId={vpc}&EnableDnsHostnames.Value=true"));
    let subnet = id(
        &call(format!(
            "Action=CreateSubnet&{v}&VpcId={vpc}&CidrBlock=10.24.16.0%2F20&AvailabilityZone=ap-northeast-1a"
        )),
        "subnetId",
    );
    call(format!(
        "Action=CreateVpcEndpoint&{v}&VpcEndpointType=Interface&VpcId={vpc}&SubnetId.1={subnet}\
         &ServiceName=com.amazonaws.ap-northeast-1.ec2&PrivateDnsEnabled=true"
    ));
    // Through `pending` to `available`, where the private name is served.
    for _ in 0..3 {
        call(format!("Action=DescribeVpcEndpoints&{v}"));
        shared.tick();
    }
    shared
}

/// One DNS packet through the public view and a VPC's view: a packet that
/// decodes gets an answer that decodes, with the question's id.
pub fn dns_packet(data: &[u8]) {
    let (rt, public, vpc) = dns();
    for h in [public, vpc] {
        if let Some(answer) = crate::dns::probe::answer(rt, h, data.to_vec()) {
            assert!(answer.len() >= 12, "an answer shorter than a DNS header");
            assert_eq!(answer[..2], data[..2], "the answer carries the question's id");
        }
    }
}

/// The PROXY v2 writer: whatever the addresses and endpoint id, the header
/// has the signature, a length that covers exactly the rest, and a CRC32C
/// TLV that verifies.
pub fn proxy_v2(data: &[u8]) {
    if data.len() < 12 {
        return;
    }
    let src =
        SocketAddrV4::new(Ipv4Addr::new(data[0], data[1], data[2], data[3]), u16::from_be_bytes([data[8], data[9]]));
    let dst =
        SocketAddrV4::new(Ipv4Addr::new(data[4], data[5], data[6], data[7]), u16::from_be_bytes([data[10], data[11]]));
    let id = String::from_utf8_lossy(&data[12..]);
    let h = proxy_protocol::header(src, dst, Some(&id));
    assert_eq!(&h[..12], b"\r\n\r\n\0\r\nQUIT\n");
    assert_eq!((h[12], h[13]), (0x21, 0x11));
    let len = u16::from_be_bytes([h[14], h[15]]) as usize;
    assert_eq!(h.len(), 16 + len, "length field");
    assert_eq!(&h[16..20], &src.ip().octets());
    assert_eq!(&h[20..24], &dst.ip().octets());
    // TLVs: CRC32C first, then AWS's endpoint id.
    assert_eq!(h[28], 0x03);
    let crc = u32::from_be_bytes([h[31], h[32], h[33], h[34]]);
    let mut zeroed = h.clone();
    zeroed[31..35].fill(0);
    assert_eq!(proxy_protocol::crc32c(&zeroed), crc, "CRC32C TLV");
    assert_eq!(h[35], 0xEA);
    assert_eq!(&h[39..], id.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_take_odd_inputs() {
        for input in [
            &b""[..],
            b"\n\n",
            b"Action=CreateVpc&CidrBlock=10.0.0.0/16",
            b"\xff\xfe=%zz&&==",
            b"/_emulator/status\n\n",
        ] {
            query_params(input);
            api_request(input);
            dns_packet(input);
            proxy_v2(input);
        }
        proxy_v2(b"\x0a\x18\x14\x45\x7f\x01\x00\x01\x9c\x40\x00\x50vpce-0123456789abcdef0");
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03ec2\x0eap-northeast-1\x09amazonaws\x03com\x00\x00\x01\x00\x01");
        dns_packet(&q);
        // The fuzzed world has names to answer: the VPC's view answers the
        // private name with the endpoint's address.
        let (rt, _, vpc) = dns();
        let answer = crate::dns::probe::answer(rt, vpc, q).expect("an answer");
        assert_eq!(u16::from_be_bytes([answer[6], answer[7]]), 1, "one A record in the VPC's view");
    }
}
