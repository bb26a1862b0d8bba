#!/usr/bin/env python3
"""Readings from /proc while a benchmark runs (part of dpkit): open files,
memory, threads and CPU time of a process (and of its children), sockets in
TIME_WAIT, how much CPU other processes on the machine used meanwhile, and the
load average.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def thread_times(pid: int) -> dict[str, tuple[int, int]]:
    """Nanoseconds each thread of `pid` has run and waited runnable for a
    CPU (Linux schedstat), summed by thread name; {} where /proc has no
    schedstat. Two readings around a workload say which thread spent what."""
    times: dict[str, tuple[int, int]] = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return times
    for tid in tasks:
        try:
            name = Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            ran, waited = (int(x) for x in Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[:2])
        except (OSError, ValueError):
            continue
        r, w = times.get(name, (0, 0))
        times[name] = (r + ran, w + waited)
    return times


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime+stime of a process (all its threads); with children, also of
    its reaped children (socat forks one per connection)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = raw[raw.rfind(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    total = int(fields[11]) + int(fields[12])
    if children:
        total += int(fields[13]) + int(fields[14])
    return total / _TICK


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process, its reaped children, and its living children."""
    return cpu_seconds(pid, children=True) + sum(cpu_seconds(c, children=True) for c in child_pids(pid))


def time_wait_from(ip: str) -> int:
    """Sockets in TIME_WAIT whose local address is `ip` (from /proc/net/tcp)."""
    want = socket.inet_aton(ip)[::-1].hex().upper() if sys.byteorder == "little" else socket.inet_aton(ip).hex().upper()
    n = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split(None, 4)
                if parts[3] == "06" and parts[1].split(":")[0] == want:
                    n += 1
    except OSError:
        return -1
    return n


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (user, nice, system, irq,
    softirq, steal), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / _TICK


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                try:
                    kids = [int(k) for k in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
                except OSError:
                    continue
                out += kids
                todo += kids
        except OSError:
            pass
    return out


def own_tree_cpu_seconds() -> float:
    """CPU of this process and everything it started: living descendants by
    their own and their reaped children's time, reaped ones through their
    reaper's."""
    me = os.getpid()
    times = (cpu_seconds(p, children=True) for p in [me] + _descendants(me))
    return sum(t for t in times if t == t)  # a process gone meanwhile reads as NaN


class OtherCpu:
    """How much CPU processes outside this one's tree used meanwhile (other
    users of the machine disturb a benchmark that shares 2 CPUs)."""

    def __init__(self):
        self.t0, self.b0, self.m0 = time.monotonic(), machine_busy_seconds(), own_tree_cpu_seconds()

    def cores(self) -> float:
        t, b, m = time.monotonic(), machine_busy_seconds(), own_tree_cpu_seconds()
        return max(0.0, ((b - self.b0) - (m - self.m0)) / (t - self.t0))


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"
