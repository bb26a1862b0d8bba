//! The address plane: where a simulated address is real on this host.
//!
//! Loopback mode (the default):
//! each VPC lives in a host block 127.k.0.0/16 (k its `host_block`). A
//! simulated address keeps its two low octets, so 10.24.20.69 in
//! 10.24.0.0/16 with k = 3 is 127.3.20.69. A /16 VPC has its block to
//! itself; smaller VPCs share blocks (`shares_block`), as many in one block
//! as their low 16 bits leave room for: 10.1.16.0/20 and 10.2.32.0/20 can
//! both live in 127.3.0.0/16, at 127.3.16.0/20 and 127.3.32.0/20. A smaller
//! VPC of a world written before blocks were shared keeps its block to
//! itself and its addresses their offset from the VPC's base (10.1.16.5 in
//! 10.1.16.0/20 is 127.k.0.5). DNS answers and the data plane use host
//! addresses; the API keeps reporting VPC addresses, as AWS does.
//! Everything stays in 127.0.0.0/8, which Linux routes to `lo` without
//! adding any address.
//!
//! Interface mode: a VPC created inside an attached block (`--attach`) is
//! `attached`: its addresses are real as they are, on the interface that
//! carries the block (see [`crate::netplane`]), so host address = VPC address.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::model::net::Ipv4Cidr;
use crate::model::Vpc;

/// One attached block: `10.24.0.0/16=eth1`, or `10.24.0.0/16` for the
/// interface that already holds an address inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub cidr: Ipv4Cidr,
    pub interface: Option<String>,
}

impl FromStr for Attachment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (cidr, interface) = match s.split_once('=') {
            Some((c, i)) if !i.trim().is_empty() => (c, Some(i.trim().to_string())),
            Some(_) => return Err(format!("attachment '{s}': the interface after '=' is empty")),
            None => (s, None),
        };
        let cidr: Ipv4Cidr =
            cidr.trim().parse().map_err(|_| format!("attachment '{s}': '{cidr}' is not an IPv4 CIDR block"))?;
        Ok(Attachment { cidr, interface })
    }
}

impl fmt::Display for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.interface {
            Some(i) => write!(f, "{}={i}", self.cidr),
            None => write!(f, "{}", self.cidr),
        }
    }
}

/// What the address plane needs to know of a VPC: its CIDR and its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpcBlock {
    pub cidr: Ipv4Cidr,
    pub host_block: u8,
    /// The VPC shares its block: addresses keep their two low octets
    /// rather than their offset from the VPC's base.
    pub shares_block: bool,
    /// Interface mode: addresses are real as they are.
    pub attached: bool,
}

impl From<&Vpc> for VpcBlock {
    fn from(vpc: &Vpc) -> Self {
        VpcBlock { cidr: vpc.cidr, host_block: vpc.host_block, shares_block: vpc.shares_block, attached: vpc.attached }
    }
}

impl VpcBlock {
    /// The host address of a simulated address inside this VPC.
    pub fn host_addr(&self, ip: Ipv4Addr) -> Option<Ipv4Addr> {
        if self.attached {
            return self.cidr.contains(ip).then_some(ip);
        }
        self.cidr.contains(ip).then(|| in_block(self.host_block, self.offset(ip)))
    }

    /// The simulated address a host address of this VPC's block stands for.
    pub fn vpc_addr(&self, host: Ipv4Addr) -> Option<Ipv4Addr> {
        if self.attached {
            return self.cidr.contains(host).then_some(host);
        }
        let [a, k, hi, lo] = host.octets();
        if a != 127 || k != self.host_block {
            return None;
        }
        let low = u32::from(hi) << 8 | u32::from(lo);
        if self.shares_block {
            let ip = Ipv4Addr::from(u32::from(self.cidr.network()) & 0xffff_0000 | low);
            return self.cidr.contains(ip).then_some(ip);
        }
        (u64::from(low) < self.cidr.size()).then(|| self.cidr.nth(low))
    }

    /// Where the Amazon-provided resolver (base + 2) listens on the host.
    pub fn resolver_host_addr(&self) -> Ipv4Addr {
        self.host_addr(self.cidr.nth(2)).unwrap_or_else(|| in_block(self.host_block, 2))
    }

    /// The host addresses this VPC's addresses live at: `127.k.0.0/16` for
    /// a VPC with its own block, `127.k.16.0/20` for 10.1.16.0/20 sharing
    /// block k (the VPC's own CIDR, in interface mode).
    pub fn host_cidr(&self) -> Ipv4Cidr {
        if self.attached {
            return self.cidr;
        }
        let (base, prefix) = match self.shares_block {
            true => (in_block(self.host_block, self.offset(self.cidr.network())), self.cidr.prefix()),
            false => (in_block(self.host_block, 0), 16),
        };
        Ipv4Cidr::new(base, prefix).expect("a host block is a valid CIDR")
    }

    /// Where `ip`, inside this VPC, sits in the host block.
    fn offset(&self, ip: Ipv4Addr) -> u32 {
        match self.shares_block {
            true => u32::from(ip) & 0xffff,
            false => self.cidr.offset_of(ip),
        }
    }
}

/// The host address of `ip`, a simulated address inside `vpc`; `None` when
/// `ip` is outside the VPC's CIDR.
pub fn host_addr(vpc: &Vpc, ip: Ipv4Addr) -> Option<Ipv4Addr> {
    VpcBlock::from(vpc).host_addr(ip)
}

/// Where the VPC's Amazon-provided resolver (base + 2) listens on the host.
pub fn vpc_resolver_host_addr(vpc: &Vpc) -> Ipv4Addr {
    VpcBlock::from(vpc).resolver_host_addr()
}

/// The simulated address a host address of `vpc`'s block stands for.
pub fn vpc_addr(vpc: &Vpc, host: Ipv4Addr) -> Option<Ipv4Addr> {
    VpcBlock::from(vpc).vpc_addr(host)
}

/// True for addresses the loopback plane may dial as they are.
pub fn is_host_loopback(ip: Ipv4Addr) -> bool {
    ip.is_loopback()
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
    fn attachments_parse() {
        let a: Attachment = "10.24.0.0/16=eth1".parse().unwrap();
        assert_eq!(a.cidr.to_string(), "10.24.0.0/16");
        assert_eq!(a.interface.as_deref(), Some("eth1"));
        assert_eq!("10.0.0.0/16".parse::<Attachment>().unwrap().interface, None);
        assert!("10.0.0.0/16=".parse::<Attachment>().is_err());
        assert!("10.0.0/16".parse::<Attachment>().is_err());
        assert!("eth1".parse::<Attachment>().is_err());
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
        assert!(!v.shares_block);
        assert_eq!(VpcBlock::from(&v).host_cidr().to_string(), "127.3.0.0/16");
    }

    #[test]
    fn attached_vpcs_keep_their_own_addresses() {
        let mut v = vpc("10.24.0.0/16");
        v.attached = true;
        assert_eq!(host_addr(&v, Ipv4Addr::new(10, 24, 20, 69)), Some(Ipv4Addr::new(10, 24, 20, 69)));
        assert_eq!(host_addr(&v, Ipv4Addr::new(10, 25, 0, 1)), None);
        assert_eq!(vpc_resolver_host_addr(&v), Ipv4Addr::new(10, 24, 0, 2));
        assert_eq!(vpc_addr(&v, Ipv4Addr::new(10, 24, 16, 99)), Some(Ipv4Addr::new(10, 24, 16, 99)));
        assert_eq!(vpc_addr(&v, Ipv4Addr::new(127, 1, 16, 99)), None);
    }

    #[test]
    fn small_vpcs_keep_their_two_low_octets() {
        let mut v = vpc("192.168.1.0/24");
        assert!(v.shares_block);
        v.host_block = 9;
        assert_eq!(host_addr(&v, Ipv4Addr::new(192, 168, 1, 7)), Some(Ipv4Addr::new(127, 9, 1, 7)));
        assert_eq!(vpc_resolver_host_addr(&v), Ipv4Addr::new(127, 9, 1, 2));
        assert_eq!(vpc_addr(&v, Ipv4Addr::new(127, 9, 0, 7)), None, "another VPC's part of the block");
        assert_eq!(vpc_addr(&v, Ipv4Addr::new(127, 9, 2, 7)), None, "beyond the /24");
        assert_eq!(VpcBlock::from(&v).host_cidr().to_string(), "127.9.1.0/24");
        for ip in [Ipv4Addr::new(192, 168, 1, 0), Ipv4Addr::new(192, 168, 1, 255)] {
            let h = host_addr(&v, ip).unwrap();
            assert!(h.is_loopback());
            assert_eq!(vpc_addr(&v, h), Some(ip));
        }
    }

    #[test]
    fn small_vpcs_of_older_worlds_keep_their_offset() {
        let mut v = vpc("10.41.16.0/20");
        v.shares_block = false;
        v.host_block = 9;
        assert_eq!(host_addr(&v, Ipv4Addr::new(10, 41, 17, 7)), Some(Ipv4Addr::new(127, 9, 1, 7)));
        assert_eq!(vpc_resolver_host_addr(&v), Ipv4Addr::new(127, 9, 0, 2));
        assert_eq!(vpc_addr(&v, Ipv4Addr::new(127, 9, 16, 0)), None, "beyond a /20");
        assert_eq!(vpc_addr(&v, Ipv4Addr::new(127, 9, 15, 255)), Some(Ipv4Addr::new(10, 41, 31, 255)));
        assert_eq!(VpcBlock::from(&v).host_cidr().to_string(), "127.9.0.0/16");
    }
}
