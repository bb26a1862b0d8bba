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
