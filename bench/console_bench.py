#!/usr/bin/env python3
"""The web console's cost to the data plane: the data plane benchmark's
measurements through one endpoint, with the console closed and with it
open, while 1,000 flows a second go through the same endpoint.

"Open" means what a trainer's screen does: headless chromium on
/_emulator/console (which subscribes to /_emulator/console/events and polls
/_emulator/status every 2 s) and, besides it, a raw Server-Sent Events
reader that counts the flow events it gets. "Closed" means nobody
subscribes: the same browser waits on about:blank, no reader runs, and the
emulator does not even build the events. The background load (paced
connect, 1 byte each way, close: a flow record each) runs throughout, so
the only difference is the console.

Measured in each slot (through the endpoint, as in bench/dataplane_bench.py),
after the console is opened or shut and a moment to settle:

  cpu          CPU of the emulator and of the console's own processes
               over 1 s of the background load alone
  latency      round trips of 32 bytes on one kept-open connection (p50, p99)
  throughput   iperf3, one TCP stream, client -> server
  conn rate    new connections per second on top of the background load

Slots come in pairs, closed and open back to back (the order alternating),
24 pairs by default: the machine's own drift is slower than a pair, so the
median of the paired ratios (open over closed) measures the console, where
the ratio of the two modes' medians also carries the drift. Results go to a marked
section of BENCHMARKS.md. Only 127.0.0.0/8 is used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import socket
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataplane_bench as db  # noqa: E402
import dpkit  # noqa: E402
from dpkit import Missing  # noqa: E402

MARK_START = "<!-- console-bench:start -->"
MARK_END = "<!-- console-bench:end -->"
BACKEND_IP = "127.0.0.1"


# --------------------------------------------------------------------------- background flows


def _paced_flows(addr, rate: float, stop, counts):
    """Opens `rate` flows a second (connect, 1 byte each way, close) until
    `stop` is set; counts successes and failures."""
    interval = 1.0 / rate
    due = time.monotonic()
    ok = failed = 0
    while not stop.is_set():
        due += interval
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(addr)
            s.sendall(b"x")
            if s.recv(1) == b"x":
                ok += 1
            else:
                failed += 1
        except OSError:
            failed += 1
        finally:
            s.close()
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif wait < -1.0:
            due = time.monotonic()  # fell behind by a second: do not burst to catch up
        if (ok + failed) % 200 == 0:
            counts[0], counts[1] = ok, failed
    counts[0], counts[1] = ok, failed


class Background:
    """`rate` flows a second, over two processes (each half the rate)."""

    def __init__(self, addr, rate: float):
        ctx = mp.get_context("fork")
        self.stop_ev = ctx.Event()
        self.counts = [ctx.Array("q", 2) for _ in range(2)]
        self.procs = [ctx.Process(target=_paced_flows, args=(addr, rate / 2, self.stop_ev, c), daemon=True)
                      for c in self.counts]
        self.started = time.monotonic()
        for p in self.procs:
            p.start()

    def stop(self) -> dict:
        self.stop_ev.set()
        for p in self.procs:
            p.join(timeout=10)
        took = time.monotonic() - self.started
        ok = sum(c[0] for c in self.counts)
        failed = sum(c[1] for c in self.counts)
        return {"flows": ok, "failed": failed, "per_second": ok / took if took else 0.0}


# --------------------------------------------------------------------------- the console, open


def _read_events(url: str, hello, flows, messages):
    """Counts the flows of each `flows` event (the latest of a batch, plus
    how many more the batch had) until the stream ends or the process is
    stopped. Messages come a second apart at most: a read that waits
    longer than the timeout means the stream is stuck."""
    resp = urllib.request.urlopen(f"{url}/_emulator/console/events", timeout=30)
    name = None
    while True:
        try:
            line = resp.readline()
        except OSError:
            return
        if not line:
            return
        if line.startswith(b"event: "):
            name = line[7:].strip()
            if name == b"hello":
                hello.set()
        elif line.startswith(b"data: ") and name == b"flows":
            batch = json.loads(line[6:])
            with flows.get_lock():
                flows.value += len(batch["flows"]) + batch["skipped"]
            with messages.get_lock():
                messages.value += 1


class SseReader:
    """A raw Server-Sent Events client of the console, in a process of its
    own (a thread would share the interpreter with the measuring loop and
    add its own pauses to the latencies)."""

    def __init__(self, url: str):
        ctx = mp.get_context("fork")
        self.hello = ctx.Event()
        self._flows, self._messages = ctx.Value("q", 0), ctx.Value("q", 0)
        self.proc = ctx.Process(target=_read_events,
                               args=(url, self.hello, self._flows, self._messages), daemon=True)
        self.proc.start()
        if not self.hello.wait(10):
            self.close()
            raise RuntimeError("the console's event stream said no hello")

    @property
    def flows(self) -> int:
        return self._flows.value

    @property
    def messages(self) -> int:
        return self._messages.value

    def close(self):
        self.proc.terminate()
        self.proc.join()


def browser_available() -> str | None:
    """Why headless chromium cannot be used, or None."""
    missing = [n for n in ("chromium", "chromedriver") if shutil.which(n) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    return f"missing {', '.join(missing)}" if missing else None


class Console:
    """The console, opened and shut again and again on one browser: open is
    chromium (when available) on /_emulator/console and an SSE reader;
    shut is the same browser on about:blank and no reader, so nobody
    subscribes and the emulator builds no console events."""

    def __init__(self, url: str, use_browser: bool):
        self.url, self.driver, self.sse = url, None, None
        if use_browser:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service

            opts = webdriver.ChromeOptions()
            opts.binary_location = shutil.which("chromium")
            for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1600",
                      "--disable-gpu", "--no-first-run", "--disable-extensions"):
                opts.add_argument(a)
            self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
            self.driver.get("about:blank")

    def open(self):
        if self.driver:
            from selenium.webdriver.common.by import By

            self.driver.get(f"{self.url}/_emulator/console")
            deadline = time.monotonic() + 20
            while not self.driver.find_elements(By.CSS_SELECTOR, "#live[data-live=yes]"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the console page did not open its event stream")
                time.sleep(0.1)
        self.sse = SseReader(self.url)

    def shut(self):
        if self.sse:
            self.sse.close()
            self.sse = None
        if self.driver:
            self.driver.get("about:blank")

    def pids(self) -> list[int]:
        """The roots of the console's processes: the browser's driver (the
        browser is its child) and the SSE reader."""
        roots = [self.sse.proc.pid] if self.sse else []
        if self.driver:
            roots.append(self.driver.service.process.pid)
        return roots

    def rows_on_page(self) -> int | None:
        if not self.driver:
            return None
        from selenium.webdriver.common.by import By

        return len(self.driver.find_elements(By.CSS_SELECTOR, "#flows tr.flow"))

    def close(self):
        self.shut()
        if self.driver:
            self.driver.quit()
            self.driver = None


# --------------------------------------------------------------------------- the run


def _tree_pids(roots: list[int]) -> list[int]:
    """The processes `roots` and all their living descendants, by parent
    ids read from /proc (chromium forks from several threads)."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                raw = (d / "stat").read_text()
            except OSError:
                continue
            parent[int(d.name)] = int(raw[raw.rfind(")") + 2:].split()[1])
    out, todo = [], [r for r in roots if r in parent]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parent.items() if pp == p]
    return out


def _cpu_of(pids: list[int]) -> float:
    return sum(t for t in (dpkit.cpu_seconds(p) for p in pids) if t == t)


def cpu_window(emu_pid: int, console_roots: list[int], seconds: float) -> dict:
    """Cores the emulator and the console's own processes (chromium and its
    driver, the SSE reader) keep busy over `seconds` of the background load
    alone: CPU time counted per process, so unlike the rates it barely
    moves with what else the scheduler does. (The machine-wide counters of
    /proc/stat lag by seconds on this kind of virtual machine.)"""
    pids = _tree_pids(console_roots)
    emu0, con0, t0 = dpkit.cpu_seconds(emu_pid), _cpu_of(pids), time.monotonic()
    time.sleep(seconds)
    took = time.monotonic() - t0
    return {"emulator_cores": (dpkit.cpu_seconds(emu_pid) - emu0) / took,
            "console_cores": (_cpu_of(pids) - con0) / took}


def one_run(mode, console, emu_pid, echo, iperf_addr, iperf3, args, log) -> dict:
    """One slot: the console opened or shut, a moment to settle, then the
    CPU window and the data plane's measurements."""
    if mode == "open":
        console.open()
    time.sleep(args.settle)
    try:
        cpu = cpu_window(emu_pid, console.pids() if mode == "open" else [], args.cpu_seconds)
        lat = db.latency(echo, args.round_trips, 32)["ns"]
        tput = db.iperf(iperf3, iperf_addr, args.seconds, 1, reverse=False)
        conn = db.conn_rate(echo, args.conn_seconds, 2)
        out = {
            "lat_p50_us": dpkit.pct(lat, 0.5) / 1000,
            "lat_p99_us": dpkit.pct(lat, 0.99) / 1000,
            "tput_gbps": (tput.get("bits_per_second") or 0) / 1e9,
            "conn_per_s": conn["per_second"],
            **cpu,
            "errors": [e for e in (tput.get("error"), conn["errors"] or None) if e],
        }
        if mode == "open":
            out["sse_flow_events"] = console.sse.flows
            out["sse_messages"] = console.sse.messages
            out["page_flow_rows"] = console.rows_on_page()
        log(f"  {mode:6} p50 {out['lat_p50_us']:.0f} µs, p99 {out['lat_p99_us']:.0f} µs, "
            f"{out['tput_gbps']:.2f} Gbit/s, {out['conn_per_s']:.0f} conn/s; CPU under the load alone: emulator "
            f"{cpu['emulator_cores']:.3f} cores, console {cpu['console_cores']:.3f}"
            + (f"; SSE got {out['sse_flow_events']} flows in {out['sse_messages']} messages" if mode == "open" else ""))
        return out
    finally:
        if mode == "open":
            console.shut()


METRICS = (("lat_p50_us", "latency p50 (µs)", "lower"), ("lat_p99_us", "latency p99 (µs)", "lower"),
           ("tput_gbps", "throughput (Gbit/s)", "higher"), ("conn_per_s", "new connections/s", "higher"))
CPU_METRICS = (("emulator_cores", "emulator CPU under the load alone (cores)"),)


def summarize(runs) -> dict:
    """Per measurement and mode: median, all values, spread; per
    measurement: the ratio of each pair of back-to-back runs (run i open
    over run i closed), whose median cancels the machine's drift between
    pairs that the ratio of the two medians keeps."""
    s = {}
    for key in [k for k, _, _ in METRICS] + [k for k, _ in CPU_METRICS]:
        for mode in ("closed", "open"):
            vals = [r[key] for r in runs[mode]]
            med = dpkit.median(vals)
            s[(key, mode)] = {"median": med, "all": vals, "spread": dpkit.spread(vals)}
        pairs = [o[key] / c[key] for o, c in zip(runs["open"], runs["closed"]) if c[key]]
        s[(key, "paired")] = {"median": dpkit.median(pairs), "q1": dpkit.pct(pairs, 0.25),
                              "q3": dpkit.pct(pairs, 0.75), "all": pairs}
    return s


def render(s, runs, meta, args) -> str:
    lines = [MARK_START, "## Console cost: the data plane with the web console open (issue 17)", ""]
    lines.append(
        f"{meta['date']}. {meta['machine']}. With {args.rate:.0f} flows/s through the endpoint in both modes "
        f"(achieved: {meta['background']}), the data plane benchmark's measurements through the same endpoint, "
        f"with nobody subscribed to the console (closed) and with the console open ({meta['open_means']}). "
        f"{args.runs} pairs of slots, closed and open back to back on one browser, the order alternating; "
        "medians per mode, "
        "spread = (max - min) / median. Ratio = open / closed: "
        "for latency, above 1 is slower; for throughput and connections, below 1 is slower.")
    lines.append("")
    lines.append("| measurement | closed (median, spread) | open (median, spread) | ratio of medians | "
                 "median of paired ratios (quartiles) |")
    lines.append("|---|---|---|---|---|")
    for key, label, better in METRICS:
        c, o, p = s[(key, "closed")], s[(key, "open")], s[(key, "paired")]
        r = o["median"] / c["median"] if c["median"] else float("nan")
        cost = (p["median"] - 1) if better == "lower" else (1 - p["median"])
        fmt = "{:.2f}" if key == "tput_gbps" else "{:.0f}"
        lines.append(f"| {label} | {fmt.format(c['median'])} ({c['spread']:.0%}) | "
                     f"{fmt.format(o['median'])} ({o['spread']:.0%}) | {r:.3f} | "
                     f"**{p['median']:.3f}** ({cost:+.1%} cost; {p['q1']:.2f}-{p['q3']:.2f}) |")
    for key, label in CPU_METRICS:
        c, o, p = s[(key, "closed")], s[(key, "open")], s[(key, "paired")]
        lines.append(f"| {label} | {c['median']:.3f} ({c['spread']:.0%}) | {o['median']:.3f} ({o['spread']:.0%}) | "
                     f"{o['median'] / c['median']:.3f} | {p['median']:.3f} ({p['q1']:.2f}-{p['q3']:.2f}) |")
    lines.append("")
    def cost(key, better):
        r = s[(key, "paired")]["median"]
        return (r - 1) if better == "lower" else (1 - r)

    worst = max(cost(k, b) for k, _, b in METRICS)
    widest = max(abs(s[(k, "paired")]["median"] - 1) for k, _, _ in METRICS)
    spread = max((s[(k, m)]['spread'] or 0) for k, _, _ in METRICS for m in ("closed", "open"))
    console_cores = dpkit.median([r["console_cores"] for r in runs["open"]])
    lines.append(
        f"No measurement more than 5% worse with the console open (median of the paired ratios): "
        f"**{'yes' if worst <= 0.05 else 'no'}**; the largest cost is {worst:+.1%}, the largest departure "
        f"either way {widest:.1%}. "
        f"Each pair is a closed and an open slot back to back (the order alternates), so the paired ratio "
        f"compares runs a few seconds apart; the ratio of medians also carries the drift between pairs. "
        f"The runs' own spread reaches {spread:.0%} and the paired ratios' quartiles show how far one pair "
        f"can stray. The console's CPU, counted instead of timed, under the same load: its own processes "
        f"(browser and SSE reader) {console_cores:.3f} cores (median), the emulator "
        f"{s[('emulator_cores', 'paired')]['median']:.3f}x its CPU without it (median of the pairs).")
    lines.append("")
    lines.append(f"- {meta['load']}")
    lines.append(f"- The console open: {meta['sse']}")
    lines.append(f"- {meta['emulator']}")
    lines.append(f"- Command: `python3 bench/console_bench.py{' --quick' if args.quick else ''}`")
    lines.append(MARK_END)
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one short run per mode (CI smoke run)")
    ap.add_argument("--out", default=str(dpkit.REPO / "BENCHMARKS.md"), help="markdown file whose section is replaced")
    ap.add_argument("--emulator-bin", help="emulator binary (default target/release or $PRIVATELINK_EMULATOR_BIN)")
    ap.add_argument("--runs", type=int, help="pairs of slots, closed and open (default 24)")
    ap.add_argument("--rate", type=float, default=1000.0, help="background flows per second")
    ap.add_argument("--round-trips", type=int)
    ap.add_argument("--seconds", type=int, help="iperf3 -t per slot")
    ap.add_argument("--conn-seconds", type=float)
    ap.add_argument("--cpu-seconds", type=float, help="seconds of CPU counted under the background load alone, per slot")
    ap.add_argument("--settle", type=float, help="seconds between opening or shutting the console and measuring")
    ap.add_argument("--no-browser", action="store_true", help="the console open is the SSE reader alone")
    args = ap.parse_args()
    defaults = dict(runs=1, round_trips=2000, seconds=1, conn_seconds=1.0, cpu_seconds=1.0, settle=1.0) if args.quick \
        else dict(runs=24, round_trips=5000, seconds=2, conn_seconds=2.0, cpu_seconds=1.0, settle=3.0)
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)

    def log(msg):
        print(msg, flush=True)

    try:
        iperf3 = dpkit.need("iperf3", "iperf3")
        dpkit.need_boto3()
        binary = dpkit.emulator_binary(args.emulator_bin)
    except Missing as e:
        print(f"console_bench: {e}", file=sys.stderr)
        return 2
    why_no_browser = "--no-browser" if args.no_browser else browser_available()
    use_browser = why_no_browser is None

    dpkit.raise_nofile(8192)
    logdir = dpkit.make_logdir("console-bench-")
    load_before = dpkit.loadavg()
    log(f"logs in {logdir}; load average {load_before} on {os.cpu_count()} CPUs; "
        f"browser: {'headless chromium' if use_browser else why_no_browser}")
    procs, emu, status = [], None, 0
    try:
        echo_port, iperf_port = dpkit.free_port(BACKEND_IP), dpkit.free_port(BACKEND_IP)
        procs.append(dpkit.start_echo(BACKEND_IP, echo_port, logdir))
        procs.append(dpkit.Proc("iperf3-server", [iperf3, "-s", "-B", BACKEND_IP, "-p", str(iperf_port)], logdir,
                                ready_addr=(BACKEND_IP, iperf_port)))
        emu = dpkit.Emulator(binary, logdir)
        lp_echo, lp_iperf = dpkit.free_port(), dpkit.free_port()
        info = dpkit.build_endpoint(emu.url, [dpkit.Service("echo", lp_echo, BACKEND_IP, echo_port),
                                              dpkit.Service("iperf", lp_iperf, BACKEND_IP, iperf_port)])
        echo, iperf_addr = info.host[lp_echo], info.host[lp_iperf]
        with socket.create_connection(echo, timeout=5) as s:
            s.sendall(b"ping")
            if db.recv_exact(s, 4) != b"ping":
                raise RuntimeError(f"no echo through {echo}")
        runs = {"closed": [], "open": []}
        console = Console(emu.url, use_browser)
        bg = Background(echo, args.rate)
        started = time.monotonic()
        other = dpkit.OtherCpu()
        try:
            time.sleep(3.0)  # the load settles
            for i in range(args.runs):
                log(f"pair {i + 1} of {args.runs}")
                for mode in (("closed", "open") if i % 2 == 0 else ("open", "closed")):
                    runs[mode].append(one_run(mode, console, emu.pid, echo, iperf_addr, iperf3, args, log))
        finally:
            load = bg.stop()
            console.close()
        other_cores = other.cores()
        took = time.monotonic() - started
        if not emu.alive():
            raise RuntimeError(f"the emulator died during the run:\n{emu.log_tail()}")
        errors = [e for m in runs.values() for r in m for e in r["errors"]]
        s = summarize(runs)
        meta = {
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{dpkit.cpu_model()} × {os.cpu_count()}, {dpkit.mem_total()} RAM, kernel {os.uname().release}; "
                       "client, emulator, backends and browser on the same CPUs, on loopback",
            "background": f"{load['per_second']:.0f} flows/s over the whole run, {load['failed']} failed",
            "open_means": "headless chromium on the page and a raw SSE reader" if use_browser
                          else f"a raw SSE reader only ({why_no_browser})",
            "sse": ", ".join(f"run {i + 1}: {r['sse_flow_events']} flows in {r['sse_messages']} SSE messages read"
                             + (f", {r['page_flow_rows']} flow rows on the page" if r.get("page_flow_rows") is not None
                                else "") for i, r in enumerate(runs["open"])),
            "load": f"Measuring took {took:.0f} s; processes outside the benchmark used {other_cores:.2f} cores on "
                    f"average meanwhile{' — the machine was not idle: ratios are disturbed' if other_cores > 0.05 else ''}"
                    f"; load average before/after: {load_before} / {dpkit.loadavg()}",
            "emulator": f"Emulator: {dpkit.emulator_version(binary)}, repo {dpkit.git_rev()}",
        }
        out_json = dpkit.REPO / "bench" / "out" / f"console-bench-{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps({"meta": meta, "args": vars(args), "runs": runs}, indent=1, default=str))
        section = render(s, runs, meta, args)
        dpkit.write_section(Path(args.out), MARK_START, MARK_END, section)
        log("")
        log(section)
        log(f"written to {args.out} and {out_json}")
        if errors:
            log(f"failures during the runs: {errors}")
            status = 1
        if any(r["sse_flow_events"] == 0 for r in runs["open"]):
            log("the SSE reader saw no flow: the console was not following the traffic")
            status = 1
    except (RuntimeError, OSError) as e:
        print(f"console_bench: {e}", file=sys.stderr)
        print(f"logs kept in {logdir}", file=sys.stderr)
        status = 1
    finally:
        if not dpkit.stop_all(procs, emu, "console_bench"):
            status = status or 1
    if status == 0:
        shutil.rmtree(logdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
