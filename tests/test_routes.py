"""Route tables, AWS-managed prefix lists and gateway endpoints, end to end
with boto3 and the AWS CLI against the emulator binary: every VPC's main
table with its local route, custom tables, associations and routes, the
S3 and DynamoDB prefix lists, gateway endpoints whose routes appear in and
leave their route tables, AWS's error codes, and that a request that fails
changes nothing. Every answer is checked against botocore's output shape."""

import json
import re

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import CONSUMER, PROVIDER, REGION, wait_for
from shapes import check_xml

S3 = f"com.amazonaws.{REGION}.s3"
DYNAMODB = f"com.amazonaws.{REGION}.dynamodb"
GATEWAY_POLICY = '{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}'


# AWS answers endpoint states in lowerCamel (`available`, `pendingAcceptance`)
# where botocore's enum has them capitalised; only that is let through.
ENDPOINT_STATE = re.compile(r"vpcEndpoint(Set\[\d+\])?\.state: '([a-zA-Z]+)' is not one of State's values")


def shape_problems(op, status, body):
    return [p for p in check_xml("ec2", op, status, body) if not ENDPOINT_STATE.search(p)]


class Checked:
    """A boto3 EC2 client whose every raw answer must match botocore's
    output shape (or be a well-formed error)."""

    def __init__(self, url, account):
        self.ec2 = boto3.client(
            "ec2", endpoint_url=url, region_name=REGION, aws_access_key_id=account,
            aws_secret_access_key="any-secret", config=Config(retries={"max_attempts": 1}),
        )
        self.last = None
        self.ec2.meta.events.register("before-parse", self._capture)

    def _capture(self, response_dict, operation_model, **_):
        self.last = (operation_model.name, response_dict["status_code"], response_dict["body"])

    def __getattr__(self, name):
        method = getattr(self.ec2, name)

        def call(**kwargs):
            self.last = None
            try:
                return method(**kwargs)
            finally:
                if self.last is not None:
                    op, status, body = self.last
                    problems = shape_problems(op, status, body)
                    assert not problems, f"{op}: {problems}\n{body[:2000]!r}"

        return call


@pytest.fixture(scope="module")
def ec2(emulator):
    return Checked(emulator, CONSUMER)


@pytest.fixture(scope="module")
def other(emulator):
    return Checked(emulator, PROVIDER)


def error_code(fn, **kwargs):
    with pytest.raises(ClientError) as e:
        fn(**kwargs)
    return e.value.response["Error"]["Code"]


def endpoint_state(ec2, vpce):
    """The endpoint's state; None once it is forgotten."""
    try:
        return ec2.describe_vpc_endpoints(VpcEndpointIds=[vpce])["VpcEndpoints"][0]["State"]
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidVpcEndpointId.NotFound"
        return None


def tables(ec2, vpc_id):
    out = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    return sorted(out, key=lambda t: t["RouteTableId"])


def world(ec2, vpc_id):
    """What a failing request must leave as it was."""
    return {
        "tables": tables(ec2, vpc_id),
        "endpoints": sorted(
            (e for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
             if e["State"] not in ("deleting", "deleted")),
            key=lambda e: e["VpcEndpointId"],
        ),
    }


def refused(ec2, vpc_id, code, fn, **kwargs):
    """`fn(**kwargs)` fails with `code` and changes nothing in the VPC."""
    before = world(ec2, vpc_id)
    got = error_code(fn, **kwargs)
    assert got == code, f"expected {code}, got {got}"
    assert world(ec2, vpc_id) == before, f"a refused request ({code}) changed the VPC"


@pytest.fixture
def vpc(ec2):
    """A VPC with a subnet in each of two zones; deleted afterwards with
    everything the test left in it."""
    v = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    a = ec2.create_subnet(VpcId=v, CidrBlock="10.20.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    c = ec2.create_subnet(VpcId=v, CidrBlock="10.20.2.0/24", AvailabilityZone=f"{REGION}c")["Subnet"]["SubnetId"]
    yield {"id": v, "subnets": [a, c], "cidr": "10.20.0.0/16"}
    eps = [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [v]}])["VpcEndpoints"] if e["State"] not in ("deleting", "deleted")]
    if eps:
        ec2.delete_vpc_endpoints(VpcEndpointIds=eps)
    for t in tables(ec2, v):
        for assoc in t["Associations"]:
            if not assoc["Main"]:
                ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
        if not any(a["Main"] for a in t["Associations"]):
            ec2.delete_route_table(RouteTableId=t["RouteTableId"])

    def subnets_free():
        try:
            for s in (a, c):
                ec2.delete_subnet(SubnetId=s)
        except ClientError as e:
            if e.response["Error"]["Code"] == "DependencyViolation":
                return False
            if e.response["Error"]["Code"] != "InvalidSubnetID.NotFound":
                raise
        return True

    wait_for(subnets_free, "the endpoints' interfaces to go", timeout=20)
    wait_for(lambda: not [e for e in ec2.describe_vpc_endpoints(
        Filters=[{"Name": "vpc-id", "Values": [v]}])["VpcEndpoints"] if e["State"] != "deleted"], "endpoints gone")
    ec2.delete_vpc(VpcId=v)


def test_every_vpc_has_one_main_table_with_its_local_route(ec2, vpc):
    found = tables(ec2, vpc["id"])
    assert len(found) == 1
    t = found[0]
    assert t["OwnerId"] == CONSUMER and t["VpcId"] == vpc["id"]
    assert t["RouteTableId"].startswith("rtb-") and len(t["RouteTableId"]) == len("rtb-") + 17
    assert t["Routes"] == [
        {"DestinationCidrBlock": vpc["cidr"], "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}
    ]
    [assoc] = t["Associations"]
    assert assoc["Main"] is True and assoc["RouteTableId"] == t["RouteTableId"]
    assert assoc["AssociationState"] == {"State": "associated"} and "SubnetId" not in assoc
    assert t["PropagatingVgws"] == []
    # What Terraform's aws_vpc reads: the main table by filters.
    mains = ec2.describe_route_tables(Filters=[
        {"Name": "association.main", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc["id"]]}])["RouteTables"]
    assert [m["RouteTableId"] for m in mains] == [t["RouteTableId"]]
    by_assoc = ec2.describe_route_tables(Filters=[
        {"Name": "association.route-table-association-id", "Values": [assoc["RouteTableAssociationId"]]}])
    assert [m["RouteTableId"] for m in by_assoc["RouteTables"]] == [t["RouteTableId"]]


def test_the_main_table_cannot_be_deleted_nor_disassociated(ec2, vpc):
    [main] = tables(ec2, vpc["id"])
    refused(ec2, vpc["id"], "DependencyViolation", ec2.delete_route_table, RouteTableId=main["RouteTableId"])
    refused(ec2, vpc["id"], "InvalidParameterValue", ec2.disassociate_route_table,
            AssociationId=main["Associations"][0]["RouteTableAssociationId"])
    refused(ec2, vpc["id"], "InvalidParameterValue", ec2.delete_route, RouteTableId=main["RouteTableId"],
            DestinationCidrBlock=vpc["cidr"])
    refused(ec2, vpc["id"], "RouteAlreadyExists", ec2.create_route, RouteTableId=main["RouteTableId"],
            DestinationCidrBlock=vpc["cidr"], GatewayId="local")


def test_custom_table_associations_and_their_errors(ec2, other, vpc):
    a, c = vpc["subnets"]
    made = ec2.create_route_table(
        VpcId=vpc["id"], ClientToken="rt-token-1",
        TagSpecifications=[{"ResourceType": "route-table", "Tags": [{"Key": "Name", "Value": "private"}]}],
    )
    t = made["RouteTable"]
    assert made["ClientToken"] == "rt-token-1"
    assert t["Associations"] == [] and t["Tags"] == [{"Key": "Name", "Value": "private"}]
    assert t["Routes"] == [
        {"DestinationCidrBlock": vpc["cidr"], "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"}
    ]
    # The same client token answers the same table.
    again = ec2.create_route_table(VpcId=vpc["id"], ClientToken="rt-token-1")["RouteTable"]
    assert again["RouteTableId"] == t["RouteTableId"] and len(tables(ec2, vpc["id"])) == 2
    rtb = t["RouteTableId"]

    assoc = ec2.associate_route_table(RouteTableId=rtb, SubnetId=a)
    assert assoc["AssociationId"].startswith("rtbassoc-") and assoc["AssociationState"] == {"State": "associated"}
    got = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [a]}])["RouteTables"]
    assert [x["RouteTableId"] for x in got] == [rtb]
    [main] = [x for x in tables(ec2, vpc["id"]) if x["RouteTableId"] != rtb]

    # A subnet has one table; tables and subnets of other VPCs or accounts do not mix.
    refused(ec2, vpc["id"], "Resource.AlreadyAssociated", ec2.associate_route_table,
            RouteTableId=main["RouteTableId"], SubnetId=a)
    refused(ec2, vpc["id"], "Resource.AlreadyAssociated", ec2.associate_route_table, RouteTableId=rtb, SubnetId=a)
    refused(ec2, vpc["id"], "InvalidSubnetID.NotFound", ec2.associate_route_table, RouteTableId=rtb,
            SubnetId="subnet-0123456789abcdef0")
    refused(ec2, vpc["id"], "InvalidRouteTableID.NotFound", ec2.associate_route_table,
            RouteTableId="rtb-0123456789abcdef0", SubnetId=c)
    refused(ec2, vpc["id"], "InvalidRouteTableId.Malformed", ec2.associate_route_table,
            RouteTableId="rtb-nothex", SubnetId=c)
    assert error_code(other.describe_route_tables, RouteTableIds=[rtb]) == "InvalidRouteTableID.NotFound"
    refused(ec2, vpc["id"], "InvalidRouteTableID.NotFound", other.delete_route_table, RouteTableId=rtb)
    second = ec2.create_vpc(CidrBlock="10.21.0.0/16")["Vpc"]["VpcId"]
    try:
        [second_main] = tables(ec2, second)
        refused(ec2, vpc["id"], "InvalidParameterValue", ec2.associate_route_table,
                RouteTableId=second_main["RouteTableId"], SubnetId=c)
    finally:
        ec2.delete_vpc(VpcId=second)

    # An associated table cannot be deleted; a dry run changes nothing.
    refused(ec2, vpc["id"], "DependencyViolation", ec2.delete_route_table, RouteTableId=rtb)
    refused(ec2, vpc["id"], "DryRunOperation", ec2.associate_route_table, RouteTableId=rtb, SubnetId=c, DryRun=True)
    refused(ec2, vpc["id"], "DryRunOperation", ec2.create_route_table, VpcId=vpc["id"], DryRun=True)

    # Replace: the subnet moves to the main table under a new association id.
    moved = ec2.replace_route_table_association(AssociationId=assoc["AssociationId"],
                                                RouteTableId=main["RouteTableId"])
    assert moved["NewAssociationId"] != assoc["AssociationId"]
    refused(ec2, vpc["id"], "InvalidAssociationID.NotFound", ec2.disassociate_route_table,
            AssociationId=assoc["AssociationId"])
    ec2.disassociate_route_table(AssociationId=moved["NewAssociationId"])
    assert all(not x["Main"] for t in tables(ec2, vpc["id"]) for x in t["Associations"] if "SubnetId" in x)

    # The main association can move too; the old main table is then an
    # ordinary one, and deletable.
    main_assoc = main["Associations"][0]["RouteTableAssociationId"]
    new_main = ec2.replace_route_table_association(AssociationId=main_assoc, RouteTableId=rtb)["NewAssociationId"]
    mains = ec2.describe_route_tables(Filters=[
        {"Name": "association.main", "Values": ["true"]}, {"Name": "vpc-id", "Values": [vpc["id"]]}])["RouteTables"]
    assert [m["RouteTableId"] for m in mains] == [rtb]
    ec2.delete_route_table(RouteTableId=main["RouteTableId"])
    assert [x["RouteTableId"] for x in tables(ec2, vpc["id"])] == [rtb]
    assert error_code(ec2.describe_route_tables, RouteTableIds=[main["RouteTableId"]]) == "InvalidRouteTableID.NotFound"
    assert new_main


def test_deleting_a_subnet_takes_its_association_and_a_vpc_waits_for_its_tables(ec2):
    v = ec2.create_vpc(CidrBlock="10.22.0.0/16")["Vpc"]["VpcId"]
    s = ec2.create_subnet(VpcId=v, CidrBlock="10.22.1.0/24")["Subnet"]["SubnetId"]
    rtb = ec2.create_route_table(VpcId=v)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=s)
    ec2.delete_subnet(SubnetId=s)
    assert ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Associations"] == []
    refused(ec2, v, "DependencyViolation", ec2.delete_vpc, VpcId=v)
    ec2.delete_route_table(RouteTableId=rtb)
    ec2.delete_vpc(VpcId=v)
    # The main table went with the VPC.
    assert tables(ec2, v) == []


def test_routes_to_an_interface_replace_delete_and_blackhole(ec2, vpc):
    a, c = vpc["subnets"]
    rtb = ec2.create_route_table(VpcId=vpc["id"])["RouteTable"]["RouteTableId"]
    ep = ec2.create_vpc_endpoint(VpcId=vpc["id"], ServiceName=f"com.amazonaws.{REGION}.ec2",
                                 VpcEndpointType="Interface", SubnetIds=[a, c])["VpcEndpoint"]
    eni1, eni2 = ep["NetworkInterfaceIds"]

    assert ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="192.168.0.0/16", NetworkInterfaceId=eni1)["Return"]
    route = {"DestinationCidrBlock": "192.168.0.0/16", "NetworkInterfaceId": eni1, "Origin": "CreateRoute",
             "State": "active"}
    assert route in ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    found = ec2.describe_route_tables(Filters=[{"Name": "route.destination-cidr-block", "Values": ["192.168.0.0/16"]}])
    assert [t["RouteTableId"] for t in found["RouteTables"]] == [rtb]

    refused(ec2, vpc["id"], "RouteAlreadyExists", ec2.create_route, RouteTableId=rtb,
            DestinationCidrBlock="192.168.0.0/16", NetworkInterfaceId=eni2)
    refused(ec2, vpc["id"], "InvalidGatewayID.NotFound", ec2.create_route, RouteTableId=rtb,
            DestinationCidrBlock="0.0.0.0/0", GatewayId="igw-0123456789abcdef0")
    refused(ec2, vpc["id"], "NatGatewayNotFound", ec2.create_route, RouteTableId=rtb,
            DestinationCidrBlock="0.0.0.0/0", NatGatewayId="nat-0123456789abcdef0")
    refused(ec2, vpc["id"], "InvalidNetworkInterfaceID.NotFound", ec2.create_route, RouteTableId=rtb,
            DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId="eni-0123456789abcdef0")
    refused(ec2, vpc["id"], "InvalidParameterCombination", ec2.create_route, RouteTableId=rtb,
            DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=eni1, GatewayId="igw-0123456789abcdef0")
    refused(ec2, vpc["id"], "MissingParameter", ec2.create_route, RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    refused(ec2, vpc["id"], "InvalidParameterValue", ec2.create_route, RouteTableId=rtb,
            DestinationCidrBlock="not-a-cidr", NetworkInterfaceId=eni1)
    # Inside the VPC, only a subnet's exact block can be routed elsewhere.
    refused(ec2, vpc["id"], "InvalidParameterValue", ec2.create_route, RouteTableId=rtb,
            DestinationCidrBlock="10.20.128.0/24", NetworkInterfaceId=eni1)
    assert ec2.create_route(RouteTableId=rtb, DestinationCidrBlock="10.20.2.0/24", NetworkInterfaceId=eni1)["Return"]
    refused(ec2, vpc["id"], "InvalidRouteTableID.NotFound", ec2.create_route, RouteTableId="rtb-0123456789abcdef0",
            DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=eni1)
    refused(ec2, vpc["id"], "DryRunOperation", ec2.create_route, RouteTableId=rtb,
            DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=eni1, DryRun=True)

    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="192.168.0.0/16", NetworkInterfaceId=eni2)
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    assert {**route, "NetworkInterfaceId": eni2} in routes
    refused(ec2, vpc["id"], "InvalidRoute.NotFound", ec2.replace_route, RouteTableId=rtb,
            DestinationCidrBlock="172.16.0.0/12", NetworkInterfaceId=eni2)
    refused(ec2, vpc["id"], "InvalidRoute.NotFound", ec2.delete_route, RouteTableId=rtb,
            DestinationCidrBlock="172.16.0.0/12")
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="10.20.2.0/24")

    # The target goes (the endpoint and its interfaces are deleted): the
    # route stays, as a blackhole.
    ec2.delete_vpc_endpoints(VpcEndpointIds=[ep["VpcEndpointId"]])

    def blackholed():
        r = [r for r in ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
             if r.get("DestinationCidrBlock") == "192.168.0.0/16"]
        return r and r[0]["State"] == "blackhole"

    wait_for(blackholed, "the route to a deleted interface to be a blackhole", timeout=20)
    found = ec2.describe_route_tables(Filters=[{"Name": "route.state", "Values": ["blackhole"]},
                                               {"Name": "vpc-id", "Values": [vpc["id"]]}])
    assert [t["RouteTableId"] for t in found["RouteTables"]] == [rtb]
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="192.168.0.0/16")
    assert len(ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]) == 1


def test_describe_route_tables_pages_filters_and_tags(ec2, vpc):
    made = [ec2.create_route_table(VpcId=vpc["id"])["RouteTable"]["RouteTableId"] for _ in range(6)]
    ec2.create_tags(Resources=made[:2], Tags=[{"Key": "tier", "Value": "private"}])
    tagged = ec2.describe_route_tables(Filters=[{"Name": "tag:tier", "Values": ["private"]}])["RouteTables"]
    assert sorted(t["RouteTableId"] for t in tagged) == sorted(made[:2])
    kinds = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [made[0]]}])["Tags"]
    assert kinds == [{"Key": "tier", "ResourceId": made[0], "ResourceType": "route-table", "Value": "private"}]
    seen, token = [], None
    while True:
        kw = {"Filters": [{"Name": "vpc-id", "Values": [vpc["id"]]}], "MaxResults": 5}
        if token:
            kw["NextToken"] = token
        page = ec2.describe_route_tables(**kw)
        assert len(page["RouteTables"]) <= 5
        seen += [t["RouteTableId"] for t in page["RouteTables"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == 7 and len(set(seen)) == 7
    assert error_code(ec2.describe_route_tables, MaxResults=101) == "InvalidParameterValue"
    assert error_code(ec2.describe_route_tables, Filters=[{"Name": "no-such-filter", "Values": ["x"]}]) \
        == "InvalidParameterValue"
    none = ec2.describe_route_tables(Filters=[{"Name": "association.main", "Values": ["false"]},
                                              {"Name": "vpc-id", "Values": [vpc["id"]]}])
    assert none["RouteTables"] == [], "tables without associations never match association filters"


def test_aws_managed_prefix_lists(ec2):
    lists = ec2.describe_prefix_lists()["PrefixLists"]
    by_name = {pl["PrefixListName"]: pl for pl in lists}
    assert set(by_name) == {S3, DYNAMODB}
    assert by_name[S3]["PrefixListId"] == "pl-61a54008"
    assert by_name[S3]["Cidrs"] and all("/" in c for c in by_name[S3]["Cidrs"])
    # What Terraform's aws_vpc_endpoint reads: the list named after the service.
    named = ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": [DYNAMODB]}])["PrefixLists"]
    assert named == [by_name[DYNAMODB]]
    none = ec2.describe_prefix_lists(Filters=[{"Name": "prefix-list-name", "Values": ["com.example.svc"]}])
    assert none["PrefixLists"] == []

    managed = ec2.describe_managed_prefix_lists(PrefixListIds=[by_name[S3]["PrefixListId"]])["PrefixLists"]
    assert managed == [{
        "PrefixListId": "pl-61a54008", "AddressFamily": "IPv4", "State": "create-complete",
        "PrefixListArn": f"arn:aws:ec2:{REGION}:aws:prefix-list/pl-61a54008", "PrefixListName": S3,
        "Tags": [], "OwnerId": "AWS",
    }]
    owned = ec2.describe_managed_prefix_lists(Filters=[{"Name": "owner-id", "Values": ["AWS"]}])["PrefixLists"]
    assert {pl["PrefixListName"] for pl in owned} == {S3, DYNAMODB}
    entries = ec2.get_managed_prefix_list_entries(PrefixListId=by_name[S3]["PrefixListId"])["Entries"]
    assert sorted(e["Cidr"] for e in entries) == sorted(by_name[S3]["Cidrs"])

    assert error_code(ec2.describe_prefix_lists, PrefixListIds=["pl-00000000"]) == "InvalidPrefixListID.NotFound"
    assert error_code(ec2.get_managed_prefix_list_entries, PrefixListId="pl-00000000") == "InvalidPrefixListID.NotFound"
    assert error_code(ec2.describe_managed_prefix_lists, PrefixListIds=["nope"]) == "InvalidPrefixListId.Malformed"
    # Each region has its own lists.
    us = boto3.client("ec2", endpoint_url=ec2.ec2.meta.endpoint_url, region_name="us-east-1",
                      aws_access_key_id=CONSUMER, aws_secret_access_key="x")
    us_names = {pl["PrefixListName"]: pl["PrefixListId"] for pl in us.describe_prefix_lists()["PrefixLists"]}
    assert us_names == {"com.amazonaws.us-east-1.s3": "pl-63a5400a", "com.amazonaws.us-east-1.dynamodb": "pl-02cd2c6b"}


def test_endpoint_services_list_s3_both_ways_and_dynamodb_as_gateway(ec2):
    out = ec2.describe_vpc_endpoint_services(ServiceNames=[S3, DYNAMODB])
    assert out["ServiceNames"] == [DYNAMODB, S3]
    kinds = sorted((d["ServiceName"], d["ServiceType"][0]["ServiceType"]) for d in out["ServiceDetails"])
    assert kinds == [(DYNAMODB, "Gateway"), (S3, "Gateway"), (S3, "Interface")]
    for d in out["ServiceDetails"]:
        assert d["Owner"] == "amazon" and d["VpcEndpointPolicySupported"] is True
        assert d["AcceptanceRequired"] is False and d["ServiceId"].startswith("vpce-svc-")
        short = d["ServiceName"].rsplit(".", 1)[1]
        gateway = d["ServiceType"][0]["ServiceType"] == "Gateway"
        base = f"{short}.{REGION}.amazonaws.com" if gateway else f"{short}.{REGION}.vpce.amazonaws.com"
        assert d["BaseEndpointDnsNames"] == [base]
    gateways = ec2.describe_vpc_endpoint_services(Filters=[{"Name": "service-type", "Values": ["Gateway"]}])
    assert gateways["ServiceNames"] == [DYNAMODB, S3]
    assert all(d["ServiceType"] == [{"ServiceType": "Gateway"}] for d in gateways["ServiceDetails"])


def test_gateway_endpoints_put_their_routes_in_route_tables(ec2, other, vpc):
    rtb1 = ec2.create_route_table(VpcId=vpc["id"])["RouteTable"]["RouteTableId"]
    rtb2 = ec2.create_route_table(VpcId=vpc["id"])["RouteTable"]["RouteTableId"]
    pl = {p["PrefixListName"]: p["PrefixListId"] for p in ec2.describe_prefix_lists()["PrefixLists"]}

    s3 = ec2.create_vpc_endpoint(VpcId=vpc["id"], ServiceName=S3, VpcEndpointType="Gateway",
                                 RouteTableIds=[rtb1], ClientToken="s3-gw-1")
    e = s3["VpcEndpoint"]
    assert s3["ClientToken"] == "s3-gw-1"
    assert e["VpcEndpointType"] == "Gateway" and e["State"] == "available"
    assert e["PolicyDocument"] == GATEWAY_POLICY
    assert e["RouteTableIds"] == [rtb1]
    assert e["SubnetIds"] == [] and e["Groups"] == [] and e["NetworkInterfaceIds"] == [] and e["DnsEntries"] == []
    assert e["PrivateDnsEnabled"] is False and e["RequesterManaged"] is False
    assert "IpAddressType" not in e and "DnsOptions" not in e
    s3_id = e["VpcEndpointId"]
    assert ec2.create_vpc_endpoint(VpcId=vpc["id"], ServiceName=S3, VpcEndpointType="Gateway",
                                   RouteTableIds=[rtb1], ClientToken="s3-gw-1")["VpcEndpoint"]["VpcEndpointId"] == s3_id

    def routes(rtb):
        return [r for r in ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
                if "DestinationPrefixListId" in r]

    assert routes(rtb1) == [{"DestinationPrefixListId": pl[S3], "GatewayId": s3_id, "Origin": "CreateRoute",
                             "State": "active"}]
    assert routes(rtb2) == []
    found = ec2.describe_route_tables(Filters=[{"Name": "route.gateway-id", "Values": [s3_id]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [rtb1]

    # DynamoDB with the default type (Gateway) in both tables.
    ddb = ec2.create_vpc_endpoint(VpcId=vpc["id"], ServiceName=DYNAMODB, RouteTableIds=[rtb1, rtb2])["VpcEndpoint"]
    assert ddb["VpcEndpointType"] == "Gateway" and sorted(ddb["RouteTableIds"]) == sorted([rtb1, rtb2])
    assert {r["DestinationPrefixListId"] for r in routes(rtb1)} == {pl[S3], pl[DYNAMODB]}
    listed = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-endpoint-type", "Values": ["Gateway"]},
                                                 {"Name": "vpc-id", "Values": [vpc["id"]]}])["VpcEndpoints"]
    assert sorted(x["VpcEndpointId"] for x in listed) == sorted([s3_id, ddb["VpcEndpointId"]])

    # Refusals change nothing.
    refused(ec2, vpc["id"], "RouteAlreadyExists", ec2.create_vpc_endpoint, VpcId=vpc["id"], ServiceName=S3,
            VpcEndpointType="Gateway", RouteTableIds=[rtb1])
    ddb2 = ec2.create_vpc_endpoint(VpcId=vpc["id"], ServiceName=DYNAMODB)["VpcEndpoint"]
    assert ddb2["RouteTableIds"] == []
    refused(ec2, vpc["id"], "RouteAlreadyExists", ec2.modify_vpc_endpoint, VpcEndpointId=ddb2["VpcEndpointId"],
            AddRouteTableIds=[rtb1])
    ec2.delete_vpc_endpoints(VpcEndpointIds=[ddb2["VpcEndpointId"]])
    refused(ec2, vpc["id"], "InvalidRouteTableId.NotFound", ec2.create_vpc_endpoint, VpcId=vpc["id"],
            ServiceName=S3, VpcEndpointType="Gateway", RouteTableIds=["rtb-0123456789abcdef0"])
    refused(ec2, vpc["id"], "InvalidRouteTableId.NotFound", ec2.modify_vpc_endpoint, VpcEndpointId=s3_id,
            RemoveRouteTableIds=[rtb2])
    refused(ec2, vpc["id"], "InvalidParameter", ec2.create_vpc_endpoint, VpcId=vpc["id"], ServiceName=S3,
            VpcEndpointType="Gateway", SubnetIds=[vpc["subnets"][0]])
    refused(ec2, vpc["id"], "InvalidParameter", ec2.create_vpc_endpoint, VpcId=vpc["id"], ServiceName=DYNAMODB,
            VpcEndpointType="Interface", SubnetIds=[vpc["subnets"][0]])
    refused(ec2, vpc["id"], "InvalidParameter", ec2.create_vpc_endpoint, VpcId=vpc["id"],
            ServiceName=f"com.amazonaws.{REGION}.ec2", VpcEndpointType="Gateway")
    refused(ec2, vpc["id"], "InvalidServiceName", ec2.create_vpc_endpoint, VpcId=vpc["id"],
            ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway")
    refused(ec2, vpc["id"], "InvalidParameter", ec2.modify_vpc_endpoint, VpcEndpointId=s3_id,
            AddSubnetIds=[vpc["subnets"][0]])
    refused(ec2, vpc["id"], "DryRunOperation", ec2.create_vpc_endpoint, VpcId=vpc["id"], ServiceName=S3,
            VpcEndpointType="Gateway", RouteTableIds=[rtb2], DryRun=True)
    refused(ec2, vpc["id"], "InvalidParameterValue", ec2.delete_route, RouteTableId=rtb1,
            DestinationPrefixListId=pl[S3])
    refused(ec2, vpc["id"], "InvalidParameterValue", ec2.create_route, RouteTableId=rtb2,
            DestinationPrefixListId=pl[S3], NetworkInterfaceId="eni-0123456789abcdef0")
    refused(ec2, vpc["id"], "InvalidVpcEndpointId.NotFound", other.modify_vpc_endpoint, VpcEndpointId=s3_id,
            AddRouteTableIds=[rtb2])

    # The route follows the endpoint's route tables.
    assert ec2.modify_vpc_endpoint(VpcEndpointId=s3_id, AddRouteTableIds=[rtb2], RemoveRouteTableIds=[rtb1])["Return"]
    assert [r["DestinationPrefixListId"] for r in routes(rtb1)] == [pl[DYNAMODB]]
    assert {r["DestinationPrefixListId"] for r in routes(rtb2)} == {pl[S3], pl[DYNAMODB]}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]})
    ec2.modify_vpc_endpoint(VpcEndpointId=s3_id, PolicyDocument=policy)
    got = ec2.describe_vpc_endpoints(VpcEndpointIds=[s3_id])["VpcEndpoints"][0]
    assert got["PolicyDocument"] == policy and got["RouteTableIds"] == [rtb2]
    ec2.modify_vpc_endpoint(VpcEndpointId=s3_id, ResetPolicy=True)
    assert ec2.describe_vpc_endpoints(VpcEndpointIds=[s3_id])["VpcEndpoints"][0]["PolicyDocument"] == GATEWAY_POLICY

    # Deleting the endpoint takes its routes out of every table at once.
    assert ec2.delete_vpc_endpoints(VpcEndpointIds=[s3_id])["Unsuccessful"] == []
    assert [r["DestinationPrefixListId"] for r in routes(rtb2)] == [pl[DYNAMODB]]
    wait_for(lambda: endpoint_state(ec2, s3_id) in (None, "deleted"), "the endpoint to be deleted")
    # A table named by an endpoint can still be deleted; the endpoint forgets it.
    ec2.delete_route_table(RouteTableId=rtb1)
    assert ec2.describe_vpc_endpoints(VpcEndpointIds=[ddb["VpcEndpointId"]])["VpcEndpoints"][0]["RouteTableIds"] \
        == [rtb2]


def test_the_aws_cli_drives_route_tables_and_gateway_endpoints(aws, vpc):
    cli = aws(CONSUMER)
    rtb = cli("ec2", "create-route-table", "--vpc-id", vpc["id"])["RouteTable"]["RouteTableId"]
    assoc = cli("ec2", "associate-route-table", "--route-table-id", rtb, "--subnet-id", vpc["subnets"][0])
    assert assoc["AssociationState"]["State"] == "associated"
    ep = cli("ec2", "create-vpc-endpoint", "--vpc-id", vpc["id"], "--service-name", S3,
             "--route-table-ids", rtb)["VpcEndpoint"]
    assert ep["VpcEndpointType"] == "Gateway" and ep["State"] == "available"
    shown = cli("ec2", "describe-route-tables", "--route-table-ids", rtb,
                "--query", "RouteTables[0].Routes[?DestinationPrefixListId!=null]")
    assert shown == [{"DestinationPrefixListId": "pl-61a54008", "GatewayId": ep["VpcEndpointId"],
                      "Origin": "CreateRoute", "State": "active"}]
    pl = cli("ec2", "describe-prefix-lists", "--filters", f"Name=prefix-list-name,Values={S3}")["PrefixLists"]
    assert [p["PrefixListId"] for p in pl] == ["pl-61a54008"]
    err = cli.fails("ec2", "delete-route-table", "--route-table-id", rtb)
    assert "DependencyViolation" in err
    err = cli.fails("ec2", "describe-route-tables", "--route-table-ids", "rtb-0123456789abcdef0")
    assert "InvalidRouteTableID.NotFound" in err
    cli("ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"])
    cli("ec2", "disassociate-route-table", "--association-id", assoc["AssociationId"])
    cli("ec2", "delete-route-table", "--route-table-id", rtb)


def main_tables(node, account):
    ec2 = node.client("ec2", account, REGION)
    out = ec2.describe_route_tables(Filters=[{"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    return {t["VpcId"]: t for t in out}


@pytest.mark.parametrize("release", ["d8452a2", "d257bb1"])
def test_vpcs_of_an_earlier_release_keep_one_main_table_through_restarts(release, tmp_path):
    """A state directory written before route tables existed: each VPC shows
    a main table with its local route, under the same ids after every
    restart; a change to one is kept through a SIGKILL, and new tables,
    routes and gateway endpoints through a SIGTERM."""
    import shutil

    import state_world as sw
    from test_upgrade import STATE

    state = tmp_path / "state"
    shutil.copytree(STATE / release / "snapshot-and-journal", state)
    node = sw.Node(state)
    try:
        first = main_tables(node, CONSUMER)
        vpcs = {v["VpcId"]: v for v in node.client("ec2", CONSUMER, REGION).describe_vpcs()["Vpcs"]}
        assert vpcs and set(first) == set(vpcs)
        for vpc_id, t in first.items():
            assert t["Routes"] == [{"DestinationCidrBlock": vpcs[vpc_id]["CidrBlock"], "GatewayId": "local",
                                    "Origin": "CreateRouteTable", "State": "active"}]
        node.term()
        node = sw.Node(state)
        assert main_tables(node, CONSUMER) == first

        ec2 = node.client("ec2", CONSUMER, REGION)
        vpc_id, main = sorted(first.items())[0]
        ec2.create_tags(Resources=[main["RouteTableId"]], Tags=[{"Key": "Name", "Value": "kept"}])
        node.kill()
        node = sw.Node(state)
        again = main_tables(node, CONSUMER)
        assert again[vpc_id]["Tags"] == [{"Key": "Name", "Value": "kept"}]
        assert {v: t["RouteTableId"] for v, t in again.items()} == {v: t["RouteTableId"] for v, t in first.items()}

        ec2 = node.client("ec2", CONSUMER, REGION)
        rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        gw = ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName=S3, RouteTableIds=[rtb])["VpcEndpoint"]
        before = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"]
        node.term()
        node = sw.Node(state)
        ec2 = node.client("ec2", CONSUMER, REGION)
        assert ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"] == before
        assert ec2.describe_vpc_endpoints(VpcEndpointIds=[gw["VpcEndpointId"]])["VpcEndpoints"][0]["RouteTableIds"] \
            == [rtb]
    finally:
        if node.running():
            node.term()
