//! The admin endpoints of the logs (loopback only, as every `/_emulator/`
//! endpoint):
//!
//! - `GET /_emulator/flows[?endpoint=vpce-..][&limit=N]`: flow records as
//!   the data plane made them (JSON), oldest first.
//! - `GET /_emulator/flow-logs[?interface-id=eni-..][&limit=N]`: the same
//!   flows as VPC Flow Logs version 2 records, one a line after a header
//!   line, as in a flow log file.
//! - `GET /_emulator/query-logs[?vpc-id=vpc-..][&limit=N]`: DNS questions
//!   as Route 53 Resolver query log records (a JSON array).
//!
//! `DELETE` on each forgets what it lists (flows for the first two).
//! `limit` counts flows (each makes up to four flow log records) and
//! defaults to every record kept.

use serde_json::{json, Value};

use super::{FlowRecord, Logs, KEPT};
use crate::api::HttpResponse;

pub fn handles(path: &str) -> bool {
    matches!(path, "/_emulator/flows" | "/_emulator/flow-logs" | "/_emulator/query-logs")
}

fn json_response(status: u16, v: Value) -> HttpResponse {
    HttpResponse { status, content_type: "application/json", body: v.to_string(), headers: Vec::new() }
}

pub fn handle(logs: &Logs, method: &str, path: &str, query: &str) -> HttpResponse {
    let mut limit = KEPT;
    let mut filter: Option<(String, String)> = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "limit" => match v.parse::<usize>() {
                Ok(n) => limit = n,
                Err(_) => return json_response(400, json!({"error": format!("limit={v:?} is not a count")})),
            },
            "endpoint" | "interface-id" | "vpc-id" => filter = Some((k.into_owned(), v.into_owned())),
            _ => {}
        }
    }
    let wanted = |key: &str| filter.as_ref().filter(|(k, _)| k == key).map(|(_, v)| v.as_str());
    match (method, path) {
        ("GET", "/_emulator/flows") => {
            let endpoint = wanted("endpoint");
            let flows = logs.flows(limit, |f| endpoint.is_none_or(|e| f.vpc_endpoint_id == e));
            let flows: Vec<&FlowRecord> = flows.iter().map(|f| f.as_ref()).collect();
            json_response(200, json!({"flows": flows}))
        }
        ("GET", "/_emulator/flow-logs") => {
            let eni = wanted("interface-id");
            let flows = logs.flows(limit, |f| eni.is_none_or(|e| f.touches(e)));
            let mut body = format!("{}\n", super::flow::V2_HEADER);
            for f in &flows {
                for r in f.v2_records() {
                    if eni.is_none_or(|e| r.interface_id == e) {
                        body.push_str(&r.to_string());
                        body.push('\n');
                    }
                }
            }
            HttpResponse { status: 200, content_type: "text/plain; charset=utf-8", body, headers: Vec::new() }
        }
        ("GET", "/_emulator/query-logs") => {
            let vpc = wanted("vpc-id");
            let queries =
                logs.queries(limit, |q| vpc.is_none_or(|v| q.resolver.vpc.as_ref().is_some_and(|(id, _)| id == v)));
            json_response(200, Value::Array(queries.iter().map(|q| q.to_json()).collect()))
        }
        ("DELETE", "/_emulator/flows") | ("DELETE", "/_emulator/flow-logs") => {
            logs.clear_flows();
            json_response(200, json!({"cleared": true}))
        }
        ("DELETE", "/_emulator/query-logs") => {
            logs.clear_queries();
            json_response(200, json!({"cleared": true}))
        }
        _ => json_response(405, json!({"error": format!("{method} is not served on {path}")})),
    }
}
