//! STS GetCallerIdentity, so `aws sts get-caller-identity` shows the account.

use super::xml::Xml;
use crate::model::{Caller, Error, Result};

pub const VERSION: &str = "2011-06-15";
pub const ACTIONS: &[&str] = &["GetCallerIdentity"];

pub fn dispatch(action: &str, caller: &Caller, access_key: &str) -> Result<Xml> {
    match action {
        "GetCallerIdentity" => {
            let mut x = Xml::new();
            x.leaf("Arn", &caller.arn);
            x.leaf("UserId", if caller.arn.ends_with(":root") { caller.account.as_str() } else { access_key });
            x.leaf("Account", &caller.account);
            Ok(x)
        }
        other => Err(Error::new("InvalidAction", format!("Could not find operation {other} for version {VERSION}"))),
    }
}
