#!/usr/bin/env python3
"""Scale benchmark: one emulator grown to 10,000 interface endpoints, and
what each measure costs at every step.

The world: one provider account with 50 endpoint services, each on its own
network load balancer with a TCP listener forwarding to one local echo
backend; one consumer account with 500 VPCs (/20s with two /24 subnets in two zones and a
security group each). Endpoints are created through the EC2 API, each with
two ENIs, spread so that no VPC holds two endpoints of the same service, in
steps: 100, 1,000, 5,000 and 10,000 endpoints. At each step:

- CreateVpcEndpoint latency p50/p99 and creates per second, for the
  endpoints created in that step (one keep-alive connection, requests
  written by hand so the client costs little);
- RSS and open descriptors of the emulator, and per endpoint above the
  baseline (the world before the first endpoint);
- DescribeVpcEndpoints paging through every endpoint (MaxResults 1,000);
- DNS queries per second: dnsperf over every endpoint name at the public
  view, and NSD serving the same names in the same run (one server per
  core), with queries lost;
- connect-and-first-byte latency p50/p99 through random endpoints (connect
  to the ENI's address, send a byte, read its echo back);
- restart to ready with the state directory holding that world: from
  spawning the process to `/_emulator/ready` (API, DNS and data plane
  caught up).

Then everything is deleted: the time it takes, and RSS and descriptors
against the baseline. The whole growth runs `--runs` times (default 3) on a
fresh emulator each time; the report gives medians with min-max, and plots
each measure against the number of endpoints (bench/out/scale-*.png, with
matplotlib when it is installed).

    python3 bench/scale_bench.py                 # 3 runs up to 10,000; writes BENCHMARKS.md
    python3 bench/scale_bench.py --quick         # one run, steps 50 and 200 (CI smoke)
    python3 bench/scale_bench.py --steps 100,1000 --runs 1

Only 127.0.0.0/8 is used (the emulator's loopback mode). Needs dnsperf and
nsd (Debian packages) and boto3.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dpkit  # noqa: E402
import dns_bench  # noqa: E402

REGION = dpkit.REGION
PROVIDER, CONSUMER = dpkit.PROVIDER, dpkit.CONSUMER
START, END = "<!-- scale-bench:start -->", "<!-- scale-bench:end -->"
LISTENER_PORT = 8080
SERVICES = 50
# 500 consumer VPCs of /20, 20 endpoints each at 10,000 (AWS's quota is
# 50 a VPC). In loopback mode VPCs smaller than /16 share host blocks,
# sixteen /20s to a block: these take 32 of the 254.
VPCS = 500


def consumer_cidr(v: int) -> str:
    """VPC v's CIDR: 10.(v / 16).(16 * (v % 16)).0/20; its subnets are the
    first /24 (zone a) and the ninth (zone c)."""
    return f"10.{v // 16}.{16 * (v % 16)}.0/20"


class Query:
    """EC2 Query requests on one keep-alive connection, with the SigV4-shaped
    header the emulator reads the account from (signatures are not checked
    without --strict-auth)."""

    def __init__(self, url: str, account: str):
        host, port = url.removeprefix("http://").split(":")
        self.addr = (host, int(port))
        self.account = account
        self.conn = http.client.HTTPConnection(*self.addr, timeout=120)

    def __call__(self, action: str, params: dict) -> str:
        body = urlencode({"Action": action, "Version": "2016-11-15", **params})
        date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Amz-Date": date,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={self.account}/{date[:8]}/{REGION}/ec2/aws4_request, "
                f"SignedHeaders=content-type;host;x-amz-date, Signature={'0' * 64}"
            ),
        }
        self.conn.request("POST", "/", body, headers)
        r = self.conn.getresponse()
        text = r.read().decode()
        if r.status != 200:
            raise RuntimeError(f"{action} answered {r.status}: {text[:500]}")
        return text


def boto(url: str, service: str, account: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        service, endpoint_url=url, region_name=REGION, aws_access_key_id=account,
        aws_secret_access_key="bench", config=Config(retries={"max_attempts": 1}),
    )


def ready(url: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_emulator/ready?timeout=10", timeout=15) as r:
                if json.load(r).get("ready"):
                    return
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
        if time.monotonic() > deadline:
            raise RuntimeError("the emulator's followers did not catch up")


def status(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_emulator/status", timeout=120) as r:
        return json.load(r)


class World:
    """The provider's services and the consumer's VPCs, made once per run."""

    def __init__(self, url: str, backend_port: int, vpcs: int = VPCS):
        ec2p, elb = boto(url, "ec2", PROVIDER), boto(url, "elbv2", PROVIDER)
        vpc = ec2p.create_vpc(CidrBlock="10.255.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2p.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
            for cidr, az in (("10.255.0.0/20", f"{REGION}a"), ("10.255.128.0/20", f"{REGION}c"))
        ]
        self.services = []
        for s in range(SERVICES):
            lb = elb.create_load_balancer(Name=f"scale-{s}", Subnets=subnets, Scheme="internal", Type="network")
            lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
            tg = elb.create_target_group(
                Name=f"scale-{s}", Protocol="TCP", Port=backend_port, VpcId=vpc, TargetType="ip",
                HealthCheckIntervalSeconds=300,
            )["TargetGroups"][0]["TargetGroupArn"]
            elb.register_targets(
                TargetGroupArn=tg, Targets=[{"Id": "127.0.0.1", "Port": backend_port, "AvailabilityZone": "all"}]
            )
            elb.create_listener(
                LoadBalancerArn=lb_arn, Protocol="TCP", Port=LISTENER_PORT,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
            )
            elb.modify_load_balancer_attributes(
                LoadBalancerArn=lb_arn, Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}]
            )
            svc = ec2p.create_vpc_endpoint_service_configuration(
                NetworkLoadBalancerArns=[lb_arn], AcceptanceRequired=False
            )["ServiceConfiguration"]
            ec2p.modify_vpc_endpoint_service_permissions(
                ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
            )
            self.services.append(svc["ServiceName"])
        ec2c = boto(url, "ec2", CONSUMER)
        self.vpcs = []
        for v in range(vpcs):
            cidr = consumer_cidr(v)
            x, y = cidr.split(".")[1:3]
            vid = ec2c.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
            a = ec2c.create_subnet(VpcId=vid, CidrBlock=f"10.{x}.{y}.0/24", AvailabilityZone=f"{REGION}a")
            c = ec2c.create_subnet(VpcId=vid, CidrBlock=f"10.{x}.{int(y) + 8}.0/24", AvailabilityZone=f"{REGION}c")
            sg = ec2c.create_security_group(GroupName="endpoints", Description="endpoints", VpcId=vid)["GroupId"]
            ec2c.authorize_security_group_ingress(
                GroupId=sg,
                IpPermissions=[{"IpProtocol": "tcp", "FromPort": LISTENER_PORT, "ToPort": LISTENER_PORT,
                                "IpRanges": [{"CidrIp": cidr}]}],
            )
            self.vpcs.append((vid, a["Subnet"]["SubnetId"], c["Subnet"]["SubnetId"], sg))

    def endpoint_params(self, i: int) -> dict:
        vid, a, c, sg = self.vpcs[i % len(self.vpcs)]
        service = self.services[(i // len(self.vpcs)) % SERVICES]
        return {
            "VpcEndpointType": "Interface", "VpcId": vid, "ServiceName": service,
            "SubnetId.1": a, "SubnetId.2": c, "SecurityGroupId.1": sg,
        }


def describe_all(q: Query) -> tuple[list[tuple[str, str]], int]:
    """Every endpoint (id, state), paging with MaxResults 1,000; and the
    number of pages."""
    out, token, pages = [], None, 0
    while True:
        params = {"MaxResults": "1000"}
        if token:
            params["NextToken"] = token
        xml = q("DescribeVpcEndpoints", params)
        pages += 1
        out += re.findall(r"<vpcEndpointId>(vpce-[0-9a-f]+)</vpcEndpointId>.*?<state>(\w+)</state>", xml, re.S)
        m = re.search(r"<nextToken>([^<]+)</nextToken>", xml)
        if not m:
            return out, pages
        token = m.group(1)


def names_and_addresses(st: dict) -> tuple[dict, dict]:
    """From the status document: {DNS name: [host addresses]} (a regional
    name answers every ENI, a zonal name its zone's) and {endpoint id:
    [host addresses]}."""
    names, hosts = {}, {}
    for region in st["regions"]:
        blocks = {v["vpc_id"]: v["host_block"].split(".")[1] for v in region["vpcs"]}
        for e in region["vpc_endpoints"]:
            if e.get("state") != "available":
                continue
            k = blocks[e["vpc_id"]]
            addrs = []
            for a in e["addresses"]:
                _, _, x, y = a.split(".")
                addrs.append(f"127.{k}.{x}.{y}")
            hosts[e["vpc_endpoint_id"]] = addrs
            for n in e["dns_names"]:
                zonal = re.search(rf"-{REGION}([a-z])\.", n)
                # Subnet a is the VPC's first /24, subnet c its ninth.
                pick = [h for h in addrs if (int(h.split(".")[2]) % 16 < 8) == (zonal.group(1) == "a")] if zonal else addrs
                names[n] = pick or addrs
    return names, hosts


def connect_first_byte(hosts: dict, samples: int, rng: random.Random) -> tuple[list[float], int]:
    """Connect to a random endpoint's ENI, send a byte, read its echo; the
    seconds each took, and how many failed."""
    ids = list(hosts)
    out, failed = [], 0
    for _ in range(samples):
        ip = rng.choice(hosts[rng.choice(ids)])
        t0 = time.perf_counter()
        try:
            with socket.create_connection((ip, LISTENER_PORT), timeout=5) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.sendall(b"x")
                if s.recv(1) != b"x":
                    failed += 1
                    continue
        except OSError:
            failed += 1
            continue
        out.append(time.perf_counter() - t0)
    return out, failed


def dns_qps(dns_port: int, names: dict, seconds: int, workdir: Path) -> dict:
    """dnsperf over every name at the emulator's public view and at NSD
    serving the same names, alternating; returns both results."""
    order = list(names)
    random.Random(1).shuffle(order)
    queries = workdir / "queries.txt"
    queries.write_text("".join(f"{n} A\n" for n in order))
    nsd_dir = Path(tempfile.mkdtemp(prefix="nsd-", dir=workdir))
    nsd, nsd_port = dns_bench.start_nsd(nsd_dir, names, os.cpu_count() or 1, {})
    try:
        dns_bench.wait_answers(nsd_port, order[-1])
        dns_bench.wait_answers(dns_port, order[-1])
        dns_bench.dnsperf(dns_port, queries, 1)
        dns_bench.dnsperf(nsd_port, queries, 1)
        emu = dns_bench.dnsperf(dns_port, queries, seconds)
        ref = dns_bench.dnsperf(nsd_port, queries, seconds)
    finally:
        dns_bench.stop(nsd)
        shutil.rmtree(nsd_dir, ignore_errors=True)
    return {"emulator": emu, "nsd": ref}


def nofile_limit(pid: int) -> int:
    """The process's soft limit of open descriptors."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise RuntimeError("no 'Max open files' line in /proc/PID/limits")


# Descriptors kept free for flows, health checks and API connections.
FD_MARGIN = 300


def fitting(steps: list[int], base_fds: int, limit: int, per_endpoint: int) -> tuple[list[int], str]:
    """The steps an emulator with this descriptor limit can hold: with a
    listening socket per ENI (`per_endpoint` 2) each endpoint's two ENIs
    hold one each; with the shared listener (0) endpoints hold none. A step
    that does not fit is replaced by the most that does, and said so."""
    if per_endpoint == 0:
        return steps, ""
    room = (limit - base_fds - FD_MARGIN) // per_endpoint
    if steps[-1] <= room:
        return steps, ""
    most = room // 100 * 100
    kept = [s for s in steps if s <= most]
    if not kept or kept[-1] != most:
        kept.append(most)
    need = base_fds + FD_MARGIN + 2 * steps[-1]
    return kept, (
        f"{steps[-1]:,} endpoints need about {need:,} descriptors (two listening sockets per endpoint, "
        f"one per ENI and listener port); the emulator's limit here is {limit:,} and the hard limit cannot "
        f"be raised in this environment, so the growth stops at {most:,}."
    )


def steady(pid: int) -> tuple[int, int]:
    """RSS (KiB) and descriptors once they stop moving (at most 3 s)."""
    last = None
    for _ in range(30):
        now = (dpkit.rss_kib(pid), dpkit.fd_count(pid))
        if now == last:
            return now
        last = now
        time.sleep(0.1)
    return last


def one_run(binary: str, steps: list[int], dns_seconds: int, samples: int, run: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="scale-bench-"))
    state = work / "state"
    state.mkdir()
    args = ["--state-dir", str(state), "--default-region", REGION, "--log", "warn"]
    echo = dpkit.start_echo("127.0.0.1", dpkit.free_port(), work)
    backend_port = int(echo.argv[-1])
    emu = dpkit.Emulator(binary, work, extra_args=args)
    rng = random.Random(run)
    result = {"steps": [], "baseline": None, "delete": None}
    try:
        t0 = time.monotonic()
        world = World(emu.url, backend_port)
        ready(emu.url)
        result["setup_s"] = time.monotonic() - t0
        # The baseline is taken in a process that loaded the world from the
        # state directory, as every later step's process does.
        emu.stop()
        emu = dpkit.Emulator(binary, work, extra_args=args)
        ready(emu.url)
        # The benchmark's own keep-alive connection is open from here on.
        q = Query(emu.url, CONSUMER)
        describe_all(q)
        base_rss, base_fds = steady(emu.pid)
        result["baseline"] = {"rss_kib": base_rss, "fds": base_fds}
        sockets = status(emu.url)["dataplane"]["listener_sockets"]
        result["listener_sockets"] = sockets["mode"]
        print(f"listening sockets: {sockets}", file=sys.stderr, flush=True)
        per_endpoint = 2 if sockets["mode"] == "per-address" else 0
        steps, result["limit_note"] = fitting(steps, base_fds, nofile_limit(emu.pid), per_endpoint)
        if result["limit_note"]:
            print(result["limit_note"], file=sys.stderr, flush=True)
        created = []
        for target in steps:
            lat = []
            t_step = time.perf_counter()
            while len(created) < target:
                t0 = time.perf_counter()
                xml = q("CreateVpcEndpoint", world.endpoint_params(len(created)))
                lat.append(time.perf_counter() - t0)
                created.append(re.search(r"<vpcEndpointId>(vpce-[0-9a-f]+)</vpcEndpointId>", xml).group(1))
            create_s = time.perf_counter() - t_step
            # Pending endpoints move on once a client has seen them: page
            # until every one is available, then let the followers catch up.
            deadline = time.monotonic() + 120
            while True:
                seen, _ = describe_all(q)
                if all(s == "available" for _, s in seen) and len(seen) == len(created):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"endpoints not available: {sorted({s for _, s in seen})}")
            ready(emu.url)
            rss, fds = steady(emu.pid)
            t0 = time.perf_counter()
            seen, pages = describe_all(q)
            describe_s = time.perf_counter() - t0
            assert len(seen) == target, (len(seen), target)
            st = status(emu.url)
            names, hosts = names_and_addresses(st)
            assert len(hosts) == target, (len(hosts), target)
            dns_port = int(st["dns"]["public"].rsplit(":", 1)[1])
            dns = dns_qps(dns_port, names, dns_seconds, work)
            cfb, cfb_failed = connect_first_byte(hosts, samples, rng)
            # Restart with this world in the state directory.
            emu.stop()
            t0 = time.perf_counter()
            emu = dpkit.Emulator(binary, work, extra_args=args, timeout=120)
            ready(emu.url)
            restart_s = time.perf_counter() - t0
            q = Query(emu.url, CONSUMER)
            after_rss, after_fds = steady(emu.pid)
            step = {
                "endpoints": target,
                "create_p50_ms": dpkit.pct(lat, 0.5) * 1000,
                "create_p99_ms": dpkit.pct(lat, 0.99) * 1000,
                "creates_per_s": len(lat) / create_s,
                "rss_mib": rss / 1024,
                "fds": fds,
                "rss_kib_per_endpoint": (rss - base_rss) / target,
                "fds_per_endpoint": (fds - base_fds) / target,
                "describe_all_ms": describe_s * 1000,
                "describe_pages": pages,
                "dns_names": len(names),
                "dns_qps": dns["emulator"]["qps"],
                "nsd_qps": dns["nsd"]["qps"],
                "dns_ratio": dns["emulator"]["qps"] / dns["nsd"]["qps"] if dns["nsd"]["qps"] else float("nan"),
                "dns_lost": dns["emulator"]["lost"],
                "nsd_lost": dns["nsd"]["lost"],
                "cfb_p50_ms": dpkit.pct(cfb, 0.5) * 1000,
                "cfb_p99_ms": dpkit.pct(cfb, 0.99) * 1000,
                "cfb_failed": cfb_failed,
                "restart_s": restart_s,
                "restart_rss_mib": after_rss / 1024,
                "restart_fds": after_fds,
            }
            result["steps"].append(step)
            print(f"run {run + 1}, {target} endpoints: " + ", ".join(
                f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in step.items() if k != "endpoints"
            ), file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        for i in range(0, len(created), 100):
            q("DeleteVpcEndpoints", {f"VpcEndpointId.{n + 1}": e for n, e in enumerate(created[i : i + 100])})
        deadline = time.monotonic() + 300
        while True:
            left = [s for _, s in describe_all(q)[0] if s != "deleted"]
            if not left:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(left)} endpoints not deleted")
        ready(emu.url)
        delete_s = time.perf_counter() - t0
        rss, fds = steady(emu.pid)
        result["delete"] = {"seconds": delete_s, "rss_mib": rss / 1024, "fds": fds}
    except BaseException:
        print(f"emulator log (kept in {work}):\n{emu.log_tail(4000)}", file=sys.stderr)
        emu.stop()
        echo.stop()
        raise
    emu.stop()
    echo.stop()
    shutil.rmtree(work, ignore_errors=True)
    return result


MEASURES = [
    # key, label, unit, target rule (None, "flat": within 1.5x of the first step)
    ("create_p50_ms", "CreateVpcEndpoint p50", "ms", "flat"),
    ("create_p99_ms", "CreateVpcEndpoint p99", "ms", "flat"),
    ("creates_per_s", "CreateVpcEndpoint throughput", "/s", None),
    ("rss_mib", "RSS", "MiB", None),
    ("rss_kib_per_endpoint", "RSS per endpoint", "KiB", None),
    ("fds", "open descriptors", "", None),
    ("fds_per_endpoint", "descriptors per endpoint", "", None),
    ("describe_all_ms", "DescribeVpcEndpoints, every page", "ms", None),
    ("dns_qps", "DNS queries/s (emulator)", "/s", "flat-down"),
    ("nsd_qps", "DNS queries/s (NSD, same names)", "/s", None),
    ("dns_ratio", "DNS emulator / NSD", "x", None),
    ("dns_lost", "DNS queries lost (emulator)", "", None),
    ("cfb_p50_ms", "connect + first byte p50", "ms", None),
    ("cfb_p99_ms", "connect + first byte p99", "ms", "flat"),
    ("cfb_failed", "connect + first byte failures", "", None),
    ("restart_s", "restart to ready", "s", None),
]


def spread(values):
    v = sorted(x for x in values if x == x)
    if not v:
        return float("nan"), float("nan"), float("nan")
    return dpkit.median(v), v[0], v[-1]


def fmt(v: float) -> str:
    if v != v:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def plot(runs: list[dict], steps: list[int], outdir: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots (pip install matplotlib)", file=sys.stderr)
        return []
    outdir.mkdir(parents=True, exist_ok=True)
    files = []
    groups = [
        ("api", "CreateVpcEndpoint latency (ms)", ["create_p50_ms", "create_p99_ms"]),
        ("memory", "RSS (MiB)", ["rss_mib"]),
        ("descriptors", "open descriptors", ["fds"]),
        ("describe", "DescribeVpcEndpoints, every page (ms)", ["describe_all_ms"]),
        ("dns", "DNS queries per second", ["dns_qps", "nsd_qps"]),
        ("dataplane", "connect + first byte (ms)", ["cfb_p50_ms", "cfb_p99_ms"]),
        ("restart", "restart to ready (s)", ["restart_s"]),
    ]
    labels = {k: label for k, label, _, _ in MEASURES}
    for name, title, keys in groups:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for key in keys:
            med, lo, hi = zip(*(spread([r["steps"][i][key] for r in runs]) for i in range(len(steps))))
            ax.plot(steps, med, marker="o", label=labels[key])
            ax.fill_between(steps, lo, hi, alpha=0.2)
        ax.set_xscale("log")
        ax.set_xticks(steps, [f"{s:,}" for s in steps])
        ax.minorticks_off()
        ax.set_xlabel("interface endpoints")
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = outdir / f"scale-{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        files.append(path.name)
    return files


def render(runs: list[dict], steps: list[int], args, plots: list[str], meta: dict) -> str:
    now = meta["date"]
    n = len(runs)
    head = "| Measure | " + " | ".join(f"{s:,} endpoints" for s in steps) + " | Target | Met? |"
    rows = [head, "|---|" + "---:|" * len(steps) + "---|---|"]
    verdicts = []
    for key, label, unit, rule in MEASURES:
        cells, meds = [], []
        for i in range(len(steps)):
            med, lo, hi = spread([r["steps"][i][key] for r in runs])
            meds.append(med)
            cells.append(f"{fmt(med)}{' ' + unit if unit and unit != 'x' else ('x' if unit == 'x' else '')}"
                         + (f" ({fmt(lo)}-{fmt(hi)})" if n > 1 else ""))
        target, met = "", ""
        if rule == "flat" and len(meds) > 1:
            target = f"≤ 1.5x the {steps[0]:,} step"
            met = "yes" if meds[-1] <= 1.5 * meds[0] else "**no**"
        elif rule == "flat-down" and len(meds) > 1:
            target = f"≥ 1/1.5 of the {steps[0]:,} step"
            met = "yes" if meds[-1] >= meds[0] / 1.5 else "**no**"
        if key == "dns_ratio":
            target, met = "≥ 0.5 at the last step", "yes" if meds[-1] >= 0.5 else "**no**"
        if key == "rss_mib" and steps[-1] >= 10_000:
            target, met = "< 300 MiB at 10,000", "yes" if meds[-1] < 300 else "**no**"
        if key == "restart_s" and steps[-1] >= 10_000:
            target, met = "< 2 s at 10,000", "yes" if meds[-1] < 2 else "**no**"
        if key in ("dns_lost", "cfb_failed"):
            target, met = "0", "yes" if all(m == 0 for m in meds) else "**no**"
        if met:
            verdicts.append(met)
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {target} | {met} |")
    base = spread([r["baseline"]["rss_kib"] / 1024 for r in runs])
    base_fds = spread([r["baseline"]["fds"] for r in runs])
    dele = spread([r["delete"]["seconds"] for r in runs])
    del_rss = spread([r["delete"]["rss_mib"] for r in runs])
    del_fds = spread([r["delete"]["fds"] for r in runs])
    setup = spread([r["setup_s"] for r in runs])
    fds_back = all(r["delete"]["fds"] <= r["baseline"]["fds"] for r in runs)
    images = "\n".join(f"![{p}](bench/out/{p})" for p in plots)
    quick = " --quick" if args.quick else ""
    return f"""## Scale: one emulator from {steps[0]:,} to {steps[-1]:,} interface endpoints

Written by `bench/scale_bench.py{quick}` on {now}. Do not edit this section by hand; re-run the script.
{n} run{'s' if n > 1 else ''} of the whole growth, each on a fresh emulator; medians{' with min-max' if n > 1 else ''}.

World: {SERVICES} endpoint services on {SERVICES} NLBs (TCP listener {LISTENER_PORT}, one echo backend), {VPCS} consumer VPCs with two subnets each; every endpoint has two ENIs (three DNS names). {sockets_line(runs)} Set-up before the first endpoint: {fmt(setup[0])} s, baseline RSS {fmt(base[0])} MiB and {fmt(base_fds[0])} descriptors.

{chr(10).join(rows)}

{runs[0]["limit_note"]}

Deleting all {steps[-1]:,} endpoints (DeleteVpcEndpoints, 100 ids a call, until every one reads `deleted` and the followers caught up): {fmt(dele[0])} s; then RSS {fmt(del_rss[0])} MiB (baseline {fmt(base[0])}), descriptors {fmt(del_fds[0])} (baseline {fmt(base_fds[0])}): back to baseline: {'yes' if fds_back else '**no**'}.

Method: creates one at a time on one keep-alive connection; DNS with dnsperf ({args.dns_seconds} s per server, 4 clients, 200 in flight) over every endpoint name, against NSD on the same names in the same step (`server-count` = cores); connect + first byte: {args.samples} connections to random ENIs, each sending one byte and reading its echo; restart: SIGTERM, then a new process on the same `--state-dir`, timed from spawn to `/_emulator/ready`.

Machine: {meta['machine']}; load average at the end {meta['load']}; emulator {meta['emulator']}.

{images}
"""


def sockets_line(runs: list[dict]) -> str:
    """How the ENIs listened (runs written before the shared listener
    existed have no such field: they had a socket per ENI)."""
    modes = {r.get("listener_sockets", "per-address") for r in runs}
    if modes == {"shared"}:
        return "ENIs listen through one shared socket (sk_lookup steering, `--listener-sockets auto`)."
    if modes == {"per-address"}:
        return "Each ENI listens on its own socket (one per ENI address and listener port)."
    return f"Listening sockets differed between runs: {sorted(modes)}."


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one run, steps 50 and 200, short DNS runs (CI smoke)")
    ap.add_argument("--steps", help="comma-separated endpoint counts (default 100,1000,5000,10000)")
    ap.add_argument("--runs", type=int, help="runs of the whole growth (default 3; 1 with --quick)")
    ap.add_argument("--dns-seconds", type=int, help="dnsperf seconds per server and step (default 10; 2 with --quick)")
    ap.add_argument("--samples", type=int, help="connections per step (default 2000; 200 with --quick)")
    ap.add_argument("--out", default=str(dpkit.REPO / "BENCHMARKS.md"))
    ap.add_argument("--plots", default=str(dpkit.REPO / "bench" / "out"))
    ap.add_argument("--bin", default=None, help="emulator binary (default $PRIVATELINK_EMULATOR_BIN or target/release)")
    ap.add_argument("--from-json", help="render the report and plots again from a scale.json an earlier run wrote")
    args = ap.parse_args()
    steps = [int(s) for s in (args.steps or ("50,200" if args.quick else "100,1000,5000,10000")).split(",")]
    runs = args.runs or (1 if args.quick else 3)
    args.dns_seconds = args.dns_seconds or (2 if args.quick else 10)
    args.samples = args.samples or (200 if args.quick else 2000)
    if steps != sorted(steps) or steps[-1] > SERVICES * VPCS:
        sys.exit(f"steps must grow and stay at most {SERVICES * VPCS}")
    if not args.from_json:
        try:
            args.bin = dpkit.emulator_binary(args.bin)
            for tool, package in (("dnsperf", "dnsperf"), ("nsd", "nsd"), ("dig", "bind9-dnsutils")):
                dpkit.need(tool, package)
            dpkit.need_boto3()
        except dpkit.Missing as e:
            sys.exit(str(e))
        dpkit.raise_nofile(65536)
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        results, meta = saved["runs"], saved["meta"]
    else:
        results = [one_run(args.bin, steps, args.dns_seconds, args.samples, r) for r in range(runs)]
        meta = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{dpkit.cpu_model()}, {os.cpu_count()} cores, {dpkit.mem_total()}",
            "load": dpkit.loadavg(),
            "emulator": f"{dpkit.emulator_version(args.bin)} ({args.bin}; checkout at {dpkit.git_rev()})",
        }
    steps = [step["endpoints"] for step in results[0]["steps"]]
    if any([step["endpoints"] for step in r["steps"]] != steps for r in results):
        sys.exit("runs reached different steps (descriptor limits changed between runs?)")
    plots = plot(results, steps, Path(args.plots))
    text = render(results, steps, args, plots, meta)
    dpkit.write_section(Path(args.out), START, END, f"{START}\n{text.rstrip()}\n{END}")
    if not args.from_json:
        (Path(args.plots) / "scale.json").write_text(json.dumps({"meta": meta, "runs": results}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
