"""Every action the emulator serves, called through boto3 so botocore parses
each answer, with filters, tags, pagination, ClientToken and DryRun."""

import pytest
from botocore.exceptions import ClientError

from conftest import CONSUMER, PROVIDER, REGION, STRANGER, wait_for
from topology import build_consumer, build_provider, create_endpoint


def code_of(call, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"]


def test_vpc_family(client):
    ec2 = client("ec2", CONSUMER)
    vpc = ec2.create_vpc(
        CidrBlock="10.50.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "coverage"}]}],
    )["Vpc"]
    # CreateVpc answers `pending`, as AWS does; DescribeVpcs then shows it available.
    assert vpc["CidrBlock"] == "10.50.0.0/16" and vpc["State"] == "pending"
    assert vpc["Tags"] == [{"Key": "Name", "Value": "coverage"}]
    got = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["cover*"]}])["Vpcs"]
    assert [(v["VpcId"], v["State"]) for v in got] == [(vpc["VpcId"], "available")]
    attr = ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsSupport")
    assert attr["EnableDnsSupport"]["Value"] is True
    assert ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute="enableDnsHostnames")["EnableDnsHostnames"][
        "Value"
    ] is False
    ec2.modify_vpc_attribute(VpcId=vpc["VpcId"], EnableDnsHostnames={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc["VpcId"], EnableDnsSupport={"Value": False})
    attrs = [
        ec2.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=a) for a in ("enableDnsHostnames", "enableDnsSupport")
    ]
    assert (attrs[0]["EnableDnsHostnames"]["Value"], attrs[1]["EnableDnsSupport"]["Value"]) == (True, False)

    subnet = ec2.create_subnet(VpcId=vpc["VpcId"], CidrBlock="10.50.1.0/24", AvailabilityZoneId="apne1-az1")["Subnet"]
    assert subnet["AvailabilityZone"] == "ap-northeast-1c" and subnet["AvailableIpAddressCount"] == 251
    assert ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"][0]["SubnetId"] == (
        subnet["SubnetId"]
    )

    sg = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc["VpcId"])["GroupId"]
    rules = ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}],
    )
    assert rules["Return"] is True and rules["SecurityGroupRules"][0]["CidrIpv4"] == "10.0.0.0/8"
    with pytest.raises(ClientError) as e:
        ec2.authorize_security_group_ingress(GroupId=sg, IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="10.0.0.0/8")
    assert e.value.response["Error"]["Code"] == "InvalidPermission.Duplicate"
    perms = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"]
    assert perms == [
        {
            "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            "Ipv6Ranges": [], "PrefixListIds": [], "UserIdGroupPairs": [],
        }
    ]
    ec2.revoke_security_group_ingress(GroupId=sg, IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="10.0.0.0/8")
    assert ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"] == []

    ec2.create_tags(Resources=[subnet["SubnetId"], sg], Tags=[{"Key": "team", "Value": "net"}])
    tags = ec2.describe_tags(Filters=[{"Name": "key", "Values": ["team"]}])["Tags"]
    assert sorted(t["ResourceId"] for t in tags) == sorted([subnet["SubnetId"], sg])
    assert {t["ResourceType"] for t in tags} == {"subnet", "security-group"}
    ec2.delete_tags(Resources=[sg], Tags=[{"Key": "team"}])
    assert [t["ResourceId"] for t in ec2.describe_tags(Filters=[{"Name": "key", "Values": ["team"]}])["Tags"]] == [
        subnet["SubnetId"]
    ]

    ec2.delete_security_group(GroupId=sg)
    ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    ec2.delete_vpc(VpcId=vpc["VpcId"])
    with pytest.raises(ClientError) as e:
        ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])
    assert e.value.response["Error"]["Code"] == "InvalidVpcID.NotFound"


def test_zones_and_regions(client):
    ec2 = client("ec2", CONSUMER)
    zones = ec2.describe_availability_zones()["AvailabilityZones"]
    assert [(z["ZoneName"], z["ZoneId"]) for z in zones] == [
        ("ap-northeast-1a", "apne1-az4"), ("ap-northeast-1c", "apne1-az1"), ("ap-northeast-1d", "apne1-az2"),
    ]
    assert all(z["State"] == "available" and z["RegionName"] == REGION for z in zones)
    with pytest.raises(ClientError) as e:
        ec2.describe_availability_zones(DryRun=True)
    assert e.value.response["Error"]["Code"] == "DryRunOperation"
    with pytest.raises(ClientError) as e:
        ec2.describe_vpc_endpoints(DryRun=True)
    assert e.value.response["Error"]["Code"] == "DryRunOperation"
    regions = [r["RegionName"] for r in ec2.describe_regions()["Regions"]]
    assert "ap-northeast-1" in regions and "us-east-1" in regions


def test_endpoint_listing_filters_pagination_and_tokens(client):
    p = build_provider(client, acceptance_required=False, name="listing")
    c = build_consumer(client, cidr_prefix="10.51")
    ec2 = client("ec2", CONSUMER)
    made = []
    for i in range(12):
        ep = ec2.create_vpc_endpoint(
            VpcEndpointType="Interface", VpcId=c.vpc, ServiceName=p.service_name, SubnetIds=[c.subnets[i % 2]],
            TagSpecifications=[
                {"ResourceType": "vpc-endpoint", "Tags": [{"Key": "n", "Value": str(i)}, {"Key": "Name", "Value": f"ep-{i}"}]}
            ] if i < 10 else [],
        )["VpcEndpoint"]
        # AWS does not promise an order for tags.
        assert {t["Key"]: t["Value"] for t in ep.get("Tags", [])} == ({"n": str(i), "Name": f"ep-{i}"} if i < 10 else {})
        made.append(ep["VpcEndpointId"])
    pages, token, seen = 0, None, []
    while True:
        kwargs = {"MaxResults": 5, "Filters": [{"Name": "vpc-id", "Values": [c.vpc]}]}
        if token:
            kwargs["NextToken"] = token
        out = ec2.describe_vpc_endpoints(**kwargs)
        pages += 1
        seen += [e["VpcEndpointId"] for e in out["VpcEndpoints"]]
        token = out.get("NextToken")
        if not token:
            break
    assert pages == 3 and sorted(seen) == sorted(made) and len(set(seen)) == 12
    paginated = [
        e["VpcEndpointId"]
        for page in ec2.get_paginator("describe_vpc_endpoints").paginate(
            Filters=[{"Name": "vpc-id", "Values": [c.vpc]}], PaginationConfig={"PageSize": 5}
        )
        for e in page["VpcEndpoints"]
    ]
    assert sorted(paginated) == sorted(made)
    def ids(*filters):
        out = ec2.describe_vpc_endpoints(Filters=[{"Name": n, "Values": list(v)} for n, v in filters])
        return sorted(e["VpcEndpointId"] for e in out["VpcEndpoints"])

    assert ids(("tag:n", ["3"])) == [made[3]]
    assert ids(("tag:Name", ["ep-4", "ep-7"])) == sorted([made[4], made[7]])
    assert ids(("tag-key", ["Name"]), ("vpc-endpoint-type", ["Interface"])) == sorted(made[:10])
    assert ids(("tag-key", ["Name"]), ("vpc-endpoint-type", ["Gateway"])) == []
    assert ids(("service-name", [p.service_name])) == sorted(made)
    assert ids(("vpc-id", [c.vpc]), ("vpc-endpoint-state", ["pending", "available"])) == sorted(made)
    assert ids(("vpc-endpoint-state", ["pendingAcceptance"])) == []
    assert ids(("vpc-endpoint-id", [made[0], made[11]])) == sorted([made[0], made[11]])
    # Ids and filters combine.
    assert [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints(
        VpcEndpointIds=[made[1], made[2]], Filters=[{"Name": "tag:n", "Values": ["2"]}]
    )["VpcEndpoints"]] == [made[2]]

    # ClientToken: the same request twice is one endpoint.
    c2 = build_consumer(client, cidr_prefix="10.52")
    args = dict(VpcEndpointType="Interface", VpcId=c2.vpc, ServiceName=p.service_name, SubnetIds=c2.subnets,
                ClientToken="idem-1")
    a = ec2.create_vpc_endpoint(**args)["VpcEndpoint"]["VpcEndpointId"]
    b = ec2.create_vpc_endpoint(**args)["VpcEndpoint"]["VpcEndpointId"]
    assert a == b
    with pytest.raises(ClientError) as e:
        ec2.create_vpc_endpoint(**{**args, "SubnetIds": c2.subnets[:1]})
    assert e.value.response["Error"]["Code"] == "IdempotentParameterMismatch"
    with pytest.raises(ClientError) as e:
        ec2.create_vpc_endpoint(**{**args, "ClientToken": "other", "DryRun": True})
    assert e.value.response["Error"]["Code"] == "DryRunOperation"
    ec2.delete_vpc_endpoints(VpcEndpointIds=made)


def test_provider_side_actions(client):
    p = build_provider(client, name="provider-side")
    ec2 = client("ec2", PROVIDER)
    c = build_consumer(client, cidr_prefix="10.53")
    ep = create_endpoint(client, p, c)["VpcEndpointId"]

    def connections(*filters):
        out = ec2.describe_vpc_endpoint_connections(Filters=[{"Name": n, "Values": [v]} for n, v in filters])
        return [(x["VpcEndpointId"], x["VpcEndpointState"]) for x in out["VpcEndpointConnections"]]

    assert connections(("service-id", p.service_id)) == [(ep, "pendingAcceptance")]
    assert connections(("vpc-endpoint-owner", CONSUMER), ("service-id", p.service_id)) == [(ep, "pendingAcceptance")]
    assert connections(("vpc-endpoint-state", "available"), ("service-id", p.service_id)) == []
    assert connections(("vpc-endpoint-owner", STRANGER)) == []
    # The consumer owns no service, so it sees no connections.
    assert client("ec2", CONSUMER).describe_vpc_endpoint_connections()["VpcEndpointConnections"] == []
    assert ec2.reject_vpc_endpoint_connections(ServiceId=p.service_id, VpcEndpointIds=[ep])["Unsuccessful"] == []
    assert connections(("vpc-endpoint-state", "rejected"), ("service-id", p.service_id)) == [(ep, "rejected")]

    svc = ec2.describe_vpc_endpoint_service_configurations(
        Filters=[{"Name": "service-name", "Values": [p.service_name]}]
    )["ServiceConfigurations"]
    assert [s["ServiceId"] for s in svc] == [p.service_id] and svc[0]["ServiceState"] == "Available"
    perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=p.service_id)["AllowedPrincipals"]
    assert perms[0]["Principal"] == f"arn:aws:iam::{CONSUMER}:root" and perms[0]["PrincipalType"] == "Account"
    out = ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=p.service_id, AddAllowedPrincipals=["arn:aws:iam::444444444444:role/app"],
        RemoveAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"],
    )
    assert out["AddedPrincipals"][0]["PrincipalType"] == "Role"
    perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=p.service_id)["AllowedPrincipals"]
    assert [x["Principal"] for x in perms] == ["arn:aws:iam::444444444444:role/app"]
    out = ec2.modify_vpc_endpoint_service_configuration(ServiceId=p.service_id, AcceptanceRequired=False)
    assert out["Return"] is True
    svc = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])["ServiceConfigurations"][0]
    assert svc["AcceptanceRequired"] is False
    assert ec2.delete_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])["Unsuccessful"] == []


def test_service_tags_and_consumer_filters(client):
    p = build_provider(client, name="tagged-svc")
    ec2 = client("ec2", PROVIDER)
    # An NLB fronts one service at most: the second service gets its own.
    lb = client("elbv2", PROVIDER).create_load_balancer(
        Name="tagged-svc-2", Subnets=p.subnets, Scheme="internal", Type="network"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    assert code_of(ec2.create_vpc_endpoint_service_configuration, NetworkLoadBalancerArns=[p.lb_arn]) == (
        "InvalidParameter"
    )
    svc = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb], AcceptanceRequired=False,
        TagSpecifications=[{"ResourceType": "vpc-endpoint-service", "Tags": [{"Key": "Name", "Value": "tagged"}]}],
    )["ServiceConfiguration"]
    assert svc["Tags"] == [{"Key": "Name", "Value": "tagged"}]
    assert svc["ServiceType"] == [{"ServiceType": "Interface"}] and svc["ServiceState"] in ("Pending", "Available")
    wait_for(
        lambda: ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[svc["ServiceId"]])[
            "ServiceConfigurations"
        ][0]["ServiceState"] == "Available",
        "service Available",
    )
    assert svc["NetworkLoadBalancerArns"] == [lb]
    found = ec2.describe_vpc_endpoint_service_configurations(Filters=[{"Name": "tag:Name", "Values": ["tagged"]}])
    assert [s["ServiceId"] for s in found["ServiceConfigurations"]] == [svc["ServiceId"]]
    found = ec2.describe_vpc_endpoint_service_configurations(Filters=[{"Name": "tag-key", "Values": ["Name"]}])
    assert [s["ServiceId"] for s in found["ServiceConfigurations"]] == [svc["ServiceId"]]
    ec2.modify_vpc_endpoint_service_permissions(ServiceId=svc["ServiceId"], AddAllowedPrincipals=["*"])
    perms = ec2.describe_vpc_endpoint_service_permissions(ServiceId=svc["ServiceId"])["AllowedPrincipals"]
    assert [(x["Principal"], x["PrincipalType"]) for x in perms] == [("*", "All")]

    # The consumer finds it by owner and by type; AWS's own services are owned by "amazon".
    consumer = client("ec2", CONSUMER)
    mine = consumer.describe_vpc_endpoint_services(Filters=[{"Name": "owner", "Values": [PROVIDER]}])
    assert svc["ServiceName"] in mine["ServiceNames"] and p.service_name in mine["ServiceNames"]
    assert all(d["Owner"] == PROVIDER for d in mine["ServiceDetails"])
    amazon = consumer.describe_vpc_endpoint_services(Filters=[{"Name": "owner", "Values": ["amazon"]}])["ServiceNames"]
    assert f"com.amazonaws.{REGION}.ec2" in amazon and svc["ServiceName"] not in amazon
    by_name = consumer.describe_vpc_endpoint_services(
        Filters=[{"Name": "service-name", "Values": [svc["ServiceName"]]}, {"Name": "service-type", "Values": ["Interface"]}]
    )
    assert by_name["ServiceNames"] == [svc["ServiceName"]]
    detail = by_name["ServiceDetails"][0]
    assert (detail["ServiceId"], detail["AcceptanceRequired"], detail["ManagesVpcEndpoints"]) == (
        svc["ServiceId"], False, False
    )
    assert ec2.delete_vpc_endpoint_service_configurations(ServiceIds=[svc["ServiceId"]])["Unsuccessful"] == []


def test_elbv2_actions(client):
    p = build_provider(client, allow=(), name="elb-cover")
    elb = client("elbv2", PROVIDER)
    lb = elb.describe_load_balancers(Names=["elb-cover"])["LoadBalancers"][0]
    assert lb["Type"] == "network" and lb["Scheme"] == "internal" and lb["VpcId"] == p.vpc
    tgs = elb.describe_target_groups(LoadBalancerArn=p.lb_arn)["TargetGroups"]
    assert [t["TargetGroupArn"] for t in tgs] == [p.tg_arn]
    tg = tgs[0]
    assert (tg["HealthCheckProtocol"], tg["HealthCheckIntervalSeconds"], tg["HealthyThresholdCount"]) == ("TCP", 30, 5)
    assert tg["LoadBalancerArns"] == [p.lb_arn]
    listeners = elb.describe_listeners(LoadBalancerArn=p.lb_arn)["Listeners"]
    assert listeners[0]["Port"] == 80 and listeners[0]["DefaultActions"][0]["TargetGroupArn"] == p.tg_arn

    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=p.lb_arn)["Attributes"]}
    assert attrs["load_balancing.cross_zone.enabled"] == "true"
    elb.modify_target_group_attributes(
        TargetGroupArn=p.tg_arn,
        Attributes=[{"Key": "proxy_protocol_v2.enabled", "Value": "true"},
                    {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}],
    )
    tattrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=p.tg_arn)["Attributes"]}
    assert tattrs["proxy_protocol_v2.enabled"] == "true" and tattrs["deregistration_delay.timeout_seconds"] == "0"

    health = elb.describe_target_health(TargetGroupArn=p.tg_arn)["TargetHealthDescriptions"]
    assert health[0]["Target"] == {"Id": "10.0.128.142", "Port": 80}
    assert health[0]["TargetHealth"]["State"] == "initial"
    assert health[0]["TargetHealth"]["Reason"] == "Elb.InitialHealthChecking"
    elb.deregister_targets(TargetGroupArn=p.tg_arn, Targets=[{"Id": "10.0.128.142", "Port": 80}])
    # With a zero deregistration delay the target is gone at once.
    assert elb.describe_target_health(TargetGroupArn=p.tg_arn)["TargetHealthDescriptions"] == []

    elb.add_tags(ResourceArns=[p.lb_arn, p.tg_arn], Tags=[{"Key": "env", "Value": "test"}])
    described = elb.describe_tags(ResourceArns=[p.lb_arn, p.tg_arn])["TagDescriptions"]
    assert [d["Tags"] for d in described] == [[{"Key": "env", "Value": "test"}]] * 2
    elb.remove_tags(ResourceArns=[p.lb_arn], TagKeys=["env"])
    assert elb.describe_tags(ResourceArns=[p.lb_arn])["TagDescriptions"][0]["Tags"] == []

    ec2 = client("ec2", PROVIDER)
    ec2.delete_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])
    wait_for(
        lambda: not ec2.describe_vpc_endpoint_service_configurations(
            Filters=[{"Name": "service-id", "Values": [p.service_id]}]
        )["ServiceConfigurations"],
        "service gone",
        timeout=5,
    )
    elb.delete_listener(ListenerArn=listeners[0]["ListenerArn"])
    assert elb.describe_listeners(LoadBalancerArn=p.lb_arn)["Listeners"] == []
    elb.delete_target_group(TargetGroupArn=p.tg_arn)
    elb.delete_load_balancer(LoadBalancerArn=p.lb_arn)
    elb.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[p.lb_arn], WaiterConfig={"Delay": 1})
    left = ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [p.vpc]}])["NetworkInterfaces"]
    assert left == []


def test_sts(client):
    ident = client("sts", PROVIDER).get_caller_identity()
    assert (ident["Account"], ident["Arn"], ident["UserId"]) == (PROVIDER, f"arn:aws:iam::{PROVIDER}:root", PROVIDER)
