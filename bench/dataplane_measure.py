#!/usr/bin/env python3
"""The data plane benchmark's measurements (bench/dataplane_bench.py runs
them; console_bench.py and dataplane_profile.py reuse them through it).

* the paths measured and their addresses on 127.0.0.0/8 (Path_: where a
  client connects for each backend, and how to read the CPU time of the
  process in the middle);
* the proxies compared with the emulator: HAProxy's configuration (defaults,
  or with splice) and socat's command line;
* the measurements of one path: iperf3 throughput, round trips on one
  kept-open connection (latency, recv_exact) and new connections per second
  (conn_rate, with a few client processes).
"""

from __future__ import annotations

import collections
import gc
import json
import multiprocessing as mp
import os
import socket
import subprocess
import time

PATHS = ("direct", "emulator", "haproxy", "haproxy-splice", "socat")
HAPROXY_SPLICE_IP = "127.0.0.4"
# What the splice column adds to the defaults section of HAProxy's
# configuration: splice both ways, always (with `option splice-auto` HAProxy
# 2.6 never spliced an iperf3 stream here: 64 recv and 64 send per MiB).
HAPROXY_SPLICE = "    option splice-request\n    option splice-response\n"
HAPROXY_IP = "127.0.0.2"
SOCAT_IP = "127.0.0.3"
BACKEND_IP = "127.0.0.1"


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- the paths


class Path_:
    """Where a client connects for each backend, and how to read the CPU time
    of the process in the middle (None for direct)."""

    def __init__(self, name, echo, iperf, cpu=None, describe=""):
        self.name = name
        self.echo = echo
        self.iperf = iperf
        self.cpu = cpu
        self.describe = describe


def haproxy_config(echo_front, echo_back, iperf_front, iperf_back, extra: str = "") -> str:
    """`extra`: more lines for the defaults section (e.g. splice options)."""
    return f"""global
    maxconn 4096

defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
{extra}
frontend echo
    bind {echo_front[0]}:{echo_front[1]}
    default_backend echo

backend echo
    server echo {echo_back[0]}:{echo_back[1]}

frontend iperf
    bind {iperf_front[0]}:{iperf_front[1]}
    default_backend iperf

backend iperf
    server iperf {iperf_back[0]}:{iperf_back[1]}
"""


def socat_argv(socat, front, back):
    return [socat, f"TCP-LISTEN:{front[1]},bind={front[0]},fork,reuseaddr,backlog=1024", f"TCP:{back[0]}:{back[1]}"]


# --------------------------------------------------------------------------- measurements


def iperf(iperf3: str, addr, seconds: int, omit: int, reverse: bool) -> dict:
    argv = [iperf3, "-c", addr[0], "-p", str(addr[1]), "-t", str(seconds), "-O", str(omit), "-J", "--connect-timeout", "5000"]
    if reverse:
        argv.append("-R")
    # `iperf3 -s` runs one test at a time and is free again only once it has
    # seen the previous test's control connection close; through a proxy that
    # close arrives a little later, so "busy" is retried after a pause.
    busy = 0
    while True:
        time.sleep(0.3)
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + omit + 30)
        except subprocess.TimeoutExpired:
            return {"error": "iperf3 client timed out"}
        try:
            res = json.loads(out.stdout)
        except ValueError:
            return {"error": f"iperf3 exited {out.returncode}: {(out.stderr or out.stdout).strip()[:300]}"}
        if res.get("error") and "busy" in res["error"] and busy < 10:
            busy += 1
            time.sleep(0.2 * busy)
            continue
        break
    if res.get("error"):
        return {"error": res["error"]}
    end = res.get("end", {})
    recv = end.get("sum_received", {})
    sent = end.get("sum_sent", {})
    return {
        "bits_per_second": recv.get("bits_per_second"),
        "bytes": recv.get("bytes"),
        "seconds": recv.get("seconds"),
        "retransmits": sent.get("retransmits"),
        "busy_retries": busy,
    }


def recv_exact(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by peer")
        buf += chunk
    return bytes(buf)


def latency(addr, count: int, size: int, warmup: int = 200) -> dict:
    """Round trips of `size` bytes on one connection; ns per round trip."""
    msg = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    samples = []
    s = socket.create_connection(addr, timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    clock = time.perf_counter_ns
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(warmup):
            s.sendall(msg)
            if recv_exact(s, size) != msg:
                raise BenchError(f"echo through {addr} returned other bytes")
        for _ in range(count):
            t0 = clock()
            s.sendall(msg)
            got = recv_exact(s, size)
            samples.append(clock() - t0)
            if got != msg:
                raise BenchError(f"echo through {addr} returned other bytes")
    finally:
        if gc_was:
            gc.enable()
        s.close()
    return {"ns": samples}


def _conn_worker(addr, start_at: float, seconds: float, q):
    """Connect, send a byte, read it back, close; until the deadline.
    Reports successes per 100 ms bucket and errors by kind."""
    buckets = [0] * (int(seconds * 10) + 1)
    errors = collections.Counter()
    while time.time() < start_at:
        time.sleep(0.001)
    t0 = time.monotonic()
    end = t0 + seconds
    mono = time.monotonic
    while True:
        now = mono()
        if now >= end:
            break
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(addr)
            s.sendall(b"x")
            if s.recv(1) == b"x":
                buckets[int((mono() - t0) * 10)] += 1
            else:
                errors["no echo"] += 1
        except socket.timeout:
            errors["timeout"] += 1
        except OSError as e:
            errors[type(e).__name__ if not e.errno else f"{type(e).__name__}({os.strerror(e.errno)})"] += 1
        finally:
            s.close()
    q.put((buckets, dict(errors)))


def conn_rate(addr, seconds: float, workers: int) -> dict:
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    start_at = time.time() + 0.3
    procs = [ctx.Process(target=_conn_worker, args=(addr, start_at, seconds, q), daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    results = [q.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    buckets = [0] * len(results[0][0])
    errors = collections.Counter()
    for b, e in results:
        buckets = [x + y for x, y in zip(buckets, b)]
        errors.update(e)
    total = sum(buckets)
    per_s = [sum(buckets[i:i + 10]) for i in range(0, int(seconds * 10), 10)]
    return {"per_second": total / seconds, "total": total, "errors": dict(errors), "timeline_per_s": per_s}
