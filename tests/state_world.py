"""The world an emulator holds, read the way its users read it: every
describe call of EC2 and ELBv2 for each account and region, DNS answers in
the public view and at each VPC's resolver, and what the admin API serves
(published TXT records, the local CA, where each VPC lives on the host).

Shared by tests/fixtures/make_state.py, which records this for state
directories written by a release, and tests/test_upgrade.py, which loads
those directories with the release under test and compares.

What is normalized, and why:
- request ids and pagination tokens are dropped (new on every call);
- target health (State, Reason, Description) is dropped: the health checker
  measures it again after every start, it is never restored;
- listings are sorted by their resource id, and tag and attribute lists by
  key: AWS gives these no order, so a release may list them differently;
- timestamps are kept, as ISO 8601 strings.
Everything else (ids, ARNs, DNS names, addresses, states, attributes, tags,
permissions, TTLs) must be identical. Comparing a later release with an
earlier one's record, fields of AWS answers the earlier release never sent
are left out first (see as_shown)."""

import ipaddress
import datetime
import difflib
import json
import os
import random
import signal
import socket
import struct
import time
import urllib.request

import boto3
import botocore.exceptions
from botocore.config import Config

from conftest import CONSUMER, PROVIDER, STRANGER, Emulator

REGIONS = ("ap-northeast-1", "us-east-1")
ACCOUNTS = (PROVIDER, CONSUMER, STRANGER)
# Where every public endpoint name lives; an endpoint's DNS entries outside
# it are private DNS names (answered only inside the endpoint's VPC).
PUBLIC_ZONE_SUFFIX = ".vpce.amazonaws.com"


# ---------------------------------------------------------------- processes


class Node:
    """An emulator on a state directory, started with its defaults (API and
    DNS on free loopback ports), that can be ended with SIGTERM or SIGKILL."""

    def __init__(self, state_dir, extra_args=()):
        self.dir = str(state_dir)
        self.emu = Emulator(["--state-dir", self.dir, *extra_args])
        self.url = self.emu.url
        self.dns_port = self.emu.dns_port
        self.log = ""

    def client(self, service, account, region):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=account,
            aws_secret_access_key="any-secret",
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30),
        )

    def get(self, path):
        return self.emu.get(path)

    def get_text(self, path):
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as r:
            return r.read().decode()

    def _ended(self):
        self.emu.drain.join(timeout=5)
        self.log = self.emu.log_text()
        self.emu.log.close()
        os.unlink(self.emu.log.name)
        assert "panicked" not in self.log, self.log[-4000:]
        return self.log

    def kill(self):
        """SIGKILL: no shutdown, no snapshot; the journal is what is left."""
        proc = self.emu.proc
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return self._ended()

    def term(self):
        """SIGTERM: a clean shutdown, which folds the journal into the snapshot."""
        proc = self.emu.proc
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=30)
        log = self._ended()
        assert code == 0, f"exit {code} on SIGTERM; log:\n{log[-4000:]}"
        return log

    def running(self):
        return self.emu.proc.poll() is None


# ------------------------------------------------------------ normalization


def _plain(v):
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items() if k not in ("ResponseMetadata", "NextToken", "NextMarker")}
    if isinstance(v, list):
        out = [_plain(x) for x in v]
        # Tag and attribute lists are sets keyed by Key.
        if out and all(isinstance(x, dict) and set(x) <= {"Key", "Value"} and "Key" in x for x in out):
            out.sort(key=lambda x: x["Key"])
        return out
    if isinstance(v, bytes):
        return v.decode()
    return v


def _sorted(items, *keys):
    return sorted(items, key=lambda x: tuple(str(x.get(k, "")) for k in keys))


# Listing key -> the fields that identify one item.
LISTING_KEYS = {
    "Vpcs": ("VpcId",),
    "Subnets": ("SubnetId",),
    "SecurityGroups": ("GroupId",),
    "NetworkInterfaces": ("NetworkInterfaceId",),
    "Tags": ("ResourceId", "Key"),
    "AvailabilityZones": ("ZoneName",),
    "Regions": ("RegionName",),
    "VpcEndpoints": ("VpcEndpointId",),
    "ServiceConfigurations": ("ServiceId",),
    "AllowedPrincipals": ("ServicePermissionId",),
    "VpcEndpointConnections": ("ServiceId", "VpcEndpointId"),
    "ServiceDetails": ("ServiceName",),
    "LoadBalancers": ("LoadBalancerArn",),
    "TargetGroups": ("TargetGroupArn",),
    "Listeners": ("ListenerArn",),
    "TagDescriptions": ("ResourceArn",),
}


def _normal(result):
    """A describe answer in comparable form: top-level listings sorted by id."""
    out = _plain(result)
    for key, ids in LISTING_KEYS.items():
        if isinstance(out.get(key), list) and (key != "Tags" or all("ResourceId" in x for x in out[key])):
            out[key] = _sorted(out[key], *ids)
    if isinstance(out.get("ServiceNames"), list):
        out["ServiceNames"] = sorted(out["ServiceNames"])
    return out


def _error(e):
    return {"error": e.response.get("Error", {}).get("Code", "?")}


def _call(client, op, **kw):
    """Every page of `op`, as one normalized answer (or the error code)."""
    try:
        if client.can_paginate(op):
            result = client.get_paginator(op).paginate(**kw).build_full_result()
        else:
            result = getattr(client, op)(**kw)
    except botocore.exceptions.ClientError as e:
        return _error(e)
    return _normal(result)


# ------------------------------------------------------------------- the API


def describe_account(node, account, region):
    """Every describe answer of one account in one region."""
    ec2 = node.client("ec2", account, region)
    elb = node.client("elbv2", account, region)
    w = {}
    w["ec2:DescribeVpcs"] = _call(ec2, "describe_vpcs")
    vpc_ids = [v["VpcId"] for v in w["ec2:DescribeVpcs"].get("Vpcs", [])]
    w["ec2:DescribeVpcAttribute"] = {
        v: {
            a: _call(ec2, "describe_vpc_attribute", VpcId=v, Attribute=a)
            for a in ("enableDnsSupport", "enableDnsHostnames", "enableNetworkAddressUsageMetrics")
        }
        for v in vpc_ids
    }
    w["ec2:DescribeSubnets"] = _call(ec2, "describe_subnets")
    w["ec2:DescribeSecurityGroups"] = _call(ec2, "describe_security_groups")
    w["ec2:DescribeNetworkInterfaces"] = _call(ec2, "describe_network_interfaces")
    w["ec2:DescribeTags"] = _call(ec2, "describe_tags")
    w["ec2:DescribeAvailabilityZones"] = _call(ec2, "describe_availability_zones")
    w["ec2:DescribeVpcEndpoints"] = _call(ec2, "describe_vpc_endpoints")
    w["ec2:DescribeVpcEndpointServices"] = _call(ec2, "describe_vpc_endpoint_services")
    w["ec2:DescribeVpcEndpointServiceConfigurations"] = _call(ec2, "describe_vpc_endpoint_service_configurations")
    service_ids = [
        s["ServiceId"] for s in w["ec2:DescribeVpcEndpointServiceConfigurations"].get("ServiceConfigurations", [])
    ]
    w["ec2:DescribeVpcEndpointServicePermissions"] = {
        s: _call(ec2, "describe_vpc_endpoint_service_permissions", ServiceId=s) for s in service_ids
    }
    w["ec2:DescribeVpcEndpointConnections"] = _call(ec2, "describe_vpc_endpoint_connections")

    w["elbv2:DescribeLoadBalancers"] = _call(elb, "describe_load_balancers")
    lbs = [x["LoadBalancerArn"] for x in w["elbv2:DescribeLoadBalancers"].get("LoadBalancers", [])]
    w["elbv2:DescribeLoadBalancerAttributes"] = {
        a: _call(elb, "describe_load_balancer_attributes", LoadBalancerArn=a) for a in lbs
    }
    w["elbv2:DescribeListeners"] = {a: _call(elb, "describe_listeners", LoadBalancerArn=a) for a in lbs}
    listeners = [x["ListenerArn"] for v in w["elbv2:DescribeListeners"].values() for x in v.get("Listeners", [])]
    w["elbv2:DescribeTargetGroups"] = _call(elb, "describe_target_groups")
    tgs = [x["TargetGroupArn"] for x in w["elbv2:DescribeTargetGroups"].get("TargetGroups", [])]
    w["elbv2:DescribeTargetGroupAttributes"] = {
        a: _call(elb, "describe_target_group_attributes", TargetGroupArn=a) for a in tgs
    }
    health = {}
    for a in tgs:
        h = _call(elb, "describe_target_health", TargetGroupArn=a)
        if "TargetHealthDescriptions" in h:
            # Health is measured again after a start, never restored.
            for d in h["TargetHealthDescriptions"]:
                d.pop("TargetHealth", None)
            h["TargetHealthDescriptions"] = sorted(
                h["TargetHealthDescriptions"], key=lambda d: (d["Target"]["Id"], d["Target"].get("Port", 0))
            )
        health[a] = h
    w["elbv2:DescribeTargetHealth"] = health
    arns = lbs + tgs + listeners
    tags = []
    for i in range(0, len(arns), 20):
        r = _call(elb, "describe_tags", ResourceArns=arns[i : i + 20])
        tags.extend(r.get("TagDescriptions", [r]))
    w["elbv2:DescribeTags"] = _sorted(tags, "ResourceArn")
    return w


def describe_region(node, region):
    """What is the same for every account: the region list."""
    return {"ec2:DescribeRegions": _call(node.client("ec2", PROVIDER, region), "describe_regions")}


def describe_api(node):
    world = {}
    for region in REGIONS:
        world[region] = describe_region(node, region)
        for account in ACCOUNTS:
            world[f"{account}/{region}"] = describe_account(node, account, region)
    return world


def endpoints_of(api):
    """(account/region key, endpoint) of every endpoint in a described world."""
    for key, w in api.items():
        if "/" in key:
            for e in w["ec2:DescribeVpcEndpoints"].get("VpcEndpoints", []):
                yield key, e


# ---------------------------------------------------------------------- DNS

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "TXT": 16, "AAAA": 28}


def _read_name(msg, i):
    labels = []
    jumped, end = False, None
    for _ in range(128):
        n = msg[i]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = i + 2
            i = ((n & 0x3F) << 8) | msg[i + 1]
            jumped = True
            continue
        if n == 0:
            i += 1
            break
        labels.append(msg[i + 1 : i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    return ".".join(labels).lower() + ".", (end if jumped else i)


def dns_query(server, port, name, qtype="A", timeout=1.0, tries=3):
    """One question over UDP; returns {"rcode", "answer": sorted [name, ttl,
    type, data]}, or {"rcode": "TIMEOUT"} when nothing answers."""
    qid = random.randrange(65536)
    question = b"".join(struct.pack("B", len(l)) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    packet = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + question + struct.pack(">HH", QTYPES[qtype], 1)
    for _ in range(tries):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            try:
                s.sendto(packet, (server, port))
                while True:
                    msg, _ = s.recvfrom(65535)
                    if len(msg) >= 12 and struct.unpack(">H", msg[:2])[0] == qid:
                        break
            except (socket.timeout, ConnectionRefusedError):
                continue
        _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
        i = 12
        for _ in range(qd):
            _, i = _read_name(msg, i)
            i += 4
        answers = []
        for _ in range(an):
            owner, i = _read_name(msg, i)
            rtype, _, ttl, length = struct.unpack(">HHIH", msg[i : i + 10])
            i += 10
            rdata = msg[i : i + length]
            i += length
            if rtype == 1:
                data = socket.inet_ntoa(rdata)
            elif rtype == 16:
                parts, j = [], 0
                while j < len(rdata):
                    parts.append(rdata[j + 1 : j + 1 + rdata[j]].decode("utf-8", "replace"))
                    j += 1 + rdata[j]
                data = "".join(parts)
            elif rtype == 5:
                data = _read_name(msg, i - length)[0]
            else:
                data = rdata.hex()
            kind = {v: k for k, v in QTYPES.items()}.get(rtype, str(rtype))
            answers.append([owner, ttl, kind, data])
        return {"rcode": RCODES.get(flags & 0xF, str(flags & 0xF)), "answer": sorted(answers)}
    return {"rcode": "TIMEOUT"}


def vpc_resolvers(node):
    """vpc id -> (host address, port) of its resolver, from the status document."""
    status = node.get("/_emulator/status")
    port = (status.get("dns") or {}).get("vpc_resolver_port", node.dns_port)
    out = {}
    for region in status["regions"]:
        for v in region["vpcs"]:
            # Loopback mode: the resolver is the VPC base + 2, at that offset
            # in its host block (127.k.0.2 for a /16).
            out[v["vpc_id"]] = (str(ipaddress.ip_network(v["host_block"]).network_address + 2), port)
    return out


def dns_questions(api, extra_names=(), txt_names=()):
    """What to ask, from a described world: every endpoint DNS name in the
    public view; private DNS names (entries outside the public vpce zones)
    also at every VPC's resolver, where only their own VPC answers them."""
    public, private = set(extra_names), set()
    vpcs = set()
    for key, w in api.items():
        if "/" in key:
            vpcs.update(v["VpcId"] for v in w["ec2:DescribeVpcs"].get("Vpcs", []))
    for _, e in endpoints_of(api):
        for d in e.get("DnsEntries", []):
            name = d["DnsName"].rstrip(".").lower()
            public.add(name)
            if not name.endswith(PUBLIC_ZONE_SUFFIX):
                private.add(name)
    qs = [{"view": "public", "name": n, "type": "A"} for n in sorted(public)]
    qs += [{"view": "public", "name": n, "type": "TXT"} for n in sorted(set(txt_names))]
    qs += [{"view": vpc, "name": n, "type": "A"} for vpc in sorted(vpcs) for n in sorted(private)]
    return qs


def ask(node, questions):
    resolvers = vpc_resolvers(node)
    out = []
    for q in questions:
        if q["view"] == "public":
            server = ("127.0.0.1", node.dns_port)
        else:
            server = resolvers.get(q["view"])
        got = dns_query(*server, q["name"], q["type"]) if server else {"rcode": "NO-RESOLVER"}
        out.append({**q, **got})
    return out


# -------------------------------------------------------------------- admin


def admin(node):
    status = node.get("/_emulator/status")
    return {
        "public_txt": node.get("/_emulator/public-dns/txt"),
        "ca_pem": node.get_text("/_emulator/ca.pem"),
        "vpcs": {
            v["vpc_id"]: {
                k: v[k]
                for k in ("owner", "cidr", "resolver", "host_block", "enable_dns_support", "enable_dns_hostnames")
            }
            for region in status["regions"]
            for v in region["vpcs"]
        },
    }


def capture(node, questions, want_dns=None):
    """The world as users see it: every describe answer, the DNS answers to
    `questions` once the DNS server has followed (see settle_dns), and the
    admin API's part."""
    api = describe_api(node)
    dns = settle_dns(node, questions, want=want_dns)
    return {"api": api, "dns": dns, "admin": admin(node)}


def settle_dns(node, questions, want=None, timeout=20.0):
    """DNS answers once the DNS server has followed the world: equal to
    `want` when given, else the same twice in a row with no timeouts. The
    DNS server follows the model asynchronously and opens VPC resolvers as
    it goes, so this polls with a deadline instead of sleeping."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        got = ask(node, questions)
        complete = all(a["rcode"] not in ("TIMEOUT", "NO-RESOLVER") for a in got)
        if want is not None and got == want:
            return got
        if want is None and complete and got == last:
            return got
        if time.monotonic() > deadline:
            return got
        last = got
        time.sleep(0.1)


# ---------------------------------------------------------------- the model


def waiting_on_time(node):
    """What the API shows that still moves on with time: endpoints pending,
    deleting or deleted (forgotten after a retention), services pending or
    deleting, NLBs provisioning, targets draining. A world with none of
    these looks the same whenever it is loaded."""
    found = []
    for region in REGIONS:
        for account in ACCOUNTS:
            ec2, elb = node.client("ec2", account, region), node.client("elbv2", account, region)
            for e in _call(ec2, "describe_vpc_endpoints").get("VpcEndpoints", []):
                if e["State"] in ("pending", "deleting", "deleted"):
                    found.append(f"{e['VpcEndpointId']} {e['State']}")
            for x in _call(ec2, "describe_vpc_endpoint_service_configurations").get("ServiceConfigurations", []):
                if x["ServiceState"] in ("Pending", "Deleting"):
                    found.append(f"{x['ServiceId']} {x['ServiceState']}")
            for lb in _call(elb, "describe_load_balancers").get("LoadBalancers", []):
                if lb["State"]["Code"] == "provisioning":
                    found.append(f"{lb['LoadBalancerArn']} provisioning")
            for tg in _call(elb, "describe_target_groups").get("TargetGroups", []):
                h = _call(elb, "describe_target_health", TargetGroupArn=tg["TargetGroupArn"])
                for d in h.get("TargetHealthDescriptions", []):
                    if d["TargetHealth"]["State"] == "draining":
                        found.append(f"{tg['TargetGroupArn']} {d['Target']['Id']}:{d['Target'].get('Port')} draining")
    return found


def transitional(dump):
    """What in an admin dump (GET /_emulator/state) still waits on time:
    transitions (pending, provisioning, deleting, deleted retention) and
    draining targets, in the dump format of d8452a2 (the generator checks
    it besides waiting_on_time)."""
    found = []

    def walk(v, path):
        if isinstance(v, dict):
            for k, x in v.items():
                if k in ("transition", "draining_until") and x is not None:
                    found.append(f"{path}/{k}")
                else:
                    walk(x, f"{path}/{k}")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, f"{path}/{i}")

    walk(dump, "")
    return found


# Answers whose items are keyed by resource id in this document (one
# answer per VPC, service, load balancer or target group): how many levels
# of ids stand between the operation and AWS's answer.
ID_LEVELS = {
    "ec2:DescribeVpcAttribute": 2,
    "ec2:DescribeVpcEndpointServicePermissions": 1,
    "elbv2:DescribeLoadBalancerAttributes": 1,
    "elbv2:DescribeListeners": 1,
    "elbv2:DescribeTargetGroupAttributes": 1,
    "elbv2:DescribeTargetHealth": 1,
}


def as_shown(expected, got):
    """`got` without the fields of AWS answers that `expected` never had.

    A later release may answer with fields an earlier one did not have (AWS
    keeps adding them); an old expected file, never edited, cannot list
    them, nor answers of actions described only by a later version of this
    module. Everything the earlier release showed must still be there and be
    the same, and lists must have the same items: only keys of AWS answers
    that the earlier release did not send at all are left out. Maps keyed
    by resource ids, and the DNS and admin parts, are kept whole."""

    def attributes(v):
        return isinstance(v, list) and all(isinstance(i, dict) and set(i) == {"Key", "Value"} for i in v)

    def project(e, g, inside):
        if isinstance(e, dict) and isinstance(g, dict):
            keys = [k for k in g if k in e] if inside else list(g)
            out = {}
            for k in keys:
                v = g[k]
                # An attribute AWS gained later (a Key an earlier release never
                # listed) is a field gained, not a different world.
                if inside and k == "Attributes" and attributes(e.get(k)) and attributes(v):
                    known = {i["Key"] for i in e[k]}
                    v = [i for i in v if i["Key"] in known]
                out[k] = project(e[k], v, inside) if k in e else v
            return out
        if isinstance(e, list) and isinstance(g, list) and len(e) == len(g):
            return [project(a, b, inside) for a, b in zip(e, g)]
        return g

    if not (isinstance(expected, dict) and isinstance(got, dict) and isinstance(got.get("api"), dict)):
        return got
    out = dict(got)
    api = {}
    # Only what the expected file has is compared: a later tests/state_world.py
    # may describe more (new actions), which the earlier release never showed.
    for key, ops in got["api"].items():
        e_ops = expected.get("api", {}).get(key)
        if not isinstance(ops, dict) or not isinstance(e_ops, dict):
            if e_ops is not None:
                api[key] = ops
            continue
        api[key] = {}
        for op, answer in ops.items():
            if op not in e_ops:
                continue
            e = e_ops[op]
            levels = ID_LEVELS.get(op, 0)

            def by_ids(e, g, level):
                if level == 0:
                    return project(e, g, True)
                if not (isinstance(e, dict) and isinstance(g, dict)):
                    return g
                return {k: by_ids(e[k], v, level - 1) if k in e else v for k, v in g.items()}

            if op == "ec2:DescribeVpcEndpointServices":
                answer = without_new_aws_services(e, answer)
            api[key][op] = by_ids(e, answer, levels)
    out["api"] = api
    return out


# Fields an earlier release answered where AWS answers otherwise, fixed in
# a later one: (action, key, what the earlier release sent, what AWS sends,
# DROP when AWS sends no such field). A fidelity fix, not a different world.
DROP = object()
CORRECTED = [
    # The endpoint owners pay unless the provider took the costs; AWS then
    # answers no PayerResponsibility.
    ("ec2:DescribeVpcEndpointServiceConfigurations", "PayerResponsibility", "ServiceOwner", DROP),
    ("ec2:DescribeVpcEndpointServices", "PayerResponsibility", "ServiceOwner", DROP),
    # AWS sends no empty tag list on connections and allowed principals.
    ("ec2:DescribeVpcEndpointConnections", "Tags", [], DROP),
    ("ec2:DescribeVpcEndpointServicePermissions", "Tags", [], DROP),
    # The policy AWS gives an interface endpoint given none has no Version
    # (releases that journal records keep the text they stored; releases
    # replayed from requests get AWS's).
    ("ec2:DescribeVpcEndpoints", "PolicyDocument",
     '{\n  "Version": "2008-10-17",\n  "Statement": [\n    {\n      "Effect": "Allow",\n      "Principal": "*",\n'
     '      "Action": "*",\n      "Resource": "*"\n    }\n  ]\n}',
     '{\n  "Statement": [\n    {\n      "Action": "*", \n      "Effect": "Allow", \n      "Principal": "*", \n'
     '      "Resource": "*"\n    }\n  ]\n}'),
]


def corrected(expected):
    """A world (as an earlier release showed it, or as this one does) with
    the fields of CORRECTED as AWS answers them: applied to both sides, either
    form compares equal."""
    if not (isinstance(expected, dict) and isinstance(expected.get("api"), dict)):
        return expected

    def fix(v, key, old, new):
        if isinstance(v, list):
            return [fix(i, key, old, new) for i in v]
        if not isinstance(v, dict):
            return v
        out = {}
        for k, x in v.items():
            if k == key and x == old:
                if new is not DROP:
                    out[k] = new
                continue
            out[k] = fix(x, key, old, new)
        return out

    api = {}
    for place, ops in expected["api"].items():
        if isinstance(ops, dict):
            ops = dict(ops)
            for op, key, old, new in CORRECTED:
                if op in ops:
                    ops[op] = fix(ops[op], key, old, new)
        api[place] = ops
    return {**expected, "api": api}


def without_new_aws_services(expected, got):
    """DescribeVpcEndpointServices without the AWS services (owner
    `amazon`) a later release added to its catalogue, such as the gateway
    services: AWS adds services, which changes nothing of a user's state.
    Every service the earlier release listed must still be listed the same."""
    if not (isinstance(expected, dict) and isinstance(got, dict)):
        return got
    known = {(d.get("ServiceName"), json.dumps(d.get("ServiceType"), sort_keys=True))
             for d in expected.get("ServiceDetails", [])}
    out = dict(got)
    if "ServiceDetails" in got:
        out["ServiceDetails"] = [
            d for d in got["ServiceDetails"]
            if d.get("Owner") != "amazon" or (d.get("ServiceName"), json.dumps(d.get("ServiceType"), sort_keys=True)) in known
        ]
    if "ServiceNames" in got:
        names = set(expected.get("ServiceNames", []))
        aws = {d.get("ServiceName") for d in got.get("ServiceDetails", []) if d.get("Owner") == "amazon"}
        out["ServiceNames"] = [n for n in got["ServiceNames"] if n in names or n not in aws]
    return out


def render(doc):
    return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False)


def diff(expected, got, limit=400):
    """A readable difference of two documents, '' when they are equal: one
    unified diff per differing part (e.g. api / 222222222222/ap-northeast-1
    / ec2:DescribeVpcEndpoints), headed by where that part is."""
    if expected == got:
        return ""
    missing = object()
    parts = []

    def walk(e, g, path):
        if e == g:
            return
        if len(path) < 3 and isinstance(e, dict) and isinstance(g, dict):
            for k in sorted(set(e) | set(g)):
                walk(e.get(k, missing), g.get(k, missing), path + [k])
            return
        a = [] if e is missing else render(e).splitlines()
        b = [] if g is missing else render(g).splitlines()
        parts.append(
            f"== {' / '.join(map(str, path)) or 'the whole document'}"
            + (" (missing here)" if g is missing else " (not expected)" if e is missing else "")
        )
        parts.extend(difflib.unified_diff(a, b, "expected", "loaded", lineterm="", n=3))

    walk(expected, got, [])
    more = f"\n... {len(parts) - limit} more lines" if len(parts) > limit else ""
    return "\n".join(parts[:limit]) + more
