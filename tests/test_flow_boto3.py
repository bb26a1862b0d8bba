"""The same flow through boto3, plus the branches of the state machine:
polling through `pending`, reject, delete, modify, private DNS names."""

import ipaddress
import json
import re
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import CONSUMER, PROVIDER, REGION, STRANGER, wait_for
from topology import build_consumer, build_provider, create_endpoint


def endpoint(client, ep_id, account=CONSUMER):
    return client("ec2", account).describe_vpc_endpoints(VpcEndpointIds=[ep_id])["VpcEndpoints"][0]


def test_acceptance_flow_polls_through_pending(client):
    p = build_provider(client)
    c = build_consumer(client)
    ec2p = client("ec2", PROVIDER)
    ep = create_endpoint(client, p, c)
    assert ep["State"] == "pendingAcceptance"
    conn = ec2p.describe_vpc_endpoint_connections(
        Filters=[{"Name": "vpc-endpoint-id", "Values": [ep["VpcEndpointId"]]}]
    )["VpcEndpointConnections"][0]
    assert conn["VpcEndpointState"] == "pendingAcceptance"
    assert conn["NetworkLoadBalancerArns"] == [p.lb_arn]
    assert re.fullmatch(r"vpce-con-[0-9a-f]{17}", conn["VpcEndpointConnectionId"])

    assert ec2p.accept_vpc_endpoint_connections(ServiceId=p.service_id, VpcEndpointIds=[ep["VpcEndpointId"]])[
        "Unsuccessful"
    ] == []
    seen = []

    def available():
        state = endpoint(client, ep["VpcEndpointId"])["State"]
        seen.append(state)
        return state == "available"

    wait_for(available, "available", every=0.02)
    # A poller sees the intermediate state, and `available` by the second describe.
    assert seen == ["pending", "available"], seen


def test_auto_accept_and_ip_addresses(client):
    p = build_provider(client, acceptance_required=False, name="auto")
    c = build_consumer(client, cidr_prefix="10.25")
    ep = create_endpoint(client, p, c)
    assert ep["State"] == "pending"
    assert len(ep["NetworkInterfaceIds"]) == 2
    wait_for(lambda: endpoint(client, ep["VpcEndpointId"])["State"] == "available", "available")
    enis = client("ec2", CONSUMER).describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ]
    for eni in enis:
        net = ipaddress.ip_network(c.cidrs[eni["SubnetId"]])
        ip = ipaddress.ip_address(eni["PrivateIpAddress"])
        assert ip in net
        # AWS reserves the first four and the last address of a subnet.
        assert int(ip) - int(net.network_address) >= 4 and ip != net.broadcast_address


def test_reject_and_delete(client):
    p = build_provider(client, name="rejecting")
    c = build_consumer(client, cidr_prefix="10.26")
    ec2p = client("ec2", PROVIDER)
    ec2c = client("ec2", CONSUMER)
    ep = create_endpoint(client, p, c)
    # A pending connection blocks deleting the service.
    out = ec2p.delete_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])["Unsuccessful"]
    assert out[0]["Error"]["Code"] == "ExistingVpcEndpointConnections"
    assert out[0]["ResourceId"] == p.service_id

    out = ec2p.reject_vpc_endpoint_connections(ServiceId=p.service_id, VpcEndpointIds=[ep["VpcEndpointId"]])
    assert out["Unsuccessful"] == []
    rejected = endpoint(client, ep["VpcEndpointId"])
    assert rejected["State"] == "rejected"
    assert rejected["NetworkInterfaceIds"] == []
    # Rejected is final: accepting it fails per item.
    out = ec2p.accept_vpc_endpoint_connections(ServiceId=p.service_id, VpcEndpointIds=[ep["VpcEndpointId"]])
    assert out["Unsuccessful"][0]["ResourceId"] == ep["VpcEndpointId"]

    assert ec2c.delete_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])["Unsuccessful"] == []
    states = set()
    wait_for(lambda: states.add(endpoint(client, ep["VpcEndpointId"])["State"]) or "deleted" in states, "deleted")
    assert ec2p.delete_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])["Unsuccessful"] == []
    # Unknown ids come back per item, in the same answer.
    out = ec2c.delete_vpc_endpoints(VpcEndpointIds=["vpce-0123456789abcdef0"])["Unsuccessful"]
    assert out[0]["Error"]["Code"] == "InvalidVpcEndpointId.NotFound"


def test_reject_an_available_connection(client):
    p = build_provider(client, name="reject-later")
    c = build_consumer(client, cidr_prefix="10.31")
    ec2p = client("ec2", PROVIDER)
    ep = create_endpoint(client, p, c)["VpcEndpointId"]
    ec2p.accept_vpc_endpoint_connections(ServiceId=p.service_id, VpcEndpointIds=[ep])
    wait_for(lambda: endpoint(client, ep)["State"] == "available", "available")
    assert ec2p.reject_vpc_endpoint_connections(ServiceId=p.service_id, VpcEndpointIds=[ep])["Unsuccessful"] == []
    assert endpoint(client, ep)["State"] == "rejected"
    conns = ec2p.describe_vpc_endpoint_connections(Filters=[{"Name": "vpc-endpoint-id", "Values": [ep]}])
    assert [c["VpcEndpointState"] for c in conns["VpcEndpointConnections"]] == ["rejected"]
    # A rejected connection no longer blocks deleting the service.
    assert ec2p.delete_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])["Unsuccessful"] == []


def test_delete_goes_deleting_then_deleted(client):
    p = build_provider(client, acceptance_required=False, name="deleting")
    c = build_consumer(client, cidr_prefix="10.32")
    ec2c = client("ec2", CONSUMER)
    ep = create_endpoint(client, p, c)
    wait_for(lambda: endpoint(client, ep["VpcEndpointId"])["State"] == "available", "available")
    assert len(ep["NetworkInterfaceIds"]) == 2
    assert ec2c.delete_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])["Unsuccessful"] == []
    seen = []

    def deleted():
        seen.append(endpoint(client, ep["VpcEndpointId"])["State"])
        return seen[-1] == "deleted"

    wait_for(deleted, "deleted")
    assert seen == ["deleting", "deleted"], seen
    # Its ENIs went with it.
    left = ec2c.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [c.vpc]}])["NetworkInterfaces"]
    assert left == []
    # Filtering by state finds it among the deleted, not the available.
    def in_state(state):
        return [
            e["VpcEndpointId"]
            for e in ec2c.describe_vpc_endpoints(
                Filters=[{"Name": "vpc-id", "Values": [c.vpc]}, {"Name": "vpc-endpoint-state", "Values": [state]}]
            )["VpcEndpoints"]
        ]

    assert in_state("available") == []
    assert in_state("deleted") == [ep["VpcEndpointId"]]


def test_modify_endpoint_subnets_and_groups(client):
    p = build_provider(client, acceptance_required=False, name="modify")
    c = build_consumer(client, cidr_prefix="10.27")
    ec2 = client("ec2", CONSUMER)
    ep = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface", VpcId=c.vpc, ServiceName=p.service_name, SubnetIds=[c.subnets[0]]
    )["VpcEndpoint"]
    # No group given: the VPC's default group.
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [c.vpc]}, {"Name": "group-name", "Values": ["default"]}])
    assert ep["Groups"][0]["GroupId"] == default["SecurityGroups"][0]["GroupId"]
    assert len(ep["DnsEntries"]) == 2

    ec2.modify_vpc_endpoint(
        VpcEndpointId=ep["VpcEndpointId"], AddSubnetIds=[c.subnets[1]], AddSecurityGroupIds=[c.group]
    )
    after = endpoint(client, ep["VpcEndpointId"])
    assert sorted(after["SubnetIds"]) == sorted(c.subnets)
    assert len(after["NetworkInterfaceIds"]) == 2
    zonal = [d["DnsName"].split(".")[0][-15:] for d in after["DnsEntries"][1:]]
    assert zonal == ["ap-northeast-1a", "ap-northeast-1c"]
    assert {g["GroupId"] for g in after["Groups"]} == {c.group, default["SecurityGroups"][0]["GroupId"]}

    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=after["NetworkInterfaceIds"])["NetworkInterfaces"]
    for eni in enis:
        assert ipaddress.ip_address(eni["PrivateIpAddress"]) in ipaddress.ip_network(c.cidrs[eni["SubnetId"]])
    first_eni = {e["SubnetId"]: e["NetworkInterfaceId"] for e in enis}[c.subnets[0]]

    assert ec2.modify_vpc_endpoint(VpcEndpointId=ep["VpcEndpointId"], RemoveSubnetIds=[c.subnets[0]])["Return"] is True
    after = endpoint(client, ep["VpcEndpointId"])
    assert after["SubnetIds"] == [c.subnets[1]]
    assert len(after["NetworkInterfaceIds"]) == 1 and first_eni not in after["NetworkInterfaceIds"]
    # The removed subnet's ENI is gone from the VPC, not just from the endpoint.
    left = ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [c.vpc]}])["NetworkInterfaces"]
    assert [e["NetworkInterfaceId"] for e in left] == after["NetworkInterfaceIds"]
    assert len(after["DnsEntries"]) == 2 and after["DnsEntries"][1]["DnsName"].split(".")[0].endswith("ap-northeast-1c")


def test_private_dns_name_verification(client, emulator):
    p = build_provider(client, name="private-dns")
    ec2p = client("ec2", PROVIDER)
    ec2p.modify_vpc_endpoint_service_configuration(ServiceId=p.service_id, PrivateDnsName="api.example.com")
    svc = ec2p.describe_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])["ServiceConfigurations"][0]
    cfg = svc["PrivateDnsNameConfiguration"]
    assert svc["PrivateDnsName"] == "api.example.com"
    assert cfg["State"] == "pendingVerification" and cfg["Type"] == "TXT"
    assert re.fullmatch(r"_[a-z0-9]{20}", cfg["Name"]) and cfg["Value"].startswith("vpce:")

    # Without the TXT record the verification fails.
    ec2p.start_vpc_endpoint_service_private_dns_verification(ServiceId=p.service_id)
    svc = ec2p.describe_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])["ServiceConfigurations"][0]
    assert svc["PrivateDnsNameConfiguration"]["State"] == "failed"

    # The provider publishes the record in the emulator's public zone.
    body = json.dumps({"name": f"{cfg['Name']}.example.com", "value": cfg["Value"]}).encode()
    req = urllib.request.Request(f"{emulator}/_emulator/public-dns/txt", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert json.load(r)["values"] == [cfg["Value"]]
    ec2p.start_vpc_endpoint_service_private_dns_verification(ServiceId=p.service_id)
    svc = ec2p.describe_vpc_endpoint_service_configurations(ServiceIds=[p.service_id])["ServiceConfigurations"][0]
    assert svc["PrivateDnsNameConfiguration"]["State"] == "verified"

    # A consumer with DNS support and hostnames gets the private name last.
    c = build_consumer(client, cidr_prefix="10.28")
    ec2c = client("ec2", CONSUMER)
    ec2c.modify_vpc_attribute(VpcId=c.vpc, EnableDnsHostnames={"Value": True})
    assert ec2c.describe_vpc_attribute(VpcId=c.vpc, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
    detail = ec2c.describe_vpc_endpoint_services(ServiceNames=[p.service_name])["ServiceDetails"][0]
    assert detail["PrivateDnsName"] == "api.example.com"
    assert detail["PrivateDnsNameVerificationState"] == "verified"
    ep = create_endpoint(client, p, c, PrivateDnsEnabled=True)
    assert ep["PrivateDnsEnabled"] is True
    assert ep["DnsEntries"][-1]["DnsName"] == "api.example.com"


def test_aws_service_endpoint_with_private_dns(client):
    c = build_consumer(client, cidr_prefix="10.29")
    ec2 = client("ec2", CONSUMER)
    names = ec2.describe_vpc_endpoint_services()["ServiceNames"]
    for short in ("ec2", "elasticloadbalancing", "sts"):
        assert f"com.amazonaws.{REGION}.{short}" in names
    with pytest.raises(ClientError) as e:
        ec2.create_vpc_endpoint(
            VpcEndpointType="Interface", VpcId=c.vpc, ServiceName=f"com.amazonaws.{REGION}.ec2",
            SubnetIds=c.subnets, PrivateDnsEnabled=True,
        )
    assert e.value.response["Error"]["Code"] == "InvalidParameter"  # enableDnsHostnames is off
    ec2.modify_vpc_attribute(VpcId=c.vpc, EnableDnsHostnames={"Value": True})
    ep = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface", VpcId=c.vpc, ServiceName=f"com.amazonaws.{REGION}.ec2",
        SubnetIds=c.subnets, SecurityGroupIds=[c.group], PrivateDnsEnabled=True,
    )["VpcEndpoint"]
    assert ep["State"] == "pending"
    names = [d["DnsName"] for d in ep["DnsEntries"]]
    assert re.fullmatch(rf"vpce-[0-9a-f]{{17}}-[a-z0-9]{{8}}\.ec2\.{REGION}\.vpce\.amazonaws\.com", names[0])
    assert names[-1] == f"ec2.{REGION}.amazonaws.com"
    assert json.loads(ep["PolicyDocument"])["Statement"][0]["Effect"] == "Allow"


def test_not_allowed_account_sees_nothing(client):
    p = build_provider(client, name="private")
    c = build_consumer(client, account=STRANGER, cidr_prefix="10.30")
    ec2 = client("ec2", STRANGER)
    assert p.service_name not in ec2.describe_vpc_endpoint_services()["ServiceNames"]
    with pytest.raises(ClientError) as e:
        ec2.describe_vpc_endpoint_services(ServiceNames=[p.service_name])
    assert e.value.response["Error"]["Code"] == "InvalidServiceName"
    with pytest.raises(ClientError) as e:
        create_endpoint(client, p, c, account=STRANGER)
    assert e.value.response["Error"]["Code"] == "InvalidServiceName"
    # Allowing everyone opens it.
    client("ec2", PROVIDER).modify_vpc_endpoint_service_permissions(ServiceId=p.service_id, AddAllowedPrincipals=["*"])
    assert create_endpoint(client, p, c, account=STRANGER)["State"] == "pendingAcceptance"


def test_a_modify_that_fails_half_way_changes_nothing(client):
    """Moving an endpoint from zone a into a full /28 of zone c: the subnet
    of zone a is let go before the full one refuses its address. The request
    answers AWS's error and the endpoint keeps its subnet and its ENI."""
    p = build_provider(client, acceptance_required=False, name="atomic", cidr_prefix="10.40",
                       targets=("10.40.128.142",))
    ec2 = client("ec2", CONSUMER)
    vpc = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    wide = ec2.create_subnet(VpcId=vpc, CidrBlock="10.41.16.0/20", AvailabilityZone="ap-northeast-1a")["Subnet"]["SubnetId"]
    small = ec2.create_subnet(VpcId=vpc, CidrBlock="10.41.32.0/28", AvailabilityZone="ap-northeast-1c")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="atomic", Description="atomic", VpcId=vpc)["GroupId"]

    def new_endpoint(subnet):
        return ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=vpc, ServiceName=p.service_name,
                                       SubnetIds=[subnet], SecurityGroupIds=[group])["VpcEndpoint"]["VpcEndpointId"]

    # A /28 has 16 addresses, AWS keeps 5: eleven endpoints fill it.
    for _ in range(11):
        new_endpoint(small)
    assert ec2.describe_subnets(SubnetIds=[small])["Subnets"][0]["AvailableIpAddressCount"] == 0
    ep = new_endpoint(wide)
    wait_for(lambda: endpoint(client, ep)["State"] == "available", "available")

    def picture():
        e = endpoint(client, ep)
        enis = ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]
        return e["SubnetIds"], e["NetworkInterfaceIds"], sorted((n["NetworkInterfaceId"], n["PrivateIpAddress"]) for n in enis)

    before = picture()
    with pytest.raises(ClientError) as e:
        ec2.modify_vpc_endpoint(VpcEndpointId=ep, RemoveSubnetIds=[wide], AddSubnetIds=[small])
    assert e.value.response["Error"]["Code"] == "InsufficientFreeAddressesInSubnet"
    after = picture()
    assert after == before
    subnets, listed, enis = after
    assert subnets == [wide]
    assert set(listed) <= {n for n, _ in enis}, "the endpoint lists an ENI that does not exist"
