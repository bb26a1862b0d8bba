//! The emulator's own endpoints under `/_emulator/` (loopback callers only):
//! health, a status dump, the public DNS records providers publish, and the
//! connection notifications published so far.

use serde_json::{json, Value};

use super::{HttpRequest, HttpResponse, Shared};
use crate::engine::Cause;
use crate::model::{Error, World};

fn json_response(status: u16, v: Value) -> HttpResponse {
    HttpResponse { status, content_type: "application/json", body: v.to_string(), headers: Vec::new() }
}

fn error(e: &Error) -> HttpResponse {
    json_response(if e.status >= 500 { e.status } else { 400 }, json!({"error": e.message, "code": e.code}))
}

pub fn handle(shared: &Shared, req: &HttpRequest<'_>) -> HttpResponse {
    if !req.peer.ip().is_loopback() {
        return json_response(403, json!({"error": "the admin API answers loopback callers only"}));
    }
    if crate::console::handles(req.path) {
        return crate::console::handle(shared, req.method, req.path, req.body);
    }
    if crate::faults::admin::handles(req.path) {
        return crate::faults::admin::handle(shared, req.method, req.query, req.body);
    }
    if crate::flowlog::admin::handles(req.path) {
        return crate::flowlog::admin::handle(&shared.logs, req.method, req.path, req.query);
    }
    match (req.method, req.path) {
        ("GET", "/_emulator/health") => json_response(200, json!({"status": "ok"})),
        // The local CA of AWS-service endpoints: AWS_CA_BUNDLE / --ca-bundle.
        ("GET", "/_emulator/ca.pem") => match shared.tls_ca_pem.get() {
            Some(pem) => HttpResponse {
                status: 200,
                content_type: "application/x-pem-file",
                body: pem.clone(),
                headers: Vec::new(),
            },
            None => json_response(404, json!({"error": "no data plane runs, so there is no local CA"})),
        },
        ("GET", "/_emulator/state") => {
            shared.tick();
            let dump = shared.world().to_json();
            json_response(200, dump)
        }
        ("PUT", "/_emulator/state") | ("POST", "/_emulator/state") => {
            let world: Value = match serde_json::from_slice(req.body) {
                Ok(v) => v,
                Err(e) => {
                    return json_response(
                        400,
                        json!({"error": format!("expected a dump of GET /_emulator/state: {e}")}),
                    )
                }
            };
            let imported = shared.replace(Cause::new("import"), |w| {
                let imported = World::from_json(world, w.settings().clone())?;
                w.replace(imported);
                Ok(())
            });
            if let Err(e) = imported {
                return error(&e);
            }
            json_response(200, json!({"imported": true}))
        }
        ("POST", "/_emulator/reset") => {
            let account = req
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("account="))
                .filter(|a| !a.is_empty())
                .map(str::to_string);
            if let Some(a) = &account {
                if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                    return json_response(400, json!({"error": format!("account must be 12 digits, not {a:?}")}));
                }
            }
            let what = format!("reset {}", account.as_deref().unwrap_or("all"));
            if let Err(e) = shared.replace(Cause::new(what), |w| {
                w.reset(account.as_deref());
                Ok(())
            }) {
                return error(&e);
            }
            json_response(200, json!({"reset": account.unwrap_or_else(|| "all".into())}))
        }
        ("GET", "/_emulator/status") => {
            shared.tick();
            let mut doc = {
                let w = shared.world();
                status(&w, shared)
            };
            for (name, section) in shared.status_sections() {
                doc[name] = section;
            }
            json_response(200, doc)
        }
        // Connection notifications as SNS would deliver them, oldest first.
        ("GET", "/_emulator/notifications") => {
            let topic =
                form_urlencoded::parse(req.query.as_bytes()).find(|(k, _)| k == "topic").map(|(_, v)| v.into_owned());
            json_response(200, shared.notifications.list(topic.as_deref()))
        }
        ("DELETE", "/_emulator/notifications") => {
            shared.notifications.clear();
            json_response(200, json!({"cleared": true}))
        }
        ("GET", "/_emulator/public-dns/txt") => {
            let w = shared.world();
            json_response(200, json!(w.public_txt_records()))
        }
        ("POST", "/_emulator/public-dns/txt") | ("DELETE", "/_emulator/public-dns/txt") => {
            let body: Value = match serde_json::from_slice(req.body) {
                Ok(v) => v,
                Err(e) => {
                    return json_response(
                        400,
                        json!({"error": format!("expected JSON {{\"name\":..,\"value\":..}}: {e}")}),
                    )
                }
            };
            let Some(name) = body.get("name").and_then(Value::as_str) else {
                return json_response(400, json!({"error": "missing \"name\""}));
            };
            let value = body.get("value").and_then(Value::as_str);
            if req.method == "POST" && value.is_none() {
                return json_response(400, json!({"error": "missing \"value\""}));
            }
            // The DNS server follows the change, so the record is served at once.
            let changed = shared.apply(Cause::new("public-dns txt"), |w| {
                match value {
                    Some(value) if req.method == "POST" => w.publish_txt(name, value),
                    _ => w.unpublish_txt(name, value),
                }
                Ok(())
            });
            if let Err(e) = changed {
                return error(&e);
            }
            let values = shared.world().txt_records(name);
            json_response(200, json!({"name": name, "values": values}))
        }
        _ => json_response(404, json!({"error": format!("no such admin endpoint: {} {}", req.method, req.path)})),
    }
}

/// `GET /_emulator/ready[?revision=N][&timeout=SECONDS]`: answers once DNS,
/// the data plane and the netplane have applied every change up to
/// revision N (default: every change made so far), 503 when `timeout`
/// (default 10 s, at most 60) passes first. Answering at all means the
/// API, DNS and data plane are up: the process serves the API only once
/// the others run.
pub async fn ready(shared: &Shared, req: &HttpRequest<'_>) -> HttpResponse {
    if !req.peer.ip().is_loopback() {
        return json_response(403, json!({"error": "the admin API answers loopback callers only"}));
    }
    let mut revision = shared.revision();
    let mut timeout = std::time::Duration::from_secs(10);
    for (k, v) in form_urlencoded::parse(req.query.as_bytes()) {
        match (k.as_ref(), v.parse::<f64>()) {
            ("revision", Ok(n)) if n >= 0.0 && n.fract() == 0.0 => revision = n as u64,
            ("timeout", Ok(t)) if (0.0..=60.0).contains(&t) => timeout = std::time::Duration::from_secs_f64(t),
            ("revision" | "timeout", _) => {
                return json_response(400, json!({"error": format!("{k}={v:?} is not a valid value")}));
            }
            _ => {}
        }
    }
    let settled = shared.settle(revision, timeout).await;
    let followers: serde_json::Map<String, Value> =
        shared.settled().into_iter().map(|(name, r)| (name, json!(r))).collect();
    let body = json!({
        "ready": settled, "durable": shared.is_durable(), "revision": revision,
        "current_revision": shared.revision(), "settled": followers,
    });
    json_response(if settled { 200 } else { 503 }, body)
}

/// A readable picture of the world: VPCs with their host blocks, services,
/// endpoints with states, DNS names and addresses, hosted zones with their
/// VPCs.
fn status(w: &World, shared: &Shared) -> Value {
    let mut regions = Vec::new();
    let mut names: Vec<&str> = w.regions().map(|r| r.name.as_str()).collect();
    names.sort();
    for name in names {
        let Some(r) = w.region(name) else { continue };
        let vpcs: Vec<Value> = r
            .vpcs
            .values()
            .map(|v| {
                json!({
                    "vpc_id": v.id, "owner": v.owner, "cidr": v.cidr.to_string(),
                    "resolver": v.resolver_address().to_string(),
                    "host_block": crate::addressing::VpcBlock::from(v).host_cidr().to_string(),
                    "enable_dns_support": v.enable_dns_support, "enable_dns_hostnames": v.enable_dns_hostnames,
                })
            })
            .collect();
        let load_balancers: Vec<Value> = r
            .load_balancers
            .values()
            .map(|l| {
                json!({
                    "arn": l.arn, "owner": l.owner, "state": l.state, "dns_name": l.dns_name,
                    "nodes": l.nodes.iter().map(|n| json!({"zone": n.availability_zone, "address": n.private_ip.to_string()})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let services: Vec<Value> = r
            .services
            .values()
            .map(|s| {
                json!({
                    "service_id": s.id, "service_name": s.name, "owner": s.owner, "state": s.state.as_str(),
                    "acceptance_required": s.acceptance_required,
                    "allowed_principals": s.principals.iter().map(|p| p.principal.clone()).collect::<Vec<_>>(),
                    "private_dns_name": s.private_dns.as_ref().map(|p| json!({"name": p.name, "state": p.state.as_str()})),
                })
            })
            .collect();
        let endpoints: Vec<Value> = r
            .endpoints
            .values()
            .map(|e| {
                let enis: Vec<_> = e.network_interface_ids.iter().filter_map(|n| r.network_interfaces.get(n)).collect();
                let addresses: Vec<String> = enis.iter().map(|n| n.private_ip.to_string()).collect();
                let zones: Vec<String> = enis.iter().map(|n| n.availability_zone.clone()).collect();
                json!({
                    "vpc_endpoint_id": e.id, "owner": e.owner, "vpc_id": e.vpc_id, "service_name": e.service_name,
                    "state": e.state.as_str(), "addresses": addresses, "zones": zones,
                    "dns_names": e.dns_entries.iter().map(|d| d.dns_name.clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        regions.push(json!({
            "region": name, "vpcs": vpcs, "load_balancers": load_balancers,
            "endpoint_services": services, "vpc_endpoints": endpoints,
        }));
    }
    // Route 53 is global: its zones sit beside the regions, naming VPCs by
    // region and id.
    let mut zones: Vec<_> = w.hosted_zones().collect();
    zones.sort_by(|a, b| (&a.owner, &a.name, &a.id).cmp(&(&b.owner, &b.name, &b.id)));
    let hosted_zones: Vec<Value> = zones
        .into_iter()
        .map(|z| {
            json!({
                "id": z.id, "name": z.name, "owner": z.owner, "private": z.private,
                "record_count": w.record_count(&z.id), "comment": z.comment,
                "vpcs": z.vpcs.iter().map(|v| json!({"region": v.region, "vpc_id": v.vpc_id})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": shared.started.elapsed().as_secs_f64(),
        "strict_auth": shared.auth.strict,
        "regions": regions,
        "hosted_zones": hosted_zones,
    })
}
