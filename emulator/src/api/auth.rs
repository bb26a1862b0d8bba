//! Who is calling: the access key id and credential scope of AWS Signature
//! Version 4, and (in strict mode) verification of the signature itself.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::model::Error;

/// The parts of a SigV4 credential scope: `AKID/date/region/service/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

/// What a request says about its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub credential: Credential,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

fn parse_credential(s: &str) -> Option<Credential> {
    let mut parts = s.split('/');
    let access_key_id = parts.next()?.to_string();
    let date = parts.next()?.to_string();
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    (parts.next()? == "aws4_request" && !access_key_id.is_empty()).then_some(Credential {
        access_key_id,
        date,
        region,
        service,
    })
}

/// Parses `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
pub fn parse_authorization(header: &str) -> Option<Signature> {
    let rest = header.trim().strip_prefix("AWS4-HMAC-SHA256")?.trim();
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k.trim() {
            "Credential" => credential = parse_credential(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim().split(';').map(str::to_string).collect()),
            "Signature" => signature = Some(v.trim().to_string()),
            _ => {}
        }
    }
    Some(Signature { credential: credential?, signed_headers: signed_headers?, signature: signature? })
}

/// Parses the presigned-URL form (`X-Amz-Credential=...` in the query).
pub fn parse_presigned(query: &[(String, String)]) -> Option<Signature> {
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    Some(Signature {
        credential: parse_credential(get("X-Amz-Credential")?)?,
        signed_headers: get("X-Amz-SignedHeaders")?.split(';').map(str::to_string).collect(),
        signature: get("X-Amz-Signature")?.to_string(),
    })
}

/// The request as SigV4 saw it.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Lowercase names.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

const URI_RESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn uri_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, URI_RESERVED).to_string()
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    // Non-S3 services encode each segment of the (already encoded) path again.
    path.split('/').map(uri_encode).collect::<Vec<_>>().join("/")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The signature of a request under `credential` with `secret`, given the
/// `X-Amz-Date` it carries.
pub fn signature(
    credential: &Credential,
    signed_headers: &[String],
    req: &SignedRequest<'_>,
    amz_date: &str,
    secret: &str,
) -> String {
    let header = |name: &str| req.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let mut canonical_headers = String::new();
    for name in signed_headers {
        let values: Vec<&str> = req.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
        let joined =
            values.iter().map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join(",");
        canonical_headers.push_str(&format!("{name}:{joined}\n"));
    }
    let payload_hash = match header("x-amz-content-sha256") {
        Some(h) => h.to_string(),
        None => hex::encode(Sha256::digest(req.body)),
    };
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_path(req.path),
        canonical_query(req.query),
        canonical_headers,
        signed_headers.join(";"),
        payload_hash
    );
    let c = credential;
    let scope = format!("{}/{}/{}/aws4_request", c.date, c.region, c.service);
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), c.date.as_bytes());
    let k_region = hmac(&k_date, c.region.as_bytes());
    let k_service = hmac(&k_region, c.service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

/// Recomputes the signature with `secret` and compares it.
pub fn verify(sig: &Signature, req: &SignedRequest<'_>, secret: &str) -> Result<(), Error> {
    let amz_date = req
        .headers
        .iter()
        .find(|(n, _)| n == "x-amz-date")
        .map(|(_, v)| v.clone())
        .or_else(|| {
            form_urlencoded::parse(req.query.as_bytes()).find(|(k, _)| k == "X-Amz-Date").map(|(_, v)| v.into_owned())
        })
        .ok_or_else(|| Error::new("IncompleteSignature", "Request is missing X-Amz-Date").with_status(403))?;
    let expected = signature(&sig.credential, &sig.signed_headers, req, &amz_date, secret);
    if constant_time_eq(expected.as_bytes(), sig.signature.as_bytes()) {
        Ok(())
    } else {
        Err(Error::new(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        )
        .with_status(403))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header() {
        let s = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=111111111111/20261122/ap-northeast-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(s.credential.access_key_id, "111111111111");
        assert_eq!(s.credential.region, "ap-northeast-1");
        assert_eq!(s.credential.service, "ec2");
        assert_eq!(s.signed_headers, vec!["host", "x-amz-date"]);
        assert!(parse_authorization("Basic xyz").is_none());
        assert!(parse_authorization("AWS4-HMAC-SHA256 Credential=a/b").is_none());
    }

    /// The example of AWS's SigV4 documentation (IAM ListUsers, GET).
    #[test]
    fn verifies_aws_example() {
        let headers = vec![
            ("content-type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string()),
            ("host".to_string(), "iam.amazonaws.com".to_string()),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
        ];
        let sig = Signature {
            credential: Credential {
                access_key_id: "AKIDEXAMPLE".into(),
                date: "20150830".into(),
                region: "us-east-1".into(),
                service: "iam".into(),
            },
            signed_headers: vec!["content-type".into(), "host".into(), "x-amz-date".into()],
            signature: "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7".into(),
        };
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &headers,
            body: b"",
        };
        verify(&sig, &req, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").unwrap();
        let bad = verify(&sig, &req, "wrong").unwrap_err();
        assert_eq!(bad.code, "SignatureDoesNotMatch");
    }
}
