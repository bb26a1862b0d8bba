#!/usr/bin/env python3
"""CreateVpcEndpoint cost against the size of the world, quickly.

Grows a fresh emulator (the world of bench/scale_bench.py: 50 endpoint
services, 500 consumer VPCs, `--state-dir` so every change is journaled
unless `--no-state-dir`) to each size of `--at` endpoints, waits until
they are available and the followers caught up, then creates `--creates`
more endpoints one at a time on one keep-alive connection and reports
their latency p50/p99 (and the slowest) and the emulator's CPU time per
create. Counts that do not depend on how loaded the machine is:
`--callgrind DIR` runs the emulator under valgrind's callgrind with
collection on only during the measured creates (instructions per create,
and a profile to read with callgrind_annotate); `--perf` attaches `perf
stat -e instructions:u` instead (needs hardware counters, which virtual
machines often lack); `--record FILE` runs `perf record -g` over the
creates.

    python3 bench/create_scale.py --at 100,5000 --creates 300
    python3 bench/create_scale.py --at 100,5000 --creates 200 --callgrind /tmp/cg
    python3 bench/create_scale.py --binary OLD --binary NEW --runs 3   # alternating

Several `--binary` run alternately, each size on a fresh emulator per run;
the report gives the median with min-max of the runs. Only 127.0.0.0/8 is
used. Needs boto3; valgrind or perf for the counts.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dpkit  # noqa: E402
from scale_bench import CONSUMER, REGION, VPCS, Query, World, describe_all, ready  # noqa: E402


def perf_attach(pid: int, record: Path | None, out: Path) -> subprocess.Popen:
    if record:
        argv = ["perf", "record", "-g", "-o", str(record), "-p", str(pid)]
    else:
        argv = ["perf", "stat", "-x,", "-e", "instructions:u", "-o", str(out), "-p", str(pid)]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(0.5)  # perf prints nothing when attached; give it the time to attach
    if p.poll() is not None:
        raise RuntimeError(f"perf failed: {p.stderr.read().decode()}")
    return p


def perf_detach(p: subprocess.Popen, out: Path) -> int | None:
    p.send_signal(signal.SIGINT)
    p.wait(timeout=60)
    if not out.exists():
        return None
    for line in out.read_text().splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
            return int(fields[0])
    return None


def cpu_ticks(pid: int) -> int:
    """User and system CPU time of a process so far, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def callgrind_wrapper(work: Path, binary: str, out: Path) -> str:
    """A script that runs `binary` under callgrind with collection off (it
    is switched on around the measured creates)."""
    script = work / "under-callgrind"
    script.write_text(
        "#!/bin/sh\n"
        f"exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file={out} {binary} \"$@\"\n"
    )
    script.chmod(0o755)
    return str(script)


def callgrind_total(out: Path) -> int:
    """Instructions (Ir) a callgrind output file counted."""
    for line in out.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {out}")


def one(binary: str, at: int, creates: int, perf: bool, record: Path | None, callgrind: Path | None = None,
        journal: bool = True, vpcs: int = VPCS) -> dict:
    work = Path(tempfile.mkdtemp(prefix="create-scale-"))
    cg_out = None
    if callgrind:
        callgrind.mkdir(parents=True, exist_ok=True)
        cg_out = callgrind / f"callgrind.{Path(binary).name}.{at}.{time.strftime('%H%M%S')}"
        binary = callgrind_wrapper(work, binary, cg_out)
    args = ["--default-region", REGION, "--log", "warn"]
    if journal:
        state = work / "state"
        state.mkdir()
        args += ["--state-dir", str(state)]
    echo = dpkit.start_echo("127.0.0.1", dpkit.free_port(), work)
    emu = dpkit.Emulator(binary, work, extra_args=args, timeout=120 if callgrind else 30)
    try:
        world = World(emu.url, int(echo.argv[-1]), vpcs)
        q = Query(emu.url, CONSUMER)
        t0 = time.perf_counter()
        for i in range(at):
            q("CreateVpcEndpoint", world.endpoint_params(i))
        grow_s = time.perf_counter() - t0
        deadline = time.monotonic() + 120
        while not all(s == "available" for _, s in describe_all(q)[0]):
            if time.monotonic() > deadline:
                raise RuntimeError("endpoints not available")
        ready(emu.url)
        stat_out = work / "perf-stat.csv"
        p = perf_attach(emu.pid, record, stat_out) if perf or record else None
        if cg_out:
            subprocess.run(["callgrind_control", "-i", "on", str(emu.pid)], check=True, capture_output=True)
        ticks = cpu_ticks(emu.pid)
        lat = []
        for i in range(at, at + creates):
            t = time.perf_counter()
            q("CreateVpcEndpoint", world.endpoint_params(i))
            lat.append(time.perf_counter() - t)
        cpu_ms = (cpu_ticks(emu.pid) - ticks) * 1000 / os.sysconf("SC_CLK_TCK") / creates
        instr = perf_detach(p, stat_out) if p else None
        if cg_out:
            subprocess.run(["callgrind_control", "-i", "off", str(emu.pid)], check=True, capture_output=True)
        return {
            "cpu_ms_per_create": cpu_ms,
            "p50_ms": dpkit.pct(lat, 0.5) * 1000,
            "p99_ms": dpkit.pct(lat, 0.99) * 1000,
            "max_ms": max(lat) * 1000,
            "instr_per_create": instr / creates if instr else float("nan"),
            "grow_s": grow_s,
        }
    finally:
        emu.stop()
        echo.stop()
        shutil.rmtree(work, ignore_errors=True)
        if cg_out and cg_out.exists():
            print(f"callgrind: {cg_out}: {callgrind_total(cg_out) / creates:,.0f} instructions per create",
                  file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", action="append", help="emulator binary (repeat to alternate several)")
    ap.add_argument("--at", default="100,5000", help="world sizes, in endpoints (comma-separated)")
    ap.add_argument("--creates", type=int, default=300, help="creates measured at each size")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--perf", action="store_true", help="count the emulator's instructions per create")
    ap.add_argument("--record", type=Path, help="perf record -g the creates into this file (one size, one run)")
    ap.add_argument("--callgrind", type=Path, help="run the emulator under callgrind, collecting during the creates; "
                    "output files go to this directory")
    ap.add_argument("--vpcs", type=int, default=VPCS,
                    help=f"consumer VPCs the endpoints are spread over (default {VPCS}); each subnet is a /24, "
                    "and a VPC holds at most 50 interface endpoints (AWS's quota): --vpcs 2 --at 80 --creates 16 ends with 48 in each")
    ap.add_argument("--no-state-dir", action="store_true",
                    help="run the emulator without --state-dir (nothing journaled), as bench/api_bench.py does")
    a = ap.parse_args()
    binaries = a.binary or [dpkit.emulator_binary()]
    sizes = [int(s) for s in a.at.split(",")]
    results: dict = {}
    for run in range(a.runs):
        for at in sizes:
            for b in binaries:
                r = one(b, at, a.creates, a.perf, a.record, a.callgrind, journal=not a.no_state_dir, vpcs=a.vpcs)
                results.setdefault((b, at), []).append(r)
                print(f"run {run + 1} {b} at {at}: " + ", ".join(f"{k} {v:.4g}" for k, v in r.items()),
                      file=sys.stderr, flush=True)
    print(f"{'binary':<50} {'at':>6} {'p50 ms':>22} {'p99 ms':>22} {'CPU ms/create':>30}")
    for (b, at), rs in results.items():
        cols = []
        for k in ("p50_ms", "p99_ms", "cpu_ms_per_create"):
            v = sorted(r[k] for r in rs)
            cols.append(f"{dpkit.median(v):.4g} ({v[0]:.4g}-{v[-1]:.4g})")
        print(f"{b[-50:]:<50} {at:>6} {cols[0]:>22} {cols[1]:>22} {cols[2]:>30}")
    for b in binaries:
        base = results.get((b, sizes[0]))
        for at in sizes[1:]:
            rs = results.get((b, at))
            ratio = ", ".join(
                f"{k} {dpkit.median([r[k] for r in rs]) / dpkit.median([r[k] for r in base]):.2f}x"
                for k in ("p50_ms", "p99_ms", "cpu_ms_per_create")
            )
            print(f"{b[-50:]}: {at} vs {sizes[0]}: {ratio}")


if __name__ == "__main__":
    main()
