//! The engine: the one door through which the world changes.
//!
//! [`Shared::apply`] runs one change (an API request, the timed
//! transitions, a health result, an admin reset or import, a seed file) on
//! the world under its lock: a change that fails is taken back whole, so it
//! changes nothing; one that succeeds is journaled as the records it wrote
//! and removed (with `--state-dir`), made durable before the caller
//! answers, and published to the followers (DNS, data plane, netplane) with
//! the revision it produced.
//!
//! Everything else of the emulator reads the world through [`Shared::world`]
//! and follows its changes through [`Shared::subscribe`].

pub mod restore;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, watch};

use crate::config::AuthSettings;
use crate::model::{Error, Event, Millis, World};
use crate::persist::{Body, Change, Fold, Store, Syncer};

type StatusSource = Box<dyn Fn() -> serde_json::Value + Send + Sync>;

/// State shared by every part of the emulator: the world behind the engine,
/// and what the parts tell each other.
pub struct Shared {
    world: Mutex<World>,
    events: broadcast::Sender<Event>,
    /// Changes published to the followers so far.
    revision: AtomicU64,
    /// Followers report the revision they have applied here.
    followers: Mutex<Vec<(String, watch::Receiver<u64>)>>,
    pub auth: AuthSettings,
    pub started: std::time::Instant,
    /// Other parts (data plane, DNS) add their section of /_emulator/status.
    status: Mutex<Vec<(String, StatusSource)>>,
    /// The journal, with `--state-dir`. Appended to while the world is
    /// locked (so it holds changes in the order they were applied), synced
    /// after.
    store: Option<Mutex<Store>>,
    syncer: Option<Arc<Syncer>>,
    /// Bounds the API server enforces.
    pub limits: crate::server::Limits,
    /// The local CA's certificate (PEM), once the data plane has one.
    pub tls_ca_pem: std::sync::OnceLock<String>,
    /// Messages for SNS topics (connection notifications), handed over as
    /// changes are published; delivered off the write path.
    pub notifications: Arc<crate::notify::Outbox>,
    /// Flows and DNS questions seen, for the flow and query logs.
    pub logs: Arc<crate::flowlog::Logs>,
    /// Injected faults, obeyed by the data plane, DNS and the API.
    pub faults: Arc<crate::faults::Faults>,
}

/// What caused a change, as the journal names it.
#[derive(Debug, Clone)]
pub struct Cause {
    pub at: Millis,
    pub what: String,
}

impl Cause {
    pub fn new(what: impl Into<String>) -> Cause {
        Cause { at: now_ms(), what: what.into() }
    }

    pub fn at(at: Millis, what: impl Into<String>) -> Cause {
        Cause { at, what: what.into() }
    }
}

impl Shared {
    pub fn new(world: World, auth: AuthSettings) -> Arc<Shared> {
        Self::build(world, auth, None, crate::server::Limits::default())
    }

    /// Shared state with the server's bounds and, when `store` is given,
    /// journaling every change to it.
    pub fn build(
        mut world: World,
        auth: AuthSettings,
        store: Option<Store>,
        limits: crate::server::Limits,
    ) -> Arc<Shared> {
        world.settle();
        let (events, _) = broadcast::channel(4096);
        let syncer = store.as_ref().map(Store::syncer);
        Arc::new(Shared {
            world: Mutex::new(world),
            events,
            revision: AtomicU64::new(0),
            followers: Mutex::new(Vec::new()),
            auth,
            started: std::time::Instant::now(),
            status: Mutex::new(Vec::new()),
            tls_ca_pem: std::sync::OnceLock::new(),
            notifications: Arc::default(),
            logs: Arc::default(),
            faults: Arc::default(),
            store: store.map(Mutex::new),
            syncer,
            limits,
        })
    }

    pub fn is_durable(&self) -> bool {
        self.store.is_some()
    }

    /// Applies one change: advances the timed transitions due by
    /// `cause.at` (a change of its own), then runs `f`. When `f` fails,
    /// everything it did is taken back; when it succeeds, what it changed
    /// is journaled and durable before this returns, and published.
    pub fn apply<R>(&self, cause: Cause, f: impl FnOnce(&mut World) -> Result<R, Error>) -> Result<R, Error> {
        let mut w = self.lock();
        let ticked = self.tick_locked(&mut w, cause.at);
        // A change that panics is taken back before the lock is released,
        // then the panic goes on: the next change starts from a whole world.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut w)));
        let ran = match ran {
            Ok(r) => r,
            Err(panic) => {
                w.undo();
                drop(w);
                std::panic::resume_unwind(panic);
            }
        };
        let result = match ran {
            Ok(r) => self.commit(&mut w, &cause).map(|seq| (r, seq)),
            Err(e) => {
                w.undo();
                Err(e)
            }
        };
        self.publish(&mut w);
        self.fold_if_due(&w);
        drop(w);
        let (r, seq) = result?;
        self.sync(seq.max(ticked))?;
        Ok(r)
    }

    /// Replaces the whole world (admin import and reset): journaled as the
    /// world it leaves, then folded into a snapshot.
    pub fn replace(&self, cause: Cause, f: impl FnOnce(&mut World) -> Result<(), String>) -> Result<(), Error> {
        let mut w = self.lock();
        let ticked = self.tick_locked(&mut w, cause.at);
        self.publish(&mut w);
        // The world before, whole: a replaced world keeps no images of it.
        let before = World::from_json(w.to_json(), w.settings().clone())
            .map_err(|e| Error::new("InternalError", format!("cannot copy the world: {e}")).with_status(500))?;
        if let Err(e) = f(&mut w) {
            *w = before;
            return Err(Error::new("InvalidParameterValue", e));
        }
        let change = Change { at: cause.at, cause: cause.what, body: Body::World(w.to_json()) };
        let seq = match self.append(change) {
            Ok(seq) => seq,
            Err(e) => {
                *w = before;
                return Err(e);
            }
        };
        w.settle();
        self.publish(&mut w);
        drop(w);
        self.sync(seq.max(ticked))?;
        if let Err(e) = self.snapshot() {
            tracing::error!(error = %e, "cannot write the snapshot after replacing the world");
        }
        Ok(())
    }

    /// Ends the open change of a locked world: journals what it changed,
    /// or takes it back when that fails; returns the sequence number to
    /// sync (0: nothing to wait for).
    fn commit(&self, w: &mut World, cause: &Cause) -> Result<u64, Error> {
        if self.store.is_none() {
            // Nothing to journal: keep the change without listing it.
            w.settle();
            return Ok(0);
        }
        let effects = w.changes();
        if effects.is_empty() {
            w.settle();
            return Ok(0);
        }
        let change = Change { at: cause.at, cause: cause.what.clone(), body: Body::Written(effects) };
        match self.append(change) {
            Ok(seq) => {
                w.settle();
                Ok(seq)
            }
            Err(e) => {
                w.undo();
                Err(e)
            }
        }
    }

    fn append(&self, change: Change) -> Result<u64, Error> {
        let Some(store) = &self.store else { return Ok(0) };
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        store.append(change).map_err(storage_error)
    }

    /// Folds the journal into a snapshot when enough has been journaled.
    /// Under the world's lock only the journal is moved aside and the
    /// world copied; a thread of its own serialises and writes the copy
    /// (see [`crate::persist`]), so changes go on meanwhile.
    fn fold_if_due(&self, w: &World) {
        let Some(store) = &self.store else { return };
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        let written = match store.wants_snapshot() {
            None => return,
            Some(Fold::Here) => store.snapshot(w),
            Some(Fold::Aside) => store.begin_snapshot().and_then(|pending| {
                let image = w.image();
                std::thread::Builder::new()
                    .name("snapshot".into())
                    .spawn(move || {
                        background_priority();
                        let (seq, started) = (pending.seq(), std::time::Instant::now());
                        match pending.write(&image) {
                            Ok(()) => {
                                let ms = started.elapsed().as_secs_f64() * 1e3;
                                tracing::debug!(seq, elapsed_ms = ms, "snapshot written")
                            }
                            Err(e) => {
                                tracing::error!(error = %e, seq, "cannot write the snapshot; the journal keeps growing")
                            }
                        }
                    })
                    .map(drop)
            }),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "cannot write the snapshot; the journal keeps growing");
        }
    }

    /// Waits until the journal holds `seq` on disk.
    fn sync(&self, seq: u64) -> Result<(), Error> {
        match &self.syncer {
            Some(s) if seq > 0 => s.sync_through(seq).map_err(storage_error),
            _ => Ok(()),
        }
    }

    /// Returns once no snapshot is being written aside.
    #[cfg(test)]
    pub(crate) fn wait_for_snapshot(&self) {
        if let Some(store) = &self.store {
            store.lock().unwrap_or_else(|e| e.into_inner()).wait_for_snapshot();
        }
    }

    /// Folds the journal into a snapshot (on shutdown, after an import).
    pub fn snapshot(&self) -> std::io::Result<()> {
        let Some(store) = &self.store else { return Ok(()) };
        let w = self.lock();
        let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
        store.snapshot(&*w)
    }

    /// Advances transitions on a locked world as a change of its own.
    /// Nobody waits on a tick alone: the change after it syncs it.
    fn tick_locked(&self, w: &mut World, now: Millis) -> u64 {
        w.tick(now);
        match self.commit(w, &Cause::at(now, "tick")) {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(error = %e.message, "cannot journal a state transition");
                0
            }
        }
    }

    /// Advances the timed transitions due now and publishes what changed.
    pub fn tick(&self) {
        let mut w = self.lock();
        let seq = self.tick_locked(&mut w, now_ms());
        self.publish(&mut w);
        self.fold_if_due(&w);
        drop(w);
        if let Err(e) = self.sync(seq) {
            tracing::error!(error = %e.message, "cannot make a state transition durable");
        }
    }

    pub fn add_status(&self, name: &str, source: impl Fn() -> serde_json::Value + Send + Sync + 'static) {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).push((name.to_string(), Box::new(source)));
    }

    /// The sections other parts contribute to the status document.
    pub fn status_sections(&self) -> Vec<(String, serde_json::Value)> {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(n, f)| (n.clone(), f())).collect()
    }

    /// The world, locked, to read: every change goes through
    /// [`Shared::apply`].
    pub fn world(&self) -> WorldRef<'_> {
        WorldRef(self.lock())
    }

    /// The world, locked, to change. A change that panicked was taken back
    /// before the lock was released, so a poisoned lock still holds a
    /// consistent world: keep serving.
    fn lock(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Changes published to the followers so far: a follower that has
    /// applied every event it received after reading this has applied
    /// this revision.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Acquire)
    }

    /// The revision a follower holds once it has applied everything it
    /// took from `events`, having read `applied` before its batch. A batch
    /// can take the events of a change published after that read (they are
    /// queued before the revision moves), and no later event would wake the
    /// follower to say so: when nothing is left queued, every revision read
    /// now has all its events applied. The revision is read under the
    /// world's lock: a change publishes its events and then moves the
    /// revision, both under that lock, so a follower that has just taken a
    /// change's events never reads the revision before it (and, with
    /// nothing left to wake it, reports a revision short for good).
    pub fn caught_up(&self, events: &broadcast::Receiver<Event>, applied: u64) -> u64 {
        let latest = {
            let _published = self.lock();
            self.revision()
        };
        if events.is_empty() {
            applied.max(latest)
        } else {
            applied
        }
    }

    /// A follower (DNS, data plane, netplane) reports here the revision it
    /// has applied, by sending on the returned channel.
    pub fn follower(&self, name: &str) -> watch::Sender<u64> {
        let (tx, rx) = watch::channel(0);
        self.followers.lock().unwrap_or_else(|e| e.into_inner()).push((name.to_string(), rx));
        tx
    }

    /// Each follower and the revision it has applied.
    pub fn settled(&self) -> Vec<(String, u64)> {
        self.followers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(n, rx)| (n.clone(), *rx.borrow()))
            .collect()
    }

    /// Waits until every follower has applied `revision` (or `timeout`
    /// passes); returns whether they all had.
    pub async fn settle(&self, revision: u64, timeout: std::time::Duration) -> bool {
        let receivers: Vec<watch::Receiver<u64>> =
            self.followers.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(_, rx)| rx.clone()).collect();
        let all = async {
            for mut rx in receivers {
                // A follower that has stopped has nothing left to apply.
                let _ = rx.wait_for(|applied| *applied >= revision).await;
            }
        };
        tokio::time::timeout(timeout, all).await.is_ok()
    }

    /// Publishes the events of a locked world's changes as the next
    /// revision. Under the lock, so revisions are published in order and a
    /// follower that reads a revision finds every event up to it queued.
    fn publish(&self, w: &mut World) {
        let notices = w.drain_notices();
        if !notices.is_empty() {
            let now = now_ms();
            for n in notices {
                self.notifications.publish(n, now);
            }
        }
        let events = w.drain_events();
        if events.is_empty() {
            return;
        }
        for e in events {
            // No subscriber is fine: nothing follows the model yet.
            let _ = self.events.send(e);
        }
        self.revision.fetch_add(1, Ordering::AcqRel);
    }
}

/// The world, locked for reading.
pub struct WorldRef<'a>(MutexGuard<'a, World>);

impl std::ops::Deref for WorldRef<'_> {
    type Target = World;

    fn deref(&self) -> &World {
        &self.0
    }
}

pub fn now_ms() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Millis).unwrap_or(0)
}

fn storage_error(e: std::io::Error) -> Error {
    tracing::error!(error = %e, "cannot write the state directory");
    Error::new(
        "InternalError",
        "The emulator could not make the change durable: it may be served now and lost at the next start.",
    )
    .with_status(500)
}

/// Lowers the calling thread's scheduling priority (nice 10): a snapshot
/// written aside takes a core for a moment in a large world, and on a
/// small machine the API and the data plane should have it first.
fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread's own id; raising a
    // nice value needs no privilege and touches nothing else.
    unsafe {
        let tid = libc::gettid();
        if libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10) != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "snapshot thread keeps its priority");
        }
    }
}
