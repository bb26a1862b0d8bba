//! Identifiers in AWS's exact formats.

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

const HEX: &[u8] = b"0123456789abcdef";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

thread_local! {
    /// Set while a journaled operation runs, so its replay draws the same ids.
    static SEEDED: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Runs `f` with every random choice of the model drawn from `seed`: the
/// same seed and the same world give the same ids, addresses and zones.
pub fn with_seed<R>(seed: u64, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            SEEDED.with(|s| *s.borrow_mut() = None);
        }
    }
    SEEDED.with(|s| *s.borrow_mut() = Some(StdRng::seed_from_u64(seed)));
    let _reset = Reset;
    f()
}

/// Random choices of the model: from the operation's seed when one is set.
pub(crate) fn with_rng<R>(f: impl FnOnce(&mut dyn RngCore) -> R) -> R {
    SEEDED.with(|s| match s.borrow_mut().as_mut() {
        Some(rng) => f(rng),
        None => f(&mut rand::rng()),
    })
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    with_rng(|rng| (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect())
}

pub fn hex(len: usize) -> String {
    random_from(HEX, len)
}

/// `prefix-` followed by 17 lowercase hex digits: vpc-, subnet-, sg-, eni-, vpce-, ...
pub fn resource_id(prefix: &str) -> String {
    format!("{prefix}-{}", hex(17))
}

/// `prefix-` and 17 lowercase hex digits that depend on `seed` only: the id
/// of a record derived from another one, the same on every load.
pub fn derived_id(prefix: &str, seed: &str) -> String {
    // FNV-1a over the prefix and the seed, then a splitmix64 stream.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in prefix.bytes().chain([0]).chain(seed.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    let mut out = String::with_capacity(prefix.len() + 18);
    out.push_str(prefix);
    out.push('-');
    for _ in 0..17 {
        h = h.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^= z >> 31;
        out.push(HEX[(z % 16) as usize] as char);
    }
    out
}

/// The 8 lowercase alphanumerics that follow an endpoint id in its DNS names.
pub fn dns_suffix() -> String {
    random_from(ALNUM, 8)
}

/// Upper-case letters and digits, as Route 53 ids are made of.
pub fn upper_alnum(len: usize) -> String {
    random_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", len)
}

pub fn alnum(len: usize) -> String {
    random_from(ALNUM, len)
}

/// Request ids are not state: drawn outside any operation's seed.
pub fn request_id() -> String {
    let mut rng = rand::rng();
    let h: String = (0..32).map(|_| HEX[rng.random_range(0..HEX.len())] as char).collect();
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
        let d = derived_id("rtb", "vpc-0123456789abcdef0");
        assert!(is_well_formed(&d, "rtb"), "{d}");
        assert_eq!(d, derived_id("rtb", "vpc-0123456789abcdef0"));
        assert_ne!(d, derived_id("rtb", "vpc-0123456789abcdef1"));
    }
}
