#!/usr/bin/env python3
"""What a benchmark reports besides its measurements (part of dpkit):
percentiles and medians, the machine and the versions of the tools and the
emulator, and writing a marked section of BENCHMARKS.md.
"""

from __future__ import annotations

import math
import platform
import re
import subprocess
from pathlib import Path

from dpkit_processes import REPO


# --------------------------------------------------------------------------- versions


def tool_version(argv: list[str], pattern: str = r".+") -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        for line in (out.stdout + "\n" + out.stderr).splitlines():
            m = re.search(pattern, line)
            if m:
                return m.group(0).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def deb_version(package: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "?"


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def debian_version() -> str:
    try:
        return "Debian " + Path("/etc/debian_version").read_text().strip()
    except OSError:
        return platform.platform()


def emulator_version(binary: str) -> str:
    return tool_version([binary, "--version"])


def git_rev() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True, timeout=10)
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "no commit"


def sysctl(name: str) -> str:
    try:
        return Path("/proc/sys/" + name.replace(".", "/")).read_text().split("\n")[0].replace("\t", " ")
    except OSError:
        return "?"


# --------------------------------------------------------------------------- statistics


def pct(samples, q: float) -> float:
    """Percentile with linear interpolation between closest ranks."""
    s = sorted(samples)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median(values):
    v = [x for x in values if x == x]
    return pct(v, 0.5) if v else float("nan")


def spread(values) -> float | None:
    """(max - min) / median of a run's figures; None without a median."""
    v = [x for x in values if x is not None and x == x]
    m = median(v) if v else None
    return (max(v) - min(v)) / m if m else None


def median_tree(runs: list):
    """The runs' results, of one shape, with each number replaced by its
    median over the runs (dicts walked by key; anything else from the last
    run that has it)."""
    present = [r for r in runs if r is not None]
    if not present:
        return None
    if all(isinstance(r, dict) for r in present):
        keys = dict.fromkeys(k for r in present for k in r)
        return {k: median_tree([r.get(k) for r in present]) for k in keys}
    if all(isinstance(r, (int, float)) and not isinstance(r, bool) for r in present):
        return median(present)
    return present[-1]


# --------------------------------------------------------------------------- BENCHMARKS.md


def write_section(path: Path, start: str, end: str, section: str):
    """Replaces the text between the markers (inclusive) or appends the
    section; everything else in the file is kept."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    i, j = old.find(start), old.find(end)
    if i != -1 and j != -1 and j > i:
        new = old[:i] + section.strip("\n") + old[j + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + section.strip("\n") + "\n"
    if not new.endswith("\n"):
        new += "\n"
    path.write_text(new)
