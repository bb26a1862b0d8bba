//! One packet through a [`Handler`] without sockets, as the server would
//! run it: for unit tests and fuzzing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::rr::Record;
use hickory_server::proto::serialize::binary::BinEncoder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;

use super::handler::Handler;

/// Captures the encoded response.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Option<Vec<u8>>>>);

#[async_trait::async_trait]
impl ResponseHandler for Capture {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, hickory_server::net::NetError> {
        let mut buf = Vec::new();
        let mut enc = BinEncoder::new(&mut buf);
        enc.set_max_size(u16::MAX);
        let info = response.destructive_emit(&mut enc)?;
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(buf);
        Ok(info)
    }
}

/// The encoded answer to `packet` (received over UDP), or `None` when it
/// does not decode as a DNS message (the server answers those itself).
pub fn answer(rt: &tokio::runtime::Runtime, handler: &Handler, packet: Vec<u8>) -> Option<Vec<u8>> {
    let src: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 5300));
    let request = Request::from_bytes(packet, src, Protocol::Udp).ok()?;
    let capture = Capture::default();
    rt.block_on(handler.handle_request::<_, TokioTime>(&request, capture.clone()));
    let answer = capture.0.lock().unwrap_or_else(|e| e.into_inner()).take();
    Some(answer.expect("the handler answers every decoded request"))
}
