//! Load balancer capacity unit (LCU) reservations of network load
//! balancers (Describe/ModifyCapacityReservation). The emulator has no
//! capacity to run out of: a reservation is provisioned at once, spread
//! evenly over the NLB's zones. Decreases (a lower minimum or a reset) are
//! limited to two a day, as in AWS.

use super::elb::lb_not_found;
use super::{Caller, Change, Error, Millis, Resource, Result, World};

pub const DECREASES_PER_DAY: usize = 2;
const DAY_MS: Millis = 24 * 3600 * 1000;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CapacityReservation {
    /// The reserved minimum, in capacity units (none: no reservation).
    #[serde(default)]
    pub minimum_capacity_units: Option<i64>,
    /// When the reservation was last changed.
    #[serde(default)]
    pub last_modified: Option<Millis>,
    /// When each decrease of the last day was asked for.
    #[serde(default)]
    pub decreases: Vec<Millis>,
}

impl CapacityReservation {
    pub fn decreases_remaining(&self, now: Millis) -> usize {
        let recent = self.decreases.iter().filter(|&&t| t + DAY_MS > now).count();
        DECREASES_PER_DAY.saturating_sub(recent)
    }
}

impl World {
    /// ModifyCapacityReservation: `Some(units)` reserves a minimum, `None`
    /// (ResetCapacityReservation) cancels the reservation.
    pub fn modify_capacity_reservation(
        &mut self,
        caller: &Caller,
        now: Millis,
        arn: &str,
        units: Option<i64>,
    ) -> Result<CapacityReservation> {
        let lb = self.load_balancer(caller, arn)?;
        let tls = self
            .region(&caller.region)
            .is_some_and(|r| r.listeners.values().any(|l| l.load_balancer_arn == arn && l.protocol == "TLS"));
        if tls && units.is_some() {
            return Err(Error::new(
                "InvalidConfigurationRequest",
                "Capacity reservations are not supported for Network Load Balancers with TLS listeners",
            ));
        }
        if let Some(u) = units {
            if u < 1 {
                return Err(Error::validation(format!(
                    "The minimum load balancer capacity '{u}' must be a positive number of capacity units"
                )));
            }
        }
        let mut c = lb.capacity_reservation.clone();
        let decrease = match (c.minimum_capacity_units, units) {
            (Some(old), Some(new)) => new < old,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if decrease && c.decreases_remaining(now) == 0 {
            return Err(Error::new(
                "CapacityDecreaseRequestLimitExceeded",
                format!("The capacity of a load balancer can be decreased at most {DECREASES_PER_DAY} times a day"),
            ));
        }
        c.decreases.retain(|&t| t + DAY_MS > now);
        if decrease {
            c.decreases.push(now);
        }
        if c.minimum_capacity_units != units {
            c.minimum_capacity_units = units;
            c.last_modified = Some(now);
        }
        if c == lb.capacity_reservation {
            return Ok(c);
        }
        let l = self.region_mut(&caller.region).load_balancers.get_mut(arn).ok_or_else(lb_not_found)?;
        l.capacity_reservation = c.clone();
        self.emit(&caller.region, Resource::LoadBalancer(arn.to_string()), Change::Updated);
        Ok(c)
    }
}
