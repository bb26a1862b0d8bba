//! TLS listeners in memory: every security policy's handshake at each TLS
//! version, the names a certificate verifies for, SNI and ALPN.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn termination(policy: &str, alpn: Option<&str>) -> Termination {
    Termination {
        certificate_arn: "arn:aws:acm:ap-northeast-1:111111111111:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
            .into(),
        certificate_list: vec![
            "arn:aws:iam::111111111111:server-certificate/api.example.com".into(),
            "arn:aws:acm:ap-northeast-1:111111111111:certificate/11111111-2222-3333-4444-555555555555".into(),
        ],
        names: vec![
            "web-0123456789abcdef.elb.ap-northeast-1.amazonaws.com".into(),
            "svc.example.internal".into(),
            "*.vpce-svc-0123456789abcdef0.ap-northeast-1.vpce.amazonaws.com".into(),
        ],
        ssl_policy: policy.into(),
        alpn_policy: alpn.map(str::to_string),
    }
}

fn client(ca: &str, version: &'static SupportedProtocolVersion, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// One handshake in memory; the certificate's common name and the ALPN
/// protocol agreed, or the client's error.
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    connector: tokio_rustls::TlsConnector,
    name: &str,
) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let acceptor = acceptor.clone();
    let server = tokio::spawn(async move {
        let mut s = acceptor.accept(b).await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        s.write_all(&buf).await.map_err(|e| e.to_string())?;
        s.flush().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    });
    let name = ServerName::try_from(name.to_string()).unwrap();
    let result = async {
        let mut c = connector.connect(name, a).await.map_err(|e| e.to_string())?;
        c.write_all(b"ping").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        assert_eq!(&buf, b"ping");
        let (_, conn) = c.get_ref();
        let cert = conn.peer_certificates().unwrap()[0].to_vec();
        Ok((cert, conn.alpn_protocol().map(<[u8]>::to_vec)))
    }
    .await;
    if result.is_ok() {
        server.await.unwrap()?;
    } else {
        server.abort();
    }
    result
}

#[tokio::test]
async fn each_policy_serves_the_versions_it_allows_that_rustls_has() {
    let authority = Authority::generate().unwrap();
    for policy in ssl_policy::SSL_POLICIES {
        let t = termination(policy.name, None);
        let acceptor = acceptor(&authority, &t).unwrap();
        let allowed = versions(policy);
        assert!(!allowed.is_empty(), "{} allows nothing rustls has", policy.name);
        for (version, label) in [(&rustls::version::TLS12, "TLSv1.2"), (&rustls::version::TLS13, "TLSv1.3")] {
            let got = handshake(&acceptor, client(authority.ca_pem(), version, &[]), &t.names[0]).await;
            assert_eq!(got.is_ok(), policy.protocols.contains(&label), "{} at {label}: {got:?}", policy.name);
        }
    }
}

#[test]
fn versions_map_honestly() {
    let v = |name| versions(ssl_policy::find(name).unwrap());
    assert_eq!(v("ELBSecurityPolicy-TLS13-1-3-2021-06"), vec![&rustls::version::TLS13]);
    assert_eq!(v("ELBSecurityPolicy-TLS13-1-2-2021-06"), vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    // TLS 1.0 and 1.1 are not implemented: 1.0-1.2 serves 1.2.
    assert_eq!(v("ELBSecurityPolicy-2016-08"), vec![&rustls::version::TLS12]);
}

#[tokio::test]
async fn the_certificate_verifies_for_every_listener_name_and_no_other() {
    let authority = Authority::generate().unwrap();
    let t = termination("ELBSecurityPolicy-TLS13-1-2-2021-06", None);
    let acceptor = acceptor(&authority, &t).unwrap();
    let tls13 = || client(authority.ca_pem(), &rustls::version::TLS13, &[]);
    for name in [
        "web-0123456789abcdef.elb.ap-northeast-1.amazonaws.com",
        "svc.example.internal",
        "vpce-0123456789abcdef0-abcdefgh.vpce-svc-0123456789abcdef0.ap-northeast-1.vpce.amazonaws.com",
        "vpce-0123456789abcdef0-abcdefgh-ap-northeast-1a.vpce-svc-0123456789abcdef0.ap-northeast-1.vpce.amazonaws.com",
    ] {
        handshake(&acceptor, tls13(), name).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in ["example.com", "vpce-x.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com"] {
        let err = handshake(&acceptor, tls13(), name).await.unwrap_err();
        assert!(err.contains("certificate"), "{name}: {err}");
    }
    // A client that trusts another CA (of the same name, another key)
    // refuses it.
    let stranger = Authority::generate().unwrap();
    let err =
        handshake(&acceptor, client(stranger.ca_pem(), &rustls::version::TLS13, &[]), &t.names[0]).await.unwrap_err();
    assert!(err.contains("invalid peer certificate"), "{err}");
}

#[tokio::test]
async fn sni_picks_a_listed_certificate_named_by_its_iam_name() {
    let authority = Authority::generate().unwrap();
    let t = termination("ELBSecurityPolicy-TLS13-1-2-2021-06", None);
    let acceptor = acceptor(&authority, &t).unwrap();
    let tls13 = || client(authority.ca_pem(), &rustls::version::TLS13, &[]);
    let (listed, _) = handshake(&acceptor, tls13(), "api.example.com").await.unwrap();
    let (default, _) = handshake(&acceptor, tls13(), "svc.example.internal").await.unwrap();
    assert_ne!(listed, default, "SNI chose the listed certificate");
    // The listed certificate also carries the listener's names.
    let again = authority.listener_certificate(&t.certificate_list[0], &t.certificate_names(&t.certificate_list[0]));
    assert_eq!(again.unwrap().cert[0].to_vec(), listed);
}

#[tokio::test]
async fn alpn_policies_offer_their_protocols() {
    let authority = Authority::generate().unwrap();
    let both: &[&[u8]] = &[b"h2", b"http/1.1"];
    for (policy, offered, agreed) in [
        (None, both, None),
        (Some("None"), both, None),
        (Some("HTTP1Only"), both, Some(b"http/1.1".to_vec())),
        (Some("HTTP2Only"), both, Some(b"h2".to_vec())),
        (Some("HTTP2Optional"), both, Some(b"http/1.1".to_vec())),
        (Some("HTTP2Preferred"), both, Some(b"h2".to_vec())),
        (Some("HTTP2Optional"), &[&b"h2"[..]][..], Some(b"h2".to_vec())),
    ] {
        let t = termination("ELBSecurityPolicy-TLS13-1-2-2021-06", policy);
        let acceptor = acceptor(&authority, &t).unwrap();
        let (_, got) = handshake(&acceptor, client(authority.ca_pem(), &rustls::version::TLS13, offered), &t.names[0])
            .await
            .unwrap();
        assert_eq!(got, agreed, "{policy:?}");
    }
    // HTTP2Only and a client that speaks only HTTP/1.1: no handshake.
    let t = termination("ELBSecurityPolicy-TLS13-1-2-2021-06", Some("HTTP2Only"));
    let acceptor = acceptor(&authority, &t).unwrap();
    let c = client(authority.ca_pem(), &rustls::version::TLS13, &[b"http/1.1"]);
    assert!(handshake(&acceptor, c, &t.names[0]).await.is_err());
}

#[test]
fn iam_names_that_are_domains() {
    let d = certificate_domain;
    assert_eq!(d("arn:aws:iam::111111111111:server-certificate/api.example.com").as_deref(), Some("api.example.com"));
    assert_eq!(d("arn:aws:iam::111111111111:server-certificate/prod/*.Example.com").as_deref(), Some("*.example.com"));
    assert_eq!(d("arn:aws:iam::111111111111:server-certificate/my-cert"), None);
    assert_eq!(d("arn:aws:iam::111111111111:server-certificate/1.2.3.4"), None);
    assert_eq!(d("arn:aws:acm:ap-northeast-1:111111111111:certificate/abc.example.com"), None);
    assert!(covers("*.example.com", "a.example.com"));
    assert!(!covers("*.example.com", "a.b.example.com"));
    assert!(!covers("*.example.com", "example.com"));
    assert!(covers("api.example.com", "api.example.com"));
}

#[tokio::test]
async fn targets_certificates_are_not_checked() {
    // A target with a certificate nobody trusts, for a name it is not.
    let stranger = Authority::generate().unwrap();
    let t = termination("ELBSecurityPolicy-TLS13-1-2-2021-06", None);
    let target = acceptor(&stranger, &t).unwrap();
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { target.accept(b).await.map(|_| ()) });
    let name = ServerName::IpAddress(std::net::Ipv4Addr::new(127, 0, 0, 1).into());
    let c = connector(None).unwrap().connect(name, a).await;
    assert!(c.is_ok(), "{:?}", c.err());
    server.await.unwrap().unwrap();
}
