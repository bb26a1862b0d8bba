//! Listeners of network load balancers: a port forwarding to a target group.

use super::tags::Tags;
use super::{ids, Caller, Change, Error, Resource, Result, World};

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
}

pub fn listener_not_found() -> Error {
    Error::new("ListenerNotFound", "One or more listeners not found")
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
        let lb = self.load_balancer(caller, lb_arn)?.clone();
        let protocol = protocol.unwrap_or("TCP").to_string();
        if !matches!(protocol.as_str(), "TCP" | "TLS" | "UDP" | "TCP_UDP") {
            return Err(Error::validation(format!(
                "Listener protocol '{protocol}' must be one of 'TCP_UDP, UDP, TLS, TCP'"
            )));
        }
        let port = port.ok_or_else(|| Error::validation("A listener port must be specified"))?;
        if !(1..=65535).contains(&port) {
            return Err(Error::validation(format!("Port '{port}' must be between '1' and '65535'")));
        }
        let tg_arn = target_group_arn
            .ok_or_else(|| Error::validation("A forward action with a target group must be specified"))?;
        let tg = self.target_group(caller, tg_arn)?.clone();
        if tg.vpc_id.as_deref() != Some(lb.vpc_id.as_str()) {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                format!("The target group '{tg_arn}' is not in the same VPC as the load balancer"),
            ));
        }
        let compatible = match protocol.as_str() {
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
        if others.iter().any(|a| a != lb_arn) {
            return Err(Error::new(
                "TargetGroupAssociationLimit",
                format!("The following target groups cannot be associated with more than one load balancer: {tg_arn}"),
            ));
        }
        let r = self.region_mut(&caller.region);
        if r.listeners.values().any(|l| l.load_balancer_arn == lb_arn && i64::from(l.port) == port) {
            return Err(Error::new(
                "DuplicateListener",
                "A listener already exists on this port for this load balancer",
            ));
        }
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
            port: port as u16,
            protocol,
            target_group_arn: tg_arn.to_string(),
            tags,
            tcp_idle_timeout_seconds: super::listener_settings::DEFAULT_TCP_IDLE_TIMEOUT_SECONDS,
        };
        r.listeners.insert(listener.arn.clone(), listener.clone());
        self.refresh_target_usage(&caller.region);
        self.emit(&caller.region, Resource::Listener(listener.arn.clone()), Change::Created);
        Ok(listener)
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
