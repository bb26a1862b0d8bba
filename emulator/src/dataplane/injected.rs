//! What injected faults (see [`crate::faults`]) do to a flow: a zone that
//! is down holds connections without a word, a target that is down refuses
//! or never answers, and latency or a bandwidth limit slow a flow's copying.
//! Flows without faults never come here.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    counters: [&AtomicU64; 2],
    last: &AtomicU64,
    started: Instant,
    shaping: Shaping,
) -> io::Result<()> {
    // Small chunks under a bandwidth limit, so the pace is even.
    let size = match shaping.bytes_per_second {
        Some(rate) => (rate / 10).clamp(1, 16 * 1024) as usize,
        None => 16 * 1024,
    };
    let mut buf = vec![0u8; size];
    let begun = Instant::now();
    let mut moved: u64 = 0;
    loop {
        let n = read(from, &mut buf).await?;
        if n == 0 {
            return finish(to);
        }
        if !shaping.latency.is_zero() {
            tokio::time::sleep(shaping.latency).await;
        }
        write_all(to, &buf[..n]).await?;
        moved += n as u64;
        for c in counters {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        if let Some(rate) = shaping.bytes_per_second {
            let due = Duration::from_secs_f64(moved as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(begun.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
}
