#!/usr/bin/env python3
"""Data plane benchmark: the emulator's endpoint against a direct connection,
HAProxy (defaults, and with splice) and socat, on loopback.

Five paths to the same backends (processes on 127.0.0.1):

  direct          client -> backend
  emulator        client -> endpoint ENI host address (127.k.x.y) -> NLB node -> backend
  haproxy         client -> HAProxy (mode tcp, one frontend per backend, 127.0.0.2) -> backend
  haproxy-splice  the same with `option splice-request` and `splice-response` (127.0.0.4)
  socat           client -> socat TCP-LISTEN:...,fork,reuseaddr (127.0.0.3) -> backend

The whole suite runs --runs times (3 by default), each run with fresh
processes (backends, emulator, proxies); the report shows each figure's
median over the runs with its spread ((max - min) / median), and ratios of
the medians. Within a run, three measurements per path, in rounds (each
round visits the paths in a rotated order; a run's figure is the median of
its rounds, or of the pooled samples for latency):

  throughput   iperf3, one TCP stream, client->server and server->client (-R);
               the control and data connections both go through the path;
  latency      round trips of a small message on one kept-open connection to
               an echo backend (p50/p99 over all rounds' samples);
  conn rate    new connections per second: connect, send 1 byte, read the
               echoed byte, close; a few worker processes, fixed duration.

Results go to a marked section of BENCHMARKS.md (everything else is kept) and
raw numbers to bench/out/. Nothing is installed: a missing tool stops the run
with the Debian package to install. Only 127.0.0.0/8 is used.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import gc
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dpkit  # noqa: E402
from dpkit import Missing  # noqa: E402

MARK_START = "<!-- dataplane-bench:start -->"
MARK_END = "<!-- dataplane-bench:end -->"
PATHS = ("direct", "emulator", "haproxy", "haproxy-splice", "socat")
# Column titles of the paths in the report.
TITLES = {"direct": "direct", "emulator": "emulator", "haproxy": "HAProxy", "haproxy-splice": "HAProxy (splice)", "socat": "socat"}
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


# --------------------------------------------------------------------------- the run


def measure(paths, args, iperf3, log) -> dict:
    res = {p.name: {"tput_up": [], "tput_down": [], "lat_ns": [], "lat_rounds": [], "conn": [], "cpu": {}, "errors": []}
           for p in paths}

    def cpu_of(p, fn):
        c0 = p.cpu() if p.cpu else None
        t0 = time.monotonic()
        out = fn()
        elapsed = time.monotonic() - t0
        if p.cpu:
            out["proxy_cpu_s"] = p.cpu() - c0
            out["elapsed_s"] = elapsed
        return out

    for rnd in range(args.rounds):
        order = paths[rnd % len(paths):] + paths[:rnd % len(paths)]
        log(f"round {rnd + 1}/{args.rounds} (load average {dpkit.loadavg()})")
        for reverse, key in ((False, "tput_up"), (True, "tput_down")):
            for p in order:
                r = cpu_of(p, lambda: iperf(iperf3, p.iperf, args.seconds, args.omit, reverse))
                if "error" in r:
                    res[p.name]["errors"].append(f"iperf3 {'-R ' if reverse else ''}round {rnd + 1}: {r['error']}")
                    log(f"  {p.name:9s} throughput {'down' if reverse else 'up  '}: ERROR {r['error']}")
                else:
                    res[p.name][key].append(r)
                    log(f"  {p.name:9s} throughput {'down' if reverse else 'up  '}: {r['bits_per_second'] / 1e9:7.2f} Gbit/s")
        for p in order:
            try:
                r = cpu_of(p, lambda: latency(p.echo, args.round_trips, args.msg_size))
            except (OSError, BenchError) as e:
                res[p.name]["errors"].append(f"latency round {rnd + 1}: {e}")
                log(f"  {p.name:9s} latency: ERROR {e}")
                continue
            ns = r.pop("ns")
            res[p.name]["lat_ns"].extend(ns)
            r.update(p50_us=dpkit.pct(ns, 0.5) / 1e3, p99_us=dpkit.pct(ns, 0.99) / 1e3, n=len(ns))
            res[p.name]["lat_rounds"].append(r)
            log(f"  {p.name:9s} latency: p50 {r['p50_us']:6.1f} us  p99 {r['p99_us']:6.1f} us")
        for p in order:
            r = cpu_of(p, lambda: conn_rate(p.echo, args.conn_seconds, args.workers))
            res[p.name]["conn"].append(r)
            bad = sum(r["errors"].values())
            if bad:
                res[p.name]["errors"].append(f"conn rate round {rnd + 1}: {r['errors']}")
            tl = r["timeline_per_s"]
            log(f"  {p.name:9s} conn rate: {r['per_second']:7.0f}/s  (per second: {', '.join(str(x) for x in tl)})"
                + (f"  errors {r['errors']}" if bad else ""))
    return res


def summarize(res) -> dict:
    out = {}
    for name, r in res.items():
        s = {}
        for key in ("tput_up", "tput_down"):
            vals = [x["bits_per_second"] for x in r[key]]
            s[key] = dpkit.median(vals) if vals else None
            s[key + "_all"] = vals
            cpus = [x["proxy_cpu_s"] / x["elapsed_s"] for x in r[key] if "proxy_cpu_s" in x]
            s[key + "_cpu"] = dpkit.median(cpus) if cpus else None
        ns = r["lat_ns"]
        if ns:
            s["lat_p50_us"] = dpkit.pct(ns, 0.5) / 1e3
            s["lat_p99_us"] = dpkit.pct(ns, 0.99) / 1e3
            s["lat_mean_us"] = sum(ns) / len(ns) / 1e3
            s["lat_max_us"] = max(ns) / 1e3
            s["lat_n"] = len(ns)
            s["lat_rounds_p50"] = [x["p50_us"] for x in r["lat_rounds"]]
            cpus = [x["proxy_cpu_s"] / x["n"] * 1e6 for x in r["lat_rounds"] if "proxy_cpu_s" in x]
            s["lat_cpu_us_per_rt"] = dpkit.median(cpus) if cpus else None
        else:
            s["lat_p50_us"] = s["lat_p99_us"] = None
        rates = [x["per_second"] for x in r["conn"]]
        s["conn"] = dpkit.median(rates) if rates else None
        s["conn_all"] = rates
        s["conn_timelines"] = [x["timeline_per_s"] for x in r["conn"]]
        s["conn_errors"] = sum(sum(x["errors"].values()) for x in r["conn"])
        s["conn_total"] = sum(x["total"] for x in r["conn"])
        cpus = [x["proxy_cpu_s"] / x["total"] * 1e6 for x in r["conn"] if "proxy_cpu_s" in x and x["total"]]
        s["conn_cpu_us"] = dpkit.median(cpus) if cpus else None
        s["errors"] = r["errors"]
        out[name] = s
    return out


# --------------------------------------------------------------------------- over runs

# The figures a run yields per path, aggregated over runs.
FIGURES = ("tput_up", "tput_down", "lat_p50_us", "lat_p99_us", "conn", "tput_up_cpu", "tput_down_cpu",
           "lat_cpu_us_per_rt", "conn_cpu_us")


def empty_summary() -> dict:
    return {k: None for k in FIGURES} | {"tput_up_all": [], "tput_down_all": [], "conn_all": [], "conn_timelines": [],
                                        "conn_errors": 0, "conn_total": 0, "errors": [], "lat_rounds_p50": []}


def aggregate(runs: list[dict]) -> dict:
    """Per path: each figure's median over the runs (`key`), its values
    (`key_runs`) and spread, (max - min) / median (`key_spread`)."""
    out = {}
    for name in PATHS:
        a = {}
        for k in FIGURES:
            vals = [r[name][k] for r in runs if r.get(name, {}).get(k) is not None]
            a[k + "_runs"] = vals
            a[k] = dpkit.median(vals) if vals else None
            a[k + "_spread"] = (max(vals) - min(vals)) / a[k] if vals and a[k] else None
        a["conn_timelines"] = [t for r in runs for t in r.get(name, {}).get("conn_timelines", [])]
        a["conn_total"] = sum(r.get(name, {}).get("conn_total", 0) for r in runs)
        a["conn_errors"] = sum(r.get(name, {}).get("conn_errors", 0) for r in runs)
        a["errors"] = [f"run {i + 1}: {e}" for i, r in enumerate(runs) for e in r.get(name, {}).get("errors", [])]
        a["measured"] = any(name in r and r[name].get("tput_up") is not None for r in runs)
        out[name] = a
    return out


# --------------------------------------------------------------------------- report


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fr(x):
    return "–" if x is None else f"{x:.2f}x"


def fnum(x, fmt):
    return "–" if x is None else format(x, fmt)


def fspread(x):
    return "" if x is None else f" ({x * 100:.0f}%)"


def verdict(ok):
    return "met" if ok else "**not met**"


def targets(s) -> list[tuple[str, bool | None, str]]:
    """The project's targets, against each HAProxy configuration measured."""
    e, d = s["emulator"], s["direct"]
    refs = [(TITLES[n], s[n]) for n in ("haproxy", "haproxy-splice") if s[n]["measured"]]
    out = []
    for key, label in (("tput_up", "client→server"), ("tput_down", "server→client")):
        for title, h in refs:
            if None in (e[key], h[key]):
                out.append((f"throughput {label} ≥ 1.2x {title}'s", None, "not measured"))
                continue
            out.append((f"throughput {label} ≥ 1.2x {title}'s", e[key] >= 1.2 * h[key],
                        f"{e[key] / 1e9:.2f} vs {h[key] / 1e9:.2f} Gbit/s ({e[key] / h[key]:.3f}x)"))
        if None in (e[key], d[key]):
            out.append((f"throughput {label} ≥ 0.7x direct", None, "not measured"))
        else:
            out.append((f"throughput {label} ≥ 0.7x direct", e[key] >= 0.7 * d[key],
                        f"{e[key] / 1e9:.2f} vs {d[key] / 1e9:.2f} Gbit/s ({e[key] / d[key]:.3f}x)"))
    for q in ("p50", "p99"):
        k = f"lat_{q}_us"
        for title, h in refs:
            if None in (e[k], h[k], d[k]):
                out.append((f"added round trip {q} ≤ {title}'s", None, "not measured"))
                continue
            ea, ha = e[k] - d[k], h[k] - d[k]
            out.append((f"added round trip {q} ≤ {title}'s", ea <= ha, f"{ea:+.1f} µs vs {ha:+.1f} µs"))
    tl = [t for t in e.get("conn_timelines", []) if t]
    shape = ""
    if tl:
        first, last = dpkit.median([t[0] for t in tl]), dpkit.median([t[-1] for t in tl])
        shape = f"; emulator's first second {first:.0f}/s, last second {last:.0f}/s (medians over rounds)"
    for title, h in refs:
        if None in (e["conn"], h["conn"]):
            out.append((f"new connections/s ≥ 1.2x {title}'s", None, "not measured"))
            continue
        out.append((f"new connections/s ≥ 1.2x {title}'s", e["conn"] >= 1.2 * h["conn"],
                    f"{e['conn']:.0f}/s vs {h['conn']:.0f}/s ({e['conn'] / h['conn']:.3f}x){shape}"))
    return out


def render(s, meta, args) -> str:
    others = ("direct", "haproxy", "haproxy-splice", "socat")
    cols = ("direct", "emulator", "haproxy", "haproxy-splice", "socat")
    L = []
    L.append(MARK_START)
    L.append("## Data plane benchmark: endpoint vs direct, HAProxy, socat")
    L.append("")
    kind = "**Quick run** (`--quick`: smoke test, few seconds per measurement; numbers are noisy). " if args.quick else ""
    L.append(f"{kind}Written by `bench/dataplane_bench.py` on {meta['date']}. Do not edit this section by hand; re-run the script.")
    L.append("")
    L.append(f"Medians of {args.runs} run(s), each with fresh processes; in parentheses the spread over the runs, "
             "(max − min) / median. Ratios are of the medians.")
    L.append("")
    L.append("| Metric | " + " | ".join(TITLES[c] for c in cols) + " | "
             + " | ".join(f"emulator / {TITLES[o]}" for o in others) + " |")
    L.append("|---|" + "---:|" * (len(cols) + len(others)))

    def line(label, vals, spreads, fmt, ratios):
        cells = [fnum(v, fmt) + ("" if v is None else fspread(sp)) for v, sp in zip(vals, spreads)]
        L.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(fr(r) for r in ratios) + " |")

    def row(label, key, scale, fmt):
        vals = [None if s[c][key] is None else s[c][key] / scale for c in cols]
        spreads = [s[c][key + "_spread"] for c in cols]
        line(label, vals, spreads, fmt, [ratio(s["emulator"][key], s[o][key]) for o in others])

    row("Throughput client→server (Gbit/s)", "tput_up", 1e9, ".2f")
    row("Throughput server→client (Gbit/s)", "tput_down", 1e9, ".2f")
    row("Round trip p50 (µs)", "lat_p50_us", 1, ".1f")
    row("Round trip p99 (µs)", "lat_p99_us", 1, ".1f")
    d = s["direct"]
    for q in ("p50", "p99"):
        k = f"lat_{q}_us"
        added = {c: None if s[c][k] is None or d[k] is None else s[c][k] - d[k] for c in cols}
        ratios = [None if o == "direct" else ratio(added["emulator"], added[o]) if added[o] and added[o] > 0 else None
                  for o in others]
        cells = ["0" if c == "direct" else fnum(added[c], "+.1f") for c in cols]
        L.append(f"| Added round trip {q} vs direct (µs) | " + " | ".join(cells) + " | "
                 + " | ".join("–" if r is None else fr(r) for r in ratios) + " |")
    row("New connections per second", "conn", 1, ".0f")

    def cpu_row(label, key, fmt):
        vals = [None if c == "direct" else s[c][key] for c in cols]
        spreads = [None if c == "direct" else s[c][key + "_spread"] for c in cols]
        line(label, vals, spreads, fmt, [None if o == "direct" else ratio(s["emulator"][key], s[o][key]) for o in others])

    cpu_row("Proxy CPU during throughput up (cores)", "tput_up_cpu", ".2f")
    cpu_row("Proxy CPU during throughput down (cores)", "tput_down_cpu", ".2f")
    cpu_row("Proxy CPU per round trip (µs)", "lat_cpu_us_per_rt", ".1f")
    cpu_row("Proxy CPU per new connection (µs)", "conn_cpu_us", ".0f")
    L.append("")
    L.append("Project targets (medians over the runs; reported, not asserted):")
    L.append("")
    for label, ok, detail in targets(s):
        L.append(f"- {label}: {'not measured' if ok is None else verdict(ok)} ({detail})")
    L.append("")
    L.append("Details (one value per run):")
    L.append("")
    for name in PATHS:
        x = s[name]
        if not x["measured"] and not x["errors"]:
            continue

        def per_run(key, scale, fmt):
            return ", ".join(format(v / scale, fmt) for v in x[key + "_runs"]) or "–"

        tls = "; ".join("[" + " ".join(str(v) for v in tl) + "]" for tl in x["conn_timelines"])
        L.append(f"- {TITLES[name]}: throughput up {per_run('tput_up', 1e9, '.2f')} Gbit/s, down {per_run('tput_down', 1e9, '.2f')} Gbit/s; "
                 f"round trip p50 {per_run('lat_p50_us', 1, '.1f')} µs, p99 {per_run('lat_p99_us', 1, '.1f')} µs; "
                 f"connections/s {per_run('conn', 1, '.0f')} (per-second timelines, one per round {tls}); "
                 f"{x['conn_total']} connections, {x['conn_errors']} failed")
        for err in x["errors"]:
            L.append(f"  - error: {err}")
    L.append("")
    L.append("Method:")
    L.append("")
    L.append(f"- {args.runs} run(s) of the whole suite, each with fresh backends, emulator and proxies; {args.rounds} round(s) per run; each round measures every path in a rotated order. Throughput: iperf3 client → `iperf3 -s` on {BACKEND_IP}, one TCP stream, `-t {args.seconds} -O {args.omit}` (first {args.omit} s omitted), once without and once with `-R`; both the control and the data connection go through the path; a run's figure is the median of its rounds.")
    L.append(f"- Latency: one kept-open connection (TCP_NODELAY) to an echo backend, {args.msg_size}-byte messages, {args.round_trips} timed round trips per round after 200 untimed ones, send → whole echo read, Python client with GC off; a run's p50/p99 are over all its rounds' samples (linear interpolation). Added round trip = path − direct (of the medians).")
    L.append(f"- Connection rate: {args.workers} client processes for {args.conn_seconds:g} s each round: connect, send 1 byte, read the echoed byte, close (the client closes first); a run's figure is the median of its rounds; the timeline shows successful connections per second within a round.")
    L.append("- Backends: `iperf3 -s` and a one-process epoll echo server in Python (`bench/dpkit.py echo`), both on 127.0.0.1, shared by all paths. Proxy CPU: utime+stime of the process in the middle (socat: with its forked children) over the measurement.")
    L.append(f"- emulator: one interface endpoint (2 ENIs) for an endpoint service on an internal NLB (2 nodes, cross-zone) with one TCP listener per backend; each target group has one target registered with `AvailabilityZone=all` at 127.0.0.1 (health check interval 300 s); the client connects to the first ENI's host address ({meta['emu_addr']}), the emulator dials the backend from the NLB node's host address ({meta['emu_node']}). Emulator started as `{meta['emu_cmd']}`.")
    L.append(f"- HAProxy: `haproxy -db -f cfg`, `mode tcp`, one frontend per backend on {HAPROXY_IP}, `server` line to the backend, timeouts only (threads as HAProxy defaults: one per CPU). HAProxy (splice): the same on {HAPROXY_SPLICE_IP} with `{'`, `'.join(x.strip() for x in HAPROXY_SPLICE.splitlines())}` in the defaults section (splice both ways, as HAProxy is run for TCP on Linux for throughput; `option splice-auto` did not splice iperf3's stream).")
    L.append(f"- socat: `socat TCP-LISTEN:PORT,bind={SOCAT_IP},fork,reuseaddr,backlog=1024 TCP:{BACKEND_IP}:PORT` (backlog 1024 like the emulator's and HAProxy's listeners; socat's default is 5), default 8 KiB buffer.")
    L.append("")
    L.append("Machine and versions:")
    L.append("")
    for k in ("cpu", "os", "emulator", "haproxy", "socat", "iperf3", "python", "sysctl", "load", "command"):
        L.append(f"- {meta[k]}")
    L.append(MARK_END)
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------- main


class Tools:
    def __init__(self, iperf3, haproxy, socat, binary):
        self.iperf3, self.haproxy, self.socat, self.binary = iperf3, haproxy, socat, binary


def one_run(args, chosen, tools, log) -> dict:
    """The whole suite once, with fresh processes: the run's summary per
    path, and what the report says about the emulator of this run."""
    logdir = dpkit.make_logdir("dataplane-bench-")
    log(f"logs in {logdir}; load average {dpkit.loadavg()} on {os.cpu_count()} CPUs")
    procs = []
    emu = None
    ok = False
    try:
        echo_port, iperf_port = dpkit.free_port(BACKEND_IP), dpkit.free_port(BACKEND_IP)
        echo_back, iperf_back = (BACKEND_IP, echo_port), (BACKEND_IP, iperf_port)
        procs.append(dpkit.start_echo(*echo_back, logdir))
        procs.append(dpkit.Proc("iperf3-server", [tools.iperf3, "-s", "-B", BACKEND_IP, "-p", str(iperf_port)], logdir))
        time.sleep(0.3)
        if not procs[-1].alive():
            raise BenchError(f"iperf3 -s did not start: {procs[-1].log_tail()}")
        paths = []
        if "direct" in chosen:
            paths.append(Path_("direct", echo_back, iperf_back))

        emu = dpkit.Emulator(tools.binary, logdir, args.emulator_arg)
        lp_echo, lp_iperf = dpkit.free_port(), dpkit.free_port()
        info = dpkit.build_endpoint(emu.url, [dpkit.Service("echo", lp_echo, *echo_back),
                                              dpkit.Service("iperf", lp_iperf, *iperf_back)])
        entry = info.listeners[lp_echo]
        log(f"endpoint {info.endpoint_id}: {entry['host_address']} (VPC {entry['vpc_address']}) -> NLB node "
            f"{entry['nlb_node']['host_address']} -> {entry['targets'][0]['dial']}")
        emu_pid = emu.pid
        paths.append(Path_("emulator", info.host[lp_echo], info.host[lp_iperf], cpu=lambda: dpkit.cpu_seconds(emu_pid)))

        for name, ip, extra in (("haproxy", HAPROXY_IP, ""), ("haproxy-splice", HAPROXY_SPLICE_IP, HAPROXY_SPLICE)):
            if name not in chosen:
                continue
            fe_echo, fe_iperf = (ip, dpkit.free_port(ip)), (ip, dpkit.free_port(ip))
            cfg = logdir / f"{name}.cfg"
            cfg.write_text(haproxy_config(fe_echo, echo_back, fe_iperf, iperf_back, extra))
            hp = dpkit.Proc(name, [tools.haproxy, "-db", "-f", str(cfg)], logdir, ready_addr=fe_echo)
            procs.append(hp)
            paths.append(Path_(name, fe_echo, fe_iperf, cpu=lambda hp=hp: dpkit.cpu_seconds(hp.pid)))
        if "socat" in chosen:
            fe_echo, fe_iperf = (SOCAT_IP, dpkit.free_port(SOCAT_IP)), (SOCAT_IP, dpkit.free_port(SOCAT_IP))
            s1 = dpkit.Proc("socat-echo", socat_argv(tools.socat, fe_echo, echo_back), logdir, ready_addr=fe_echo)
            s2 = dpkit.Proc("socat-iperf", socat_argv(tools.socat, fe_iperf, iperf_back), logdir, ready_addr=fe_iperf)
            procs += [s1, s2]
            paths.append(Path_("socat", fe_echo, fe_iperf,
                               cpu=lambda: dpkit.tree_cpu_seconds(s1.pid) + dpkit.tree_cpu_seconds(s2.pid)))
        # Every path must carry an echo before anything is measured.
        for p in paths:
            with socket.create_connection(p.echo, timeout=5) as s:
                s.sendall(b"ping")
                if recv_exact(s, 4) != b"ping":
                    raise BenchError(f"{p.name}: no echo through {p.echo}")
        time.sleep(0.5)  # the probes' sockets settle

        raw = measure(paths, args, tools.iperf3, log)
        if not emu.alive():
            raise BenchError(f"the emulator died during the run:\n{emu.log_tail()}")
        s = summarize(raw)
        run = {
            "summary": s,
            "counters": dpkit.endpoint_counters(emu.url, info.endpoint_id),
            "tw_node": dpkit.time_wait_from(entry["nlb_node"]["host_address"]),
            "emu_addr": entry["host_address"],
            "emu_node": entry["nlb_node"]["host_address"],
            "emu_cmd": " ".join(["privatelink-emulator"] + emu.argv[1:]),
        }
        ok = True
        return run
    finally:
        ok = dpkit.stop_all(procs, emu, "dataplane_bench") and ok
        if ok:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            print(f"logs kept in {logdir}", file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one run of one round of a few seconds per measurement (CI smoke run)")
    ap.add_argument("--out", default=str(dpkit.REPO / "BENCHMARKS.md"), help="markdown file whose section is replaced")
    ap.add_argument("--json", help="raw results (default bench/out/dataplane-bench-<time>.json)")
    ap.add_argument("--emulator-bin", help="emulator binary (default target/release/privatelink-emulator or $PRIVATELINK_EMULATOR_BIN)")
    ap.add_argument("--emulator-arg", action="append", default=[], help="extra emulator argument (repeatable)")
    ap.add_argument("--runs", type=int, help="runs of the whole suite, each with fresh processes (default 3; --quick 1)")
    ap.add_argument("--rounds", type=int, help="rounds per run")
    ap.add_argument("--seconds", type=int, help="iperf3 -t per throughput measurement")
    ap.add_argument("--omit", type=int, help="iperf3 -O (seconds not counted)")
    ap.add_argument("--round-trips", type=int, help="timed round trips per path and round")
    ap.add_argument("--msg-size", type=int, default=32)
    ap.add_argument("--conn-seconds", type=float, help="connection-rate duration per path and round")
    ap.add_argument("--workers", type=int, default=4, help="connection-rate client processes")
    ap.add_argument("--paths", default=",".join(PATHS), help="comma-separated subset of " + ",".join(PATHS))
    args = ap.parse_args()
    defaults = dict(runs=1, rounds=1, seconds=2, omit=1, round_trips=2000, conn_seconds=2.0) if args.quick else \
        dict(runs=3, rounds=3, seconds=3, omit=1, round_trips=20000, conn_seconds=8.0)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    chosen = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not set(chosen) <= set(PATHS) or "emulator" not in chosen or args.runs < 1:
        print(f"--paths must name some of {', '.join(PATHS)}, including emulator; --runs at least 1", file=sys.stderr)
        return 2

    def log(msg):
        print(msg, flush=True)

    try:
        iperf3 = dpkit.need("iperf3", "iperf3")
        haproxy = dpkit.need("haproxy", "haproxy") if {"haproxy", "haproxy-splice"} & set(chosen) else None
        socat = dpkit.need("socat", "socat") if "socat" in chosen else None
        dpkit.need_boto3()
        binary = dpkit.emulator_binary(args.emulator_bin)
    except Missing as e:
        print(f"dataplane_bench: {e}", file=sys.stderr)
        return 2
    tools = Tools(iperf3, haproxy, socat, binary)

    dpkit.raise_nofile(8192)
    status = 0
    try:
        started = time.monotonic()
        other = dpkit.OtherCpu()
        runs = []
        for i in range(args.runs):
            log(f"run {i + 1}/{args.runs}")
            runs.append(one_run(args, chosen, tools, log))
        other_cores = other.cores()
        took = time.monotonic() - started
        log(f"other processes on the machine used {other_cores:.3f} cores on average meanwhile")
        summaries = []
        for r in runs:
            sm = r["summary"]
            for name in PATHS:
                sm.setdefault(name, empty_summary())
            summaries.append(sm)
        s = aggregate(summaries)
        last = runs[-1]

        hv = dpkit.tool_version([haproxy, "-v"], r"HAProxy version \S+") if haproxy else "not run"
        sv = dpkit.tool_version([socat, "-V"], r"socat version \S+") if socat else "not run"
        iv = dpkit.tool_version([iperf3, "--version"], r"iperf \S+")
        meta = {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": f"Machine: {socket.gethostname()}; CPU: {dpkit.cpu_model()} × {os.cpu_count()} (nproc), {dpkit.mem_total()} RAM; kernel {os.uname().release}; {dpkit.debian_version()}",
            "os": f"Everything on loopback (127.0.0.0/8), client, proxies and backends on the same {os.cpu_count()} CPUs",
            "emulator": f"Emulator: {dpkit.emulator_version(binary)} (`{os.path.relpath(binary, dpkit.REPO) if binary.startswith(str(dpkit.REPO)) else binary}`), repo {dpkit.git_rev()}; endpoint counters after the last run: {last['counters']}; sockets in TIME_WAIT from the NLB node address after the last run: {last['tw_node']}",
            "haproxy": f"HAProxy: {hv} (Debian haproxy {dpkit.deb_version('haproxy')})",
            "socat": f"socat: {sv} (Debian socat {dpkit.deb_version('socat')})",
            "iperf3": f"iperf3: {iv} (Debian iperf3 {dpkit.deb_version('iperf3')})",
            "python": f"Client and echo server: Python {sys.version.split()[0]}",
            "sysctl": f"net.ipv4.ip_local_port_range = {dpkit.sysctl('net.ipv4.ip_local_port_range')}, net.ipv4.tcp_tw_reuse = {dpkit.sysctl('net.ipv4.tcp_tw_reuse')}",
            "load": f"Measuring took {took:.0f} s; processes outside the benchmark used {other_cores:.3f} cores on average meanwhile (/proc/stat busy time minus the benchmark's process tree){' — **the machine was not idle; numbers are disturbed**' if other_cores > 0.05 else ''}; load average before/after: {load_before} / {dpkit.loadavg()}",
            "command": "Command: `python3 bench/dataplane_bench.py" + (" --quick" if args.quick else "") + "`",
            "emu_addr": last["emu_addr"],
            "emu_node": last["emu_node"],
            "emu_cmd": last["emu_cmd"],
        }
        out_json = Path(args.json) if args.json else dpkit.REPO / "bench" / "out" / f"dataplane-bench-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps({"meta": meta, "args": vars(args), "summary": s, "runs": summaries},
                                       indent=1, default=str))
        section = render(s, meta, args)
        dpkit.write_section(Path(args.out), MARK_START, MARK_END, section)
        log("")
        log(section)
        log(f"written to {args.out} and {out_json}")
        if s["emulator"]["errors"]:
            log("the emulator path had failures (see above)")
            status = 1
    except (BenchError, RuntimeError, OSError) as e:
        print(f"dataplane_bench: {e}", file=sys.stderr)
        status = 1
    return status


load_before = dpkit.loadavg()

if __name__ == "__main__":
    sys.exit(main())
