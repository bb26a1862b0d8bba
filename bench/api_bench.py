#!/usr/bin/env python3
"""API benchmark: privatelink-emulator versus moto_server, in one run.

Measures for each server:
  * start time: process spawn -> first answered DescribeVpcs (median of N spawns);
  * CreateVpcEndpoint latency p50/p99 (1,000 interface endpoints, 50 per VPC over
    20 VPCs, each VPC with two subnets in us-east-1a/us-east-1b, all for one
    endpoint service backed by one internal network load balancer);
  * DescribeVpcEndpoints latency p50/p99 (all endpoints in one page,
    MaxResults=1000, with the 1,000 endpoints present);
and, first in each run, the same client against a server that does no work
(the floor CreateVpcEndpoint is held to: at most 1.5x its p50 and p99).

The whole suite runs --runs times (3 by default), the floor and the servers
back to back in each run; the report gives each figure's median over the
runs, and for the floor target the spread and each run's own ratio.

Both servers get byte-identical requests over one keep-alive
http.client.HTTPConnection each, and only 127.0.0.1 is used. The timed part of
a call is: send the request, read the whole response. XML parsing happens
outside the timed part. Results go into a marked section of BENCHMARKS.md
(everything outside the markers is kept) and raw samples into bench/out/.

Standard library only (moto itself is needed to run moto_server).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dpkit  # noqa: E402

HOST = "127.0.0.1"
REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b")
EC2_VERSION = "2016-11-15"
ELB_VERSION = "2015-12-01"
ENDPOINTS_PER_VPC = 50  # AWS's default quota, enforced by the emulator
MARK_START = "<!-- api-bench:start -->"
MARK_END = "<!-- api-bench:end -->"
FLOOR_TARGET = 1.5  # CreateVpcEndpoint p50 and p99 at most this many times the no-work floor
LATENCY_TARGET = 50.0  # moto/emulator, per the project's stated goals
START_TARGET = 20.0

REPO = Path(__file__).resolve().parent.parent
PROBE_BODY = f"Action=DescribeVpcs&Version={EC2_VERSION}".encode()


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- HTTP


def auth_header(service: str, access_key: str, amz_date: str) -> str:
    """A SigV4-shaped Authorization header. Nobody checks the signature: moto
    only reads the credential scope to route the request (EC2 vs ELBv2), the
    emulator reads account/region from it."""
    return (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{amz_date[:8]}/{REGION}/{service}/aws4_request, "
        f"SignedHeaders=content-type;host;x-amz-date, Signature={'0' * 64}"
    )


class RawConn:
    """A minimal HTTP/1.1 keep-alive client on a plain socket: the whole
    request goes out in one sendall(), the response is framed by
    Content-Length (or chunked encoding, or connection close). About 15 us of
    client CPU per call here, against ~200 us for http.client (which sends
    headers and body in two writes and parses headers with the email package);
    see the measurement floor in the report."""

    def __init__(self, port: int, timeout: float):
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def connect(self):
        self.close()
        self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buf = None, b""

    def _recv(self) -> bytes:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("server closed the connection mid-response")
        return chunk

    def _take(self, n: int) -> bytes:
        if len(self.buf) < n:
            parts = bytearray(self.buf)
            while len(parts) < n:
                parts += self._recv()
            self.buf = bytes(parts)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            self.buf += self._recv()
        out, self.buf = self.buf[:i], self.buf[i + 2:]
        return out

    def roundtrip(self, request: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.connect()
        self.sock.sendall(request)
        while True:
            while (i := self.buf.find(b"\r\n\r\n")) < 0:
                self.buf += self._recv()
            head, self.buf = self.buf[:i], self.buf[i + 4:]
            lines = head.split(b"\r\n")
            status = int(lines[0].split(None, 2)[1])
            if status >= 200:
                break  # skip 1xx interim answers
        length, chunked, close = None, False, lines[0].startswith(b"HTTP/1.0")
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            k, v = k.strip().lower(), v.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"transfer-encoding":
                chunked = b"chunked" in v
            elif k == b"connection":
                close = v == b"close" or (close and v != b"keep-alive")
        if chunked:
            body = bytearray()
            while (size := int(self._line().split(b";")[0], 16)) > 0:
                body += self._take(size)
                self._line()
            while self._line():  # trailers
                pass
            body = bytes(body)
        elif length is not None:
            body = self._take(length)
        else:
            data = bytearray(self.buf)
            while chunk := self.sock.recv(262144):
                data += chunk
            body, close = bytes(data), True
        if close:
            self.close()
        return status, body


class HttpClientConn:
    """The same interface on http.client (for comparison: --client http.client)."""

    def __init__(self, port: int, timeout: float):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def roundtrip(self, request: bytes) -> tuple[int, bytes]:
        head, _, body = request.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")[1:]
        headers = dict(line.split(": ", 1) for line in lines)
        headers.pop("Host", None)
        headers.pop("Content-Length", None)
        self.conn.request("POST", "/", body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.will_close:
            self.conn.close()
        return resp.status, data

    def close(self):
        self.conn.close()


def request_prefix(port: int, service: str, access_key: str) -> bytes:
    amz_date = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return (
        f"POST / HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        f"Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
        f"X-Amz-Date: {amz_date}\r\n"
        f"Authorization: {auth_header(service, access_key, amz_date)}\r\n"
        f"Content-Length: "
    ).encode()


class Client:
    """Keep-alive form POSTs to one server; request heads are prebuilt per service."""

    def __init__(self, port: int, access_key: str, kind: str = "raw", timeout: float = 300.0):
        self.port = port
        self.kind = kind
        self.conn = (HttpClientConn if kind == "http.client" else RawConn)(port, timeout)
        self.prefix = {svc: request_prefix(port, svc, access_key) for svc in ("ec2", "elasticloadbalancing")}

    def request(self, service: str, body: bytes) -> bytes:
        return b"%s%d\r\n\r\n%s" % (self.prefix[service], len(body), body)

    def timed(self, service: str, bodies: list[bytes]) -> list[tuple[int, bytes, int]]:
        """Timed round trips of `bodies`, in order: (status, body, elapsed_ns)
        each. With the replay client the clock runs in a compiled program on
        its own keep-alive connection; otherwise one by one on this one."""
        if self.kind == "replay":
            return replay(self.port, [self.request(service, b) for b in bodies])
        return [self.raw(service, b) for b in bodies]

    def raw(self, service: str, body: bytes) -> tuple[int, bytes, int]:
        """One timed round trip; returns (status, body, elapsed_ns)."""
        request = self.request(service, body)
        t0 = time.perf_counter_ns()
        status, data = self.conn.roundtrip(request)
        t1 = time.perf_counter_ns()
        return status, data, t1 - t0

    def call(self, service: str, action: str, params: dict | None = None) -> tuple[ET.Element, int]:
        body = encode(service, action, params)
        status, data, ns = self.raw(service, body)
        if status != 200:
            raise BenchError(f"{action} -> HTTP {status}: {data[:800].decode('utf-8', 'replace')}")
        return parse_xml(data), ns

    def close(self):
        self.conn.close()


def replay_bin() -> str:
    return os.environ.get("PRIVATELINK_REPLAY_BIN", str(REPO / "target/release/privatelink-replay"))


def replay(port: int, requests: list[bytes]) -> list[tuple[int, bytes, int]]:
    """Runs bench/replay (privatelink-replay): the requests go out on one
    keep-alive connection, each round trip timed in Rust."""
    with tempfile.TemporaryDirectory(prefix="plreplay-") as d:
        req, resp = Path(d) / "requests", Path(d) / "responses"
        req.write_bytes(b"".join(len(r).to_bytes(4, "big") + r for r in requests))
        r = subprocess.run([replay_bin(), str(port), str(req), str(resp)], capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError(f"privatelink-replay failed: {r.stderr.strip()}")
        times = [int(line) for line in r.stdout.split()]
        data = resp.read_bytes()
    out, i = [], 0
    for ns in times:
        status = int.from_bytes(data[i:i + 4], "big")
        n = int.from_bytes(data[i + 4:i + 8], "big")
        out.append((status, data[i + 8:i + 8 + n], ns))
        i += 8 + n
    if len(out) != len(requests):
        raise BenchError(f"privatelink-replay answered {len(out)} of {len(requests)} requests")
    return out


def encode(service: str, action: str, params: dict | None = None) -> bytes:
    version = EC2_VERSION if service == "ec2" else ELB_VERSION
    items = [("Action", action), ("Version", version)]
    items += [(k, str(v)) for k, v in (params or {}).items()]
    return urllib.parse.urlencode(items).encode()


def parse_xml(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    for el in root.iter():  # drop namespaces: {http://ec2...}vpcId -> vpcId
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = el.tag.split("}", 1)[1]
    return root


def find_text(root: ET.Element, tag: str, action: str) -> str:
    el = root.find(f".//{tag}")
    if el is None or not (el.text or "").strip():
        raise BenchError(f"{action}: no <{tag}> in response: {ET.tostring(root)[:800]!r}")
    return el.text.strip()


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def resolve_moto() -> str:
    path = shutil.which("moto_server")
    if path is None:
        raise BenchError("moto_server not found on PATH (pip install 'moto[server]')")
    if "/shims/" in path and shutil.which("pyenv"):
        # A pyenv shim is a shell script re-exec'ing pyenv: resolve it so the
        # start time is moto's own, not pyenv's.
        try:
            real = subprocess.run(["pyenv", "which", "moto_server"], capture_output=True, text=True, timeout=30)
            if real.returncode == 0 and real.stdout.strip():
                path = real.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return path


class Server:
    """One spawned server process, in its own session so it and any children
    can be ended by its process-group id (which is its own pid)."""

    def __init__(self, name: str, argv_for_port, logdir: Path):
        self.name = name
        self.argv_for_port = argv_for_port
        self.logdir = logdir
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log_path: Path | None = None
        self._count = 0

    def spawn(self) -> float:
        """Starts the process; returns the perf_counter() of the spawn."""
        self.port = free_port()
        self._count += 1
        self.log_path = self.logdir / f"{self.name}-{self._count}.log"
        log = open(self.log_path, "wb")
        argv = self.argv_for_port(self.port)
        t0 = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        except OSError as e:
            raise BenchError(f"{self.name}: cannot start {argv[0]}: {e}") from e
        finally:
            log.close()
        return t0

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace") if self.log_path else ""
        except OSError:
            return ""

    def wait_ready(self, access_key: str, timeout: float) -> float:
        """Polls with DescribeVpcs until it is answered with HTTP 200 and EC2
        XML; returns perf_counter() at that moment. No sleeps: connection
        refused comes back at once, and the loop only yields the CPU."""
        request = b"%s%d\r\n\r\n%s" % (request_prefix(self.port, "ec2", access_key), len(PROBE_BODY), PROBE_BODY)
        deadline = time.perf_counter() + timeout
        last_err = "no attempt"
        while True:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with code {self.proc.returncode} before answering "
                    f"(last probe error: {last_err}); log tail:\n{self.log_tail()}"
                )
            if time.perf_counter() > deadline:
                raise BenchError(f"{self.name} did not answer within {timeout}s ({last_err}); log tail:\n{self.log_tail()}")
            conn = RawConn(self.port, 0.25)  # short connect attempts ...
            try:
                conn.connect()
                conn.sock.settimeout(max(0.5, deadline - time.perf_counter()))  # ... but let a slow first answer finish
                status, data = conn.roundtrip(request)
                if status == 200 and b"DescribeVpcsResponse" in data:
                    return time.perf_counter()
                last_err = f"HTTP {status}: {data[:200]!r}"
            except (OSError, ValueError, IndexError) as e:
                last_err = repr(e)
            finally:
                conn.close()
            os.sched_yield()

    def stop(self):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)  # the group we created (pgid == our child's pid)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        else:
            # Leader gone; end any leftovers of its group all the same.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


# --------------------------------------------------------------------------- measurements


def per_call(before: dict, after: dict, calls: int) -> dict:
    """Microseconds each server thread (by name) ran, and waited runnable
    for a CPU, per call, between two `dpkit.thread_times` readings: where a
    call's time went inside the server."""
    out = {}
    for name, (ran, waited) in after.items():
        r0, w0 = before.get(name, (0, 0))
        if ran > r0:
            out[name] = {"cpu_us": (ran - r0) / calls / 1e3, "wait_us": (waited - w0) / calls / 1e3}
    return out


def threads_line(threads: dict) -> str:
    """`api 140 + 7 µs, ...`: CPU + run-queue wait per call, busiest first."""
    busiest = sorted(threads.items(), key=lambda kv: -kv[1]["cpu_us"])
    return ", ".join(f"{name} {t['cpu_us']:.0f} + {t['wait_us']:.0f} µs" for name, t in busiest)


def summarize(ns: list[int]) -> dict:
    ms = [x / 1e6 for x in ns]
    return {
        "n": len(ms),
        "p50_ms": dpkit.pct(ms, 0.50),
        "p99_ms": dpkit.pct(ms, 0.99),
        "mean_ms": statistics.fmean(ms),
        "min_ms": min(ms),
        "max_ms": max(ms),
    }


def measure_start(server: Server, runs: int, access_key: str, timeout: float) -> dict:
    times = []
    for i in range(runs):
        try:
            t0 = server.spawn()
            t1 = server.wait_ready(access_key, timeout)
            times.append((t1 - t0) * 1000)
        finally:
            server.stop()
        print(f"  [{server.name}] start {i + 1}/{runs}: {times[-1]:.1f} ms", flush=True)
    return {
        "runs": runs,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "samples_ms": times,
    }


def setup_world(c: Client, name: str, n_vpcs: int) -> tuple[str, list[tuple[str, str, str]]]:
    """Provider VPC + NLB + endpoint service, and n_vpcs consumer VPCs with a
    subnet in each of ZONES. Returns (service name, [(vpc, subnet_a, subnet_b)])."""

    def vpc_with_subnets(k: int) -> tuple[str, str, str]:
        root, _ = c.call("ec2", "CreateVpc", {"CidrBlock": f"10.{k}.0.0/16"})
        vpc = find_text(root, "vpcId", "CreateVpc")
        subnets = []
        for z, zone in enumerate(ZONES):
            root, _ = c.call(
                "ec2",
                "CreateSubnet",
                {"VpcId": vpc, "CidrBlock": f"10.{k}.{z + 1}.0/24", "AvailabilityZone": zone},
            )
            subnets.append(find_text(root, "subnetId", "CreateSubnet"))
        return vpc, subnets[0], subnets[1]

    _, pa, pb = vpc_with_subnets(200)
    root, _ = c.call(
        "elasticloadbalancing",
        "CreateLoadBalancer",
        {
            "Name": "bench-nlb",
            "Type": "network",
            "Scheme": "internal",
            "Subnets.member.1": pa,
            "Subnets.member.2": pb,
        },
    )
    lb_arn = find_text(root, "LoadBalancerArn", "CreateLoadBalancer")
    wait_for(
        c,
        "elasticloadbalancing",
        "DescribeLoadBalancers",
        {"LoadBalancerArns.member.1": lb_arn},
        "Code",
        {"active"},
        name,
        accept_stuck={"provisioning"},  # moto keeps NLBs 'provisioning'; it does not gate on it
    )
    root, _ = c.call(
        "ec2",
        "CreateVpcEndpointServiceConfiguration",
        {"NetworkLoadBalancerArn.1": lb_arn, "AcceptanceRequired": "false"},
    )
    service_id = find_text(root, "serviceId", "CreateVpcEndpointServiceConfiguration")
    service_name = find_text(root, "serviceName", "CreateVpcEndpointServiceConfiguration")
    wait_for(
        c,
        "ec2",
        "DescribeVpcEndpointServiceConfigurations",
        {"ServiceId.1": service_id},
        "serviceState",
        {"Available", "available"},
        name,
    )
    consumers = [vpc_with_subnets(k) for k in range(n_vpcs)]
    return service_name, consumers


def wait_for(c: Client, service, action, params, tag, wanted, name, accept_stuck=frozenset(), timeout=30.0):
    deadline = time.perf_counter() + timeout
    first_state, since = None, time.perf_counter()
    while True:
        root, _ = c.call(service, action, params)
        state = find_text(root, tag, action)
        if state in wanted:
            return
        if first_state is None:
            first_state = state
        if state in accept_stuck and time.perf_counter() - since > 2.0:
            print(f"  [{name}] {action}: state stays '{state}'; going on", flush=True)
            return
        if time.perf_counter() > deadline:
            raise BenchError(f"{name}: {action} still '{state}' after {timeout}s")
        time.sleep(0.01)  # setup only, not timed


def measure_latency(server: Server, n_endpoints: int, describe_calls: int, access_key: str, timeout: float, kind: str) -> dict:
    n_vpcs = math.ceil(n_endpoints / ENDPOINTS_PER_VPC)
    server.spawn()
    c = None
    try:
        server.wait_ready(access_key, timeout)
        c = Client(server.port, access_key, kind)
        service_name, consumers = setup_world(c, server.name, n_vpcs)

        bodies = []
        for i in range(n_endpoints):
            vpc, sa, sb = consumers[i // ENDPOINTS_PER_VPC]
            bodies.append(encode(
                "ec2",
                "CreateVpcEndpoint",
                {
                    "VpcEndpointType": "Interface",
                    "VpcId": vpc,
                    "ServiceName": service_name,
                    "SubnetId.1": sa,
                    "SubnetId.2": sb,
                },
            ))
        create_ns = []
        ids = []
        before = dpkit.thread_times(server.proc.pid)
        answers = c.timed("ec2", bodies)
        threads = per_call(before, dpkit.thread_times(server.proc.pid), len(bodies))
        for i, (status, data, ns) in enumerate(answers):
            if status != 200:
                raise BenchError(
                    f"{server.name}: CreateVpcEndpoint #{i + 1} -> HTTP {status}: {data[:800].decode('utf-8', 'replace')}"
                )
            create_ns.append(ns)
            ids.append(find_text(parse_xml(data), "vpcEndpointId", "CreateVpcEndpoint"))
        if len(set(ids)) != n_endpoints:
            raise BenchError(f"{server.name}: CreateVpcEndpoint returned duplicate ids")
        print(f"  [{server.name}] created {n_endpoints} endpoints in {n_vpcs} VPCs", flush=True)

        body = encode("ec2", "DescribeVpcEndpoints", {"MaxResults": 1000})
        # Check once that one page holds every endpoint, then warm up.
        status, data, _ = c.raw("ec2", body)
        if status != 200:
            raise BenchError(f"{server.name}: DescribeVpcEndpoints -> HTTP {status}: {data[:800]!r}")
        root = parse_xml(data)
        seen = {e.text for e in root.iter("vpcEndpointId")}
        if not set(ids) <= seen:
            raise BenchError(f"{server.name}: DescribeVpcEndpoints shows {len(seen)} endpoints, expected {n_endpoints}")
        if root.find(".//nextToken") is not None and (root.find(".//nextToken").text or "").strip():
            raise BenchError(f"{server.name}: DescribeVpcEndpoints paginated despite MaxResults=1000")
        page_bytes = len(data)
        describe_ns = []
        # Three warm-up calls first, not counted.
        for status, data, ns in c.timed("ec2", [body] * (3 + describe_calls))[3:]:
            if status != 200:
                raise BenchError(f"{server.name}: DescribeVpcEndpoints -> HTTP {status}: {data[:800]!r}")
            describe_ns.append(ns)
        print(f"  [{server.name}] {describe_calls} DescribeVpcEndpoints calls done", flush=True)
        return {
            "endpoints": n_endpoints,
            "vpcs": n_vpcs,
            "create": summarize(create_ns) | {"threads": threads},
            "describe": summarize(describe_ns) | {"page_bytes": page_bytes},
            "create_samples_ns": create_ns,
            "describe_samples_ns": describe_ns,
        }
    finally:
        if c is not None:
            c.close()
        server.stop()


TRIVIAL_SERVER = r"""
import socket, sys, threading
BODY = b'<DescribeVpcsResponse><vpcSet/></DescribeVpcsResponse>'
RESP = (b'HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n' % len(BODY)) + BODY
def serve(conn):
    buf = b''
    while True:
        while b'\r\n\r\n' not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
        head, buf = buf.split(b'\r\n\r\n', 1)
        length = 0
        for line in head.split(b'\r\n')[1:]:
            k, _, v = line.partition(b':')
            if k.strip().lower() == b'content-length':
                length = int(v)
        while len(buf) < length:
            buf += conn.recv(65536)
        buf = buf[length:]
        conn.sendall(RESP)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(16)
while True:
    c, _ = s.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def measure_floor(logdir: Path, access_key: str, calls: int, kind: str) -> dict:
    """Round trip of the same client against a server that does no work
    (`privatelink-replay serve` with the compiled client, else a Python
    one): what the client, loopback and the machine's wake-ups add to every
    sample, whatever the server."""
    if kind == "replay":
        argv, reference = (lambda port: [replay_bin(), "serve", str(port)]), "compiled"
    else:
        argv, reference = (lambda port: [sys.executable, "-c", TRIVIAL_SERVER, str(port)]), "Python"
    server = Server("trivial", argv, logdir)
    server.spawn()
    c = None
    try:
        server.wait_ready(access_key, 10)
        c = Client(server.port, access_key, kind)
        body = encode(
            "ec2",
            "CreateVpcEndpoint",
            {
                "VpcEndpointType": "Interface",
                "VpcId": "vpc-0123456789abcdef0",
                "ServiceName": "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
                "SubnetId.1": "subnet-0123456789abcdef0",
                "SubnetId.2": "subnet-0123456789abcdef1",
            },
        )
        samples = []
        cpu0 = time.process_time_ns() + sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]) * 1e9
        # The whole process's CPU: it serves each connection on a thread that
        # ends with it.
        server0 = dpkit.cpu_seconds(server.proc.pid)
        # 50 warm-up calls first, not counted.
        answers = c.timed("ec2", [body] * (50 + calls))
        server_cpu_us = (dpkit.cpu_seconds(server.proc.pid) - server0) / (50 + calls) * 1e6
        for status, _, ns in answers[50:]:
            if status != 200:
                raise BenchError(f"trivial server -> HTTP {status}")
            samples.append(ns)
        cpu1 = time.process_time_ns() + sum(resource.getrusage(resource.RUSAGE_CHILDREN)[:2]) * 1e9
        cpu_us = (cpu1 - cpu0) / (calls + 50) / 1e3
        return summarize(samples) | {"client_cpu_us": cpu_us, "client": kind, "reference": reference, "server_cpu_us": server_cpu_us}
    finally:
        if c is not None:
            c.close()
        server.stop()


# --------------------------------------------------------------------------- report


def emulator_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        text = (out.stdout or out.stderr).strip().splitlines()
        if out.returncode == 0 and text:
            return text[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown (--version failed)"


def moto_version() -> str:
    try:
        from importlib.metadata import version

        return f"moto {version('moto')}"
    except Exception:
        return "moto (version unknown)"


def fmt_ms(v) -> str:
    if v is None:
        return "not run"
    return f"{v:.3f} ms" if v < 10 else (f"{v:.1f} ms" if v < 1000 else f"{v / 1000:.2f} s")


def floor_table(results: dict) -> list[str]:
    """CreateVpcEndpoint against the no-work floor: the ratio of the medians
    decides, and each run's own ratio shows how far one run strays."""
    emu, floor, runs = results.get("emulator"), results.get("floor"), results.get("runs", [])
    if not emu or not floor:
        return []
    out = [
        "| CreateVpcEndpoint | Emulator (spread) | No-work floor (spread) | Ratio of medians | Each run | Target | Met? |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    verdicts = []
    for q in ("p50_ms", "p99_ms"):
        e_runs = [r["emulator"]["latency"]["create"][q] for r in runs if "emulator" in r and "floor" in r]
        f_runs = [r["floor"][q] for r in runs if "emulator" in r and "floor" in r]
        e, f = emu["latency"]["create"][q], floor[q]
        ratio = e / f if f else None
        ok = ratio is not None and ratio <= FLOOR_TARGET
        verdicts.append(ok)
        each = ", ".join(f"{a / b:.2f}x" for a, b in zip(e_runs, f_runs) if b)
        es, fs = dpkit.spread(e_runs), dpkit.spread(f_runs)
        out.append(
            f"| {q[:3]} | {fmt_ms(e)} ({(es or 0) * 100:.0f}%) | {fmt_ms(f)} ({(fs or 0) * 100:.0f}%) | "
            f"{'n/a' if ratio is None else f'{ratio:.2f}x'} | {each} | ≤ {FLOOR_TARGET}x | {'yes' if ok else '**no**'} |"
        )
    out += [
        "",
        f"Target: CreateVpcEndpoint p50 and p99 within {FLOOR_TARGET}x of the floor (ratio of the medians): "
        f"**{'met' if all(verdicts) else 'not met'}**. Spread = (max - min) / median over the runs.",
        "",
    ]
    return out


def render(results: dict, meta: dict) -> str:
    emu, moto = results.get("emulator"), results.get("moto")

    def get(side, *path):
        cur = side
        for p in path:
            if cur is None:
                return None
            cur = cur.get(p)
        return cur

    rows = [
        ("Start time (spawn → first answered DescribeVpcs), median", ("start", "median_ms"), START_TARGET),
        ("CreateVpcEndpoint p50", ("latency", "create", "p50_ms"), LATENCY_TARGET),
        ("CreateVpcEndpoint p99", ("latency", "create", "p99_ms"), LATENCY_TARGET),
        ("DescribeVpcEndpoints (all, one page) p50", ("latency", "describe", "p50_ms"), LATENCY_TARGET),
        ("DescribeVpcEndpoints (all, one page) p99", ("latency", "describe", "p99_ms"), LATENCY_TARGET),
    ]
    n_ep = get(moto, "latency", "endpoints") or get(emu, "latency", "endpoints") or meta["endpoints"]
    n_vpc = math.ceil(n_ep / ENDPOINTS_PER_VPC)
    lines = [
        MARK_START,
        "## API benchmark: emulator vs moto_server",
        "",
        f"Written by `bench/api_bench.py` on {meta['date']}"
        + (" (**--quick smoke run: small sizes, not representative**)" if meta["quick"] else "")
        + (f" (**partial run: only {meta['only']}**)" if meta["only"] else "")
        + f". Every figure is the median of {meta.get('runs', 1)} run(s) of the whole suite, each run measuring the floor "
        "and the servers back to back. Do not edit this section by hand; re-run the script.",
        "",
        "| Metric | Emulator | moto | Ratio (moto / emulator) | Target | Met? |",
        "|---|---:|---:|---:|---:|---|",
    ]
    verdicts = {}
    for label, path, target in rows:
        e, m = get(emu, *path), get(moto, *path)
        if e is not None and m is not None and e > 0:
            ratio = m / e
            ok = ratio >= target
            verdicts[label] = ok
            ratio_s, ok_s = f"{ratio:.1f}x", ("yes" if ok else "**no**")
        else:
            ratio_s, ok_s = "n/a", "not measured"
        lines.append(f"| {label} | {fmt_ms(e)} | {fmt_ms(m)} | {ratio_s} | ≥ {target:.0f}x | {ok_s} |")
    lines.append("")

    lat_keys = [r[0] for r in rows if r[2] == LATENCY_TARGET]
    if verdicts:
        lat = [verdicts.get(k) for k in lat_keys]
        start = verdicts.get(rows[0][0])
        lat_s = "met" if all(v is True for v in lat) else ("not met" if any(v is False for v in lat) else "not measured")
        start_s = {True: "met", False: "not met", None: "not measured"}[start]
        lines.append(
            f"Targets (as measured in this run): latency ≥ {LATENCY_TARGET:.0f}x lower than moto on every row above: "
            f"**{lat_s}**; start ≥ {START_TARGET:.0f}x faster: **{start_s}**."
        )
    else:
        lines.append("Targets: not measured (both servers are needed for a ratio).")
    lines.append("")

    lines += floor_table(results)

    def detail(side, name):
        if side is None:
            return f"- {name}: not run"
        s, l = side.get("start"), side.get("latency")
        parts = []
        if s:
            parts.append(f"start min/median/max {s['min_ms']:.1f}/{s['median_ms']:.1f}/{s['max_ms']:.1f} ms over {s['runs']} spawns")
        if l:
            parts.append(
                f"create mean {l['create']['mean_ms']:.3f} ms, max {l['create']['max_ms']:.3f} ms (n={l['create']['n']}); "
                f"describe mean {l['describe']['mean_ms']:.3f} ms, max {l['describe']['max_ms']:.3f} ms "
                f"(n={l['describe']['n']}, page {l['describe']['page_bytes'] / 1024:.0f} KiB)"
            )
        threads = (l or {}).get("create", {}).get("threads")
        if threads:
            parts.append(
                "CreateVpcEndpoint per call, by server thread, CPU + time waiting for a CPU: " + threads_line(threads)
            )
        return f"- {name}: " + "; ".join(parts)

    lines += [
        "Details:",
        "",
        detail(emu, "emulator"),
        detail(moto, "moto"),
    ]
    floor = results.get("floor")
    if floor:
        reference = floor.get("reference", "Python")
        line = (
            f"- measurement floor (same client against a {reference} server that does no work and answers every "
            f"CreateVpcEndpoint-sized request with the same canned 200): p50 {floor['p50_ms']:.3f} ms, "
            f"p99 {floor['p99_ms']:.3f} ms, client process CPU ≈ {floor['client_cpu_us']:.0f} µs/call. Every latency "
            "above includes this client + loopback + wake-up time"
        )
        if floor.get("server_cpu_us") is not None:
            line += f" (the no-work server's own CPU ≈ {floor['server_cpu_us']:.0f} µs/call)"
        m50, m99 = get(moto, "latency", "create", "p50_ms"), get(moto, "latency", "create", "p99_ms")
        if m50 and m99 and floor["p50_ms"] > 0 and floor["p99_ms"] > 0:
            line += (
                f", so on this machine no server can show more than {m50 / floor['p50_ms']:.1f}x (p50) and "
                f"{m99 / floor['p99_ms']:.1f}x (p99) against moto's CreateVpcEndpoint"
            )
        lines.append(line + ".")
    lines += [
        "",
        "Method:",
        "",
        f"- Workload: {n_ep} interface endpoints for one endpoint service (backed by one internal NLB in a provider VPC), "
        f"{ENDPOINTS_PER_VPC} per VPC over {n_vpc} consumer VPCs, each with one subnet in {ZONES[0]} and one in {ZONES[1]}; "
        f"the same calls, in the same order, against both servers. DescribeVpcEndpoints asks for all endpoints with "
        f"MaxResults=1000 (one page), {meta['describe_calls']} timed calls after 3 warm-up calls.",
        f"- Client: one keep-alive connection per server ({meta['client_desc']}), byte-identical form-encoded POSTs with a "
        "SigV4-shaped (unverified) Authorization header; a sample is send request → whole response read; XML parsing is not timed.",
        f"- Start: spawn → first HTTP 200 to `Action=DescribeVpcs`, polled with back-to-back connection attempts (no sleeps); "
        f"median of {meta['starts']} fresh processes. moto is started as its resolved `moto_server` script (no pyenv shim).",
        "- Percentiles interpolate linearly between closest ranks. Only 127.0.0.1 is used.",
        "",
        "Machine and versions:",
        "",
        f"- CPU: {meta['cpu']} × {meta['nproc']} (nproc); kernel {meta['kernel']}",
        f"- Emulator: {meta['emulator_version']} (`{meta['emulator_bin']}`), repo {meta['git']}",
        f"- moto: {meta['moto_version']} (`{meta['moto_bin']}`), Python {meta['python']}",
        f"- Command: `{meta['command']}`",
        MARK_END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str):
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = old.find(MARK_START), old.find(MARK_END)
    if start != -1 and end != -1 and end > start:
        new = old[:start] + section.rstrip("\n") + old[end + len(MARK_END):]
    else:
        new = old.rstrip("\n") + "\n\n" + section
    if not new.endswith("\n"):
        new += "\n"
    path.write_text(new)


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI smoke run: 100 endpoints, 3 starts, 50 describe calls")
    ap.add_argument("--out", default=str(REPO / "BENCHMARKS.md"), help="markdown file to update (default: %(default)s)")
    ap.add_argument(
        "--emulator-bin",
        default=os.environ.get("PRIVATELINK_EMULATOR_BIN", str(REPO / "target/release/privatelink-emulator")),
        help="emulator binary (default: $PRIVATELINK_EMULATOR_BIN or target/release/privatelink-emulator)",
    )
    ap.add_argument("--emulator-arg", action="append", default=[], help="extra argument for the emulator (repeatable)")
    ap.add_argument("--only", choices=["emulator", "moto"], help="run one server only (development; no ratios)")
    ap.add_argument("--runs", type=int, help="runs of the whole suite, floor and servers back to back in each (default 3, --quick 1)")
    ap.add_argument("--starts", type=int, help="spawns for the start-time median (default 10, --quick 3)")
    ap.add_argument("--endpoints", type=int, help="endpoints to create (default 1000, --quick 100)")
    ap.add_argument("--describe-calls", type=int, help="timed DescribeVpcEndpoints calls (default 200, --quick 50)")
    ap.add_argument("--access-key", default="AKIAIOSFODNN7EXAMPLE", help="access key id put in the Authorization header")
    ap.add_argument("--ready-timeout", type=float, default=60.0, help="seconds a server may take to answer (default 60)")
    ap.add_argument(
        "--client",
        choices=["replay", "raw", "http.client"],
        default="replay",
        help="timed HTTP client: bench/replay, a compiled keep-alive client (default; built by cargo build "
        "--release), a minimal raw-socket Python client, or http.client",
    )
    ap.add_argument("--no-floor", action="store_true", help="skip the client-overhead (trivial server) measurement")
    ap.add_argument("--json", help="raw results file (default bench/out/api-bench-<timestamp>.json)")
    args = ap.parse_args()

    if args.client == "replay" and not os.access(replay_bin(), os.X_OK):
        ap.error(f"{replay_bin()} is missing: cargo build --release -p privatelink-bench-replay (or --client raw)")
    starts = args.starts or (3 if args.quick else 10)
    n_endpoints = args.endpoints or (100 if args.quick else 1000)
    describe_calls = args.describe_calls or (50 if args.quick else 200)
    if n_endpoints > 1000:
        ap.error("--endpoints above 1000 would not fit one MaxResults=1000 page")
    if n_endpoints > ENDPOINTS_PER_VPC * 150:
        ap.error("too many endpoints for the VPC CIDR scheme")

    run_emu = args.only in (None, "emulator")
    run_moto = args.only in (None, "moto")
    emu_bin = os.path.abspath(args.emulator_bin)
    if run_emu and not (os.path.isfile(emu_bin) and os.access(emu_bin, os.X_OK)):
        print(
            f"error: emulator binary not found or not executable: {emu_bin}\n"
            "  build it with `cargo build --release -p privatelink-emulator`, or point --emulator-bin /\n"
            "  PRIVATELINK_EMULATOR_BIN at it, or run `--only moto` to benchmark moto alone.",
            file=sys.stderr,
        )
        return 2
    moto_bin = resolve_moto() if run_moto else "not run"

    logdir = Path(tempfile.mkdtemp(prefix="api-bench-"))
    servers = {}
    if run_emu:
        extra = list(args.emulator_arg)
        servers["emulator"] = Server("emulator", lambda port: [emu_bin, "--api-addr", f"{HOST}:{port}", *extra], logdir)
    if run_moto:
        servers["moto"] = Server("moto", lambda port: [moto_bin, "-H", HOST, "-p", str(port)], logdir)

    runs_n = args.runs or (1 if args.quick else 3)
    runs: list[dict] = []
    started = time.perf_counter()
    try:
        # Each run measures the floor and every server back to back, so a
        # run's ratios compare measurements taken minutes apart at most.
        for i in range(runs_n):
            run: dict = {}
            runs.append(run)
            print(f"run {i + 1}/{runs_n}", flush=True)
            if not args.no_floor:
                print("measuring client overhead against a trivial server ...", flush=True)
                run["floor"] = f = measure_floor(logdir, args.access_key, 2000, args.client)
                print(f"  floor p50 {f['p50_ms']:.3f} ms, p99 {f['p99_ms']:.3f} ms; client CPU {f['client_cpu_us']:.0f} us/call", flush=True)
            for name, server in servers.items():
                print(f"{name}: start time x{starts} ...", flush=True)
                start = measure_start(server, starts, args.access_key, args.ready_timeout)
                print(f"{name}: latency ({n_endpoints} endpoints, {describe_calls} describes) ...", flush=True)
                lat = measure_latency(server, n_endpoints, describe_calls, args.access_key, args.ready_timeout, args.client)
                run[name] = {"start": start, "latency": lat}
                print(
                    f"  {name}: start median {start['median_ms']:.1f} ms; create p50/p99 "
                    f"{lat['create']['p50_ms']:.3f}/{lat['create']['p99_ms']:.3f} ms; describe p50/p99 "
                    f"{lat['describe']['p50_ms']:.3f}/{lat['describe']['p99_ms']:.3f} ms",
                    flush=True,
                )
    except BenchError as e:
        print(f"error: {e}\n(server logs in {logdir})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for server in servers.values():
            server.stop()

    # Every figure of the report is its median over the runs.
    results = {name: dpkit.median_tree([r.get(name) for r in runs]) for name in ("floor", "emulator", "moto")}
    results = {k: v for k, v in results.items() if v is not None} | {"runs": runs}
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": runs_n,
        "quick": args.quick,
        "only": args.only,
        "endpoints": n_endpoints,
        "describe_calls": describe_calls,
        "starts": starts,
        "cpu": dpkit.cpu_model(),
        "nproc": os.cpu_count() if not hasattr(os, "sched_getaffinity") else len(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "emulator_version": emulator_version(emu_bin) if run_emu else "not run",
        "emulator_bin": os.path.relpath(emu_bin, REPO) if emu_bin.startswith(str(REPO)) else emu_bin,
        "moto_version": moto_version() if run_moto else "not run",
        "moto_bin": moto_bin,
        "python": platform.python_version(),
        "client_desc": {
            "replay": "`bench/replay`, a compiled HTTP/1.1 client that sends prepared requests and times each round trip",
            "raw": "minimal raw-socket Python HTTP/1.1 client, one `sendall` per request",
            "http.client": "`http.client.HTTPConnection`",
        }[args.client],
        "client": args.client,
        "git": dpkit.git_rev(),
        "command": " ".join(["python3", "bench/api_bench.py", *sys.argv[1:]]),
    }
    section = render(results, meta)
    out = Path(args.out)
    write_section(out, section)

    raw_path = Path(args.json) if args.json else REPO / "bench/out" / f"api-bench-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw_path.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    shutil.rmtree(logdir, ignore_errors=True)
    print(f"\nwrote {out} (section between {MARK_START} / {MARK_END}) and {raw_path}; took {time.perf_counter() - started:.0f} s")
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
