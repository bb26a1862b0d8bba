"""Conformance with botocore's models, over the whole PrivateLink family:
which operations answer, every one called with valid parameters answering
exactly its output shape, and random inputs built from the input shapes
never answered with a 5xx, a dropped connection or a malformed error."""

import os
import re
import time

import boto3
import botocore
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import CONSUMER, PROVIDER, REGION, ROOT, start_emulator, stop_emulator
from shapes import check_xml, family, model, random_input, seeded

# Errors that any operation may answer for parameters it refuses.
COMMON_ERRORS = {"ValidationError", "InvalidParameterValue", "InvalidParameterCombination", "MissingParameter",
                 "OperationNotPermitted", "UnsupportedOperation", "InvalidParameter"}


class Judge:
    """Calls operations through boto3 and judges each raw answer."""

    def __init__(self, url):
        self.url = url
        self.clients = {}
        self.answered = {}
        self.problems = []
        self.last = None
        self.unsupported = readme_unsupported()

    def client(self, service, account):
        key = (service, account)
        if key not in self.clients:
            c = boto3.client(
                service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=account,
                aws_secret_access_key="any-secret",
                config=Config(retries={"max_attempts": 1}, parameter_validation=False),
            )
            c.meta.events.register("before-parse", self._capture)
            self.clients[key] = c
        return self.clients[key]

    def _capture(self, response_dict, **_):
        self.last = (response_dict["status_code"], response_dict["body"])

    def raw(self, service, account, operation, params):
        """(error code or None, parsed answer) and the answer's problems."""
        self.last = None
        try:
            out = getattr(self.client(service, account), botocore.xform_name(operation))(**params)
            code = None
        except ClientError as e:
            out, code = e.response, e.response["Error"]["Code"]
        assert self.last is not None, f"{operation}: no answer"
        status, body = self.last
        return code, out, check_xml(service, operation, status, body)

    def call(self, service, account, operation, may_refuse=False, **params):
        """Calls; the answer must succeed (or, with `may_refuse`, be one of
        the operation's documented errors) and match the model."""
        code, out, problems = self.raw(service, account, operation, params)
        if code == "InvalidAction" and operation in self.unsupported:
            return None
        self.answered.setdefault((service, operation), set()).add(code or "ok")
        if problems:
            self.problems.append(f"{operation}: {problems}")
        if code is not None:
            # A documented error is answered with its code (ELBv2's
            # TrustStoreNotFoundException is TrustStoreNotFound on the wire).
            shapes = model(service).operation_model(operation).error_shapes
            documented = {s.name for s in shapes} | {s.error_code for s in shapes}
            if not may_refuse:
                self.problems.append(f"{operation} {params}: refused with {code}: {out['Error'].get('Message')}")
            elif code not in documented | COMMON_ERRORS:
                self.problems.append(f"{operation}: {code} is not among its documented errors {sorted(documented)}")
            return None
        return out


@pytest.fixture(scope="module")
def judge(emulator):
    return Judge(emulator)


def implemented(judge):
    """The operations of the family that answer anything but InvalidAction."""
    done, missing = [], []
    for service, op in family():
        code, _, problems = judge.raw(service, PROVIDER, op, {})
        assert not problems, f"{op} with no parameters: {problems}"
        (missing if code == "InvalidAction" else done).append((service, op))
    return done, missing


def readme_unsupported():
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- unsupported:start -->(.*?)<!-- unsupported:end -->", text, re.S)
    if not m:
        return set()
    return set(re.findall(r"^- `(\w+)`", m.group(1), re.M))


def test_family_answers_and_readme_lists_the_rest(judge):
    done, missing = implemented(judge)
    total = len(done) + len(missing)
    print(f"{len(done)} of {total} operations of the family answer")
    assert len(done) >= 105, f"only {len(done)} of {total} answer; missing: {[o for _, o in missing]}"
    assert "<!-- unsupported:start -->" in (ROOT / "README.md").read_text(), "README.md lists no unsupported operations"
    assert readme_unsupported() == {o for _, o in missing}


def scenario(j):
    """Every operation of the family with valid parameters, in the order a
    user would call them: a provider with an NLB and endpoint service, a
    consumer with interface and gateway endpoints, then the teardown."""
    P, C = PROVIDER, CONSUMER
    ec2 = lambda op, account=P, **kw: j.call("ec2", account, op, **kw)  # noqa: E731
    elb = lambda op, **kw: j.call("elbv2", P, op, **kw)  # noqa: E731

    j.call("sts", C, "GetCallerIdentity")
    ec2("DescribeRegions")
    ec2("DescribeAvailabilityZones")
    ec2("DescribeAccountAttributes")
    vpc = ec2("CreateVpc", CidrBlock="10.0.0.0/16",
              TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "provider"}]}])["Vpc"]["VpcId"]
    ec2("ModifyVpcAttribute", VpcId=vpc, EnableDnsHostnames={"Value": True})
    ec2("DescribeVpcAttribute", VpcId=vpc, Attribute="enableDnsSupport")
    ec2("DescribeVpcs", VpcIds=[vpc])
    subnets = [
        ec2("CreateSubnet", VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.0.0.0/20", "ap-northeast-1a"), ("10.0.128.0/20", "ap-northeast-1c"))
    ]
    ec2("ModifySubnetAttribute", SubnetId=subnets[0], MapPublicIpOnLaunch={"Value": False})
    ec2("DescribeSubnets", Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    ec2("DescribeNetworkAcls", Filters=[{"Name": "vpc-id", "Values": [vpc]}])

    sg = ec2("CreateSecurityGroup", GroupName="nlb", Description="nlb", VpcId=vpc)["GroupId"]
    ec2("AuthorizeSecurityGroupIngress", GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    ec2("AuthorizeSecurityGroupEgress", GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    ec2("DescribeSecurityGroups", GroupIds=[sg])
    rules = ec2("DescribeSecurityGroupRules", Filters=[{"Name": "group-id", "Values": [sg]}])["SecurityGroupRules"]
    ingress = next(r for r in rules if not r["IsEgress"])
    ec2("ModifySecurityGroupRules", GroupId=sg, SecurityGroupRules=[{
        "SecurityGroupRuleId": ingress["SecurityGroupRuleId"],
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIpv4": "10.0.0.0/16"}}])
    ec2("UpdateSecurityGroupRuleDescriptionsIngress", GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
         "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "web"}]}])
    ec2("UpdateSecurityGroupRuleDescriptionsEgress", GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "tls"}]}])
    ec2("GetSecurityGroupsForVpc", VpcId=vpc)
    ec2("RevokeSecurityGroupEgress", GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])

    eni = ec2("CreateNetworkInterface", SubnetId=subnets[0], Groups=[sg],
              Description="appliance")["NetworkInterface"]["NetworkInterfaceId"]
    ec2("DescribeNetworkInterfaceAttribute", NetworkInterfaceId=eni, Attribute="description")
    ec2("ModifyNetworkInterfaceAttribute", NetworkInterfaceId=eni, Description={"Value": "changed"})
    ec2("DescribeNetworkInterfaces", NetworkInterfaceIds=[eni])

    rtb = ec2("CreateRouteTable", VpcId=vpc)["RouteTable"]["RouteTableId"]
    assoc = ec2("AssociateRouteTable", RouteTableId=rtb, SubnetId=subnets[0])["AssociationId"]
    ec2("CreateRoute", RouteTableId=rtb, DestinationCidrBlock="192.168.0.0/16", NetworkInterfaceId=eni)
    ec2("ReplaceRoute", RouteTableId=rtb, DestinationCidrBlock="192.168.0.0/16", NetworkInterfaceId=eni)
    ec2("DescribeRouteTables", Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    ec2("DeleteRoute", RouteTableId=rtb, DestinationCidrBlock="192.168.0.0/16")
    rtb2 = ec2("CreateRouteTable", VpcId=vpc)["RouteTable"]["RouteTableId"]
    assoc = ec2("ReplaceRouteTableAssociation", AssociationId=assoc, RouteTableId=rtb2)["NewAssociationId"]
    ec2("DisassociateRouteTable", AssociationId=assoc)
    ec2("DeleteRouteTable", RouteTableId=rtb)
    ec2("DeleteRouteTable", RouteTableId=rtb2)
    ec2("DeleteNetworkInterface", NetworkInterfaceId=eni)
    lists = ec2("DescribePrefixLists")["PrefixLists"]
    ec2("DescribeManagedPrefixLists")
    s3_list = next(p["PrefixListId"] for p in lists if p["PrefixListName"].endswith(".s3"))
    ec2("GetManagedPrefixListEntries", PrefixListId=s3_list)
    ec2("CreateTags", Resources=[vpc], Tags=[{"Key": "team", "Value": "web"}])
    ec2("DescribeTags", Filters=[{"Name": "resource-id", "Values": [vpc]}])
    ec2("DeleteTags", Resources=[vpc], Tags=[{"Key": "team"}])

    lb = elb("CreateLoadBalancer", Name="conformance", Subnets=subnets, Scheme="internal", Type="network",
             SecurityGroups=[sg])["LoadBalancers"][0]["LoadBalancerArn"]
    elb("DescribeLoadBalancers", LoadBalancerArns=[lb])
    elb("ModifyLoadBalancerAttributes", LoadBalancerArn=lb,
        Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}])
    elb("DescribeLoadBalancerAttributes", LoadBalancerArn=lb)
    elb("DescribeCapacityReservation", LoadBalancerArn=lb)
    elb("ModifyCapacityReservation", LoadBalancerArn=lb, ResetCapacityReservation=True)
    elb("SetIpAddressType", LoadBalancerArn=lb, IpAddressType="ipv4")
    elb("SetSubnets", LoadBalancerArn=lb, Subnets=subnets)
    elb("SetSecurityGroups", LoadBalancerArn=lb, SecurityGroups=[sg],
        EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic="off")
    elb("ModifyIpPools", LoadBalancerArn=lb, may_refuse=True, RemoveIpamPools=["ipv4"])
    elb("GetResourcePolicy", ResourceArn=lb, may_refuse=True)
    tg = elb("CreateTargetGroup", Name="conformance", Protocol="TCP", Port=80, VpcId=vpc, TargetType="ip",
             HealthCheckIntervalSeconds=30)["TargetGroups"][0]["TargetGroupArn"]
    elb("ModifyTargetGroup", TargetGroupArn=tg, HealthCheckIntervalSeconds=10)
    elb("DescribeTargetGroups", TargetGroupArns=[tg])
    elb("ModifyTargetGroupAttributes", TargetGroupArn=tg,
        Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}])
    elb("DescribeTargetGroupAttributes", TargetGroupArn=tg)
    elb("RegisterTargets", TargetGroupArn=tg, Targets=[{"Id": "10.0.0.10", "Port": 80}])
    elb("DescribeTargetHealth", TargetGroupArn=tg)
    forward = [{"Type": "forward", "TargetGroupArn": tg}]
    listener = elb("CreateListener", LoadBalancerArn=lb, Protocol="TCP", Port=80,
                   DefaultActions=forward)["Listeners"][0]["ListenerArn"]
    elb("DescribeListeners", LoadBalancerArn=lb)
    elb("ModifyListener", ListenerArn=listener, Port=8080)
    elb("ModifyListenerAttributes", ListenerArn=listener,
        Attributes=[{"Key": "tcp.idle_timeout.seconds", "Value": "120"}])
    elb("DescribeListenerAttributes", ListenerArn=listener)
    cert = f"arn:aws:acm:{REGION}:{P}:certificate/0b6b5e8e-0000-4000-8000-000000000001"
    tls = elb("CreateListener", may_refuse=True, LoadBalancerArn=lb, Protocol="TLS", Port=443,
              Certificates=[{"CertificateArn": cert}], DefaultActions=forward)
    tls = tls["Listeners"][0]["ListenerArn"] if tls else listener
    extra = [{"CertificateArn": cert.replace("0001", "0002")}]
    refuse = tls == listener
    elb("AddListenerCertificates", ListenerArn=tls, Certificates=extra, may_refuse=refuse)
    elb("DescribeListenerCertificates", ListenerArn=tls, may_refuse=refuse)
    elb("RemoveListenerCertificates", ListenerArn=tls, Certificates=extra, may_refuse=refuse)
    rules = elb("DescribeRules", ListenerArn=listener, may_refuse=True)
    rule = rules["Rules"][0]["RuleArn"] if rules and rules["Rules"] else listener.replace(":listener/", ":listener-rule/") + "/0"
    elb("CreateRule", may_refuse=True, ListenerArn=listener, Priority=1, Actions=forward,
        Conditions=[{"Field": "path-pattern", "Values": ["/x"]}])
    elb("ModifyRule", may_refuse=True, RuleArn=rule, Actions=forward)
    elb("SetRulePriorities", may_refuse=True, RulePriorities=[{"RuleArn": rule, "Priority": 2}])
    elb("DeleteRule", may_refuse=True, RuleArn=rule)
    store = f"arn:aws:elasticloadbalancing:{REGION}:{P}:truststore/conformance/0123456789abcdef"
    elb("CreateTrustStore", may_refuse=True, Name="conformance", CaCertificatesBundleS3Bucket="bucket",
        CaCertificatesBundleS3Key="ca.pem")
    elb("DescribeTrustStores")
    for op, kw in (
        ("DescribeTrustStoreAssociations", {}), ("DescribeTrustStoreRevocations", {}),
        ("GetTrustStoreCaCertificatesBundle", {}), ("GetTrustStoreRevocationContent", {"RevocationId": 1}),
        ("AddTrustStoreRevocations", {}), ("RemoveTrustStoreRevocations", {"RevocationIds": [1]}),
        ("ModifyTrustStore", {"CaCertificatesBundleS3Bucket": "b", "CaCertificatesBundleS3Key": "k"}),
        ("DeleteSharedTrustStoreAssociation", {"ResourceArn": lb}), ("DeleteTrustStore", {}),
    ):
        elb(op, may_refuse=True, TrustStoreArn=store, **kw)
    elb("DescribeSSLPolicies")
    elb("DescribeAccountLimits")
    elb("AddTags", ResourceArns=[lb], Tags=[{"Key": "team", "Value": "web"}])
    elb("DescribeTags", ResourceArns=[lb])
    elb("RemoveTags", ResourceArns=[lb], TagKeys=["team"])

    svc = ec2("CreateVpcEndpointServiceConfiguration", NetworkLoadBalancerArns=[lb],
              AcceptanceRequired=True)["ServiceConfiguration"]
    ec2("DescribeVpcEndpointServiceConfigurations", ServiceIds=[svc["ServiceId"]])
    ec2("ModifyVpcEndpointServiceConfiguration", ServiceId=svc["ServiceId"], PrivateDnsName="api.conformance.test")
    ec2("StartVpcEndpointServicePrivateDnsVerification", ServiceId=svc["ServiceId"])
    ec2("ModifyVpcEndpointServicePermissions", ServiceId=svc["ServiceId"],
        AddAllowedPrincipals=[f"arn:aws:iam::{C}:root"])
    ec2("DescribeVpcEndpointServicePermissions", ServiceId=svc["ServiceId"])
    ec2("ModifyVpcEndpointServicePayerResponsibility", ServiceId=svc["ServiceId"],
        PayerResponsibility="ServiceOwner")
    topic = f"arn:aws:sns:{REGION}:{P}:endpoint-events"
    nfn = ec2("CreateVpcEndpointConnectionNotification", ServiceId=svc["ServiceId"], ConnectionNotificationArn=topic,
              ConnectionEvents=["Connect", "Accept"])["ConnectionNotification"]["ConnectionNotificationId"]
    ec2("ModifyVpcEndpointConnectionNotification", ConnectionNotificationId=nfn,
        ConnectionEvents=["Connect", "Accept", "Reject", "Delete"])
    ec2("DescribeVpcEndpointConnectionNotifications", ConnectionNotificationId=nfn)

    cvpc = ec2("CreateVpc", C, CidrBlock="10.24.0.0/16")["Vpc"]["VpcId"]
    csub = ec2("CreateSubnet", C, VpcId=cvpc, CidrBlock="10.24.16.0/20",
               AvailabilityZone="ap-northeast-1a")["Subnet"]["SubnetId"]
    ec2("DescribeVpcEndpointServices", C, ServiceNames=[svc["ServiceName"]])
    endpoint = ec2("CreateVpcEndpoint", C, VpcEndpointType="Interface", VpcId=cvpc, ServiceName=svc["ServiceName"],
                   SubnetIds=[csub])["VpcEndpoint"]["VpcEndpointId"]
    other = ec2("CreateVpcEndpoint", C, VpcEndpointType="Interface", VpcId=cvpc, ServiceName=svc["ServiceName"],
                SubnetIds=[csub], PrivateDnsEnabled=False)["VpcEndpoint"]["VpcEndpointId"]
    ec2("DescribeVpcEndpointConnections", Filters=[{"Name": "vpc-endpoint-id", "Values": [endpoint]}])
    ec2("AcceptVpcEndpointConnections", ServiceId=svc["ServiceId"], VpcEndpointIds=[endpoint])
    ec2("RejectVpcEndpointConnections", ServiceId=svc["ServiceId"], VpcEndpointIds=[other])
    # An endpoint service of a provider takes no endpoint policy (AWS services do).
    ec2("ModifyVpcEndpoint", C, VpcEndpointId=endpoint, AddSubnetIds=[], ResetPolicy=True, may_refuse=True)
    ec2("DescribeVpcEndpoints", C, VpcEndpointIds=[endpoint])
    ec2("DescribeVpcEndpointAssociations", C, VpcEndpointIds=[endpoint])
    crtb = ec2("CreateRouteTable", C, VpcId=cvpc)["RouteTable"]["RouteTableId"]
    gateway = ec2("CreateVpcEndpoint", C, VpcEndpointType="Gateway", VpcId=cvpc,
                  ServiceName=f"com.amazonaws.{REGION}.s3", RouteTableIds=[crtb])["VpcEndpoint"]["VpcEndpointId"]
    ec2("DeleteVpcEndpoints", C, VpcEndpointIds=[endpoint, other, gateway])
    ec2("DeleteVpcEndpointConnectionNotifications", ConnectionNotificationIds=[nfn])
    ec2("DeleteVpcEndpointServiceConfigurations", ServiceIds=[svc["ServiceId"]])

    elb("DeregisterTargets", TargetGroupArn=tg, Targets=[{"Id": "10.0.0.10", "Port": 80}])
    elb("DeleteListener", ListenerArn=listener)
    if tls != listener:
        elb("DeleteListener", ListenerArn=tls)
    elb("DeleteTargetGroup", TargetGroupArn=tg)
    elb("DeleteLoadBalancer", LoadBalancerArn=lb)
    spare = ec2("CreateVpc", CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    spare_subnet = ec2("CreateSubnet", VpcId=spare, CidrBlock="10.9.0.0/24")["Subnet"]["SubnetId"]
    spare_sg = ec2("CreateSecurityGroup", GroupName="spare", Description="spare", VpcId=spare)["GroupId"]
    ec2("AuthorizeSecurityGroupIngress", GroupId=spare_sg, IpProtocol="tcp", FromPort=22, ToPort=22,
        CidrIp="10.0.0.0/8")
    ec2("RevokeSecurityGroupIngress", GroupId=spare_sg, IpProtocol="tcp", FromPort=22, ToPort=22,
        CidrIp="10.0.0.0/8")
    ec2("DeleteSecurityGroup", GroupId=spare_sg)
    ec2("DeleteSubnet", SubnetId=spare_subnet)
    ec2("DeleteVpc", VpcId=spare)
    # A default VPC, made on request for an account that has none (the
    # emulator makes none unless asked).
    ec2("CreateDefaultVpc", C)


def test_every_operation_answers_its_output_shape(judge):
    done, _ = implemented(judge)
    try:
        scenario(judge)
    except (TypeError, KeyError, StopIteration, IndexError) as e:
        judge.problems.append(f"the scenario stopped ({e!r}) after an answer it could not use")
    assert not judge.problems, "\n".join(judge.problems)
    not_called = {op for op in done if op not in judge.answered}
    assert not not_called, f"implemented but not exercised: {sorted(not_called)}"
    succeeded = {op for op, codes in judge.answered.items() if "ok" in codes}
    print(f"{len(succeeded)} operations answered with success, "
          f"{len(judge.answered) - len(succeeded)} only with a documented error")


def test_random_inputs_never_break_the_api():
    """Random inputs from the input shapes, several per operation, through
    botocore's own serialiser: every answer is a well-formed success or a
    4xx AWS error document, and the emulator keeps serving (it is stopped
    at the end, which fails on a crash or a panic)."""
    emu, url = start_emulator()
    try:
        judge = Judge(url)
        seed = int(os.environ.get("CONFORMANCE_SEED", time.time_ns() % 100000))
        rng = seeded(seed)
        rounds = int(os.environ.get("CONFORMANCE_ROUNDS", "12"))
        pool = []
        for account in (PROVIDER, CONSUMER):
            vpc = judge.call("ec2", account, "CreateVpc", CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
            pool.append(vpc)
        failures, sent = [], 0
        for service, op in family():
            shape = model(service).operation_model(op).input_shape
            for _ in range(rounds):
                params = random_input(shape, rng, pool) if shape is not None else {}
                account = rng.choice((PROVIDER, CONSUMER))
                try:
                    code, out, problems = judge.raw(service, account, op, params)
                except (botocore.exceptions.ParamValidationError, TypeError, ValueError):
                    continue  # botocore's serialiser refused it before sending
                sent += 1
                if problems:
                    failures.append(f"{op} {params}: {problems}")
                if code is None:
                    pool.extend(v for v in _ids(out) if v not in pool)
        print(f"seed {seed}: {sent} random requests")
        assert sent > len(family()) * rounds // 2
        assert not failures, f"seed {seed}:\n" + "\n".join(failures[:20])
        code, _, _ = judge.raw("ec2", PROVIDER, "DescribeVpcs", {})
        assert code is None, "the emulator stopped serving after random inputs"
    finally:
        stop_emulator(emu)


def _ids(value):
    """Resource ids and ARNs in an answer, to reuse as random inputs."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k != "ResponseMetadata":
                yield from _ids(v)
    elif isinstance(value, list):
        for v in value:
            yield from _ids(v)
    elif isinstance(value, str) and re.match(r"^(arn:aws:|[a-z]+(-[a-z]+)?-[0-9a-f]{8,})", value):
        yield value
