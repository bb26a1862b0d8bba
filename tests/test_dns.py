"""DNS with the real dig against the emulator: public vpce names, private
DNS names in the consumer VPC's resolver only, records following the
endpoint's life, NXDOMAIN vs NODATA, TCP, and the verification of a custom
private DNS name end to end with the AWS CLI."""

import ipaddress
import json
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import CONSUMER, PROVIDER, Aws, Emulator, stop_emulator, wait_for


pytestmark = pytest.mark.skipif(shutil.which("dig") is None, reason="dig (bind9-dnsutils) is not installed")


@pytest.fixture(scope="module")
def emu():
    handle = Emulator()
    assert handle.dns_port, "the emulator printed no DNS readiness line"
    yield handle.url, handle.dns_port
    stop_emulator(handle)


class Dig:
    def __init__(self, port):
        self.port = port

    def run(self, name, qtype="A", server="127.0.0.1", tcp=False):
        args = ["dig", "+norec", "+time=2", "+tries=1", f"@{server}", "-p", str(self.port), name, qtype]
        if tcp:
            args.insert(1, "+tcp")
        out = subprocess.run(args, capture_output=True, text=True, timeout=20).stdout
        status = re.search(r"status: (\w+)", out)
        flags = re.search(r";; flags: ([a-z ]+);", out)
        answers = []
        section = None
        for line in out.splitlines():
            if line.startswith(";; ") and line.endswith("SECTION:"):
                section = line
                continue
            if not line or line.startswith(";"):
                continue
            owner, ttl, _cls, rtype, data = line.split(None, 4)
            answers.append((section, owner, int(ttl), rtype, data))
        return {
            "status": status.group(1) if status else None,
            "flags": flags.group(1).split() if flags else [],
            "answer": [a[1:] for a in answers if a[0] == ";; ANSWER SECTION:"],
            "authority": [a[1:] for a in answers if a[0] == ";; AUTHORITY SECTION:"],
        }

    def a(self, name, **kw):
        return sorted(r[3] for r in self.run(name, **kw)["answer"] if r[2] == "A")


def status(url):
    with urllib.request.urlopen(f"{url}/_emulator/status", timeout=5) as r:
        return json.load(r)


def resolver_of(url, vpc_id):
    for region in status(url)["regions"]:
        for v in region["vpcs"]:
            if v["vpc_id"] == vpc_id:
                # The resolver is the VPC base + 2, at that offset in its host block.
                return str(ipaddress.ip_network(v["host_block"]).network_address + 2)
    raise AssertionError(f"{vpc_id} not in status")


def host_addrs(consumer, endpoint_id, vpc_block):
    enis = consumer(
        "ec2",
        "describe-network-interfaces",
        "--filters",
        f"Name=description,Values=VPC Endpoint Interface {endpoint_id}",
    )["NetworkInterfaces"]
    k = vpc_block.split(".")[1]
    out = {}
    for n in enis:
        _, _, x, y = n["PrivateIpAddress"].split(".")
        # The consumer VPCs here are /16s, so the offset is the last two octets.
        out[n["AvailabilityZone"]] = f"127.{k}.{x}.{y}"
    return out


def consumer_vpc(consumer, cidr, zones=("ap-northeast-1a", "ap-northeast-1c")):
    vpc = consumer("ec2", "create-vpc", "--cidr-block", cidr)["Vpc"]["VpcId"]
    consumer("ec2", "modify-vpc-attribute", "--vpc-id", vpc, "--enable-dns-hostnames", '{"Value":true}')
    base = cidr.split(".")[:2]
    subnets = [
        consumer(
            "ec2",
            "create-subnet",
            "--vpc-id",
            vpc,
            "--cidr-block",
            f"{base[0]}.{base[1]}.{16 * (i + 1)}.0/20",
            "--availability-zone",
            z,
        )["Subnet"]["SubnetId"]
        for i, z in enumerate(zones)
    ]
    return vpc, subnets


def provider_service(provider, private_dns_name=None):
    vpc = provider("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        provider("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", cidr, "--availability-zone", z)["Subnet"][
            "SubnetId"
        ]
        for cidr, z in (("10.0.0.0/20", "ap-northeast-1a"), ("10.0.128.0/20", "ap-northeast-1c"))
    ]
    lb = provider(
        "elbv2", "create-load-balancer", "--name", f"web{time.monotonic_ns() % 100000}", "--type", "network",
        "--scheme", "internal", "--subnets", *subnets,
    )["LoadBalancers"][0]["LoadBalancerArn"]
    wait_for(
        lambda: provider("elbv2", "describe-load-balancers", "--load-balancer-arns", lb)["LoadBalancers"][0]["State"][
            "Code"
        ]
        == "active",
        "load balancer active",
    )
    args = ["--network-load-balancer-arns", lb, "--acceptance-required"]
    if private_dns_name:
        args += ["--private-dns-name", private_dns_name]
    svc = provider("ec2", "create-vpc-endpoint-service-configuration", *args)["ServiceConfiguration"]
    provider(
        "ec2", "modify-vpc-endpoint-service-permissions", "--service-id", svc["ServiceId"],
        "--add-allowed-principals", f"arn:aws:iam::{CONSUMER}:root",
    )
    return svc


def test_aws_service_names_public_private_tcp_and_delete(emu):
    url, port = emu
    dig = Dig(port)
    consumer = Aws(url, CONSUMER)
    vpc, subnets = consumer_vpc(consumer, "10.24.0.0/16")
    other, _ = consumer_vpc(consumer, "10.30.0.0/16")
    ep = consumer(
        "ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", vpc,
        "--service-name", "com.amazonaws.ap-northeast-1.ec2", "--subnet-ids", *subnets,
    )["VpcEndpoint"]
    ep_id = ep["VpcEndpointId"]
    names = [d["DnsName"] for d in ep["DnsEntries"]]
    regional, zonal = names[0], names[1:3]
    private = "ec2.ap-northeast-1.amazonaws.com"
    assert names[3] == private
    resolver = resolver_of(url, vpc)
    other_resolver = resolver_of(url, other)
    addrs = host_addrs(consumer, ep_id, resolver)

    # Regional: every ENI's host address, TTL 60, authoritative.
    r = wait_for(lambda: (x := dig.run(regional)) and x["answer"] and x, "regional name")
    assert r["status"] == "NOERROR" and "aa" in r["flags"]
    assert sorted(a[3] for a in r["answer"]) == sorted(addrs.values())
    assert all(a[1] == 60 for a in r["answer"])
    # Zonal: that zone's only.
    for name in zonal:
        zone = next(z for z in addrs if name.split(".")[0].endswith(z))
        assert dig.a(name) == [addrs[zone]]
    # Over TCP too, and from the VPC's resolver.
    assert dig.a(regional, tcp=True) == sorted(addrs.values())
    assert dig.a(regional, server=resolver) == sorted(addrs.values())

    # The private name: inside the VPC only, once available.
    wait_for(lambda: dig.a(private, server=resolver) == sorted(addrs.values()), "private name in the vpc")
    assert dig.a(private, server=resolver, tcp=True) == sorted(addrs.values())
    assert dig.run(private, server=other_resolver)["status"] == "NXDOMAIN"
    assert dig.run(private)["status"] == "NXDOMAIN"

    # NODATA for AAAA (IPv4-only endpoint) with the SOA; NXDOMAIN for a missing name.
    r = dig.run(regional, "AAAA")
    assert r["status"] == "NOERROR" and r["answer"] == []
    assert r["authority"] and r["authority"][0][2] == "SOA"
    r = dig.run("vpce-0000-none." + regional.split(".", 1)[1])
    assert r["status"] == "NXDOMAIN" and r["authority"][0][2] == "SOA"

    consumer("ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", ep_id)
    wait_for(lambda: dig.run(regional)["status"] == "NXDOMAIN", "regional name gone after delete")
    assert dig.run(private, server=resolver)["status"] == "NXDOMAIN"
    assert all(dig.run(z)["status"] == "NXDOMAIN" for z in zonal)


def test_pending_acceptance_names_and_reject(emu):
    url, port = emu
    dig = Dig(port)
    provider, consumer = Aws(url, PROVIDER), Aws(url, CONSUMER)
    svc = provider_service(provider)
    vpc, subnets = consumer_vpc(consumer, "10.40.0.0/16")
    ep = consumer(
        "ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", vpc,
        "--service-name", svc["ServiceName"], "--subnet-ids", *subnets,
    )["VpcEndpoint"]
    assert ep["State"] == "pendingAcceptance"
    regional = ep["DnsEntries"][0]["DnsName"]
    addrs = host_addrs(consumer, ep["VpcEndpointId"], resolver_of(url, vpc))
    # The names exist from creation, as in AWS; traffic waits for acceptance.
    wait_for(lambda: dig.a(regional) == sorted(addrs.values()), "names while pendingAcceptance")
    provider(
        "ec2", "reject-vpc-endpoint-connections", "--service-id", svc["ServiceId"],
        "--vpc-endpoint-ids", ep["VpcEndpointId"],
    )
    wait_for(lambda: dig.run(regional)["status"] == "NXDOMAIN", "names gone after reject")


def test_unknown_names_and_malformed_queries(emu):
    url, port = emu
    dig = Dig(port)
    r = dig.run("www.example.org")
    assert r["status"] == "NXDOMAIN" and "aa" not in r["flags"]
    r = dig.run("vpce.amazonaws.com", "SOA")
    assert r["status"] == "NOERROR" and r["answer"][0][2] == "SOA"
    # Garbage on the socket gets no crash: the server keeps answering.
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for junk in (b"", b"\x00", b"\xff" * 11, b"\x12\x34" + b"\xff" * 40):
            s.sendto(junk, ("127.0.0.1", port))
    assert dig.run("vpce.amazonaws.com", "SOA")["status"] == "NOERROR"


def test_custom_private_dns_name_verified_through_dns(emu):
    url, port = emu
    dig = Dig(port)
    provider, consumer = Aws(url, PROVIDER), Aws(url, CONSUMER)
    svc = provider_service(provider, private_dns_name="api.example.com")
    sid = svc["ServiceId"]
    conf = provider(
        "ec2", "describe-vpc-endpoint-service-configurations", "--service-ids", sid
    )["ServiceConfigurations"][0]["PrivateDnsNameConfiguration"]
    assert conf["State"] == "pendingVerification" and conf["Type"] == "TXT"
    record = f"{conf['Name']}.example.com"
    assert dig.run(record, "TXT")["answer"] == []

    # Verification before the record is published fails.
    provider("ec2", "start-vpc-endpoint-service-private-dns-verification", "--service-id", sid)
    conf = provider("ec2", "describe-vpc-endpoint-service-configurations", "--service-ids", sid)[
        "ServiceConfigurations"
    ][0]["PrivateDnsNameConfiguration"]
    assert conf["State"] == "failed"

    # The provider publishes the challenge in its public zone: dig sees it.
    body = json.dumps({"name": record, "value": conf["Value"]}).encode()
    req = urllib.request.Request(f"{url}/_emulator/public-dns/txt", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
    txt = wait_for(lambda: dig.run(record, "TXT")["answer"], "TXT record served")
    assert txt[0][2] == "TXT" and txt[0][3] == f'"{conf["Value"]}"' and txt[0][1] == 60

    provider("ec2", "start-vpc-endpoint-service-private-dns-verification", "--service-id", sid)
    conf = provider("ec2", "describe-vpc-endpoint-service-configurations", "--service-ids", sid)[
        "ServiceConfigurations"
    ][0]["PrivateDnsNameConfiguration"]
    assert conf["State"] == "verified"

    # The consumer's endpoint with private DNS: the custom name answers in its VPC.
    vpc, subnets = consumer_vpc(consumer, "10.50.0.0/16")
    other, _ = consumer_vpc(consumer, "10.51.0.0/16")
    ep = consumer(
        "ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", vpc,
        "--service-name", svc["ServiceName"], "--subnet-ids", *subnets, "--private-dns-enabled",
    )["VpcEndpoint"]
    resolver = resolver_of(url, vpc)
    addrs = sorted(host_addrs(consumer, ep["VpcEndpointId"], resolver).values())
    assert dig.run("api.example.com", server=resolver)["answer"] == [], "not before acceptance"
    provider(
        "ec2", "accept-vpc-endpoint-connections", "--service-id", sid, "--vpc-endpoint-ids", ep["VpcEndpointId"]
    )
    wait_for(
        lambda: consumer("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"])["VpcEndpoints"][0][
            "State"
        ]
        == "available",
        "endpoint available",
    )
    wait_for(lambda: dig.a("api.example.com", server=resolver) == addrs, "custom private name in the vpc")
    assert dig.run("api.example.com", server=resolver_of(url, other))["answer"] == []
    assert dig.run("api.example.com")["answer"] == []
