//! The certificate list of TLS listeners (Add/Remove/DescribeListenerCertificates):
//! certificates served to clients that name a host by SNI, beside the
//! default certificate that ModifyListener replaces.

use super::listener::{check_certificate_arn, listener_not_found};
use super::{Caller, Change, Error, Resource, Result, World};

/// AWS's quota of certificates per Network Load Balancer listener, the
/// default one not counted.
pub const CERTIFICATES_PER_LISTENER: usize = 25;

impl World {
    /// Every certificate of a listener: (ARN, is the default), the default first.
    pub fn listener_certificates(&self, caller: &Caller, arn: &str) -> Result<Vec<(String, bool)>> {
        let l = self.listener(caller, arn)?;
        let mut out: Vec<(String, bool)> = l.certificate_arn.iter().map(|c| (c.clone(), true)).collect();
        out.extend(l.certificate_list.iter().map(|c| (c.clone(), false)));
        Ok(out)
    }

    /// Adds certificates to a TLS listener's list; one already there (or the
    /// default) is not added twice. Answers the list.
    pub fn add_listener_certificates(&mut self, caller: &Caller, arn: &str, certs: &[String]) -> Result<Vec<String>> {
        let l = self.listener(caller, arn)?;
        if l.protocol != "TLS" {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                format!("Certificates cannot be added to listeners with the {} protocol", l.protocol),
            ));
        }
        for c in certs {
            check_certificate_arn(c)?;
        }
        let mut list = l.certificate_list.clone();
        for c in certs {
            if !list.contains(c) && l.certificate_arn.as_ref() != Some(c) {
                list.push(c.clone());
            }
        }
        if list.len() > CERTIFICATES_PER_LISTENER {
            return Err(Error::new(
                "TooManyCertificates",
                format!("A listener can have at most {CERTIFICATES_PER_LISTENER} certificates in its certificate list"),
            ));
        }
        if list != l.certificate_list {
            self.set_certificate_list(caller, arn, list.clone())?;
        }
        Ok(list)
    }

    /// Removes certificates from a listener's list; the default certificate
    /// cannot be removed (ModifyListener replaces it).
    pub fn remove_listener_certificates(&mut self, caller: &Caller, arn: &str, certs: &[String]) -> Result<()> {
        let l = self.listener(caller, arn)?;
        if let Some(default) = certs.iter().find(|c| l.certificate_arn.as_ref() == Some(c)) {
            return Err(Error::new(
                "OperationNotPermitted",
                format!("The default certificate '{default}' cannot be removed from the listener"),
            ));
        }
        let list: Vec<String> = l.certificate_list.iter().filter(|c| !certs.contains(c)).cloned().collect();
        if list != l.certificate_list {
            self.set_certificate_list(caller, arn, list)?;
        }
        Ok(())
    }

    fn set_certificate_list(&mut self, caller: &Caller, arn: &str, list: Vec<String>) -> Result<()> {
        let l = self.region_mut(&caller.region).listeners.get_mut(arn).ok_or_else(listener_not_found)?;
        l.certificate_list = list;
        self.emit(&caller.region, Resource::Listener(arn.to_string()), Change::Updated);
        Ok(())
    }
}
