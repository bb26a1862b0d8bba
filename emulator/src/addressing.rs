//! The address plane in loopback mode: where a simulated address is real on
//! this host.
//!
//! VPC number k (its `host_block`) lives at 127.k.0.0/16. A simulated address
//! keeps its 16-bit offset from the VPC's base address, so 10.24.20.69 in
//! 10.24.0.0/16 with k = 3 is 127.3.20.69. AWS VPCs are /16 at most, so the
//! offset always fits. DNS answers and the data plane use host addresses;
//! the API keeps reporting VPC addresses, as AWS does. Everything stays in
//! 127.0.0.0/8, which Linux routes to `lo` without adding any address.

use std::net::Ipv4Addr;

use crate::model::Vpc;

/// The host address of `ip`, a simulated address inside `vpc`; `None` when
/// `ip` is outside the VPC's CIDR.
pub fn host_addr(vpc: &Vpc, ip: Ipv4Addr) -> Option<Ipv4Addr> {
    if !vpc.cidr.contains(ip) {
        return None;
    }
    let offset = vpc.cidr.offset_of(ip);
    Some(in_block(vpc.host_block, offset))
}

/// Where the VPC's Amazon-provided resolver (base + 2) listens on the host.
pub fn vpc_resolver_host_addr(vpc: &Vpc) -> Ipv4Addr {
    in_block(vpc.host_block, 2)
}

/// The simulated address a host address of `vpc`'s block stands for.
pub fn vpc_addr(vpc: &Vpc, host: Ipv4Addr) -> Option<Ipv4Addr> {
    let [a, k, hi, lo] = host.octets();
    if a != 127 || k != vpc.host_block {
        return None;
    }
    let offset = u32::from(hi) << 8 | u32::from(lo);
    (u64::from(offset) < vpc.cidr.size()).then(|| vpc.cidr.nth(offset))
}

fn in_block(host_block: u8, offset: u32) -> Ipv4Addr {
    // A /16 offset fits in the two low octets; larger VPCs cannot be created.
    Ipv4Addr::new(127, host_block, (offset >> 8) as u8, offset as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Caller, Settings, World};

    fn vpc(cidr: &str) -> Vpc {
        let mut w = World::new(Settings::default());
        w.create_vpc(&Caller::root("111111111111", "ap-northeast-1"), 0, cidr, None, Default::default()).unwrap()
    }

    #[test]
    fn maps_offsets_into_the_host_block() {
        let mut v = vpc("10.24.0.0/16");
        v.host_block = 3;
        assert_eq!(host_addr(&v, Ipv4Addr::new(10, 24, 20, 69)), Some(Ipv4Addr::new(127, 3, 20, 69)));
        assert_eq!(host_addr(&v, Ipv4Addr::new(10, 24, 255, 254)), Some(Ipv4Addr::new(127, 3, 255, 254)));
        assert_eq!(host_addr(&v, Ipv4Addr::new(10, 25, 0, 1)), None);
        assert_eq!(vpc_resolver_host_addr(&v), Ipv4Addr::new(127, 3, 0, 2));
        assert_eq!(vpc_addr(&v, Ipv4Addr::new(127, 3, 20, 69)), Some(Ipv4Addr::new(10, 24, 20, 69)));
        assert_eq!(vpc_addr(&v, Ipv4Addr::new(127, 4, 20, 69)), None);
    }

    #[test]
    fn small_vpcs_keep_their_offset() {
        let mut v = vpc("192.168.1.0/24");
        v.host_block = 9;
        assert_eq!(host_addr(&v, Ipv4Addr::new(192, 168, 1, 7)), Some(Ipv4Addr::new(127, 9, 0, 7)));
        assert_eq!(vpc_resolver_host_addr(&v), Ipv4Addr::new(127, 9, 0, 2));
        assert_eq!(vpc_addr(&v, Ipv4Addr::new(127, 9, 1, 7)), None, "beyond a /24");
        for ip in [Ipv4Addr::new(192, 168, 1, 0), Ipv4Addr::new(192, 168, 1, 255)] {
            let h = host_addr(&v, ip).unwrap();
            assert!(h.is_loopback());
            assert_eq!(vpc_addr(&v, h), Some(ip));
        }
    }
}
