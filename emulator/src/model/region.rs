//! Regions and availability zones with AWS's names and zone ids.
//!
//! Zone ids differ per account in AWS; the emulator uses one mapping for
//! every account so that a provider and a consumer always agree.

pub struct RegionInfo {
    pub name: &'static str,
    /// (zone name suffix, zone id)
    pub zones: &'static [(&'static str, &'static str)],
    /// Hosted zone of the public `vpce.amazonaws.com` names in this region.
    pub vpce_hosted_zone: &'static str,
    /// Canonical hosted zone of network load balancers in this region.
    pub nlb_hosted_zone: &'static str,
}

pub static REGIONS: &[RegionInfo] = &[
    RegionInfo {
        name: "us-east-1",
        zones: &[
            ("a", "use1-az1"),
            ("b", "use1-az2"),
            ("c", "use1-az4"),
            ("d", "use1-az6"),
            ("e", "use1-az3"),
            ("f", "use1-az5"),
        ],
        vpce_hosted_zone: "Z7HUB22UULQXV",
        nlb_hosted_zone: "Z26RNL4JYFTOTI",
    },
    RegionInfo {
        name: "us-east-2",
        zones: &[("a", "use2-az1"), ("b", "use2-az2"), ("c", "use2-az3")],
        vpce_hosted_zone: "ZC8PG0KIFKBRI",
        nlb_hosted_zone: "ZLMOA37VPKANP",
    },
    RegionInfo {
        name: "us-west-1",
        zones: &[("b", "usw1-az1"), ("c", "usw1-az3")],
        vpce_hosted_zone: "Z12I86A8N7VCZO",
        nlb_hosted_zone: "Z24FKFUX50B4VW",
    },
    RegionInfo {
        name: "us-west-2",
        zones: &[("a", "usw2-az1"), ("b", "usw2-az2"), ("c", "usw2-az3"), ("d", "usw2-az4")],
        vpce_hosted_zone: "Z1YSA3EXCYUU9Z",
        nlb_hosted_zone: "Z18D5FSROUN65G",
    },
    RegionInfo {
        name: "ca-central-1",
        zones: &[("a", "cac1-az1"), ("b", "cac1-az2"), ("d", "cac1-az4")],
        vpce_hosted_zone: "ZRCXCF510Y6P9",
        nlb_hosted_zone: "Z2EPGBW3API2WT",
    },
    RegionInfo {
        name: "sa-east-1",
        zones: &[("a", "sae1-az1"), ("b", "sae1-az2"), ("c", "sae1-az3")],
        vpce_hosted_zone: "Z2LXUWEVLCVSU4",
        nlb_hosted_zone: "ZTK26PT1VY4CU",
    },
    RegionInfo {
        name: "eu-west-1",
        zones: &[("a", "euw1-az1"), ("b", "euw1-az2"), ("c", "euw1-az3")],
        vpce_hosted_zone: "Z38GZ743OKFT7T",
        nlb_hosted_zone: "Z2IFOLAFXWLO4F",
    },
    RegionInfo {
        name: "eu-west-2",
        zones: &[("a", "euw2-az2"), ("b", "euw2-az3"), ("c", "euw2-az1")],
        vpce_hosted_zone: "Z3B9ID5O5N4BPO",
        nlb_hosted_zone: "ZD4D7Y8KGAS4G",
    },
    RegionInfo {
        name: "eu-central-1",
        zones: &[("a", "euc1-az2"), ("b", "euc1-az3"), ("c", "euc1-az1")],
        vpce_hosted_zone: "Z273ZU8SZ5RJPC",
        nlb_hosted_zone: "Z3F0SRJ5LGBH90",
    },
    RegionInfo {
        name: "eu-north-1",
        zones: &[("a", "eun1-az1"), ("b", "eun1-az2"), ("c", "eun1-az3")],
        vpce_hosted_zone: "Z3OWWK6JFDLDL5",
        nlb_hosted_zone: "Z1UDT6IFJ4EJM",
    },
    RegionInfo {
        name: "ap-northeast-1",
        zones: &[("a", "apne1-az4"), ("c", "apne1-az1"), ("d", "apne1-az2")],
        vpce_hosted_zone: "Z2E726K9Y6RL4W",
        nlb_hosted_zone: "Z31USIVHYNEOWT",
    },
    RegionInfo {
        name: "ap-northeast-2",
        zones: &[("a", "apne2-az1"), ("b", "apne2-az2"), ("c", "apne2-az3"), ("d", "apne2-az4")],
        vpce_hosted_zone: "Z27UANNT0PRK1T",
        nlb_hosted_zone: "ZIBE1TIR4HY56",
    },
    RegionInfo {
        name: "ap-southeast-1",
        zones: &[("a", "apse1-az1"), ("b", "apse1-az2"), ("c", "apse1-az3")],
        vpce_hosted_zone: "Z18LLCSTV4NVNL",
        nlb_hosted_zone: "ZKVM4W9LS7TM",
    },
    RegionInfo {
        name: "ap-southeast-2",
        zones: &[("a", "apse2-az1"), ("b", "apse2-az3"), ("c", "apse2-az2")],
        vpce_hosted_zone: "ZDK2GCRPAFKGO",
        nlb_hosted_zone: "ZCT6FZBF4DROD",
    },
    RegionInfo {
        name: "ap-south-1",
        zones: &[("a", "aps1-az1"), ("b", "aps1-az3"), ("c", "aps1-az2")],
        vpce_hosted_zone: "Z2KVTB3ZLFM7JR",
        nlb_hosted_zone: "ZVDDRBQ08TROA",
    },
];

pub fn lookup(name: &str) -> Option<&'static RegionInfo> {
    REGIONS.iter().find(|r| r.name == name)
}

/// A region name has AWS's shape: `xx-word-N` (e.g. `ap-northeast-1`).
pub fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// One availability zone of a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub id: String,
}

/// The zones of a region: the table's, or `a`..`c` for a region the table
/// does not know (the emulator accepts any well-formed region name).
pub fn zones(region: &str) -> Vec<Zone> {
    match lookup(region) {
        Some(info) => info
            .zones
            .iter()
            .map(|(suffix, id)| Zone { name: format!("{region}{suffix}"), id: id.to_string() })
            .collect(),
        None => {
            let short: String = region
                .split('-')
                .enumerate()
                .map(|(i, p)| if i == 0 { p.to_string() } else { p.chars().take(1).collect() })
                .collect();
            ["a", "b", "c"]
                .iter()
                .enumerate()
                .map(|(i, s)| Zone { name: format!("{region}{s}"), id: format!("{short}-az{}", i + 1) })
                .collect()
        }
    }
}

pub fn zone(region: &str, name: &str) -> Option<Zone> {
    zones(region).into_iter().find(|z| z.name == name || z.id == name)
}

pub fn vpce_hosted_zone(region: &str) -> String {
    lookup(region).map(|r| r.vpce_hosted_zone.to_string()).unwrap_or_else(|| synthetic_zone_id(region, 1))
}

pub fn nlb_hosted_zone(region: &str) -> String {
    lookup(region).map(|r| r.nlb_hosted_zone.to_string()).unwrap_or_else(|| synthetic_zone_id(region, 2))
}

/// A stable, AWS-looking hosted zone id for a region the table lacks.
pub fn synthetic_zone_id(seed: &str, salt: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut h: u64 = 0xcbf29ce484222325 ^ salt;
    for b in seed.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    let mut s = String::from("Z");
    for _ in 0..13 {
        s.push(ALPHABET[(h % ALPHABET.len() as u64) as usize] as char);
        h = h.rotate_right(7).wrapping_mul(0x9E3779B97F4A7C15);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokyo_zones() {
        let z = zones("ap-northeast-1");
        assert_eq!(z[0].name, "ap-northeast-1a");
        assert_eq!(z[0].id, "apne1-az4");
        assert_eq!(zone("ap-northeast-1", "apne1-az1").unwrap().name, "ap-northeast-1c");
        assert!(is_region_name("us-gov-west-1"));
        assert!(!is_region_name("nowhere"));
        assert_eq!(zones("xx-somewhere-9").len(), 3);
    }
}
