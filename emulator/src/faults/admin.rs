//! The admin endpoints of faults (loopback only):
//!
//! - `GET /_emulator/faults`: the faults in force, with their hits.
//! - `POST /_emulator/faults`: adds one, a JSON object with `kind` and its
//!   fields (see [`super::Spec`]) and an optional `for_seconds`; answers it.
//! - `DELETE /_emulator/faults[?id=fault-N]`: removes one, or every fault.

use serde_json::{json, Value};

use super::Spec;
use crate::api::HttpResponse;
use crate::engine::Shared;

pub fn handles(path: &str) -> bool {
    path == "/_emulator/faults"
}

fn json_response(status: u16, v: Value) -> HttpResponse {
    HttpResponse { status, content_type: "application/json", body: v.to_string(), headers: Vec::new() }
}

fn bad(message: impl Into<String>) -> HttpResponse {
    json_response(400, json!({"error": message.into()}))
}

pub fn handle(shared: &Shared, method: &str, query: &str, body: &[u8]) -> HttpResponse {
    let faults = &shared.faults;
    match method {
        "GET" => json_response(200, json!({"faults": faults.to_json()})),
        "POST" => {
            let mut v: Value = match serde_json::from_slice(body) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => return bad("expected a JSON object with \"kind\""),
                Err(e) => return bad(format!("expected a JSON object with \"kind\": {e}")),
            };
            let for_seconds = match v.as_object_mut().and_then(|o| o.remove("for_seconds")) {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => n.as_f64(),
                Some(other) => return bad(format!("for_seconds must be a number, not {other}")),
            };
            let spec: Spec = match serde_json::from_value(v) {
                Ok(s) => s,
                Err(e) => return bad(format!("not a fault: {e}")),
            };
            let added = {
                let world = shared.world();
                faults.add(spec, for_seconds, &world)
            };
            match added {
                Ok(f) => json_response(200, f.to_json()),
                Err(e) => bad(e),
            }
        }
        "DELETE" => {
            let id = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "id").map(|(_, v)| v.into_owned());
            let removed = match &id {
                Some(id) => faults.remove(|f| &f.id == id),
                None => faults.remove(|_| true),
            };
            if id.is_some() && removed == 0 {
                return json_response(404, json!({"error": format!("no fault {}", id.unwrap_or_default())}));
            }
            json_response(200, json!({"removed": removed}))
        }
        _ => json_response(405, json!({"error": format!("{method} is not served on /_emulator/faults")})),
    }
}
