//! The world a state directory holds: the snapshot, then the journal's
//! records written back in order. Records of format 1 are migrated (see
//! [`crate::persist`]) and the result folded into a snapshot of the current
//! format at once, so they are replayed on one start only.

use std::io;
use std::sync::Arc;

use tracing::info;

use super::Shared;
use crate::model::World;
use crate::persist::{self, Body, Record, Store};
use crate::Config;

/// The shared state for a configuration: an empty world, or with a state
/// directory the world it holds.
pub fn shared(config: &Config) -> io::Result<Arc<Shared>> {
    let Some(dir) = &config.state_dir else {
        let world = World::new(config.model.clone());
        return Ok(Shared::build(world, config.auth.clone(), None, config.api_limits));
    };
    let started = std::time::Instant::now();
    let (mut store, restored) = Store::open(dir)?;
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let mut world = match restored.world {
        Some(dump) => World::from_json(dump, config.model.clone()).map_err(|e| invalid(format!("snapshot: {e}")))?,
        None => World::new(config.model.clone()),
    };
    let records = restored.records.len();
    let mut migrated = 0usize;
    for (n, record) in restored.records.into_iter().enumerate() {
        match record {
            Record::Change(change) => match change.body {
                Body::Effects(effects) => world
                    .apply_effects(&effects)
                    .map_err(|e| invalid(format!("journal record {} ({}): {e}", n + 1, change.cause)))?,
                // Never read from a journal (it reads back as effects);
                // applied the same way where a change is handed over whole.
                Body::Written(written) => written
                    .iter()
                    .map(|w| w.to_effect().map_err(|e| e.to_string()))
                    .collect::<Result<Vec<_>, _>>()
                    .and_then(|effects| world.apply_effects(&effects))
                    .map_err(|e| invalid(format!("journal record {} ({}): {e}", n + 1, change.cause)))?,
                Body::World(dump) => {
                    let next = World::from_json(dump, config.model.clone())
                        .map_err(|e| invalid(format!("journal record {} ({}): {e}", n + 1, change.cause)))?;
                    world.replace(next);
                    world.settle();
                }
            },
            Record::Legacy(op) => {
                if let Err(e) = crate::api::replay_legacy(&mut world, op) {
                    tracing::warn!(error = %e, "a format 1 journal record no longer applies");
                }
                migrated += 1;
            }
        }
    }
    world.drain_events();
    world.settle();
    if migrated > 0 || (restored.snapshot_format != 0 && restored.snapshot_format < persist::FORMAT) {
        store.snapshot(&world)?;
        info!(
            dir = %dir.display(), from_format = restored.snapshot_format.max(1), to_format = persist::FORMAT,
            replayed = migrated, "state directory migrated"
        );
    }
    info!(
        dir = %dir.display(), records, cut_bytes = restored.dropped,
        elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "world restored"
    );
    Ok(Shared::build(world, config.auth.clone(), Some(store), config.api_limits))
}
