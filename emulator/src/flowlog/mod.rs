//! What the data plane and DNS saw, kept for users: every finished or
//! refused flow ([`flow::FlowRecord`], shown as VPC Flow Logs version 2
//! records) and every DNS question (in Route 53 Resolver's query log
//! format). Each kind is kept in a bounded buffer for the admin endpoints
//! (`/_emulator/flows`, `/_emulator/flow-logs`, `/_emulator/query-logs`),
//! appended to a file when one is configured (`--flow-log-file`,
//! `--query-log-file`), and offered live to whoever listens (the console).
//!
//! A record is made once, when a flow ends: nothing here runs while bytes
//! move. Keeping it takes a short lock of the buffer; the file is written
//! by a task of its own, so a slow disk never holds up a flow.

pub mod admin;
pub mod flow;
pub mod query;

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::AsyncWriteExt;
use tokio::sync::{broadcast, mpsc};

pub use flow::{Action, Ended, FlowRecord};
pub use query::QueryRecord;

/// Records of each kind kept for the admin endpoints; older ones are forgotten.
pub const KEPT: usize = 10_000;
/// Lines waiting for a file; past that they are counted and dropped.
const QUEUED: usize = 16_384;

/// A bounded buffer, oldest first.
struct Ring<T> {
    items: Mutex<VecDeque<T>>,
}

impl<T: Clone> Ring<T> {
    fn new() -> Self {
        Ring { items: Mutex::new(VecDeque::new()) }
    }

    fn push(&self, item: T) {
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        if items.len() >= KEPT {
            items.pop_front();
        }
        items.push_back(item);
    }

    /// The last `limit` items that pass `keep`, oldest first.
    fn last(&self, limit: usize, keep: impl Fn(&T) -> bool) -> Vec<T> {
        let items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<T> = items.iter().rev().filter(|i| keep(i)).take(limit).cloned().collect();
        out.reverse();
        out
    }

    fn clear(&self) {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Something that happened on the data plane or DNS, for live watchers.
#[derive(Debug, Clone)]
pub enum Seen {
    Flow(Arc<FlowRecord>),
    Query(Arc<QueryRecord>),
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
    seen: broadcast::Sender<Seen>,
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
            seen: broadcast::channel(1024).0,
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
        if self.seen.receiver_count() > 0 {
            let _ = self.seen.send(Seen::Flow(record.clone()));
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
        if self.seen.receiver_count() > 0 {
            let _ = self.seen.send(Seen::Query(record.clone()));
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

    /// Flows and queries as they are recorded, from now on.
    pub fn watch(&self) -> broadcast::Receiver<Seen> {
        self.seen.subscribe()
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
