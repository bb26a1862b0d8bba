"""Each Route 53 action's refusals through boto3: the error codes the
botocore model lists for the operation (data/route53/2013-04-01), with the
model's HTTP statuses, and a state that every refusal leaves as it was.
The successes of these actions are in test_route53.py; here are the
listings' pagination and the errors it leaves out."""

import gzip
import json
import os

import botocore
import pytest
from botocore.exceptions import ClientError

from conftest import CONSUMER, PROVIDER, REGION, start_emulator, stop_emulator
from test_route53 import change, code_of, message_of, r53, ref, route53_state, vpc

# A well-formed id no zone has.
MISSING = "Z0000000000000NOSUCHZONE"


def service_model():
    folder = os.path.join(os.path.dirname(botocore.__file__), "data", "route53", "2013-04-01")
    for name, opener in (("service-2.json", open), ("service-2.json.gz", gzip.open)):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            with opener(path, "rt") as f:
                return json.load(f)
    raise AssertionError(f"botocore has no Route 53 model in {folder}")


MODEL = service_model()


def model_errors(operation):
    """Code -> HTTP status of the errors the model lists for `operation`."""
    shapes = MODEL["shapes"]
    return {
        e["shape"]: shapes[e["shape"]].get("error", {}).get("httpStatusCode", 400)
        for e in MODEL["operations"][operation]["errors"]
    }


@pytest.fixture
def refused(emulator):
    """Calls `call`, which must fail with `code`, an error the model lists
    for `operation`, at the model's status, changing nothing."""

    def check(operation, call, code):
        listed = model_errors(operation)
        assert code in listed, f"{operation} lists no {code} ({sorted(listed)})"
        before = route53_state(emulator)
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == code, f"{operation}: {code_of(e)}: {message_of(e)}"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == listed[code], operation
        assert e.value.response["ResponseMetadata"]["RequestId"]
        assert message_of(e)
        assert route53_state(emulator) == before, f"a refused {operation} changed something"
        return message_of(e)

    return check


def private_zone(client, name, account=PROVIDER, cidr="10.95.0.0/16"):
    v = vpc(client, account, cidr)
    made = r53(client, account).create_hosted_zone(Name=name, CallerReference=ref(),
                                                   VPC={"VPCRegion": REGION, "VPCId": v})
    return made["HostedZone"]["Id"].split("/")[-1], v


def test_zone_creation_refusals(client, refused):
    r = r53(client)
    create = "CreateHostedZone"
    for bad in ("two..dots.example", "*.wild.example", "x" * 64 + ".example"):
        assert "is not a valid domain name" in refused(
            create, lambda: r.create_hosted_zone(Name=bad, CallerReference=ref()), "InvalidDomainName")
    taken = ref()
    zid = r.create_hosted_zone(Name="once.example", CallerReference=taken)["HostedZone"]["Id"]
    assert taken in refused(create, lambda: r.create_hosted_zone(Name="twice.example", CallerReference=taken),
                            "HostedZoneAlreadyExists")
    refused(create, lambda: r.create_hosted_zone(Name="long.example", CallerReference="r" * 129), "InvalidInput")
    refused(create, lambda: r.create_hosted_zone(Name="long.example", CallerReference=ref(),
                                                 HostedZoneConfig={"Comment": "c" * 257}), "InvalidInput")
    refused(create, lambda: r.create_hosted_zone(Name="nothere.example", CallerReference=ref(),
                                                 VPC={"VPCRegion": REGION, "VPCId": "vpc-0123456789abcdef0"}),
            "InvalidVPCId")
    # A VPC of another account is not the caller's to make a zone for.
    theirs = vpc(client, CONSUMER, "10.96.0.0/16")
    refused(create, lambda: r.create_hosted_zone(Name="theirs.example", CallerReference=ref(),
                                                 VPC={"VPCRegion": REGION, "VPCId": theirs}), "InvalidVPCId")
    refused(create, lambda: r.create_hosted_zone(Name="badregion.example", CallerReference=ref(),
                                                 VPC={"VPCRegion": "not a region", "VPCId": theirs}), "InvalidInput")
    refused(create, lambda: r.create_hosted_zone(Name="reused.example", CallerReference=ref(),
                                                 DelegationSetId="NNOSUCHSET"), "NoSuchDelegationSet")
    r.delete_hosted_zone(Id=zid)


def test_an_account_holds_at_most_500_zones(emulator, refused):
    """AWS's default quota, in an account of its own (the module's other
    accounts keep their zones)."""
    import boto3
    from botocore.config import Config

    r = boto3.client("route53", endpoint_url=emulator, region_name=REGION, aws_access_key_id="444444444444",
                     aws_secret_access_key="any", config=Config(retries={"max_attempts": 1}))
    made = [r.create_hosted_zone(Name=f"q{i}.quota.example", CallerReference=f"quota-{i}")["HostedZone"]["Id"]
            for i in range(500)]
    try:
        assert r.get_hosted_zone_count()["HostedZoneCount"] == 500
        assert "500" in refused("CreateHostedZone", lambda: r.create_hosted_zone(
            Name="one-too-many.example", CallerReference="quota-500"), "TooManyHostedZones")
    finally:
        for z in made:
            r.delete_hosted_zone(Id=z)
    assert r.get_hosted_zone_count()["HostedZoneCount"] == 0


def test_a_zone_that_is_not_there(client, refused):
    """Every action on one zone answers NoSuchHostedZone (404) for an id no
    zone has, and for another account's zone; an id longer than Route 53's
    is InvalidInput."""
    r = r53(client)
    own, v = private_zone(client, "nosuch.example")
    other = r53(client, CONSUMER)
    at = {"VPCRegion": REGION, "VPCId": v}
    batch = {"Changes": [change("CREATE", "a.nosuch.example", "A", ["192.0.2.1"])]}
    for who, zid in ((r, MISSING), (other, own)):
        calls = {
            "GetHostedZone": lambda: who.get_hosted_zone(Id=zid),
            "UpdateHostedZoneComment": lambda: who.update_hosted_zone_comment(Id=zid, Comment="x"),
            "DeleteHostedZone": lambda: who.delete_hosted_zone(Id=zid),
            "ChangeResourceRecordSets": lambda: who.change_resource_record_sets(HostedZoneId=zid, ChangeBatch=batch),
            "ListResourceRecordSets": lambda: who.list_resource_record_sets(HostedZoneId=zid),
            "CreateVPCAssociationAuthorization":
                lambda: who.create_vpc_association_authorization(HostedZoneId=zid, VPC=at),
            "DeleteVPCAssociationAuthorization":
                lambda: who.delete_vpc_association_authorization(HostedZoneId=zid, VPC=at),
            "ListVPCAssociationAuthorizations": lambda: who.list_vpc_association_authorizations(HostedZoneId=zid),
            "ChangeTagsForResource": lambda: who.change_tags_for_resource(
                ResourceType="hostedzone", ResourceId=zid, AddTags=[{"Key": "k", "Value": "v"}]),
            "ListTagsForResource": lambda: who.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zid),
        }
        if who is r:
            # The caller's own VPC, but no such zone.
            calls["AssociateVPCWithHostedZone"] = lambda: r.associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC=at)
            calls["DisassociateVPCFromHostedZone"] = \
                lambda: r.disassociate_vpc_from_hosted_zone(HostedZoneId=zid, VPC=at)
        for operation, call in calls.items():
            assert zid in refused(operation, call, "NoSuchHostedZone"), operation
    too_long = "Z" + "A" * 32
    for operation, call in (("GetHostedZone", lambda: r.get_hosted_zone(Id=too_long)),
                            ("DeleteHostedZone", lambda: r.delete_hosted_zone(Id=too_long)),
                            ("ListResourceRecordSets", lambda: r.list_resource_record_sets(HostedZoneId=too_long))):
        assert "Member must have length less than or equal to 32" in refused(operation, call, "InvalidInput")
    refused("UpdateHostedZoneComment", lambda: r.update_hosted_zone_comment(Id=own, Comment="c" * 257),
            "InvalidInput")
    assert r.get_hosted_zone(Id=own)["HostedZone"]["Config"].get("Comment") is None
    r.delete_hosted_zone(Id=own)


def test_listings_page_and_refuse_bad_parameters(client, refused):
    r = r53(client)
    refused("ListHostedZones", lambda: r.list_hosted_zones(HostedZoneType="PublicHostedZone"), "InvalidInput")
    refused("ListHostedZones", lambda: r.list_hosted_zones(MaxItems="0"), "InvalidInput")
    refused("ListHostedZones", lambda: r.list_hosted_zones(DelegationSetId="NNOSUCHSET"), "NoSuchDelegationSet")
    refused("ListHostedZonesByName", lambda: r.list_hosted_zones_by_name(HostedZoneId=MISSING), "InvalidInput")
    refused("ListHostedZonesByName", lambda: r.list_hosted_zones_by_name(DNSName="two..dots.example"),
            "InvalidDomainName")

    # Three zones in one VPC (one of another account), listed one per page.
    v = vpc(client, PROVIDER, "10.97.0.0/16")
    at = {"VPCRegion": REGION, "VPCId": v}
    zones = [r.create_hosted_zone(Name=f"p{i}.bypage.example", CallerReference=ref(), VPC=at)["HostedZone"]["Id"]
             for i in range(2)]
    elsewhere, _ = private_zone(client, "p2.bypage.example", CONSUMER, "10.98.0.0/16")
    owner = r53(client, CONSUMER)
    owner.create_vpc_association_authorization(HostedZoneId=elsewhere, VPC=at)
    r.associate_vpc_with_hosted_zone(HostedZoneId=elsewhere, VPC=at)
    seen, token = [], None
    while True:
        page = r.list_hosted_zones_by_vpc(VPCId=v, VPCRegion=REGION, MaxItems="1",
                                          **({"NextToken": token} if token else {}))
        assert len(page["HostedZoneSummaries"]) <= 1 and page["MaxItems"] == "1"
        seen += page["HostedZoneSummaries"]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(s["HostedZoneId"] for s in seen) == sorted([z.split("/")[-1] for z in zones] + [elsewhere])
    assert {s["Owner"]["OwningAccount"] for s in seen} == {PROVIDER, CONSUMER}
    refused("ListHostedZonesByVPC", lambda: r.list_hosted_zones_by_vpc(VPCId=v, VPCRegion=REGION,
                                                                       NextToken="not-a-token"),
            "InvalidPaginationToken")
    refused("ListHostedZonesByVPC", lambda: r.list_hosted_zones_by_vpc(VPCId=v, VPCRegion="not a region"),
            "InvalidInput")

    # Authorizations, one per page.
    others = [vpc(client, CONSUMER, f"10.{99 + i}.0.0/16") for i in range(3)]
    for o in others:
        r.create_vpc_association_authorization(HostedZoneId=zones[0], VPC={"VPCRegion": REGION, "VPCId": o})
    listed, token = [], None
    while True:
        page = r.list_vpc_association_authorizations(HostedZoneId=zones[0], MaxResults="1",
                                                     **({"NextToken": token} if token else {}))
        assert len(page["VPCs"]) == 1
        listed += [x["VPCId"] for x in page["VPCs"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(listed) == sorted(others)
    refused("ListVPCAssociationAuthorizations",
            lambda: r.list_vpc_association_authorizations(HostedZoneId=zones[0], NextToken="x"),
            "InvalidPaginationToken")

    # Records: a type without a name, an unknown type, an identifier without a type.
    zid = zones[0]
    refused("ListResourceRecordSets", lambda: r.list_resource_record_sets(HostedZoneId=zid, StartRecordType="A"),
            "InvalidInput")
    refused("ListResourceRecordSets", lambda: r.list_resource_record_sets(
        HostedZoneId=zid, StartRecordName="p0.bypage.example", StartRecordType="BOGUS"), "InvalidInput")
    refused("ListResourceRecordSets", lambda: r.list_resource_record_sets(
        HostedZoneId=zid, StartRecordName="p0.bypage.example", StartRecordIdentifier="one"), "InvalidInput")
    refused("GetChange", lambda: r.get_change(Id="CNOSUCHCHANGE"), "NoSuchChange")

    r.disassociate_vpc_from_hosted_zone(HostedZoneId=elsewhere, VPC=at)
    owner.delete_hosted_zone(Id=elsewhere)
    for z in zones:
        r.delete_hosted_zone(Id=z)


def test_association_refusals(client, refused):
    r = r53(client)
    zid, mine = private_zone(client, "assoc.example", cidr="10.110.0.0/16")
    second = vpc(client, PROVIDER, "10.111.0.0/16")
    public = r.create_hosted_zone(Name="assoc-public.example", CallerReference=ref())["HostedZone"]["Id"]
    public = public.split("/")[-1]
    at = {"VPCRegion": REGION, "VPCId": second}
    nowhere = {"VPCRegion": REGION, "VPCId": "vpc-0123456789abcdef0"}
    refused("AssociateVPCWithHostedZone",
            lambda: r.associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC={"VPCRegion": "not a region",
                                                                             "VPCId": second}), "InvalidInput")
    refused("AssociateVPCWithHostedZone", lambda: r.associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC=nowhere),
            "InvalidVPCId")
    refused("AssociateVPCWithHostedZone", lambda: r.associate_vpc_with_hosted_zone(HostedZoneId=public, VPC=at),
            "PublicZoneVPCAssociation")
    refused("DisassociateVPCFromHostedZone",
            lambda: r.disassociate_vpc_from_hosted_zone(HostedZoneId=zid, VPC=nowhere), "InvalidVPCId")
    refused("DisassociateVPCFromHostedZone", lambda: r.disassociate_vpc_from_hosted_zone(HostedZoneId=zid, VPC=at),
            "VPCAssociationNotFound")
    refused("DisassociateVPCFromHostedZone", lambda: r.disassociate_vpc_from_hosted_zone(
        HostedZoneId=zid, VPC={"VPCRegion": REGION, "VPCId": mine}), "LastVPCAssociation")
    refused("CreateVPCAssociationAuthorization",
            lambda: r.create_vpc_association_authorization(HostedZoneId=zid, VPC=nowhere), "InvalidVPCId")
    refused("CreateVPCAssociationAuthorization",
            lambda: r.create_vpc_association_authorization(HostedZoneId=public, VPC=at), "InvalidInput")
    refused("DeleteVPCAssociationAuthorization",
            lambda: r.delete_vpc_association_authorization(HostedZoneId=zid, VPC=at),
            "VPCAssociationAuthorizationNotFound")
    # The VPC's owner cannot associate before the zone's owner authorizes,
    # and the authorization's owner cannot associate a VPC it does not own.
    theirs = vpc(client, CONSUMER, "10.112.0.0/16")
    target = {"VPCRegion": REGION, "VPCId": theirs}
    refused("AssociateVPCWithHostedZone",
            lambda: r53(client, CONSUMER).associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC=target),
            "NotAuthorizedException")
    r.create_vpc_association_authorization(HostedZoneId=zid, VPC=target)
    refused("AssociateVPCWithHostedZone", lambda: r.associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC=target),
            "NotAuthorizedException")
    r53(client, CONSUMER).associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC=target)
    refused("AssociateVPCWithHostedZone",
            lambda: r53(client, CONSUMER).associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC=target),
            "ConflictingDomainExists")
    # A zone shared with another account's VPC is not deleted from under it
    # by a stranger, and its owner ends the association.
    r.disassociate_vpc_from_hosted_zone(HostedZoneId=zid, VPC=target)
    r.delete_vpc_association_authorization(HostedZoneId=zid, VPC=target)
    r.delete_hosted_zone(Id=zid)
    r.delete_hosted_zone(Id=public)


def test_a_zone_authorizes_at_most_100_vpcs():
    """TooManyVPCAssociationAuthorizations needs 101 VPCs of another
    account: an emulator of its own keeps them from the module's."""
    import boto3
    from botocore.config import Config

    emu, url = start_emulator()
    try:
        def c(service, account):
            return boto3.client(service, endpoint_url=url, region_name=REGION, aws_access_key_id=account,
                                aws_secret_access_key="any", config=Config(retries={"max_attempts": 1}))

        owner, ec2 = c("route53", PROVIDER), c("ec2", CONSUMER)
        home = c("ec2", PROVIDER).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        zid = owner.create_hosted_zone(Name="many.example", CallerReference=ref(),
                                       VPC={"VPCRegion": REGION, "VPCId": home})["HostedZone"]["Id"]
        vpcs = [ec2.create_vpc(CidrBlock=f"10.{i + 1}.0.0/16")["Vpc"]["VpcId"] for i in range(101)]
        for v in vpcs[:100]:
            owner.create_vpc_association_authorization(HostedZoneId=zid, VPC={"VPCRegion": REGION, "VPCId": v})
        # Authorizing a VPC again is no new authorization.
        owner.create_vpc_association_authorization(HostedZoneId=zid, VPC={"VPCRegion": REGION, "VPCId": vpcs[0]})
        with pytest.raises(ClientError) as e:
            owner.create_vpc_association_authorization(HostedZoneId=zid,
                                                       VPC={"VPCRegion": REGION, "VPCId": vpcs[100]})
        code = code_of(e)
        assert code == "TooManyVPCAssociationAuthorizations" and code in model_errors(
            "CreateVPCAssociationAuthorization")
        pages = owner.get_paginator("list_vpc_association_authorizations").paginate(HostedZoneId=zid)
        listed = [v["VPCId"] for p in pages for v in p["VPCs"]]
        assert sorted(listed) == sorted(vpcs[:100])
    finally:
        stop_emulator(emu)


def test_record_change_refusals(client, refused):
    r = r53(client)
    zid = r.create_hosted_zone(Name="refusals.example", CallerReference=ref())["HostedZone"]["Id"]
    op = "ChangeResourceRecordSets"

    def batch(*changes):
        return lambda: r.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": list(changes)})

    # Health checks are Route 53's own resources: none exists to name.
    assert "hc-0000" in refused(op, batch(change("CREATE", "h.refusals.example", "A", ["192.0.2.1"],
                                                 SetIdentifier="one", Weight=1, HealthCheckId="hc-0000")),
                                "NoSuchHealthCheck")
    refused(op, batch(change("MODIFY", "m.refusals.example", "A", ["192.0.2.1"])), "InvalidInput")
    refused(op, batch(change("CREATE", "t.refusals.example", "BOGUS", ["x"])), "InvalidInput")
    refused(op, batch(change("CREATE", "w.refusals.example", "A", ["192.0.2.1"], SetIdentifier="one",
                             Weight=300)), "InvalidInput")
    refused(op, batch(change("CREATE", "g.refusals.example", "A", ["192.0.2.1"], SetIdentifier="one",
                             Region="us-east-1")), "InvalidInput")
    refused(op, batch(change("CREATE", "a.refusals.example", "A", ["192.0.2.1"]),
                      change("DELETE", "a.refusals.example", "A", ["192.0.2.2"])), "InvalidChangeBatch")
    assert [x["Type"] for x in r.list_resource_record_sets(HostedZoneId=zid)["ResourceRecordSets"]] == ["NS", "SOA"]
    r.delete_hosted_zone(Id=zid)


def test_tag_refusals(client, refused):
    r = r53(client)
    zid = r.create_hosted_zone(Name="tagged.example", CallerReference=ref())["HostedZone"]["Id"].split("/")[-1]
    op = "ChangeTagsForResource"

    def tag(tags, kind="hostedzone"):
        return lambda: r.change_tags_for_resource(ResourceType=kind, ResourceId=zid, AddTags=tags)

    refused(op, tag([{"Key": f"k{i}", "Value": "v"} for i in range(11)]), "InvalidInput")
    refused(op, tag([{"Key": "k" * 129, "Value": "v"}]), "InvalidInput")
    refused(op, tag([{"Key": "k", "Value": "v" * 257}]), "InvalidInput")
    refused(op, tag([{"Key": "k", "Value": "v"}], kind="healthcheck"), "NoSuchHealthCheck")
    refused(op, tag([{"Key": "k", "Value": "v"}], kind="bogus"), "InvalidInput")
    # Fifty tags at most: the batch that would pass them is refused whole.
    for start in range(0, 50, 10):
        r.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid,
                                   AddTags=[{"Key": f"t{i:02}", "Value": "v"} for i in range(start, start + 10)])
    refused(op, tag([{"Key": "t50", "Value": "v"}]), "InvalidInput")
    refused("ListTagsForResource", lambda: r.list_tags_for_resource(ResourceType="bogus", ResourceId=zid),
            "InvalidInput")
    tags = r.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zid)["ResourceTagSet"]["Tags"]
    assert len(tags) == 50
    r.delete_hosted_zone(Id=zid)


def test_dnssec_is_reported_off(client, refused):
    """GetDNSSEC, which Terraform reads before it force-destroys a public
    zone: DNSSEC is not emulated, so no zone is signing or has keys."""
    r = r53(client)
    public = r.create_hosted_zone(Name="signed.example", CallerReference=ref())["HostedZone"]["Id"].split("/")[-1]
    private, _ = private_zone(client, "signed.internal", cidr="10.113.0.0/16")
    for zid in (public, private):
        got = r.get_dnssec(HostedZoneId=zid)
        assert got["Status"] == {"ServeSignature": "NOT_SIGNING"} and got["KeySigningKeys"] == []
    refused("GetDNSSEC", lambda: r.get_dnssec(HostedZoneId=MISSING), "NoSuchHostedZone")
    refused("GetDNSSEC", lambda: r53(client, CONSUMER).get_dnssec(HostedZoneId=public), "NoSuchHostedZone")
    r.delete_hosted_zone(Id=public)
    r.delete_hosted_zone(Id=private)
