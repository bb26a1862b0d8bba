//! One socket for many addresses: an `sk_lookup` BPF program (Linux 5.9+,
//! CAP_BPF and CAP_NET_ADMIN) hands each new TCP connection, or each UDP
//! datagram, to an (address, port) of the emulator's table to one socket,
//! which sees the address it was sent to as its local address (TCP) or in
//! its IP_PKTINFO (UDP). The data plane's loopback ENIs listen through one
//! such socket, and the VPC resolvers answer through the DNS listener's
//! own pair, so sockets (and descriptors) stay at one per protocol however
//! many endpoints and VPCs there are, where one socket per ENI and listener
//! port ran out of descriptors before 10,000 endpoints.
//!
//! The program, the two maps and the link are the process's descriptors:
//! closing them (or the process ending) detaches everything, so nothing
//! outlives the emulator. Traffic to addresses not in the table goes
//! through the kernel's usual lookup, untouched. Each [`Steering`] is a
//! program of its own; several run side by side in one namespace.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Addresses the table holds at most (entries are allocated as added;
/// kernels before 5.11 charge the whole table to RLIMIT_MEMLOCK, ~5 MiB).
const MAX_ADDRESSES: u32 = 1 << 16;

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_MAP_DELETE_ELEM: libc::c_int = 3;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_LINK_CREATE: libc::c_int = 28;

const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_SOCKMAP: u32 = 15;
const BPF_F_NO_PREALLOC: u32 = 1;
const BPF_PROG_TYPE_SK_LOOKUP: u32 = 30;
const BPF_SK_LOOKUP: u32 = 36;

/// `bpf_attr` for BPF_MAP_CREATE (its leading fields; the rest stay zero).
#[repr(C)]
#[derive(Default)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

/// `bpf_attr` for BPF_MAP_*_ELEM.
#[repr(C)]
#[derive(Default)]
struct MapElem {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// `bpf_attr` for BPF_PROG_LOAD, up to `expected_attach_type`.
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `bpf_attr` for BPF_LINK_CREATE.
#[repr(C)]
#[derive(Default)]
struct LinkCreate {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
}

/// The table's key: `bpf_sk_lookup`'s `local_ip4` (network order) and
/// `local_port` (host order), as the program copies them.
#[repr(C)]
struct Key {
    ip: u32,
    port: u32,
}

impl Key {
    fn of(addr: SocketAddrV4) -> Key {
        Key { ip: u32::from_ne_bytes(addr.ip().octets()), port: u32::from(addr.port()) }
    }
}

fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a repr(C) prefix of `union bpf_attr` for `cmd`, valid
    // for its size; pointers inside it point at live buffers of this frame.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>() as libc::c_uint) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: the bpf syscall returned a new descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

fn create_map(map_type: u32, key_size: u32, value_size: u32, max_entries: u32, map_flags: u32) -> io::Result<OwnedFd> {
    let mut attr = MapCreate { map_type, key_size, value_size, max_entries, map_flags };
    bpf(BPF_MAP_CREATE, &mut attr).map(owned)
}

/// One eBPF instruction.
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    /// dst register in the low nibble, src in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | dst, off, imm }
}

// Opcodes used below.
const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const STX_W: u8 = 0x63; // *(u32 *)(dst + off) = src
const ST_W: u8 = 0x62; // *(u32 *)(dst + off) = imm
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const ADD64_K: u8 = 0x07;
const JNE_K: u8 = 0x55;
const JEQ_K: u8 = 0x15;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
const LD_DW_IMM: u8 = 0x18;
const PSEUDO_MAP_FD: u8 = 1;

const FN_MAP_LOOKUP_ELEM: i32 = 1;
const FN_SK_RELEASE: i32 = 86;
const FN_SK_ASSIGN: i32 = 124;

// Offsets in `struct bpf_sk_lookup`.
const FAMILY: i16 = 8;
const PROTOCOL: i16 = 12;
const LOCAL_IP4: i16 = 40;
const LOCAL_PORT: i16 = 60;

const SK_PASS: i32 = 1;

/// Which traffic a [`Steering`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// New TCP connections, to a listening socket.
    Tcp,
    /// UDP datagrams, to an unconnected UDP socket.
    Udp,
}

impl Protocol {
    fn number(self) -> i32 {
        match self {
            Protocol::Tcp => libc::IPPROTO_TCP,
            Protocol::Udp => libc::IPPROTO_UDP,
        }
    }
}

/// The program: IPv4 traffic of `protocol` whose local (address, port) is
/// in `addresses` goes to the socket at index 0 of `sockets`; anything
/// else passes on to the usual lookup.
fn program(addresses: i32, sockets: i32, protocol: Protocol) -> Vec<Insn> {
    let p = vec![
        insn(MOV64_X, 6, 1, 0, 0), // r6 = ctx
        insn(LDX_W, 2, 6, PROTOCOL, 0),
        insn(JNE_K, 2, 0, 26, protocol.number()), // -> pass
        insn(LDX_W, 2, 6, FAMILY, 0),
        insn(JNE_K, 2, 0, 24, libc::AF_INET), // -> pass
        insn(LDX_W, 2, 6, LOCAL_IP4, 0),
        insn(STX_W, 10, 2, -8, 0),
        insn(LDX_W, 2, 6, LOCAL_PORT, 0),
        insn(STX_W, 10, 2, -4, 0),
        insn(LD_DW_IMM, 1, PSEUDO_MAP_FD, 0, addresses),
        insn(0, 0, 0, 0, 0),
        insn(MOV64_X, 2, 10, 0, 0),
        insn(ADD64_K, 2, 0, 0, -8),
        insn(CALL, 0, 0, 0, FN_MAP_LOOKUP_ELEM),
        insn(JEQ_K, 0, 0, 14, 0), // not ours -> pass
        insn(ST_W, 10, 0, -12, 0),
        insn(LD_DW_IMM, 1, PSEUDO_MAP_FD, 0, sockets),
        insn(0, 0, 0, 0, 0),
        insn(MOV64_X, 2, 10, 0, 0),
        insn(ADD64_K, 2, 0, 0, -12),
        insn(CALL, 0, 0, 0, FN_MAP_LOOKUP_ELEM),
        insn(JEQ_K, 0, 0, 7, 0), // no socket -> pass
        insn(MOV64_X, 7, 0, 0, 0),
        insn(MOV64_X, 1, 6, 0, 0),
        insn(MOV64_X, 2, 7, 0, 0),
        insn(MOV64_K, 3, 0, 0, 0),
        insn(CALL, 0, 0, 0, FN_SK_ASSIGN),
        insn(MOV64_X, 1, 7, 0, 0),
        insn(CALL, 0, 0, 0, FN_SK_RELEASE),
        // pass:
        insn(MOV64_K, 0, 0, 0, SK_PASS),
        insn(EXIT, 0, 0, 0, 0),
    ];
    debug_assert_eq!(p.len(), 31);
    p
}

/// Loads the program; where the kernel refuses it, loads it again with the
/// verifier's log on, for its last line in the error.
fn load(insns: &[Insn]) -> io::Result<OwnedFd> {
    let license = c"Dual MIT/GPL";
    let mut name = [0u8; 16];
    name[..10].copy_from_slice(b"privatelnk");
    let attr = |log: &mut [u8]| ProgLoad {
        prog_type: BPF_PROG_TYPE_SK_LOOKUP,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: log.len() as u32,
        log_buf: if log.is_empty() { 0 } else { log.as_mut_ptr() as u64 },
        prog_name: name,
        expected_attach_type: BPF_SK_LOOKUP,
        ..ProgLoad::default()
    };
    let e = match bpf(BPF_PROG_LOAD, &mut attr(&mut [])) {
        Ok(fd) => return Ok(owned(fd)),
        Err(e) => e,
    };
    let mut log = vec![0u8; 64 * 1024];
    let _ = bpf(BPF_PROG_LOAD, &mut attr(&mut log)).map(|fd| drop(owned(fd)));
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    let verifier = String::from_utf8_lossy(&log[..end]);
    match verifier.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(last) => Err(io::Error::new(e.kind(), format!("{e} (verifier: {last})"))),
        None => Err(e),
    }
}

/// The steering of one network namespace (the process's) to one socket.
pub struct Steering {
    addresses: OwnedFd,
    _sockets: OwnedFd,
    _program: OwnedFd,
    _link: OwnedFd,
}

impl Steering {
    /// Attaches a program to the process's network namespace, steering
    /// `protocol` to `socket` (a listening TCP/IPv4 socket, or an
    /// unconnected UDP/IPv4 one).
    pub fn attach(socket: &impl AsRawFd, protocol: Protocol) -> io::Result<Steering> {
        // Kernels before 5.11 count BPF maps against RLIMIT_MEMLOCK (64 KiB
        // in a default container): as much as the hard limit allows.
        if let Ok((soft, hard)) = rlimit::getrlimit(rlimit::Resource::MEMLOCK) {
            if soft < hard {
                let _ = rlimit::setrlimit(rlimit::Resource::MEMLOCK, hard, hard);
            }
        }
        let addresses = create_map(BPF_MAP_TYPE_HASH, 8, 4, MAX_ADDRESSES, BPF_F_NO_PREALLOC)?;
        let sockets = create_map(BPF_MAP_TYPE_SOCKMAP, 4, 4, 1, 0)?;
        let index: u32 = 0;
        let fd = socket.as_raw_fd() as u32;
        update(&sockets, &index, &fd)?;
        let program = load(&program(addresses.as_raw_fd(), sockets.as_raw_fd(), protocol))?;
        let netns = std::fs::File::open("/proc/self/ns/net")?;
        let mut attr = LinkCreate {
            prog_fd: program.as_raw_fd() as u32,
            target_fd: netns.as_raw_fd() as u32,
            attach_type: BPF_SK_LOOKUP,
            flags: 0,
        };
        let link = owned(bpf(BPF_LINK_CREATE, &mut attr)?);
        Ok(Steering { addresses, _sockets: sockets, _program: program, _link: link })
    }

    /// Steers traffic to `addr` to the socket.
    pub fn add(&self, addr: SocketAddrV4) -> io::Result<()> {
        update(&self.addresses, &Key::of(addr), &0u32)
    }

    /// Stops steering `addr`: new connections to it are refused again
    /// (datagrams get the kernel's port unreachable).
    pub fn remove(&self, addr: SocketAddrV4) {
        let key = Key::of(addr);
        let mut attr =
            MapElem { map_fd: self.addresses.as_raw_fd() as u32, key: &key as *const Key as u64, ..Default::default() };
        if let Err(e) = bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
            tracing::debug!(%addr, error = %e, "address was not steered");
        }
    }
}

fn update<K, V>(map: &OwnedFd, key: &K, value: &V) -> io::Result<()> {
    let mut attr = MapElem {
        map_fd: map.as_raw_fd() as u32,
        key: key as *const K as u64,
        value: value as *const V as u64,
        flags: 0,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpListener, TcpStream};

    /// Where the kernel lets this process attach the program, connections
    /// to two steered addresses reach the one listener with their own
    /// local addresses, and a removed address is refused.
    #[test]
    fn steers_listed_addresses_to_one_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let steering = match Steering::attach(&listener, Protocol::Tcp) {
            Ok(s) => s,
            Err(e) if std::env::var_os("REQUIRE_ALL_E2E").is_none() => {
                eprintln!("skipped: sk_lookup steering unavailable here ({e})");
                return;
            }
            Err(e) => panic!("sk_lookup steering unavailable with REQUIRE_ALL_E2E set: {e}"),
        };
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let a = SocketAddrV4::new(Ipv4Addr::new(127, 201, 0, 10), port);
        let b = SocketAddrV4::new(Ipv4Addr::new(127, 201, 1, 20), port);
        steering.add(a).unwrap();
        steering.add(b).unwrap();
        for addr in [a, b] {
            let mut c = TcpStream::connect(addr).unwrap();
            let (mut s, _) = listener.accept().unwrap();
            assert_eq!(s.local_addr().unwrap(), std::net::SocketAddr::V4(addr));
            c.write_all(b"x").unwrap();
            let mut byte = [0u8; 1];
            s.read_exact(&mut byte).unwrap();
            assert_eq!(&byte, b"x");
        }
        steering.remove(a);
        let refused = TcpStream::connect(a).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        drop(steering);
        assert_eq!(TcpStream::connect(b).unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
    }

    /// Datagrams to a steered address reach the one UDP socket; removing
    /// the address leaves them to the kernel (nothing listens there).
    #[test]
    fn steers_datagrams_to_one_udp_socket() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let steering = match Steering::attach(&socket, Protocol::Udp) {
            Ok(s) => s,
            Err(e) if std::env::var_os("REQUIRE_ALL_E2E").is_none() => {
                eprintln!("skipped: sk_lookup steering unavailable here ({e})");
                return;
            }
            Err(e) => panic!("sk_lookup steering unavailable with REQUIRE_ALL_E2E set: {e}"),
        };
        socket.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let port = socket.local_addr().unwrap().port();
        let a = SocketAddrV4::new(Ipv4Addr::new(127, 202, 0, 2), port);
        steering.add(a).unwrap();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(b"hello", a).unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = socket.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"hello"[..], client.local_addr().unwrap()));
        steering.remove(a);
        client.send_to(b"again", a).unwrap();
        socket.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
        assert!(socket.recv_from(&mut buf).is_err(), "a removed address is not steered");
    }
}
