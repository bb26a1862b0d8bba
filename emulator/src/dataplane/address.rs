//! The address plane: where a simulated address is real on this host.
//!
//! Loopback mode (no privileges): VPC number k lives at 127.k.0.0/16, so a
//! VPC address is its offset from the VPC's base, placed in that block
//! (10.24.20.69 in VPC k=3 is 127.3.20.69). VPCs are /16 at most, so the
//! offset always fits. Anything the data plane dials is in 127.0.0.0/8.

use std::net::Ipv4Addr;

use crate::model::net::Ipv4Cidr;

/// What the address plane needs to know of a VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpcBlock {
    pub cidr: Ipv4Cidr,
    pub host_block: u8,
}

impl VpcBlock {
    /// The host address of a simulated address inside this VPC.
    pub fn host_addr(&self, ip: Ipv4Addr) -> Option<Ipv4Addr> {
        if !self.cidr.contains(ip) {
            return None;
        }
        let off = self.cidr.offset_of(ip);
        Some(Ipv4Addr::new(127, self.host_block, (off >> 8) as u8, off as u8))
    }

    /// The simulated address a host address of this VPC's block stands for.
    pub fn vpc_addr(&self, host: Ipv4Addr) -> Option<Ipv4Addr> {
        let o = host.octets();
        if o[0] != 127 || o[1] != self.host_block {
            return None;
        }
        let off = (u32::from(o[2]) << 8) | u32::from(o[3]);
        (u64::from(off) < self.cidr.size()).then(|| self.cidr.nth(off))
    }

    /// The Amazon-provided resolver (base + 2) on the host.
    pub fn resolver_host_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(127, self.host_block, 0, 2)
    }
}

/// True for addresses the loopback plane may dial as they are.
pub fn is_host_loopback(ip: Ipv4Addr) -> bool {
    ip.is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways() {
        let b = VpcBlock { cidr: "10.24.0.0/16".parse().unwrap(), host_block: 3 };
        assert_eq!(b.host_addr("10.24.20.69".parse().unwrap()), Some("127.3.20.69".parse().unwrap()));
        assert_eq!(b.vpc_addr("127.3.20.69".parse().unwrap()), Some("10.24.20.69".parse().unwrap()));
        assert_eq!(b.host_addr("10.25.0.1".parse().unwrap()), None);
        assert_eq!(b.vpc_addr("127.4.0.1".parse().unwrap()), None);
        assert_eq!(b.resolver_host_addr(), "127.3.0.2".parse::<Ipv4Addr>().unwrap());
        let small = VpcBlock { cidr: "192.168.1.0/24".parse().unwrap(), host_block: 9 };
        assert_eq!(small.host_addr("192.168.1.7".parse().unwrap()), Some("127.9.0.7".parse().unwrap()));
        assert_eq!(small.vpc_addr("127.9.1.7".parse().unwrap()), None, "outside a /24");
    }
}
