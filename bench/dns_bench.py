#!/usr/bin/env python3
"""DNS benchmark: the emulator's DNS server against NSD, in one run, with
dnsperf, on equivalent zones: 10,000 endpoint names and 1,000 private
hosted zones of 10 records each.

The emulator gets its names the way users give them: 5,000 interface
endpoints created through the EC2 API (100 VPCs x 50, one subnet each: a
regional and a zonal name per endpoint), and 1,000 private zones created
through the Route 53 API, associated with the first VPC, 10 A records each.
NSD serves zone files with the same names and the same addresses. dnsperf
asks both, at the first VPC's resolver (which answers the endpoint names
and its private zones), for A records of all 20,000 names in the same
shuffled order, for the same time; three rounds, alternating, and the
median with its spread is reported.

    python3 bench/dns_bench.py            # 20 s per server, writes BENCHMARKS.md
    python3 bench/dns_bench.py --quick    # 3 s per server, for CI
    python3 bench/dns_bench.py --out FILE # write the section elsewhere

Only 127.0.0.1 is used. Needs dnsperf and nsd (Debian packages).
"""

import argparse
import datetime
import http.client
import ipaddress
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
START, END = "<!-- dns-bench:start -->", "<!-- dns-bench:end -->"


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1, below the ephemeral
    range: NSD binds without SO_REUSEADDR, so a port an earlier benchmark's
    connection still holds in TIME_WAIT would make it fail to start."""
    low = 20000
    try:
        low = min(low, int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]) - 1000)
    except (OSError, ValueError, IndexError):
        pass
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 10000), low)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                u.bind(("127.0.0.1", port))
                t.bind(("127.0.0.1", port))
                return port
        except OSError:
            continue
    raise RuntimeError("no port free for both UDP and TCP")


def start_emulator(binary):
    proc = subprocess.Popen(
        [binary, "--api-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0", "--default-region", REGION, "--log", "warn"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    api = dns = None
    seen = b""
    deadline = time.monotonic() + 30
    while api is None or dns is None:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("emulator did not start")
        # Raw reads: a buffered readline could hold the second line back
        # while select waits on the pipe.
        ready, _, _ = select.select([proc.stdout], [], [], 1)
        if ready:
            seen += os.read(proc.stdout.fileno(), 4096)
            text = seen.decode(errors="replace")
            if m := re.search(r"api listening on http://([0-9.]+):(\d+)", text):
                api = int(m.group(2))
            if m := re.search(r"dns listening on ([0-9.]+):(\d+)", text):
                dns = int(m.group(2))
    return proc, api, dns


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Api:
    def __init__(self, port, account=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = signed_as(account, "ec2") if account else {}

    def __call__(self, action, **params):
        from urllib.parse import urlencode

        body = urlencode({"Action": action, "Version": "2016-11-15", **params})
        self.conn.request("POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded", **self.headers})
        r = self.conn.getresponse()
        text = r.read().decode()
        if r.status != 200:
            raise RuntimeError(f"{action}: {text}")
        return text


def populate(api, vpcs, per_vpc):
    """Creates the endpoints; returns [(name, [host addresses])]."""
    records = []
    for v in range(vpcs):
        xml = api("CreateVpc", CidrBlock=f"10.{v}.0.0/16")
        vpc = re.search(r"<vpcId>(vpc-[0-9a-f]+)</vpcId>", xml).group(1)
        status_block = None
        xml = api("CreateSubnet", VpcId=vpc, CidrBlock=f"10.{v}.0.0/18", AvailabilityZone=f"{REGION}a")
        subnet = re.search(r"<subnetId>(subnet-[0-9a-f]+)</subnetId>", xml).group(1)
        for _ in range(per_vpc):
            xml = api(
                "CreateVpcEndpoint",
                VpcEndpointType="Interface",
                VpcId=vpc,
                ServiceName=f"com.amazonaws.{REGION}.ec2",
                **{"SubnetId.1": subnet},
            )
            names = re.findall(r"<dnsName>([^<]+)</dnsName>", xml)
            records.append((names, vpc))
        del status_block
    return records


def signed_as(account, service):
    """The header that names the account (the emulator takes the access key
    id as the account and, not in strict mode, checks no signature)."""
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential={account}/20260101/{REGION}/{service}/aws4_request, "
                             "SignedHeaders=host, Signature=00"}


def route53(port, method, path, body, account=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/xml", **(signed_as(account, "route53") if account else {})}
    conn.request(method, path, body, headers)
    r = conn.getresponse()
    text = r.read().decode()
    conn.close()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {text}")
    return text


def private_zones(api, api_port, vpc, zones, per_zone):
    """Private zones `zN.internal.example` with `per_zone` A records each,
    associated with `vpc`; returns {name: [address]}. An account holds 500
    zones (AWS's quota): the zones past those belong to a second account,
    made with a VPC of its own, and `vpc` is associated with them after the
    second account authorizes it."""
    api("ModifyVpcAttribute", VpcId=vpc, **{"EnableDnsHostnames.Value": "true"})
    ns = "https://route53.amazonaws.com/doc/2013-04-01/"
    other = "111111111111"
    xml = Api(api_port, other)("CreateVpc", CidrBlock="172.16.0.0/16")
    other_vpc = re.search(r"<vpcId>(vpc-[0-9a-f]+)</vpcId>", xml).group(1)
    vpc_xml = f"<VPC><VPCRegion>{REGION}</VPCRegion><VPCId>{vpc}</VPCId></VPC>"
    out = {}
    for z in range(zones):
        apex = f"z{z}.internal.example"
        account, home = (None, vpc) if z < 500 else (other, other_vpc)
        xml = route53(api_port, "POST", "/2013-04-01/hostedzone", f"""<CreateHostedZoneRequest xmlns="{ns}">
<Name>{apex}</Name><CallerReference>bench-{z}</CallerReference>
<VPC><VPCRegion>{REGION}</VPCRegion><VPCId>{home}</VPCId></VPC>
<HostedZoneConfig><PrivateZone>true</PrivateZone></HostedZoneConfig></CreateHostedZoneRequest>""", account)
        zone_id = re.search(r"<Id>/hostedzone/([A-Z0-9]+)</Id>", xml).group(1)
        if account:
            route53(api_port, "POST", f"/2013-04-01/hostedzone/{zone_id}/authorizevpcassociation",
                    f'<CreateVPCAssociationAuthorizationRequest xmlns="{ns}">{vpc_xml}</CreateVPCAssociationAuthorizationRequest>',
                    account)
            route53(api_port, "POST", f"/2013-04-01/hostedzone/{zone_id}/associatevpc",
                    f'<AssociateVPCWithHostedZoneRequest xmlns="{ns}">{vpc_xml}</AssociateVPCWithHostedZoneRequest>')
        changes = ""
        for r in range(per_zone):
            name, addr = f"r{r}.{apex}", f"198.51.{z % 200}.{r + 10}"
            out[name] = [addr]
            changes += f"""<Change><Action>CREATE</Action><ResourceRecordSet><Name>{name}</Name><Type>A</Type>
<TTL>60</TTL><ResourceRecords><ResourceRecord><Value>{addr}</Value></ResourceRecord></ResourceRecords>
</ResourceRecordSet></Change>"""
        route53(api_port, "POST", f"/2013-04-01/hostedzone/{zone_id}/rrset", f"""<ChangeResourceRecordSetsRequest xmlns="{ns}">
<ChangeBatch><Changes>{changes}</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>""", account)
    return out


def resolver_of(api_port, vpc):
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/_emulator/status", timeout=60) as r:
        status = json.load(r)
    for region in status["regions"]:
        for v in region["vpcs"]:
            if v["vpc_id"] == vpc:
                # The resolver is the VPC base + 2, at that offset in its host block.
                return str(ipaddress.ip_network(v["host_block"]).network_address + 2)
    raise RuntimeError(f"{vpc} not in status")


def host_addresses(api_port):
    """Endpoint id -> host addresses, from the status endpoint."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/_emulator/status", timeout=60) as r:
        status = json.load(r)
    out = {}
    for region in status["regions"]:
        blocks = {v["vpc_id"]: (v["host_block"].split(".")[1], v["cidr"]) for v in region["vpcs"]}
        for e in region["vpc_endpoints"]:
            k, _cidr = blocks[e["vpc_id"]]
            addrs = []
            for a in e["addresses"]:
                _, _, x, y = a.split(".")
                addrs.append(f"127.{k}.{x}.{y}")
            for n in e["dns_names"]:
                out[n] = addrs
    return out


def wait_answers(port, name, deadline=60, server="127.0.0.1"):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        r = subprocess.run(
            ["dig", "+short", "+time=1", "+tries=1", f"@{server}", "-p", str(port), name],
            capture_output=True,
            text=True,
        )
        lines = r.stdout.split()
        if lines and all(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", l) for l in lines):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} never answered on port {port}")


def zone_file(workdir, apex, names):
    path = workdir / f"{apex}.zone"
    lines = [
        f"$ORIGIN {apex}.",
        "$TTL 60",
        "@ IN SOA ns-0.awsdns-00.com. awsdns-hostmaster.amazon.com. 1 7200 900 1209600 60",
        "@ IN NS ns-0.awsdns-00.com.",
    ]
    for name, addrs in names.items():
        for a in addrs:
            lines.append(f"{name}. 60 IN A {a}")
    path.write_text("\n".join(lines) + "\n")
    return f"""zone:
    name: {apex}
    zonefile: "{path}"
"""


def start_nsd(workdir, names, threads, zones):
    """`names`: the endpoint names; `zones`: {apex: {name: [address]}}."""
    port = free_port()
    zone_conf = zone_file(workdir, "vpce.amazonaws.com", names)
    zone_conf += "".join(zone_file(workdir, apex, zn) for apex, zn in zones.items())
    conf = workdir / "nsd.conf"
    conf.write_text(
        f"""server:
    ip-address: 127.0.0.1@{port}
    do-ip6: no
    server-count: {threads}
    # Response rate limiting (on by default: 200 answers a second for one
    # name to one client block) throttles a benchmark that asks a few
    # hundred names 100,000 times a second; it guards against reflection,
    # which loopback does not need, so the reference runs without it.
    rrl-ratelimit: 0
    username: ""
    chroot: ""
    zonesdir: "{workdir}"
    database: ""
    zonelistfile: "{workdir}/zone.list"
    xfrdfile: "{workdir}/xfrd.state"
    pidfile: "{workdir}/nsd.pid"
    logfile: "{workdir}/nsd.log"
    verbosity: 0
remote-control:
    control-enable: no
{zone_conf}"""
    )
    proc = subprocess.Popen(["nsd", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return proc, port


def dnsperf(port, queries, seconds, server="127.0.0.1"):
    out = subprocess.run(
        ["dnsperf", "-s", server, "-p", str(port), "-d", str(queries), "-l", str(seconds), "-c", "4", "-q", "200", "-t", "2"],
        capture_output=True,
        text=True,
    ).stdout
    def grab(pattern):
        m = re.search(pattern, out)
        return float(m.group(1)) if m else float("nan")
    return {
        "qps": grab(r"Queries per second:\s+([0-9.]+)"),
        "avg_ms": grab(r"Average Latency \(s\):\s+([0-9.]+)") * 1000,
        "max_ms": grab(r"Average Latency \(s\):\s+[0-9.]+ \(min [0-9.]+, max ([0-9.]+)\)") * 1000,
        "sd_ms": grab(r"Latency StdDev \(s\):\s+([0-9.]+)") * 1000,
        "lost": grab(r"Queries lost:\s+(\d+)"),
        "sent": grab(r"Queries sent:\s+(\d+)"),
        "raw": out,
    }


def version(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def write_section(path, text):
    body = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"{START}\n{text.rstrip()}\n{END}"
    if START in body and END in body:
        body = body[: body.index(START)] + section + body[body.index(END) + len(END) :]
    else:
        body = body.rstrip() + "\n\n" + section + "\n"
    path.write_text(body)


ZONES, PER_ZONE, ROUNDS = 1000, 10, 3


def loadavg():
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except (OSError, IndexError):
        return "unknown"


def median_run(runs):
    return sorted(runs, key=lambda r: r["qps"])[len(runs) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 s per server (CI)")
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--bin", default=os.environ.get("PRIVATELINK_EMULATOR_BIN", str(ROOT / "target/release/privatelink-emulator")))
    args = ap.parse_args()
    seconds = args.seconds or (3 if args.quick else 20)
    for tool in ("dnsperf", "nsd", "dig"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (Debian: dnsperf, nsd, bind9-dnsutils)")
    threads = os.cpu_count() or 1
    load_before = loadavg()
    emu, api_port, dns_port = start_emulator(args.bin)
    nsd = None
    try:
        api = Api(api_port)
        t0 = time.monotonic()
        made = populate(api, 100, 50)
        created = time.monotonic() - t0
        first_vpc = made[0][1]
        t0 = time.monotonic()
        zone_names = private_zones(api, api_port, first_vpc, ZONES, PER_ZONE)
        zones_created = time.monotonic() - t0
        resolver = resolver_of(api_port, first_vpc)
        names = host_addresses(api_port)
        names = {n: a for n, a in names.items() if a}
        assert len(names) == 10_000, len(names)
        assert len(zone_names) == ZONES * PER_ZONE, len(zone_names)
        by_zone = {}
        for n, a in zone_names.items():
            by_zone.setdefault(n.split(".", 1)[1], {})[n] = a
        order = list(names) + list(zone_names)
        random.Random(1).shuffle(order)
        wait_answers(dns_port, order[-1], server=resolver)
        wait_answers(dns_port, list(zone_names)[-1], server=resolver)
        work = Path(tempfile.mkdtemp(prefix="dns-bench-"))
        queries = work / "queries.txt"
        queries.write_text("".join(f"{n} A\n" for n in order))
        nsd, nsd_port = start_nsd(work, names, threads, by_zone)
        wait_answers(nsd_port, order[-1])
        wait_answers(nsd_port, list(zone_names)[-1])
        # One warm-up each, then the measured rounds, alternating.
        dnsperf(dns_port, queries, 1, server=resolver)
        dnsperf(nsd_port, queries, 1)
        emu_runs, nsd_runs = [], []
        for _ in range(ROUNDS):
            emu_runs.append(dnsperf(dns_port, queries, seconds, server=resolver))
            r = dnsperf(nsd_port, queries, seconds)
            if not r["qps"] > 0:
                # Seen once on a freshly installed machine: NSD answered the
                # readiness probe, then nothing. Start it again once; if it
                # still answers nothing the run fails rather than report a ratio.
                log = (work / "nsd.log").read_text() if (work / "nsd.log").exists() else ""
                print(f"NSD answered no query (exit {nsd.poll()}); log: {log[-2000:]!r}; restarting it once", file=sys.stderr)
                stop(nsd)
                nsd, nsd_port = start_nsd(work, names, threads, by_zone)
                wait_answers(nsd_port, order[-1])
                dnsperf(nsd_port, queries, 1)
                r = dnsperf(nsd_port, queries, seconds)
            nsd_runs.append(r)
        for name, runs in (("emulator", emu_runs), ("NSD", nsd_runs)):
            for r in runs:
                if not r["qps"] > 0:
                    sys.exit(f"dnsperf measured no answers from {name}:\n{r['raw']}")
    finally:
        stop(emu)
        if nsd:
            stop(nsd)
    load_after = loadavg()
    emu_r, nsd_r = median_run(emu_runs), median_run(nsd_runs)
    spread = lambda runs: f"{min(r['qps'] for r in runs):,.0f}–{max(r['qps'] for r in runs):,.0f}"  # noqa: E731
    ratio_qps = emu_r["qps"] / nsd_r["qps"] if nsd_r["qps"] else float("nan")
    ratio_lat = emu_r["avg_ms"] / nsd_r["avg_ms"] if nsd_r["avg_ms"] else float("nan")
    met = ratio_qps >= 0.5
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cpu = "unknown"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = f"""## DNS benchmark: emulator vs NSD

Written by `bench/dns_bench.py{' --quick' if args.quick else ''}` on {now}. Do not edit this section by hand; re-run the script.

| Metric | Emulator | NSD | Ratio (emulator / NSD) | Target | Met? |
|---|---:|---:|---:|---:|---|
| Queries per second (median of {ROUNDS}) | {emu_r['qps']:,.0f} | {nsd_r['qps']:,.0f} | {ratio_qps:.2f} | ≥ 0.50 | {'yes' if met else '**no**'} |
| Queries per second, spread | {spread(emu_runs)} | {spread(nsd_runs)} | | | |
| Average latency | {emu_r['avg_ms']:.3f} ms | {nsd_r['avg_ms']:.3f} ms | {ratio_lat:.2f} | | |
| Latency std dev | {emu_r['sd_ms']:.3f} ms | {nsd_r['sd_ms']:.3f} ms | | | |
| Max latency | {emu_r['max_ms']:.3f} ms | {nsd_r['max_ms']:.3f} ms | | | |
| Queries lost (median round) | {emu_r['lost']:.0f} of {emu_r['sent']:.0f} | {nsd_r['lost']:.0f} of {nsd_r['sent']:.0f} | | | |

Method:

- Zones: 10,000 names (regional and zonal names of 5,000 interface endpoints in 100 VPCs, created through the EC2 API in {created:.1f} s) and {ZONES:,} private hosted zones of {PER_ZONE} A records each, associated with the first VPC (created through the Route 53 API in {zones_created:.1f} s); NSD serves zone files with the same names and addresses, TTL 60.
- Load: dnsperf, A queries for all {len(order):,} names in one shuffled order, asked of the first VPC's resolver ({resolver}) and of NSD on 127.0.0.1; {ROUNDS} rounds of {seconds} s per server, alternating, after a 1 s warm-up; 4 clients, up to 200 queries in flight, UDP.
- Both servers on the same {threads}-core machine as dnsperf itself; NSD with `server-count: {threads}`, the emulator with its default multi-threaded runtime.

Machine and versions: {cpu} × {threads}, load average {load_before} before and {load_after} after the run (other work on the machine shows there); {version(['dnsperf', '-h'])}; {version(['nsd', '-v'])}; emulator `{args.bin}`.
"""
    write_section(Path(args.out), text)
    print(text)


if __name__ == "__main__":
    main()
