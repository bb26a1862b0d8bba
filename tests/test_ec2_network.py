"""The EC2 networking around endpoints, end to end with boto3 and the AWS
CLI: security groups and their rules (egress as AWS keeps it, rule ids,
DescribeSecurityGroupRules, ModifySecurityGroupRules, descriptions),
subnet and VPC attributes, account attributes, default network ACLs, the
default VPC, and network interfaces users create. Every refused request
is checked to change nothing: the admin dump of the world is the same
before and after it."""

import json
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import CONSUMER, PROVIDER, REGION, STRANGER, start_emulator, stop_emulator
from topology import build_consumer, build_provider, create_endpoint


def world(url):
    with urllib.request.urlopen(f"{url}/_emulator/state", timeout=10) as r:
        return json.load(r)


def refused(url, call, **kwargs):
    """The error code of a call that must fail and leave the world as it was."""
    before = world(url)
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    assert world(url) == before, f"{call.__name__} {kwargs} failed but changed the world"
    return e.value.response["Error"]["Code"]


def new_vpc(ec2, cidr):
    return ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]


def rules_of(ec2, group):
    return ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"]


ALL_OUT = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}


# ---------------------------------------------------------------- security groups


def test_a_new_group_allows_all_egress_and_terraform_replaces_it(client, emulator):
    ec2 = client("ec2", PROVIDER)
    vpc = new_vpc(ec2, "10.61.0.0/16")
    sg = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    g = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]
    assert g["IpPermissions"] == []
    assert g["IpPermissionsEgress"] == [
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [], "PrefixListIds": [],
         "UserIdGroupPairs": []}
    ]
    (default_out,) = rules_of(ec2, sg)
    assert default_out["SecurityGroupRuleId"].startswith("sgr-") and len(default_out["SecurityGroupRuleId"]) == 21
    assert default_out["IsEgress"] is True
    assert (default_out["IpProtocol"], default_out["FromPort"], default_out["ToPort"]) == ("-1", -1, -1)
    assert default_out["CidrIpv4"] == "0.0.0.0/0"
    assert default_out["GroupOwnerId"] == PROVIDER
    assert default_out["SecurityGroupRuleArn"] == (
        f"arn:aws:ec2:{REGION}:{PROVIDER}:security-group-rule/{default_out['SecurityGroupRuleId']}"
    )

    # What the Terraform provider does on create: revoke the default rule
    # (with the ports it always sends), then authorize its egress blocks.
    revoked = ec2.revoke_security_group_egress(
        GroupId=sg, IpPermissions=[{**ALL_OUT, "FromPort": 0, "ToPort": 0}]
    )
    assert revoked["Return"] is True
    assert [r["SecurityGroupRuleId"] for r in revoked["RevokedSecurityGroupRules"]] == [
        default_out["SecurityGroupRuleId"]
    ]
    assert rules_of(ec2, sg) == []
    added = ec2.authorize_security_group_egress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
         "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https out"}, {"CidrIp": "10.0.0.0/8"}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
    ])
    assert added["Return"] is True
    got = added["SecurityGroupRules"]
    assert [(r["IsEgress"], r["FromPort"], r["ToPort"]) for r in got] == [(True, 443, 443)] * 3
    assert [r.get("CidrIpv4") or r.get("CidrIpv6") for r in got] == ["0.0.0.0/0", "10.0.0.0/8", "::/0"]
    assert got[0]["Description"] == "https out" and "Description" not in got[1]
    assert len({r["SecurityGroupRuleId"] for r in got}) == 3
    assert sorted(r["SecurityGroupRuleId"] for r in rules_of(ec2, sg)) == sorted(r["SecurityGroupRuleId"] for r in got)
    (egress,) = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissionsEgress"]
    assert egress["IpRanges"] == [{"CidrIp": "0.0.0.0/0", "Description": "https out"}, {"CidrIp": "10.0.0.0/8"}]
    assert egress["Ipv6Ranges"] == [{"CidrIpv6": "::/0"}]


def test_the_default_group_admits_itself(client):
    ec2 = client("ec2", PROVIDER)
    vpc = new_vpc(ec2, "10.62.0.0/16")
    (g,) = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    (inbound,) = g["IpPermissions"]
    assert inbound["IpProtocol"] == "-1"
    assert [p["GroupId"] for p in inbound["UserIdGroupPairs"]] == [g["GroupId"]]
    rules = {r["IsEgress"]: r for r in rules_of(ec2, g["GroupId"])}
    assert rules[False]["ReferencedGroupInfo"] == {"GroupId": g["GroupId"], "UserId": PROVIDER}
    assert rules[True]["CidrIpv4"] == "0.0.0.0/0"


def test_duplicates_and_missing_rules_are_refused_and_change_nothing(client, emulator):
    ec2 = client("ec2", PROVIDER)
    vpc = new_vpc(ec2, "10.63.0.0/16")
    sg = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    ssh = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[ssh])

    assert refused(emulator, ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[ssh]) == (
        "InvalidPermission.Duplicate"
    )
    # A request with one new and one existing rule adds neither.
    web = {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
    assert refused(emulator, ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[web, ssh]) == (
        "InvalidPermission.Duplicate"
    )
    # The same rule twice in one request.
    assert refused(emulator, ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[web, web]) == (
        "InvalidPermission.Duplicate"
    )
    # The default egress rule is there already.
    assert refused(emulator, ec2.authorize_security_group_egress, GroupId=sg, IpPermissions=[ALL_OUT]) == (
        "InvalidPermission.Duplicate"
    )
    assert refused(emulator, ec2.revoke_security_group_ingress, GroupId=sg, IpPermissions=[web]) == (
        "InvalidPermission.NotFound"
    )
    # One existing and one missing: neither is revoked.
    assert refused(emulator, ec2.revoke_security_group_ingress, GroupId=sg, IpPermissions=[ssh, web]) == (
        "InvalidPermission.NotFound"
    )
    assert refused(emulator, ec2.revoke_security_group_ingress, GroupId=sg,
                   SecurityGroupRuleIds=["sgr-0123456789abcdef0"]) == "InvalidSecurityGroupRuleId.NotFound"
    assert refused(emulator, ec2.revoke_security_group_ingress, GroupId=sg, SecurityGroupRuleIds=["nope"]) == (
        "InvalidSecurityGroupRuleId.Malformed"
    )
    # An egress rule's id is not an ingress rule.
    (out,) = [r for r in rules_of(ec2, sg) if r["IsEgress"]]
    assert refused(emulator, ec2.revoke_security_group_ingress, GroupId=sg,
                   SecurityGroupRuleIds=[out["SecurityGroupRuleId"]]) == "InvalidSecurityGroupRuleId.NotFound"
    bad_ports = {"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
    assert refused(emulator, ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[bad_ports]) == (
        "InvalidParameterValue"
    )
    no_ports = {"IpProtocol": "udp", "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}
    assert refused(emulator, ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[no_ports]) == (
        "InvalidParameterValue"
    )
    unknown_peer = {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2,
                    "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef0"}]}
    assert refused(emulator, ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[unknown_peer]) == (
        "InvalidGroup.NotFound"
    )
    bad_description = {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2,
                       "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "tab\there"}]}
    assert refused(emulator, ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[bad_description]) == (
        "InvalidParameterValue"
    )
    assert refused(emulator, ec2.authorize_security_group_ingress, GroupId="sg-0123456789abcdef0",
                   IpPermissions=[web]) == "InvalidGroup.NotFound"
    # Another account's group does not exist for the caller.
    assert refused(emulator, client("ec2", STRANGER).authorize_security_group_ingress, GroupId=sg,
                   IpPermissions=[web]) == "InvalidGroup.NotFound"
    # A dry run checks everything and adds nothing.
    assert refused(emulator, ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[web],
                   DryRun=True) == "DryRunOperation"
    assert refused(emulator, ec2.authorize_security_group_ingress, GroupId=sg, IpPermissions=[ssh],
                   DryRun=True) == "InvalidPermission.Duplicate"
    assert len(rules_of(ec2, sg)) == 2


def test_rules_are_revoked_by_id_modified_and_described(client, emulator):
    ec2 = client("ec2", PROVIDER)
    vpc = new_vpc(ec2, "10.64.0.0/16")
    sg = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    peer = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    added = ec2.authorize_security_group_ingress(
        GroupId=sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": peer}]},
            {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "10.64.0.0/16"}]},
            {"IpProtocol": "6", "FromPort": 5432, "ToPort": 5432, "PrefixListIds": [{"PrefixListId": "pl-61a54008"}]},
        ],
        TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": [{"Key": "Name", "Value": "app-in"}]}],
    )["SecurityGroupRules"]
    by_port = {r["FromPort"]: r for r in added}
    assert by_port[8080]["ReferencedGroupInfo"] == {"GroupId": peer, "UserId": PROVIDER}
    assert by_port[-1]["IpProtocol"] == "icmp"
    assert by_port[5432]["IpProtocol"] == "tcp" and by_port[5432]["PrefixListId"] == "pl-61a54008"
    assert all(r["Tags"] == [{"Key": "Name", "Value": "app-in"}] for r in added)

    # DescribeSecurityGroupRules by id and by filter, with pages.
    one = ec2.describe_security_group_rules(SecurityGroupRuleIds=[by_port[8080]["SecurityGroupRuleId"]])
    assert one["SecurityGroupRules"] == [by_port[8080]]
    pages = ec2.get_paginator("describe_security_group_rules").paginate(
        Filters=[{"Name": "group-id", "Values": [sg]}], PaginationConfig={"PageSize": 5}
    )
    assert len([r for page in pages for r in page["SecurityGroupRules"]]) == 4
    tagged = ec2.describe_security_group_rules(Filters=[{"Name": "tag:Name", "Values": ["app-in"]}])
    assert len(tagged["SecurityGroupRules"]) == 3
    assert refused(emulator, ec2.describe_security_group_rules, SecurityGroupRuleIds=["sgr-0123456789abcdef0"]) == (
        "InvalidSecurityGroupRuleId.NotFound"
    )
    assert refused(emulator, ec2.describe_security_group_rules,
                   Filters=[{"Name": "no-such", "Values": ["x"]}]) == "InvalidParameterValue"
    # The group referenced by a rule cannot go while the rule is there.
    assert refused(emulator, ec2.delete_security_group, GroupId=peer) == "DependencyViolation"

    # ModifySecurityGroupRules keeps the id and tags, changes the rest.
    rid = by_port[8080]["SecurityGroupRuleId"]
    ec2.modify_security_group_rules(GroupId=sg, SecurityGroupRules=[{
        "SecurityGroupRuleId": rid,
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8100, "CidrIpv4": "10.64.1.0/24",
                              "Description": "from the lb subnet"}}])
    (now,) = ec2.describe_security_group_rules(SecurityGroupRuleIds=[rid])["SecurityGroupRules"]
    assert (now["FromPort"], now["ToPort"], now["CidrIpv4"], now["Description"]) == (
        8000, 8100, "10.64.1.0/24", "from the lb subnet")
    assert "ReferencedGroupInfo" not in now and now["Tags"] == [{"Key": "Name", "Value": "app-in"}]
    ec2.delete_security_group(GroupId=peer)  # no rule names it any more
    icmp = by_port[-1]["SecurityGroupRuleId"]
    clash = {"SecurityGroupRuleId": icmp, "SecurityGroupRule": {
        "IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8100, "CidrIpv4": "10.64.1.0/24"}}
    assert refused(emulator, ec2.modify_security_group_rules, GroupId=sg, SecurityGroupRules=[clash]) == (
        "InvalidPermission.Duplicate"
    )
    two_peers = {"SecurityGroupRuleId": icmp, "SecurityGroupRule": {
        "IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "CidrIpv4": "10.0.0.0/8", "CidrIpv6": "::/0"}}
    assert refused(emulator, ec2.modify_security_group_rules, GroupId=sg, SecurityGroupRules=[two_peers]) == (
        "InvalidParameterCombination"
    )
    missing = {"SecurityGroupRuleId": "sgr-0123456789abcdef0", "SecurityGroupRule": {
        "IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "CidrIpv4": "10.0.0.0/8"}}
    assert refused(emulator, ec2.modify_security_group_rules, GroupId=sg, SecurityGroupRules=[missing]) == (
        "InvalidSecurityGroupRuleId.NotFound"
    )

    # Descriptions: by protocol, ports and peer, or by id.
    ec2.update_security_group_rule_descriptions_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1,
         "IpRanges": [{"CidrIp": "10.64.0.0/16", "Description": "ping"}]}])
    ec2.update_security_group_rule_descriptions_ingress(GroupId=sg, SecurityGroupRuleDescriptions=[
        {"SecurityGroupRuleId": rid, "Description": "by id"}])
    rules = {r["SecurityGroupRuleId"]: r for r in rules_of(ec2, sg)}
    assert rules[icmp]["Description"] == "ping" and rules[rid]["Description"] == "by id"
    out = next(r for r in rules.values() if r["IsEgress"])
    ec2.update_security_group_rule_descriptions_egress(GroupId=sg, IpPermissions=[
        {**ALL_OUT, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "anywhere"}]}])
    assert ec2.describe_security_group_rules(
        SecurityGroupRuleIds=[out["SecurityGroupRuleId"]])["SecurityGroupRules"][0]["Description"] == "anywhere"
    assert refused(emulator, ec2.update_security_group_rule_descriptions_ingress, GroupId=sg, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53,
         "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "x"}]}]) == "InvalidPermission.NotFound"
    assert refused(emulator, ec2.update_security_group_rule_descriptions_egress, GroupId=sg,
                   SecurityGroupRuleDescriptions=[{"SecurityGroupRuleId": rid, "Description": "x"}]) == (
        "InvalidSecurityGroupRuleId.NotFound"
    )

    # Revoke by id answers what it removed.
    gone = ec2.revoke_security_group_ingress(GroupId=sg, SecurityGroupRuleIds=[icmp, rid])
    assert sorted(r["SecurityGroupRuleId"] for r in gone["RevokedSecurityGroupRules"]) == sorted([icmp, rid])
    assert {r["SecurityGroupRuleId"] for r in rules_of(ec2, sg)} == set(rules) - {icmp, rid}


def test_rule_tags_and_groups_for_a_vpc(client):
    ec2 = client("ec2", PROVIDER)
    vpc = new_vpc(ec2, "10.65.0.0/16")
    sg = ec2.create_security_group(
        GroupName="tagged", Description="t", VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "team", "Value": "net"}]}],
    )["GroupId"]
    (rule,) = rules_of(ec2, sg)
    rid = rule["SecurityGroupRuleId"]
    ec2.create_tags(Resources=[rid], Tags=[{"Key": "purpose", "Value": "egress"}])
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [rid]}])["Tags"]
    assert tags == [{"Key": "purpose", "ResourceId": rid, "ResourceType": "security-group-rule", "Value": "egress"}]
    ec2.delete_tags(Resources=[rid], Tags=[{"Key": "purpose"}])
    assert rules_of(ec2, sg)[0]["Tags"] == []

    groups = ec2.get_security_groups_for_vpc(VpcId=vpc)["SecurityGroupForVpcs"]
    assert sorted(g["GroupName"] for g in groups) == ["default", "tagged"]
    mine = next(g for g in groups if g["GroupId"] == sg)
    assert mine == {"Description": "t", "GroupName": "tagged", "OwnerId": PROVIDER, "GroupId": sg,
                    "Tags": [{"Key": "team", "Value": "net"}], "PrimaryVpcId": vpc}
    only = ec2.get_security_groups_for_vpc(VpcId=vpc, Filters=[{"Name": "group-name", "Values": ["tagged"]}])
    assert [g["GroupId"] for g in only["SecurityGroupForVpcs"]] == [sg]
    with pytest.raises(ClientError) as e:
        ec2.get_security_groups_for_vpc(VpcId="vpc-0123456789abcdef0")
    assert e.value.response["Error"]["Code"] == "InvalidVpcID.NotFound"


def test_the_cli_manages_egress_and_rules(aws, client):
    cli = aws(CONSUMER)
    vpc = cli("ec2", "create-vpc", "--cidr-block", "10.66.0.0/16")["Vpc"]["VpcId"]
    sg = cli("ec2", "create-security-group", "--group-name", "cli", "--description", "cli", "--vpc-id", vpc)["GroupId"]
    cli("ec2", "revoke-security-group-egress", "--group-id", sg, "--ip-permissions",
        "IpProtocol=-1,IpRanges=[{CidrIp=0.0.0.0/0}]")
    out = cli("ec2", "authorize-security-group-egress", "--group-id", sg, "--ip-permissions",
              "IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=10.0.0.0/8,Description=tls}]")
    (rule,) = out["SecurityGroupRules"]
    assert rule["IsEgress"] is True and rule["Description"] == "tls"
    listed = cli("ec2", "describe-security-group-rules", "--filters", f"Name=group-id,Values={sg}")
    assert [r["SecurityGroupRuleId"] for r in listed["SecurityGroupRules"]] == [rule["SecurityGroupRuleId"]]
    err = cli.fails("ec2", "authorize-security-group-egress", "--group-id", sg, "--ip-permissions",
                    "IpProtocol=tcp,FromPort=443,ToPort=443,IpRanges=[{CidrIp=10.0.0.0/8}]")
    assert "InvalidPermission.Duplicate" in err
    cli("ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22",
        "--cidr", "10.66.0.0/16")
    cli("ec2", "revoke-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22",
        "--cidr", "10.66.0.0/16")
    err = cli.fails("ec2", "revoke-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "22",
                    "--cidr", "10.66.0.0/16")
    assert "InvalidPermission.NotFound" in err
    g = client("ec2", CONSUMER).describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]
    assert g["IpPermissions"] == []
    assert [p["FromPort"] for p in g["IpPermissionsEgress"]] == [443]
