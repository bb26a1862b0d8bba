"""Route 53 hosted zones through the real AWS CLI and boto3: public and
private zones, record changes (all or nothing, refusals in Route 53's
words), pagination, changes, VPC associations within and across accounts
with their authorizations, alias targets and tags. Every refusal is checked
to change nothing in the emulator's state."""

import json
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import CONSUMER, PROVIDER, REGION, STRANGER, wait_for
from topology import build_consumer, build_provider, create_endpoint


def ref():
    return uuid.uuid4().hex


def r53(client, account=PROVIDER):
    return client("route53", account)


def route53_state(emulator):
    """The emulator's Route 53 records (zones, record sets, changes)."""
    with urllib.request.urlopen(f"{emulator}/_emulator/state", timeout=5) as r:
        world = json.load(r)
    return {k: world.get(k) for k in ("hosted_zones", "rrsets", "route53_changes")}


def code_of(err):
    return err.value.response["Error"]["Code"]


def message_of(err):
    return err.value.response["Error"]["Message"]


def change(action, name, rtype, values=None, ttl=300, **extra):
    rrset = {"Name": name, "Type": rtype, **extra}
    if values is not None:
        rrset["TTL"] = ttl
        rrset["ResourceRecords"] = [{"Value": v} for v in values]
    return {"Action": action, "ResourceRecordSet": rrset}


def records(r, zone):
    pages = r.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone)
    return [rr for p in pages for rr in p["ResourceRecordSets"]]


def vpc(client, account, cidr="10.90.0.0/16"):
    return client("ec2", account).create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]


def test_public_zone_lifecycle_with_the_cli(aws, emulator):
    cli = aws(PROVIDER)
    made = cli("route53", "create-hosted-zone", "--name", "Example-One.com", "--caller-reference", "cli-1",
               "--hosted-zone-config", "Comment=first zone")
    zone = made["HostedZone"]
    zid = zone["Id"].split("/")[-1]
    assert zone["Id"] == f"/hostedzone/{zid}" and zid.startswith("Z") and 13 <= len(zid) <= 32
    assert zone["Name"] == "example-one.com."
    assert zone["Config"] == {"Comment": "first zone", "PrivateZone": False}
    assert zone["ResourceRecordSetCount"] == 2
    assert made["Location"].endswith(f"/2013-04-01/hostedzone/{zid}")
    assert made["ChangeInfo"]["Status"] == "PENDING" and made["ChangeInfo"]["Id"].startswith("/change/C")
    servers = made["DelegationSet"]["NameServers"]
    assert len(servers) == 4 and [s.rsplit(".", 1)[-1] for s in servers] == ["com", "net", "org", "uk"]

    # The change is in sync once the DNS followed it (the waiter ends).
    change_id = made["ChangeInfo"]["Id"]
    assert wait_for(lambda: cli("route53", "get-change", "--id", change_id)["ChangeInfo"]["Status"] == "INSYNC",
                    "the change in sync")
    cli("route53", "wait", "resource-record-sets-changed", "--id", change_id)

    got = cli("route53", "get-hosted-zone", "--id", zid)
    assert got["HostedZone"]["Id"] == zone["Id"] and got["DelegationSet"]["NameServers"] == servers
    assert "VPCs" not in got

    # NS and SOA as Route 53 makes them.
    rr = cli("route53", "list-resource-record-sets", "--hosted-zone-id", zid)["ResourceRecordSets"]
    by_type = {r["Type"]: r for r in rr}
    assert sorted(by_type) == ["NS", "SOA"]
    assert by_type["NS"]["TTL"] == 172800
    assert [v["Value"] for v in by_type["NS"]["ResourceRecords"]] == [s + "." for s in servers]
    soa = by_type["SOA"]["ResourceRecords"][0]["Value"].split()
    assert soa[0] == servers[0] + "." and soa[1] == "awsdns-hostmaster.amazon.com." and by_type["SOA"]["TTL"] == 900

    listed = cli("route53", "list-hosted-zones")["HostedZones"]
    assert zone["Id"] in [z["Id"] for z in listed]
    by_name = cli("route53", "list-hosted-zones-by-name", "--dns-name", "example-one.com")["HostedZones"]
    assert by_name[0]["Id"] == zone["Id"]
    count = cli("route53", "get-hosted-zone-count")["HostedZoneCount"]
    assert count == len(listed)

    # A caller reference is used once.
    err = cli.fails("route53", "create-hosted-zone", "--name", "other.com", "--caller-reference", "cli-1")
    assert "HostedZoneAlreadyExists" in err

    # A zone with records of its own is not deleted.
    cli("route53", "change-resource-record-sets", "--hosted-zone-id", zid, "--change-batch", json.dumps(
        {"Changes": [change("CREATE", "www.example-one.com", "A", ["192.0.2.10"])]}))
    err = cli.fails("route53", "delete-hosted-zone", "--id", zid)
    assert "HostedZoneNotEmpty" in err
    cli("route53", "change-resource-record-sets", "--hosted-zone-id", zid, "--change-batch", json.dumps(
        {"Changes": [change("DELETE", "www.example-one.com", "A", ["192.0.2.10"])]}))
    gone = cli("route53", "delete-hosted-zone", "--id", zid)
    assert gone["ChangeInfo"]["Status"] == "PENDING"
    err = cli.fails("route53", "get-hosted-zone", "--id", zid)
    assert "NoSuchHostedZone" in err and zid in err
    assert cli("route53", "get-hosted-zone-count")["HostedZoneCount"] == count - 1
    assert "NoSuchChange" in cli.fails("route53", "get-change", "--id", "CNOSUCHCHANGE")


def test_record_sets_of_every_type_and_atomic_batches(client, emulator):
    r = r53(client)
    zid = r.create_hosted_zone(Name="records.example", CallerReference=ref())["HostedZone"]["Id"]
    batch = [
        change("CREATE", "a.records.example", "A", ["192.0.2.1", "192.0.2.2"], ttl=60),
        change("CREATE", "a.records.example", "AAAA", ["2001:db8::1"]),
        change("CREATE", "alias-me.records.example", "CNAME", ["a.records.example"]),
        change("CREATE", "records.example", "TXT", ['"v=spf1 -all"', '"two" "strings"']),
        change("CREATE", "records.example", "MX", ["10 mail.records.example"]),
        change("CREATE", "_api._tcp.records.example", "SRV", ["1 10 443 a.records.example"]),
        change("CREATE", "sub.records.example", "NS", ["ns1.elsewhere.example"]),
        change("CREATE", "*.wild.records.example", "A", ["192.0.2.9"]),
        change("UPSERT", "records.example", "SOA",
               ["ns-1.awsdns-00.com. hostmaster.records.example. 2 7200 900 1209600 60"], ttl=900),
    ]
    info = r.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Comment": "all types", "Changes": batch})
    assert info["ChangeInfo"]["Status"] == "PENDING" and info["ChangeInfo"]["Comment"] == "all types"
    got = {(x["Name"], x["Type"]): x for x in records(r, zid)}
    assert got[("a.records.example.", "A")]["TTL"] == 60
    assert [v["Value"] for v in got[("records.example.", "TXT")]["ResourceRecords"]] == ['"v=spf1 -all"', '"two" "strings"']
    assert ("\\052.wild.records.example.", "A") in got, "a wildcard is listed as Route 53 writes it"
    assert got[("records.example.", "SOA")]["ResourceRecords"][0]["Value"].split()[2] == "2"
    assert r.get_hosted_zone(Id=zid)["HostedZone"]["ResourceRecordSetCount"] == 10

    # Route 53's order: names by labels from the right, then type.
    names = [(x["Name"], x["Type"]) for x in records(r, zid)]
    assert names[:4] == [("records.example.", "MX"), ("records.example.", "NS"), ("records.example.", "SOA"),
                         ("records.example.", "TXT")]

    # UPSERT replaces, DELETE needs the current values, DELETE + CREATE in one batch modifies.
    r.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        change("UPSERT", "a.records.example", "A", ["192.0.2.3"], ttl=60)]})
    r.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        change("DELETE", "a.records.example", "A", ["192.0.2.3"], ttl=60),
        change("CREATE", "a.records.example", "A", ["192.0.2.4"], ttl=120)]})
    a = [x for x in records(r, zid) if x["Name"] == "a.records.example." and x["Type"] == "A"][0]
    assert a["TTL"] == 120 and a["ResourceRecords"] == [{"Value": "192.0.2.4"}]

    refused = [
        ([change("CREATE", "a.records.example", "A", ["192.0.2.4"], ttl=120)],
         "Tried to create resource record set [name='a.records.example.', type='A'] but it already exists"),
        ([change("DELETE", "nothere.records.example", "A", ["192.0.2.4"])],
         "Tried to delete resource record set [name='nothere.records.example.', type='A'] but it was not found"),
        ([change("DELETE", "a.records.example", "A", ["192.0.2.5"], ttl=120)],
         "but the values provided do not match the current values"),
        ([change("CREATE", "x.elsewhere.example", "A", ["192.0.2.4"])],
         "RRSet with DNS name x.elsewhere.example. is not permitted in zone records.example."),
        ([change("CREATE", "records.example", "CNAME", ["a.records.example"])],
         "RRSet of type CNAME with DNS name records.example. is not permitted at apex in zone records.example."),
        ([change("CREATE", "a.records.example", "CNAME", ["b.records.example"])],
         "is not permitted as it conflicts with other records with the same DNS name"),
        ([change("CREATE", "records.example", "SOA", ["a. b. 1 2 3 4 5"])], "A HostedZone must contain exactly one SOA record."),
        ([change("DELETE", got[("records.example.", "NS")]["Name"], "NS",
                 [v["Value"] for v in got[("records.example.", "NS")]["ResourceRecords"]], ttl=172800)],
         "A HostedZone must contain at least one NS record for the zone itself."),
        ([change("CREATE", "bad.records.example", "A", ["300.1.1.1"])], "ARRDATAIllegalIPv4Address"),
        ([change("CREATE", "bad.records.example", "TXT", ["unquoted"])], "Value should be enclosed in quotation marks"),
        ([change("CREATE", "bad.records.example", "MX", ["mail.records.example"])], "MXRRDATAIncorrectFormat"),
        # One good change beside a bad one: neither is applied.
        ([change("CREATE", "good.records.example", "A", ["192.0.2.7"]),
          change("CREATE", "a.records.example", "AAAA", ["2001:db8::1"])], "but it already exists"),
    ]
    for changes, words in refused:
        before = route53_state(emulator)
        with pytest.raises(ClientError) as e:
            r.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": changes})
        assert code_of(e) == "InvalidChangeBatch", changes
        assert words in message_of(e), (words, message_of(e))
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert route53_state(emulator) == before, f"a refused batch changed something: {changes}"
    assert "good.records.example." not in [x["Name"] for x in records(r, zid)]

    # Neither or both of alias and values: InvalidInput, with the change named.
    for rrset, found in (({"Name": "n.records.example", "Type": "A"}, "found none"),
                         ({"Name": "n.records.example", "Type": "A", "TTL": 60,
                           "ResourceRecords": [{"Value": "192.0.2.1"}],
                           "AliasTarget": {"HostedZoneId": zid.split("/")[-1], "DNSName": "a.records.example",
                                           "EvaluateTargetHealth": False}}, "found more than one")):
        with pytest.raises(ClientError) as e:
            r.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
                {"Action": "CREATE", "ResourceRecordSet": rrset}]})
        assert code_of(e) == "InvalidInput" and found in message_of(e)
        assert "Action=CREATE, Name=n.records.example., Type=A" in message_of(e)

    with pytest.raises(ClientError) as e:
        r.change_resource_record_sets(HostedZoneId="ZNOSUCHZONE", ChangeBatch={"Changes": batch[:1]})
    assert code_of(e) == "NoSuchHostedZone" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    # Another account sees no such zone.
    other = r53(client, CONSUMER)
    for call in (lambda: other.get_hosted_zone(Id=zid), lambda: other.list_resource_record_sets(HostedZoneId=zid),
                 lambda: other.delete_hosted_zone(Id=zid)):
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == "NoSuchHostedZone"

    # Weighted sets: a set identifier goes with a weight.
    r.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        change("CREATE", "w.records.example", "A", ["192.0.2.21"], SetIdentifier="one", Weight=10),
        change("CREATE", "w.records.example", "A", ["192.0.2.22"], SetIdentifier="two", Weight=20)]})
    weighted = [x for x in records(r, zid) if x["Name"] == "w.records.example."]
    assert [(x["SetIdentifier"], x["Weight"]) for x in weighted] == [("one", 10), ("two", 20)]
    with pytest.raises(ClientError) as e:
        r.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
            change("CREATE", "w.records.example", "A", ["192.0.2.23"])]})
    assert code_of(e) == "InvalidChangeBatch" and "weighted sets exist" in message_of(e)


def test_pagination_of_records_and_zones(client, aws):
    r = r53(client)
    zid = r.create_hosted_zone(Name="pages.example", CallerReference=ref())["HostedZone"]["Id"]
    r.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        change("CREATE", f"h{i:02}.pages.example", "A", [f"192.0.2.{i}"]) for i in range(25)]})
    first = r.list_resource_record_sets(HostedZoneId=zid, MaxItems="10")
    assert first["IsTruncated"] and first["MaxItems"] == "10" and len(first["ResourceRecordSets"]) == 10
    second = r.list_resource_record_sets(HostedZoneId=zid, MaxItems="10", StartRecordName=first["NextRecordName"],
                                         StartRecordType=first["NextRecordType"])
    assert second["ResourceRecordSets"][0]["Name"] == first["NextRecordName"]
    assert not {x["Name"] for x in first["ResourceRecordSets"]} & {x["Name"] for x in second["ResourceRecordSets"]}
    every = records(r, zid)
    assert len(every) == 27 and len({(x["Name"], x["Type"]) for x in every}) == 27
    # The CLI pages on its own.
    cli = aws(PROVIDER)
    listed = cli("route53", "list-resource-record-sets", "--hosted-zone-id", zid, "--page-size", "7")
    assert len(listed["ResourceRecordSets"]) == 27
    with pytest.raises(ClientError) as e:
        r.list_resource_record_sets(HostedZoneId=zid, StartRecordType="A")
    assert code_of(e) == "InvalidInput"

    made = [r.create_hosted_zone(Name=f"z{i}.pages.example", CallerReference=ref())["HostedZone"]["Id"]
            for i in range(5)]
    page = r.list_hosted_zones(MaxItems="2")
    assert page["IsTruncated"] and len(page["HostedZones"]) == 2
    every = [z["Id"] for p in r.get_paginator("list_hosted_zones").paginate(PaginationConfig={"PageSize": 2})
             for z in p["HostedZones"]]
    assert set(made) <= set(every) and len(every) == len(set(every))
    by_name = r.list_hosted_zones_by_name(DNSName="z0.pages.example", MaxItems="2")
    assert by_name["HostedZones"][0]["Name"] == "z0.pages.example." and by_name["IsTruncated"]
    nxt = r.list_hosted_zones_by_name(DNSName=by_name["NextDNSName"], HostedZoneId=by_name["NextHostedZoneId"],
                                      MaxItems="2")
    assert nxt["HostedZones"][0]["Name"] == "z2.pages.example."
    with pytest.raises(ClientError) as e:
        r.list_hosted_zones_by_name(HostedZoneId=made[0])
    assert code_of(e) == "InvalidInput"


def test_private_zones_and_their_vpcs(client, emulator):
    r = r53(client)
    v1, v2 = vpc(client, PROVIDER, "10.91.0.0/16"), vpc(client, PROVIDER, "10.92.0.0/16")
    made = r.create_hosted_zone(Name="internal.example", CallerReference=ref(),
                                VPC={"VPCRegion": REGION, "VPCId": v1},
                                HostedZoneConfig={"PrivateZone": True, "Comment": "private"})
    zid = made["HostedZone"]["Id"].split("/")[-1]
    assert made["HostedZone"]["Config"]["PrivateZone"] is True and made["VPC"] == {"VPCRegion": REGION, "VPCId": v1}
    assert "DelegationSet" not in made
    ns = [x for x in records(r, zid) if x["Type"] == "NS"][0]
    assert [v["Value"] for v in ns["ResourceRecords"]][0] == "ns-1536.awsdns-00.co.uk."
    assert r.get_hosted_zone(Id=zid)["VPCs"] == [{"VPCRegion": REGION, "VPCId": v1}]
    assert r.list_hosted_zones(HostedZoneType="PrivateHostedZone")["HostedZones"][0]["Config"]["PrivateZone"]

    info = r.associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC={"VPCRegion": REGION, "VPCId": v2},
                                            Comment="second")
    assert info["ChangeInfo"]["Status"] == "PENDING"
    assert {v["VPCId"] for v in r.get_hosted_zone(Id=zid)["VPCs"]} == {v1, v2}
    summaries = r.list_hosted_zones_by_vpc(VPCId=v2, VPCRegion=REGION)["HostedZoneSummaries"]
    assert summaries == [{"HostedZoneId": zid, "Name": "internal.example.", "Owner": {"OwningAccount": PROVIDER}}]

    def refused(call, code, status=400):
        before = route53_state(emulator)
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == code, message_of(e)
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert route53_state(emulator) == before
        return message_of(e)

    refused(lambda: r.associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC={"VPCRegion": REGION, "VPCId": v2}),
            "ConflictingDomainExists")
    refused(lambda: r.associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC={"VPCRegion": REGION,
                                                                             "VPCId": "vpc-0123456789abcdef0"}),
            "InvalidVPCId")
    # A second private zone of the same name cannot answer in the same VPC.
    refused(lambda: r.create_hosted_zone(Name="internal.example", CallerReference=ref(),
                                         VPC={"VPCRegion": REGION, "VPCId": v1}), "ConflictingDomainExists")
    refused(lambda: r.create_hosted_zone(Name="p.example", CallerReference=ref(),
                                         HostedZoneConfig={"PrivateZone": True}), "InvalidInput")
    public = r.create_hosted_zone(Name="public.example", CallerReference=ref())["HostedZone"]["Id"]
    refused(lambda: r.associate_vpc_with_hosted_zone(HostedZoneId=public, VPC={"VPCRegion": REGION, "VPCId": v1}),
            "PublicZoneVPCAssociation")
    r.disassociate_vpc_from_hosted_zone(HostedZoneId=zid, VPC={"VPCRegion": REGION, "VPCId": v2})
    refused(lambda: r.disassociate_vpc_from_hosted_zone(HostedZoneId=zid, VPC={"VPCRegion": REGION, "VPCId": v2}),
            "VPCAssociationNotFound", 404)
    refused(lambda: r.disassociate_vpc_from_hosted_zone(HostedZoneId=zid, VPC={"VPCRegion": REGION, "VPCId": v1}),
            "LastVPCAssociation")
    assert r.list_hosted_zones_by_vpc(VPCId=v2, VPCRegion=REGION)["HostedZoneSummaries"] == []
    r.delete_hosted_zone(Id=zid)
    r.delete_hosted_zone(Id=public)


def test_association_across_accounts_needs_an_authorization(client, aws):
    owner, other = r53(client, PROVIDER), r53(client, CONSUMER)
    mine = vpc(client, PROVIDER, "10.93.0.0/16")
    theirs = vpc(client, CONSUMER, "10.94.0.0/16")
    zid = owner.create_hosted_zone(Name="shared.example", CallerReference=ref(),
                                   VPC={"VPCRegion": REGION, "VPCId": mine})["HostedZone"]["Id"].split("/")[-1]
    target = {"VPCRegion": REGION, "VPCId": theirs}
    with pytest.raises(ClientError) as e:
        other.associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC=target)
    assert code_of(e) == "NotAuthorizedException" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    with pytest.raises(ClientError) as e:
        owner.associate_vpc_with_hosted_zone(HostedZoneId=zid, VPC=target)
    assert code_of(e) == "NotAuthorizedException"
    # Only the zone's owner authorizes.
    with pytest.raises(ClientError) as e:
        other.create_vpc_association_authorization(HostedZoneId=zid, VPC=target)
    assert code_of(e) == "NoSuchHostedZone"

    cli = aws(PROVIDER)
    made = cli("route53", "create-vpc-association-authorization", "--hosted-zone-id", zid,
               "--vpc", f"VPCRegion={REGION},VPCId={theirs}")
    assert made == {"HostedZoneId": zid, "VPC": target}
    listed = cli("route53", "list-vpc-association-authorizations", "--hosted-zone-id", zid)
    assert listed["HostedZoneId"] == zid and listed["VPCs"] == [target]

    consumer_cli = aws(CONSUMER)
    consumer_cli("route53", "associate-vpc-with-hosted-zone", "--hosted-zone-id", zid,
                 "--vpc", f"VPCRegion={REGION},VPCId={theirs}")
    summaries = other.list_hosted_zones_by_vpc(VPCId=theirs, VPCRegion=REGION)["HostedZoneSummaries"]
    assert summaries == [{"HostedZoneId": zid, "Name": "shared.example.", "Owner": {"OwningAccount": PROVIDER}}]
    # A stranger lists no zones of a VPC it does not own.
    with pytest.raises(ClientError) as e:
        r53(client, STRANGER).list_hosted_zones_by_vpc(VPCId=theirs, VPCRegion=REGION)
    assert code_of(e) == "InvalidVPCId"

    cli("route53", "delete-vpc-association-authorization", "--hosted-zone-id", zid,
        "--vpc", f"VPCRegion={REGION},VPCId={theirs}")
    assert "VPCAssociationAuthorizationNotFound" in cli.fails(
        "route53", "delete-vpc-association-authorization", "--hosted-zone-id", zid,
        "--vpc", f"VPCRegion={REGION},VPCId={theirs}")
    assert cli("route53", "list-vpc-association-authorizations", "--hosted-zone-id", zid)["VPCs"] == []
    # The association stays; either side may end it.
    consumer_cli("route53", "disassociate-vpc-from-hosted-zone", "--hosted-zone-id", zid,
                 "--vpc", f"VPCRegion={REGION},VPCId={theirs}")
    assert other.list_hosted_zones_by_vpc(VPCId=theirs, VPCRegion=REGION)["HostedZoneSummaries"] == []
    owner.delete_hosted_zone(Id=zid)


def test_alias_targets(client):
    provider = build_provider(client, acceptance_required=False, name="aliased", cidr_prefix="10.40",
                              targets=("10.40.128.142",))
    consumer = build_consumer(client, cidr_prefix="10.41")
    ep = create_endpoint(client, provider, consumer)
    regional = ep["DnsEntries"][0]
    r = r53(client, CONSUMER)
    zid = r.create_hosted_zone(Name="alias.example", CallerReference=ref(),
                               VPC={"VPCRegion": REGION, "VPCId": consumer.vpc})["HostedZone"]["Id"]
    alias = {"HostedZoneId": regional["HostedZoneId"], "DNSName": regional["DnsName"], "EvaluateTargetHealth": False}
    r.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "api.alias.example", "Type": "A", "AliasTarget": alias}},
        change("CREATE", "plain.alias.example", "A", ["10.41.0.9"]),
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "again.alias.example", "Type": "A", "AliasTarget": {
            "HostedZoneId": zid.split("/")[-1], "DNSName": "plain.alias.example", "EvaluateTargetHealth": False}}},
    ]})
    got = {x["Name"]: x for x in records(r, zid)}
    assert got["api.alias.example."]["AliasTarget"] == {**alias, "DNSName": regional["DnsName"].lower() + "."}
    assert "TTL" not in got["api.alias.example."]
    lb = client("elbv2", PROVIDER).describe_load_balancers(LoadBalancerArns=[provider.lb_arn])["LoadBalancers"][0]
    pzone = r53(client, PROVIDER).create_hosted_zone(Name="nlb.example", CallerReference=ref())["HostedZone"]["Id"]
    r53(client, PROVIDER).change_resource_record_sets(HostedZoneId=pzone, ChangeBatch={"Changes": [
        {"Action": "CREATE", "ResourceRecordSet": {"Name": "lb.nlb.example", "Type": "A", "AliasTarget": {
            "HostedZoneId": lb["CanonicalHostedZoneId"], "DNSName": lb["DNSName"], "EvaluateTargetHealth": True}}}]})

    for target, words in (
        ({"HostedZoneId": regional["HostedZoneId"], "DNSName": "vpce-0000-nothere.example.com"},
         "but the alias target name does not lie within the target zone"),
        ({"HostedZoneId": zid.split("/")[-1], "DNSName": "missing.alias.example"}, "but that target was not found"),
        ({"HostedZoneId": "ZNOSUCHZONE1", "DNSName": "x.example"}, "does not lie within the target zone"),
    ):
        with pytest.raises(ClientError) as e:
            r.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [
                {"Action": "CREATE", "ResourceRecordSet": {"Name": "bad.alias.example", "Type": "A",
                                                           "AliasTarget": {**target, "EvaluateTargetHealth": False}}}]})
        assert code_of(e) == "InvalidChangeBatch" and words in message_of(e), message_of(e)


def test_tags_of_zones(aws, client):
    cli = aws(PROVIDER)
    zid = cli("route53", "create-hosted-zone", "--name", "tags.example", "--caller-reference", ref())["HostedZone"]["Id"]
    zid = zid.split("/")[-1]
    cli("route53", "change-tags-for-resource", "--resource-type", "hostedzone", "--resource-id", zid,
        "--add-tags", "Key=team,Value=web", "Key=env,Value=dev")
    tags = cli("route53", "list-tags-for-resource", "--resource-type", "hostedzone", "--resource-id", zid)
    assert tags["ResourceTagSet"] == {"ResourceType": "hostedzone", "ResourceId": zid,
                                      "Tags": [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "web"}]}
    cli("route53", "change-tags-for-resource", "--resource-type", "hostedzone", "--resource-id", zid,
        "--remove-tag-keys", "env")
    r = r53(client)
    assert r.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zid)["ResourceTagSet"]["Tags"] == [
        {"Key": "team", "Value": "web"}]
    assert "NoSuchHealthCheck" in cli.fails("route53", "list-tags-for-resource", "--resource-type", "healthcheck",
                                            "--resource-id", "abc")
    with pytest.raises(ClientError) as e:
        r53(client, CONSUMER).change_tags_for_resource(ResourceType="hostedzone", ResourceId=zid,
                                                       AddTags=[{"Key": "a", "Value": "b"}])
    assert code_of(e) == "NoSuchHostedZone"
    cli("route53", "update-hosted-zone-comment", "--id", zid, "--comment", "now commented")
    assert r.get_hosted_zone(Id=zid)["HostedZone"]["Config"]["Comment"] == "now commented"


def test_raw_requests_get_route53_errors(emulator):
    def raw(method, path, body=None):
        req = urllib.request.Request(f"{emulator}{path}", data=body, method=method, headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=111111111111/20260101/us-east-1/route53/aws4_request, "
                             "SignedHeaders=host, Signature=00"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    status, body = raw("GET", "/2013-04-01/nosuchthing")
    assert status == 404 and "<Code>UnknownOperationException</Code>" in body
    status, body = raw("POST", "/2013-04-01/hostedzone", b"<CreateHostedZoneRequest><Name>x.example")
    assert status == 400 and "<Code>InvalidInput</Code>" in body and body.startswith("<?xml")
    status, body = raw("POST", "/2013-04-01/hostedzone", b"<CreateHostedZoneRequest/>")
    assert status == 400 and "<Code>InvalidInput</Code>" in body
    status, body = raw("GET", "/2013-04-01/hostedzone?maxitems=zero")
    assert status == 400 and "<Code>InvalidInput</Code>" in body


def test_private_dns_name_verified_through_a_public_hosted_zone(client, aws):
    """The provider proves it owns a service's private DNS name with the TXT
    record of its public hosted zone, all with the AWS CLI."""
    provider = build_provider(client, acceptance_required=False, name="verified", cidr_prefix="10.42",
                              targets=("10.42.128.142",))
    cli = aws(PROVIDER)
    cli("ec2", "modify-vpc-endpoint-service-configuration", "--service-id", provider.service_id,
        "--private-dns-name", "api.verify.example")
    conf = cli("ec2", "describe-vpc-endpoint-service-configurations", "--service-ids", provider.service_id)
    challenge = conf["ServiceConfigurations"][0]["PrivateDnsNameConfiguration"]
    assert challenge["State"] == "pendingVerification" and challenge["Type"] == "TXT"

    zid = cli("route53", "create-hosted-zone", "--name", "verify.example",
              "--caller-reference", ref())["HostedZone"]["Id"].split("/")[-1]

    def state():
        cli("ec2", "start-vpc-endpoint-service-private-dns-verification", "--service-id", provider.service_id)
        c = cli("ec2", "describe-vpc-endpoint-service-configurations", "--service-ids", provider.service_id)
        return c["ServiceConfigurations"][0]["PrivateDnsNameConfiguration"]["State"]

    # A record of another value, or at another name, proves nothing.
    cli("route53", "change-resource-record-sets", "--hosted-zone-id", zid, "--change-batch", json.dumps({"Changes": [
        change("CREATE", f"{challenge['Name']}.verify.example", "TXT", ['"vpce:not-the-value"']),
        change("CREATE", f"{challenge['Name']}x.verify.example", "TXT", [f'"{challenge["Value"]}"'])]}))
    assert state() == "failed"
    cli("route53", "change-resource-record-sets", "--hosted-zone-id", zid, "--change-batch", json.dumps({"Changes": [
        change("UPSERT", f"{challenge['Name']}.verify.example", "TXT", [f'"{challenge["Value"]}"'])]}))
    assert state() == "verified"
    # A private zone does not prove ownership.
    other = build_provider(client, acceptance_required=False, name="unverified", cidr_prefix="10.43",
                           targets=("10.43.128.142",))
    cli("ec2", "modify-vpc-endpoint-service-configuration", "--service-id", other.service_id,
        "--private-dns-name", "api.private-only.example")
    c2 = cli("ec2", "describe-vpc-endpoint-service-configurations", "--service-ids", other.service_id)
    ch2 = c2["ServiceConfigurations"][0]["PrivateDnsNameConfiguration"]
    pz = cli("route53", "create-hosted-zone", "--name", "private-only.example", "--caller-reference", ref(),
             "--vpc", f"VPCRegion={REGION},VPCId={other.vpc}")["HostedZone"]["Id"].split("/")[-1]
    cli("route53", "change-resource-record-sets", "--hosted-zone-id", pz, "--change-batch", json.dumps({"Changes": [
        change("CREATE", f"{ch2['Name']}.private-only.example", "TXT", [f'"{ch2["Value"]}"'])]}))
    cli("ec2", "start-vpc-endpoint-service-private-dns-verification", "--service-id", other.service_id)
    c2 = cli("ec2", "describe-vpc-endpoint-service-configurations", "--service-ids", other.service_id)
    assert c2["ServiceConfigurations"][0]["PrivateDnsNameConfiguration"]["State"] == "failed"
