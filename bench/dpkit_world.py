#!/usr/bin/env python3
"""Building what a benchmark measures through the emulator's API (part of
dpkit), with boto3 as tests/topology.py does: one interface endpoint in front
of local backends. A provider VPC with an internal NLB whose listeners forward
to target groups with one ``AvailabilityZone=all`` target each (a process on
127.0.0.1), a consumer VPC with an endpoint to it; and the endpoint's counters
from the emulator's status.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass, field

from dpkit_processes import wait_listening

REGION = "ap-northeast-1"
PROVIDER = "111111111111"
CONSUMER = "222222222222"


@dataclass
class Service:
    """One NLB listener port in front of one local backend."""

    name: str
    listener_port: int
    target_host: str
    target_port: int


@dataclass
class EndpointInfo:
    endpoint_id: str
    vpc: str
    # listener port -> the host address (ip, port) clients connect to (first ENI)
    host: dict = field(default_factory=dict)
    # listener port -> status entry of that listener
    listeners: dict = field(default_factory=dict)


def build_endpoint(url: str, services: list[Service], health_interval: int = 300, timeout: float = 30.0) -> EndpointInfo:
    """Provider: VPC 10.0.0.0/16 with two subnets, an internal NLB with one
    TCP listener per service, each forwarding to a target group whose only
    target is the local backend (AvailabilityZone=all), cross-zone on, an
    endpoint service without acceptance. Consumer: VPC 10.24.0.0/16 with two
    subnets, a security group allowing the listener ports from the VPC, and
    an interface endpoint. Waits until the emulator listens for it."""
    import boto3
    from botocore.config import Config

    def client(service, account):
        return boto3.client(
            service, endpoint_url=url, region_name=REGION, aws_access_key_id=account,
            aws_secret_access_key="any-secret", config=Config(retries={"max_attempts": 1}),
        )

    ec2p, elb = client("ec2", PROVIDER), client("elbv2", PROVIDER)
    vpc = ec2p.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2p.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.0.0.0/20", f"{REGION}a"), ("10.0.128.0/20", f"{REGION}c"))
    ]
    lb = elb.create_load_balancer(Name="bench", Subnets=subnets, Scheme="internal", Type="network")["LoadBalancers"][0]
    lb_arn = lb["LoadBalancerArn"]
    for s in services:
        tg = elb.create_target_group(
            Name=f"bench-{s.name}", Protocol="TCP", Port=s.target_port, VpcId=vpc, TargetType="ip",
            HealthCheckIntervalSeconds=health_interval,
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(
            TargetGroupArn=tg, Targets=[{"Id": s.target_host, "Port": s.target_port, "AvailabilityZone": "all"}]
        )
        elb.create_listener(
            LoadBalancerArn=lb_arn, Protocol="TCP", Port=s.listener_port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=lb_arn, Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}]
    )
    svc = ec2p.create_vpc_endpoint_service_configuration(NetworkLoadBalancerArns=[lb_arn], AcceptanceRequired=False)[
        "ServiceConfiguration"
    ]
    ec2p.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )

    ec2c = client("ec2", CONSUMER)
    cvpc = ec2c.create_vpc(CidrBlock="10.24.0.0/16")["Vpc"]["VpcId"]
    csubnets = [
        ec2c.create_subnet(VpcId=cvpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.24.16.0/20", f"{REGION}a"), ("10.24.112.0/20", f"{REGION}c"))
    ]
    group = ec2c.create_security_group(GroupName="endpoint", Description="endpoint", VpcId=cvpc)["GroupId"]
    ec2c.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": s.listener_port, "ToPort": s.listener_port,
             "IpRanges": [{"CidrIp": "10.24.0.0/16"}]}
            for s in services
        ],
    )
    ep = ec2c.create_vpc_endpoint(
        VpcEndpointType="Interface", VpcId=cvpc, ServiceName=svc["ServiceName"], SubnetIds=csubnets,
        SecurityGroupIds=[group],
    )["VpcEndpoint"]
    eid = ep["VpcEndpointId"]
    deadline = time.monotonic() + timeout
    while True:
        state = ec2c.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["State"]
        if state == "available":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"endpoint {eid} stuck in {state}")
        time.sleep(0.05)
    ports = {s.listener_port for s in services}
    while True:
        with urllib.request.urlopen(f"{url}/_emulator/status", timeout=10) as r:
            st = json.load(r)
        mine = [l for l in st["dataplane"]["listeners"] if l["vpc_endpoint_id"] == eid]
        if len(mine) == 2 * len(services) and not st["dataplane"].get("bind_failures"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"emulator does not listen for {eid}: {st['dataplane']}")
        time.sleep(0.05)
    info = EndpointInfo(endpoint_id=eid, vpc=cvpc)
    for entry in sorted(mine, key=lambda l: l["host_address"]):
        ip, port = entry["host_address"].rsplit(":", 1)
        port = int(port)
        if port in ports and port not in info.host:
            info.host[port] = (ip, port)
            info.listeners[port] = entry
    # Wait until every listener answers TCP (the listener may lag the status).
    for addr in info.host.values():
        wait_listening(addr, timeout)
    return info


def endpoint_counters(url: str, endpoint_id: str) -> dict:
    with urllib.request.urlopen(f"{url}/_emulator/status", timeout=10) as r:
        st = json.load(r)
    return st["dataplane"]["endpoints"].get(endpoint_id, {})
