//! What injected faults (see [`crate::faults`]) do to a flow: a zone that
//! is down holds connections without a word, a target that is down refuses
//! or never answers, and latency or a bandwidth limit slow a flow's copying
//! (of plain TCP, or of the bytes in the clear where a side speaks TLS).
//! Flows without faults never come here.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::flow::{connect_from, finish, read, wait_stopped, write_all, Stop};
use super::plan::TargetRoute;
use crate::faults::{DownMode, Faults, Shaping};

/// Holds a connection to an interface whose zone is down: nothing answers,
/// what the client sends is dropped, until it gives up, the listener
/// stops, or `limit` passes.
pub async fn hold(client: &TcpStream, cancel: &mut watch::Receiver<Stop>, limit: Duration) {
    let drain = async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = read(client, &mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        _ = drain => {}
        _ = wait_stopped(cancel) => {}
        _ = tokio::time::sleep(limit) => {}
    }
}

/// Connects the node to a target, unless a fault has it down: then the
/// connection is refused at once, or (black-holed) times out.
pub async fn connect(
    faults: &Faults,
    target: &TargetRoute,
    source: Ipv4Addr,
    addr: SocketAddrV4,
    timeout: Duration,
) -> io::Result<TcpStream> {
    match faults.target_down(&target.id, target.port, target.dial, target.zone.as_deref()) {
        Some(DownMode::Refuse) => {
            Err(io::Error::new(io::ErrorKind::ConnectionRefused, "the target is down (injected)"))
        }
        Some(DownMode::Blackhole) => {
            tokio::time::sleep(timeout).await;
            Err(io::Error::new(io::ErrorKind::TimedOut, "the target does not answer (injected)"))
        }
        None => connect_from(source, addr, timeout).await,
    }
}

/// One direction of a shaped flow: each chunk waits the latency, and the
/// direction keeps under the bandwidth limit. Copies through a buffer
/// (never splice), as the chunks must be seen to be paced.
pub async fn shaped_half(
    from: &TcpStream,
    to: &TcpStream,
    counters: super::flow::Counters<'_>,
    last: &AtomicU64,
    started: Instant,
    shaping: Shaping,
) -> io::Result<()> {
    let mut pace = Pace::new(shaping);
    let mut buf = vec![0u8; pace.chunk()];
    loop {
        let n = read(from, &mut buf).await?;
        if n == 0 {
            return finish(to);
        }
        pace.before(n).await;
        write_all(to, &buf[..n]).await?;
        for c in counters {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        pace.after().await;
    }
}

/// [`shaped_half`] between sides that may speak TLS (whose reads count the
/// flow's bytes themselves): on the end of `from`, `to` is shut down (a
/// TLS close_notify, then a FIN).
pub async fn shaped_copy<R, W>(mut from: R, mut to: W, shaping: Shaping) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut pace = Pace::new(shaping);
    let mut buf = vec![0u8; pace.chunk()];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        pace.before(n).await;
        to.write_all(&buf[..n]).await?;
        to.flush().await?;
        pace.after().await;
    }
}

/// The pace of one shaped direction.
struct Pace {
    shaping: Shaping,
    begun: Instant,
    moved: u64,
}

impl Pace {
    fn new(shaping: Shaping) -> Pace {
        Pace { shaping, begun: Instant::now(), moved: 0 }
    }

    /// Small chunks under a bandwidth limit, so the pace is even.
    fn chunk(&self) -> usize {
        match self.shaping.bytes_per_second {
            Some(rate) => (rate / 10).clamp(1, 16 * 1024) as usize,
            None => 16 * 1024,
        }
    }

    /// Before a chunk of `n` bytes is passed on: the latency.
    async fn before(&mut self, n: usize) {
        if !self.shaping.latency.is_zero() {
            tokio::time::sleep(self.shaping.latency).await;
        }
        self.moved += n as u64;
    }

    /// After it: waits until the bytes so far keep under the limit.
    async fn after(&self) {
        if let Some(rate) = self.shaping.bytes_per_second {
            let due = Duration::from_secs_f64(self.moved as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(self.begun.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
}
