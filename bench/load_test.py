#!/usr/bin/env python3
"""Load test of the data plane: many concurrent flows through ONE endpoint.

Opens --connections connections (default 1,000) at once to one ENI host
address of one interface endpoint, whose NLB forwards to an echo backend on
127.0.0.1. For --seconds (default 60) every connection sends a small request
about once a second (staggered) and checks that exactly the same bytes come
back. Then the clients close (half with FIN, half with RST by default) and the
emulator's open file descriptors (/proc/PID/fd) must return to what they were
before the clients connected, within --settle seconds.

It is a test: the exit status is 0 only if no connection or message failed
and no file descriptor leaked (1 otherwise, 2 if something needed is
missing). Results go to stdout and to a marked section of BENCHMARKS.md
(`--out` elsewhere for CI runs). Only 127.0.0.0/8 is used.

  python3 bench/load_test.py            # 1,000 connections for 60 s
  python3 bench/load_test.py --quick    # 200 connections for 5 s
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import gc
import json
import os
import random
import shutil
import socket
import struct
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dpkit  # noqa: E402
from dpkit import Missing  # noqa: E402

MARK_START = "<!-- load-test:start -->"
MARK_END = "<!-- load-test:end -->"
MSG_SIZE = 32


class Stats:
    def __init__(self):
        self.connected = 0
        self.connect_failed = collections.Counter()
        self.sent = 0
        self.ok = 0
        self.failures = collections.Counter()
        self.failed_conns = set()
        self.rtt_ns = []


def message(i: int, seq: int) -> bytes:
    m = f"c{i:05d} s{seq:06d} ".encode()
    return (m + b"." * MSG_SIZE)[:MSG_SIZE]


async def run_clients(addr, n: int, seconds: float, interval: float, close_mode: str, timeout: float, st: Stats,
                      phase: dict, log) -> None:
    conns: list = [None] * n

    async def connect(i):
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(*addr), timeout)
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conns[i] = (r, w)
            st.connected += 1
        except (OSError, asyncio.TimeoutError) as e:
            st.connect_failed[type(e).__name__ if not getattr(e, "errno", None) else os.strerror(e.errno)] += 1

    t0 = time.monotonic()
    phase["connecting"] = t0
    await asyncio.gather(*(connect(i) for i in range(n)))
    phase["connected"] = time.monotonic()
    log(f"{st.connected}/{n} connected in {phase['connected'] - t0:.2f} s"
        + (f"; failed: {dict(st.connect_failed)}" if st.connect_failed else ""))
    start = time.monotonic()
    end = start + seconds
    phase["hold_start"] = start

    async def talk(i):
        r, w = conns[i]
        seq = 0
        # Stagger the connections over one interval, then ~1 s apart (±10 %).
        next_at = start + interval * i / n
        while True:
            now = time.monotonic()
            if next_at >= end:
                return
            if next_at > now:
                await asyncio.sleep(next_at - now)
            msg = message(i, seq)
            seq += 1
            st.sent += 1
            t = time.perf_counter_ns()
            try:
                w.write(msg)
                got = await asyncio.wait_for(r.readexactly(MSG_SIZE), timeout)
            except asyncio.TimeoutError:
                st.failures["timeout"] += 1
                st.failed_conns.add(i)
                return
            except asyncio.IncompleteReadError:
                st.failures["closed by the other side"] += 1
                st.failed_conns.add(i)
                return
            except OSError as e:
                st.failures[type(e).__name__] += 1
                st.failed_conns.add(i)
                return
            if got != msg:
                st.failures["wrong echo"] += 1
                st.failed_conns.add(i)
                return
            st.ok += 1
            st.rtt_ns.append(time.perf_counter_ns() - t)
            next_at += interval * random.uniform(0.9, 1.1)

    await asyncio.gather(*(talk(i) for i in range(n) if conns[i] is not None))
    phase["hold_end"] = time.monotonic()
    # Close: even connections with FIN, odd ones with RST (or all one way).
    for i, c in enumerate(conns):
        if c is None:
            continue
        r, w = c
        rst = close_mode == "rst" or (close_mode == "mixed" and i % 2 == 1)
        if rst:
            try:
                w.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        w.close()
    for c in conns:
        if c is not None:
            try:
                await c[1].wait_closed()
            except OSError:
                pass
    phase["closed"] = time.monotonic()


class Sampler(threading.Thread):
    """Reads the emulator's fd count, RSS and CPU every 0.2 s."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.samples = []  # (monotonic, fds, rss_kib, cpu seconds)
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            try:
                self.samples.append((time.monotonic(), dpkit.fd_count(self.pid), dpkit.rss_kib(self.pid),
                                     dpkit.cpu_seconds(self.pid)))
            except OSError:
                return
            self.stop_ev.wait(0.2)


def steady_fds(pid: int, seconds: float = 1.0) -> int:
    """The lowest fd count over a short window (ignores a passing check)."""
    end = time.monotonic() + seconds
    low = dpkit.fd_count(pid)
    while time.monotonic() < end:
        low = min(low, dpkit.fd_count(pid))
        time.sleep(0.05)
    return low


def render(r: dict, args) -> str:
    L = [MARK_START, "## Load test: concurrent flows through one endpoint", ""]
    kind = "**Quick run** (`--quick`). " if args.quick else ""
    L.append(f"{kind}Written by `bench/load_test.py` on {r['date']}. Do not edit this section by hand; re-run the script.")
    L.append("")
    L.append("| Check | Result |")
    L.append("|---|---|")
    L.append(f"| Verdict | **{'PASS' if r['passed'] else 'FAIL'}** |")
    L.append(f"| Concurrent connections (one ENI address, one listener) | {r['connected']} / {r['connections']} connected in {r['connect_s']:.2f} s |")
    L.append(f"| Held for | {r['hold_s']:.1f} s, one {MSG_SIZE}-byte request per connection every ~{args.interval:g} s |")
    L.append(f"| Requests answered with the same bytes | {r['ok']} / {r['sent']} |")
    L.append(f"| Failures (connect + request) | {r['failures_total']}" + (f": {r['failures']}" if r['failures_total'] else "") + " |")
    L.append(f"| Round trip under load p50 / p99 / max | {r['rtt_p50_ms']:.2f} / {r['rtt_p99_ms']:.2f} / {r['rtt_max_ms']:.1f} ms |")
    L.append(f"| Emulator fds: before → peak → after | {r['fds_before']} → {r['fds_peak']} → {r['fds_after']} ({'back to baseline' if r['fds_after'] <= r['fds_before'] else '**leaked ' + str(r['fds_after'] - r['fds_before']) + '**'}"
             + (f" {r['fd_settle_s']:.1f} s after the clients closed" if r['fd_settle_s'] is not None else f", not within {args.settle:g} s") + ") |")
    L.append(f"| Emulator RSS: before → peak → after | {r['rss_before'] / 1024:.1f} → {r['rss_peak'] / 1024:.1f} → {r['rss_after'] / 1024:.1f} MiB |")
    L.append(f"| Emulator CPU while holding | {r['hold_cpu']:.2f} cores ({r['threads']} threads) |")
    L.append(f"| Endpoint counters after | {r['counters_after']} |")
    L.append("")
    L.append("Method:")
    L.append("")
    L.append(f"- One emulator (`{r['emu_cmd']}`), one interface endpoint for an endpoint service on an internal NLB with one TCP listener whose target group has one target registered with `AvailabilityZone=all` at 127.0.0.1 (a one-process epoll echo server in Python, `bench/dpkit.py echo`). All clients connect to the first ENI's host address ({r['addr']}); the emulator dials the echo server from the NLB node's host address ({r['node']}).")
    L.append(f"- Client: one Python asyncio process; opens all {args.connections} connections at once, then each sends a {MSG_SIZE}-byte request tagged with its connection and sequence number about every {args.interval:g} s (staggered, ±10 %) and reads exactly that many bytes back within {args.timeout:g} s; anything else (timeout, reset, early close, other bytes) is a failure.")
    L.append(f"- Close: {'even-numbered connections close with FIN, odd-numbered ones with RST (SO_LINGER 0)' if args.close == 'mixed' else 'every connection closes with ' + args.close.upper()}. fds are counted in /proc/PID/fd: the baseline is the lowest count over 1 s after the endpoint is up and before the clients connect; after closing, the count is polled every 50 ms for up to {args.settle:g} s until it is at or below the baseline.")
    L.append(f"- RLIMIT_NOFILE raised to {r['nofile']} (soft) for the client, and inherited by the emulator and the echo server.")
    L.append(f"- Machine: {dpkit.cpu_model()} × {os.cpu_count()}, kernel {os.uname().release}, {dpkit.debian_version()}, Python {sys.version.split()[0]}; emulator {r['emulator_version']}, repo {dpkit.git_rev()}; load average before {r['load_before']}; processes outside the test used {r['other_cores']:.3f} cores on average while it ran.")
    L.append(f"- Command: `python3 bench/load_test.py{' --quick' if args.quick else ''}`")
    L.append(MARK_END)
    return "\n".join(L) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200 connections for 5 s")
    ap.add_argument("--connections", type=int)
    ap.add_argument("--seconds", type=float, help="how long the connections are held (default 60)")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between requests on a connection")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds a connect or an echo may take")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds the fds may take to return to the baseline")
    ap.add_argument("--close", choices=("mixed", "fin", "rst"), default="mixed")
    ap.add_argument("--out", default=str(dpkit.REPO / "BENCHMARKS.md"), help="markdown file whose section is replaced")
    ap.add_argument("--no-report", action="store_true", help="do not write the markdown section")
    ap.add_argument("--json", help="also write the results as JSON here")
    ap.add_argument("--emulator-bin")
    ap.add_argument("--emulator-arg", action="append", default=[])
    args = ap.parse_args()
    if args.connections is None:
        args.connections = 200 if args.quick else 1000
    if args.seconds is None:
        args.seconds = 5.0 if args.quick else 60.0

    def log(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    try:
        dpkit.need_boto3()
        binary = dpkit.emulator_binary(args.emulator_bin)
    except Missing as e:
        print(f"load_test: {e}", file=sys.stderr)
        return 2
    # Client: N sockets; echo server: N; emulator: 2N; plus slack.
    wanted = 2 * args.connections + 512
    soft, hard = dpkit.raise_nofile(wanted)
    if soft != -1 and soft < wanted:
        print(f"load_test: RLIMIT_NOFILE hard limit {hard} is below the {wanted} needed "
              f"(raise it with `ulimit -Hn`, or use fewer --connections)", file=sys.stderr)
        return 2

    load_before = dpkit.loadavg()
    logdir = dpkit.make_logdir("load-test-")
    log(f"logs in {logdir}; load average {load_before}")
    emu = echo = None
    result = {}
    passed = False
    try:
        echo_port = dpkit.free_port()
        echo = dpkit.start_echo("127.0.0.1", echo_port, logdir)
        emu = dpkit.Emulator(binary, logdir, args.emulator_arg)
        lp = dpkit.free_port()
        info = dpkit.build_endpoint(emu.url, [dpkit.Service("echo", lp, "127.0.0.1", echo_port)])
        addr = info.host[lp]
        entry = info.listeners[lp]
        log(f"endpoint {info.endpoint_id}: {entry['host_address']} -> NLB node {entry['nlb_node']['host_address']} "
            f"-> {entry['targets'][0]['dial']}")
        time.sleep(0.5)
        fds_before = steady_fds(emu.pid)
        rss_before = dpkit.rss_kib(emu.pid)
        log(f"emulator pid {emu.pid}: {fds_before} fds, RSS {rss_before / 1024:.1f} MiB before the clients")

        sampler = Sampler(emu.pid)
        sampler.start()
        st = Stats()
        phase: dict = {}
        gc.freeze()
        other = dpkit.OtherCpu()
        asyncio.run(run_clients(addr, args.connections, args.seconds, args.interval, args.close, args.timeout, st,
                                phase, log))
        closed = time.monotonic()
        other_cores = other.cores()
        log(f"held {phase['hold_end'] - phase['hold_start']:.1f} s: {st.ok}/{st.sent} echoes ok; "
            f"failures {dict(st.failures) or 'none'}; clients closed")
        # Back to baseline?
        settle_s = None
        deadline = closed + args.settle
        fds_after = dpkit.fd_count(emu.pid)
        while True:
            fds_after = dpkit.fd_count(emu.pid)
            if fds_after <= fds_before:
                settle_s = time.monotonic() - closed
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        sampler.stop_ev.set()
        sampler.join()
        hold = [s for s in sampler.samples if phase["hold_start"] <= s[0] <= phase["hold_end"]]
        fds_peak = max(s[1] for s in sampler.samples)
        rss_peak = max(s[2] for s in sampler.samples)
        rss_after = dpkit.rss_kib(emu.pid)
        log(f"emulator fds {fds_before} -> peak {fds_peak} -> {fds_after}"
            + (f" (baseline again {settle_s:.2f} s after close)" if settle_s is not None else f" (NOT back to baseline after {args.settle:g} s)"))
        hold_cpu = (hold[-1][3] - hold[0][3]) / (hold[-1][0] - hold[0][0]) if len(hold) > 1 else float("nan")
        counters = dpkit.endpoint_counters(emu.url, info.endpoint_id)
        alive = emu.alive() and echo.alive()
        rtt = [x / 1e6 for x in st.rtt_ns]
        failures = dict(st.failures)
        for k, v in st.connect_failed.items():
            failures[f"connect: {k}"] = v
        failures_total = sum(failures.values())
        leaked = settle_s is None
        passed = failures_total == 0 and not leaked and alive and st.connected == args.connections
        result = {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "passed": passed,
            "connections": args.connections,
            "connected": st.connected,
            "connect_s": phase["connected"] - phase["connecting"],
            "hold_s": phase["hold_end"] - phase["hold_start"],
            "sent": st.sent,
            "ok": st.ok,
            "failures": failures,
            "failures_total": failures_total,
            "failed_connections": len(st.failed_conns),
            "rtt_p50_ms": dpkit.pct(rtt, 0.5) if rtt else float("nan"),
            "rtt_p99_ms": dpkit.pct(rtt, 0.99) if rtt else float("nan"),
            "rtt_max_ms": max(rtt) if rtt else float("nan"),
            "fds_before": fds_before,
            "fds_peak": fds_peak,
            "fds_hold_median": dpkit.median([s[1] for s in hold]) if hold else None,
            "fds_after": fds_after,
            "fd_settle_s": settle_s,
            "rss_before": rss_before,
            "rss_peak": rss_peak,
            "rss_after": rss_after,
            "hold_cpu": hold_cpu,
            "threads": dpkit.threads(emu.pid),
            "counters_after": counters,
            "alive": alive,
            "addr": entry["host_address"],
            "emu_cmd": " ".join(["privatelink-emulator"] + emu.argv[1:]),
            "node": entry["nlb_node"]["host_address"],
            "nofile": soft,
            "emulator_version": dpkit.emulator_version(binary),
            "load_before": load_before,
            "other_cores": other_cores,
        }
        if not alive:
            log(f"a process died: emulator alive={emu.alive()} echo alive={echo.alive()}")
    except (RuntimeError, OSError) as e:
        print(f"load_test: {e}", file=sys.stderr)
        print(f"logs kept in {logdir}", file=sys.stderr)
        return 1
    finally:
        if echo is not None:
            echo.stop()
        if emu is not None:
            rc = emu.stop()
            if rc not in (0, -15, None):
                print(f"load_test: emulator exited with {rc}; log in {emu.log}", file=sys.stderr)
                passed = False
    print()
    print(json.dumps({k: v for k, v in result.items()}, indent=1, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    if not args.no_report:
        section = render(result, args)
        dpkit.write_section(Path(args.out), MARK_START, MARK_END, section)
        print()
        print(section)
        print(f"written to {args.out}")
    print("PASS" if passed else "FAIL", flush=True)
    if passed:
        shutil.rmtree(logdir, ignore_errors=True)
    else:
        print(f"logs kept in {logdir}", file=sys.stderr)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
