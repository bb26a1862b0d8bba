//! Counters per endpoint, shown on the status endpoint and in logs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

#[derive(Debug, Default)]
pub struct EndpointStats {
    /// Flows carried to a target.
    pub connections: AtomicU64,
    pub active: AtomicU64,
    /// Flows reset: refused by security groups, or no reachable target.
    pub refused: AtomicU64,
    /// Of those, flows the NLB's security groups refused (AWS's
    /// SecurityGroupBlockedFlowCount_Inbound of the load balancer).
    pub load_balancer_group_blocked: AtomicU64,
    /// Bytes from the consumer to the target, and back.
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

#[derive(Debug, Default)]
pub struct Stats {
    endpoints: Mutex<HashMap<String, Arc<EndpointStats>>>,
    /// Flows reset because `max_flows` were already open.
    pub over_limit: std::sync::atomic::AtomicU64,
}

impl Stats {
    pub fn endpoint(&self, id: &str) -> Arc<EndpointStats> {
        let mut map = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(id.to_string()).or_default().clone()
    }

    pub fn to_json(&self) -> Value {
        let map = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<&String> = map.keys().collect();
        ids.sort();
        let rows: serde_json::Map<String, Value> = ids
            .into_iter()
            .map(|id| {
                let s = &map[id];
                (
                    id.clone(),
                    json!({
                        "connections": s.connections.load(Ordering::Relaxed),
                        "active": s.active.load(Ordering::Relaxed),
                        "refused": s.refused.load(Ordering::Relaxed),
                        "refused_by_load_balancer_security_groups": s.load_balancer_group_blocked.load(Ordering::Relaxed),
                        "bytes_in": s.bytes_in.load(Ordering::Relaxed),
                        "bytes_out": s.bytes_out.load(Ordering::Relaxed),
                    }),
                )
            })
            .collect();
        Value::Object(rows)
    }
}
