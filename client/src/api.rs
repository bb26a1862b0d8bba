//! A SigV4-signing client for the emulator's Query API, with AWS's errors as
//! typed errors.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use privatelink_emulator::api::auth::{self, SignedRequest};

use crate::xml::Element;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// AWS answered with an error: `code` is AWS's code.
    #[error("{code}: {message}")]
    Aws { code: String, message: String, status: u16 },
    #[error("cannot reach the emulator: {0}")]
    Transport(String),
    #[error("unexpected answer: {0}")]
    Parse(String),
}

impl Error {
    /// AWS's error code, if AWS answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => Some(code),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An access key and its secret. With the emulator's default settings the
/// account is the key itself when it has 12 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Credentials {
    pub fn new(access_key_id: &str, secret_access_key: &str) -> Self {
        Credentials { access_key_id: access_key_id.into(), secret_access_key: secret_access_key.into() }
    }

    /// Credentials that act as `account` (a 12-digit access key).
    pub fn account(account: &str) -> Self {
        Credentials::new(account, "emulator")
    }
}

/// Where a signed request goes and what it carries.
struct Target<'a> {
    service: &'a str,
    region: &'a str,
    method: &'a str,
    path: &'a str,
    query: &'a str,
    content_type: &'a str,
}

/// One caller (credentials and region) of the emulator's API.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    creds: Credentials,
    region: String,
}

impl Client {
    /// `endpoint_url` is what `--endpoint-url` would be: `http://127.0.0.1:4566`.
    pub fn new(endpoint_url: &str, creds: Credentials, region: &str) -> Result<Client> {
        let hostport = endpoint_url.trim_start_matches("http://").trim_end_matches('/');
        let addr = hostport
            .parse()
            .map_err(|_| Error::Transport(format!("endpoint {endpoint_url} must be http://IP:PORT")))?;
        Ok(Client { addr, creds, region: region.to_string() })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn access_key_id(&self) -> &str {
        &self.creds.access_key_id
    }

    /// The same caller in another identity.
    pub fn with_credentials(&self, creds: Credentials) -> Client {
        Client { creds, ..self.clone() }
    }

    pub async fn ec2(&self, action: &str, params: &[(&str, String)]) -> Result<Element> {
        self.call("ec2", "2016-11-15", action, params).await
    }

    pub async fn elbv2(&self, action: &str, params: &[(&str, String)]) -> Result<Element> {
        self.call("elasticloadbalancing", "2015-12-01", action, params).await
    }

    pub async fn sts(&self, action: &str) -> Result<Element> {
        self.call("sts", "2011-06-15", action, &[]).await
    }

    async fn call(&self, service: &str, version: &str, action: &str, params: &[(&str, String)]) -> Result<Element> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", action).append_pair("Version", version);
        for (k, v) in params {
            form.append_pair(k, v);
        }
        let body = form.finish();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let to = Target { service, region: &self.region, method: "POST", path: "/", query: "", content_type };
        self.signed(to, body).await
    }

    /// A Route 53 (REST-XML) call: `method` on `path` (under
    /// `/2013-04-01/`) with query parameters and an XML body; Route 53 is
    /// global and signed in us-east-1.
    pub async fn route53(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<String>,
    ) -> Result<Element> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            form.append_pair(k, v);
        }
        let query = form.finish();
        let path = format!("/2013-04-01/{}", path.trim_start_matches('/'));
        let to = Target {
            service: "route53",
            region: "us-east-1",
            method,
            path: &path,
            query: &query,
            content_type: "text/xml",
        };
        self.signed(to, body.unwrap_or_default()).await
    }

    async fn signed(&self, to: Target<'_>, body: String) -> Result<Element> {
        let Target { service, region, method, path, query, content_type } = to;
        let now = time::OffsetDateTime::now_utc();
        let amz_date = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let host = self.addr.to_string();
        let headers = vec![
            ("content-type".to_string(), content_type.to_string()),
            ("host".to_string(), host.clone()),
            ("x-amz-date".to_string(), amz_date.clone()),
        ];
        let credential = auth::Credential {
            access_key_id: self.creds.access_key_id.clone(),
            date: amz_date[..8].to_string(),
            region: region.to_string(),
            service: service.to_string(),
        };
        let signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
        let req = SignedRequest { method, path, query, headers: &headers, body: body.as_bytes() };
        let signature = auth::signature(&credential, &signed, &req, &amz_date, &self.creds.secret_access_key);
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={signature}",
            credential.access_key_id,
            credential.date,
            credential.region,
            credential.service,
            signed.join(";")
        );
        let target = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
        let request = hyper::Request::builder()
            .method(method)
            .uri(target)
            .header("host", host)
            .header("content-type", content_type)
            .header("x-amz-date", amz_date)
            .header("authorization", authorization)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Error::Transport(e.to_string()))?;
        let (status, text) = self.send(request).await?;
        let root = Element::parse(&text).map_err(|e| Error::Parse(format!("{e}: {text}")))?;
        if status >= 300 {
            let err = root.find("Error").ok_or_else(|| Error::Parse(text.clone()))?;
            return Err(Error::Aws { code: err.text_of("Code"), message: err.text_of("Message"), status });
        }
        Ok(root)
    }

    async fn send(&self, request: hyper::Request<Full<Bytes>>) -> Result<(u16, String)> {
        let stream = tokio::net::TcpStream::connect(self.addr).await.map_err(|e| Error::Transport(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::Transport(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let response = sender.send_request(request).await.map_err(|e| Error::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| Error::Transport(e.to_string()))?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}
