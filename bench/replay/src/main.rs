//! `privatelink-replay PORT REQUESTS RESPONSES`: the timed client of
//! `bench/api_bench.py`. Sends each prepared HTTP/1.1 request of REQUESTS
//! on one keep-alive connection to 127.0.0.1:PORT, reads the whole answer,
//! and prints the round trip in nanoseconds, one line per request. Answers
//! go to RESPONSES for the caller to check after the clock has stopped.
//!
//! Frames in REQUESTS: a 4-byte big-endian length, then the request bytes.
//! Frames in RESPONSES: 4-byte status, 4-byte length, then the body.
//! Answers must carry Content-Length (the emulator's, moto's and the
//! trivial reference server's all do); anything else is an error.
//!
//! Measuring with a compiled client takes the Python client's own time
//! (tens of microseconds per call) out of every sample, for every server.
//!
//! `privatelink-replay serve [PORT]`: the reference for the measurement
//! floor. A server that does no work: it listens on 127.0.0.1:PORT (port
//! 0 or none: a free one; the port is the first line of stdout), reads each request on a thread per
//! connection and answers with the same canned 200. What the replay client
//! measures against it is what the client, loopback and this machine's
//! thread wake-ups add to every sample, whatever the server.

use std::io::{self, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

fn main() {
    if let Err(e) = run() {
        eprintln!("privatelink-replay: {e}");
        std::process::exit(1);
    }
}

fn run() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        let port = args.get(2).map_or(Ok(0), |p| p.parse()).map_err(|_| io::Error::other("bad port"))?;
        return serve(port);
    }
    let [_, port, requests, responses] = args.as_slice() else {
        return Err(io::Error::other("usage: privatelink-replay PORT REQUESTS RESPONSES"));
    };
    let port: u16 = port.parse().map_err(|_| io::Error::other(format!("bad port {port}")))?;
    let data = std::fs::read(requests)?;
    let requests = frames(&data)?;
    let mut out = BufWriter::new(std::fs::File::create(responses)?);
    let mut conn: Option<(TcpStream, Reader)> = None;
    let mut times = Vec::with_capacity(requests.len());
    for request in requests {
        let t0 = Instant::now();
        // A server that closes after each answer (`Connection: close`) is
        // connected to again, inside the timed part, as any client must.
        let (stream, reader) = match &mut conn {
            Some(c) => c,
            None => conn.insert((connect(port)?, Reader { buf: Vec::with_capacity(1 << 20), start: 0 })),
        };
        stream.write_all(request)?;
        let (status, body, close) = reader.response(stream)?;
        times.push(t0.elapsed().as_nanos());
        if close {
            conn = None;
        }
        out.write_all(&u32::from(status).to_be_bytes())?;
        out.write_all(&(body.len() as u32).to_be_bytes())?;
        out.write_all(&body)?;
    }
    out.flush()?;
    let mut stdout = BufWriter::new(io::stdout().lock());
    for t in times {
        writeln!(stdout, "{t}")?;
    }
    stdout.flush()
}

/// The canned answer of `serve`.
const CANNED: &[u8] = b"<DescribeVpcsResponse><vpcSet/></DescribeVpcsResponse>";

fn serve(port: u16) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("{}", listener.local_addr()?.port());
    io::stdout().flush()?;
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || {
            if let Err(e) = answer_all(stream) {
                eprintln!("privatelink-replay serve: {e}");
            }
        });
    }
    Ok(())
}

/// Answers every request of one connection with [`CANNED`].
fn answer_all(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut answer =
        format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n", CANNED.len()).into_bytes();
    answer.extend_from_slice(CANNED);
    let mut reader = Reader { buf: Vec::with_capacity(1 << 16), start: 0 };
    loop {
        let end = loop {
            if let Some(i) = find(&reader.buf[reader.start..], b"\r\n\r\n") {
                break reader.start + i;
            }
            match reader.fill(&mut stream) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                r => r?,
            }
        };
        let head = String::from_utf8_lossy(&reader.buf[reader.start..end]).to_ascii_lowercase();
        reader.start = end + 4;
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while reader.buf.len() - reader.start < length {
            reader.fill(&mut stream)?;
        }
        reader.start += length;
        stream.write_all(&answer)?;
    }
}

fn connect(port: u16) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(120)))?;
    Ok(stream)
}

fn frames(data: &[u8]) -> io::Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(io::Error::other("a truncated frame length"));
        }
        let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let frame = rest.get(4..4 + n).ok_or_else(|| io::Error::other("a truncated frame"))?;
        out.push(frame);
        rest = &rest[4 + n..];
    }
    Ok(out)
}

/// Buffered reading of answers on one connection.
struct Reader {
    buf: Vec<u8>,
    start: usize,
}

impl Reader {
    fn fill(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// One answer: status, body, and whether the server closes after it.
    fn response(&mut self, stream: &mut TcpStream) -> io::Result<(u16, Vec<u8>, bool)> {
        loop {
            let end = loop {
                if let Some(i) = find(&self.buf[self.start..], b"\r\n\r\n") {
                    break self.start + i;
                }
                self.fill(stream)?;
            };
            let head = String::from_utf8_lossy(&self.buf[self.start..end]).into_owned();
            self.start = end + 4;
            let mut lines = head.split("\r\n");
            let status: u16 = lines
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| io::Error::other(format!("not an HTTP status line: {head:?}")))?;
            if status < 200 {
                continue;
            }
            let headers: Vec<(&str, &str)> =
                lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim(), v.trim())).collect();
            let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
            let length = header("content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| io::Error::other(format!("an answer without Content-Length: {head:?}")))?;
            let close =
                header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) || head.starts_with("HTTP/1.0");
            while self.buf.len() - self.start < length {
                self.fill(stream)?;
            }
            let body = self.buf[self.start..self.start + length].to_vec();
            self.start += length;
            return Ok((status, body, close));
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
