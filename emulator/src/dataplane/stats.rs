//! Counters per endpoint and per target, shown on the status endpoint, in
//! logs and in the console.

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

/// Flows a target took, by target group: one target may serve several.
#[derive(Debug, Default)]
pub struct TargetStats {
    pub connections: AtomicU64,
    pub active: AtomicU64,
    /// Bytes to the target (from the consumer), and back.
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

/// Target group ARN, then target ID, then port: looked up by reference,
/// so a flow's lookup allocates nothing (only a target's first flow does).
type TargetMap = HashMap<String, HashMap<String, HashMap<u16, Arc<TargetStats>>>>;

#[derive(Debug, Default)]
pub struct Targets {
    map: Mutex<TargetMap>,
}

impl Targets {
    pub fn get(&self, group: &str, id: &str, port: u16) -> Arc<TargetStats> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get(group).and_then(|g| g.get(id)).and_then(|t| t.get(&port)) {
            return s.clone();
        }
        let ports = map.entry(group.to_string()).or_default().entry(id.to_string()).or_default();
        ports.entry(port).or_default().clone()
    }

    /// `{"<target group arn>": {"ID:PORT": {...}}}`.
    pub fn to_json(&self) -> Value {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = serde_json::Map::new();
        for (group, ids) in map.iter() {
            let mut targets = serde_json::Map::new();
            for (id, ports) in ids {
                for (port, s) in ports {
                    let row = json!({
                        "connections": s.connections.load(Ordering::Relaxed),
                        "active": s.active.load(Ordering::Relaxed),
                        "bytes_in": s.bytes_in.load(Ordering::Relaxed),
                        "bytes_out": s.bytes_out.load(Ordering::Relaxed),
                    });
                    targets.insert(format!("{id}:{port}"), row);
                }
            }
            out.insert(group.clone(), Value::Object(targets));
        }
        Value::Object(out)
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    endpoints: Mutex<HashMap<String, Arc<EndpointStats>>>,
    pub targets: Arc<Targets>,
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
