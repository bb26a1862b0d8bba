//! Identifiers in AWS's exact formats.

use rand::Rng;

const HEX: &[u8] = b"0123456789abcdef";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

pub fn hex(len: usize) -> String {
    random_from(HEX, len)
}

/// `prefix-` followed by 17 lowercase hex digits: vpc-, subnet-, sg-, eni-, vpce-, ...
pub fn resource_id(prefix: &str) -> String {
    format!("{prefix}-{}", hex(17))
}

/// The 8 lowercase alphanumerics that follow an endpoint id in its DNS names.
pub fn dns_suffix() -> String {
    random_from(ALNUM, 8)
}

pub fn alnum(len: usize) -> String {
    random_from(ALNUM, len)
}

pub fn request_id() -> String {
    let h = hex(32);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

pub fn mac_address() -> String {
    let h = hex(10);
    format!("06:{}:{}:{}:{}:{}", &h[0..2], &h[2..4], &h[4..6], &h[6..8], &h[8..10])
}

/// True if `id` is `prefix-` followed by 8 or 17 lowercase hex digits, the two
/// lengths AWS has issued.
pub fn is_well_formed(id: &str, prefix: &str) -> bool {
    let Some(rest) = id.strip_prefix(prefix).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    (rest.len() == 17 || rest.len() == 8) && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let id = resource_id("vpce");
        assert!(is_well_formed(&id, "vpce"), "{id}");
        assert_eq!(id.len(), "vpce-".len() + 17);
        assert!(!is_well_formed("vpce-zz", "vpce"));
        assert!(!is_well_formed("vpce-svc-0123456789abcdef0", "vpce"));
        assert!(is_well_formed("vpce-svc-0123456789abcdef0", "vpce-svc"));
        let s = dns_suffix();
        assert_eq!(s.len(), 8);
        assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_eq!(request_id().len(), 36);
    }
}
