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

# This file is the command and its runner (the rounds of a run, the processes
# of a run, the report's facts); the measurements are in dataplane_measure.py,
# summaries, targets and the markdown section in dataplane_report.py.
# console_bench.py and dataplane_profile.py use the measurements as
# `dataplane_bench.latency` etc. (`import dataplane_bench as db`).

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dpkit  # noqa: E402
from dpkit import Missing  # noqa: E402
from dataplane_measure import (  # noqa: E402
    BACKEND_IP, HAPROXY_IP, HAPROXY_SPLICE, HAPROXY_SPLICE_IP, PATHS, SOCAT_IP, BenchError, Path_, conn_rate,
    haproxy_config, iperf, latency, recv_exact, socat_argv,
)
from dataplane_report import MARK_END, MARK_START, aggregate, empty_summary, render, summarize  # noqa: E402


# --------------------------------------------------------------------------- the rounds of a run


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
