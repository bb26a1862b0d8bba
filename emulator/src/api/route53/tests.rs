use super::*;

#[test]
fn routes_match_methods_and_paths() {
    let (r, p) = find_route("POST", "/2013-04-01/hostedzone").unwrap();
    assert_eq!((r.name, p.len()), ("CreateHostedZone", 0));
    let (r, p) = find_route("POST", "/2013-04-01/hostedzone/Z123/rrset/").unwrap();
    assert_eq!((r.name, p), ("ChangeResourceRecordSets", vec!["Z123".to_string()]));
    let (r, p) = find_route("GET", "/2013-04-01/tags/hostedzone/Z1").unwrap();
    assert_eq!((r.name, p), ("ListTagsForResource", vec!["hostedzone".to_string(), "Z1".to_string()]));
    assert!(find_route("PUT", "/2013-04-01/hostedzone").is_none());
    assert!(find_route("GET", "/2013-04-01/hostedzone//rrset").is_none());
    assert!(find_route("GET", "/2013-04-01/nothing").is_none());
}

#[test]
fn bodies_parse_into_elements() {
    let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Name>example.com</Name>
<HostedZoneConfig><Comment>a &amp; b &#65;</Comment></HostedZoneConfig></CreateHostedZoneRequest>"#;
    let e = Element::parse(doc).unwrap();
    assert_eq!(e.name, "CreateHostedZoneRequest");
    assert_eq!(e.text_of("Name"), Some("example.com"));
    assert_eq!(e.child("HostedZoneConfig").unwrap().text_of("Comment"), Some("a & b A"));
    for bad in [&b"<a><b></a>"[..], b"<a>", b"<a/><b/>", b"\xff", b"<a>&nope;</a>"] {
        let err = Element::parse(bad).unwrap_err();
        assert_eq!(err.code, "InvalidInput", "{bad:?}");
    }
    let deep = "<a>".repeat(100) + &"</a>".repeat(100);
    assert!(Element::parse(deep.as_bytes()).is_err());
}
