//! `POST /_emulator/console/act`: what the console's provider buttons do,
//! accept or reject an endpoint's connection, as the service's owner.
//!
//! The page cannot sign requests (it holds no secret), so under
//! `--strict-auth` it could not use the Query API; nor should the Query API
//! take unsigned calls for its sake. This endpoint is the narrow door
//! instead: loopback only, like every admin endpoint (which can already
//! replace the whole state), two actions, and the owner taken from the
//! service, never from the caller. It changes the world exactly as the
//! Query API call would, journaled and notified the same way.

use serde::Deserialize;
use serde_json::json;

use crate::api::HttpResponse;
use crate::engine::{now_ms, Cause, Shared};
use crate::model::service::service_not_found;
use crate::model::{Caller, Error};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Act {
    action: String,
    region: String,
    service_id: String,
    endpoint_id: String,
}

fn answer(status: u16, body: serde_json::Value) -> HttpResponse {
    HttpResponse { status, content_type: "application/json", body: body.to_string(), headers: Vec::new() }
}

fn refused(e: &Error) -> HttpResponse {
    answer(e.status, json!({"code": e.code, "error": e.message}))
}

pub fn handle(shared: &Shared, body: &[u8]) -> HttpResponse {
    let act: Act = match serde_json::from_slice(body) {
        Ok(a) => a,
        Err(e) => {
            return answer(
                400,
                json!({"error": format!("expected {{\"action\", \"region\", \"service_id\", \"endpoint_id\"}}: {e}")}),
            )
        }
    };
    let accept = match act.action.as_str() {
        "AcceptVpcEndpointConnections" => true,
        "RejectVpcEndpointConnections" => false,
        other => {
            return answer(
                400,
                json!({"error": format!(
                    "the console takes AcceptVpcEndpointConnections or RejectVpcEndpointConnections, not {other:?}"
                )}),
            )
        }
    };
    let now = now_ms();
    let cause = Cause::at(now, format!("console:{} of {} for {}", act.action, act.endpoint_id, act.service_id));
    let done = shared.apply(cause, |world| {
        let owner = world
            .region(&act.region)
            .and_then(|r| r.services.get(&act.service_id))
            .map(|s| s.owner.clone())
            .ok_or_else(|| service_not_found(&act.service_id))?;
        let caller = Caller::root(&owner, &act.region);
        let ids = [act.endpoint_id.clone()];
        if accept {
            world.accept_connections(&caller, now, &act.service_id, &ids, false)
        } else {
            world.reject_connections(&caller, &act.service_id, &ids, false)
        }
    });
    match done {
        Ok(failed) => match failed.first() {
            None => answer(200, json!({"done": act.action, "endpoint_id": act.endpoint_id})),
            Some(f) => refused(&f.error),
        },
        Err(e) => refused(&e),
    }
}
