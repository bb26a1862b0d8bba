"""The data plane on the loopback address plane, with real clients and real
backends: curl through an endpoint to nginx, which logs the NLB node's
address, never the consumer's; endpoints that are not available, and
security groups without the port, refuse; a killed target turns unhealthy
and traffic moves; PROXY v2 carries the endpoint id; half-close works."""

import itertools
import json
import socket
import subprocess
import time
import urllib.request

import pytest

from backends import BODY, Nginx, TcpServer, free_port, parse_proxy_v2, recv_exact, require
from conftest import CONSUMER, PROVIDER, wait_for
from topology import build_consumer, build_provider, create_endpoint

# Each test gets its own VPC ranges so one emulator can hold them all.
# Second octets of the test VPCs' CIDRs. Every module that builds these
# worlds shares one counter; it wraps, as VPCs of different emulators
# (and even of one) may overlap.
_prefixes = itertools.cycle(range(60, 100))


def status(emulator):
    with urllib.request.urlopen(f"{emulator}/_emulator/status", timeout=5) as r:
        return json.load(r)


def host_block(emulator, vpc_id):
    for region in status(emulator)["regions"]:
        for v in region["vpcs"]:
            if v["vpc_id"] == vpc_id:
                return int(v["host_block"].split(".")[1])
    raise AssertionError(f"{vpc_id} not in status")


def to_host(block, vpc_ip, cidr_prefix):
    """10.24.20.69 in VPC 10.24.0.0/16 with block k -> 127.k.20.69."""
    a, b = vpc_ip.split(".")[2:]
    assert vpc_ip.startswith(cidr_prefix + ".")
    return f"127.{block}.{a}.{b}"


def listeners_of(emulator, endpoint_id):
    return [
        entry for entry in status(emulator)["dataplane"]["listeners"] if entry["vpc_endpoint_id"] == endpoint_id
    ]


def curl(url, source=None, timeout=5):
    require("curl", "curl")
    cmd = ["curl", "-s", "-S", "--max-time", str(timeout), url]
    if source:
        cmd[1:1] = ["--interface", source]
    return subprocess.run(cmd, capture_output=True, text=True)


class World:
    """A provider with nginx targets and a consumer, wired through the API."""

    def __init__(self, client, emulator, targets=("10.{p}.128.142",), acceptance_required=True, health=None,
                 consumer_ports=None):
        self.client = client
        self.emulator = emulator
        self.p = next(_prefixes)
        self.c = next(_prefixes)
        self.port = free_port()
        self.target_port = free_port()
        self.target_ips = [t.format(p=self.p) for t in targets]
        self.provider = build_provider(
            client, acceptance_required=acceptance_required, name=f"dp{self.p}", listener_port=self.port,
            target_port=self.target_port, targets=self.target_ips, health=health, cidr_prefix=f"10.{self.p}",
        )
        self.pblock = host_block(emulator, self.provider.vpc)
        self.consumer = build_consumer(client, cidr_prefix=f"10.{self.c}")
        ec2 = client("ec2", CONSUMER)
        ec2.authorize_security_group_ingress(
            GroupId=self.consumer.group,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": p, "ToPort": p, "IpRanges": [{"CidrIp": f"10.{self.c}.0.0/16"}]}
                           for p in (consumer_ports or [self.port])],
        )
        self.cblock = host_block(emulator, self.consumer.vpc)
        # A host inside the consumer VPC: 10.C.16.99.
        self.client_vpc_ip = f"10.{self.c}.16.99"
        self.client_host = f"127.{self.cblock}.16.99"
        self.backends = []

    def target_host(self, vpc_ip):
        return to_host(self.pblock, vpc_ip, f"10.{self.p}")

    def start_nginx(self):
        nginx = Nginx([(self.target_host(ip), self.target_port) for ip in self.target_ips])
        self.backends.append(nginx)
        return nginx

    def endpoint(self, **extra):
        self.ep = create_endpoint(self.client, self.provider, self.consumer, **extra)
        return self.ep

    def accept(self):
        ec2 = self.client("ec2", PROVIDER)
        assert ec2.accept_vpc_endpoint_connections(
            ServiceId=self.provider.service_id, VpcEndpointIds=[self.ep["VpcEndpointId"]]
        )["Unsuccessful"] == []
        self.wait_state("available")

    def wait_state(self, state):
        ec2 = self.client("ec2", CONSUMER)
        wait_for(
            lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[self.ep["VpcEndpointId"]])["VpcEndpoints"][0]["State"]
            == state,
            state,
        )

    def wait_listeners(self, count=2):
        return wait_for(
            lambda: (lambda ls: ls if len(ls) == count else None)(listeners_of(self.emulator, self.ep["VpcEndpointId"])),
            f"{count} listeners",
        )

    def eni_hosts(self):
        enis = self.client("ec2", CONSUMER).describe_network_interfaces(
            NetworkInterfaceIds=self.ep["NetworkInterfaceIds"]
        )["NetworkInterfaces"]
        return [to_host(self.cblock, e["PrivateIpAddress"], f"10.{self.c}") for e in enis]

    def nlb_hosts(self):
        lb = self.client("elbv2", PROVIDER).describe_load_balancers(LoadBalancerArns=[self.provider.lb_arn])[
            "LoadBalancers"
        ][0]
        return {
            self.target_host(z["LoadBalancerAddresses"][0]["PrivateIPv4Address"]) for z in lb["AvailabilityZones"]
        }

    def close(self):
        for b in self.backends:
            b.stop()


@pytest.fixture
def world(client, emulator):
    made = []

    def make(**kwargs):
        w = World(client, emulator, **kwargs)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def test_curl_reaches_nginx_which_sees_the_nlb(world):
    w = world()
    nginx = w.start_nginx()
    w.endpoint()
    hosts = w.eni_hosts()
    # pendingAcceptance carries nothing.
    for h in hosts:
        r = curl(f"http://{h}:{w.port}/", source=w.client_host, timeout=2)
        assert r.returncode != 0, r.stdout
    w.accept()
    w.wait_listeners()
    for h in hosts:
        r = curl(f"http://{h}:{w.port}/", source=w.client_host)
        assert r.returncode == 0, r.stderr
        assert r.stdout == BODY
    seen = nginx.clients()
    assert len(seen) == 2
    assert set(seen) <= w.nlb_hosts(), (seen, w.nlb_hosts())
    assert w.client_host not in seen
    # A client on the host outside every VPC counts as a host in the VPC.
    r = curl(f"http://{hosts[0]}:{w.port}/")
    assert r.stdout == BODY


def test_rejected_and_deleted_endpoints_refuse_and_reset(world):
    w = world()
    w.start_nginx()
    w.endpoint()
    w.accept()
    w.wait_listeners()
    host = w.eni_hosts()[0]
    # An open flow, idle at the moment of rejection.
    held = socket.create_connection((host, w.port), timeout=5, source_address=(w.client_host, 0))
    held.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in held.recv(4096)
    ec2 = w.client("ec2", PROVIDER)
    ec2.reject_vpc_endpoint_connections(ServiceId=w.provider.service_id, VpcEndpointIds=[w.ep["VpcEndpointId"]])
    wait_for(lambda: not listeners_of(w.emulator, w.ep["VpcEndpointId"]), "listeners closed")
    held.settimeout(5)
    # The open flow was reset (RST), not closed politely.
    with pytest.raises(ConnectionResetError):
        held.recv(4096)
    held.close()
    r = curl(f"http://{host}:{w.port}/", source=w.client_host, timeout=2)
    assert r.returncode != 0


def test_security_group_without_the_port_refuses(world):
    w = world(acceptance_required=False, consumer_ports=[443])
    w.start_nginx()
    w.endpoint()
    w.wait_state("available")
    w.wait_listeners()
    host = w.eni_hosts()[0]
    r = curl(f"http://{host}:{w.port}/", source=w.client_host, timeout=3)
    assert r.returncode != 0, "the security group only allows 443"
    ec2 = w.client("ec2", CONSUMER)
    ec2.authorize_security_group_ingress(
        GroupId=w.consumer.group, IpProtocol="tcp", FromPort=w.port, ToPort=w.port, CidrIp=f"{w.client_vpc_ip}/32"
    )
    # The rule applies to new flows at once, for the source it names only.
    wait_for(lambda: curl(f"http://{host}:{w.port}/", source=w.client_host).stdout == BODY, "allowed")
    other = f"127.{w.cblock}.16.100"
    assert curl(f"http://{host}:{w.port}/", source=other, timeout=3).returncode != 0
    dp = status(w.emulator)["dataplane"]["endpoints"][w.ep["VpcEndpointId"]]
    assert dp["refused"] >= 2 and dp["connections"] >= 1


def test_killed_target_turns_unhealthy_and_traffic_moves(world):
    health = dict(HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                  UnhealthyThresholdCount=2)
    w = world(targets=("10.{p}.128.142", "10.{p}.0.50"), acceptance_required=False, health=health)
    a = Nginx([(w.target_host(w.target_ips[0]), w.target_port)])
    b = Nginx([(w.target_host(w.target_ips[1]), w.target_port)])
    w.backends += [a, b]
    w.endpoint()
    w.wait_state("available")
    w.wait_listeners()
    elb = w.client("elbv2", PROVIDER)

    def states():
        return {
            d["Target"]["Id"]: d["TargetHealth"]["State"]
            for d in elb.describe_target_health(TargetGroupArn=w.provider.tg_arn)["TargetHealthDescriptions"]
        }

    wait_for(lambda: set(states().values()) == {"healthy"}, "both healthy", timeout=20)
    hosts = w.eni_hosts()
    # Many flows (different source ports) spread over both targets.
    for i in range(20):
        assert curl(f"http://{hosts[i % 2]}:{w.port}/", source=w.client_host).stdout == BODY
    assert a.clients() and b.clients(), "cross-zone spreads flows over both targets"
    b.stop()
    w.backends.remove(b)
    killed = time.monotonic()
    wait_for(lambda: states()[w.target_ips[1]] == "unhealthy", "unhealthy", timeout=20)
    # Within interval x threshold (plus one check in flight).
    assert time.monotonic() - killed <= 5 * 2 + 5 + 2
    reason = [d for d in elb.describe_target_health(TargetGroupArn=w.provider.tg_arn)["TargetHealthDescriptions"]
              if d["Target"]["Id"] == w.target_ips[1]][0]["TargetHealth"]["Reason"]
    assert reason in ("Target.FailedHealthChecks", "Target.Timeout")
    before = len(a.clients())
    for i in range(10):
        r = curl(f"http://{hosts[i % 2]}:{w.port}/", source=w.client_host)
        assert r.stdout == BODY, r.stderr
    assert len(a.clients()) == before + 10


def test_proxy_protocol_v2_carries_endpoint_and_consumer(world):
    w = world(acceptance_required=False)

    def handler(conn):
        src, dst, tlvs = parse_proxy_v2(conn)
        conn.sendall(b"ok")
        return src, dst, tlvs

    server = TcpServer((w.target_host(w.target_ips[0]), w.target_port), handler)
    try:
        w.client("elbv2", PROVIDER).modify_target_group_attributes(
            TargetGroupArn=w.provider.tg_arn, Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "true"}]
        )
        w.endpoint()
        w.wait_state("available")
        w.wait_listeners()
        host = w.eni_hosts()[0]
        with socket.create_connection((host, w.port), timeout=5, source_address=(w.client_host, 0)) as s:
            assert recv_exact(s, 2) == b"ok"
            sport = s.getsockname()[1]
        # Health checks connect too (and close at once); find the flow.
        flows = wait_for(lambda: [r for r in server.results if isinstance(r, tuple)], "server saw the flow")
        src, dst, tlvs = flows[0]
        assert src == (w.client_vpc_ip, sport)
        eni_vpc_ip = f"10.{w.c}." + ".".join(host.split(".")[2:])
        assert dst == (eni_vpc_ip, w.port)
        assert tlvs[0xEA] == b"\x01" + w.ep["VpcEndpointId"].encode()
        assert 0x03 in tlvs and len(tlvs[0x03]) == 4
    finally:
        server.stop()


def test_half_close_delivers_the_whole_answer(world):
    w = world(acceptance_required=False)
    payload = bytes(range(256)) * 4096  # 1 MiB

    def handler(conn):
        got = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += chunk
        # Only after the client's FIN: answer, then close.
        conn.sendall(payload)
        return got

    server = TcpServer((w.target_host(w.target_ips[0]), w.target_port), handler)
    try:
        w.endpoint()
        w.wait_state("available")
        w.wait_listeners()
        host = w.eni_hosts()[0]
        with socket.create_connection((host, w.port), timeout=10, source_address=(w.client_host, 0)) as s:
            s.sendall(b"request body")
            s.shutdown(socket.SHUT_WR)
            received = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
        assert received == payload
        bodies = wait_for(lambda: [r for r in server.results if r == b"request body"], "server result")
        assert bodies == [b"request body"]
    finally:
        server.stop()


def test_deregistered_target_drains(world):
    w = world(acceptance_required=False)
    w.start_nginx()
    w.endpoint()
    w.wait_state("available")
    w.wait_listeners()
    host = w.eni_hosts()[0]
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection((host, w.port), timeout=5, source_address=(w.client_host, 0)) as kept:
        kept.sendall(request)
        assert b"200 OK" in kept.recv(4096)
        elb = w.client("elbv2", PROVIDER)
        elb.deregister_targets(TargetGroupArn=w.provider.tg_arn, Targets=[{"Id": w.target_ips[0], "Port": w.target_port}])
        health = elb.describe_target_health(TargetGroupArn=w.provider.tg_arn)["TargetHealthDescriptions"][0]
        assert health["TargetHealth"]["State"] == "draining"
        assert health["TargetHealth"]["Reason"] == "Target.DeregistrationInProgress"
        # New flows no longer start...
        wait_for(lambda: curl(f"http://{host}:{w.port}/", source=w.client_host, timeout=2).returncode != 0, "refused")
        # ...while the existing one goes on for the deregistration delay.
        kept.sendall(request)
        assert b"200 OK" in kept.recv(4096)
