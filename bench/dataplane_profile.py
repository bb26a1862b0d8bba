#!/usr/bin/env python3
"""Data plane cost profile: instructions and context switches the process in
the middle spends per new connection and per GiB carried, counted with
`perf stat` on that process only, so the figures hold on a busy machine
(unlike wall-clock rates).

Paths: the emulator's endpoint (one binary, or two with --baseline to
compare builds), HAProxy with its defaults and HAProxy with splice.
Workloads, each counted separately:

  conn   N connections, one at a time from W client processes: connect,
         send 1 byte, read the echo, close;
  rtt    K round trips of 32 bytes on one connection;
  up     iperf3 -n BYTES through the path, client -> server;
  down   the same with -R, server -> client.

With --record, `perf record -g` runs over each emulator workload instead and
the top of `perf report` is printed. Only 127.0.0.0/8 is used.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dpkit  # noqa: E402
import dataplane_bench as db  # noqa: E402

SYSCALLS = ("accept4", "socket", "bind", "connect", "setsockopt", "getsockopt", "getsockname", "fcntl", "pipe2",
            "splice", "recvfrom", "sendto", "read", "write", "epoll_wait", "epoll_ctl", "futex", "close",
            "shutdown", "ioctl", "sched_yield")
# Software events and syscall tracepoints: they work without a hardware PMU
# (virtual machines) and do not depend on how busy the machine is.
EVENTS = ",".join(["context-switches", "cpu-clock", "raw_syscalls:sys_enter"]
                  + [f"syscalls:sys_enter_{c}" for c in SYSCALLS])


def conn_worker(addr, n):
    for _ in range(n):
        s = socket.create_connection(addr, timeout=10)
        s.sendall(b"x")
        if s.recv(1) != b"x":
            raise RuntimeError("no echo")
        s.close()


def run_conn(addr, n, workers):
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=conn_worker, args=(addr, n // workers)) for _ in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError("connection worker failed")


def run_iperf(iperf3, addr, nbytes, reverse):
    argv = [iperf3, "-c", addr[0], "-p", str(addr[1]), "-n", str(nbytes), "-J"]
    if reverse:
        argv.append("-R")
    for attempt in range(10):
        time.sleep(0.3)
        out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if '"error"' in out.stdout and "busy" in out.stdout:
            time.sleep(0.3 * (attempt + 1))
            continue
        if out.returncode != 0:
            raise RuntimeError(f"iperf3 failed: {out.stdout[-300:]} {out.stderr[-300:]}")
        return
    raise RuntimeError("iperf3 server stayed busy")


def callgrind_wrapper(binary, logdir, name):
    """A script that starts `binary` under callgrind with instrumentation
    off; `counted(..., callgrind=...)` turns it on around one workload."""
    out = logdir / f"callgrind.{name}.%p"
    w = logdir / f"{name}-callgrind.sh"
    w.write_text(f"#!/bin/sh\nexec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file={out} {binary} \"$@\"\n")
    w.chmod(0o755)
    return str(w)


def callgrind_counted(pid, fn, logdir):
    """User-space instructions (callgrind's Ir) of `pid` while fn runs."""
    subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True, timeout=60)
    subprocess.run(["callgrind_control", "-i", "on", str(pid)], capture_output=True, timeout=60)
    fn()
    subprocess.run(["callgrind_control", "-i", "off", str(pid)], capture_output=True, timeout=60)
    before = set(logdir.glob("callgrind.*"))
    subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True, timeout=120)
    ir = 0
    for f in set(logdir.glob("callgrind.*")) - before or before:
        for line in f.read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                ir = max(ir, int(line.split()[1]))
    keep = os.environ.get("DATAPLANE_PROFILE_KEEP")
    for i, f in enumerate(logdir.glob("callgrind.*")):
        if keep:
            f.rename(Path(keep) / f"callgrind.{time.time_ns()}.{i}")
        else:
            f.unlink()
    return {"Ir": ir}


def counted(pid, fn, record=None):
    """Runs fn while perf counts (or records) the process `pid`."""
    if record:
        argv = ["perf", "record", "-e", "cpu-clock", "-g", "-o", str(record), "-p", str(pid)]
    else:
        argv = ["perf", "stat", "-x", ",", "-e", EVENTS, "-p", str(pid)]
    perf = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    fn()
    time.sleep(0.2)
    perf.send_signal(2)
    _, err = perf.communicate(timeout=60)
    if record:
        return {}
    out = {}
    for line in err.splitlines():
        parts = line.split(",")
        if len(parts) > 3 and parts[0].replace(".", "").isdigit():
            out[parts[2].replace("raw_syscalls:sys_enter", "sys_enter").replace("syscalls:sys_enter_", "")] = float(parts[0])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emulator-bin", help="emulator binary (default as bench/dataplane_bench.py)")
    ap.add_argument("--baseline", help="a second emulator binary to count the same way")
    ap.add_argument("--connections", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--round-trips", type=int, default=20000, help="32-byte round trips on one connection")
    ap.add_argument("--gib", type=float, default=2.0, help="GiB pushed each way")
    ap.add_argument("--no-haproxy", action="store_true")
    ap.add_argument("--callgrind", action="store_true",
                    help="count the emulator's user-space instructions with callgrind instead (slow: use few connections)")
    ap.add_argument("--record", help="directory for perf record -g data of the emulator's workloads")
    args = ap.parse_args()
    iperf3 = dpkit.need("iperf3", "iperf3")
    if args.record:
        # perf record writes nothing (and says nothing) into a missing directory.
        Path(args.record).mkdir(parents=True, exist_ok=True)
    dpkit.raise_nofile(8192)
    logdir = dpkit.make_logdir("dataplane-profile-")
    procs = []
    echo_back = (db.BACKEND_IP, dpkit.free_port(db.BACKEND_IP))
    iperf_back = (db.BACKEND_IP, dpkit.free_port(db.BACKEND_IP))
    procs.append(dpkit.start_echo(*echo_back, logdir))
    procs.append(dpkit.Proc("iperf3-server", [iperf3, "-s", "-B", db.BACKEND_IP, "-p", str(iperf_back[1])], logdir))
    nbytes = int(args.gib * (1 << 30))
    rows = []

    def profile(name, pid, echo, iperf, record=None):
        res = {}
        for work, fn in (
            ("conn", lambda: run_conn(echo, args.connections, args.workers)),
            ("rtt", lambda: db.latency(echo, args.round_trips, 32, warmup=0)),
            ("up", lambda: run_iperf(iperf3, iperf, nbytes, False)),
            ("down", lambda: run_iperf(iperf3, iperf, nbytes, True)),
        ):
            rec = Path(record) / f"{name}-{work}.data" if record else None
            res[work] = callgrind_counted(pid, fn, logdir) if args.callgrind else counted(pid, fn, rec)
            if rec:
                print(f"{name} {work}: perf report -i {rec} --no-children --percent-limit 1", flush=True)
        rows.append((name, res))

    try:
        bins = [("emulator", args.emulator_bin)]
        if args.baseline:
            bins.insert(0, ("baseline", args.baseline))
        for name, b in bins:
            binary = dpkit.emulator_binary(b)
            if args.callgrind:
                binary = callgrind_wrapper(binary, logdir, name)
            emu = dpkit.Emulator(binary, logdir, ["--dns-addr", "127.0.0.1:0"], timeout=120)
            try:
                lp_echo, lp_iperf = dpkit.free_port(), dpkit.free_port()
                info = dpkit.build_endpoint(emu.url, [dpkit.Service("echo", lp_echo, *echo_back),
                                                      dpkit.Service("iperf", lp_iperf, *iperf_back)])
                run_conn(info.host[lp_echo], 200, 1)  # warm up
                profile(name, emu.pid, info.host[lp_echo], info.host[lp_iperf], args.record)
            finally:
                emu.stop()
        haproxy = None if args.no_haproxy or args.callgrind else dpkit.need("haproxy", "haproxy")
        if haproxy:
            for name, extra in (("haproxy", ""), ("haproxy-splice", db.HAPROXY_SPLICE)):
                fe_echo = (db.HAPROXY_IP, dpkit.free_port(db.HAPROXY_IP))
                fe_iperf = (db.HAPROXY_IP, dpkit.free_port(db.HAPROXY_IP))
                cfg = logdir / f"{name}.cfg"
                cfg.write_text(db.haproxy_config(fe_echo, echo_back, fe_iperf, iperf_back, extra))
                hp = dpkit.Proc(name, [haproxy, "-db", "-f", str(cfg)], logdir, ready_addr=fe_echo)
                try:
                    run_conn(fe_echo, 200, 1)
                    profile(name, hp.pid, fe_echo, fe_iperf)
                finally:
                    hp.stop()
    finally:
        for p in reversed(procs):
            p.stop()
    if args.record:
        return 0
    if args.callgrind:
        gib = nbytes / (1 << 30)
        print(f"\nuser-space instructions (callgrind Ir): {args.connections} connections, {gib:g} GiB each way")
        for name, r in rows:
            print(f"  {name:10s} {r['conn']['Ir'] / args.connections:10.0f} per connection; "
                  f"{r['rtt']['Ir'] / args.round_trips:8.0f} per round trip; "
                  f"{r['up']['Ir'] / gib / 1e6:8.2f} M per GiB up; {r['down']['Ir'] / gib / 1e6:8.2f} M per GiB down")
        return 0
    gib = nbytes / (1 << 30)
    n = args.connections
    print(f"\n{n} connections ({args.workers} clients); {gib:g} GiB each way; perf stat on the process in the "
          f"middle: CPU time, context switches, syscalls")
    print(f"{'path':16s} {'cpu us/conn':>11s} {'cs/conn':>8s} {'sys/conn':>8s} {'cpu ms/GiB up':>13s} "
          f"{'cs/GiB up':>9s} {'sys/GiB up':>10s} {'cpu ms/GiB dn':>13s} {'cs/GiB dn':>9s} {'sys/GiB dn':>10s}")
    for name, r in rows:
        c, u, d = r["conn"], r["up"], r["down"]
        print(f"{name:16s} {c.get('cpu-clock', 0) * 1e3 / n:11.1f} {c.get('context-switches', 0) / n:8.2f} "
              f"{c.get('sys_enter', 0) / n:8.1f} "
              + " ".join(f"{x.get('cpu-clock', 0) / gib:13.1f} {x.get('context-switches', 0) / gib:9.0f} "
                         f"{x.get('sys_enter', 0) / gib:10.0f}" for x in (u, d)))
    k = args.round_trips
    print(f"\nper round trip ({k} of 32 bytes on one connection):")
    for name, r in rows:
        x = r["rtt"]
        print(f"  {name:16s} cpu {x.get('cpu-clock', 0) * 1e3 / k:6.1f} us, cs {x.get('context-switches', 0) / k:5.2f}, "
              f"syscalls {x.get('sys_enter', 0) / k:5.2f}: "
              + ", ".join(f"{c} {x[c] / k:.2f}" for c in SYSCALLS if x.get(c)))
    print("\nsyscalls per connection (conn workload):")
    for name, r in rows:
        c = r["conn"]
        print(f"  {name:16s} " + ", ".join(f"{k} {c[k] / n:.2f}" for k in SYSCALLS if c.get(k)))
    for work in ("up", "down"):
        print(f"syscalls per MiB ({work}):")
        for name, r in rows:
            x = r[work]
            print(f"  {name:16s} " + ", ".join(f"{k} {x[k] / gib / 1024:.2f}" for k in SYSCALLS if x.get(k)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
