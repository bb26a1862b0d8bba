//! TLS for interface endpoints of AWS services (`com.amazonaws.REGION.ec2`
//! and the like): a local certificate authority the emulator generates, and
//! a certificate per service and region, made on first use from the name
//! the client asks for (SNI): `ec2.ap-northeast-1.amazonaws.com` (the
//! private DNS name) and `*.ec2.ap-northeast-1.vpce.amazonaws.com` (the
//! endpoint's own names). Users trust the CA with `AWS_CA_BUNDLE` or
//! `--ca-bundle`; it is served at `/_emulator/ca.pem` and, with
//! `--state-dir`, kept there as `ca.pem` so it survives restarts.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tracing::{info, warn};

use crate::model::aws_service::AWS_SERVICES;
use crate::model::region::is_region_name;

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca.key";
const CA_NAME: &str = "privatelink-emulator local CA";

/// The local certificate authority and the certificates it has issued.
pub struct Authority {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
    issued: Mutex<HashMap<(String, String), Arc<CertifiedKey>>>,
    /// Certificates of TLS listeners, by certificate ARN and the names
    /// they carry (see [`super::tls_listener`]).
    listeners: Mutex<HashMap<ListenerCertificateKey, Arc<CertifiedKey>>>,
}

/// A listener certificate: its ARN and the names it carries.
type ListenerCertificateKey = (String, Vec<String>);

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "privatelink-emulator");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

fn tls_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("local CA: {e}"))
}

impl Authority {
    /// A new CA held in memory only.
    pub fn generate() -> io::Result<Authority> {
        let key = KeyPair::generate().map_err(tls_error)?;
        let params = ca_params().map_err(tls_error)?;
        let cert = params.self_signed(&key).map_err(tls_error)?;
        Ok(Authority {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
            issued: Mutex::default(),
            listeners: Mutex::default(),
        })
    }

    /// The CA kept in `dir` (made there on first use), so clients that
    /// trust it keep trusting it across restarts.
    pub fn load_or_create(dir: &Path) -> io::Result<Authority> {
        let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
        if cert_path.exists() && key_path.exists() {
            let ca_pem = std::fs::read_to_string(&cert_path)?;
            let key = KeyPair::from_pem(&std::fs::read_to_string(&key_path)?).map_err(tls_error)?;
            // Certificates are signed with the same name and key as the
            // kept CA certificate, so they chain to it.
            let issuer = Issuer::new(ca_params().map_err(tls_error)?, key);
            info!(ca = %cert_path.display(), "local CA loaded");
            return Ok(Authority { ca_pem, issuer, issued: Mutex::default(), listeners: Mutex::default() });
        }
        std::fs::create_dir_all(dir)?;
        let authority = Authority::generate()?;
        write_private(&key_path, authority.issuer.key().serialize_pem().as_bytes())?;
        std::fs::write(&cert_path, &authority.ca_pem)?;
        info!(ca = %cert_path.display(), "local CA created");
        Ok(authority)
    }

    /// The CA certificate users trust (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The certificate for `service` in `region`, issued on first use.
    pub fn certificate(&self, service: &str, region: &str) -> Option<Arc<CertifiedKey>> {
        let key = (service.to_string(), region.to_string());
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = issued.get(&key) {
            return Some(c.clone());
        }
        match self.issue(service, region) {
            Ok(c) => {
                let c = Arc::new(c);
                issued.insert(key, c.clone());
                Some(c)
            }
            Err(e) => {
                warn!(%service, %region, error = %e, "cannot issue a certificate");
                None
            }
        }
    }

    fn issue(&self, service: &str, region: &str) -> Result<CertifiedKey, String> {
        let names =
            vec![format!("{service}.{region}.amazonaws.com"), format!("*.{service}.{region}.vpce.amazonaws.com")];
        self.issue_for(names)
    }

    /// The certificate a TLS listener serves for `certificate_arn`, naming
    /// `names` (the first is its common name), issued on first use.
    pub fn listener_certificate(&self, certificate_arn: &str, names: &[String]) -> Option<Arc<CertifiedKey>> {
        let key = (certificate_arn.to_string(), names.to_vec());
        let mut issued = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = issued.get(&key) {
            return Some(c.clone());
        }
        match self.issue_for(names.to_vec()) {
            Ok(c) => {
                let c = Arc::new(c);
                issued.insert(key, c.clone());
                Some(c)
            }
            Err(e) => {
                warn!(certificate = %certificate_arn, error = %e, "cannot issue a listener certificate");
                None
            }
        }
    }

    /// Forgets listener certificates no listener serves any more.
    pub fn retain_listener_certificates(&self, keep: impl Fn(&str, &[String]) -> bool) {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).retain(|(arn, names), _| keep(arn, names));
    }

    fn issue_for(&self, names: Vec<String>) -> Result<CertifiedKey, String> {
        let common_name = names.first().cloned().ok_or("a certificate needs a name")?;
        let mut params = CertificateParams::new(names).map_err(|e| e.to_string())?;
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let cert = params.signed_by(&key, &self.issuer).map_err(|e| e.to_string())?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| e.to_string())?;
        Ok(CertifiedKey::new(vec![CertificateDer::from(cert.der().to_vec())], signing))
    }

    /// A TLS acceptor answering with this CA's certificates.
    pub fn acceptor(self: &Arc<Self>) -> io::Result<tokio_rustls::TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for Authority {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let (service, region) = service_of(hello.server_name()?)?;
        self.certificate(service, region)
    }
}

/// The AWS service and region a TLS server name stands for:
/// `ec2.REGION.amazonaws.com` or `ANYTHING.ec2.REGION.vpce.amazonaws.com`.
pub fn service_of(name: &str) -> Option<(&str, &str)> {
    let name = name.trim_end_matches('.');
    let rest = name.strip_suffix(".amazonaws.com")?;
    let labels: Vec<&str> = rest.split('.').collect();
    let (service, region) = match labels.as_slice() {
        [service, region] => (*service, *region),
        [_, service, region, "vpce"] => (*service, *region),
        _ => return None,
    };
    (AWS_SERVICES.contains(&service) && is_region_name(region)).then_some((service, region))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_services() {
        assert_eq!(service_of("ec2.ap-northeast-1.amazonaws.com"), Some(("ec2", "ap-northeast-1")));
        assert_eq!(
            service_of("vpce-0123456789abcdef0-abcdefgh.ec2.ap-northeast-1.vpce.amazonaws.com"),
            Some(("ec2", "ap-northeast-1"))
        );
        assert_eq!(
            service_of("elasticloadbalancing.us-east-1.amazonaws.com."),
            Some(("elasticloadbalancing", "us-east-1"))
        );
        assert_eq!(service_of("s3.ap-northeast-1.amazonaws.com"), None);
        assert_eq!(service_of("ec2.nowhere-1.amazonaws.com"), None);
        assert_eq!(service_of("example.com"), None);
    }

    #[test]
    fn a_kept_ca_signs_certificates_that_chain_to_it() {
        let dir = std::env::temp_dir().join(format!("plca-{}", std::process::id()));
        let first = Authority::load_or_create(&dir).unwrap();
        let again = Authority::load_or_create(&dir).unwrap();
        assert_eq!(first.ca_pem(), again.ca_pem());
        let cert = again.certificate("ec2", "ap-northeast-1").unwrap();
        assert!(Arc::ptr_eq(&cert, &again.certificate("ec2", "ap-northeast-1").unwrap()));
        // Verified as a client would: against the CA file written first.
        use rustls::client::danger::ServerCertVerifier;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(first.ca_pem().as_bytes()).unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
        let now = rustls::pki_types::UnixTime::now();
        for name in [
            "ec2.ap-northeast-1.amazonaws.com",
            "vpce-0123456789abcdef0-abcdefgh.ec2.ap-northeast-1.vpce.amazonaws.com",
        ] {
            let server = rustls::pki_types::ServerName::try_from(name).unwrap();
            verifier.verify_server_cert(&cert.cert[0], &[], &server, &[], now).unwrap();
        }
        let other = rustls::pki_types::ServerName::try_from("ec2.us-east-1.amazonaws.com").unwrap();
        assert!(verifier.verify_server_cert(&cert.cert[0], &[], &other, &[], now).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
