//! What the data plane and DNS saw, kept for users: every finished or
//! refused flow ([`flow::FlowRecord`], shown as VPC Flow Logs version 2
//! records) and every DNS question (in Route 53 Resolver's query log
//! format). Each kind is kept in a bounded buffer for the admin endpoints
//! (`/_emulator/flows`, `/_emulator/flow-logs`, `/_emulator/query-logs`),
//! appended to a file when one is configured (`--flow-log-file`,
//! `--query-log-file`), and read live by whoever follows the buffers (the
//! console asks for what is new once a second: [`Logs::flows_since`]).
//!
//! A record is made once, when a flow ends: nothing here runs while bytes
//! move. Keeping it takes a short lock of the buffer; the file is written
//! by a task of its own, so a slow disk never holds up a flow, and a
//! watcher costs a flow nothing, however many flows there are.

pub mod admin;
pub mod flow;
pub mod query;

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

pub use flow::{Action, Ended, FlowRecord};
pub use query::QueryRecord;

/// Records of each kind kept for the admin endpoints; older ones are forgotten.
pub const KEPT: usize = 10_000;
/// Lines waiting for a file; past that they are counted and dropped.
const QUEUED: usize = 16_384;

/// A bounded buffer, oldest first, that counts what it was ever given.
struct Ring<T> {
    inner: Mutex<Kept<T>>,
}

struct Kept<T> {
    items: VecDeque<T>,
    /// Items pushed since the start, forgotten ones included.
    pushed: u64,
}

/// What was recorded after a point a watcher had reached.
#[derive(Debug)]
pub struct Fresh<T> {
    /// The latest of them, oldest first.
    pub items: Vec<T>,
    /// How many more there were (older ones past the limit, or forgotten).
    pub skipped: u64,
    /// The point to ask from next time.
    pub reached: u64,
}

impl<T: Clone> Ring<T> {
    fn new() -> Self {
        Ring { inner: Mutex::new(Kept { items: VecDeque::new(), pushed: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept<T>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, item: T) {
        let mut kept = self.lock();
        if kept.items.len() >= KEPT {
            kept.items.pop_front();
        }
        kept.items.push_back(item);
        kept.pushed += 1;
    }

    /// The last `limit` items that pass `keep`, oldest first.
    fn last(&self, limit: usize, keep: impl Fn(&T) -> bool) -> Vec<T> {
        let kept = self.lock();
        let mut out: Vec<T> = kept.items.iter().rev().filter(|i| keep(i)).take(limit).cloned().collect();
        out.reverse();
        out
    }

    /// The latest `limit` of the items pushed after `reached` (a value of
    /// [`Fresh::reached`], or of [`Ring::reached`]).
    fn since(&self, reached: u64, limit: usize) -> Fresh<T> {
        let kept = self.lock();
        let new = kept.pushed.saturating_sub(reached);
        let take = (new.min(kept.items.len() as u64) as usize).min(limit);
        let items: Vec<T> = kept.items.iter().skip(kept.items.len() - take).cloned().collect();
        Fresh { items, skipped: new - take as u64, reached: kept.pushed }
    }

    /// The point from which [`Ring::since`] gives what comes next.
    fn reached(&self) -> u64 {
        self.lock().pushed
    }

    fn clear(&self) {
        self.lock().items.clear();
    }
}

/// The flows and queries seen so far.
pub struct Logs {
    flows: Ring<Arc<FlowRecord>>,
    queries: Ring<Arc<QueryRecord>>,
    next_flow: AtomicU64,
    flow_file: OnceLock<mpsc::Sender<String>>,
    query_file: OnceLock<mpsc::Sender<String>>,
    /// Lines a file could not take in time.
    dropped: AtomicU64,
}

impl Default for Logs {
    fn default() -> Self {
        Logs {
            flows: Ring::new(),
            queries: Ring::new(),
            next_flow: AtomicU64::new(1),
            flow_file: OnceLock::new(),
            query_file: OnceLock::new(),
            dropped: AtomicU64::new(0),
        }
    }
}

impl Logs {
    /// A number for the next flow record.
    pub fn flow_id(&self) -> u64 {
        self.next_flow.fetch_add(1, Ordering::Relaxed)
    }

    pub fn record_flow(&self, record: FlowRecord) {
        let record = Arc::new(record);
        if let Some(file) = self.flow_file.get() {
            let mut text = String::new();
            for line in record.v2_lines() {
                text.push_str(&line);
                text.push('\n');
            }
            self.send(file, text);
        }
        self.flows.push(record);
    }

    pub fn record_query(&self, record: QueryRecord) {
        let record = Arc::new(record);
        if let Some(file) = self.query_file.get() {
            let mut text = record.to_json().to_string();
            text.push('\n');
            self.send(file, text);
        }
        self.queries.push(record);
    }

    fn send(&self, file: &mpsc::Sender<String>, text: String) {
        if file.try_send(text).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The last `limit` flow records that pass `keep`, oldest first.
    pub fn flows(&self, limit: usize, keep: impl Fn(&FlowRecord) -> bool) -> Vec<Arc<FlowRecord>> {
        self.flows.last(limit, |r| keep(r))
    }

    /// The last `limit` DNS query records that pass `keep`, oldest first.
    pub fn queries(&self, limit: usize, keep: impl Fn(&QueryRecord) -> bool) -> Vec<Arc<QueryRecord>> {
        self.queries.last(limit, |r| keep(r))
    }

    pub fn clear_flows(&self) {
        self.flows.clear();
    }

    pub fn clear_queries(&self) {
        self.queries.clear();
    }

    /// Lines a log file could not take in time (the disk was too slow).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The latest `limit` flow records made after `reached` (0, or the
    /// `reached` of an earlier answer, or [`Logs::flows_reached`]).
    pub fn flows_since(&self, reached: u64, limit: usize) -> Fresh<Arc<FlowRecord>> {
        self.flows.since(reached, limit)
    }

    /// The latest `limit` DNS query records made after `reached`.
    pub fn queries_since(&self, reached: u64, limit: usize) -> Fresh<Arc<QueryRecord>> {
        self.queries.since(reached, limit)
    }

    /// Where a watcher that wants flows from now on starts.
    pub fn flows_reached(&self) -> u64 {
        self.flows.reached()
    }

    /// Where a watcher that wants queries from now on starts.
    pub fn queries_reached(&self) -> u64 {
        self.queries.reached()
    }

    /// Appends flow log records to `flows` and query log records to
    /// `queries` from now on. The files are opened (created if need be)
    /// before this returns, so a path that cannot be written fails the
    /// start; the writing happens on tasks of the current runtime.
    pub fn write_files(&self, flows: Option<&Path>, queries: Option<&Path>) -> io::Result<()> {
        if let Some(path) = flows {
            let file = open(path)?;
            let header = (file.metadata()?.len() == 0).then(|| format!("{}\n", flow::V2_HEADER));
            let (tx, rx) = mpsc::channel(QUEUED);
            if self.flow_file.set(tx).is_ok() {
                tokio::spawn(write_lines(path.display().to_string(), file, header, rx));
            }
        }
        if let Some(path) = queries {
            let file = open(path)?;
            let (tx, rx) = mpsc::channel(QUEUED);
            if self.query_file.set(tx).is_ok() {
                tokio::spawn(write_lines(path.display().to_string(), file, None, rx));
            }
        }
        Ok(())
    }
}

fn open(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open the log file {}: {e}", path.display())))
}

/// Appends what arrives, a batch per write, until every sender is gone.
async fn write_lines(name: String, file: std::fs::File, header: Option<String>, mut rx: mpsc::Receiver<String>) {
    let mut file = tokio::fs::File::from_std(file);
    let mut batch = header.unwrap_or_default();
    loop {
        if batch.is_empty() {
            match rx.recv().await {
                Some(text) => batch = text,
                None => break,
            }
        }
        while let Ok(more) = rx.try_recv() {
            batch.push_str(&more);
        }
        let written = async {
            file.write_all(batch.as_bytes()).await?;
            file.flush().await
        };
        if let Err(e) = written.await {
            tracing::warn!(file = %name, error = %e, "cannot append to the log file");
        }
        batch.clear();
    }
}

/// Seconds since the epoch, now, in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_gives_the_latest_new_items_and_counts_the_rest() {
        let ring = Ring::new();
        let start = ring.reached();
        assert_eq!(start, 0);
        let none = ring.since(start, 3);
        assert!(none.items.is_empty());
        assert_eq!((none.skipped, none.reached), (0, 0));
        for i in 0..5u32 {
            ring.push(i);
        }
        let first = ring.since(start, 3);
        assert_eq!(first.items, vec![2, 3, 4], "the latest three, oldest first");
        assert_eq!((first.skipped, first.reached), (2, 5));
        ring.push(5);
        let next = ring.since(first.reached, 3);
        assert_eq!(next.items, vec![5]);
        assert_eq!((next.skipped, next.reached), (0, 6));
        assert!(ring.since(next.reached, 3).items.is_empty());
    }

    #[test]
    fn since_counts_what_the_buffer_forgot() {
        let ring = Ring::new();
        for i in 0..(KEPT as u64 + 10) {
            ring.push(i);
        }
        let all = ring.since(0, KEPT + 100);
        assert_eq!(all.items.len(), KEPT);
        assert_eq!(all.items[0], 10, "the oldest kept");
        assert_eq!(all.skipped, 10, "the forgotten ones are counted");
        ring.clear();
        let after = ring.since(all.reached, 5);
        assert!(after.items.is_empty());
        assert_eq!(after.skipped, 0);
        ring.push(1);
        let one = ring.since(after.reached, 5);
        assert_eq!((one.items, one.skipped), (vec![1], 0));
    }
}
