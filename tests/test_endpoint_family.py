"""The rest of the VPC endpoint family, with boto3 and the AWS CLI:
ModifyVpcEndpointServicePayerResponsibility, DescribeVpcEndpointAssociations,
and the details Terraform reads back as AWS answers them."""

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import CONSUMER, PROVIDER, REGION, STRANGER
from shapes import check_xml
from topology import build_consumer, build_provider, create_endpoint


def code_of(call, **kw):
    with pytest.raises(ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"]


@pytest.fixture
def client(emulator):
    """boto3 clients whose every raw answer is checked against botocore's
    output shape (or AWS's error document); problems fail the test."""
    problems = []

    def make(service, account):
        c = boto3.client(
            service, endpoint_url=emulator, region_name=REGION, aws_access_key_id=account,
            aws_secret_access_key="any-secret", config=Config(retries={"max_attempts": 1}),
        )

        def capture(response_dict, operation_model, **_):
            found = check_xml(service, operation_model.name, response_dict["status_code"], response_dict["body"])
            problems.extend(f"{operation_model.name}: {p}" for p in found)

        c.meta.events.register("before-parse", capture)
        return c

    yield make
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def lax(emulator):
    """boto3 without its own parameter checks, to send what the CLI would refuse."""
    def make(account):
        return boto3.client(
            "ec2", endpoint_url=emulator, region_name=REGION, aws_access_key_id=account,
            aws_secret_access_key="any-secret",
            config=Config(retries={"max_attempts": 1}, parameter_validation=False),
        )
    return make


def test_payer_responsibility_goes_to_the_service_owner(client, aws, lax):
    provider = build_provider(client, name="payer", cidr_prefix="10.3", targets=("10.3.128.142",))
    ec2 = client("ec2", PROVIDER)
    svc = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[provider.service_id])["ServiceConfigurations"][0]
    assert "PayerResponsibility" not in svc, "the endpoint owners pay by default, and AWS answers no field"
    seen = client("ec2", CONSUMER).describe_vpc_endpoint_services(ServiceNames=[provider.service_name])
    assert "PayerResponsibility" not in seen["ServiceDetails"][0]

    assert code_of(lax(PROVIDER).modify_vpc_endpoint_service_payer_responsibility, ServiceId=provider.service_id,
                   PayerResponsibility="EndpointOwner") == "InvalidParameterValue"
    assert code_of(lax(PROVIDER).modify_vpc_endpoint_service_payer_responsibility,
                   ServiceId=provider.service_id) == "MissingParameter"
    assert code_of(ec2.modify_vpc_endpoint_service_payer_responsibility, ServiceId=provider.service_id,
                   PayerResponsibility="ServiceOwner", DryRun=True) == "DryRunOperation"
    assert code_of(client("ec2", STRANGER).modify_vpc_endpoint_service_payer_responsibility,
                   ServiceId=provider.service_id,
                   PayerResponsibility="ServiceOwner") == "InvalidVpcEndpointServiceId.NotFound"
    svc = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[provider.service_id])["ServiceConfigurations"][0]
    assert "PayerResponsibility" not in svc, "refusals and dry runs change nothing"

    out = aws(PROVIDER)("ec2", "modify-vpc-endpoint-service-payer-responsibility", "--service-id",
                        provider.service_id, "--payer-responsibility", "ServiceOwner")
    assert out["ReturnValue"] is True
    svc = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[provider.service_id])["ServiceConfigurations"][0]
    assert svc["PayerResponsibility"] == "ServiceOwner"
    seen = aws(CONSUMER)("ec2", "describe-vpc-endpoint-services", "--service-names", provider.service_name)
    assert seen["ServiceDetails"][0]["PayerResponsibility"] == "ServiceOwner"
    # Again: nothing to change, still true.
    assert ec2.modify_vpc_endpoint_service_payer_responsibility(
        ServiceId=provider.service_id, PayerResponsibility="ServiceOwner")["ReturnValue"] is True


def test_interface_endpoints_have_no_associations(client, aws, lax):
    provider = build_provider(client, acceptance_required=False, name="assoc", cidr_prefix="10.4",
                              targets=("10.4.128.142",))
    consumer = build_consumer(client, cidr_prefix="10.26")
    endpoint = create_endpoint(client, provider, consumer)["VpcEndpointId"]
    ec2 = client("ec2", CONSUMER)
    assert ec2.describe_vpc_endpoint_associations(VpcEndpointIds=[endpoint])["VpcEndpointAssociations"] == []
    assert ec2.describe_vpc_endpoint_associations()["VpcEndpointAssociations"] == []
    listed = aws(CONSUMER)("ec2", "describe-vpc-endpoint-associations", "--vpc-endpoint-ids", endpoint,
                           "--filters", f"Name=vpc-endpoint-id,Values={endpoint}")
    assert listed["VpcEndpointAssociations"] == []
    assert code_of(client("ec2", PROVIDER).describe_vpc_endpoint_associations,
                   VpcEndpointIds=[endpoint]) == "InvalidVpcEndpointId.NotFound"
    assert code_of(ec2.describe_vpc_endpoint_associations,
                   VpcEndpointIds=["vpce-0123456789abcdef0"]) == "InvalidVpcEndpointId.NotFound"
    assert code_of(ec2.describe_vpc_endpoint_associations,
                   Filters=[{"Name": "color", "Values": ["blue"]}]) == "InvalidParameterValue"
    assert code_of(lax(CONSUMER).describe_vpc_endpoint_associations, MaxResults=1) == "InvalidMaxResults"
    assert code_of(ec2.describe_vpc_endpoint_associations, DryRun=True) == "DryRunOperation"
    ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint])


def test_connection_notification_answers_have_their_output_shapes(client):
    provider = build_provider(client, name="nfnshape", cidr_prefix="10.5", targets=("10.5.128.142",))
    ec2 = client("ec2", PROVIDER)
    topic = f"arn:aws:sns:{REGION}:{PROVIDER}:shapes"
    nid = ec2.create_vpc_endpoint_connection_notification(
        ServiceId=provider.service_id, ConnectionNotificationArn=topic, ConnectionEvents=["Connect"],
        ClientToken="shape-1",
    )["ConnectionNotification"]["ConnectionNotificationId"]
    ec2.modify_vpc_endpoint_connection_notification(ConnectionNotificationId=nid, ConnectionEvents=["Accept"])
    listed = ec2.describe_vpc_endpoint_connection_notifications(MaxResults=5)["ConnectionNotificationSet"]
    assert nid in [n["ConnectionNotificationId"] for n in listed]
    out = ec2.delete_vpc_endpoint_connection_notifications(
        ConnectionNotificationIds=[nid, "vpce-nfn-0123456789abcdef0"])
    assert [u["ResourceId"] for u in out["Unsuccessful"]] == ["vpce-nfn-0123456789abcdef0"]


def bare_nlb(client, name, prefix):
    """An NLB of the provider with no service on it."""
    ec2 = client("ec2", PROVIDER)
    vpc = ec2.create_vpc(CidrBlock=f"{prefix}.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{prefix}.0.0/20",
                               AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    lb = client("elbv2", PROVIDER).create_load_balancer(Name=name, Subnets=[subnet], Scheme="internal", Type="network")
    return lb["LoadBalancers"][0]["LoadBalancerArn"]


AWS_DEFAULT_POLICY = ('{\n  "Statement": [\n    {\n      "Action": "*", \n      "Effect": "Allow", \n'
                      '      "Principal": "*", \n      "Resource": "*"\n    }\n  ]\n}')


def test_answers_carry_the_fields_aws_sends_and_no_others(client, aws):
    provider = build_provider(client, acceptance_required=False, name="fields", cidr_prefix="10.6",
                              targets=("10.6.128.142",))
    consumer = build_consumer(client, cidr_prefix="10.27")
    p = client("ec2", PROVIDER)
    c = client("ec2", CONSUMER)

    # A service: the create answer has no tag list when there are no tags;
    # every answer has an (empty) private DNS name configuration.
    made = p.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[bare_nlb(client, "fields2", "10.7")])["ServiceConfiguration"]
    assert "Tags" not in made and made["PrivateDnsNameConfiguration"] == {}
    described = p.describe_vpc_endpoint_service_configurations(ServiceIds=[made["ServiceId"]])["ServiceConfigurations"][0]
    assert described["Tags"] == [] and described["PrivateDnsNameConfiguration"] == {}
    assert "PrivateDnsName" not in described
    tagged = p.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[bare_nlb(client, "fields3", "10.8")],
        TagSpecifications=[{"ResourceType": "vpc-endpoint-service", "Tags": [{"Key": "k", "Value": "v"}]}],
    )["ServiceConfiguration"]
    assert tagged["Tags"] == [{"Key": "k", "Value": "v"}]

    # Deleting a service that is not there: AWS's code for this action.
    out = p.delete_vpc_endpoint_service_configurations(
        ServiceIds=[made["ServiceId"], "vpce-svc-0123456789abcdef0"])
    assert out["Unsuccessful"][0]["ResourceId"] == "vpce-svc-0123456789abcdef0"
    assert out["Unsuccessful"][0]["Error"]["Code"] == "InvalidVpcEndpointService.NotFound"
    other = client("ec2", CONSUMER).delete_vpc_endpoint_service_configurations(ServiceIds=[tagged["ServiceId"]])
    assert [u["Error"]["Code"] for u in other["Unsuccessful"]] == ["InvalidVpcEndpointService.NotFound"]
    cli = aws(PROVIDER)("ec2", "delete-vpc-endpoint-service-configurations", "--service-ids",
                        "vpce-svc-0123456789abcdef1")
    assert cli["Unsuccessful"][0]["Error"]["Code"] == "InvalidVpcEndpointService.NotFound"
    p.delete_vpc_endpoint_service_configurations(ServiceIds=[tagged["ServiceId"]])

    # Endpoints: no tag list in the create answer without tags, an empty one
    # in DescribeVpcEndpoints; the service's region; AWS's default policy.
    ep = create_endpoint(client, provider, consumer)
    assert "Tags" not in ep and ep["ServiceRegion"] == REGION
    got = c.describe_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])["VpcEndpoints"][0]
    assert got["Tags"] == [] and got["ServiceRegion"] == REGION
    ec2_ep = c.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=consumer.vpc,
                                   ServiceName=f"com.amazonaws.{REGION}.ec2", SubnetIds=[consumer.subnets[0]],
                                   PrivateDnsEnabled=False)["VpcEndpoint"]
    assert ec2_ep["PolicyDocument"] == AWS_DEFAULT_POLICY
    assert ec2_ep["ServiceRegion"] == REGION
    c.modify_vpc_endpoint(VpcEndpointId=ec2_ep["VpcEndpointId"], PolicyDocument='{"Statement":[]}')
    c.modify_vpc_endpoint(VpcEndpointId=ec2_ep["VpcEndpointId"], ResetPolicy=True)
    shown = aws(CONSUMER)("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", ec2_ep["VpcEndpointId"])
    assert shown["VpcEndpoints"][0]["PolicyDocument"] == AWS_DEFAULT_POLICY

    # The provider's views carry no empty tag lists.
    conns = p.describe_vpc_endpoint_connections(
        Filters=[{"Name": "vpc-endpoint-id", "Values": [ep["VpcEndpointId"]]}])["VpcEndpointConnections"]
    assert len(conns) == 1 and "Tags" not in conns[0]
    perms = p.describe_vpc_endpoint_service_permissions(ServiceId=provider.service_id)["AllowedPrincipals"]
    assert perms and all("Tags" not in x for x in perms)
    c.delete_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"], ec2_ep["VpcEndpointId"]])


def test_create_and_delete_tags_require_their_parameters(client, aws, lax):
    c = client("ec2", CONSUMER)
    vpc = c.create_vpc(CidrBlock="10.28.0.0/16")["Vpc"]["VpcId"]
    c.create_tags(Resources=[vpc], Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    raw = lax(CONSUMER)
    assert code_of(raw.create_tags, Resources=[vpc]) == "MissingParameter"
    assert code_of(raw.create_tags, Tags=[{"Key": "x", "Value": "y"}]) == "MissingParameter"
    assert code_of(raw.delete_tags, Tags=[{"Key": "a"}]) == "MissingParameter"
    # A tag without its key is refused, not read as "every tag".
    assert code_of(raw.delete_tags, Resources=[vpc], Tags=[{"Value": "1"}]) == "MissingParameter"
    tags = {t["Key"]: t["Value"] for t in c.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Tags"]}
    assert tags == {"a": "1", "b": "2"}
    cli = aws(CONSUMER)
    cli("ec2", "delete-tags", "--resources", vpc, "--tags", "Key=a")
    tags = {t["Key"]: t["Value"] for t in c.describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["Tags"]}
    assert tags == {"b": "2"}
    c.delete_vpc(VpcId=vpc)
