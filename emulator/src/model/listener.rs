//! Listeners of network load balancers: a port forwarding to a target group.

use super::ssl_policy::{self, DEFAULT_SSL_POLICY};
use super::tags::Tags;
use super::{ids, Caller, Change, Error, LoadBalancer, Resource, Result, World};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Listener {
    pub arn: String,
    pub load_balancer_arn: String,
    pub owner: String,
    pub port: u16,
    pub protocol: String,
    pub target_group_arn: String,
    pub tags: Tags,
    /// `tcp.idle_timeout.seconds` (ModifyListenerAttributes): how long a TCP
    /// flow of this listener may stay idle. Meaningful for TCP and TCP_UDP
    /// listeners; 350 for every other (a TLS listener's is fixed at 350).
    #[serde(default = "super::listener_settings::default_tcp_idle_timeout")]
    pub tcp_idle_timeout_seconds: u32,
    /// TLS listeners: the security policy, one of [`super::ssl_policy::SSL_POLICIES`].
    #[serde(default)]
    pub ssl_policy: Option<String>,
    /// TLS listeners: the ARN of the default certificate.
    #[serde(default)]
    pub certificate_arn: Option<String>,
    /// TLS listeners: the certificate list (AddListenerCertificates), for
    /// clients naming a host by SNI; the default certificate is not in it.
    #[serde(default)]
    pub certificate_list: Vec<String>,
    /// TLS listeners: the ALPN policy (`HTTP1Only`, `HTTP2Only`,
    /// `HTTP2Optional`, `HTTP2Preferred` or `None`), when one was set.
    #[serde(default)]
    pub alpn_policy: Option<String>,
    /// Tags of the listener's default rule (see [`Listener::default_rule_arn`]).
    #[serde(default)]
    pub rule_tags: Tags,
}

/// What CreateListener or ModifyListener asks for (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct ListenerRequest {
    pub protocol: Option<String>,
    pub port: Option<i64>,
    /// The target group of the forward default action.
    pub target_group_arn: Option<String>,
    pub ssl_policy: Option<String>,
    /// The default certificate (CreateListener/ModifyListener's Certificates).
    pub certificates: Option<Vec<String>>,
    pub alpn_policy: Option<Vec<String>>,
}

pub fn listener_not_found() -> Error {
    Error::new("ListenerNotFound", "One or more listeners not found")
}

pub const ALPN_POLICIES: &[&str] = &["HTTP1Only", "HTTP2Only", "HTTP2Optional", "HTTP2Preferred", "None"];

/// An ACM certificate or an IAM server certificate, by ARN.
pub fn check_certificate_arn(arn: &str) -> Result<()> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = match parts.as_slice() {
        ["arn", partition, "acm", region, account, resource] => {
            partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("certificate/").is_some_and(|id| !id.is_empty())
        }
        ["arn", partition, "iam", "", account, resource] => {
            partition.starts_with("aws")
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("server-certificate/").is_some_and(|n| !n.is_empty())
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::new("CertificateNotFound", format!("Certificate '{arn}' not found")))
    }
}

/// A TLS listener's security policy, default certificate and ALPN policy.
type TlsSettings = (Option<String>, Option<String>, Option<String>);

/// The TLS settings a listener of `protocol` ends up with: `current` (the
/// listener before a ModifyListener) changed by `req`. Other protocols
/// carry none, and refuse to be given any.
fn tls_settings(protocol: &str, current: Option<&Listener>, req: &ListenerRequest) -> Result<TlsSettings> {
    if protocol != "TLS" {
        if req.ssl_policy.is_some() {
            return Err(Error::validation(format!("An SSL policy cannot be specifed for {protocol} listeners")));
        }
        if req.certificates.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(Error::validation(format!("A certificate cannot be specified for {protocol} listeners")));
        }
        if req.alpn_policy.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(Error::new(
                "ALPNPolicyNotFound",
                format!("An ALPN policy cannot be specified for {protocol} listeners"),
            ));
        }
        return Ok((None, None, None));
    }
    let was_tls = current.filter(|l| l.protocol == "TLS");
    let certificate = match &req.certificates {
        Some(certs) if certs.len() > 1 => {
            return Err(Error::new("TooManyCertificates", "A TLS listener takes exactly one default certificate"))
        }
        Some(certs) if certs.len() == 1 => {
            check_certificate_arn(&certs[0])?;
            certs[0].clone()
        }
        _ => was_tls
            .and_then(|l| l.certificate_arn.clone())
            .ok_or_else(|| Error::validation("A certificate must be specified for TLS listeners"))?,
    };
    let policy = req
        .ssl_policy
        .clone()
        .or_else(|| was_tls.and_then(|l| l.ssl_policy.clone()))
        .unwrap_or_else(|| DEFAULT_SSL_POLICY.to_string());
    if ssl_policy::find(&policy).is_none() {
        return Err(Error::new("SSLPolicyNotFound", format!("SSL policy '{policy}' not found")));
    }
    let alpn = match &req.alpn_policy {
        Some(list) if list.len() > 1 => {
            return Err(Error::validation("Only one ALPN policy can be specified"));
        }
        Some(list) if list.len() == 1 => {
            if !ALPN_POLICIES.contains(&list[0].as_str()) {
                return Err(Error::new("ALPNPolicyNotFound", format!("ALPN policy '{}' not found", list[0])));
            }
            Some(list[0].clone())
        }
        _ => was_tls.and_then(|l| l.alpn_policy.clone()),
    };
    Ok((Some(policy), Some(certificate), alpn))
}

fn check_protocol(protocol: &str) -> Result<()> {
    if matches!(protocol, "TCP" | "TLS" | "UDP" | "TCP_UDP") {
        Ok(())
    } else {
        Err(Error::validation(format!("Listener protocol '{protocol}' must be one of 'TCP_UDP, UDP, TLS, TCP'")))
    }
}

fn check_port(port: i64) -> Result<u16> {
    if (1..=65535).contains(&port) {
        Ok(port as u16)
    } else {
        Err(Error::validation(format!("Port '{port}' must be between '1' and '65535'")))
    }
}

impl World {
    pub fn create_listener(
        &mut self,
        caller: &Caller,
        lb_arn: &str,
        protocol: Option<&str>,
        port: Option<i64>,
        target_group_arn: Option<&str>,
        tags: Tags,
    ) -> Result<Listener> {
        let req = ListenerRequest {
            protocol: protocol.map(str::to_string),
            port,
            target_group_arn: target_group_arn.map(str::to_string),
            ..Default::default()
        };
        self.create_listener_with(caller, lb_arn, &req, tags)
    }

    /// Checks that a listener of `lb` with `protocol` may forward to
    /// `tg_arn`: same VPC, compatible protocols, no other load balancer.
    fn check_forward(&self, caller: &Caller, lb: &LoadBalancer, protocol: &str, tg_arn: &str) -> Result<()> {
        let tg = self.target_group(caller, tg_arn)?;
        if tg.vpc_id.as_deref() != Some(lb.vpc_id.as_str()) {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                format!("The target group '{tg_arn}' is not in the same VPC as the load balancer"),
            ));
        }
        let compatible = match protocol {
            "TCP" | "TLS" => matches!(tg.protocol.as_str(), "TCP" | "TLS" | "TCP_UDP"),
            "UDP" => matches!(tg.protocol.as_str(), "UDP" | "TCP_UDP"),
            _ => tg.protocol == "TCP_UDP",
        };
        if !compatible {
            return Err(Error::new(
                "IncompatibleProtocols",
                format!(
                    "The target group protocol '{}' is not compatible with the listener protocol '{protocol}'",
                    tg.protocol
                ),
            ));
        }
        let others = self.target_group_load_balancers(&caller.region, tg_arn);
        if others.iter().any(|a| a != &lb.arn) {
            return Err(Error::new(
                "TargetGroupAssociationLimit",
                format!("The following target groups cannot be associated with more than one load balancer: {tg_arn}"),
            ));
        }
        Ok(())
    }

    fn port_taken(&self, region: &str, lb_arn: &str, port: u16, except: Option<&str>) -> bool {
        self.region(region).is_some_and(|r| {
            r.listeners
                .values()
                .any(|l| l.load_balancer_arn == lb_arn && l.port == port && Some(l.arn.as_str()) != except)
        })
    }

    pub fn create_listener_with(
        &mut self,
        caller: &Caller,
        lb_arn: &str,
        req: &ListenerRequest,
        tags: Tags,
    ) -> Result<Listener> {
        let lb = self.load_balancer(caller, lb_arn)?.clone();
        let protocol = req.protocol.clone().unwrap_or_else(|| "TCP".into());
        check_protocol(&protocol)?;
        let port = check_port(req.port.ok_or_else(|| Error::validation("A listener port must be specified"))?)?;
        let tg_arn = req
            .target_group_arn
            .clone()
            .ok_or_else(|| Error::validation("A forward action with a target group must be specified"))?;
        self.check_forward(caller, &lb, &protocol, &tg_arn)?;
        let (ssl_policy, certificate_arn, alpn_policy) = tls_settings(&protocol, None, req)?;
        if self.port_taken(&caller.region, lb_arn, port, None) {
            return Err(Error::new(
                "DuplicateListener",
                "A listener already exists on this port for this load balancer",
            ));
        }
        let r = self.region_mut(&caller.region);
        if r.listeners.values().filter(|l| l.load_balancer_arn == lb_arn).count() >= 50 {
            return Err(Error::new(
                "TooManyListeners",
                "The quota for the number of listeners per load balancer has been reached",
            ));
        }
        let tail = lb.resource_suffix().trim_start_matches("net/").to_string();
        let listener = Listener {
            arn: format!(
                "arn:aws:elasticloadbalancing:{}:{}:listener/net/{tail}/{}",
                caller.region,
                caller.account,
                ids::hex(16)
            ),
            load_balancer_arn: lb_arn.to_string(),
            owner: caller.account.clone(),
            port,
            protocol,
            target_group_arn: tg_arn,
            tags,
            tcp_idle_timeout_seconds: super::listener_settings::DEFAULT_TCP_IDLE_TIMEOUT_SECONDS,
            ssl_policy,
            certificate_arn,
            certificate_list: Vec::new(),
            alpn_policy,
            rule_tags: Tags::new(),
        };
        r.listeners.insert(listener.arn.clone(), listener.clone());
        self.refresh_target_usage(&caller.region);
        self.emit(&caller.region, Resource::Listener(listener.arn.clone()), Change::Created);
        Ok(listener)
    }

    /// ModifyListener: port, protocol, default action and TLS settings. A
    /// listener leaving TLS drops its policy and certificates; the data
    /// plane follows the published change (a new port is listened on, the
    /// old one closed).
    pub fn modify_listener(&mut self, caller: &Caller, arn: &str, req: &ListenerRequest) -> Result<Listener> {
        let current = self.listener(caller, arn)?.clone();
        let lb = self.load_balancer(caller, &current.load_balancer_arn)?.clone();
        let protocol = req.protocol.clone().unwrap_or_else(|| current.protocol.clone());
        check_protocol(&protocol)?;
        let port = match req.port {
            Some(p) => check_port(p)?,
            None => current.port,
        };
        let tg_arn = req.target_group_arn.clone().unwrap_or_else(|| current.target_group_arn.clone());
        self.check_forward(caller, &lb, &protocol, &tg_arn)?;
        let (ssl_policy, certificate_arn, alpn_policy) = tls_settings(&protocol, Some(&current), req)?;
        if self.port_taken(&caller.region, &lb.arn, port, Some(arn)) {
            return Err(Error::new(
                "DuplicateListener",
                "A listener already exists on this port for this load balancer",
            ));
        }
        let mut next = current.clone();
        next.port = port;
        next.protocol = protocol.clone();
        next.target_group_arn = tg_arn;
        next.ssl_policy = ssl_policy;
        next.certificate_arn = certificate_arn;
        next.alpn_policy = alpn_policy;
        if protocol != "TLS" {
            next.certificate_list.clear();
        }
        if next == current {
            return Ok(current);
        }
        let l = self.region_mut(&caller.region).listeners.get_mut(arn).ok_or_else(listener_not_found)?;
        *l = next.clone();
        if next.target_group_arn != current.target_group_arn {
            self.refresh_target_usage(&caller.region);
        }
        self.emit(&caller.region, Resource::Listener(arn.to_string()), Change::Updated);
        Ok(next)
    }

    pub fn listener(&self, caller: &Caller, arn: &str) -> Result<&Listener> {
        self.region(&caller.region)
            .and_then(|r| r.listeners.get(arn))
            .filter(|l| l.owner == caller.account)
            .ok_or_else(listener_not_found)
    }

    pub fn describe_listeners(&self, caller: &Caller, lb_arn: Option<&str>, arns: &[String]) -> Result<Vec<Listener>> {
        if let Some(lb) = lb_arn {
            self.load_balancer(caller, lb)?;
        }
        if lb_arn.is_none() && arns.is_empty() {
            return Err(Error::validation("You must specify either listener ARNs or a load balancer ARN"));
        }
        for a in arns {
            self.listener(caller, a)?;
        }
        Ok(self
            .region(&caller.region)
            .map(|r| {
                r.listeners
                    .values()
                    .filter(|l| l.owner == caller.account)
                    .filter(|l| lb_arn.is_none_or(|lb| l.load_balancer_arn == lb))
                    .filter(|l| arns.is_empty() || arns.contains(&l.arn))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    pub fn delete_listener(&mut self, caller: &Caller, arn: &str) -> Result<()> {
        self.listener(caller, arn)?;
        self.region_mut(&caller.region).listeners.remove(arn);
        self.refresh_target_usage(&caller.region);
        self.emit(&caller.region, Resource::Listener(arn.to_string()), Change::Deleted);
        Ok(())
    }
}
