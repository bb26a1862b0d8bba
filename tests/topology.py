"""The seed topology, built through the API with boto3: the provider's VPC,
NLB and endpoint service, and the consumer's VPC, subnets and security group."""

from dataclasses import dataclass, field

from conftest import CONSUMER, PROVIDER


@dataclass
class Provider:
    vpc: str
    subnets: list
    lb_arn: str
    tg_arn: str
    service_id: str
    service_name: str
    # The NLB's security group, when it was made with one.
    nlb_group: str = None


@dataclass
class Consumer:
    vpc: str
    subnets: list
    group: str
    cidrs: dict = field(default_factory=dict)


def build_provider(
    client, acceptance_required=True, allow=(CONSUMER,), name="web", listener_port=80, target_port=80,
    targets=("10.0.128.142",), health=None, cidr_prefix="10.0", nlb_ingress=None,
):
    """`nlb_ingress` (IpPermissions): the NLB gets a security group of its
    own with these inbound rules, as AWS only lets groups be set later on
    an NLB created with some."""
    ec2 = client("ec2", PROVIDER)
    elb = client("elbv2", PROVIDER)
    vpc = ec2.create_vpc(CidrBlock=f"{cidr_prefix}.0.0/16")["Vpc"]["VpcId"]
    s1 = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr_prefix}.0.0/20", AvailabilityZone="ap-northeast-1a")["Subnet"][
        "SubnetId"
    ]
    s2 = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr_prefix}.128.0/20", AvailabilityZone="ap-northeast-1c")[
        "Subnet"
    ]["SubnetId"]
    groups = {}
    nlb_group = None
    if nlb_ingress is not None:
        nlb_group = ec2.create_security_group(GroupName=f"{name}-nlb", Description="the NLB's", VpcId=vpc)["GroupId"]
        if nlb_ingress:
            ec2.authorize_security_group_ingress(GroupId=nlb_group, IpPermissions=nlb_ingress)
        groups = {"SecurityGroups": [nlb_group]}
    lb = elb.create_load_balancer(Name=name, Subnets=[s1, s2], Scheme="internal", Type="network", **groups)[
        "LoadBalancers"
    ][0]
    tg = elb.create_target_group(
        Name=name, Protocol="TCP", Port=target_port, VpcId=vpc, TargetType="ip", **(health or {})
    )["TargetGroups"][0]
    elb.register_targets(
        TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": t, "Port": target_port} for t in targets]
    )
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="TCP",
        Port=listener_port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}],
    )
    svc = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[lb["LoadBalancerArn"]], AcceptanceRequired=acceptance_required
    )["ServiceConfiguration"]
    if allow:
        ec2.modify_vpc_endpoint_service_permissions(
            ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{a}:root" for a in allow]
        )
    return Provider(
        vpc, [s1, s2], lb["LoadBalancerArn"], tg["TargetGroupArn"], svc["ServiceId"], svc["ServiceName"], nlb_group
    )


def build_consumer(client, account=CONSUMER, cidr_prefix="10.24"):
    ec2 = client("ec2", account)
    vpc = ec2.create_vpc(CidrBlock=f"{cidr_prefix}.0.0/16")["Vpc"]["VpcId"]
    cidrs = {}
    subnets = []
    for cidr, az in ((f"{cidr_prefix}.16.0/20", "ap-northeast-1a"), (f"{cidr_prefix}.112.0/20", "ap-northeast-1c")):
        sid = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        subnets.append(sid)
        cidrs[sid] = cidr
    group = ec2.create_security_group(GroupName="endpoint", Description="endpoint", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": f"{cidr_prefix}.0.0/16"}]}],
    )
    return Consumer(vpc, subnets, group, cidrs)


def create_endpoint(client, provider, consumer, account=CONSUMER, **extra):
    ec2 = client("ec2", account)
    return ec2.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=consumer.vpc,
        ServiceName=provider.service_name,
        SubnetIds=consumer.subnets,
        SecurityGroupIds=[consumer.group],
        **extra,
    )["VpcEndpoint"]
