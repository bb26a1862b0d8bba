#!/usr/bin/env python3
"""The data plane benchmark's results (bench/dataplane_bench.py measures
them): a run's figures per path from its raw measurements (summarize), the
medians and spreads over runs (aggregate), the project's targets and the
markdown section of BENCHMARKS.md (render).
"""

from __future__ import annotations

import dpkit
from dataplane_measure import BACKEND_IP, HAPROXY_IP, HAPROXY_SPLICE, HAPROXY_SPLICE_IP, PATHS, SOCAT_IP

MARK_START = "<!-- dataplane-bench:start -->"
MARK_END = "<!-- dataplane-bench:end -->"
# Column titles of the paths in the report.
TITLES = {"direct": "direct", "emulator": "emulator", "haproxy": "HAProxy", "haproxy-splice": "HAProxy (splice)", "socat": "socat"}


# --------------------------------------------------------------------------- summary of a run


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
            a[k + "_spread"] = dpkit.spread(vals)
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
