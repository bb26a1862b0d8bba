//! The protocol front without sockets: envelopes, errors, callers, auth.

use std::sync::Arc;

use super::*;
use crate::model::{Settings, World};

fn shared(auth: AuthSettings) -> Arc<Shared> {
    Shared::new(World::new(Settings::default()), auth)
}

fn call(s: &Shared, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    let req = HttpRequest {
        method: "POST",
        path: "/",
        query: "",
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: body.as_bytes(),
        peer: "127.0.0.1:5555".parse().unwrap(),
    };
    handle(s, &req)
}

fn signed(account: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={account}/20261122/ap-northeast-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
    )
}

#[test]
fn ec2_success_has_request_id_and_no_result_wrapper() {
    let s = shared(AuthSettings::default());
    let auth = signed("111111111111", "ec2");
    let r = call(&s, &[("authorization", &auth)], "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<CreateVpcResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>"));
    assert!(r.body.contains("<ownerId>111111111111</ownerId>"));
    assert!(!r.body.contains("CreateVpcResult"));
}

#[test]
fn elbv2_answers_carry_the_result_wrapper() {
    let s = shared(AuthSettings::default());
    let auth = signed("111111111111", "elasticloadbalancing");
    let r = call(&s, &[("authorization", &auth)], "Action=DescribeLoadBalancers&Version=2015-12-01");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r
        .body
        .contains("<DescribeLoadBalancersResult><LoadBalancers></LoadBalancers></DescribeLoadBalancersResult>"));
    assert!(r.body.contains("<ResponseMetadata><RequestId>"));
    let r = call(&s, &[("authorization", &auth)], "Action=DescribeTargetHealth&Version=2015-12-01&TargetGroupArn=x");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("<ErrorResponse"), "{}", r.body);
    assert!(r.body.contains("<Type>Sender</Type><Code>TargetGroupNotFound</Code>"));
}

#[test]
fn errors_use_ec2_envelope_and_codes() {
    let s = shared(AuthSettings::default());
    let r = call(&s, &[], "Action=Bogus&Version=2016-11-15");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("<Response><Errors><Error><Code>InvalidAction</Code>"), "{}", r.body);
    assert!(r.body.contains("<RequestID>"));
    let r = call(&s, &[], "Action=CreateVpcEndpoint&Version=2016-11-15");
    assert!(r.body.contains("<Code>MissingParameter</Code>"));
    let r = call(&s, &[], "Action=DescribeVpcEndpoints&Version=2016-11-15&MaxResults=1");
    assert!(r.body.contains("<Code>InvalidMaxResults</Code>"));
    let r = call(&s, &[], "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16&DryRun=true");
    assert_eq!(r.status, 412);
    assert!(r.body.contains("<Code>DryRunOperation</Code>"));
    let r = call(&s, &[], "Action=DescribeVpcs&Version=2016-11-15&DryRun=true");
    assert_eq!(r.status, 412);
    let r = call(&s, &[], "Action=DescribeVpcs&Version=2016-11-15&DryRun=true&VpcId.1=vpc-0123456789abcdef0");
    assert!(r.body.contains("<Code>InvalidVpcID.NotFound</Code>"), "validation comes before the dry-run answer");
    let r = call(&s, &[], "Action=DescribeVpcs&Version=2016-11-15");
    assert_eq!(r.body.matches("<vpcId>").count(), 0, "the dry run created nothing");
}

#[test]
fn garbage_gets_an_answer_and_state_survives() {
    let s = shared(AuthSettings::default());
    call(&s, &[], "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16");
    for body in [
        "",
        "%%%",
        "\u{0}\u{1}\u{2}",
        "Action=&&&==",
        "Action=Describe%FFVpcs",
        "Action=DescribeVpcs&Filter.1.Value.1=x",
    ] {
        let r = call(&s, &[("authorization", "AWS4-HMAC-SHA256 garbage")], body);
        assert!(r.status >= 400, "{body:?} -> {}", r.status);
        assert!(r.body.contains("<Code>"));
    }
    let r = call(&s, &[], "Action=DescribeVpcs&Version=2016-11-15");
    assert_eq!(r.body.matches("<vpcId>").count(), 1);
}

#[test]
fn account_comes_from_the_access_key() {
    let s = shared(AuthSettings::default());
    let r =
        call(&s, &[("authorization", &signed("222222222222", "sts"))], "Action=GetCallerIdentity&Version=2011-06-15");
    assert!(r.body.contains("<Account>222222222222</Account>"), "{}", r.body);
    assert!(r.body.contains("<Arn>arn:aws:iam::222222222222:root</Arn>"));
    let r =
        call(&s, &[("authorization", &signed("AKIAEXAMPLE", "sts"))], "Action=GetCallerIdentity&Version=2011-06-15");
    assert!(r.body.contains("<Account>000000000000</Account>"));
}

#[test]
fn strict_mode_rejects_unknown_keys_and_bad_signatures() {
    let mut auth = AuthSettings { strict: true, ..Default::default() };
    auth.credentials.insert(
        "AKIDPROVIDER".into(),
        Credential {
            access_key_id: "AKIDPROVIDER".into(),
            secret_access_key: "secret".into(),
            account: "111111111111".into(),
            arn: None,
        },
    );
    let s = shared(auth);
    let r = call(&s, &[], "Action=DescribeVpcs&Version=2016-11-15");
    assert_eq!((r.status, r.body.contains("<Code>AuthFailure</Code>")), (401, true));
    let r = call(&s, &[("authorization", &signed("AKIDOTHER", "ec2"))], "Action=DescribeVpcs&Version=2016-11-15");
    assert!(r.body.contains("<Code>AuthFailure</Code>"));
    let r = call(
        &s,
        &[("authorization", &signed("AKIDPROVIDER", "ec2")), ("x-amz-date", "20261122T000000Z"), ("host", "x")],
        "Action=DescribeVpcs&Version=2016-11-15",
    );
    assert_eq!(r.status, 403);
    assert!(r.body.contains("<Code>SignatureDoesNotMatch</Code>"), "{}", r.body);
}

#[test]
fn admin_answers_loopback_only() {
    let s = shared(AuthSettings::default());
    let mut req = HttpRequest {
        method: "GET",
        path: "/_emulator/health",
        query: "",
        headers: vec![],
        body: b"",
        peer: "127.0.0.1:1".parse().unwrap(),
    };
    assert_eq!(handle(&s, &req).status, 200);
    req.peer = "192.0.2.1:1".parse().unwrap();
    assert_eq!(handle(&s, &req).status, 403);
}

/// The README lists exactly the actions of the tables. With
/// `UPDATE_README=1` the test writes the list instead of comparing.
#[test]
fn readme_lists_the_supported_actions() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let (start, end) = ("<!-- actions:start -->\n", "<!-- actions:end -->");
    let a = readme.find(start).expect("start marker") + start.len();
    let b = readme.find(end).expect("end marker");
    let want = supported_actions_markdown();
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &readme[..a], &readme[b..])).expect("write README.md");
        return;
    }
    assert_eq!(&readme[a..b], want, "README.md's action list is stale: run the test with UPDATE_README=1");
}

#[test]
fn characters_xml_cannot_carry_are_refused_and_never_echoed() {
    let s = shared(AuthSettings::default());
    let ec2 = signed("111111111111", "ec2");
    let r = call(&s, &[("authorization", &ec2)], "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0%2F16");
    let vpc = r.body.split("<vpcId>").nth(1).and_then(|t| t.split('<').next()).unwrap().to_string();
    let r = call(
        &s,
        &[("authorization", &ec2)],
        &format!("Action=CreateTags&Version=2016-11-15&ResourceId.1={vpc}&Tag.1.Key=Name&Tag.1.Value=a%01b"),
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("<Code>InvalidParameterValue</Code>"), "{}", r.body);
    assert!(r.body.contains("for parameter Tag.1.Value is invalid"), "{}", r.body);
    let r = call(&s, &[("authorization", &ec2)], "Action=DescribeTags&Version=2016-11-15");
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("<value>"), "the refused tag was not stored: {}", r.body);
    // An id echoed in an error: the NUL never reaches the document.
    let r = call(&s, &[("authorization", &ec2)], "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-%00abc");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("vpc-\u{FFFD}abc") && !r.body.contains('\0'), "{}", r.body);
    // ELBv2 and STS answer ValidationError in their envelope.
    let elb = signed("111111111111", "elasticloadbalancing");
    let r = call(
        &s,
        &[("authorization", &elb)],
        "Action=AddTags&Version=2015-12-01&ResourceArns.member.1=x&Tags.member.1.Key=k&Tags.member.1.Value=%1b",
    );
    assert!(r.body.contains("<Type>Sender</Type><Code>ValidationError</Code>"), "{}", r.body);
    assert!(r.body.contains("at &apos;Tags.member.1.Value&apos;"), "{}", r.body);
    let sts = signed("111111111111", "sts");
    let r = call(&s, &[("authorization", &sts)], "Action=GetCallerIdentity&Version=2011-06-15&X=%ef%bf%bf");
    assert!(r.body.contains("<Code>ValidationError</Code>"), "{}", r.body);
    // Whatever a message holds, the error document carries only XML characters.
    let e = Error::new("InvalidVpcID.NotFound", "The vpc ID 'vpc-\u{0}\u{1b}\u{FFFE}' does not exist");
    for protocol in [Protocol::Ec2, Protocol::Elbv2, Protocol::Sts] {
        let body = error_response(protocol, &e, "req").body;
        assert!(body.chars().all(xml::is_xml_char), "{body}");
        assert!(body.contains("vpc-\u{FFFD}\u{FFFD}\u{FFFD}"), "{body}");
    }
}
