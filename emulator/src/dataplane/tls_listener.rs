//! TLS listeners of network load balancers: the NLB node ends TLS with a
//! certificate of the emulator's local CA, issued for the listener's
//! certificate ARN, and carries the decrypted stream to the targets (in
//! TLS again when the target group's protocol is TLS).
//!
//! There is no ACM, so a certificate ARN names no domain: the certificate
//! issued for it carries every name the listener is reached by, which is
//! what the owner of a real certificate would have asked for:
//! - the NLB's DNS name (`NAME-HEX.elb.REGION.amazonaws.com`);
//! - each endpoint service's private DNS name, verified or not;
//! - `*.vpce-svc-ID.REGION.vpce.amazonaws.com` for the service's region
//!   and each supported region, which covers the endpoints' regional and
//!   zonal names;
//! - for an IAM server certificate whose name is a domain
//!   (`arn:aws:iam::ACCOUNT:server-certificate/api.example.com`), that
//!   domain, so a user's own name (a CNAME to the endpoint) verifies too.
//!
//! The default certificate answers every client; a certificate of the
//! listener's certificate list is chosen instead when the client's SNI
//! names its domain (IAM names only: an ACM ARN carries no domain).
//!
//! The security policy becomes the TLS versions and cipher suites rustls
//! has of those the policy lists: TLS 1.0 and 1.1 are not implemented, so
//! a policy allowing 1.0-1.2 serves 1.2 only, and one allowing 1.2-1.3
//! serves both. The certificate's key is ECDSA P-256, so the ECDSA suites
//! of a policy are the ones in use for TLS 1.2.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, DigitallySignedStruct, SignatureScheme, SupportedProtocolVersion};

use super::tls::Authority;
use crate::model::ssl_policy;
use crate::model::{Listener, LoadBalancer, Region};

/// What a TLS listener needs to end TLS: the same value means the same
/// acceptor, so flows of unchanged listeners share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Termination {
    pub certificate_arn: String,
    /// The listener's certificate list (AddListenerCertificates).
    pub certificate_list: Vec<String>,
    /// The names every certificate of the listener carries.
    pub names: Vec<String>,
    pub ssl_policy: String,
    pub alpn_policy: Option<String>,
}

impl Termination {
    /// The TLS settings of `listener` (of `lb`, in `region`), if it is a
    /// TLS listener.
    pub fn of(region: &Region, lb: &LoadBalancer, listener: &Listener) -> Option<Termination> {
        if listener.protocol != "TLS" {
            return None;
        }
        Some(Termination {
            certificate_arn: listener.certificate_arn.clone()?,
            certificate_list: listener.certificate_list.clone(),
            names: listener_names(region, lb),
            ssl_policy: listener.ssl_policy.clone().unwrap_or_else(|| ssl_policy::DEFAULT_SSL_POLICY.to_string()),
            alpn_policy: listener.alpn_policy.clone(),
        })
    }

    /// The names the certificate of `arn` carries on this listener.
    pub fn certificate_names(&self, arn: &str) -> Vec<String> {
        let mut names = self.names.clone();
        if let Some(domain) = certificate_domain(arn) {
            if !names.contains(&domain) {
                names.push(domain);
            }
        }
        names
    }

    /// Every (certificate ARN, names) this listener serves.
    pub fn certificates(&self) -> impl Iterator<Item = (&str, Vec<String>)> {
        std::iter::once(&self.certificate_arn)
            .chain(&self.certificate_list)
            .map(|arn| (arn.as_str(), self.certificate_names(arn)))
    }
}

/// The names a listener of `lb` is reached by (see the module's doc).
pub fn listener_names(region: &Region, lb: &LoadBalancer) -> Vec<String> {
    let mut names = vec![lb.dns_name.to_ascii_lowercase()];
    let mut push = |n: String| {
        if !names.contains(&n) {
            names.push(n);
        }
    };
    for s in region.services.values().filter(|s| s.network_load_balancer_arns.contains(&lb.arn)) {
        if let Some(p) = &s.private_dns {
            push(p.name.to_ascii_lowercase());
        }
        push(format!("*.{}", s.base_dns_name()));
        for r in &s.supported_regions {
            push(format!("*.{}", s.base_dns_name_in(r)));
        }
    }
    names
}

/// The domain an IAM server certificate's name stands for, when the name
/// is one (`server-certificate/api.example.com`, with or without a path).
pub fn certificate_domain(arn: &str) -> Option<String> {
    let name = arn.strip_prefix("arn:")?.split(':').nth(4)?.strip_prefix("server-certificate/")?;
    let name = name.rsplit('/').next()?.to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let ok = labels.len() >= 2
        && labels.iter().enumerate().all(|(i, l)| {
            (i == 0 && *l == "*")
                || (!l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        })
        && labels.last().is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_alphabetic()));
    ok.then_some(name)
}

/// Does a certificate for `pattern` (maybe `*.` wildcard) cover `name`?
fn covers(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => name.split_once('.').is_some_and(|(first, rest)| !first.is_empty() && rest == parent),
        None => pattern == name,
    }
}

/// The certificates of one listener: the default, and by SNI the listed
/// ones whose ARN names a domain.
#[derive(Debug)]
struct ListenerCertificates {
    default: Arc<CertifiedKey>,
    by_domain: Vec<(String, Arc<CertifiedKey>)>,
}

impl ResolvesServerCert for ListenerCertificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let asked = hello.server_name().map(|n| n.trim_end_matches('.').to_ascii_lowercase());
        let chosen = asked.and_then(|n| self.by_domain.iter().find(|(d, _)| covers(d, &n)).map(|(_, c)| c.clone()));
        Some(chosen.unwrap_or_else(|| self.default.clone()))
    }
}

/// OpenSSL's names (as security policies list them) of rustls's suites.
const SUITE_NAMES: &[(CipherSuite, &str)] = &[
    (CipherSuite::TLS13_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256"),
    (CipherSuite::TLS13_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384"),
    (CipherSuite::TLS13_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256"),
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, "ECDHE-ECDSA-AES128-GCM-SHA256"),
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "ECDHE-ECDSA-AES256-GCM-SHA384"),
    (CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-ECDSA-CHACHA20-POLY1305"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, "ECDHE-RSA-AES128-GCM-SHA256"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, "ECDHE-RSA-AES256-GCM-SHA384"),
    (CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, "ECDHE-RSA-CHACHA20-POLY1305"),
];

/// The TLS versions of a security policy that rustls implements.
pub fn versions(policy: &ssl_policy::SslPolicy) -> Vec<&'static SupportedProtocolVersion> {
    let mut out = Vec::new();
    if policy.protocols.contains(&"TLSv1.3") {
        out.push(&rustls::version::TLS13);
    }
    if policy.protocols.contains(&"TLSv1.2") {
        out.push(&rustls::version::TLS12);
    }
    out
}

/// ring's provider with only the suites the policy lists.
fn provider(policy: &ssl_policy::SslPolicy) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .retain(|s| SUITE_NAMES.iter().any(|(id, name)| *id == s.suite() && policy.ciphers().any(|c| c == *name)));
    provider
}

/// The ALPN protocols an ALPN policy offers, in the NLB's preference.
pub fn alpn_protocols(policy: Option<&str>) -> Vec<Vec<u8>> {
    let list: &[&[u8]] = match policy {
        Some("HTTP1Only") => &[b"http/1.1"],
        Some("HTTP2Only") => &[b"h2"],
        Some("HTTP2Optional") => &[b"http/1.1", b"h2"],
        Some("HTTP2Preferred") => &[b"h2", b"http/1.1"],
        _ => &[],
    };
    list.iter().map(|p| p.to_vec()).collect()
}

/// The server side of a TLS listener: certificates from `authority`.
pub fn acceptor(authority: &Authority, t: &Termination) -> Result<tokio_rustls::TlsAcceptor, String> {
    let policy = ssl_policy::find(&t.ssl_policy).ok_or_else(|| format!("unknown SSL policy {}", t.ssl_policy))?;
    let issue = |arn: &str, names: &[String]| {
        authority.listener_certificate(arn, names).ok_or_else(|| format!("cannot issue a certificate for {arn}"))
    };
    let default = issue(&t.certificate_arn, &t.certificate_names(&t.certificate_arn))?;
    let mut by_domain = Vec::new();
    for arn in &t.certificate_list {
        if let Some(domain) = certificate_domain(arn) {
            by_domain.push((domain, issue(arn, &t.certificate_names(arn))?));
        }
    }
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider(policy)))
        .with_protocol_versions(&versions(policy))
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(ListenerCertificates { default, by_domain }));
    config.alpn_protocols = alpn_protocols(t.alpn_policy.as_deref());
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Acceptors of the TLS listeners in the plan, made on a listener's first
/// flow and kept while the listener's settings stay as they are.
#[derive(Default)]
pub struct Acceptors {
    made: Mutex<HashMap<Arc<Termination>, tokio_rustls::TlsAcceptor>>,
}

impl Acceptors {
    pub fn get(&self, authority: &Authority, t: &Arc<Termination>) -> Result<tokio_rustls::TlsAcceptor, String> {
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(a) = made.get(t) {
            return Ok(a.clone());
        }
        let a = acceptor(authority, t)?;
        made.insert(t.clone(), a.clone());
        Ok(a)
    }

    /// Forgets what no listener of the plan uses any more (a certificate
    /// changed by ModifyListener, say), certificates included.
    pub fn retain(&self, authority: &Authority, live: &[&Termination]) {
        self.made.lock().unwrap_or_else(|e| e.into_inner()).retain(|t, _| live.contains(&t.as_ref()));
        authority.retain_listener_certificates(|arn, names| {
            live.iter().any(|t| t.certificates().any(|(a, n)| a == arn && n == names))
        });
    }
}

/// The client side towards TLS targets. As an NLB, it checks nothing of
/// the target's certificate, and sends no SNI (it dials an address).
pub fn connector(alpn: Option<&[u8]>) -> Result<tokio_rustls::TlsConnector, String> {
    static BASE: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth())
    });
    let mut config = base.clone()?;
    config.alpn_protocols = alpn.map(|p| vec![p.to_vec()]).unwrap_or_default();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Takes any certificate a target presents, as an NLB does; signatures of
/// the handshake are still checked, so the stream is the target's.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[path = "tls_listener_tests.rs"]
mod tests;
