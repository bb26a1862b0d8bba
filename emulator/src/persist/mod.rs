//! Durable state (`--state-dir DIR`): an append-only journal of the
//! operations that changed the world, made durable (fsync) before the API
//! answers, and a snapshot of the whole world that the journal is folded
//! into now and then (written to a temporary file, fsynced, renamed).
//!
//! The journal holds operations, not results: an API request with the
//! caller, the time it ran at and the seed of its random choices. Replaying
//! it through the same code gives the same world, down to every id, ARN,
//! DNS name and address. On start the snapshot is loaded and the journal
//! after it replayed; a torn or corrupt tail (a crash mid-write) is found by
//! its checksum, cut and logged, and nothing before it is lost.

pub mod journal;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

pub const SNAPSHOT: &str = "snapshot.json";
pub const JOURNAL: &str = "journal.log";
const FORMAT: u32 = 1;
/// Operations between two snapshots.
pub const COMPACT_EVERY: u64 = 10_000;

/// One change to the world, as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// An EC2 or ELBv2 request, run at `now` with random choices from `seed`.
    Api {
        now: u64,
        seed: u64,
        account: String,
        arn: String,
        region: String,
        protocol: String,
        action: String,
        params: Vec<(String, String)>,
    },
    /// Time moved transitional states on.
    Tick {
        now: u64,
        seed: u64,
    },
    PublishTxt {
        name: String,
        value: String,
    },
    UnpublishTxt {
        name: String,
        value: Option<String>,
    },
    /// Everything of one account (or of all) forgotten.
    Reset {
        account: Option<String>,
    },
    /// The world replaced by a dump.
    Import {
        world: Value,
    },
}

#[derive(Serialize, Deserialize)]
struct Entry {
    seq: u64,
    #[serde(flatten)]
    op: Op,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    /// The last journaled operation the world includes.
    seq: u64,
    world: Value,
}

/// What a state directory held.
#[derive(Debug, Default)]
pub struct Restored {
    /// The snapshot's world, when there is one.
    pub world: Option<Value>,
    /// Operations after the snapshot, in order.
    pub ops: Vec<Op>,
    /// Bytes of a torn or corrupt journal tail that were cut.
    pub dropped: u64,
}

/// Makes appended records durable; shared so a request syncs without
/// holding the lock appends take.
#[derive(Debug)]
pub struct Syncer {
    file: File,
    appended: AtomicU64,
    synced: AtomicU64,
    lock: Mutex<()>,
}

impl Syncer {
    /// Returns once every record up to `seq` is on disk; one fsync covers
    /// every request that appended before it.
    pub fn sync_through(&self, seq: u64) -> io::Result<()> {
        if self.synced.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let _one = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.synced.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let target = self.appended.load(Ordering::Acquire);
        self.file.sync_data()?;
        self.synced.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }
}

/// The journal of a state directory, open for appending.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    file: File,
    seq: u64,
    since_snapshot: u64,
    syncer: Arc<Syncer>,
    buf: Vec<u8>,
    /// Bytes of intact records in the journal file.
    len: u64,
}

impl Store {
    /// Opens (creating) `dir`, reads what it holds and cuts a torn tail.
    pub fn open(dir: &Path) -> io::Result<(Store, Restored)> {
        fs::create_dir_all(dir)?;
        let snapshot_path = dir.join(SNAPSHOT);
        let (snapshot_seq, world) = match fs::read(&snapshot_path) {
            Ok(bytes) => {
                let s: Snapshot = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", snapshot_path.display()))
                })?;
                if s.format != FORMAT {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: format {} (this emulator reads {FORMAT})", snapshot_path.display(), s.format),
                    ));
                }
                (s.seq, Some(s.world))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (0, None),
            Err(e) => return Err(e),
        };
        let journal_path = dir.join(JOURNAL);
        let contents = journal::read(&journal_path)?;
        let mut seq = snapshot_seq;
        let mut ops = Vec::new();
        let mut valid_len = 0u64;
        let mut dropped = contents.dropped;
        for record in &contents.records {
            let Ok(entry) = serde_json::from_slice::<Entry>(record) else {
                // Intact bytes that do not decode: treat like a corrupt tail.
                dropped = contents.valid_len - valid_len + contents.dropped;
                break;
            };
            valid_len += 8 + record.len() as u64;
            if entry.seq <= snapshot_seq {
                continue;
            }
            seq = entry.seq;
            ops.push(entry.op);
        }
        let file = OpenOptions::new().create(true).append(true).open(&journal_path)?;
        if dropped > 0 {
            warn!(
                journal = %journal_path.display(),
                kept_bytes = valid_len,
                cut_bytes = dropped,
                "the journal ends in a torn or corrupt record (a crash mid-write); cutting it there"
            );
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        let syncer = Arc::new(Syncer {
            file: file.try_clone()?,
            appended: AtomicU64::new(seq),
            synced: AtomicU64::new(seq),
            lock: Mutex::new(()),
        });
        info!(dir = %dir.display(), snapshot_seq, replay = ops.len(), "state directory opened");
        let since_snapshot = ops.len() as u64;
        let store =
            Store { dir: dir.to_path_buf(), file, seq, since_snapshot, syncer, buf: Vec::new(), len: valid_len };
        Ok((store, Restored { world, ops, dropped }))
    }

    pub fn syncer(&self) -> Arc<Syncer> {
        self.syncer.clone()
    }

    /// Appends `op` (written, not yet synced); returns its sequence number.
    pub fn append(&mut self, op: Op) -> io::Result<u64> {
        let entry = Entry { seq: self.seq + 1, op };
        let payload = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        self.buf.clear();
        journal::frame(&payload, &mut self.buf);
        if let Err(e) = self.file.write_all(&self.buf) {
            // Later records must not follow a partial one.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += self.buf.len() as u64;
        self.seq = entry.seq;
        self.since_snapshot += 1;
        self.syncer.appended.store(self.seq, Ordering::Release);
        Ok(self.seq)
    }

    /// Whether enough has been journaled to fold it into a snapshot.
    pub fn wants_snapshot(&self) -> bool {
        self.since_snapshot >= COMPACT_EVERY
    }

    /// Writes `world` (the state after every appended operation) as the
    /// snapshot and empties the journal.
    pub fn snapshot(&mut self, world: Value) -> io::Result<()> {
        let body = serde_json::to_vec(&Snapshot { format: FORMAT, seq: self.seq, world }).map_err(io::Error::other)?;
        let tmp = self.dir.join(format!("{SNAPSHOT}.tmp"));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join(SNAPSHOT))?;
        File::open(&self.dir)?.sync_all()?;
        // The snapshot covers every record; a crash before this cut leaves
        // records the next start skips by their sequence numbers.
        self.file.set_len(0)?;
        self.file.sync_all()?;
        self.len = 0;
        self.since_snapshot = 0;
        self.syncer.synced.fetch_max(self.seq, Ordering::AcqRel);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
