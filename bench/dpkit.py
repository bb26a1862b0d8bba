#!/usr/bin/env python3
"""Shared pieces of the benchmarks and the load test, under one name: every
caller does ``import dpkit`` and uses ``dpkit.X``; the pieces live in

* dpkit_processes.py: the tools a run needs (Missing names the package),
  free ports, the echo server, child processes (Proc) and the emulator as a
  child process (Emulator, stop_all);
* dpkit_world.py: one interface endpoint in front of local backends, built
  with boto3 through the emulator's API (Service, build_endpoint), and its
  counters;
* dpkit_usage.py: /proc readings (CPU, memory, open files, TIME_WAIT, other
  processes' CPU, load average);
* dpkit_report.py: percentiles, machine facts, tool versions and the marked
  sections of BENCHMARKS.md.

This file is also the echo server's command: ``python3 bench/dpkit.py echo
HOST PORT``.

Everything listens on and connects to 127.0.0.0/8 only.
"""

from __future__ import annotations

import sys

from dpkit_processes import (
    READY, REPO, Emulator, Missing, Proc, echo_serve, emulator_binary, free_port, make_logdir, need, need_boto3,
    raise_nofile, start_echo, stop_all, wait_listening,
)
from dpkit_report import (
    cpu_model, deb_version, debian_version, emulator_version, git_rev, median, median_tree, mem_total, pct, spread,
    sysctl, tool_version, write_section,
)
from dpkit_usage import (
    OtherCpu, child_pids, cpu_seconds, fd_count, loadavg, machine_busy_seconds, own_tree_cpu_seconds, rss_kib,
    thread_times, threads, time_wait_from, tree_cpu_seconds,
)
from dpkit_world import CONSUMER, PROVIDER, REGION, EndpointInfo, Service, build_endpoint, endpoint_counters

__all__ = [
    # dpkit_processes
    "READY", "REPO", "Emulator", "Missing", "Proc", "echo_serve", "emulator_binary", "free_port", "make_logdir",
    "need", "need_boto3", "raise_nofile", "start_echo", "stop_all", "wait_listening",
    # dpkit_report
    "cpu_model", "deb_version", "debian_version", "emulator_version", "git_rev", "median", "median_tree", "mem_total",
    "pct", "spread", "sysctl", "tool_version", "write_section",
    # dpkit_usage
    "OtherCpu", "child_pids", "cpu_seconds", "fd_count", "loadavg", "machine_busy_seconds", "own_tree_cpu_seconds",
    "rss_kib", "thread_times", "threads", "time_wait_from", "tree_cpu_seconds",
    # dpkit_world
    "CONSUMER", "PROVIDER", "REGION", "EndpointInfo", "Service", "build_endpoint", "endpoint_counters",
]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "echo":
        try:
            echo_serve(sys.argv[2], int(sys.argv[3]))
        except KeyboardInterrupt:
            pass
    else:
        print("usage: dpkit.py echo HOST PORT", file=sys.stderr)
        sys.exit(2)
