//! Listener attributes of network load balancers. An NLB listener has one:
//! `tcp.idle_timeout.seconds` (TCP and TCP_UDP listeners, 60..=6000,
//! default 350); a TLS listener's idle timeout is fixed at 350 s and UDP
//! flows have their own, so neither carries it.

use super::{Caller, Change, Error, Resource, Result, World};

pub const TCP_IDLE_TIMEOUT: &str = "tcp.idle_timeout.seconds";
pub const DEFAULT_TCP_IDLE_TIMEOUT_SECONDS: u32 = 350;

/// Keys AWS knows for the listeners of other load balancer types: refused
/// on an NLB listener as not supported, where an unknown key is refused as
/// not recognized.
const OTHER_LISTENER_ATTRIBUTES: &[&str] = &[
    "routing.http.request.x_amzn_mtls_clientcert_serial_number.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_issuer.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_subject.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_validity.header_name",
    "routing.http.request.x_amzn_mtls_clientcert_leaf.header_name",
    "routing.http.request.x_amzn_mtls_clientcert.header_name",
    "routing.http.request.x_amzn_tls_version.header_name",
    "routing.http.request.x_amzn_tls_cipher_suite.header_name",
    "routing.http.response.server.enabled",
    "routing.http.response.strict_transport_security.header_value",
    "routing.http.response.access_control_allow_origin.header_value",
    "routing.http.response.access_control_allow_methods.header_value",
    "routing.http.response.access_control_allow_headers.header_value",
    "routing.http.response.access_control_allow_credentials.header_value",
    "routing.http.response.access_control_expose_headers.header_value",
    "routing.http.response.access_control_max_age.header_value",
    "routing.http.response.content_security_policy.header_value",
    "routing.http.response.x_content_type_options.header_value",
    "routing.http.response.x_frame_options.header_value",
];

pub fn default_tcp_idle_timeout() -> u32 {
    DEFAULT_TCP_IDLE_TIMEOUT_SECONDS
}

/// Whether listeners of this protocol carry `tcp.idle_timeout.seconds`.
pub fn has_tcp_idle_timeout(protocol: &str) -> bool {
    matches!(protocol, "TCP" | "TCP_UDP")
}

impl World {
    /// The listener's attributes as DescribeListenerAttributes lists them.
    pub fn listener_attributes(&self, caller: &Caller, arn: &str) -> Result<Vec<(String, String)>> {
        let l = self.listener(caller, arn)?;
        if l.protocol == "TLS" {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                "Listener attributes are not supported for listeners with the TLS protocol",
            ));
        }
        Ok(if has_tcp_idle_timeout(&l.protocol) {
            vec![(TCP_IDLE_TIMEOUT.to_string(), l.tcp_idle_timeout_seconds.to_string())]
        } else {
            vec![]
        })
    }

    /// Sets listener attributes; every key and value is checked before any
    /// is applied.
    pub fn modify_listener_attributes(&mut self, caller: &Caller, arn: &str, attrs: &[(String, String)]) -> Result<()> {
        let l = self.listener(caller, arn)?;
        let protocol = l.protocol.clone();
        let mut idle = None;
        for (k, v) in attrs {
            if k == TCP_IDLE_TIMEOUT {
                if !has_tcp_idle_timeout(&protocol) {
                    return Err(Error::new(
                        "InvalidConfigurationRequest",
                        format!("Listener attribute '{k}' is not supported for listeners with the {protocol} protocol"),
                    ));
                }
                let secs = v.parse::<u32>().ok().filter(|s| (60..=6000).contains(s)).ok_or_else(|| {
                    Error::validation(format!(
                        "Listener attribute '{TCP_IDLE_TIMEOUT}' value '{v}' must be an integer between '60' and '6000'"
                    ))
                })?;
                idle = Some(secs);
            } else if OTHER_LISTENER_ATTRIBUTES.contains(&k.as_str()) {
                return Err(Error::new(
                    "InvalidConfigurationRequest",
                    format!("Listener attribute '{k}' is not supported on network load balancers"),
                ));
            } else {
                return Err(Error::validation(format!("Listener attribute key '{k}' is not recognized")));
            }
        }
        let Some(secs) = idle else { return Ok(()) };
        if self.listener(caller, arn)?.tcp_idle_timeout_seconds == secs {
            return Ok(());
        }
        let l =
            self.region_mut(&caller.region).listeners.get_mut(arn).ok_or_else(super::listener::listener_not_found)?;
        l.tcp_idle_timeout_seconds = secs;
        self.emit(&caller.region, Resource::Listener(arn.to_string()), Change::Updated);
        Ok(())
    }
}
