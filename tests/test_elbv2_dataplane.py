"""The NLB's own data plane, end to end with real clients and real
backends: health checks run as soon as a listener of an active load
balancer forwards to registered targets (before any endpoint exists), so
`aws elbv2 wait target-in-service` ends, and a backend that goes away turns
unhealthy; a listener's tcp.idle_timeout.seconds closes its idle flows,
open ones included."""

import itertools
import http.server
import json
import socket
import threading
import time
import urllib.request

import pytest

from backends import BODY, TcpServer, free_port, recv_exact
from conftest import CONSUMER, PROVIDER, wait_for
from topology import build_consumer, build_provider, create_endpoint

# Each test gets its own VPC ranges so one emulator can hold them all.
# Second octets of the test VPCs' CIDRs. Every module that builds these
# worlds shares one counter; it wraps, as VPCs of different emulators
# (and even of one) may overlap.
_prefixes = itertools.cycle(range(100, 140))

# The quickest health checks AWS allows: healthy after two passes 5 s apart.
FAST_HEALTH = (
    "--health-check-interval-seconds", "5", "--health-check-timeout-seconds", "2",
    "--healthy-threshold-count", "2", "--unhealthy-threshold-count", "2",
)


def status(emulator):
    with urllib.request.urlopen(f"{emulator}/_emulator/status", timeout=5) as r:
        return json.load(r)


def host_block(emulator, vpc_id):
    for region in status(emulator)["regions"]:
        for v in region["vpcs"]:
            if v["vpc_id"] == vpc_id:
                return int(v["host_block"].split(".")[1])
    raise AssertionError(f"{vpc_id} not in status")


class HttpBackend:
    """A real HTTP server (Python's http.server) on a host address,
    answering BODY to every GET and remembering each client's address."""

    def __init__(self, addr):
        clients = self.clients = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                clients.append(self.client_address[0])
                body = BODY.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(addr, Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Nlb:
    """A provider VPC with two subnets, an NLB, a target group of ip targets
    inside the VPC and a TCP listener forwarding to it, made with the AWS CLI.
    No endpoint service and no consumer."""

    def __init__(self, cli, emulator, targets=("128.142",), health=FAST_HEALTH, listener_protocol="TCP",
                 listener_extra=()):
        self.cli = cli
        self.p = next(_prefixes)
        self.port = free_port()
        self.target_port = free_port()
        p = self.p
        self.vpc = cli("ec2", "create-vpc", "--cidr-block", f"10.{p}.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            cli("ec2", "create-subnet", "--vpc-id", self.vpc, "--cidr-block", cidr, "--availability-zone", az)[
                "Subnet"
            ]["SubnetId"]
            for cidr, az in ((f"10.{p}.0.0/20", "ap-northeast-1a"), (f"10.{p}.128.0/20", "ap-northeast-1c"))
        ]
        self.lb_arn = cli(
            "elbv2", "create-load-balancer", "--name", f"elbdp{p}", "--type", "network", "--scheme", "internal",
            "--subnets", *self.subnets,
        )["LoadBalancers"][0]["LoadBalancerArn"]
        self.tg_arn = cli(
            "elbv2", "create-target-group", "--name", f"elbdp{p}", "--protocol", "TCP",
            "--port", str(self.target_port), "--vpc-id", self.vpc, "--target-type", "ip", *health,
        )["TargetGroups"][0]["TargetGroupArn"]
        self.target_ips = [f"10.{p}.{t}" for t in targets]
        cli("elbv2", "register-targets", "--target-group-arn", self.tg_arn,
            "--targets", *[f"Id={ip},Port={self.target_port}" for ip in self.target_ips])
        self.listener_arn = cli(
            "elbv2", "create-listener", "--load-balancer-arn", self.lb_arn, "--protocol", listener_protocol,
            "--port", str(self.port), "--default-actions", f"Type=forward,TargetGroupArn={self.tg_arn}",
            *listener_extra,
        )["Listeners"][0]["ListenerArn"]
        self.block = host_block(emulator, self.vpc)

    def target_host(self, vpc_ip):
        """10.P.128.142 -> 127.k.128.142, where the target lives on the host."""
        return f"127.{self.block}." + ".".join(vpc_ip.split(".")[2:])

    def health(self):
        described = self.cli("elbv2", "describe-target-health", "--target-group-arn", self.tg_arn)
        return {d["Target"]["Id"]: d["TargetHealth"] for d in described["TargetHealthDescriptions"]}


@pytest.fixture
def provider_cli(aws):
    return aws(PROVIDER)


def test_targets_come_into_service_before_any_endpoint(emulator, provider_cli):
    nlb = Nlb(provider_cli, emulator)
    backend = HttpBackend((nlb.target_host(nlb.target_ips[0]), nlb.target_port))
    try:
        # No endpoint service, no consumer, no listener on the data plane:
        # the NLB checks its targets all the same.
        assert not provider_cli("ec2", "describe-vpc-endpoint-service-configurations")["ServiceConfigurations"]
        assert status(emulator)["dataplane"]["listeners"] == []
        provider_cli("elbv2", "wait", "target-in-service", "--target-group-arn", nlb.tg_arn)
        health = nlb.health()[nlb.target_ips[0]]
        assert health == {"State": "healthy"}, health
    finally:
        backend.stop()
    # The backend went away: two failed checks (5 s apart) make it unhealthy.
    wait_for(lambda: nlb.health()[nlb.target_ips[0]]["State"] == "unhealthy", "unhealthy", timeout=20, every=0.5)
    health = nlb.health()[nlb.target_ips[0]]
    assert health["Reason"] in ("Target.FailedHealthChecks", "Target.Timeout"), health
    assert health["Description"]


def echo(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def ready(emulator):
    """Waits until the data plane has applied every change made so far."""
    with urllib.request.urlopen(f"{emulator}/_emulator/ready", timeout=15) as r:
        assert r.status == 200


class PrivateLink:
    """An NLB published as an endpoint service (acceptance off) and a
    consumer's available endpoint to it, made with boto3; `ports` are the
    NLB's TCP listeners, all forwarding to one target group."""

    def __init__(self, client, emulator, ports=1):
        self.client, self.emulator = client, emulator
        self.p, self.c = next(_prefixes), next(_prefixes)
        self.ports = [free_port() for _ in range(ports)]
        self.target_port = free_port()
        self.target_ip = f"10.{self.p}.128.142"
        self.provider = build_provider(
            client, acceptance_required=False, name=f"pl{self.p}", listener_port=self.ports[0],
            target_port=self.target_port, targets=[self.target_ip], cidr_prefix=f"10.{self.p}",
        )
        elb = client("elbv2", PROVIDER)
        for port in self.ports[1:]:
            elb.create_listener(LoadBalancerArn=self.provider.lb_arn, Protocol="TCP", Port=port,
                                DefaultActions=[{"Type": "forward", "TargetGroupArn": self.provider.tg_arn}])
        self.listeners = {l["Port"]: l["ListenerArn"]
                          for l in elb.describe_listeners(LoadBalancerArn=self.provider.lb_arn)["Listeners"]}
        self.consumer = build_consumer(client, cidr_prefix=f"10.{self.c}")
        client("ec2", CONSUMER).authorize_security_group_ingress(
            GroupId=self.consumer.group,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": p, "ToPort": p,
                            "IpRanges": [{"CidrIp": f"10.{self.c}.0.0/16"}]} for p in self.ports],
        )
        self.pblock = host_block(emulator, self.provider.vpc)
        self.cblock = host_block(emulator, self.consumer.vpc)
        # A host inside the consumer VPC: 10.C.16.99.
        self.client_host = f"127.{self.cblock}.16.99"

    def target_host(self):
        return f"127.{self.pblock}." + ".".join(self.target_ip.split(".")[2:])

    def endpoint(self):
        self.ep = create_endpoint(self.client, self.provider, self.consumer)
        ec2 = self.client("ec2", CONSUMER)
        wait_for(lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[self.ep["VpcEndpointId"]])["VpcEndpoints"][0][
            "State"] == "available", "available")
        ready(self.emulator)
        enis = ec2.describe_network_interfaces(NetworkInterfaceIds=self.ep["NetworkInterfaceIds"])["NetworkInterfaces"]
        self.eni_hosts = [f"127.{self.cblock}." + ".".join(e["PrivateIpAddress"].split(".")[2:]) for e in enis]
        return self.ep

    def listener_status(self):
        return [entry for entry in status(self.emulator)["dataplane"]["listeners"]
                if entry.get("vpc_endpoint_id") == self.ep["VpcEndpointId"]]

    def connect(self, port):
        s = socket.create_connection((self.eni_hosts[0], port), timeout=10, source_address=(self.client_host, 0))
        s.sendall(b"ping")
        assert recv_exact(s, 4) == b"ping"
        return s


def test_listener_idle_timeout_closes_idle_flows_open_ones_too(client, emulator):
    pl = PrivateLink(client, emulator, ports=2)
    short, default = pl.ports
    backend = TcpServer((pl.target_host(), pl.target_port), echo)
    try:
        pl.endpoint()
        assert {e["idle_timeout_seconds"] for e in pl.listener_status()} == {350}
        # A flow opened while the listener still has AWS's default...
        opened_before = pl.connect(short)
        before_quiet = time.monotonic()
        elb = client("elbv2", PROVIDER)
        elb.modify_listener_attributes(ListenerArn=pl.listeners[short],
                                       Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "60"}])
        ready(emulator)
        assert {(e["vpc_address"].split(":")[1], e["idle_timeout_seconds"]) for e in pl.listener_status()} == {
            (str(short), 60), (str(default), 350)}
        # ...one opened after, and one on the other listener.
        opened_after = pl.connect(short)
        after_quiet = time.monotonic()
        other = pl.connect(default)
        for s, quiet_since in ((opened_before, before_quiet), (opened_after, after_quiet)):
            s.settimeout(90)
            with pytest.raises(ConnectionResetError):
                s.recv(16)
            idle = time.monotonic() - quiet_since
            assert 59.5 <= idle <= 66, idle
            s.close()
        # The other listener keeps AWS's default: its flow lives on.
        other.sendall(b"pong")
        assert recv_exact(other, 4) == b"pong"
        other.close()
    finally:
        backend.stop()
