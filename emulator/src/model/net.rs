//! IPv4 CIDR blocks and address allocation inside subnets.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Ipv4Cidr {
    base: u32,
    prefix: u8,
}

impl Ipv4Cidr {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        if prefix > 32 {
            return None;
        }
        let base = u32::from(addr) & Self::mask_of(prefix);
        Some(Ipv4Cidr { base, prefix })
    }

    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        }
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }

    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask_of(self.prefix) == self.base
    }

    pub fn contains_cidr(&self, other: &Ipv4Cidr) -> bool {
        other.prefix >= self.prefix && self.contains(other.network())
    }

    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }

    /// The address `offset` places after the network address.
    pub fn nth(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(offset))
    }

    pub fn offset_of(&self, ip: Ipv4Addr) -> u32 {
        u32::from(ip).wrapping_sub(self.base)
    }

    /// AWS reserves the first four and the last address of every subnet.
    pub fn is_reserved_in_subnet(&self, ip: Ipv4Addr) -> bool {
        let off = self.offset_of(ip) as u64;
        off < 4 || off == self.size() - 1
    }

    /// Addresses a subnet can hand out (size minus AWS's five reserved).
    pub fn usable(&self) -> u64 {
        self.size().saturating_sub(5)
    }
}

impl From<Ipv4Cidr> for String {
    fn from(c: Ipv4Cidr) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for Ipv4Cidr {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse().map_err(|()| format!("{s} is not an IPv4 CIDR"))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = ();

    /// Strict: the address must be the network address of the block.
    fn from_str(s: &str) -> Result<Self, ()> {
        let (addr, prefix) = s.split_once('/').ok_or(())?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| ())?;
        let prefix: u8 = prefix.parse().map_err(|_| ())?;
        let cidr = Ipv4Cidr::new(addr, prefix).ok_or(())?;
        if cidr.network() != addr {
            return Err(());
        }
        Ok(cidr)
    }
}

/// Lenient parse used for security group rules, where AWS accepts host bits.
pub fn parse_cidr_lenient(s: &str) -> Option<Ipv4Cidr> {
    let (addr, prefix) = s.split_once('/')?;
    Ipv4Cidr::new(addr.parse().ok()?, prefix.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_contain() {
        let c: Ipv4Cidr = "10.24.0.0/16".parse().unwrap();
        assert!(c.contains("10.24.20.69".parse().unwrap()));
        assert!(!c.contains("10.25.0.1".parse().unwrap()));
        assert!("10.24.0.1/16".parse::<Ipv4Cidr>().is_err());
        assert!("10.24.0.0/33".parse::<Ipv4Cidr>().is_err());
        let s: Ipv4Cidr = "10.24.16.0/20".parse().unwrap();
        assert!(c.contains_cidr(&s));
        assert!(!s.contains_cidr(&c));
        assert!(s.is_reserved_in_subnet("10.24.16.3".parse().unwrap()));
        assert!(s.is_reserved_in_subnet("10.24.31.255".parse().unwrap()));
        assert!(!s.is_reserved_in_subnet("10.24.16.4".parse().unwrap()));
        assert_eq!(s.usable(), 4091);
    }
}
