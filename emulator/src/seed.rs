//! A seed file: the starting world (accounts' VPCs and subnets), created at
//! start when the world has no VPC yet, so a compose setup or a demo begins
//! without a script. Resources get a `Name` tag to be found by:
//!
//! ```toml
//! [[vpc]]
//! account = "111111111111"
//! region = "ap-northeast-1"
//! cidr = "10.0.0.0/16"
//! name = "provider-vpc"
//! dns_hostnames = true
//! subnets = [
//!   { cidr = "10.0.128.0/20", zone = "ap-northeast-1a", name = "provider-a" },
//! ]
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::engine::{Cause, Shared};
use crate::model::{Caller, Error, Tags, World};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub vpc: Vec<SeedVpc>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedVpc {
    pub account: String,
    pub region: String,
    pub cidr: String,
    pub name: Option<String>,
    /// enableDnsHostnames (needed for private DNS names); AWS's default for
    /// a new VPC is off.
    #[serde(default)]
    pub dns_hostnames: bool,
    #[serde(default)]
    pub subnets: Vec<SeedSubnet>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSubnet {
    pub cidr: String,
    pub zone: String,
    pub name: Option<String>,
}

impl Seed {
    pub fn load(path: &Path) -> Result<Seed, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read seed {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("invalid seed {}: {e}", path.display()))
    }

    /// Creates what the seed describes, unless the world already has a VPC
    /// (a restart on a state directory). Returns the VPCs created. All or
    /// nothing: an error leaves the world as it was.
    pub fn apply(&self, shared: &Shared) -> Result<usize, String> {
        // One change: the engine takes back every VPC of a seed that fails.
        let created = shared
            .apply(Cause::new("seed"), |w| {
                if w.regions().any(|r| !r.vpcs.is_empty()) {
                    return Ok(0);
                }
                self.create(w).map_err(|e| Error::new("InvalidSeed", e))?;
                Ok(self.vpc.len())
            })
            .map_err(|e| e.message)?;
        if created > 0 {
            // The seeded world is made durable at once (with --state-dir).
            shared.snapshot().map_err(|e| format!("cannot write the seeded world: {e}"))?;
        }
        Ok(created)
    }

    fn create(&self, w: &mut World) -> Result<(), String> {
        let now = crate::engine::now_ms();
        for v in &self.vpc {
            let caller = Caller::root(&v.account, &v.region);
            let what = format!("seed vpc {} ({})", v.cidr, v.account);
            if !(v.account.len() == 12 && v.account.bytes().all(|b| b.is_ascii_digit())) {
                return Err(format!("{what}: account must be 12 digits"));
            }
            if !crate::model::region::is_region_name(&v.region) {
                return Err(format!("{what}: '{}' is not a region name", v.region));
            }
            let vpc =
                w.create_vpc(&caller, now, &v.cidr, None, name_tag(&v.name)).map_err(|e| format!("{what}: {e}"))?;
            if v.dns_hostnames {
                w.modify_vpc_attribute(&caller, &vpc.id, None, Some(true)).map_err(|e| format!("{what}: {e}"))?;
            }
            for s in &v.subnets {
                w.create_subnet(&caller, &vpc.id, &s.cidr, Some(&s.zone), name_tag(&s.name))
                    .map_err(|e| format!("{what}: subnet {}: {e}", s.cidr))?;
            }
        }
        Ok(())
    }
}

fn name_tag(name: &Option<String>) -> Tags {
    name.iter().map(|n| ("Name".to_string(), n.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::AuthSettings;
    use crate::model::Settings;

    const SEED: &str = r#"
        [[vpc]]
        account = "111111111111"
        region = "ap-northeast-1"
        cidr = "10.0.0.0/16"
        name = "provider-vpc"
        subnets = [{ cidr = "10.0.128.0/20", zone = "ap-northeast-1a", name = "provider-a" }]

        [[vpc]]
        account = "222222222222"
        region = "ap-northeast-1"
        cidr = "10.24.0.0/16"
        dns_hostnames = true
    "#;

    #[test]
    fn seeds_an_empty_world_once() {
        let shared = Shared::new(World::new(Settings::default()), AuthSettings::default());
        let seed: Seed = toml::from_str(SEED).unwrap();
        assert_eq!(seed.apply(&shared).unwrap(), 2);
        assert_eq!(seed.apply(&shared).unwrap(), 0, "a world with VPCs is left alone");
        let w = shared.world();
        let r = w.region("ap-northeast-1").unwrap();
        assert_eq!(r.vpcs.len(), 2);
        let provider = r.vpcs.values().find(|v| v.owner == "111111111111").unwrap();
        assert_eq!(provider.tags.get("Name").map(String::as_str), Some("provider-vpc"));
        assert!(!provider.enable_dns_hostnames);
        assert!(r.vpcs.values().find(|v| v.owner == "222222222222").unwrap().enable_dns_hostnames);
        let subnet = r.subnets.values().next().unwrap();
        assert_eq!(
            (subnet.cidr.to_string().as_str(), subnet.availability_zone.as_str()),
            ("10.0.128.0/20", "ap-northeast-1a")
        );
    }

    #[test]
    fn a_bad_seed_changes_nothing() {
        let shared = Shared::new(World::new(Settings::default()), AuthSettings::default());
        let seed: Seed = toml::from_str(
            r#"
            [[vpc]]
            account = "111111111111"
            region = "ap-northeast-1"
            cidr = "10.0.0.0/16"
            subnets = [{ cidr = "10.9.0.0/20", zone = "ap-northeast-1a" }]
        "#,
        )
        .unwrap();
        let e = seed.apply(&shared).unwrap_err();
        assert!(e.contains("subnet 10.9.0.0/20"), "{e}");
        assert_eq!(shared.world().regions().map(|r| r.vpcs.len()).sum::<usize>(), 0);
        assert!(toml::from_str::<Seed>("[[vpc]]\naccount = 1").is_err());
    }
}
