"""Negative paths answer with AWS's codes and envelopes, and nothing takes
the server down: bad ids, missing parameters, other accounts' resources,
unknown actions, garbage bodies, oversized bodies."""

import json
import random
import socket
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import urlparse

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import CONSUMER, PROVIDER, REGION, STRANGER, wait_for
from topology import build_consumer, build_provider, create_endpoint


def code_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"]


def raw(url, body, method="POST", headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def healthy(url):
    with urllib.request.urlopen(f"{url}/_emulator/health", timeout=5) as r:
        return json.load(r)["status"] == "ok"


def test_ec2_codes(client):
    p = build_provider(client, name="errors")
    c = build_consumer(client, cidr_prefix="10.40")
    ec2c = client("ec2", CONSUMER)
    ec2p = client("ec2", PROVIDER)
    ep = create_endpoint(client, p, c)

    unknown = "com.amazonaws.vpce.ap-northeast-1.vpce-svc-0123456789abcdef0"
    assert code_of(ec2c.create_vpc_endpoint, VpcEndpointType="Interface", VpcId=c.vpc, ServiceName=unknown) == (
        "InvalidServiceName"
    )
    assert code_of(ec2c.describe_vpc_endpoints, VpcEndpointIds=["vpce-zz"]) == "InvalidVpcEndpointId.Malformed"
    assert code_of(ec2c.describe_vpc_endpoints, MaxResults=1) == "InvalidMaxResults"
    assert code_of(ec2c.describe_vpc_endpoints, NextToken="garbage") == "InvalidNextToken"
    assert code_of(ec2c.describe_vpc_endpoints, Filters=[{"Name": "no-such-filter", "Values": ["x"]}]) == (
        "InvalidParameterValue"
    )
    # Another account's resources do not exist for the caller.
    stranger = client("ec2", STRANGER)
    assert code_of(stranger.describe_vpc_endpoints, VpcEndpointIds=[ep["VpcEndpointId"]]) == (
        "InvalidVpcEndpointId.NotFound"
    )
    assert code_of(stranger.describe_vpcs, VpcIds=[c.vpc]) == "InvalidVpcID.NotFound"
    assert code_of(stranger.describe_vpc_endpoint_service_configurations, ServiceIds=[p.service_id]) == (
        "InvalidVpcEndpointServiceId.NotFound"
    )
    assert code_of(ec2c.accept_vpc_endpoint_connections, ServiceId=p.service_id, VpcEndpointIds=[ep["VpcEndpointId"]]) == (
        "InvalidVpcEndpointServiceId.NotFound"
    )
    assert code_of(ec2c.describe_subnets, SubnetIds=["subnet-0123456789abcdef0"]) == "InvalidSubnetID.NotFound"
    assert code_of(
        ec2c.create_vpc_endpoint, VpcEndpointType="Interface", VpcId=c.vpc, ServiceName=p.service_name,
        SecurityGroupIds=["sg-0123456789abcdef0"],
    ) == "InvalidGroup.NotFound"
    assert code_of(ec2p.create_vpc_endpoint_service_configuration, NetworkLoadBalancerArns=["not-an-arn"]) == (
        "InvalidNetworkLoadBalancerArn.Malformed"
    )
    assert code_of(
        ec2p.modify_vpc_endpoint_service_permissions, ServiceId=p.service_id, AddAllowedPrincipals=["nobody"]
    ) == "InvalidPrincipal"
    assert code_of(ec2c.create_subnet, VpcId=c.vpc, CidrBlock="10.99.0.0/24") == "InvalidSubnet.Range"
    assert code_of(ec2c.create_vpc, CidrBlock="10.0.0.0/8") == "InvalidVpc.Range"
    assert code_of(ec2c.create_vpc, CidrBlock="10.0.0.0/16", DryRun=True) == "DryRunOperation"
    assert code_of(ec2c.delete_vpc, VpcId=c.vpc) == "DependencyViolation"
    # Gateway is the API's default endpoint type: wrong for an interface service.
    assert code_of(ec2c.create_vpc_endpoint, VpcId=c.vpc, ServiceName=p.service_name) == "InvalidParameter"


def test_cross_account_and_busy_service(client):
    p = build_provider(client, acceptance_required=False, name="busy")
    c = build_consumer(client, cidr_prefix="10.41")
    ec2p = client("ec2", PROVIDER)
    stranger = client("ec2", STRANGER)
    ep = create_endpoint(client, p, c)["VpcEndpointId"]
    wait_for(
        lambda: client("ec2", CONSUMER).describe_vpc_endpoints(VpcEndpointIds=[ep])["VpcEndpoints"][0]["State"]
        == "available",
        "available",
    )
    # An available connection blocks deleting the service: HTTP 200, per item.
    out = ec2p.delete_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [(u["ResourceId"], u["Error"]["Code"]) for u in out["Unsuccessful"]] == [
        (p.service_id, "ExistingVpcEndpointConnections")
    ]
    assert ec2p.describe_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])["ServiceConfigurations"]
    # Another account can neither change nor delete the consumer's endpoint.
    assert code_of(stranger.modify_vpc_endpoint, VpcEndpointId=ep, RemoveSubnetIds=[c.subnets[0]]) == (
        "InvalidVpcEndpointId.NotFound"
    )
    out = stranger.delete_vpc_endpoints(VpcEndpointIds=[ep])["Unsuccessful"]
    assert [u["ResourceId"] for u in out] == [ep]
    # AWS's error list has both spellings for a missing endpoint.
    assert out[0]["Error"]["Code"] in ("InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound")
    assert client("ec2", CONSUMER).describe_vpc_endpoints(VpcEndpointIds=[ep])["VpcEndpoints"][0]["State"] == (
        "available"
    )
    # The provider only sees its service's side of it.
    assert code_of(ec2p.describe_vpc_endpoints, VpcEndpointIds=[ep]) == "InvalidVpcEndpointId.NotFound"


def test_missing_parameter_and_dry_run(client, emulator):
    # botocore checks required members itself; switch that off to reach the server.
    loose = boto3.client(
        "ec2", endpoint_url=emulator, region_name=REGION, aws_access_key_id=CONSUMER, aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}, parameter_validation=False),
    )
    assert code_of(loose.create_vpc_endpoint, VpcEndpointType="Interface") == "MissingParameter"
    assert code_of(loose.modify_vpc_endpoint) == "MissingParameter"
    assert code_of(loose.create_vpc) == "MissingParameter"
    # A dry run that would succeed says so, and changes nothing.
    ec2 = client("ec2", CONSUMER)
    before = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    assert code_of(ec2.create_vpc, CidrBlock="10.42.0.0/16", DryRun=True) == "DryRunOperation"
    assert {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]} == before


def test_cli_error_codes(aws, client):
    p = build_provider(client, name="cli-errors")
    c = build_consumer(client, cidr_prefix="10.43")
    consumer, provider, stranger = aws(CONSUMER), aws(PROVIDER), aws(STRANGER)

    def create(cli, vpc, name):
        return cli.fails(
            "ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", vpc,
            "--service-name", name, "--subnet-ids", c.subnets[0],
        )

    unknown = f"com.amazonaws.vpce.{REGION}.vpce-svc-0123456789abcdef0"
    assert "(InvalidServiceName) when calling the CreateVpcEndpoint operation" in create(consumer, c.vpc, unknown)
    s = build_consumer(client, account=STRANGER, cidr_prefix="10.44")
    assert "(InvalidServiceName)" in create(stranger, s.vpc, p.service_name)

    ep = create_endpoint(client, p, c)["VpcEndpointId"]
    err = stranger.fails("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", ep)
    assert "(InvalidVpcEndpointId.NotFound) when calling the DescribeVpcEndpoints operation" in err
    assert "(InvalidVpcEndpointId.Malformed)" in consumer.fails("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", "vpce-zz")
    assert "(DryRunOperation)" in consumer.fails("ec2", "create-vpc", "--cidr-block", "10.45.0.0/16", "--dry-run")

    # A pending connection: the delete is answered (exit 0) with a failed item.
    out = provider("ec2", "delete-vpc-endpoint-service-configurations", "--service-ids", p.service_id)
    assert out["Unsuccessful"][0]["Error"]["Code"] == "ExistingVpcEndpointConnections"

    missing_lb = f"arn:aws:elasticloadbalancing:{REGION}:{PROVIDER}:loadbalancer/net/nope/0123456789abcdef"
    missing_tg = f"arn:aws:elasticloadbalancing:{REGION}:{PROVIDER}:targetgroup/nope/0123456789abcdef"
    assert "(LoadBalancerNotFound)" in provider.fails("elbv2", "describe-load-balancers", "--load-balancer-arns", missing_lb)
    assert "(TargetGroupNotFound)" in provider.fails("elbv2", "describe-target-groups", "--target-group-arns", missing_tg)
    assert "(TargetGroupNotFound)" in provider.fails("elbv2", "describe-target-health", "--target-group-arn", missing_tg)
    err = provider.fails(
        "elbv2", "create-listener", "--load-balancer-arn", p.lb_arn, "--protocol", "TCP", "--port", "80",
        "--default-actions", f"Type=forward,TargetGroupArn={p.tg_arn}",
    )
    assert "(DuplicateListener) when calling the CreateListener operation" in err


def test_elbv2_codes(client):
    p = build_provider(client, name="elb-errors")
    elb = client("elbv2", PROVIDER)
    missing = "arn:aws:elasticloadbalancing:ap-northeast-1:111111111111:loadbalancer/net/nope/0123456789abcdef"
    assert code_of(elb.describe_load_balancers, LoadBalancerArns=[missing]) == "LoadBalancerNotFound"
    assert code_of(elb.describe_target_health, TargetGroupArn=p.tg_arn.replace(p.tg_arn[-16:], "0" * 16)) == (
        "TargetGroupNotFound"
    )
    assert code_of(
        elb.create_listener, LoadBalancerArn=p.lb_arn, Protocol="TCP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": p.tg_arn}],
    ) == "DuplicateListener"
    assert code_of(elb.create_load_balancer, Name="bad_name!", Subnets=p.subnets, Type="network") == "ValidationError"
    assert code_of(elb.create_load_balancer, Name="x", Subnets=["subnet-0123456789abcdef0"], Type="network") == (
        "SubnetNotFound"
    )
    assert code_of(
        elb.create_target_group, Name="hc", Protocol="TCP", Port=80, VpcId=p.vpc,
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=10,
    ) == "ValidationError"
    assert code_of(elb.register_targets, TargetGroupArn=p.tg_arn, Targets=[{"Id": "192.0.2.1"}]) == "InvalidTarget"
    assert code_of(elb.delete_load_balancer, LoadBalancerArn=p.lb_arn) == "ResourceInUse"
    # Another account cannot see the provider's load balancer.
    assert code_of(client("elbv2", CONSUMER).describe_load_balancers, LoadBalancerArns=[p.lb_arn]) == (
        "LoadBalancerNotFound"
    )


def test_protocol_level_garbage(emulator):
    ec2_xml = "<Response><Errors><Error><Code>"
    status, body = raw(emulator, b"Action=NoSuchAction&Version=2016-11-15")
    assert status == 400 and ec2_xml + "InvalidAction</Code>" in body and "<RequestID>" in body
    status, body = raw(emulator, b"Version=2016-11-15")
    assert status == 400 and "MissingAction" in body
    status, body = raw(emulator, b"Action=CreateVpcEndpoint&Version=2016-11-15")
    assert status == 400 and "MissingParameter" in body
    status, body = raw(emulator, b"Action=NoSuchAction&Version=2015-12-01")
    assert status == 400 and "<ErrorResponse" in body and "<Code>InvalidAction</Code>" in body
    for junk in (b"\x00\xff\xfe\x80garbage", b"%%%%", b"&&&===&&", b"Action=" + b"A" * 5000, bytes(range(256))):
        status, body = raw(emulator, junk)
        assert 400 <= status < 500, (junk[:20], status)
        assert "<Code>" in body
    # Values of the wrong type are the caller's fault, with EC2's codes.
    for body_, code in (
        (b"Action=DescribeVpcs&Version=2016-11-15&MaxResults=abc", "InvalidParameterValue"),
        (b"Action=DescribeVpcs&Version=2016-11-15&DryRun=maybe", "InvalidParameterValue"),
        (b"Action=%ff%fe&Version=2016-11-15", "InvalidAction"),
    ):
        status, body = raw(emulator, body_)
        assert status == 400 and f"<Code>{code}</Code>" in body, (body_, status, body)
    status, body = raw(emulator, None, method="GET")
    assert status == 400 and "MissingAction" in body
    status, body = raw(f"{emulator}/?Action=DescribeRegions&Version=2016-11-15", None, method="GET")
    assert status == 200 and "<regionName>ap-northeast-1</regionName>" in body
    status, body = raw(emulator, b"Action=DescribeVpcs", headers={"Authorization": "AWS4-HMAC-SHA256 nonsense"})
    assert status == 200  # an unparseable signature is an unsigned request in lenient mode
    assert healthy(emulator)


def message_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_characters_xml_cannot_carry_are_refused(client, emulator):
    """A control character (or U+FFFE/U+FFFF) in a value would make every
    later answer that echoes it unparseable: it is refused with the service's
    code, nothing is stored, and the account's describes still parse."""
    account = "555555555555"  # its own account: nothing else writes there
    ec2, elb = client("ec2", account), client("elbv2", account)
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]

    code, message = message_of(ec2.create_tags, Resources=[vpc], Tags=[{"Key": "Name", "Value": "a\x01b"}])
    assert code == "InvalidParameterValue" and "parameter Tag.1.Value" in message, message
    assert code_of(ec2.create_tags, Resources=[vpc], Tags=[{"Key": "k\x1f", "Value": "v"}]) == "InvalidParameterValue"
    assert code_of(ec2.create_tags, Resources=[vpc], Tags=[{"Key": "k", "Value": "\ufffe"}]) == "InvalidParameterValue"
    assert code_of(
        ec2.create_vpc, CidrBlock="10.51.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "bell\x07"}]}],
    ) == "InvalidParameterValue"
    code, message = message_of(ec2.create_security_group, GroupName="cc", Description="bad\x00desc", VpcId=vpc)
    assert code == "InvalidParameterValue" and "parameter GroupDescription" in message, message
    assert code_of(ec2.create_security_group, GroupName="c\x1bc", Description="fine", VpcId=vpc) == (
        "InvalidParameterValue"
    )
    # Tab, newline and carriage return are XML characters: kept, and given back as sent.
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "note", "Value": "tab\tnew\nline\rcr"}])

    # Nothing refused was stored, and the account's answers parse.
    tags = {t["Key"]: t["Value"] for t in ec2.describe_tags()["Tags"]}
    assert tags.get("note") == "tab\tnew\nline\rcr" and "Name" not in tags and "k" not in tags, tags
    assert vpc in [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
    assert "cc" not in {g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    ec2.describe_vpc_endpoints()

    # ELBv2 answers ValidationError, in its envelope.
    tg = elb.create_target_group(Name="cc", Protocol="TCP", Port=80, VpcId=vpc, TargetType="ip")["TargetGroups"][0]
    code, message = message_of(elb.add_tags, ResourceArns=[tg["TargetGroupArn"]], Tags=[{"Key": "k", "Value": "\x01"}])
    assert code == "ValidationError" and "Tags.member.1.Value" in message, message
    assert elb.describe_tags(ResourceArns=[tg["TargetGroupArn"]])["TagDescriptions"][0]["Tags"] == []

    # An id echoed in an error: a parseable error, not a parser failure.
    code, message = message_of(ec2.describe_vpcs, VpcIds=["vpc-\x00abc"])
    assert code == "InvalidParameterValue" and "VpcId.1" in message, message
    for body, root, code in (
        (b"Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-%00abc", "Response", "InvalidParameterValue"),
        (b"Action=DescribeVpcs&Version=2016-11-15&Vpc%01Id.1=vpc-abc", "Response", "UnknownParameter"),
        (b"Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=%EF%BF%BF", "ErrorResponse",
         "ValidationError"),
        (b"Action=GetCallerIdentity&Version=2011-06-15&X=%02", "ErrorResponse", "ValidationError"),
    ):
        status, text = raw(emulator, body)
        doc = ET.fromstring(text.encode())  # expat refuses what XML 1.0 cannot carry
        assert status == 400 and doc.tag.endswith(root), (body, status, text)
        assert doc.find(".//{*}Code").text == code, (body, text)


def test_oversized_and_broken_http(emulator):
    status, body = raw(emulator, b"Action=DescribeVpcs&X=" + b"x" * (5 * 1024 * 1024))
    assert status == 413 and "RequestEntityTooLarge" in body
    u = urlparse(emulator)
    # A client that sends half a request and goes away.
    with socket.create_connection((u.hostname, u.port), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nAction=Desc")
    # A client that sends something that is not HTTP.
    with socket.create_connection((u.hostname, u.port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01\x02\x00hello\r\n\r\n")
        s.settimeout(5)
        try:
            s.recv(100)
        except (ConnectionResetError, socket.timeout):
            pass
    assert healthy(emulator)


def test_admin_endpoints(emulator, client):
    with urllib.request.urlopen(f"{emulator}/_emulator/status", timeout=5) as r:
        status = json.load(r)
    assert "regions" in status and status["strict_auth"] is False
    status_code, body = raw(f"{emulator}/_emulator/nope", None, method="GET")
    assert status_code == 404
    status_code, body = raw(f"{emulator}/_emulator/public-dns/txt", b"{not json")
    assert status_code == 400


EC2_ACTIONS = (
    "CreateVpc", "DescribeVpcs", "CreateSubnet", "DescribeSubnets", "CreateSecurityGroup",
    "AuthorizeSecurityGroupIngress", "CreateVpcEndpoint", "DescribeVpcEndpoints", "ModifyVpcEndpoint",
    "DeleteVpcEndpoints", "CreateVpcEndpointServiceConfiguration", "DescribeVpcEndpointServices",
    "ModifyVpcEndpointServicePermissions", "AcceptVpcEndpointConnections", "CreateTags", "DescribeTags",
)
ELB_ACTIONS = (
    "CreateLoadBalancer", "DescribeLoadBalancers", "CreateTargetGroup", "RegisterTargets", "CreateListener",
    "ModifyLoadBalancerAttributes", "DescribeTargetHealth", "AddTags",
)
KEYS = (
    "VpcId", "CidrBlock", "SubnetId.1", "SubnetId.0", "SubnetId.100000000", "VpcEndpointId.1", "ServiceName",
    "ServiceId", "Filter.1.Name", "Filter.1.Value.1", "Filter.99999999.Value.99999999", "MaxResults", "NextToken",
    "DryRun", "TagSpecification.1.Tag.1.Key", "IpPermissions.1.FromPort", "AvailabilityZone", "Name",
    "Subnets.member.1", "Subnets.member.4294967296", "LoadBalancerArn", "TargetGroupArn", "Targets.member.1.Id",
    "Targets.member.1.Port", "Port", "Protocol", "Attributes.member.1.Key", "Attributes.member.1.Value",
    "DefaultActions.member.1.Type", "AcceptanceRequired", "NetworkLoadBalancerArn.1",
)
VALUES = (
    "", "0", "-1", "4294967297", "99999999999999999999999", "true", "maybe", "%", "%zz", "vpce-", "vpc-zz",
    "10.0.0.0/33", "10.0.0.0/16", "x" * 300, "\u00e9\u00e8", "arn:aws:elasticloadbalancing:::", "TCP", "*",
)


def test_random_requests_never_break_the_server(emulator):
    """Seeded random requests (unsigned, so they land in the default account,
    apart from the other tests): every answer is AWS-shaped XML below 500,
    quick even for absurd list indexes, and the server keeps serving."""
    rng = random.Random(20261123)
    for i in range(300):
        if rng.random() < 0.5:
            action, version = rng.choice(EC2_ACTIONS), "2016-11-15"
        else:
            action, version = rng.choice(ELB_ACTIONS), "2015-12-01"
        params = [("Action", action), ("Version", version)]
        params += [(rng.choice(KEYS), rng.choice(VALUES)) for _ in range(rng.randint(0, 6))]
        body = "&".join(f"{k}={v}" for k, v in params).encode()
        if rng.random() < 0.1:
            body = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
        started = time.monotonic()
        status, text = raw(emulator, body)
        assert time.monotonic() - started < 5, body[:200]
        assert status < 500, (body[:200], status, text[:300])
        if status == 200:
            assert "Response xmlns=" in text, (body[:200], text[:300])
        else:
            assert status >= 400 and "<Code>" in text and "</Error>" in text, (body[:200], status, text[:300])
    assert healthy(emulator)
