"""The ELBv2 API beyond create/describe/delete, as a Network Load Balancer
answers it: listener attributes, security groups, target group and
listener changes, certificates and SSL policies, subnets and address
types, capacity reservations, account limits, the operations of other
load balancer types, and tags. boto3 (and the AWS CLI for a few) against
the emulator binary; every answer is checked against botocore's output
shape, and every refused request is shown to have changed nothing."""

import itertools

import pytest
from botocore.exceptions import ClientError

from conftest import PROVIDER, REGION
from shapes import check_xml

_names = itertools.count(1)


class Elb:
    """An ELBv2 client whose every raw answer is judged against botocore's
    output shape of the operation."""

    def __init__(self, client, account=PROVIDER):
        self.c = client("elbv2", account)
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
def elb(client):
    return Elb(client)


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
