"""Durable state (--state-dir): the emulator killed with SIGKILL comes back
with the same world (ids, addresses, DNS names, listeners, traffic); a torn
journal tail is cut; the admin API dumps, resets and imports the world; and
a crash test kills it at random points under a stream of mutations."""

import json
import os
import random
import shutil
import signal
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from backends import TcpServer
from conftest import CONSUMER, PROVIDER, REGION, Emulator, stop_emulator, wait_for
from test_dataplane import BODY, World, curl
from test_dns import Dig


class Durable:
    """An emulator on a state directory that can be killed and restarted;
    clients made by `client` always talk to the current process."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="privatelink-state-")
        self.emu = None
        self.kills = 0
        self.start()

    def start(self):
        self.emu = Emulator(["--state-dir", self.dir])
        self.url = self.emu.url

    def kill(self):
        """SIGKILL: no shutdown, no snapshot, whatever was in flight is cut."""
        proc = self.emu.proc
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        self.kills += 1
        return self.ended()

    def ended(self):
        """The log of the process that has just exited (it must not have
        panicked); its file is removed."""
        self.emu.drain.join(timeout=5)
        log = self.emu.log_text()
        self.emu.log.close()
        os.unlink(self.emu.log.name)
        assert "panicked" not in log, log[-4000:]
        return log

    def restart(self):
        self.kill()
        self.start()

    def client(self, service, account):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=account,
            aws_secret_access_key="any-secret",
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10),
        )

    def get(self, path):
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as r:
            return json.load(r)

    def post(self, path, body=b"", method="POST"):
        req = urllib.request.Request(f"{self.url}{path}", data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def close(self):
        if self.emu and self.emu.proc.poll() is None:
            stop_emulator(self.emu)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def durable():
    d = Durable()
    yield d
    d.close()


def regions(d):
    """What the status document says of the world (ids, states, addresses, names)."""
    return d.get("/_emulator/status")["regions"]


def test_killed_emulator_comes_back_with_the_same_world(durable):
    d = durable
    w = World(d.client, d.url)
    nginx = w.start_nginx()
    ep = w.endpoint()
    w.accept()
    w.wait_listeners()
    hosts = w.eni_hosts()
    assert curl(f"http://{hosts[0]}:{w.port}/", source=w.client_host).stdout == BODY
    before = regions(d)
    dump = d.get("/_emulator/state")
    regional = ep["DnsEntries"][0]["DnsName"]
    addresses = Dig(d.emu.dns_port).a(regional)
    assert len(addresses) == 2

    d.restart()
    w.emulator = d.url
    assert regions(d) == before
    after = d.get("/_emulator/state")
    # Target health is observed again by the health checker, not restored.
    for r in (dump, after):
        for region in r["regions"].values():
            for tg in region["target_groups"].values():
                for t in tg["targets"]:
                    t.pop("health", None)
                    t.pop("reason", None)
    assert after == dump
    described = d.client("ec2", CONSUMER).describe_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])
    e = described["VpcEndpoints"][0]
    assert e["State"] == "available"
    assert [x["DnsName"] for x in e["DnsEntries"]] == [x["DnsName"] for x in ep["DnsEntries"]]
    assert sorted(e["NetworkInterfaceIds"]) == sorted(ep["NetworkInterfaceIds"])
    # The same names resolve to the same addresses, and traffic flows again.
    assert wait_for(lambda: Dig(d.emu.dns_port).a(regional) == addresses, "dns after restart")
    w.wait_listeners()
    r = wait_for(lambda: (x := curl(f"http://{hosts[0]}:{w.port}/", source=w.client_host)).stdout == BODY and x,
                 "traffic after restart")
    assert r.stdout == BODY
    assert set(nginx.clients()) <= w.nlb_hosts()
    w.close()


def test_a_torn_journal_tail_is_cut_and_nothing_acknowledged_is_lost(durable):
    d = durable
    ec2 = d.client("ec2", PROVIDER)
    vpcs = [ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(3)]
    d.kill()
    with open(os.path.join(d.dir, "journal.log"), "ab") as f:
        # Half a record: a length, a checksum, a few bytes of payload.
        f.write(b"\x80\x00\x00\x00\xde\xad\xbe\xef{\"seq\":")
    d.start()
    log = d.emu.log_text()
    assert "torn or corrupt" in log, log[-3000:]
    ec2 = d.client("ec2", PROVIDER)
    seen = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert set(vpcs) <= seen
    fourth = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    d.restart()
    seen = {v["VpcId"] for v in d.client("ec2", PROVIDER).describe_vpcs()["Vpcs"]}
    assert set(vpcs) | {fourth} <= seen


def test_sigterm_closes_flows_with_fin_and_writes_the_snapshot(durable):
    """SIGTERM: the open flow ends with FIN on both sides (no reset), the
    process exits 0 after folding the journal into the snapshot, and the
    next start has the endpoint without replaying anything."""
    d = durable
    w = World(d.client, d.url, acceptance_required=False)

    def handler(conn):
        if conn.recv(4) != b"ping":
            return None  # a health check: connect, then close
        conn.sendall(b"pong")
        rest = b""
        while chunk := conn.recv(4096):
            rest += chunk
        return ("eof", rest)

    server = TcpServer((w.target_host(w.target_ips[0]), w.target_port), handler)
    try:
        ep = w.endpoint()
        w.wait_state("available")
        w.wait_listeners()
        host = w.eni_hosts()[0]
        with socket.create_connection((host, w.port), timeout=10, source_address=(w.client_host, 0)) as s:
            s.sendall(b"ping")
            assert s.recv(4) == b"pong"
            proc = d.emu.proc
            os.killpg(proc.pid, signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
            # A FIN reads as end of stream; a reset would raise here.
            assert s.recv(4096) == b""
        ends = wait_for(lambda: [r for r in server.results if r is not None], "the target's end of the flow")
        assert ends == [("eof", b"")]
    finally:
        server.stop()
    log = d.ended()
    assert "data plane flows closed with FIN" in log, log[-4000:]
    assert "state written" in log, log[-4000:]
    assert os.path.getsize(os.path.join(d.dir, "journal.log")) == 0
    assert os.path.exists(os.path.join(d.dir, "snapshot.json"))
    d.start()
    e = d.client("ec2", CONSUMER).describe_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])["VpcEndpoints"][0]
    assert e["State"] == "available"
    assert [x["DnsName"] for x in e["DnsEntries"]] == [x["DnsName"] for x in ep["DnsEntries"]]
    w.close()


def test_admin_dump_reset_and_import(durable):
    d = durable
    p = d.client("ec2", PROVIDER)
    c = d.client("ec2", CONSUMER)
    pvpc = p.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    cvpc = c.create_vpc(CidrBlock="10.24.0.0/16")["Vpc"]["VpcId"]
    c.create_tags(Resources=[cvpc], Tags=[{"Key": "Name", "Value": "consumer"}])
    assert d.get("/_emulator/ready")["durable"] is True
    dump = d.get("/_emulator/state")

    assert d.post("/_emulator/reset?account=12ab")[0] == 400
    assert d.post("/_emulator/reset?account=" + CONSUMER) == (200, {"reset": CONSUMER})
    assert [v["VpcId"] for v in c.describe_vpcs()["Vpcs"]] == []
    assert [v["VpcId"] for v in p.describe_vpcs()["Vpcs"]] == [pvpc]

    code, body = d.post("/_emulator/state", b"{not json", method="PUT")
    assert code == 400 and "error" in body
    code, body = d.post("/_emulator/state", b'{"regions": 7}', method="PUT")
    assert code == 400 and "error" in body
    assert [v["VpcId"] for v in p.describe_vpcs()["Vpcs"]] == [pvpc]

    assert d.post("/_emulator/state", json.dumps(dump).encode(), method="PUT") == (200, {"imported": True})
    got = c.describe_vpcs()["Vpcs"]
    assert [v["VpcId"] for v in got] == [cvpc]
    assert got[0]["Tags"] == [{"Key": "Name", "Value": "consumer"}]

    # Reset and import are durable like any other change.
    d.restart()
    assert d.get("/_emulator/state") == dump
    assert d.post("/_emulator/reset") == (200, {"reset": "all"})
    d.restart()
    assert d.client("ec2", PROVIDER).describe_vpcs()["Vpcs"] == []


CRASH_MUTATIONS = int(os.environ.get("CRASH_MUTATIONS", "5000"))
CRASH_KILLS = int(os.environ.get("CRASH_KILLS", "20"))


class Ledger:
    """What the emulator acknowledged. An operation whose answer never came
    (the process was killed under it) may or may not have happened: its
    resource is marked uncertain and re-read after the restart."""

    def __init__(self):
        self.vpcs = {}  # id -> tags (dict) or None when deleted
        self.groups = {}  # id -> vpc, or None when deleted
        self.endpoints = {}  # id -> "live" | "deleted"
        self.uncertain = set()


def crash_step(rng, d, ledger, fixed):
    """One random mutation; returns False when the emulator did not answer."""
    ec2 = fixed["ec2"]
    live_vpcs = [v for v, t in ledger.vpcs.items() if t is not None and v not in ledger.uncertain]
    live_groups = [
        g for g, v in ledger.groups.items() if v is not None and g not in ledger.uncertain and g != fixed["group"]
    ]
    live_eps = [e for e, s in ledger.endpoints.items() if s == "live" and e not in ledger.uncertain]
    kind = rng.choice(["vpc", "tag", "untag", "sg", "delsg", "delvpc", "endpoint", "delendpoint"])
    target = None
    try:
        if kind == "vpc" and len(live_vpcs) < 30:
            v = ec2.create_vpc(CidrBlock=f"10.{rng.randrange(100, 200)}.0.0/16")["Vpc"]["VpcId"]
            ledger.vpcs[v] = {}
        elif kind == "tag" and live_vpcs:
            target = rng.choice(live_vpcs)
            key, value = f"k{rng.randrange(5)}", f"v{rng.randrange(1000)}"
            ec2.create_tags(Resources=[target], Tags=[{"Key": key, "Value": value}])
            ledger.vpcs[target][key] = value
        elif kind == "untag" and live_vpcs:
            target = rng.choice(live_vpcs)
            key = f"k{rng.randrange(5)}"
            ec2.delete_tags(Resources=[target], Tags=[{"Key": key}])
            ledger.vpcs[target].pop(key, None)
        elif kind == "sg" and live_vpcs:
            vpc = rng.choice(live_vpcs)
            target = vpc
            g = ec2.create_security_group(GroupName=f"g{rng.randrange(10**9)}", Description="crash", VpcId=vpc)
            ledger.groups[g["GroupId"]] = vpc
        elif kind == "delsg" and live_groups:
            target = rng.choice(live_groups)
            ec2.delete_security_group(GroupId=target)
            ledger.groups[target] = None
        elif kind == "delvpc" and live_vpcs:
            # Only VPCs without security groups of their own (and not the
            # endpoints' VPC): anything else is a DependencyViolation.
            free = [v for v in live_vpcs if v != fixed["vpc"] and not any(x == v for x in ledger.groups.values())]
            if not free:
                return True
            target = rng.choice(free)
            ec2.delete_vpc(VpcId=target)
            ledger.vpcs[target] = None
        elif kind == "endpoint" and len(live_eps) < 20:
            e = ec2.create_vpc_endpoint(
                VpcEndpointType="Interface", VpcId=fixed["vpc"], ServiceName=fixed["service"],
                SubnetIds=fixed["subnets"], SecurityGroupIds=[fixed["group"]],
            )["VpcEndpoint"]
            ledger.endpoints[e["VpcEndpointId"]] = "live"
        elif kind == "delendpoint" and live_eps:
            target = rng.choice(live_eps)
            r = ec2.delete_vpc_endpoints(VpcEndpointIds=[target])
            assert r["Unsuccessful"] == [], r
            ledger.endpoints[target] = "deleted"
        return True
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError):
        # Killed under this request: it may or may not have happened.
        if target:
            ledger.uncertain.add(target)
        return False


def check_world(d, ledger, dig_port, rng):
    """After a restart: every acknowledged change is there, and the world
    hangs together. Uncertain resources are re-read and adopted."""
    dump = d.get("/_emulator/state")
    region = dump["regions"].get(REGION, {})
    vpcs = region.get("vpcs", {})
    groups = region.get("security_groups", {})
    endpoints = region.get("endpoints", {})
    enis = region.get("network_interfaces", {})

    for v, tags in list(ledger.vpcs.items()):
        if v in ledger.uncertain:
            ledger.vpcs[v] = dict(vpcs[v]["tags"]) if v in vpcs else None
            continue
        if tags is None:
            assert v not in vpcs, f"deleted {v} came back"
        else:
            assert v in vpcs, f"acknowledged {v} lost"
            assert vpcs[v]["tags"] == tags, (v, vpcs[v]["tags"], tags)
    for g, vpc in list(ledger.groups.items()):
        if g in ledger.uncertain:
            ledger.groups[g] = groups[g]["vpc_id"] if g in groups else None
            continue
        assert (g in groups) == (vpc is not None), f"security group {g}: acknowledged {vpc}, found {g in groups}"
    for e, state in list(ledger.endpoints.items()):
        if e in ledger.uncertain:
            found = endpoints.get(e)
            ledger.endpoints[e] = "live" if found and found["state"] not in ("deleting", "deleted") else "deleted"
            continue
        if state == "live":
            assert e in endpoints and endpoints[e]["state"] not in ("deleting", "deleted"), f"endpoint {e} lost"
        else:
            assert e not in endpoints or endpoints[e]["state"] in ("deleting", "deleted"), f"deleted {e} came back"
    # Creates whose answer was lost: adopt what exists.
    ledger.vpcs.update({v: dict(x["tags"]) for v, x in vpcs.items() if v not in ledger.vpcs and x["owner"] == CONSUMER})
    ledger.groups.update({g: x["vpc_id"] for g, x in groups.items() if g not in ledger.groups and x["name"] != "default"})
    ledger.endpoints.update({
        e: ("live" if x["state"] not in ("deleting", "deleted") else "deleted")
        for e, x in endpoints.items() if e not in ledger.endpoints
    })
    ledger.uncertain.clear()

    # Consistency: every endpoint ENI belongs to a live endpoint that lists it.
    listed = {n for x in endpoints.values() for n in x["network_interface_ids"]}
    for n, eni in enis.items():
        if eni["interface_type"] == "vpc_endpoint":
            assert n in listed, f"ENI {n} without an endpoint"
    for e, x in endpoints.items():
        for n in x["network_interface_ids"]:
            assert n in enis, f"endpoint {e} lists a missing ENI {n}"
    # Listeners only for available endpoints.
    status = d.get("/_emulator/status")
    for listener in status["dataplane"]["listeners"]:
        e = endpoints.get(listener["vpc_endpoint_id"])
        assert e and e["state"] == "available", f"listener without an available endpoint: {listener}"
    # DNS only for endpoints with ENIs: a few names each time.
    dig = Dig(dig_port)
    sample = rng.sample(sorted(endpoints), min(3, len(endpoints)))
    for e in sample:
        x = endpoints[e]
        name = x["dns_entries"][0]["dns_name"] if x["dns_entries"] else None
        if not name:
            continue
        got = dig.a(name)
        if x["state"] == "available":
            assert len(got) == len(x["network_interface_ids"]) == 2, (e, x["state"], got)
        if got:
            assert x["network_interface_ids"] and all(n in enis for n in x["network_interface_ids"]), (e, got)
        if x["state"] == "deleted":
            assert got == [], (e, x["state"], got)


def test_crash_mutations_under_random_kills():
    rng = random.Random(int(os.environ.get("CRASH_SEED", "7")))
    d = Durable()
    try:
        p = d.client("ec2", PROVIDER)
        elb = d.client("elbv2", PROVIDER)
        pvpc = p.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        psubnets = [
            p.create_subnet(VpcId=pvpc, CidrBlock=f"10.0.{n}.0/20", AvailabilityZone=z)["Subnet"]["SubnetId"]
            for n, z in ((0, "ap-northeast-1a"), (128, "ap-northeast-1c"))
        ]
        lb = elb.create_load_balancer(Name="crash", Subnets=psubnets, Scheme="internal", Type="network")
        svc = p.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[lb["LoadBalancers"][0]["LoadBalancerArn"]], AcceptanceRequired=False
        )["ServiceConfiguration"]
        p.modify_vpc_endpoint_service_permissions(
            ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
        )
        c = d.client("ec2", CONSUMER)
        cvpc = c.create_vpc(CidrBlock="10.24.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            c.create_subnet(VpcId=cvpc, CidrBlock=f"10.24.{n}.0/20", AvailabilityZone=z)["Subnet"]["SubnetId"]
            for n, z in ((16, "ap-northeast-1a"), (112, "ap-northeast-1c"))
        ]
        group = c.create_security_group(GroupName="endpoints", Description="e", VpcId=cvpc)["GroupId"]
        fixed = {"vpc": cvpc, "subnets": subnets, "group": group, "service": svc["ServiceName"]}
        ledger = Ledger()
        ledger.vpcs[cvpc] = {}
        ledger.groups[group] = cvpc

        done = 0
        per_epoch = CRASH_MUTATIONS // CRASH_KILLS
        started = time.monotonic()
        while done < CRASH_MUTATIONS or d.kills < CRASH_KILLS:
            kill_at = done + rng.randrange(per_epoch // 4, per_epoch * 7 // 4 + 1)
            fixed["ec2"] = d.client("ec2", CONSUMER)
            pid = d.emu.proc.pid
            killer = None
            while True:
                if done == kill_at and killer is None:
                    # Kill while requests are in flight, a moment from now.
                    delay = rng.uniform(0, 0.004)
                    killer = threading.Timer(delay, lambda: os.killpg(pid, signal.SIGKILL))
                    killer.start()
                if not crash_step(rng, d, ledger, fixed):
                    break
                done += 1
            killer.join()
            d.restart()
            check_world(d, ledger, d.emu.dns_port, rng)
        elapsed = time.monotonic() - started
        live = sum(1 for t in ledger.vpcs.values() if t is not None)
        print(f"crash test: {done} mutations, {d.kills} SIGKILLs, all acknowledged changes present, "
              f"{live} vpcs live, {elapsed:.1f} s")
        assert d.kills >= CRASH_KILLS and done >= CRASH_MUTATIONS
    finally:
        d.close()
