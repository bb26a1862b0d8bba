//! Every answer of the dispatcher is a well-formed XML document in the
//! service's envelope, whatever the request holds: fuzz inputs become Query
//! requests (an action of the action lists, parameter names and values from
//! a vocabulary, the seeded resources' ids, or the input's own bytes,
//! control characters included) against a world with resources, so
//! describes and errors echo stored and requested values.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::api::xml::{is_xml_char, EC2_NS, ELBV2_NS, STS_NS};
use crate::api::{self, ec2, elbv2, sts, HttpRequest, HttpResponse, Protocol, Shared};
use crate::model::{Settings, World};

const ACCOUNT: &str = "222222222222";
/// Requests served by one seeded world before a fresh one replaces it, so
/// deletes and creates of the fuzzed requests never leave it bare for long.
const REQUESTS_PER_WORLD: u32 = 64;

/// Parameter names the actions read, so fuzzed requests get past the
/// "missing parameter" checks and into the handlers.
const NAMES: &[&str] = &[
    "VpcId",
    "VpcId.1",
    "SubnetId",
    "SubnetId.1",
    "GroupId",
    "GroupId.1",
    "GroupName",
    "GroupDescription",
    "Description",
    "CidrBlock",
    "AvailabilityZone",
    "ResourceId.1",
    "Tag.1.Key",
    "Tag.1.Value",
    "TagSpecification.1.ResourceType",
    "TagSpecification.1.Tag.1.Key",
    "TagSpecification.1.Tag.1.Value",
    "Filter.1.Name",
    "Filter.1.Value.1",
    "MaxResults",
    "NextToken",
    "DryRun",
    "ServiceName",
    "ServiceId",
    "ServiceId.1",
    "VpcEndpointId",
    "VpcEndpointId.1",
    "VpcEndpointType",
    "SecurityGroupId.1",
    "NetworkLoadBalancerArn.1",
    "AcceptanceRequired",
    "AddAllowedPrincipals.1",
    "PrivateDnsName",
    "PrivateDnsEnabled",
    "PolicyDocument",
    "IpPermissions.1.IpProtocol",
    "IpPermissions.1.FromPort",
    "IpPermissions.1.ToPort",
    "IpPermissions.1.IpRanges.1.CidrIp",
    "IpPermissions.1.IpRanges.1.Description",
    "EnableDnsHostnames.Value",
    "Attribute",
    "Name",
    "Names.member.1",
    "Subnets.member.1",
    "Scheme",
    "Type",
    "Protocol",
    "Port",
    "TargetType",
    "LoadBalancerArn",
    "LoadBalancerArns.member.1",
    "TargetGroupArn",
    "TargetGroupArns.member.1",
    "Targets.member.1.Id",
    "Targets.member.1.Port",
    "DefaultActions.member.1.Type",
    "DefaultActions.member.1.TargetGroupArn",
    "ListenerArns.member.1",
    "ResourceArns.member.1",
    "Tags.member.1.Key",
    "Tags.member.1.Value",
    "TagKeys.member.1",
    "Attributes.member.1.Key",
    "Attributes.member.1.Value",
    "Marker",
    "PageSize",
];

/// Values of the right shape for those names, and a few of the wrong one.
const VALUES: &[&str] = &[
    "",
    "true",
    "false",
    "0",
    "5",
    "1000",
    "-1",
    "10.24.0.0/16",
    "10.24.32.0/20",
    "10.25.0.0/16",
    "ap-northeast-1a",
    "Interface",
    "vpc",
    "vpc-endpoint",
    "security-group",
    "vpc-id",
    "tag:Name",
    "tag-key",
    "Name",
    "seed",
    "*",
    "tcp",
    "TCP",
    "80",
    "ip",
    "network",
    "internal",
    "forward",
    "load_balancing.cross_zone.enabled",
    "arn:aws:iam::111111111111:root",
    "{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"*\",\"Resource\":\"*\"}]}",
    "<&>\"'",
    "a\u{1}b",
    "\u{0}",
    "x\ry\tz\n",
    "\u{FFFE}\u{FFFF}",
    "\u{e9}\u{1F600}",
];

struct Seeded {
    shared: Arc<Shared>,
    /// The ids, names and ARNs of the seeded resources.
    values: Vec<String>,
    served: u32,
}

fn signed(service: &str) -> (String, String) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={ACCOUNT}/20260101/ap-northeast-1/{service}/aws4_request, \
         SignedHeaders=host, Signature=00"
    );
    ("authorization".to_string(), auth)
}

fn call(shared: &Shared, protocol: Protocol, body: &str) -> HttpResponse {
    let req = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: vec![signed(protocol.name())],
        body: body.as_bytes(),
        peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
    };
    api::handle(shared, &req)
}

/// One account's world with something in it: a tagged VPC with a subnet and
/// a security group, an NLB with a target group and a listener, an endpoint
/// service of it and an interface endpoint of that service.
fn seed() -> Seeded {
    let shared = Shared::new(World::new(Settings::default()), Default::default());
    let run = |protocol: Protocol, body: String, tag: &str| -> String {
        let version = match protocol {
            Protocol::Ec2 => ec2::VERSION,
            Protocol::Elbv2 => elbv2::VERSION,
            Protocol::Sts => sts::VERSION,
            Protocol::Route53 => crate::api::route53::VERSION,
        };
        let resp = call(&shared, protocol, &format!("{body}&Version={version}"));
        assert_eq!(resp.status, 200, "seeding {body}: {}", resp.body);
        let open = format!("<{tag}>");
        let start = resp.body.find(&open).map(|i| i + open.len()).unwrap_or(resp.body.len());
        resp.body[start..].split('<').next().unwrap_or_default().to_string()
    };
    let (ec2, elb) = (Protocol::Ec2, Protocol::Elbv2);
    let vpc = run(
        ec2,
        "Action=CreateVpc&CidrBlock=10.24.0.0%2F16&TagSpecification.1.ResourceType=vpc\
         &TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=seed"
            .into(),
        "vpcId",
    );
    let subnet = run(
        ec2,
        format!("Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.24.16.0%2F20&AvailabilityZone=ap-northeast-1a"),
        "subnetId",
    );
    let group = run(
        ec2,
        format!("Action=CreateSecurityGroup&VpcId={vpc}&GroupName=endpoint&GroupDescription=endpoint+group"),
        "groupId",
    );
    let lb = run(
        elb,
        format!("Action=CreateLoadBalancer&Name=seed&Subnets.member.1={subnet}&Scheme=internal&Type=network"),
        "LoadBalancerArn",
    );
    let tg = run(
        elb,
        format!("Action=CreateTargetGroup&Name=seed&Protocol=TCP&Port=80&VpcId={vpc}&TargetType=ip"),
        "TargetGroupArn",
    );
    let listener = run(
        elb,
        format!(
            "Action=CreateListener&LoadBalancerArn={lb}&Protocol=TCP&Port=80\
             &DefaultActions.member.1.Type=forward&DefaultActions.member.1.TargetGroupArn={tg}"
        ),
        "ListenerArn",
    );
    run(elb, format!("Action=AddTags&ResourceArns.member.1={lb}&Tags.member.1.Key=team&Tags.member.1.Value=a"), "");
    let service = run(
        ec2,
        format!("Action=CreateVpcEndpointServiceConfiguration&NetworkLoadBalancerArn.1={lb}&AcceptanceRequired=true"),
        "serviceId",
    );
    let describe = format!("Action=DescribeVpcEndpointServiceConfigurations&ServiceId.1={service}");
    let service_name = run(ec2, describe, "serviceName");
    let endpoint = run(
        ec2,
        format!(
            "Action=CreateVpcEndpoint&VpcEndpointType=Interface&VpcId={vpc}&SubnetId.1={subnet}\
             &SecurityGroupId.1={group}&ServiceName={service_name}"
        ),
        "vpcEndpointId",
    );
    run(ec2, format!("Action=CreateTags&ResourceId.1={endpoint}&Tag.1.Key=Name&Tag.1.Value=seeded"), "");
    let values = vec![vpc, subnet, group, lb, tg, listener, service, service_name, endpoint];
    Seeded { shared, values, served: 0 }
}

/// The fuzz input, read a byte at a time (zeros once it runs out).
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn pick<'v, T>(&mut self, from: &'v [T]) -> &'v T {
        &from[self.byte() as usize % from.len()]
    }

    /// Up to 23 of the input's bytes as text: controls and odd code points
    /// survive, invalid UTF-8 becomes U+FFFD.
    fn text(&mut self) -> String {
        let n = (self.byte() % 24) as usize;
        let (t, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        String::from_utf8_lossy(t).into_owned()
    }

    /// `s` with one character from the input put in at a position the
    /// input chooses.
    fn spliced(&mut self, s: &str) -> String {
        let at = self.byte() as usize % (s.chars().count() + 1);
        let c = char::from(self.byte());
        let mut out: String = s.chars().take(at).collect();
        out.push(c);
        out.extend(s.chars().skip(at));
        out
    }
}

/// The request a fuzz input stands for: its protocol, action and form body.
fn request(data: &[u8], seeded: &[String]) -> (Protocol, String, String) {
    let mut input = Input(data);
    let names = |t: &[crate::api::Action]| t.iter().map(|a| a.name).collect::<Vec<&str>>();
    let lists = [names(ec2::ACTIONS), names(elbv2::ACTIONS), sts::ACTIONS.to_vec()];
    let total: usize = lists.iter().map(|l| l.len()).sum();
    let mut pick = (usize::from(input.byte()) << 8 | usize::from(input.byte())) % (total + 1);
    let mut chosen = None;
    for (list, protocol) in lists.iter().zip([Protocol::Ec2, Protocol::Elbv2, Protocol::Sts]) {
        if pick < list.len() {
            chosen = Some((protocol, list[pick].to_string()));
            break;
        }
        pick -= list.len();
    }
    let (protocol, action) = chosen.unwrap_or_else(|| {
        let protocol = *input.pick(&[Protocol::Ec2, Protocol::Elbv2, Protocol::Sts]);
        (protocol, input.text())
    });
    let version = match protocol {
        Protocol::Ec2 => ec2::VERSION,
        Protocol::Elbv2 => elbv2::VERSION,
        Protocol::Sts => sts::VERSION,
        Protocol::Route53 => crate::api::route53::VERSION,
    };
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", &action).append_pair("Version", version);
    // Mostly names and values that mean something, some with a stray
    // character, a few of the input's own bytes.
    for _ in 0..input.byte() % 12 {
        let name = match input.byte() % 16 {
            0 => input.text(),
            1 => {
                let name = *input.pick(NAMES);
                input.spliced(name)
            }
            _ => input.pick(NAMES).to_string(),
        };
        let value = match input.byte() % 16 {
            0..=3 => input.pick(seeded).clone(),
            4..=8 => input.pick(VALUES).to_string(),
            9 => input.text(),
            10 | 11 => {
                let v = input.pick(seeded).clone();
                input.spliced(&v)
            }
            12 | 13 => input.byte().to_string(),
            _ => String::new(),
        };
        form.append_pair(&name, &value);
    }
    (protocol, action, form.finish())
}

/// One fuzz input as a Query request to a seeded world; panics unless the
/// answer is a well-formed XML document in the protocol's envelope.
pub fn query_xml(data: &[u8]) {
    static WORLD: Mutex<Option<Seeded>> = Mutex::new(None);
    let mut world = WORLD.lock().unwrap_or_else(|e| e.into_inner());
    if world.as_ref().is_none_or(|w| w.served >= REQUESTS_PER_WORLD) {
        *world = Some(seed());
    }
    let Some(seeded) = world.as_mut() else { return };
    seeded.served += 1;
    let (protocol, action, body) = request(data, &seeded.values);
    let resp = call(&seeded.shared, protocol, &body);
    if let Err(why) = check_answer(protocol, &action, &resp) {
        panic!("{why}\nrequest: {body:?}\nanswer ({}): {:?}", resp.status, resp.body);
    }
}

/// An element of the answer, with its text and children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    xmlns: Option<String>,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }

    fn child(&self, i: usize) -> &Node {
        static NONE: Node = Node { name: String::new(), xmlns: None, text: String::new(), children: Vec::new() };
        self.children.get(i).unwrap_or(&NONE)
    }
}

fn start(e: &quick_xml::events::BytesStart<'_>) -> Result<Node, String> {
    let name = String::from_utf8(e.name().as_ref().to_vec()).map_err(|e| e.to_string())?;
    let mut xmlns = None;
    for a in e.attributes() {
        let a = a.map_err(|e| format!("attribute: {e}"))?;
        let value = a.unescape_value().map_err(|e| format!("attribute value: {e}"))?;
        if a.key.as_ref() == b"xmlns" {
            xmlns = Some(value.into_owned());
        } else {
            return Err(format!("unexpected attribute on <{name}>"));
        }
    }
    Ok(Node { name, xmlns, ..Node::default() })
}

/// Parses a whole document strictly: one XML declaration, one root element,
/// only whitespace around it, names that close in order, and no character
/// XML 1.0 cannot carry, raw or as a character reference.
fn parse(doc: &str) -> Result<Node, String> {
    if let Some(c) = doc.chars().find(|c| !is_xml_char(*c)) {
        return Err(format!("the document holds {c:?}, which XML 1.0 cannot carry"));
    }
    if !doc.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>") {
        return Err("the document does not open with its XML declaration".into());
    }
    let mut reader = Reader::from_str(doc);
    let mut stack: Vec<Node> = vec![Node::default()];
    let text = |stack: &mut Vec<Node>, t: &str| -> Result<(), String> {
        if let Some(c) = t.chars().find(|c| !is_xml_char(*c)) {
            return Err(format!("text resolves to {c:?}, which XML 1.0 cannot carry"));
        }
        let inside = stack.len() > 1;
        match stack.last_mut() {
            Some(top) if inside => top.text.push_str(t),
            _ if t.trim().is_empty() => {}
            _ => return Err(format!("text outside the root element: {t:?}")),
        }
        Ok(())
    };
    loop {
        match reader.read_event().map_err(|e| format!("not well-formed: {e}"))? {
            Event::Decl(_) => {}
            Event::Start(e) => stack.push(start(&e)?),
            Event::Empty(e) => {
                let node = start(&e)?;
                stack.last_mut().ok_or("unbalanced")?.children.push(node);
            }
            Event::End(_) => {
                let done = stack.pop().ok_or("unbalanced")?;
                stack.last_mut().ok_or("an end tag without its start")?.children.push(done);
            }
            Event::Text(t) => {
                let raw = t.decode().map_err(|e| format!("text: {e}"))?;
                let s = quick_xml::escape::unescape(&raw).map_err(|e| format!("text: {e}"))?;
                text(&mut stack, &s)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| format!("character reference: {e}"))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| format!("entity: {e}"))?;
                        match name.as_ref() {
                            "amp" => "&".into(),
                            "lt" => "<".into(),
                            "gt" => ">".into(),
                            "quot" => "\"".into(),
                            "apos" => "'".into(),
                            other => return Err(format!("undeclared entity &{other};")),
                        }
                    }
                };
                text(&mut stack, &resolved)?;
            }
            Event::Eof => break,
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    let mut document = stack.pop().ok_or("unbalanced")?;
    if !stack.is_empty() {
        return Err("an element is never closed".into());
    }
    match document.children.len() {
        1 => Ok(document.children.remove(0)),
        n => Err(format!("{n} root elements")),
    }
}

/// Whether `resp` is what a client of `protocol` parses: AWS's success
/// envelope for `action` with HTTP 200, else AWS's error document.
pub(crate) fn check_answer(protocol: Protocol, action: &str, resp: &HttpResponse) -> Result<(), String> {
    if !(200..500).contains(&resp.status) {
        return Err(format!("HTTP {}", resp.status));
    }
    if resp.content_type != "text/xml;charset=UTF-8" {
        return Err(format!("content type {}", resp.content_type));
    }
    let root = parse(&resp.body)?;
    let ns = match protocol {
        Protocol::Ec2 => EC2_NS,
        Protocol::Elbv2 => ELBV2_NS,
        Protocol::Sts => STS_NS,
        Protocol::Route53 => crate::api::route53::NS,
    };
    let expected = format!("{action}Response");
    let shape_ok = match (protocol, resp.status) {
        (Protocol::Ec2, 200) => {
            root.name == expected
                && root.xmlns.as_deref() == Some(ns)
                && root.child(0).name == "requestId"
                && !root.child(0).text.is_empty()
        }
        (Protocol::Ec2, _) => {
            let error = root.child(0).child(0);
            root.name == "Response"
                && root.names() == ["Errors", "RequestID"]
                && root.child(0).names() == ["Error"]
                && error.names() == ["Code", "Message"]
                && !error.child(0).text.is_empty()
        }
        (_, 200) => {
            let metadata = root.child(1);
            root.name == expected
                && root.xmlns.as_deref() == Some(ns)
                && root.names() == [format!("{action}Result").as_str(), "ResponseMetadata"]
                && metadata.names() == ["RequestId"]
                && !metadata.child(0).text.is_empty()
        }
        (_, status) => {
            let error = root.child(0);
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            root.name == "ErrorResponse"
                && root.xmlns.as_deref() == Some(ns)
                && root.names() == ["Error", "RequestId"]
                && error.names() == ["Type", "Code", "Message"]
                && error.child(0).text == kind
                && !error.child(1).text.is_empty()
        }
    };
    if shape_ok {
        Ok(())
    } else {
        Err(format!("not the {protocol:?} envelope for {action} with HTTP {}", resp.status))
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    #[test]
    fn pseudo_random_requests_answer_well_formed_envelopes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(20261123);
        for _ in 0..3000 {
            let len = rng.random_range(0..160);
            let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            query_xml(&data);
        }
    }

    #[test]
    fn the_checker_refuses_what_clients_cannot_parse() {
        let ok = |status, body: &str| HttpResponse {
            status,
            content_type: "text/xml;charset=UTF-8",
            body: body.into(),
            headers: Vec::new(),
        };
        let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
        let ec2 = format!(
            "{decl}<DescribeVpcsResponse xmlns=\"{EC2_NS}\"><requestId>r</requestId><vpcSet/></DescribeVpcsResponse>"
        );
        assert_eq!(check_answer(Protocol::Ec2, "DescribeVpcs", &ok(200, &ec2)), Ok(()));
        let error = format!("{decl}<Response><Errors><Error><Code>X</Code><Message>m</Message></Error></Errors><RequestID>r</RequestID></Response>");
        assert_eq!(check_answer(Protocol::Ec2, "DescribeVpcs", &ok(400, &error)), Ok(()));
        for bad in [
            ec2.replace("<vpcSet/>", "<v>\u{1}</v>"),
            ec2.replace("<vpcSet/>", "<v>&#1;</v>"),
            ec2.replace("<vpcSet/>", "<v>&#xFFFE;</v>"),
            ec2.replace("<vpcSet/>", "<v>&nbsp;</v>"),
            ec2.replace("<vpcSet/>", "<v></w>"),
            format!("{ec2}<x/>"),
            ec2.replace("DescribeVpcsResponse", "DescribeSubnetsResponse"),
            ec2.replace(decl, ""),
        ] {
            assert!(check_answer(Protocol::Ec2, "DescribeVpcs", &ok(200, &bad)).is_err(), "{bad}");
        }
        assert!(check_answer(Protocol::Ec2, "DescribeVpcs", &ok(400, &ec2)).is_err());
        assert!(check_answer(Protocol::Elbv2, "DescribeVpcs", &ok(400, &error)).is_err());
        assert!(check_answer(Protocol::Ec2, "DescribeVpcs", &ok(500, &error)).is_err());
    }
}
