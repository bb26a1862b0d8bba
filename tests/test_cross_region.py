"""Cross-region PrivateLink: a provider in ap-northeast-1 lists us-east-1
among its service's supported regions; a consumer in us-east-1 finds the
service with DescribeVpcEndpointServices(ServiceRegions), creates an
endpoint with ServiceRegion, the provider accepts it from its own region,
the endpoint's names are us-east-1's, DNS answers them, and curl through the
endpoint in us-east-1 reaches nginx behind the NLB in ap-northeast-1, which
sees the NLB's address. boto3 and the AWS CLI against the emulator binary."""

import json
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from backends import BODY, Nginx, free_port
from conftest import CONSUMER, PROVIDER, REGION, STRANGER, Aws, start_emulator, stop_emulator, wait_for
from state_world import dns_query
from test_dataplane import curl, host_block, to_host

HOME = REGION  # ap-northeast-1
AWAY = "us-east-1"
TOPIC = f"arn:aws:sns:{HOME}:{PROVIDER}:cross-region"


@pytest.fixture(scope="module")
def emu():
    emu, url = start_emulator()
    yield emu
    stop_emulator(emu)


def make_client(url, service, account, region):
    return boto3.client(
        service, endpoint_url=url, region_name=region, aws_access_key_id=account,
        aws_secret_access_key="any-secret", config=Config(retries={"max_attempts": 1}),
    )


def code_of(call, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"]


def provider_side(url, target_port, listener_port):
    """VPC 10.40/16 in ap-northeast-1 with an NLB in two zones, nginx's
    target, and a service open to us-east-1, acceptance required."""
    ec2 = make_client(url, "ec2", PROVIDER, HOME)
    elb = make_client(url, "elbv2", PROVIDER, HOME)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    s1 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.0.0/20", AvailabilityZone=f"{HOME}a")["Subnet"]["SubnetId"]
    s2 = ec2.create_subnet(VpcId=vpc, CidrBlock="10.40.128.0/20", AvailabilityZone=f"{HOME}c")["Subnet"]["SubnetId"]
    lb = elb.create_load_balancer(Name="xregion", Subnets=[s1, s2], Scheme="internal", Type="network")
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name="xregion", Protocol="TCP", Port=target_port, VpcId=vpc, TargetType="ip")
    tg_arn = tg["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": "10.40.128.142", "Port": target_port}])
    elb.create_listener(LoadBalancerArn=lb_arn, Protocol="TCP", Port=listener_port,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=lb_arn, Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}])
    svc = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb_arn], AcceptanceRequired=True, SupportedRegions=[AWAY],
    )["ServiceConfiguration"]
    ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])
    return vpc, lb_arn, svc


def test_an_endpoint_in_another_region_carries_traffic_to_the_provider(emu):
    url = emu.url
    port, target_port = free_port(), free_port()
    pvpc, lb_arn, svc = provider_side(url, target_port, port)
    p = make_client(url, "ec2", PROVIDER, HOME)
    sid, name = svc["ServiceId"], svc["ServiceName"]
    regions = {r["Region"]: r["ServiceState"] for r in svc["SupportedRegions"]}
    assert set(regions) == {HOME, AWAY}, svc["SupportedRegions"]
    wait_for(lambda: p.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])["ServiceConfigurations"][0]
             ["ServiceState"] == "Available", "the service available")
    shown = p.describe_vpc_endpoint_service_configurations(ServiceIds=[sid])["ServiceConfigurations"][0]
    assert {r["Region"]: r["ServiceState"] for r in shown["SupportedRegions"]} == {HOME: "Available",
                                                                                  AWAY: "Available"}
    # The home region is always supported.
    assert code_of(p.modify_vpc_endpoint_service_configuration, ServiceId=sid,
                   RemoveSupportedRegions=[HOME]) == "InvalidParameterValue"
    assert code_of(p.modify_vpc_endpoint_service_configuration, ServiceId=sid,
                   AddSupportedRegions=["mars"]) == "InvalidParameterValue"
    p.create_vpc_endpoint_connection_notification(ServiceId=sid, ConnectionNotificationArn=TOPIC,
                                                  ConnectionEvents=["Connect", "Accept"])

    # The consumer, in us-east-1.
    c = make_client(url, "ec2", CONSUMER, AWAY)
    listed = c.describe_vpc_endpoint_services()["ServiceNames"]
    assert name not in listed, "another region's service is listed only when asked for"
    found = c.describe_vpc_endpoint_services(ServiceRegions=[HOME])["ServiceDetails"]
    detail = [d for d in found if d["ServiceName"] == name]
    assert len(detail) == 1, found
    assert detail[0]["ServiceRegion"] == HOME
    assert detail[0]["BaseEndpointDnsNames"] == [f"{sid}.{AWAY}.vpce.amazonaws.com"]
    assert make_client(url, "ec2", STRANGER, AWAY).describe_vpc_endpoint_services(
        ServiceRegions=[HOME])["ServiceNames"].count(name) == 0, "permissions still apply"
    cli = Aws(url, CONSUMER)
    r = cli.run("ec2", "describe-vpc-endpoint-services", "--region", AWAY, "--service-regions", HOME,
                "--service-names", name)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ServiceDetails"][0]["ServiceRegion"] == HOME

    cvpc = c.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    subnets = [c.create_subnet(VpcId=cvpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
               for cidr, az in (("10.41.16.0/20", f"{AWAY}a"), ("10.41.112.0/20", f"{AWAY}b"))]
    group = c.create_security_group(GroupName="ep", Description="ep", VpcId=cvpc)["GroupId"]
    c.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "10.41.0.0/16"}]}])
    create = dict(VpcEndpointType="Interface", VpcId=cvpc, ServiceName=name, SubnetIds=subnets,
                  SecurityGroupIds=[group])
    assert code_of(c.create_vpc_endpoint, **create) == "InvalidServiceName", "ServiceRegion is needed"
    ep = c.create_vpc_endpoint(ServiceRegion=HOME, **create)["VpcEndpoint"]
    eid = ep["VpcEndpointId"]
    assert ep["State"] == "pendingAcceptance" and ep["ServiceRegion"] == HOME
    names = [d["DnsName"] for d in ep["DnsEntries"]]
    stem = names[0].split(".")[0]
    assert names == [f"{stem}.{sid}.{AWAY}.vpce.amazonaws.com", f"{stem}-{AWAY}a.{sid}.{AWAY}.vpce.amazonaws.com",
                     f"{stem}-{AWAY}b.{sid}.{AWAY}.vpce.amazonaws.com"], names
    assert {d["HostedZoneId"] for d in ep["DnsEntries"]} == {"Z7HUB22UULQXV"}, "us-east-1's vpce zone"

    # The provider sees and accepts it from its own region.
    conns = p.describe_vpc_endpoint_connections(
        Filters=[{"Name": "vpc-endpoint-id", "Values": [eid]}])["VpcEndpointConnections"]
    assert [(x["VpcEndpointRegion"], x["VpcEndpointState"]) for x in conns] == [(AWAY, "pendingAcceptance")]
    held = p.delete_vpc_endpoint_service_configurations(ServiceIds=[sid])["Unsuccessful"]
    assert [u["Error"]["Code"] for u in held] == ["ExistingVpcEndpointConnections"]
    Aws(url, PROVIDER)("ec2", "accept-vpc-endpoint-connections", "--service-id", sid, "--vpc-endpoint-ids", eid)
    wait_for(lambda: c.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["State"] == "available",
             "the cross-region endpoint available")
    got = c.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]
    assert got["ServiceRegion"] == HOME

    # Both events reached the provider's topic, naming the endpoint's region.
    with urllib.request.urlopen(f"{url}/_emulator/notifications?topic={TOPIC}", timeout=5) as resp:
        events = [(n["message"]["eventType"], n["message"]["vpcEndpointRegion"], n["message"]["serviceRegion"])
                  for n in json.load(resp)["notifications"]]
    assert events == [("Connect", AWAY, HOME), ("Accept", AWAY, HOME)]

    # DNS: the regional name answers both ENIs' host addresses.
    cblock, pblock = host_block(url, cvpc), host_block(url, pvpc)
    enis = c.describe_network_interfaces(NetworkInterfaceIds=got["NetworkInterfaceIds"])["NetworkInterfaces"]
    eni_hosts = sorted(to_host(cblock, e["PrivateIpAddress"], "10.41") for e in enis)
    answer = wait_for(lambda: (lambda a: a if a.get("rcode") == "NOERROR" and a["answer"] else None)(
        dns_query("127.0.0.1", emu.dns_port, names[0])), "the regional name in DNS")
    assert sorted(row[3] for row in answer["answer"]) == eni_hosts

    # Traffic: curl in us-east-1 through the endpoint to nginx in ap-northeast-1.
    nginx = Nginx([(to_host(pblock, "10.40.128.142", "10.40"), target_port)])
    try:
        wait_for(lambda: len([entry for entry in json.load(urllib.request.urlopen(f"{url}/_emulator/status"))
                              ["dataplane"]["listeners"] if entry["vpc_endpoint_id"] == eid]) == 2,
                 "both listeners of the endpoint")
        client_host = f"127.{cblock}.16.99"
        for h in eni_hosts:
            r = curl(f"http://{h}:{port}/", source=client_host)
            assert r.returncode == 0, r.stderr
            assert r.stdout == BODY
        lb = make_client(url, "elbv2", PROVIDER, HOME).describe_load_balancers(LoadBalancerArns=[lb_arn])
        nodes = {to_host(pblock, z["LoadBalancerAddresses"][0]["PrivateIPv4Address"], "10.40")
                 for z in lb["LoadBalancers"][0]["AvailabilityZones"]}
        seen = nginx.clients()
        assert len(seen) == 2 and set(seen) <= nodes, (seen, nodes)
        assert client_host not in seen
    finally:
        nginx.stop()

    c.delete_vpc_endpoints(VpcEndpointIds=[eid])


def test_a_region_the_service_does_not_support_cannot_connect(emu):
    url = emu.url
    p = make_client(url, "ec2", PROVIDER, HOME)
    elb = make_client(url, "elbv2", PROVIDER, HOME)
    vpc = p.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    s1 = p.create_subnet(VpcId=vpc, CidrBlock="10.42.0.0/20", AvailabilityZone=f"{HOME}a")["Subnet"]["SubnetId"]
    lb = elb.create_load_balancer(Name="homeonly", Subnets=[s1], Scheme="internal", Type="network")
    svc = p.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb["LoadBalancers"][0]["LoadBalancerArn"]], AcceptanceRequired=False,
    )["ServiceConfiguration"]
    assert svc["SupportedRegions"] == [{"Region": HOME, "ServiceState": "Pending"}]
    p.modify_vpc_endpoint_service_permissions(ServiceId=svc["ServiceId"], AddAllowedPrincipals=["*"])
    wait_for(lambda: p.describe_vpc_endpoint_service_configurations(ServiceIds=[svc["ServiceId"]])
             ["ServiceConfigurations"][0]["ServiceState"] == "Available", "available")
    c = make_client(url, "ec2", CONSUMER, "eu-west-1")
    assert svc["ServiceName"] not in c.describe_vpc_endpoint_services(ServiceRegions=[HOME])["ServiceNames"]
    cvpc = c.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    sub = c.create_subnet(VpcId=cvpc, CidrBlock="10.43.0.0/20", AvailabilityZone="eu-west-1a")["Subnet"]["SubnetId"]
    create = dict(VpcEndpointType="Interface", VpcId=cvpc, ServiceName=svc["ServiceName"], SubnetIds=[sub],
                  ServiceRegion=HOME)
    assert code_of(c.create_vpc_endpoint, **create) == "InvalidServiceName"
    # Once the provider adds the region, the same request connects.
    p.modify_vpc_endpoint_service_configuration(ServiceId=svc["ServiceId"], AddSupportedRegions=["eu-west-1"])
    ep = c.create_vpc_endpoint(**create)["VpcEndpoint"]
    assert ep["State"] == "pending" and ep["ServiceRegion"] == HOME
    assert code_of(c.create_vpc_endpoint, **{**create, "ServiceRegion": "nowhere"}) == "InvalidParameterValue"
    c.delete_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])
