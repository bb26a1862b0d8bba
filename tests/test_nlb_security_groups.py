"""An NLB's security groups on PrivateLink traffic, end to end: curl from a
host inside the consumer VPC, through the interface endpoint, to nginx
behind the NLB. With EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic
on (AWS's default) the NLB's inbound rules see the client's private
address ("the source of the traffic is the private IP address of the
client, not the endpoint interface"); with it off they are not checked.
Rule and setting changes, made with the AWS CLI, apply to new flows at once."""

import itertools
import json
import subprocess
import urllib.request

import pytest

from backends import BODY, Nginx, free_port, require
from conftest import CONSUMER, PROVIDER, wait_for
from test_logs import admin_text, v2_records
from topology import build_consumer, build_provider, create_endpoint

# Second octets of the test VPCs' CIDRs. Every module that builds these
# worlds shares one counter; it wraps, as VPCs of different emulators
# (and even of one) may overlap.
_prefixes = itertools.cycle(range(140, 170))


def status(emulator):
    with urllib.request.urlopen(f"{emulator}/_emulator/status", timeout=5) as r:
        return json.load(r)


def ready(emulator):
    """Waits until the data plane has applied every change made so far."""
    with urllib.request.urlopen(f"{emulator}/_emulator/ready", timeout=15) as r:
        assert r.status == 200


def host_block(emulator, vpc_id):
    for region in status(emulator)["regions"]:
        for v in region["vpcs"]:
            if v["vpc_id"] == vpc_id:
                return int(v["host_block"].split(".")[1])
    raise AssertionError(f"{vpc_id} not in status")


def curl(url, source, timeout=5, local_port=None):
    require("curl", "curl")
    port = ["--local-port", str(local_port)] if local_port else []
    return subprocess.run(
        ["curl", "-s", "-S", "--interface", source, *port, "--max-time", str(timeout), url], capture_output=True,
        text=True,
    )


def tcp(port, cidr=None, group=None, owner=None):
    """One IpPermission of the AWS CLI's JSON form."""
    p = {"IpProtocol": "tcp", "FromPort": port, "ToPort": port}
    if cidr:
        p["IpRanges"] = [{"CidrIp": cidr}]
    if group:
        p["UserIdGroupPairs"] = [{"GroupId": group, "UserId": owner}]
    return json.dumps([p])


class Guarded:
    """A provider whose NLB has a security group letting the listener port
    in from the consumer's VPC, nginx behind it, and a consumer's available
    endpoint; the provider's changes go through the AWS CLI."""

    def __init__(self, client, aws, emulator):
        self.emulator = emulator
        self.p, self.c = next(_prefixes), next(_prefixes)
        self.port, self.target_port = free_port(), free_port()
        self.consumer_cidr = f"10.{self.c}.0.0/16"
        self.target_ip = f"10.{self.p}.128.142"
        self.provider = build_provider(
            client, acceptance_required=False, name=f"sg{self.p}", listener_port=self.port,
            target_port=self.target_port, targets=[self.target_ip], cidr_prefix=f"10.{self.p}",
            nlb_ingress=[{"IpProtocol": "tcp", "FromPort": self.port, "ToPort": self.port,
                          "IpRanges": [{"CidrIp": self.consumer_cidr}]}],
        )
        self.cli = aws(PROVIDER)
        self.consumer = build_consumer(client, cidr_prefix=f"10.{self.c}")
        self.ec2 = client("ec2", CONSUMER)
        self.ec2.authorize_security_group_ingress(
            GroupId=self.consumer.group,
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": self.port, "ToPort": self.port,
                            "IpRanges": [{"CidrIp": self.consumer_cidr}]}],
        )
        self.pblock = host_block(emulator, self.provider.vpc)
        self.cblock = host_block(emulator, self.consumer.vpc)
        self.nginx = Nginx([(f"127.{self.pblock}.128.142", self.target_port)])
        self.ep = create_endpoint(client, self.provider, self.consumer)
        self.ep_id = self.ep["VpcEndpointId"]
        wait_for(lambda: self.describe_endpoint()["State"] == "available", "available")
        ready(emulator)
        enis = self.ec2.describe_network_interfaces(NetworkInterfaceIds=self.ep["NetworkInterfaceIds"])
        self.eni_hosts = sorted(f"127.{self.cblock}." + ".".join(e["PrivateIpAddress"].split(".")[2:])
                                for e in enis["NetworkInterfaces"])
        # A host inside the consumer VPC: 10.C.16.99.
        self.client_host = f"127.{self.cblock}.16.99"

    def describe_endpoint(self):
        return self.ec2.describe_vpc_endpoints(VpcEndpointIds=[self.ep_id])["VpcEndpoints"][0]

    def get(self, source=None, timeout=5, local_port=None):
        """curl through the endpoint's first ENI, from `source` (the client host)."""
        return curl(f"http://{self.eni_hosts[0]}:{self.port}/", source or self.client_host, timeout, local_port)

    def listeners(self):
        return sorted(
            (e["host_address"], e["load_balancer_security_groups_enforced"])
            for e in status(self.emulator)["dataplane"]["listeners"] if e.get("vpc_endpoint_id") == self.ep_id
        )

    def blocked(self):
        return status(self.emulator)["dataplane"]["endpoints"][self.ep_id]["refused_by_load_balancer_security_groups"]

    def flows(self):
        with urllib.request.urlopen(f"{self.emulator}/_emulator/flows?endpoint={self.ep_id}", timeout=5) as r:
            return json.load(r)["flows"]

    def load_balancer(self):
        return self.cli("elbv2", "describe-load-balancers", "--load-balancer-arns", self.provider.lb_arn)[
            "LoadBalancers"][0]

    def nlb_rules(self):
        return self.cli("ec2", "describe-security-groups", "--group-ids", self.provider.nlb_group)[
            "SecurityGroups"][0]["IpPermissions"]

    def endpoint_rules(self):
        return self.ec2.describe_security_groups(GroupIds=[self.consumer.group])["SecurityGroups"][0]["IpPermissions"]

    def set_enforcement(self, value):
        out = self.cli("elbv2", "set-security-groups", "--load-balancer-arn", self.provider.lb_arn,
                       "--security-groups", self.provider.nlb_group,
                       "--enforce-security-group-inbound-rules-on-private-link-traffic", value)
        assert out["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == value, out
        assert out["SecurityGroupIds"] == [self.provider.nlb_group], out
        ready(self.emulator)

    def close(self):
        self.nginx.stop()


@pytest.fixture
def guarded(client, aws, emulator):
    g = Guarded(client, aws, emulator)
    yield g
    g.close()


def test_nlb_group_rules_and_enforcement_decide_privatelink_flows(guarded):
    g = guarded
    lb = g.load_balancer()
    assert lb["SecurityGroups"] == [g.provider.nlb_group]
    assert lb["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "on", "AWS's default"
    assert [enforced for _, enforced in g.listeners()] == [True, True], "one listener per ENI, both checking"

    # The NLB's group allows the listener port from the consumer's VPC.
    r = g.get()
    assert r.returncode == 0 and r.stdout == BODY, r.stderr
    # The target sees the NLB, never the consumer.
    assert f"127.{g.cblock}." not in " ".join(g.nginx.clients())
    assert g.blocked() == 0

    # Revoked: the NLB's group lets nothing in, so the flow is reset.
    before = (g.listeners(), g.describe_endpoint()["State"], g.endpoint_rules(), lb["SecurityGroups"])
    served = len(g.nginx.clients())
    g.cli("ec2", "revoke-security-group-ingress", "--group-id", g.provider.nlb_group,
          "--ip-permissions", tcp(g.port, cidr=g.consumer_cidr))
    assert g.nlb_rules() == []
    ready(g.emulator)
    client_port = free_port()
    r = g.get(timeout=2, local_port=client_port)
    assert r.returncode != 0 and r.stdout == "", (r.returncode, r.stdout)
    assert g.blocked() == 1
    assert len(g.nginx.clients()) == served, "nothing reached the target"
    # The flow record says who refused it.
    flows = wait_for(lambda: [(f["action"], f["ended"]) for f in g.flows() if f["action"] == "REJECT"], "REJECT")
    assert flows == [("REJECT", "load-balancer-security-group")], flows
    # Its flow log records, as AWS logs them: the endpoint ENI's group let
    # the flow in (ACCEPT there); the NLB's groups dropped it at the NLB's
    # ENI in the ENI's zone (REJECT there, from the client's private address,
    # the source those rules see, to the node). Nothing came back.
    enis = g.ec2.describe_network_interfaces(NetworkInterfaceIds=g.ep["NetworkInterfaceIds"])["NetworkInterfaces"]
    eni = next(e for e in enis if g.eni_hosts[0].split(".")[2:] == e["PrivateIpAddress"].split(".")[2:])
    zone = next(z for z in lb["AvailabilityZones"] if z["ZoneName"] == eni["AvailabilityZone"])
    node_ip = zone["LoadBalancerAddresses"][0]["PrivateIPv4Address"]
    node_eni = g.cli("ec2", "describe-network-interfaces", "--filters",
                     f"Name=addresses.private-ip-address,Values={node_ip}")["NetworkInterfaces"]
    assert len(node_eni) == 1 and node_eni[0]["Description"].startswith("ELB net/"), node_eni
    client_ip = f"10.{g.c}.16.99"
    records = wait_for(lambda: [r for r in v2_records(admin_text(g.emulator, "/_emulator/flow-logs"))
                                if client_port in (r["sport"], r["dport"])], "the refused flow's records")
    assert sorted((r["eni"], r["account"], r["src"], r["dst"], r["dport"], r["action"]) for r in records) == sorted([
        (eni["NetworkInterfaceId"], CONSUMER, client_ip, eni["PrivateIpAddress"], g.port, "ACCEPT"),
        (node_eni[0]["NetworkInterfaceId"], PROVIDER, client_ip, node_ip, g.port, "REJECT"),
    ]), records
    assert records[0]["packets"] == records[1]["packets"] >= 1
    nlb_eni = node_eni[0]["NetworkInterfaceId"]
    only_nlb = v2_records(admin_text(g.emulator, f"/_emulator/flow-logs?interface-id={nlb_eni}"))
    assert [r["action"] for r in only_nlb if r["sport"] == client_port] == ["REJECT"]
    # Nothing else changed: the endpoint, its listeners and its own group.
    after = (g.listeners(), g.describe_endpoint()["State"], g.endpoint_rules(), g.load_balancer()["SecurityGroups"])
    assert after == before

    # A rule naming the endpoint's security group does not let the flow in:
    # the source AWS evaluates is the client, not the endpoint interface.
    g.cli("ec2", "authorize-security-group-ingress", "--group-id", g.provider.nlb_group,
          "--ip-permissions", tcp(g.port, group=g.consumer.group, owner=CONSUMER))
    ready(g.emulator)
    assert g.get(timeout=2).returncode != 0
    assert g.blocked() == 2

    # Enforcement off: PrivateLink traffic skips the NLB's groups.
    g.set_enforcement("off")
    assert g.load_balancer()["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "off"
    assert {e for _, e in g.listeners()} == {False}
    r = g.get()
    assert r.returncode == 0 and r.stdout == BODY, r.stderr
    # Only the endpoint's own group is checked then: without the port there,
    # the flow is refused all the same.
    g.ec2.revoke_security_group_ingress(
        GroupId=g.consumer.group, IpPermissions=json.loads(tcp(g.port, cidr=g.consumer_cidr)))
    ready(g.emulator)
    assert g.get(timeout=2).returncode != 0
    assert g.blocked() == 2, "refused by the endpoint's group, not the NLB's"
    g.ec2.authorize_security_group_ingress(
        GroupId=g.consumer.group, IpPermissions=json.loads(tcp(g.port, cidr=g.consumer_cidr)))

    # On again; a rule for the client's own address admits it and no one else.
    g.set_enforcement("on")
    assert g.get(timeout=2).returncode != 0
    g.cli("ec2", "authorize-security-group-ingress", "--group-id", g.provider.nlb_group,
          "--ip-permissions", tcp(g.port, cidr=f"10.{g.c}.16.99/32"))
    ready(g.emulator)
    r = g.get()
    assert r.returncode == 0 and r.stdout == BODY, r.stderr
    assert g.get(source=f"127.{g.cblock}.16.100", timeout=2).returncode != 0
    assert g.blocked() == 4


def test_same_vpc_endpoint_admits_interfaces_of_a_referenced_group(client, aws, emulator):
    """An endpoint in the NLB's own VPC: a rule naming a group of that VPC
    admits the addresses of the network interfaces that hold it."""
    p = next(_prefixes)
    port, target_port = free_port(), free_port()
    provider = build_provider(
        client, acceptance_required=False, name=f"own{p}", listener_port=port, target_port=target_port,
        targets=[f"10.{p}.128.142"], cidr_prefix=f"10.{p}", nlb_ingress=[],
    )
    cli = aws(PROVIDER)
    ec2 = client("ec2", PROVIDER)
    block = host_block(emulator, provider.vpc)
    nginx = Nginx([(f"127.{block}.128.142", target_port)])
    try:
        endpoint_group = ec2.create_security_group(GroupName=f"own{p}-ep", Description="ep", VpcId=provider.vpc)[
            "GroupId"]
        ec2.authorize_security_group_ingress(GroupId=endpoint_group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": f"10.{p}.0.0/16"}]}])
        clients = cli("ec2", "create-security-group", "--group-name", f"own{p}-clients", "--description", "clients",
                      "--vpc-id", provider.vpc)["GroupId"]
        eni = cli("ec2", "create-network-interface", "--subnet-id", provider.subnets[0],
                  "--private-ip-address", f"10.{p}.0.50", "--groups", clients)["NetworkInterface"]
        ep = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=provider.vpc,
                                     ServiceName=provider.service_name, SubnetIds=provider.subnets,
                                     SecurityGroupIds=[endpoint_group])["VpcEndpoint"]
        wait_for(lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])["VpcEndpoints"][0][
            "State"] == "available", "available")
        enis = ec2.describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"]
        url = f"http://127.{block}." + ".".join(enis[0]["PrivateIpAddress"].split(".")[2:]) + f":{port}/"
        member, stranger = f"127.{block}.0.50", f"127.{block}.0.51"
        ready(emulator)
        # The NLB's group has no rule yet: nobody gets in.
        assert curl(url, member, timeout=2).returncode != 0
        cli("ec2", "authorize-security-group-ingress", "--group-id", provider.nlb_group,
            "--ip-permissions", tcp(port, group=clients, owner=PROVIDER))
        ready(emulator)
        r = curl(url, member)
        assert r.returncode == 0 and r.stdout == BODY, r.stderr
        assert curl(url, stranger, timeout=2).returncode != 0, "no interface of the group holds this address"
        # The interface leaves the group: its flows are refused from then on.
        cli("ec2", "modify-network-interface-attribute", "--network-interface-id", eni["NetworkInterfaceId"],
            "--groups", endpoint_group)
        ready(emulator)
        assert curl(url, member, timeout=2).returncode != 0
        cli("ec2", "delete-network-interface", "--network-interface-id", eni["NetworkInterfaceId"])
    finally:
        nginx.stop()
