//! DNS over UDP and TCP on sockets that may answer for many views.
//!
//! The public listener's pair of sockets also answers for every VPC
//! resolver steered to it ([`crate::steer`]): a UDP question is answered by
//! the view of the address it was sent to (IP_PKTINFO), and the answer
//! leaves from that address; a TCP connection's local address picks its
//! view. A VPC resolver that cannot be steered has sockets of its own,
//! served the same way with one fixed view.
//!
//! Each question is decoded, answered by a [`Handler`] and encoded here:
//! a readable header with an undecodable rest gets FORMERR, a shorter
//! packet or a response gets nothing, and a UDP answer too large for the
//! client's buffer (512 bytes, or its EDNS size up to 1,232) is truncated
//! with TC set.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use hickory_server::net::runtime::TokioTime;
use hickory_server::net::xfer::Protocol;
use hickory_server::net::NetError;
use hickory_server::proto::op::{Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::Record;
use hickory_server::proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder, Queries};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tracing::debug;

use super::handler::{Handler, MAX_UDP_PAYLOAD};

/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Largest UDP question read (a longer one is dropped).
const UDP_QUESTION: usize = 4096;

/// Which handler answers a question sent to an address: a steered VPC
/// resolver's, or the public view's at the public listener's own address.
pub struct Views {
    public: Arc<Handler>,
    /// The public listener's address; `None` when it listens on every
    /// address (0.0.0.0), and then answers at any address not steered.
    public_ip: Option<Ipv4Addr>,
    resolvers: RwLock<HashMap<Ipv4Addr, Arc<Handler>>>,
}

impl Views {
    pub fn new(public: Handler, listening: SocketAddr) -> Views {
        let public_ip = match listening {
            SocketAddr::V4(a) if !a.ip().is_unspecified() => Some(*a.ip()),
            _ => None,
        };
        Views { public: Arc::new(public), public_ip, resolvers: RwLock::default() }
    }

    pub fn add(&self, resolver: Ipv4Addr, handler: Handler) {
        self.resolvers.write().unwrap_or_else(|e| e.into_inner()).insert(resolver, Arc::new(handler));
    }

    pub fn remove(&self, resolver: Ipv4Addr) {
        self.resolvers.write().unwrap_or_else(|e| e.into_inner()).remove(&resolver);
    }

    /// `None` for an address no view answers at any more: a resolver just
    /// closed, whose last questions were steered before it went.
    fn of(&self, to: Option<Ipv4Addr>) -> Option<Arc<Handler>> {
        let Some(ip) = to else { return Some(self.public.clone()) };
        if let Some(h) = self.resolvers.read().unwrap_or_else(|e| e.into_inner()).get(&ip) {
            return Some(h.clone());
        }
        (self.public_ip.is_none() || self.public_ip == Some(ip)).then(|| self.public.clone())
    }
}

/// How a socket picks the handler of a question.
#[derive(Clone)]
pub enum Answers {
    /// By the address the question was sent to.
    ByDestination(Arc<Views>),
    /// Always this one (a socket bound to one resolver's address).
    Fixed(Arc<Handler>),
}

impl Answers {
    fn of(&self, to: Option<Ipv4Addr>) -> Option<Arc<Handler>> {
        match self {
            Answers::ByDestination(views) => views.of(to),
            Answers::Fixed(h) => Some(h.clone()),
        }
    }
}

/// Serves UDP questions on `socket` until `stop`, in `tasks` receivers
/// side by side (each answers what it received before it reads again).
pub fn serve_udp(
    socket: UdpSocket,
    answers: Answers,
    tasks: usize,
    stop: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let by_destination = matches!(answers, Answers::ByDestination(_)) && socket.local_addr().is_ok_and(|a| a.is_ipv4());
    // Without IP_PKTINFO (logged) every question goes to the public view.
    #[cfg(target_os = "linux")]
    if by_destination {
        crate::dataplane::socket::set_ip_flag(&socket, libc::IP_PKTINFO, "IP_PKTINFO");
    }
    let socket = Arc::new(socket);
    (0..tasks.max(1))
        .map(|_| tokio::spawn(udp_receiver(socket.clone(), answers.clone(), by_destination, stop.clone())))
        .collect()
}

async fn udp_receiver(socket: Arc<UdpSocket>, answers: Answers, by_destination: bool, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; UDP_QUESTION];
    loop {
        let received = tokio::select! {
            r = recv(&socket, &mut buf, by_destination) => r,
            _ = stop.changed() => return,
        };
        let (n, from, to) = match received {
            Ok(r) => r,
            Err(e) => {
                debug!(error = %e, "dns: udp receive failed");
                continue;
            }
        };
        let unanswerable = match from {
            SocketAddr::V4(a) => a.ip().is_unspecified() || a.ip().is_broadcast(),
            SocketAddr::V6(a) => a.ip().is_unspecified(),
        };
        if from.port() == 0 || unanswerable {
            continue;
        }
        let Some(handler) = answers.of(to) else { continue };
        let raw = buf[..n].to_vec();
        if handler.may_wait() {
            // Forwarded upstream: the answer may take seconds, so it is
            // sent from a task of its own, which holds the socket only to
            // send (it closes when the receivers stop) and ends on stop.
            let socket = Arc::downgrade(&socket);
            let mut stop = stop.clone();
            tokio::spawn(async move {
                let answered = tokio::select! {
                    a = answer(&handler, raw, from, Protocol::Udp) => a,
                    _ = stop.changed() => None,
                };
                if let (Some(bytes), Some(socket)) = (answered, socket.upgrade()) {
                    send(&socket, &bytes, from, to).await;
                }
            });
        } else if let Some(bytes) = answer(&handler, raw, from, Protocol::Udp).await {
            send(&socket, &bytes, from, to).await;
        }
    }
}

/// Serves TCP connections accepted on `listener` until `stop`: two-byte
/// length, question, answer, as long as the client asks within 10 s.
pub async fn serve_tcp(listener: TcpListener, answers: Answers, mut stop: watch::Receiver<bool>) {
    let by_destination = matches!(answers, Answers::ByDestination(_));
    loop {
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    debug!(error = %e, "dns: tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let to = match stream.local_addr() {
            Ok(SocketAddr::V4(local)) if by_destination => Some(*local.ip()),
            _ => None,
        };
        let (answers, mut stop) = (answers.clone(), stop.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = connection(stream, peer, &answers, to) => {}
                _ = stop.changed() => {}
            }
        });
    }
}

/// Questions on one connection, each answered by the view at its local
/// address now: a resolver gone since the connection opened closes it.
async fn connection(mut stream: TcpStream, peer: SocketAddr, answers: &Answers, to: Option<Ipv4Addr>) {
    loop {
        let mut len = [0u8; 2];
        if !matches!(tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await, Ok(Ok(_))) {
            return;
        }
        let mut raw = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !matches!(tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut raw)).await, Ok(Ok(_))) {
            return;
        }
        let Some(handler) = answers.of(to) else { return };
        let Some(bytes) = answer(&handler, raw, peer, Protocol::Tcp).await else { continue };
        let Ok(len) = u16::try_from(bytes.len()) else { return };
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&bytes);
        // A client that stops reading is cut off as one that stops asking.
        if !matches!(tokio::time::timeout(TCP_IDLE, stream.write_all(&framed)).await, Ok(Ok(()))) {
            return;
        }
    }
}

/// The encoded answer to one question, if it gets one.
pub async fn answer(handler: &Handler, raw: Vec<u8>, src: SocketAddr, protocol: Protocol) -> Option<Vec<u8>> {
    // Shorter than a header: not a DNS message; a response: never answered
    // (no reflection).
    let header = Header::read(&mut BinDecoder::new(&raw)).ok()?;
    if header.metadata.message_type == MessageType::Response {
        return None;
    }
    match Request::from_bytes(raw, src, protocol) {
        Ok(request) => {
            let udp_limit = request.edns.as_ref().map_or(512, |e| e.max_payload().clamp(512, MAX_UDP_PAYLOAD));
            let capture = Capture::new(request.metadata.id, if protocol.is_datagram() { udp_limit } else { u16::MAX });
            handler.handle_request::<_, TokioTime>(&request, capture.clone()).await;
            capture.take()
        }
        Err(e) => {
            debug!(error = %e, %src, "dns: undecodable question");
            let queries = Queries::read(&mut BinDecoder::new(&[]), 0).ok()?;
            let mut capture = Capture::new(header.metadata.id, 512);
            let response =
                MessageResponseBuilder::new(&queries, None).error_msg(&header.metadata, ResponseCode::FormErr);
            capture.send_response(response).await.ok()?;
            capture.take()
        }
    }
}

/// A response handler that keeps the encoded answer for its caller.
#[derive(Clone)]
struct Capture {
    id: u16,
    max_size: u16,
    out: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Capture {
    fn new(id: u16, max_size: u16) -> Capture {
        Capture { id, max_size, out: Arc::default() }
    }

    fn take(&self) -> Option<Vec<u8>> {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

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
    ) -> Result<ResponseInfo, NetError> {
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(self.max_size);
        let info = match response.destructive_emit(&mut encoder) {
            Ok(info) => info,
            Err(e) => {
                // What cannot be encoded becomes SERVFAIL, header only.
                debug!(error = %e, "dns: answer not encodable");
                bytes.clear();
                let mut encoder = BinEncoder::new(&mut bytes);
                let mut metadata = Metadata::new(self.id, MessageType::Response, OpCode::Query);
                metadata.response_code = ResponseCode::ServFail;
                let header = Header { metadata, counts: HeaderCounts::default() };
                header.emit(&mut encoder)?;
                ResponseInfo::from(header)
            }
        };
        *self.out.lock().unwrap_or_else(|e| e.into_inner()) = Some(bytes);
        Ok(info)
    }
}

// ---------------------------------------------------------------- sockets

/// One datagram: its length, sender and (with `pktinfo`) the address it
/// was sent to.
async fn recv(socket: &UdpSocket, buf: &mut [u8], pktinfo: bool) -> io::Result<(usize, SocketAddr, Option<Ipv4Addr>)> {
    #[cfg(target_os = "linux")]
    if pktinfo {
        use std::os::fd::AsRawFd;
        return socket.async_io(tokio::io::Interest::READABLE, || recv_pktinfo(socket.as_raw_fd(), buf)).await;
    }
    let _ = pktinfo;
    let (n, from) = socket.recv_from(buf).await?;
    Ok((n, from, None))
}

/// Sends an answer to `to`, from `from` where the question was sent to a
/// steered address (the socket's own address otherwise).
async fn send(socket: &UdpSocket, bytes: &[u8], to: SocketAddr, from: Option<Ipv4Addr>) {
    let sent = match (to, from) {
        #[cfg(target_os = "linux")]
        (SocketAddr::V4(to), Some(from)) => {
            use std::os::fd::AsRawFd;
            socket.async_io(tokio::io::Interest::WRITABLE, || send_from(socket.as_raw_fd(), bytes, to, from)).await
        }
        _ => socket.send_to(bytes, to).await,
    };
    if let Err(e) = sent {
        debug!(error = %e, %to, "dns: could not send an answer");
    }
}

/// Room for the control messages of one datagram (IP_PKTINFO's is 28 bytes).
#[cfg(target_os = "linux")]
#[repr(C, align(8))]
struct Control([u8; 64]);

/// The header of one datagram to or from `name`, its bytes in `iov`, with
/// the first `control_len` bytes of `control` for control messages.
///
/// # Safety
/// The pointers must stay valid for as long as the header is used.
#[cfg(target_os = "linux")]
unsafe fn msghdr(
    name: *mut libc::sockaddr_in,
    iov: *mut libc::iovec,
    control: &mut Control,
    control_len: usize,
) -> libc::msghdr {
    // SAFETY: msghdr is plain data; all zeroes is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control_len as _;
    msg
}

#[cfg(target_os = "linux")]
fn recv_pktinfo(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, Option<Ipv4Addr>)> {
    // SAFETY: every pointer in `msg` points at a live buffer of this frame
    // with its length; control messages are read within `msg_controllen`
    // through the kernel's CMSG macros, unaligned reads for their data.
    unsafe {
        let mut from: libc::sockaddr_in = std::mem::zeroed();
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        let mut control = Control([0; 64]);
        let len = control.0.len();
        let mut msg = msghdr(&mut from, &mut iov, &mut control, len);
        let n = libc::recvmsg(fd, &mut msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if msg.msg_flags & libc::MSG_TRUNC != 0 || i32::from(from.sin_family) != libc::AF_INET {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "datagram too long or not IPv4"));
        }
        let sender = SocketAddrV4::new(Ipv4Addr::from(u32::from_be(from.sin_addr.s_addr)), u16::from_be(from.sin_port));
        let mut to = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                to = Some(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr)));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        Ok((n as usize, SocketAddr::V4(sender), to))
    }
}

#[cfg(target_os = "linux")]
fn send_from(fd: std::os::fd::RawFd, bytes: &[u8], to: SocketAddrV4, from: Ipv4Addr) -> io::Result<usize> {
    // SAFETY: as in `recv_pktinfo`; the one control message is written
    // within the buffer the CMSG_SPACE of an in_pktinfo reserves.
    unsafe {
        let mut dest: libc::sockaddr_in = std::mem::zeroed();
        dest.sin_family = libc::AF_INET as libc::sa_family_t;
        dest.sin_port = to.port().to_be();
        dest.sin_addr.s_addr = u32::from(*to.ip()).to_be();
        let mut iov = libc::iovec { iov_base: bytes.as_ptr() as *mut libc::c_void, iov_len: bytes.len() };
        let mut control = Control([0; 64]);
        let len = libc::CMSG_SPACE(std::mem::size_of::<libc::in_pktinfo>() as u32) as usize;
        let msg = msghdr(&mut dest, &mut iov, &mut control, len);
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::IPPROTO_IP;
        (*c).cmsg_type = libc::IP_PKTINFO;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in_pktinfo>() as u32) as _;
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr { s_addr: u32::from(from).to_be() },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast(), info);
        let n = libc::sendmsg(fd, &msg, 0);
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}
