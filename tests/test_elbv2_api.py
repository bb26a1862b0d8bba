"""The ELBv2 API beyond create/describe/delete, as a Network Load Balancer
answers it: listener attributes, security groups, target group and
listener changes, certificates and SSL policies, subnets and address
types, capacity reservations, account limits, the operations of other
load balancer types, and tags. boto3 (and the AWS CLI for a few) against
the emulator binary; every answer is checked against botocore's output
shape, and every refused request is shown to have changed nothing."""

import itertools
import json
import socket
import time
import urllib.request

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from backends import TcpServer, free_port
from conftest import CONSUMER, PROVIDER, REGION, wait_for
from shapes import check_xml
from topology import build_consumer, build_provider, create_endpoint

_names = itertools.count(1)


class Elb:
    """An ELBv2 client whose every raw answer is judged against botocore's
    output shape of the operation."""

    def __init__(self, url, account=PROVIDER):
        # botocore's own checks off: the emulator is the one to refuse.
        self.c = boto3.client(
            "elbv2", endpoint_url=url, region_name=REGION, aws_access_key_id=account,
            aws_secret_access_key="any-secret",
            config=Config(retries={"max_attempts": 1}, parameter_validation=False),
        )
        self.last = None
        self.c.meta.events.register("before-parse", self._capture)

    def _capture(self, response_dict, operation_model, **_):
        self.last = (operation_model.name, response_dict["status_code"], response_dict["body"])

    def __getattr__(self, name):
        method = getattr(self.c, name)

        def call(**kw):
            self.last = None
            try:
                return method(**kw)
            finally:
                assert self.last is not None, f"{name}: no answer"
                op, status, body = self.last
                problems = check_xml("elbv2", op, status, body)
                assert not problems, f"{op}: {problems}\n{body[:2000]}"

        return call

    def fails(self, code, name, **kw):
        """Calls and expects AWS error `code`; returns the message."""
        with pytest.raises(ClientError) as e:
            getattr(self, name)(**kw)
        err = e.value.response["Error"]
        assert err["Code"] == code, f"{name}: {err}"
        return err["Message"]


@pytest.fixture(scope="module")
def elb(emulator):
    return Elb(emulator)


class Net:
    """A provider VPC with two subnets (zones a and c) and two security groups."""

    def __init__(self, client, octet):
        ec2 = client("ec2", PROVIDER)
        self.ec2 = ec2
        self.vpc = ec2.create_vpc(CidrBlock=f"10.{octet}.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [
            ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.{octet}.{third}.0/20", AvailabilityZone=az)["Subnet"][
                "SubnetId"
            ]
            for third, az in ((0, f"{REGION}a"), (128, f"{REGION}c"))
        ]
        self.groups = [
            ec2.create_security_group(GroupName=f"nlb-{i}", Description="nlb", VpcId=self.vpc)["GroupId"]
            for i in range(2)
        ]


@pytest.fixture(scope="module")
def net(client):
    return Net(client, 70)


def nlb(elb, net, groups=None, name=None):
    name = name or f"api-{next(_names)}"
    kw = {"SecurityGroups": groups} if groups is not None else {}
    return elb.create_load_balancer(Name=name, Subnets=net.subnets, Scheme="internal", Type="network", **kw)[
        "LoadBalancers"
    ][0]


def target_group(elb, net, protocol="TCP", port=80, **kw):
    return elb.create_target_group(
        Name=f"tg-{next(_names)}", Protocol=protocol, Port=port, VpcId=net.vpc, TargetType="ip", **kw
    )["TargetGroups"][0]


def listener(elb, lb, tg, protocol="TCP", port=80, **kw):
    return elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol=protocol, Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}], **kw,
    )["Listeners"][0]


def describe_lb(elb, lb):
    return elb.describe_load_balancers(LoadBalancerArns=[lb["LoadBalancerArn"]])["LoadBalancers"][0]


def listener_attrs(elb, arn):
    return {a["Key"]: a["Value"] for a in elb.describe_listener_attributes(ListenerArn=arn)["Attributes"]}


# --- listener attributes ------------------------------------------------------


def test_listener_idle_timeout_defaults_and_changes(elb, net):
    lb = nlb(elb, net)
    tg = target_group(elb, net)
    tcp = listener(elb, lb, tg)["ListenerArn"]
    assert listener_attrs(elb, tcp) == {"tcp.idle_timeout.seconds": "350"}
    out = elb.modify_listener_attributes(
        ListenerArn=tcp, Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "120"}]
    )
    assert out["Attributes"] == [{"Key": "tcp.idle_timeout.seconds", "Value": "120"}]
    assert listener_attrs(elb, tcp) == {"tcp.idle_timeout.seconds": "120"}
    for bound in ("60", "6000"):
        elb.modify_listener_attributes(ListenerArn=tcp, Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": bound}])
        assert listener_attrs(elb, tcp) == {"tcp.idle_timeout.seconds": bound}
    elb.modify_listener_attributes(ListenerArn=tcp, Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "120"}])

    # Refused values, keys of other load balancer types and unknown keys change nothing,
    # not even the valid attribute beside them.
    for value in ("59", "6001", "abc", "", "120.5"):
        elb.fails("ValidationError", "modify_listener_attributes", ListenerArn=tcp,
                  Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": value}])
    elb.fails("ValidationError", "modify_listener_attributes", ListenerArn=tcp, Attributes=[
        {"Key": "tcp.idle_timeout.seconds", "Value": "900"}, {"Key": "tcp.idle_timeout", "Value": "900"}])
    elb.fails("InvalidConfigurationRequest", "modify_listener_attributes", ListenerArn=tcp, Attributes=[
        {"Key": "tcp.idle_timeout.seconds", "Value": "900"},
        {"Key": "routing.http.response.server.enabled", "Value": "false"}])
    assert listener_attrs(elb, tcp) == {"tcp.idle_timeout.seconds": "120"}

    missing = tcp[:-16] + "0" * 16
    elb.fails("ListenerNotFound", "describe_listener_attributes", ListenerArn=missing)
    elb.fails("ListenerNotFound", "modify_listener_attributes", ListenerArn=missing,
              Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "120"}])


def test_listener_attributes_by_protocol(elb, net):
    lb = nlb(elb, net)
    both = listener(elb, lb, target_group(elb, net, protocol="TCP_UDP", port=53), protocol="TCP_UDP", port=53)
    assert listener_attrs(elb, both["ListenerArn"]) == {"tcp.idle_timeout.seconds": "350"}
    elb.modify_listener_attributes(ListenerArn=both["ListenerArn"],
                                   Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "700"}])
    assert listener_attrs(elb, both["ListenerArn"]) == {"tcp.idle_timeout.seconds": "700"}

    udp = listener(elb, lb, target_group(elb, net, protocol="UDP", port=514), protocol="UDP", port=514)
    assert listener_attrs(elb, udp["ListenerArn"]) == {}
    elb.fails("InvalidConfigurationRequest", "modify_listener_attributes", ListenerArn=udp["ListenerArn"],
              Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "700"}])
    assert listener_attrs(elb, udp["ListenerArn"]) == {}


def test_listener_attributes_through_the_cli(aws, elb, net):
    lb = nlb(elb, net)
    arn = listener(elb, lb, target_group(elb, net))["ListenerArn"]
    cli = aws(PROVIDER)
    out = cli("elbv2", "modify-listener-attributes", "--listener-arn", arn,
              "--attributes", "Key=tcp.idle_timeout.seconds,Value=600")
    assert out["Attributes"] == [{"Key": "tcp.idle_timeout.seconds", "Value": "600"}]
    out = cli("elbv2", "describe-listener-attributes", "--listener-arn", arn)
    assert out["Attributes"] == [{"Key": "tcp.idle_timeout.seconds", "Value": "600"}]
    err = cli.fails("elbv2", "modify-listener-attributes", "--listener-arn", arn,
                    "--attributes", "Key=tcp.idle_timeout.seconds,Value=30")
    assert "ValidationError" in err


# --- security groups ----------------------------------------------------------


def lb_enis(net, lb):
    tail = lb["LoadBalancerArn"].split(":loadbalancer/")[1]
    return net.ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [f"ELB {tail}"]}])["NetworkInterfaces"]


def test_security_groups_on_create_and_set(elb, net, client):
    lb = nlb(elb, net, groups=[net.groups[0]])
    assert lb["SecurityGroups"] == [net.groups[0]]
    assert lb["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "on"
    assert describe_lb(elb, lb)["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "on"

    out = elb.set_security_groups(LoadBalancerArn=lb["LoadBalancerArn"], SecurityGroups=net.groups,
                                  EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic="off")
    assert out == {"SecurityGroupIds": net.groups, "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic": "off",
                   "ResponseMetadata": out["ResponseMetadata"]}
    seen = describe_lb(elb, lb)
    assert seen["SecurityGroups"] == net.groups
    assert seen["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "off"
    enis = lb_enis(net, lb)
    assert len(enis) == 2
    for eni in enis:
        assert sorted(g["GroupId"] for g in eni["Groups"]) == sorted(net.groups)

    # Without the flag, enforcement stays as it was.
    out = elb.set_security_groups(LoadBalancerArn=lb["LoadBalancerArn"], SecurityGroups=[net.groups[1]])
    assert out["EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic"] == "off"
    before = describe_lb(elb, lb)
    assert before["SecurityGroups"] == [net.groups[1]]

    # Refusals change nothing.
    elb.fails("InvalidConfigurationRequest", "set_security_groups", LoadBalancerArn=lb["LoadBalancerArn"],
              SecurityGroups=[])
    elb.fails("InvalidSecurityGroup", "set_security_groups", LoadBalancerArn=lb["LoadBalancerArn"],
              SecurityGroups=[net.groups[0], "sg-0123456789abcdef0"])
    other = Net(client, 71)
    elb.fails("InvalidSecurityGroup", "set_security_groups", LoadBalancerArn=lb["LoadBalancerArn"],
              SecurityGroups=[other.groups[0]])
    elb.fails("ValidationError", "set_security_groups", LoadBalancerArn=lb["LoadBalancerArn"],
              SecurityGroups=[net.groups[0]], EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic="maybe")
    elb.fails("LoadBalancerNotFound", "set_security_groups",
              LoadBalancerArn=lb["LoadBalancerArn"][:-16] + "0" * 16, SecurityGroups=[net.groups[0]])
    assert describe_lb(elb, lb) == before
    for eni in lb_enis(net, lb):
        assert [g["GroupId"] for g in eni["Groups"]] == [net.groups[1]]


def test_security_groups_cannot_be_added_to_an_nlb_created_without(elb, net):
    lb = nlb(elb, net)
    assert "SecurityGroups" not in lb
    assert "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic" not in lb
    elb.fails("InvalidConfigurationRequest", "set_security_groups", LoadBalancerArn=lb["LoadBalancerArn"],
              SecurityGroups=[net.groups[0]])
    seen = describe_lb(elb, lb)
    assert "SecurityGroups" not in seen
    for eni in lb_enis(net, lb):
        assert eni["Groups"] == []


def test_set_security_groups_through_the_cli(aws, elb, net):
    lb = nlb(elb, net, groups=[net.groups[0]])
    out = aws(PROVIDER)("elbv2", "set-security-groups", "--load-balancer-arn", lb["LoadBalancerArn"],
                        "--security-groups", net.groups[1],
                        "--enforce-security-group-inbound-rules-on-private-link-traffic", "off")
    assert out == {"SecurityGroupIds": [net.groups[1]], "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic": "off"}


# --- target groups --------------------------------------------------------------


def describe_tg(elb, tg):
    return elb.describe_target_groups(TargetGroupArns=[tg["TargetGroupArn"]])["TargetGroups"][0]


def test_modify_target_group_health_checks(elb, net):
    tg = target_group(elb, net)
    assert (tg["HealthCheckProtocol"], tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"]) == (
        "TCP", 30, 10)
    arn = tg["TargetGroupArn"]
    out = elb.modify_target_group(
        TargetGroupArn=arn, HealthCheckProtocol="HTTP", HealthCheckPort="8080", HealthCheckPath="/health",
        HealthCheckIntervalSeconds=10, HealthCheckTimeoutSeconds=5, HealthyThresholdCount=3,
        UnhealthyThresholdCount=4, Matcher={"HttpCode": "200-299"},
    )["TargetGroups"][0]
    want = {"HealthCheckProtocol": "HTTP", "HealthCheckPort": "8080", "HealthCheckPath": "/health",
            "HealthCheckIntervalSeconds": 10, "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 3,
            "UnhealthyThresholdCount": 4, "Matcher": {"HttpCode": "200-299"}, "HealthCheckEnabled": True}
    for seen in (out, describe_tg(elb, tg)):
        assert {k: seen.get(k) for k in want} == want

    # Only the interval: the rest stays.
    elb.modify_target_group(TargetGroupArn=arn, HealthCheckIntervalSeconds=20)
    seen = describe_tg(elb, tg)
    assert (seen["HealthCheckIntervalSeconds"], seen["HealthCheckPath"], seen["HealthCheckPort"]) == (20, "/health", "8080")

    before = describe_tg(elb, tg)
    refused = [
        ("ValidationError", {"HealthCheckIntervalSeconds": 4}),
        ("ValidationError", {"HealthCheckIntervalSeconds": 301}),
        ("ValidationError", {"HealthCheckTimeoutSeconds": 121}),
        ("ValidationError", {"HealthCheckIntervalSeconds": 5, "HealthCheckTimeoutSeconds": 6}),
        ("ValidationError", {"HealthyThresholdCount": 11}),
        ("ValidationError", {"UnhealthyThresholdCount": 1}),
        ("ValidationError", {"HealthCheckProtocol": "UDP"}),
        ("ValidationError", {"HealthCheckPort": "0"}),
        ("ValidationError", {"HealthCheckPath": "health"}),
        ("ValidationError", {"Matcher": {"HttpCode": "600"}}),
        ("ValidationError", {"Matcher": {"HttpCode": "299-200"}}),
        ("ValidationError", {"HealthCheckProtocol": "TCP", "HealthCheckPath": "/x"}),
        ("InvalidConfigurationRequest", {"HealthCheckEnabled": False}),
    ]
    for code, kw in refused:
        elb.fails(code, "modify_target_group", TargetGroupArn=arn, **kw)
    assert describe_tg(elb, tg) == before

    # Back to TCP: the HTTP-only settings go.
    seen = elb.modify_target_group(TargetGroupArn=arn, HealthCheckProtocol="TCP")["TargetGroups"][0]
    assert "HealthCheckPath" not in seen and "Matcher" not in seen
    elb.fails("TargetGroupNotFound", "modify_target_group", TargetGroupArn=arn[:-16] + "0" * 16,
              HealthCheckIntervalSeconds=10)


def tg_attrs(elb, tg):
    return {a["Key"]: a["Value"] for a in
            elb.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])["Attributes"]}


def test_target_group_attributes_by_protocol(elb, net):
    tcp = target_group(elb, net)
    arn = tcp["TargetGroupArn"]
    elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "stickiness.enabled", "Value": "true"}, {"Key": "stickiness.type", "Value": "source_ip"}])
    before = tg_attrs(elb, tcp)
    assert (before["stickiness.enabled"], before["stickiness.type"]) == ("true", "source_ip")
    refused = [
        ("InvalidConfigurationRequest", "stickiness.type", "lb_cookie"),
        ("InvalidConfigurationRequest", "stickiness.type", "app_cookie"),
        ("ValidationError", "stickiness.type", "source_ip_dest_ip"),
        ("InvalidConfigurationRequest", "slow_start.duration_seconds", "30"),
        ("InvalidConfigurationRequest", "stickiness.lb_cookie.duration_seconds", "60"),
        ("ValidationError", "no.such.attribute", "1"),
        ("ValidationError", "deregistration_delay.timeout_seconds", "3601"),
        ("ValidationError", "deregistration_delay.timeout_seconds", "-1"),
        ("ValidationError", "proxy_protocol_v2.enabled", "yes"),
        ("ValidationError", "load_balancing.cross_zone.enabled", "maybe"),
        ("ValidationError", "target_group_health.dns_failover.minimum_healthy_targets.percentage", "101"),
    ]
    for code, key, value in refused:
        # A valid attribute beside the refused one is not applied either.
        elb.fails(code, "modify_target_group_attributes", TargetGroupArn=arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "42"}, {"Key": key, "Value": value}])
    assert tg_attrs(elb, tcp) == before
    elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "target_group_health.dns_failover.minimum_healthy_targets.count", "Value": "off"},
        {"Key": "load_balancing.cross_zone.enabled", "Value": "use_load_balancer_configuration"}])

    tls = target_group(elb, net, protocol="TLS", port=443)
    elb.fails("InvalidConfigurationRequest", "modify_target_group_attributes", TargetGroupArn=tls["TargetGroupArn"],
              Attributes=[{"Key": "stickiness.enabled", "Value": "true"}])

    udp = target_group(elb, net, protocol="UDP", port=514)
    assert tg_attrs(elb, udp)["preserve_client_ip.enabled"] == "true"
    for key, value in (("proxy_protocol_v2.enabled", "true"), ("preserve_client_ip.enabled", "false")):
        elb.fails("InvalidConfigurationRequest", "modify_target_group_attributes",
                  TargetGroupArn=udp["TargetGroupArn"], Attributes=[{"Key": key, "Value": value}])


# --- listeners -------------------------------------------------------------------

CERT = f"arn:aws:acm:{REGION}:{PROVIDER}:certificate/0b6b5e8e-0000-4000-8000-000000000001"


def describe_listener(elb, arn):
    return elb.describe_listeners(ListenerArns=[arn])["Listeners"][0]


def test_modify_listener(elb, net):
    lb = nlb(elb, net)
    tg = target_group(elb, net)
    other_tg = target_group(elb, net)
    arn = listener(elb, lb, tg, port=80)["ListenerArn"]
    listener(elb, lb, target_group(elb, net), port=81)

    out = elb.modify_listener(ListenerArn=arn, Port=8080)["Listeners"][0]
    assert (out["Port"], out["Protocol"]) == (8080, "TCP")
    assert describe_listener(elb, arn)["Port"] == 8080

    # To TLS: a certificate is needed; the policy defaults to AWS's default.
    elb.fails("ValidationError", "modify_listener", ListenerArn=arn, Protocol="TLS")
    out = elb.modify_listener(ListenerArn=arn, Protocol="TLS", Port=443, Certificates=[{"CertificateArn": CERT}])
    seen = describe_listener(elb, arn)
    assert seen == out["Listeners"][0]
    assert (seen["Protocol"], seen["Port"], seen["SslPolicy"]) == ("TLS", 443, "ELBSecurityPolicy-2016-08")
    assert seen["Certificates"] == [{"CertificateArn": CERT}]
    assert "AlpnPolicy" not in seen
    out = elb.modify_listener(ListenerArn=arn, SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
                              AlpnPolicy=["HTTP2Preferred"])["Listeners"][0]
    assert (out["SslPolicy"], out["AlpnPolicy"], out["Certificates"]) == (
        "ELBSecurityPolicy-TLS13-1-2-2021-06", ["HTTP2Preferred"], [{"CertificateArn": CERT}])
    elb.fails("InvalidConfigurationRequest", "describe_listener_attributes", ListenerArn=arn)

    before = describe_listener(elb, arn)
    udp_tg = target_group(elb, net, protocol="UDP", port=514)
    refused = [
        ("SSLPolicyNotFound", {"SslPolicy": "ELBSecurityPolicy-Nope"}),
        ("CertificateNotFound", {"Certificates": [{"CertificateArn": "arn:aws:s3:::bucket"}]}),
        ("TooManyCertificates", {"Certificates": [{"CertificateArn": CERT}, {"CertificateArn": CERT + "2"}]}),
        ("ALPNPolicyNotFound", {"AlpnPolicy": ["HTTP3"]}),
        ("DuplicateListener", {"Port": 81}),
        ("ValidationError", {"Port": 0}),
        ("ValidationError", {"Protocol": "HTTP"}),
        ("ValidationError", {"Protocol": "TCP", "SslPolicy": "ELBSecurityPolicy-2016-08"}),
        ("IncompatibleProtocols", {"DefaultActions": [{"Type": "forward", "TargetGroupArn": udp_tg["TargetGroupArn"]}]}),
        ("InvalidLoadBalancerAction", {"DefaultActions": [{"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_301"}}]}),
        ("InvalidLoadBalancerAction", {"DefaultActions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": tg["TargetGroupArn"]}, {"TargetGroupArn": other_tg["TargetGroupArn"]}]}}]}),
        ("TargetGroupNotFound", {"DefaultActions": [
            {"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"][:-16] + "0" * 16}]}),
    ]
    for code, kw in refused:
        elb.fails(code, "modify_listener", ListenerArn=arn, **kw)
    assert describe_listener(elb, arn) == before
    elb.fails("ListenerNotFound", "modify_listener", ListenerArn=arn[:-16] + "0" * 16, Port=9000)

    # A new default action moves the listener to another target group.
    out = elb.modify_listener(ListenerArn=arn, DefaultActions=[
        {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": other_tg["TargetGroupArn"]}]}}])
    assert out["Listeners"][0]["DefaultActions"][0]["TargetGroupArn"] == other_tg["TargetGroupArn"]
    assert describe_tg(elb, other_tg)["LoadBalancerArns"] == [lb["LoadBalancerArn"]]
    assert describe_tg(elb, tg)["LoadBalancerArns"] == []

    # Back to TCP: the TLS settings go, and the idle timeout is the listener's again.
    out = elb.modify_listener(ListenerArn=arn, Protocol="TCP")["Listeners"][0]
    assert not {"SslPolicy", "Certificates", "AlpnPolicy"} & set(out)
    assert listener_attrs(elb, arn) == {"tcp.idle_timeout.seconds": "350"}


def test_create_tls_listener(elb, net):
    lb = nlb(elb, net)
    tg = target_group(elb, net, protocol="TLS", port=443)
    elb.fails("ValidationError", "create_listener", LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TLS", Port=443,
              DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    elb.fails("SSLPolicyNotFound", "create_listener", LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TLS",
              Port=443, SslPolicy="nope", Certificates=[{"CertificateArn": CERT}],
              DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    assert elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"] == []
    out = listener(elb, lb, tg, protocol="TLS", port=443, Certificates=[{"CertificateArn": CERT}],
                   SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06", AlpnPolicy=["None"])
    assert (out["SslPolicy"], out["AlpnPolicy"], out["Certificates"]) == (
        "ELBSecurityPolicy-TLS13-1-3-2021-06", ["None"], [{"CertificateArn": CERT}])


def test_secondary_ips_per_subnet_attribute(elb, net):
    lb = nlb(elb, net)
    arn = lb["LoadBalancerArn"]

    def attrs():
        return {a["Key"]: a["Value"] for a in
                elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}

    assert attrs()["secondary_ips.auto_assigned.per_subnet"] == "0"
    elb.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "secondary_ips.auto_assigned.per_subnet", "Value": "2"}])
    assert attrs()["secondary_ips.auto_assigned.per_subnet"] == "2"
    for value in ("1", "8", "x"):
        elb.fails("InvalidConfigurationRequest", "modify_load_balancer_attributes", LoadBalancerArn=arn,
                  Attributes=[{"Key": "secondary_ips.auto_assigned.per_subnet", "Value": value}])
    assert attrs()["secondary_ips.auto_assigned.per_subnet"] == "2"


# --- changes the data plane follows ----------------------------------------------


def status(emulator):
    with urllib.request.urlopen(f"{emulator}/_emulator/status", timeout=5) as r:
        return json.load(r)


def listener_ports(emulator, endpoint_id):
    return {int(e["host_address"].rsplit(":", 1)[1]) for e in status(emulator)["dataplane"]["listeners"]
            if e["vpc_endpoint_id"] == endpoint_id}


def echo(conn):
    data = conn.recv(64)
    conn.sendall(data)
    return data


def connects(host, port):
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.sendall(b"ping")
            return s.recv(64) == b"ping"
    except OSError:
        return False


def test_listener_port_change_moves_the_data_plane_listener(client, emulator, elb):
    old, new = free_port(), free_port()
    target_port = free_port()
    p = build_provider(client, acceptance_required=False, name="moving", listener_port=old, target_port=target_port,
                       targets=("10.81.128.10",), cidr_prefix="10.81")
    c = build_consumer(client, cidr_prefix="10.82")
    ec2c = client("ec2", CONSUMER)
    ec2c.authorize_security_group_ingress(GroupId=c.group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 65535, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    blocks = {v["vpc_id"]: int(v["host_block"].split(".")[1]) for r in status(emulator)["regions"] for v in r["vpcs"]}
    backend = TcpServer((f"127.{blocks[p.vpc]}.128.10", target_port), echo)
    try:
        ep = create_endpoint(client, p, c)
        wait_for(lambda: ec2c.describe_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])["VpcEndpoints"][0][
            "State"] == "available", "available")
        wait_for(lambda: listener_ports(emulator, ep["VpcEndpointId"]) == {old}, "listening on the old port")
        eni = ec2c.describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"][:1])[
            "NetworkInterfaces"][0]["PrivateIpAddress"]
        host = f"127.{blocks[c.vpc]}.{eni.split('.')[2]}.{eni.split('.')[3]}"
        assert wait_for(lambda: connects(host, old), "a flow through the old port")

        arn = elb.describe_listeners(LoadBalancerArn=p.lb_arn)["Listeners"][0]["ListenerArn"]
        elb.modify_listener(ListenerArn=arn, Port=new)
        wait_for(lambda: listener_ports(emulator, ep["VpcEndpointId"]) == {new}, "listening on the new port")
        assert wait_for(lambda: connects(host, new), "a flow through the new port")
        assert not connects(host, old)
    finally:
        backend.stop()


def test_changed_health_check_interval_reaches_the_checker(client, emulator, elb):
    """Healthy takes two passing checks: at 300 s apart the second is far
    off; once the interval is 5 s it comes within seconds."""
    target_port = free_port()
    health = dict(HealthCheckIntervalSeconds=300, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2)
    p = build_provider(client, acceptance_required=False, name="checked", listener_port=free_port(),
                       target_port=target_port, targets=("10.83.128.10",), cidr_prefix="10.83", health=health)
    blocks = {v["vpc_id"]: int(v["host_block"].split(".")[1]) for r in status(emulator)["regions"] for v in r["vpcs"]}
    # A target registered once its backend listens: its first check passes.
    backend = TcpServer((f"127.{blocks[p.vpc]}.128.11", target_port), lambda conn: None)
    try:
        elb.register_targets(TargetGroupArn=p.tg_arn, Targets=[{"Id": "10.83.128.11", "Port": target_port}])

        def state():
            return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in
                    elb.describe_target_health(TargetGroupArn=p.tg_arn)["TargetHealthDescriptions"]}["10.83.128.11"]

        wait_for(lambda: backend.results, "the first health check", timeout=10)
        assert state() == "initial"
        elb.modify_target_group(TargetGroupArn=p.tg_arn, HealthCheckIntervalSeconds=5)
        changed = time.monotonic()
        wait_for(lambda: state() == "healthy", "healthy at the new interval", timeout=15)
        assert time.monotonic() - changed < 12
    finally:
        backend.stop()


# --- certificates and SSL policies ---------------------------------------------------


def cert(n):
    return CERT[:-2] + f"{n:02d}"


def test_listener_certificates(elb, net):
    lb = nlb(elb, net)
    tg = target_group(elb, net, protocol="TLS", port=443)
    arn = listener(elb, lb, tg, protocol="TLS", port=443, Certificates=[{"CertificateArn": cert(1)}])["ListenerArn"]

    def described():
        return [(c["CertificateArn"], c["IsDefault"]) for c in
                elb.describe_listener_certificates(ListenerArn=arn)["Certificates"]]

    assert described() == [(cert(1), True)]
    out = elb.add_listener_certificates(ListenerArn=arn, Certificates=[
        {"CertificateArn": cert(2)}, {"CertificateArn": cert(3)}, {"CertificateArn": cert(2)}])
    assert out["Certificates"] == [{"CertificateArn": cert(2), "IsDefault": False},
                                   {"CertificateArn": cert(3), "IsDefault": False}]
    assert described() == [(cert(1), True), (cert(2), False), (cert(3), False)]
    # The listener itself shows only its default certificate.
    assert describe_listener(elb, arn)["Certificates"] == [{"CertificateArn": cert(1)}]
    first = elb.describe_listener_certificates(ListenerArn=arn, PageSize=2)
    assert [c["CertificateArn"] for c in first["Certificates"]] == [cert(1), cert(2)]
    rest = elb.describe_listener_certificates(ListenerArn=arn, PageSize=2, Marker=first["NextMarker"])
    assert [c["CertificateArn"] for c in rest["Certificates"]] == [cert(3)] and "NextMarker" not in rest

    before = described()
    elb.fails("CertificateNotFound", "add_listener_certificates", ListenerArn=arn,
              Certificates=[{"CertificateArn": cert(4)}, {"CertificateArn": "not-an-arn"}])
    elb.fails("TooManyCertificates", "add_listener_certificates", ListenerArn=arn,
              Certificates=[{"CertificateArn": cert(n)} for n in range(10, 34)])
    elb.fails("OperationNotPermitted", "remove_listener_certificates", ListenerArn=arn,
              Certificates=[{"CertificateArn": cert(2)}, {"CertificateArn": cert(1)}])
    elb.fails("ListenerNotFound", "describe_listener_certificates", ListenerArn=arn[:-16] + "0" * 16)
    assert described() == before

    elb.remove_listener_certificates(ListenerArn=arn, Certificates=[{"CertificateArn": cert(2)}])
    assert described() == [(cert(1), True), (cert(3), False)]
    # A new default certificate keeps the list.
    elb.modify_listener(ListenerArn=arn, Certificates=[{"CertificateArn": cert(9)}])
    assert described() == [(cert(9), True), (cert(3), False)]

    tcp = listener(elb, lb, target_group(elb, net), port=80)["ListenerArn"]
    assert elb.describe_listener_certificates(ListenerArn=tcp)["Certificates"] == []
    elb.fails("InvalidConfigurationRequest", "add_listener_certificates", ListenerArn=tcp,
              Certificates=[{"CertificateArn": cert(2)}])


def test_describe_ssl_policies(elb, aws):
    policies = elb.describe_ssl_policies()["SslPolicies"]
    names = [p["Name"] for p in policies]
    assert names[0] == "ELBSecurityPolicy-2016-08"
    for name in ("ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
                 "ELBSecurityPolicy-TLS13-1-3-2021-06", "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
                 "ELBSecurityPolicy-FS-1-2-Res-2020-10", "ELBSecurityPolicy-TLS-1-0-2015-04"):
        assert name in names
    by_name = {p["Name"]: p for p in policies}
    tls13 = by_name["ELBSecurityPolicy-TLS13-1-2-2021-06"]
    assert tls13["SslProtocols"] == ["TLSv1.2", "TLSv1.3"]
    assert tls13["SupportedLoadBalancerTypes"] == ["application", "network"]
    assert [c["Name"] for c in tls13["Ciphers"]][:4] == [
        "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256"]
    assert [c["Priority"] for c in tls13["Ciphers"]] == list(range(1, 12))
    assert by_name["ELBSecurityPolicy-TLS13-1-3-2021-06"]["SslProtocols"] == ["TLSv1.3"]
    assert "DES-CBC3-SHA" in [c["Name"] for c in by_name["ELBSecurityPolicy-TLS-1-0-2015-04"]["Ciphers"]]

    one = elb.describe_ssl_policies(Names=["ELBSecurityPolicy-TLS13-1-2-2021-06"])["SslPolicies"]
    assert one == [tls13]
    assert elb.describe_ssl_policies(LoadBalancerType="gateway")["SslPolicies"] == []
    page = elb.describe_ssl_policies(PageSize=5)
    assert [p["Name"] for p in page["SslPolicies"]] == names[:5]
    rest = elb.describe_ssl_policies(Marker=page["NextMarker"])
    assert [p["Name"] for p in rest["SslPolicies"]] == names[5:]
    elb.fails("SSLPolicyNotFound", "describe_ssl_policies", Names=["ELBSecurityPolicy-TLS13-1-2-2021-06", "nope"])
    out = aws(PROVIDER)("elbv2", "describe-ssl-policies", "--names", "ELBSecurityPolicy-2016-08")
    assert out["SslPolicies"][0]["SslProtocols"] == ["TLSv1", "TLSv1.1", "TLSv1.2"]


# --- subnets, address types, capacity, limits --------------------------------------


def test_set_subnets(elb, client):
    n = Net(client, 72)
    third = n.ec2.create_subnet(VpcId=n.vpc, CidrBlock="10.72.64.0/20", AvailabilityZone=f"{REGION}d")["Subnet"][
        "SubnetId"]
    lb = elb.create_load_balancer(Name=f"subnets-{next(_names)}", Subnets=n.subnets[:1], Scheme="internal",
                                  Type="network")["LoadBalancers"][0]
    arn = lb["LoadBalancerArn"]
    first_ip = lb["AvailabilityZones"][0]["LoadBalancerAddresses"][0]["PrivateIPv4Address"]
    out = elb.set_subnets(LoadBalancerArn=arn, SubnetMappings=[
        {"SubnetId": n.subnets[0]}, {"SubnetId": n.subnets[1], "PrivateIPv4Address": "10.72.128.77"}])
    zones = {z["SubnetId"]: z for z in out["AvailabilityZones"]}
    assert set(zones) == set(n.subnets[:2]) and out["IpAddressType"] == "ipv4"
    assert zones[n.subnets[0]]["LoadBalancerAddresses"][0]["PrivateIPv4Address"] == first_ip
    assert zones[n.subnets[1]]["LoadBalancerAddresses"][0]["PrivateIPv4Address"] == "10.72.128.77"
    assert describe_lb(elb, lb)["AvailabilityZones"] == out["AvailabilityZones"]
    assert len(lb_enis(n, lb)) == 2

    other_vpc = Net(client, 73)
    same_zone = n.ec2.create_subnet(VpcId=n.vpc, CidrBlock="10.72.16.0/20", AvailabilityZone=f"{REGION}a")[
        "Subnet"]["SubnetId"]
    before = describe_lb(elb, lb)
    refused = [
        ("SubnetNotFound", {"Subnets": [n.subnets[0], "subnet-0123456789abcdef0"]}),
        ("InvalidSubnet", {"Subnets": [n.subnets[0], other_vpc.subnets[1]]}),
        ("InvalidConfigurationRequest", {"Subnets": [n.subnets[0], n.subnets[1], same_zone]}),
        ("InvalidConfigurationRequest", {"Subnets": [same_zone, n.subnets[1]]}),
        ("InvalidConfigurationRequest", {"SubnetMappings": [
            {"SubnetId": n.subnets[0], "PrivateIPv4Address": "10.72.0.99"}, {"SubnetId": n.subnets[1]}]}),
        ("InvalidConfigurationRequest", {"Subnets": n.subnets, "IpAddressType": "dualstack"}),
        ("ValidationError", {"Subnets": []}),
    ]
    for code, kw in refused:
        elb.fails(code, "set_subnets", LoadBalancerArn=arn, **kw)
    assert describe_lb(elb, lb) == before
    assert len(lb_enis(n, lb)) == 2

    # Removing a zone: its node and network interface go.
    out = elb.set_subnets(LoadBalancerArn=arn, Subnets=[n.subnets[1], third])
    assert [z["SubnetId"] for z in out["AvailabilityZones"]] == [n.subnets[1], third]
    assert sorted(e["SubnetId"] for e in lb_enis(n, lb)) == sorted([n.subnets[1], third])


def test_set_subnets_with_endpoints_keeps_every_subnet(client, elb):
    p = build_provider(client, acceptance_required=False, name="zoned", cidr_prefix="10.85", targets=("10.85.128.10",))
    c = build_consumer(client, cidr_prefix="10.86")
    ec2p = client("ec2", PROVIDER)
    third = ec2p.create_subnet(VpcId=p.vpc, CidrBlock="10.85.64.0/20", AvailabilityZone=f"{REGION}d")["Subnet"][
        "SubnetId"]
    create_endpoint(client, p, c)
    elb.fails("InvalidConfigurationRequest", "set_subnets", LoadBalancerArn=p.lb_arn, Subnets=p.subnets[:1])
    # Adding a zone is allowed, and the endpoint service offers it.
    elb.set_subnets(LoadBalancerArn=p.lb_arn, Subnets=[*p.subnets, third])
    svc = ec2p.describe_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])["ServiceConfigurations"][0]
    assert svc["AvailabilityZones"] == [f"{REGION}a", f"{REGION}c", f"{REGION}d"]


def test_ip_address_type(elb, net):
    lb = nlb(elb, net)
    arn = lb["LoadBalancerArn"]
    assert elb.set_ip_address_type(LoadBalancerArn=arn, IpAddressType="ipv4")["IpAddressType"] == "ipv4"
    elb.fails("InvalidConfigurationRequest", "set_ip_address_type", LoadBalancerArn=arn, IpAddressType="dualstack")
    elb.fails("ValidationError", "set_ip_address_type", LoadBalancerArn=arn,
              IpAddressType="dualstack-without-public-ipv4")
    elb.fails("ValidationError", "set_ip_address_type", LoadBalancerArn=arn, IpAddressType="ipv6")
    elb.fails("LoadBalancerNotFound", "set_ip_address_type", LoadBalancerArn=arn[:-16] + "0" * 16,
              IpAddressType="ipv4")
    assert describe_lb(elb, lb)["IpAddressType"] == "ipv4"
    elb.fails("InvalidConfigurationRequest", "create_load_balancer", Name=f"dual-{next(_names)}",
              Subnets=net.subnets, Type="network", Scheme="internal", IpAddressType="dualstack")


def test_capacity_reservation(elb, net):
    lb = nlb(elb, net)
    arn = lb["LoadBalancerArn"]
    out = elb.describe_capacity_reservation(LoadBalancerArn=arn)
    assert out["DecreaseRequestsRemaining"] == 2 and out["CapacityReservationState"] == []
    assert "MinimumLoadBalancerCapacity" not in out

    out = elb.modify_capacity_reservation(LoadBalancerArn=arn, MinimumLoadBalancerCapacity={"CapacityUnits": 3000})
    assert out["MinimumLoadBalancerCapacity"] == {"CapacityUnits": 3000}
    assert {(s["AvailabilityZone"], s["State"]["Code"], s["EffectiveCapacityUnits"])
            for s in out["CapacityReservationState"]} == {(f"{REGION}a", "provisioned", 1500.0),
                                                          (f"{REGION}c", "provisioned", 1500.0)}
    assert "LastModifiedTime" in out
    seen = elb.describe_capacity_reservation(LoadBalancerArn=arn)
    assert seen["MinimumLoadBalancerCapacity"] == {"CapacityUnits": 3000}

    # Increases are free; two decreases a day.
    elb.modify_capacity_reservation(LoadBalancerArn=arn, MinimumLoadBalancerCapacity={"CapacityUnits": 5000})
    elb.modify_capacity_reservation(LoadBalancerArn=arn, MinimumLoadBalancerCapacity={"CapacityUnits": 4000})
    out = elb.modify_capacity_reservation(LoadBalancerArn=arn, ResetCapacityReservation=True)
    assert out["DecreaseRequestsRemaining"] == 0 and "MinimumLoadBalancerCapacity" not in out
    elb.modify_capacity_reservation(LoadBalancerArn=arn, MinimumLoadBalancerCapacity={"CapacityUnits": 3000})
    before = elb.describe_capacity_reservation(LoadBalancerArn=arn)
    before.pop("ResponseMetadata")
    for code, kw in (
        ("CapacityDecreaseRequestLimitExceeded", {"MinimumLoadBalancerCapacity": {"CapacityUnits": 100}}),
        ("CapacityDecreaseRequestLimitExceeded", {"ResetCapacityReservation": True}),
        ("ValidationError", {}),
        ("ValidationError", {"MinimumLoadBalancerCapacity": {"CapacityUnits": 0}}),
        ("ValidationError", {"MinimumLoadBalancerCapacity": {"CapacityUnits": 10}, "ResetCapacityReservation": True}),
    ):
        elb.fails(code, "modify_capacity_reservation", LoadBalancerArn=arn, **kw)
    after = elb.describe_capacity_reservation(LoadBalancerArn=arn)
    after.pop("ResponseMetadata")
    assert after == before

    tls = nlb(elb, net)
    listener(elb, tls, target_group(elb, net, protocol="TLS", port=443), protocol="TLS", port=443,
             Certificates=[{"CertificateArn": CERT}])
    elb.fails("InvalidConfigurationRequest", "modify_capacity_reservation", LoadBalancerArn=tls["LoadBalancerArn"],
              MinimumLoadBalancerCapacity={"CapacityUnits": 3000})
    elb.fails("LoadBalancerNotFound", "describe_capacity_reservation", LoadBalancerArn=arn[:-16] + "0" * 16)


def test_describe_account_limits(elb, aws):
    limits = elb.describe_account_limits()["Limits"]
    by_name = {lim["Name"]: lim["Max"] for lim in limits}
    assert len(limits) == 23
    assert by_name["network-load-balancers"] == "50"
    assert by_name["listeners-per-network-load-balancer"] == "50"
    assert by_name["targets-per-availability-zone-per-network-load-balancer"] == "500"
    assert by_name["certificates-per-network-load-balancer"] == "25"
    assert by_name["target-groups-per-action-on-network-load-balancer"] == "1"
    page = elb.describe_account_limits(PageSize=10)
    assert [lim["Name"] for lim in page["Limits"]] == [lim["Name"] for lim in limits[:10]]
    rest = elb.describe_account_limits(Marker=page["NextMarker"])
    assert [lim["Name"] for lim in rest["Limits"]] == [lim["Name"] for lim in limits[10:]]
    out = aws(PROVIDER)("elbv2", "describe-account-limits")
    assert out["Limits"] == limits


# --- actions of other load balancer types --------------------------------------------


def test_rules_of_an_nlb_listener(elb, net):
    lb = nlb(elb, net)
    tg = target_group(elb, net)
    arn = listener(elb, lb, tg)["ListenerArn"]
    rules = elb.describe_rules(ListenerArn=arn)["Rules"]
    assert len(rules) == 1
    rule = rules[0]
    assert (rule["Priority"], rule["IsDefault"], rule["Conditions"]) == ("default", True, [])
    assert rule["Actions"][0]["Type"] == "forward" and rule["Actions"][0]["TargetGroupArn"] == tg["TargetGroupArn"]
    assert rule["RuleArn"].startswith(arn.replace(":listener/", ":listener-rule/") + "/")
    assert elb.describe_rules(RuleArns=[rule["RuleArn"]])["Rules"] == rules
    # The rule follows the listener's default action.
    other = target_group(elb, net)
    elb.modify_listener(ListenerArn=arn, DefaultActions=[{"Type": "forward", "TargetGroupArn": other["TargetGroupArn"]}])
    assert elb.describe_rules(ListenerArn=arn)["Rules"][0]["Actions"][0]["TargetGroupArn"] == other["TargetGroupArn"]

    forward = [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]
    missing_rule = rule["RuleArn"][:-16] + "0" * 16
    refused = [
        ("UnsupportedProtocol", "create_rule", dict(ListenerArn=arn, Priority=1, Actions=forward,
                                                  Conditions=[{"Field": "path-pattern", "Values": ["/x"]}])),
        ("ValidationError", "create_rule", dict(ListenerArn=arn, Priority=1, Actions=forward)),
        ("ListenerNotFound", "create_rule", dict(ListenerArn=arn[:-16] + "0" * 16, Priority=1, Actions=forward,
                                               Conditions=[{"Field": "path-pattern", "Values": ["/x"]}])),
        ("OperationNotPermitted", "modify_rule", dict(RuleArn=rule["RuleArn"], Actions=forward)),
        ("OperationNotPermitted", "delete_rule", dict(RuleArn=rule["RuleArn"])),
        ("OperationNotPermitted", "set_rule_priorities",
         dict(RulePriorities=[{"RuleArn": rule["RuleArn"], "Priority": 5}])),
        ("RuleNotFound", "modify_rule", dict(RuleArn=missing_rule, Actions=forward)),
        ("RuleNotFound", "delete_rule", dict(RuleArn=missing_rule)),
        ("RuleNotFound", "describe_rules", dict(RuleArns=[missing_rule])),
        ("ValidationError", "describe_rules", dict()),
        ("ValidationError", "describe_rules", dict(ListenerArn=arn, RuleArns=[rule["RuleArn"]])),
    ]
    for code, op, kw in refused:
        elb.fails(code, op, **kw)
    assert elb.describe_rules(ListenerArn=arn)["Rules"][0]["RuleArn"] == rule["RuleArn"]

    # The default rule takes tags.
    elb.add_tags(ResourceArns=[rule["RuleArn"]], Tags=[{"Key": "team", "Value": "web"}])
    assert elb.describe_tags(ResourceArns=[rule["RuleArn"]])["TagDescriptions"][0]["Tags"] == [
        {"Key": "team", "Value": "web"}]
    elb.remove_tags(ResourceArns=[rule["RuleArn"]], TagKeys=["team"])
    assert elb.describe_tags(ResourceArns=[rule["RuleArn"]])["TagDescriptions"][0]["Tags"] == []


def test_trust_stores_resource_policies_and_ip_pools(elb, net, aws):
    store = f"arn:aws:elasticloadbalancing:{REGION}:{PROVIDER}:truststore/mtls/0123456789abcdef"
    elb.fails("CaCertificatesBundleNotFound", "create_trust_store", Name="mtls",
              CaCertificatesBundleS3Bucket="bucket", CaCertificatesBundleS3Key="ca.pem")
    elb.fails("ValidationError", "create_trust_store", Name="bad_name!",
              CaCertificatesBundleS3Bucket="bucket", CaCertificatesBundleS3Key="ca.pem")
    elb.fails("ValidationError", "create_trust_store", Name="mtls", CaCertificatesBundleS3Bucket="bucket")
    assert elb.describe_trust_stores()["TrustStores"] == []
    elb.fails("TrustStoreNotFound", "describe_trust_stores", Names=["mtls"])
    elb.fails("TrustStoreNotFound", "describe_trust_stores", TrustStoreArns=[store])
    for op, kw in (
        ("modify_trust_store", dict(CaCertificatesBundleS3Bucket="b", CaCertificatesBundleS3Key="k")),
        ("delete_trust_store", {}), ("get_trust_store_ca_certificates_bundle", {}),
        ("describe_trust_store_associations", {}), ("describe_trust_store_revocations", {}),
        ("add_trust_store_revocations", {}), ("remove_trust_store_revocations", dict(RevocationIds=[1])),
        ("get_trust_store_revocation_content", dict(RevocationId=1)),
        ("delete_shared_trust_store_association", dict(ResourceArn=store)),
    ):
        elb.fails("TrustStoreNotFound", op, TrustStoreArn=store, **kw)
    elb.fails("TrustStoreNotFound", "add_tags", ResourceArns=[store], Tags=[{"Key": "k", "Value": "v"}])

    lb = nlb(elb, net)
    elb.fails("ResourceNotFound", "get_resource_policy", ResourceArn=lb["LoadBalancerArn"])
    elb.fails("ResourceNotFound", "get_resource_policy", ResourceArn=store)
    out = elb.modify_ip_pools(LoadBalancerArn=lb["LoadBalancerArn"], RemoveIpamPools=["ipv4"])
    assert "IpamPools" not in out
    elb.fails("ValidationError", "modify_ip_pools", LoadBalancerArn=lb["LoadBalancerArn"],
              IpamPools={"Ipv4IpamPoolId": "ipam-pool-0123456789abcdef0"})
    elb.fails("LoadBalancerNotFound", "modify_ip_pools", LoadBalancerArn=lb["LoadBalancerArn"][:-16] + "0" * 16,
              RemoveIpamPools=["ipv4"])
    err = aws(PROVIDER).fails("elbv2", "describe-trust-stores", "--names", "mtls")
    assert "TrustStoreNotFound" in err


def test_every_operation_of_the_model_answers(elb):
    """No ELBv2 operation of botocore's model answers InvalidAction."""
    ops = elb.c.meta.service_model.operation_names
    assert len(ops) >= 51
    for op in ops:
        try:
            getattr(elb.c, botocore.xform_name(op))()
        except ClientError as e:
            assert e.response["Error"]["Code"] != "InvalidAction", op


# --- tags -------------------------------------------------------------------------


def test_tags_required_parameters_and_refusals(elb, net):
    lb = nlb(elb, net)
    arn = lb["LoadBalancerArn"]
    tg = target_group(elb, net)
    elb.add_tags(ResourceArns=[arn, tg["TargetGroupArn"]], Tags=[{"Key": "env", "Value": "dev"}])

    def tags_of(a):
        return elb.describe_tags(ResourceArns=[a])["TagDescriptions"][0]["Tags"]

    before = (tags_of(arn), tags_of(tg["TargetGroupArn"]))
    assert before[0] == [{"Key": "env", "Value": "dev"}]
    refused = [
        ("ValidationError", "add_tags", dict(Tags=[{"Key": "k", "Value": "v"}])),
        ("ValidationError", "add_tags", dict(ResourceArns=[arn])),
        ("ValidationError", "add_tags", dict(ResourceArns=[arn], Tags=[])),
        ("ValidationError", "add_tags", dict(ResourceArns=[], Tags=[{"Key": "k", "Value": "v"}])),
        ("DuplicateTagKeys", "add_tags", dict(ResourceArns=[arn], Tags=[{"Key": "k", "Value": "1"},
                                                                      {"Key": "k", "Value": "2"}])),
        ("ValidationError", "add_tags", dict(ResourceArns=[arn], Tags=[{"Key": "aws:reserved", "Value": "v"}])),
        ("ValidationError", "add_tags", dict(ResourceArns=[arn], Tags=[{"Key": "k" * 129, "Value": "v"}])),
        ("TooManyTags", "add_tags", dict(ResourceArns=[arn], Tags=[{"Key": f"k{i}", "Value": "v"}
                                                                  for i in range(50)])),
        # One missing resource: no resource is tagged.
        ("TargetGroupNotFound", "add_tags", dict(ResourceArns=[arn, tg["TargetGroupArn"][:-16] + "0" * 16],
                                                 Tags=[{"Key": "k", "Value": "v"}])),
        ("ValidationError", "remove_tags", dict(TagKeys=["env"])),
        ("ValidationError", "remove_tags", dict(ResourceArns=[arn])),
        ("LoadBalancerNotFound", "remove_tags", dict(ResourceArns=[arn, arn[:-16] + "0" * 16], TagKeys=["env"])),
        ("ValidationError", "describe_tags", dict()),
        ("ValidationError", "describe_tags", dict(ResourceArns=[arn] * 21)),
    ]
    for code, op, kw in refused:
        elb.fails(code, op, **kw)
    assert (tags_of(arn), tags_of(tg["TargetGroupArn"])) == before
    elb.remove_tags(ResourceArns=[arn, tg["TargetGroupArn"]], TagKeys=["env", "absent"])
    assert (tags_of(arn), tags_of(tg["TargetGroupArn"])) == ([], [])


def test_tags_through_the_cli(aws, elb, net):
    lb = nlb(elb, net)
    cli = aws(PROVIDER)
    cli("elbv2", "add-tags", "--resource-arns", lb["LoadBalancerArn"], "--tags", "Key=owner,Value=team-a")
    out = cli("elbv2", "describe-tags", "--resource-arns", lb["LoadBalancerArn"])
    assert out["TagDescriptions"][0]["Tags"] == [{"Key": "owner", "Value": "team-a"}]
    err = cli.fails("elbv2", "add-tags", "--resource-arns", lb["LoadBalancerArn"],
                    "--tags", "Key=a,Value=1", "Key=a,Value=2")
    assert "DuplicateTagKeys" in err
