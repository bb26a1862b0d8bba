"""Route 53 hosted zones answered by the VPC resolvers, with the real AWS
CLI, boto3, dig, curl and nginx on the loopback address plane: a private
zone's names resolve only in the VPCs associated with it (another
account's once authorized), an alias to an endpoint follows the endpoint
(a subnet added, the endpoint deleted), private zones shadow public names
and the closest zone wins, and `curl http://api.internal.example.com/`
reaches nginx through the endpoint."""

import json
import subprocess
import time

import pytest

from backends import BODY, Nginx, free_port, require
from conftest import CONSUMER, PROVIDER, REGION, STRANGER, Aws, Emulator, client_bin, stop_emulator, wait_for
from test_dns import Dig, resolver_of
from topology import build_consumer, build_provider

@pytest.fixture(scope="module")
def emu():
    require("dig", "bind9-dnsutils")
    handle = Emulator()
    assert handle.dns_port, "the emulator printed no DNS readiness line"
    yield handle
    stop_emulator(handle)


@pytest.fixture(scope="module")
def emulator(emu):
    # conftest's `client` and `aws` fixtures talk to this module's emulator.
    return emu.url


_refs = iter(range(1_000_000))


def ref():
    return f"private-zones-{time.time_ns()}-{next(_refs)}"


def private_zone(cli, name, vpc):
    made = cli("route53", "create-hosted-zone", "--name", name, "--caller-reference", ref(),
               "--vpc", f"VPCRegion={REGION},VPCId={vpc}", "--hosted-zone-config", "PrivateZone=true")
    return made["HostedZone"]["Id"].split("/")[-1]


def public_zone(cli, name):
    made = cli("route53", "create-hosted-zone", "--name", name, "--caller-reference", ref())
    return made["HostedZone"]["Id"].split("/")[-1]


def upsert(cli, zone, name, rtype, values=None, ttl=60, alias=None):
    record = {"Name": name, "Type": rtype}
    if alias:
        record["AliasTarget"] = {"HostedZoneId": alias[0], "DNSName": alias[1], "EvaluateTargetHealth": False}
    else:
        record["TTL"] = ttl
        record["ResourceRecords"] = [{"Value": v} for v in values]
    cli("route53", "change-resource-record-sets", "--hosted-zone-id", zone, "--change-batch",
        json.dumps({"Changes": [{"Action": "UPSERT", "ResourceRecordSet": record}]}))


def dns_vpc(cli, cidr):
    """A VPC with DNS hostnames on (AWS answers private zones only then)."""
    vpc = cli("ec2", "create-vpc", "--cidr-block", cidr)["Vpc"]["VpcId"]
    cli("ec2", "modify-vpc-attribute", "--vpc-id", vpc, "--enable-dns-hostnames", '{"Value":true}')
    return vpc


def privatelink(url, *args):
    return subprocess.run([client_bin(), "--endpoint-url", url, *args], capture_output=True, text=True, timeout=30)


def test_alias_to_an_endpoint_follows_it_and_curl_by_name_reaches_nginx(emu, client):
    dig = Dig(emu.dns_port)
    consumer = Aws(emu.url, CONSUMER)
    port, target_port = free_port(), free_port()
    provider = build_provider(client, acceptance_required=False, name="pz", listener_port=port,
                              target_port=target_port, targets=("10.70.128.142",), cidr_prefix="10.70")
    pblock = resolver_of(emu.url, provider.vpc).split(".")[1]
    nginx = Nginx([(f"127.{pblock}.128.142", target_port)])
    try:
        c = build_consumer(client, cidr_prefix="10.71")
        ec2 = client("ec2", CONSUMER)
        ec2.modify_vpc_attribute(VpcId=c.vpc, EnableDnsHostnames={"Value": True})
        ec2.authorize_security_group_ingress(GroupId=c.group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "10.71.0.0/16"}]}])
        other = dns_vpc(consumer, "10.72.0.0/16")
        ep = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=c.vpc, ServiceName=provider.service_name,
                                     SubnetIds=c.subnets[:1], SecurityGroupIds=[c.group])["VpcEndpoint"]
        ep_id = ep["VpcEndpointId"]
        wait_for(lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[ep_id])["VpcEndpoints"][0]["State"] == "available",
                 "endpoint available")

        zone = private_zone(consumer, "internal.example.com", c.vpc)
        entry = ep["DnsEntries"][0]
        upsert(consumer, zone, "api.internal.example.com", "A", alias=(entry["HostedZoneId"], entry["DnsName"]))
        upsert(consumer, zone, "db.internal.example.com", "A", ["10.71.20.69"], ttl=300)
        resolver, other_resolver = resolver_of(emu.url, c.vpc), resolver_of(emu.url, other)
        k = resolver.split(".")[1]

        # The alias answers the endpoint's ENI (host address), TTL 60 as the
        # vpce name has; a plain record its TTL, its VPC address as a host's.
        one = wait_for(lambda: dig.a("api.internal.example.com", server=resolver), "alias answers")
        assert one == dig.a(entry["DnsName"]) and len(one) == 1
        r = dig.run("api.internal.example.com", server=resolver)
        assert r["status"] == "NOERROR" and r["answer"][0][1] == 60 and "ra" in r["flags"]
        r = dig.run("db.internal.example.com", server=resolver)
        assert r["answer"] == [("db.internal.example.com.", 300, "A", f"127.{k}.20.69")]
        # Only in the associated VPC.
        assert dig.run("api.internal.example.com", server=other_resolver)["status"] == "NXDOMAIN"
        assert dig.run("api.internal.example.com")["status"] == "NXDOMAIN"

        # curl by name, resolved at the VPC resolver, from a host of the VPC.
        require("curl", "curl")
        url = f"http://api.internal.example.com:{port}/"
        source = f"127.{k}.16.99"
        fetch = lambda: subprocess.run(  # noqa: E731
            ["curl", "-s", "-S", "--max-time", "3", "--interface", source,
             "--resolve", f"api.internal.example.com:{port}:{one[0]}", url], capture_output=True, text=True)
        wait_for(lambda: fetch().stdout == BODY, "curl by name through the endpoint")
        # The client as a host inside the VPC: its dig and curl use the zone.
        d = privatelink(emu.url, "dig", "api.internal.example.com", "--vpc", c.vpc)
        assert d.returncode == 0, d.stderr
        assert f"api.internal.example.com.\t60\tIN\tA\t{one[0]}" in d.stdout
        assert privatelink(emu.url, "dig", "api.internal.example.com", "--vpc", other).returncode != 0
        d = privatelink(emu.url, "dig", "db.internal.example.com", "--vpc", c.vpc)
        assert f"db.internal.example.com.\t300\tIN\tA\t127.{k}.20.69" in d.stdout, d.stdout + d.stderr
        got = privatelink(emu.url, "curl", url, "--vpc", c.vpc)
        assert got.returncode == 0 and got.stdout == BODY, got.stderr

        # A subnet added: its ENI's address appears behind the alias.
        ec2.modify_vpc_endpoint(VpcEndpointId=ep_id, AddSubnetIds=c.subnets[1:])
        two = wait_for(lambda: (a := dig.a("api.internal.example.com", server=resolver)) and len(a) == 2 and a,
                       "second address behind the alias")
        assert set(one) < set(two)

        # The endpoint deleted: the alias answers nothing (NOERROR, SOA).
        ec2.delete_vpc_endpoints(VpcEndpointIds=[ep_id])
        wait_for(lambda: dig.run("api.internal.example.com", server=resolver)["answer"] == [], "alias empty")
        r = dig.run("api.internal.example.com", server=resolver)
        assert r["status"] == "NOERROR" and r["authority"][0][2] == "SOA"
        assert fetch().returncode != 0
    finally:
        nginx.stop()


def test_association_across_accounts_only_after_authorization(emu):
    dig = Dig(emu.dns_port)
    owner, stranger = Aws(emu.url, CONSUMER), Aws(emu.url, STRANGER)
    mine = dns_vpc(owner, "10.73.0.0/16")
    theirs = dns_vpc(stranger, "10.74.0.0/16")
    zone = private_zone(owner, "shared.example.com", mine)
    upsert(owner, zone, "svc.shared.example.com", "TXT", ['"hello"'])
    vpc_arg = f"VPCRegion={REGION},VPCId={theirs}"
    resolver = resolver_of(emu.url, theirs)
    wait_for(lambda: dig.run("svc.shared.example.com", "TXT", server=resolver_of(emu.url, mine))["answer"],
             "the owner's VPC answers")

    err = stranger.fails("route53", "associate-vpc-with-hosted-zone", "--hosted-zone-id", zone, "--vpc", vpc_arg)
    assert "NotAuthorizedException" in err
    assert dig.run("svc.shared.example.com", "TXT", server=resolver)["status"] == "NXDOMAIN"

    owner("route53", "create-vpc-association-authorization", "--hosted-zone-id", zone, "--vpc", vpc_arg)
    stranger("route53", "associate-vpc-with-hosted-zone", "--hosted-zone-id", zone, "--vpc", vpc_arg)
    txt = wait_for(lambda: dig.run("svc.shared.example.com", "TXT", server=resolver)["answer"], "associated")
    assert txt == [("svc.shared.example.com.", 60, "TXT", '"hello"')]

    stranger("route53", "disassociate-vpc-from-hosted-zone", "--hosted-zone-id", zone, "--vpc", vpc_arg)
    wait_for(lambda: dig.run("svc.shared.example.com", "TXT", server=resolver)["status"] == "NXDOMAIN",
             "disassociated")


def test_private_zones_shadow_public_names_and_the_closest_zone_wins(emu):
    dig = Dig(emu.dns_port)
    consumer, provider = Aws(emu.url, CONSUMER), Aws(emu.url, PROVIDER)
    a = dns_vpc(consumer, "10.75.0.0/16")
    b = dns_vpc(consumer, "10.76.0.0/16")
    subnet = consumer("ec2", "create-subnet", "--vpc-id", a, "--cidr-block", "10.75.16.0/20",
                      "--availability-zone", "ap-northeast-1a")["Subnet"]["SubnetId"]
    ep = consumer("ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", a,
                  "--service-name", "com.amazonaws.ap-northeast-1.ec2", "--subnet-ids", subnet)["VpcEndpoint"]
    regional = ep["DnsEntries"][0]["DnsName"]
    ra, rb = resolver_of(emu.url, a), resolver_of(emu.url, b)
    addrs = wait_for(lambda: dig.a(regional), "regional name")

    # A private `vpce.amazonaws.com` in B shadows the public endpoint names there.
    shadow = private_zone(consumer, "vpce.amazonaws.com", b)
    upsert(consumer, shadow, "mine.vpce.amazonaws.com", "A", ["10.76.0.9"])
    wait_for(lambda: dig.a("mine.vpce.amazonaws.com", server=rb), "shadowing zone answers")
    r = dig.run(regional, server=rb)
    assert r["status"] == "NXDOMAIN" and r["authority"][0][2] == "SOA"
    assert dig.a(regional, server=ra) == addrs and dig.a(regional) == addrs

    # A public zone answers in the public view and at every resolver...
    pub = public_zone(provider, "example.com")
    upsert(provider, pub, "pub.example.com", "A", ["192.0.2.7"])
    wait_for(lambda: dig.a("pub.example.com") == ["192.0.2.7"], "public zone in the public view")
    assert dig.a("pub.example.com", server=rb) == ["192.0.2.7"]
    # ...unless a private zone of the VPC holds the name: NXDOMAIN there.
    outer = private_zone(consumer, "example.com", a)
    inner = private_zone(consumer, "internal.example.com", a)
    upsert(consumer, outer, "www.example.com", "A", ["10.75.0.20"])
    upsert(consumer, outer, "x.internal.example.com", "A", ["10.75.0.21"])
    upsert(consumer, outer, "web.example.com", "CNAME", ["www.example.com"], ttl=120)
    upsert(consumer, inner, "api.internal.example.com", "MX", ["10 mail.example.com"])
    k = ra.split(".")[1]
    wait_for(lambda: dig.a("www.example.com", server=ra) == [f"127.{k}.0.20"], "private example.com")
    assert dig.run("pub.example.com", server=ra)["status"] == "NXDOMAIN"
    # The closest zone answers alone: internal.example.com has no `x`.
    assert dig.run("x.internal.example.com", server=ra)["status"] == "NXDOMAIN"
    assert dig.run("api.internal.example.com", "MX", server=ra)["answer"] == [
        ("api.internal.example.com.", 60, "MX", "10 mail.example.com.")]
    # NODATA: the name exists without the type.
    r = dig.run("www.example.com", "TXT", server=ra)
    assert r["status"] == "NOERROR" and r["answer"] == [] and r["authority"][0][2] == "SOA"
    # A CNAME is answered and chased.
    r = dig.run("web.example.com", server=ra)
    assert r["answer"] == [("web.example.com.", 120, "CNAME", "www.example.com."),
                           ("www.example.com.", 60, "A", f"127.{k}.0.20")]
