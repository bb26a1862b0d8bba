//! Interface endpoints of AWS services: TLS on port 443 at each ENI with a
//! certificate of the local CA, and behind it the emulator's own API, so
//! `aws ec2 ...` from inside a VPC with no way out reaches the emulator by
//! `ec2.REGION.amazonaws.com` (private DNS) or the endpoint's own names.
//! The caller's account comes from its access key, as on the API port.

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, Instrument};

use super::flow::{self, Stop};
use super::DataPlane;

/// Time a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn accept_loop(
    dp: Arc<DataPlane>,
    listener: TcpListener,
    key: SocketAddrV4,
    cancelled: watch::Receiver<Stop>,
) {
    loop {
        let (stream, peer) = super::accept::next_connection(&listener).await;
        admit(&dp, stream, peer, key, &cancelled);
    }
}

/// Starts serving one accepted connection at `key`: TLS, then the API.
pub(super) fn admit(
    dp: &Arc<DataPlane>,
    stream: TcpStream,
    peer: SocketAddr,
    key: SocketAddrV4,
    cancelled: &watch::Receiver<Stop>,
) {
    let Some(route) = dp.plan().services.get(&key).cloned() else {
        flow::reset(&stream);
        return;
    };
    let stats = dp.stats.endpoint(&route.endpoint_id);
    if !route.admits(flow::source_vpc_addr(&route.consumer, peer)) {
        debug!(endpoint = %route.endpoint_id, %peer, "security groups refuse the connection");
        stats.refused.fetch_add(1, Ordering::Relaxed);
        flow::reset(&stream);
        return;
    }
    let Some(permit) = dp.flow_permit(&stats, &stream) else { return };
    stats.connections.fetch_add(1, Ordering::Relaxed);
    let acceptor = dp.tls.clone();
    let shared = dp.shared.clone();
    let mut cancel = cancelled.clone();
    // The target of these flows is the emulator's own API.
    let span = flow::span(&route.endpoint_id, key, peer);
    span.record("target", "api");
    tokio::spawn(
        async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    debug!("TLS handshake timed out");
                    return;
                }
            };
            stats.active.fetch_add(1, Ordering::Relaxed);
            crate::server::serve_connection(tls, shared, peer, async move {
                flow::wait_stopped(&mut cancel).await;
            })
            .await;
            stats.active.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        }
        .instrument(span),
    );
}
