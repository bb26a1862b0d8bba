//! The predefined security policies of TLS listeners (DescribeSSLPolicies):
//! AWS's names, protocols and ciphers in priority order. Network load
//! balancers take no custom policies.

/// The policy a TLS listener gets when CreateListener names none (AWS's
/// default for every client but the console).
pub const DEFAULT_SSL_POLICY: &str = "ELBSecurityPolicy-2016-08";

pub struct SslPolicy {
    pub name: &'static str,
    pub protocols: &'static [&'static str],
    /// Cipher names; the priority is the position, from 1.
    pub ciphers: &'static [&'static [&'static str]],
}

impl SslPolicy {
    pub fn ciphers(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.ciphers.iter().flat_map(|part| part.iter().copied())
    }
}

const TLS13: &[&str] = &["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"];
/// ECDHE with AES-GCM only.
const ECDHE_GCM: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
];
/// ECDHE with AES-GCM and AES-CBC over SHA-2.
const ECDHE_SHA2: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
];
/// Every ECDHE cipher, SHA-1 ones included.
const ECDHE_ALL: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA",
    "ECDHE-ECDSA-AES256-SHA",
];
/// ECDHE_ALL with the last two in the order TLS13-1-2-Ext2 lists them.
const ECDHE_ALL_EXT2: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES256-SHA384",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES256-SHA",
];
/// Plain RSA key exchange over SHA-2.
const RSA_SHA2: &[&str] = &["AES128-GCM-SHA256", "AES128-SHA256", "AES256-GCM-SHA384", "AES256-SHA256"];
/// Plain RSA key exchange, SHA-1 ones included.
const RSA_ALL: &[&str] =
    &["AES128-GCM-SHA256", "AES128-SHA256", "AES128-SHA", "AES256-GCM-SHA384", "AES256-SHA256", "AES256-SHA"];

const V10_12: &[&str] = &["TLSv1", "TLSv1.1", "TLSv1.2"];
const V11_12: &[&str] = &["TLSv1.1", "TLSv1.2"];
const V12: &[&str] = &["TLSv1.2"];
const V12_13: &[&str] = &["TLSv1.2", "TLSv1.3"];

const fn policy(
    name: &'static str,
    protocols: &'static [&'static str],
    ciphers: &'static [&'static [&'static str]],
) -> SslPolicy {
    SslPolicy { name, protocols, ciphers }
}

/// Every predefined policy a network load balancer's TLS listener accepts,
/// in the order DescribeSSLPolicies lists them.
pub const SSL_POLICIES: &[SslPolicy] = &[
    policy("ELBSecurityPolicy-2016-08", V10_12, &[ECDHE_ALL, RSA_ALL]),
    policy("ELBSecurityPolicy-TLS13-1-2-2021-06", V12_13, &[TLS13, ECDHE_SHA2]),
    policy("ELBSecurityPolicy-TLS13-1-2-Res-2021-06", V12_13, &[TLS13, ECDHE_GCM]),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06", V12_13, &[TLS13, ECDHE_SHA2, RSA_SHA2]),
    policy("ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06", V12_13, &[TLS13, ECDHE_ALL_EXT2, RSA_ALL]),
    policy("ELBSecurityPolicy-TLS13-1-1-2021-06", &["TLSv1.1", "TLSv1.2", "TLSv1.3"], &[TLS13, ECDHE_ALL, RSA_ALL]),
    policy(
        "ELBSecurityPolicy-TLS13-1-0-2021-06",
        &["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"],
        &[TLS13, ECDHE_ALL, RSA_ALL],
    ),
    policy("ELBSecurityPolicy-TLS13-1-3-2021-06", &["TLSv1.3"], &[TLS13]),
    policy("ELBSecurityPolicy-TLS-1-2-2017-01", V12, &[ECDHE_SHA2, RSA_SHA2]),
    policy("ELBSecurityPolicy-TLS-1-1-2017-01", V11_12, &[ECDHE_ALL, RSA_ALL]),
    policy("ELBSecurityPolicy-TLS-1-2-Ext-2018-06", V12, &[ECDHE_ALL, RSA_ALL]),
    policy("ELBSecurityPolicy-FS-2018-06", V10_12, &[ECDHE_ALL]),
    policy("ELBSecurityPolicy-2015-05", V10_12, &[ECDHE_ALL, RSA_ALL]),
    policy("ELBSecurityPolicy-TLS-1-0-2015-04", V10_12, &[ECDHE_ALL, RSA_ALL, &["DES-CBC3-SHA"]]),
    policy("ELBSecurityPolicy-FS-1-2-Res-2020-10", V12, &[ECDHE_GCM]),
    policy("ELBSecurityPolicy-FS-1-2-Res-2019-08", V12, &[ECDHE_SHA2]),
    policy("ELBSecurityPolicy-FS-1-1-2019-08", V11_12, &[ECDHE_ALL]),
    policy("ELBSecurityPolicy-FS-1-2-2019-08", V12, &[ECDHE_ALL]),
];

pub fn find(name: &str) -> Option<&'static SslPolicy> {
    SSL_POLICIES.iter().find(|p| p.name == name)
}
