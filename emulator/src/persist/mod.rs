//! Durable state (`--state-dir DIR`): an append-only journal of what each
//! change did to the world, made durable (fsync) before the API answers,
//! and a snapshot of the whole world that the journal is folded into now
//! and then (written to a temporary file, fsynced, renamed).
//!
//! The periodic fold is written while the world goes on changing
//! ([`Store::begin_snapshot`]): the journal is synced and moved aside
//! (`journal.prev.log`) and a fresh one takes the next records; the
//! snapshot of the world as of the last moved-aside record is written, and
//! then the moved-aside journal removed. Loading reads the moved-aside
//! journal before the current one and skips records the snapshot holds, so
//! a crash at any step loads every change.
//!
//! The journal holds results, not requests: each record lists the records
//! a change wrote and removed ([`Effect`]s), or the whole world when it was
//! replaced (import, reset). Loading writes them back; it never re-runs
//! validation or random draws, so it does not depend on the release's rules
//! or on settings such as `--pending-seconds`.
//!
//! Formats: every snapshot and every journal record carries its format.
//! Format 1 (releases up to d8452a2) journaled requests with their time and
//! random seed; such records are migrated by replaying them once, after
//! which the loader writes a snapshot in the current format. Format 2
//! (releases up to b04511c) journaled effects as format 3 does: its
//! records load as they are, and a format 2 snapshot is rewritten in the
//! current format on its first load. A snapshot or
//! record of a format newer than this release knows is refused with a
//! clear message: the directory is not half-loaded. A torn or corrupt tail
//! (a crash mid-write) is found by its checksum, cut and logged, and
//! nothing before it is lost.

pub mod journal;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, warn};

use crate::model::{Effect, Written};

pub const SNAPSHOT: &str = "snapshot.json";
pub const JOURNAL: &str = "journal.log";
/// The journal moved aside while a snapshot of its records is written.
pub const PREVIOUS_JOURNAL: &str = "journal.prev.log";
/// The format this release writes. 3: VPCs smaller than /16 may share a
/// host block (`shares_block`); a release that reads only up to format 2
/// would put their addresses elsewhere and hand their block to another VPC,
/// so it refuses such a directory. 4: a subnet's record no longer lists the
/// addresses interfaces hold (`used`, derived from the interfaces now); a
/// release that reads only up to format 3 needs that list, so it refuses
/// such a directory with a clear message instead of failing on a record.
/// Records of formats 2 and 3 load as they are (`used` is ignored).
pub const FORMAT: u32 = 4;
/// The oldest format this release loads.
pub const OLDEST_FORMAT: u32 = 1;
/// Operations between two snapshots.
pub const COMPACT_EVERY: u64 = 10_000;

/// One change to the world, as format 1 journaled it: the operation, to be
/// replayed. Read only, to migrate state directories of earlier releases.
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
struct LegacyEntry {
    seq: u64,
    #[serde(flatten)]
    op: Op,
}

/// One change, as journaled now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// When it was applied (Unix ms).
    pub at: u64,
    /// What caused it, for people reading the journal: `ec2:CreateVpc by
    /// 111111111111`, `tick`, `health`, `import` ...
    pub cause: String,
    #[serde(flatten)]
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// The records written and removed, as read back.
    Effects(Vec<Effect>),
    /// The same, as the engine writes them: serialised as `effects`, and
    /// read back as [`Body::Effects`].
    #[serde(rename = "effects", skip_deserializing)]
    Written(Vec<Written>),
    /// The whole world after the change (import, reset).
    World(Value),
}

#[derive(Serialize, Deserialize)]
struct Entry {
    seq: u64,
    format: u32,
    #[serde(flatten)]
    change: Change,
}

/// One journal record as read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Change(Change),
    /// Format 1: an operation to replay.
    Legacy(Op),
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
    /// The snapshot's format (0 without a snapshot).
    pub snapshot_format: u32,
    /// Records after the snapshot, in order.
    pub records: Vec<Record>,
    /// Bytes of a torn or corrupt journal tail that were cut.
    pub dropped: u64,
}

/// Makes appended records durable; shared so a request syncs without
/// holding the lock appends take.
#[derive(Debug)]
pub struct Syncer {
    /// The journal appended to now (replaced when it is moved aside, once
    /// every record of the one before is synced).
    file: Mutex<File>,
    appended: AtomicU64,
    synced: AtomicU64,
}

impl Syncer {
    /// Returns once every record up to `seq` is on disk; one fsync covers
    /// every request that appended before it.
    pub fn sync_through(&self, seq: u64) -> io::Result<()> {
        if self.synced.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if self.synced.load(Ordering::Acquire) >= seq {
            return Ok(());
        }
        let target = self.appended.load(Ordering::Acquire);
        file.sync_data()?;
        self.synced.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }
}

/// How the journal is to be folded into a snapshot now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Moved aside, the snapshot written off the world's lock
    /// ([`Store::begin_snapshot`]).
    Aside,
    /// Written at once ([`Store::snapshot`]): a snapshot begun aside failed,
    /// and its journal is still there.
    Here,
}

/// Whether a snapshot begun aside is still being written; the store waits
/// on it before writing one of its own, so two never cross.
#[derive(Debug, Default)]
struct Folding {
    busy: Mutex<bool>,
    done: Condvar,
}

impl Folding {
    fn set(&self, busy: bool) {
        *self.busy.lock().unwrap_or_else(|e| e.into_inner()) = busy;
        if !busy {
            self.done.notify_all();
        }
    }

    fn is_busy(&self) -> bool {
        *self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_idle(&self) {
        let busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        drop(self.done.wait_while(busy, |b| *b).unwrap_or_else(|e| e.into_inner()));
    }
}

/// A snapshot begun by [`Store::begin_snapshot`], to be written (by
/// [`PendingSnapshot::write`]) of the world as it was then. Dropped
/// unwritten, it leaves the moved-aside journal for the next fold.
#[derive(Debug)]
pub struct PendingSnapshot {
    dir: PathBuf,
    seq: u64,
    folding: Arc<Folding>,
    aside: Arc<AtomicBool>,
}

impl Drop for PendingSnapshot {
    fn drop(&mut self) {
        self.folding.set(false);
    }
}

impl PendingSnapshot {
    /// The last record the snapshot holds.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Writes `world` (the world after record `seq`) as the snapshot, then
    /// removes the moved-aside journal. On failure the moved-aside journal
    /// stays, and the next fold is written at once ([`Fold::Here`]).
    pub fn write(self, world: &impl Serialize) -> io::Result<()> {
        write_snapshot(&self.dir, self.seq, world)?;
        remove_previous(&self.dir)?;
        self.aside.store(false, Ordering::Release);
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
    /// Whether a snapshot begun aside is being written.
    folding: Arc<Folding>,
    /// A moved-aside journal exists (a snapshot of it is being written, or
    /// failed, or a crash came first).
    aside: Arc<AtomicBool>,
}

impl Store {
    /// Opens (creating) `dir`, reads what it holds and cuts a torn tail.
    pub fn open(dir: &Path) -> io::Result<(Store, Restored)> {
        fs::create_dir_all(dir)?;
        let snapshot_path = dir.join(SNAPSHOT);
        let (snapshot_seq, world) = match fs::read(&snapshot_path) {
            Ok(bytes) => {
                let invalid = |e: serde_json::Error| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", snapshot_path.display()))
                };
                let value: Value = serde_json::from_slice(&bytes).map_err(invalid)?;
                let format = value.get("format").and_then(Value::as_u64).unwrap_or(0);
                check_format(&snapshot_path, u32::try_from(format).unwrap_or(u32::MAX))?;
                let s: Snapshot = serde_json::from_value(value).map_err(invalid)?;
                (s.seq, Some((s.format, s.world)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (0, None),
            Err(e) => return Err(e),
        };
        let mut seq = snapshot_seq;
        let mut records = Vec::new();
        // A journal moved aside for a snapshot that was not finished: its
        // records come before the current journal's. It was synced whole
        // before the current one took any record.
        let previous_path = dir.join(PREVIOUS_JOURNAL);
        let aside = previous_path.exists();
        if aside {
            let previous = journal::read(&previous_path)?;
            if previous.dropped > 0 {
                warn!(journal = %previous_path.display(), cut_bytes = previous.dropped, "the moved-aside journal ends in a torn record; reading up to it");
            }
            for bytes in &previous.records {
                let (entry_seq, record) = decode(&previous_path, bytes)?;
                if entry_seq > snapshot_seq {
                    seq = entry_seq;
                    records.push(record);
                }
            }
        }
        let journal_path = dir.join(JOURNAL);
        let contents = journal::read(&journal_path)?;
        let (valid_len, dropped) = (contents.valid_len, contents.dropped);
        for bytes in &contents.records {
            let (entry_seq, record) = decode(&journal_path, bytes)?;
            if entry_seq <= snapshot_seq {
                continue;
            }
            seq = entry_seq;
            records.push(record);
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
            file: Mutex::new(file.try_clone()?),
            appended: AtomicU64::new(seq),
            synced: AtomicU64::new(seq),
        });
        info!(dir = %dir.display(), snapshot_seq, records = records.len(), "state directory opened");
        let since_snapshot = records.len() as u64;
        let store = Store {
            dir: dir.to_path_buf(),
            file,
            seq,
            since_snapshot,
            syncer,
            buf: Vec::new(),
            len: valid_len,
            folding: Arc::default(),
            aside: Arc::new(AtomicBool::new(aside)),
        };
        let (snapshot_format, world) = match world {
            Some((format, world)) => (format, Some(world)),
            None => (0, None),
        };
        Ok((store, Restored { world, snapshot_format, records, dropped }))
    }

    pub fn syncer(&self) -> Arc<Syncer> {
        self.syncer.clone()
    }

    /// Appends `change` (written, not yet synced); returns its sequence number.
    pub fn append(&mut self, change: Change) -> io::Result<u64> {
        let entry = Entry { seq: self.seq + 1, format: FORMAT, change };
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

    /// Whether enough has been journaled to fold it into a snapshot, and
    /// how; `None` also while a snapshot begun aside is being written.
    pub fn wants_snapshot(&self) -> Option<Fold> {
        if self.since_snapshot < COMPACT_EVERY {
            return None;
        }
        if !self.aside.load(Ordering::Acquire) {
            return Some(Fold::Aside);
        }
        // Moved aside and nobody writing its snapshot: that one failed.
        (!self.folding.is_busy()).then_some(Fold::Here)
    }

    /// Returns once no snapshot is being written aside.
    #[cfg(test)]
    pub fn wait_for_snapshot(&self) {
        self.folding.wait_idle();
    }

    /// Begins a snapshot of the world as it is after every appended record:
    /// syncs the journal, moves it aside and starts a fresh one for the
    /// records to come. The caller copies the world before it changes again
    /// and writes the copy with [`PendingSnapshot::write`], wherever it
    /// likes. On failure the journal is as it was.
    pub fn begin_snapshot(&mut self) -> io::Result<PendingSnapshot> {
        if self.aside.load(Ordering::Acquire) {
            return Err(io::Error::other("a moved-aside journal is still there"));
        }
        self.file.sync_data()?;
        let (current, previous) = (self.dir.join(JOURNAL), self.dir.join(PREVIOUS_JOURNAL));
        fs::rename(&current, &previous)?;
        let fresh = OpenOptions::new().create(true).append(true).open(&current).and_then(|f| {
            // The new name and the moved one are durable before a record
            // in the fresh journal is acknowledged.
            File::open(&self.dir)?.sync_all()?;
            Ok(f)
        });
        let fresh = match fresh {
            Ok(f) => f,
            Err(e) => {
                // Back as it was: this handle still appends to the old file.
                let _ = fs::rename(&previous, &current);
                return Err(e);
            }
        };
        let for_syncer = match fresh.try_clone() {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::rename(&previous, &current);
                return Err(e);
            }
        };
        *self.syncer.file.lock().unwrap_or_else(|e| e.into_inner()) = for_syncer;
        self.syncer.synced.fetch_max(self.seq, Ordering::AcqRel);
        self.file = fresh;
        self.len = 0;
        self.since_snapshot = 0;
        self.aside.store(true, Ordering::Release);
        self.folding.set(true);
        Ok(PendingSnapshot {
            dir: self.dir.clone(),
            seq: self.seq,
            folding: self.folding.clone(),
            aside: self.aside.clone(),
        })
    }

    /// Writes `world` (the state after every appended operation) as the
    /// snapshot and empties the journal, here and now (after one being
    /// written aside, if any).
    pub fn snapshot(&mut self, world: &impl Serialize) -> io::Result<()> {
        self.folding.wait_idle();
        write_snapshot(&self.dir, self.seq, world)?;
        // The snapshot covers every record; a crash before this cut leaves
        // records the next start skips by their sequence numbers.
        self.file.set_len(0)?;
        self.file.sync_all()?;
        self.len = 0;
        self.since_snapshot = 0;
        self.syncer.synced.fetch_max(self.seq, Ordering::AcqRel);
        remove_previous(&self.dir)?;
        self.aside.store(false, Ordering::Release);
        Ok(())
    }
}

/// Writes the snapshot file: a temporary file, fsynced, renamed over the
/// old one, the directory fsynced.
///
/// The world is serialised straight into the file: a world of 10,000
/// endpoints as a JSON tree and then a buffer took some 200 MiB for a
/// moment, which the process kept as resident memory.
fn write_snapshot(dir: &Path, seq: u64, world: &impl Serialize) -> io::Result<()> {
    /// [`Snapshot`] as written, borrowing the world.
    #[derive(Serialize)]
    struct Writing<'a, W> {
        format: u32,
        seq: u64,
        world: &'a W,
    }
    let tmp = dir.join(format!("{SNAPSHOT}.tmp"));
    {
        let mut out = io::BufWriter::with_capacity(256 * 1024, File::create(&tmp)?);
        serde_json::to_writer(&mut out, &Writing { format: FORMAT, seq, world }).map_err(io::Error::other)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    fs::rename(&tmp, dir.join(SNAPSHOT))?;
    File::open(dir)?.sync_all()
}

/// Removes the moved-aside journal, once a snapshot holds its records.
fn remove_previous(dir: &Path) -> io::Result<()> {
    match fs::remove_file(dir.join(PREVIOUS_JOURNAL)) {
        Ok(()) => File::open(dir)?.sync_all(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Refuses a format this release does not read.
fn check_format(path: &Path, format: u32) -> io::Result<()> {
    if format > FORMAT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} was written by a newer release (state format {format}; this release reads formats \
                 {OLDEST_FORMAT} to {FORMAT}); refusing to load it rather than load it in part",
                path.display()
            ),
        ));
    }
    if format < OLDEST_FORMAT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: unknown state format {format}", path.display()),
        ));
    }
    Ok(())
}

/// One journal record; an error for a record of a newer format or one
/// that does not read.
fn decode(path: &Path, bytes: &[u8]) -> io::Result<(u64, Record)> {
    // The checksum matched: these are the bytes that were written. One that
    // does not read is refused, never cut: cutting would lose it and every
    // record after it.
    let refuse = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: an intact record does not read ({why}); refusing to load the state directory", path.display()),
        )
    };
    let value: Value = serde_json::from_slice(bytes).map_err(|e| refuse(e.to_string()))?;
    if value.get("op").is_some() && value.get("format").is_none() {
        let e: LegacyEntry = serde_json::from_value(value).map_err(|e| refuse(e.to_string()))?;
        return Ok((e.seq, Record::Legacy(e.op)));
    }
    let format = value.get("format").and_then(Value::as_u64).ok_or_else(|| refuse("no format".into()))?;
    check_format(path, u32::try_from(format).unwrap_or(u32::MAX))?;
    let e: Entry = serde_json::from_value(value).map_err(|e| refuse(e.to_string()))?;
    Ok((e.seq, Record::Change(e.change)))
}

#[cfg(test)]
mod tests;
