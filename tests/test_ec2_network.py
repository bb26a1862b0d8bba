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


# ---------------------------------------------------------------- VPCs and subnets


def test_create_vpc_answers_pending_and_validates_tenancy(client, emulator):
    ec2 = client("ec2", PROVIDER)
    created = ec2.create_vpc(CidrBlock="10.70.0.0/16", InstanceTenancy="dedicated")["Vpc"]
    assert created["State"] == "pending"
    assert created["InstanceTenancy"] == "dedicated" and created["IsDefault"] is False
    (described,) = ec2.describe_vpcs(VpcIds=[created["VpcId"]])["Vpcs"]
    assert described["State"] == "available"
    assert refused(emulator, ec2.create_vpc, CidrBlock="10.71.0.0/16", InstanceTenancy="host") == (
        "InvalidParameterValue"
    )
    assert refused(emulator, ec2.create_vpc, CidrBlock="10.71.0.0/16", InstanceTenancy="shared") == (
        "InvalidParameterValue"
    )
    assert refused(emulator, ec2.create_vpc, CidrBlock="10.71.0.0/16", DryRun=True) == "DryRunOperation"


def test_subnet_attributes_as_terraform_sets_them(client, emulator):
    ec2 = client("ec2", PROVIDER)
    vpc = new_vpc(ec2, "10.72.0.0/16")
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.72.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]
    sid = subnet["SubnetId"]
    assert (subnet["MapPublicIpOnLaunch"], subnet["DefaultForAz"], subnet["EnableDns64"]) == (False, False, False)
    assert subnet["PrivateDnsNameOptionsOnLaunch"] == {
        "HostnameType": "ip-name", "EnableResourceNameDnsARecord": False, "EnableResourceNameDnsAAAARecord": False}

    ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": True})
    ec2.modify_subnet_attribute(SubnetId=sid, EnableDns64={"Value": True})
    ec2.modify_subnet_attribute(SubnetId=sid, PrivateDnsHostnameTypeOnLaunch="resource-name")
    ec2.modify_subnet_attribute(SubnetId=sid, EnableResourceNameDnsARecordOnLaunch={"Value": True})
    ec2.modify_subnet_attribute(SubnetId=sid, AssignIpv6AddressOnCreation={"Value": False})
    (s,) = ec2.describe_subnets(SubnetIds=[sid])["Subnets"]
    assert (s["MapPublicIpOnLaunch"], s["EnableDns64"], s["AssignIpv6AddressOnCreation"]) == (True, True, False)
    assert s["PrivateDnsNameOptionsOnLaunch"] == {
        "HostnameType": "resource-name", "EnableResourceNameDnsARecord": True, "EnableResourceNameDnsAAAARecord": False}
    public = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                          {"Name": "map-public-ip-on-launch", "Values": ["true"]}])["Subnets"]
    assert [x["SubnetId"] for x in public] == [sid]

    # No IPv6 block, no Outpost: what needs one is refused, and nothing changes.
    assert refused(emulator, ec2.modify_subnet_attribute, SubnetId=sid,
                   AssignIpv6AddressOnCreation={"Value": True}) == "InvalidParameterValue"
    assert refused(emulator, ec2.modify_subnet_attribute, SubnetId=sid,
                   EnableResourceNameDnsAAAARecordOnLaunch={"Value": True}) == "InvalidParameterValue"
    assert refused(emulator, ec2.modify_subnet_attribute, SubnetId=sid,
                   PrivateDnsHostnameTypeOnLaunch="fancy-name") == "InvalidParameterValue"
    assert refused(emulator, ec2.modify_subnet_attribute, SubnetId=sid, MapPublicIpOnLaunch={"Value": False},
                   EnableDns64={"Value": False}) == "InvalidParameterCombination"
    assert refused(emulator, ec2.modify_subnet_attribute, SubnetId="subnet-0123456789abcdef0",
                   MapPublicIpOnLaunch={"Value": False}) == "InvalidSubnetID.NotFound"
    assert refused(emulator, client("ec2", STRANGER).modify_subnet_attribute, SubnetId=sid,
                   MapPublicIpOnLaunch={"Value": False}) == "InvalidSubnetID.NotFound"
    assert ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["MapPublicIpOnLaunch"] is True


def test_the_cli_modifies_a_subnet(aws):
    cli = aws(CONSUMER)
    vpc = cli("ec2", "create-vpc", "--cidr-block", "10.73.0.0/16")["Vpc"]["VpcId"]
    sid = cli("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.73.0.0/24")["Subnet"]["SubnetId"]
    cli("ec2", "modify-subnet-attribute", "--subnet-id", sid, "--map-public-ip-on-launch")
    (s,) = cli("ec2", "describe-subnets", "--subnet-ids", sid)["Subnets"]
    assert s["MapPublicIpOnLaunch"] is True
    cli("ec2", "modify-subnet-attribute", "--subnet-id", sid, "--no-map-public-ip-on-launch")
    assert cli("ec2", "describe-subnets", "--subnet-ids", sid)["Subnets"][0]["MapPublicIpOnLaunch"] is False
    err = cli.fails("ec2", "modify-subnet-attribute", "--subnet-id", sid, "--assign-ipv6-address-on-creation")
    assert "InvalidParameterValue" in err


def test_default_network_acls_follow_vpcs_and_subnets(client, emulator):
    ec2 = client("ec2", PROVIDER)
    vpc = new_vpc(ec2, "10.74.0.0/16")
    (acl,) = ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default", "Values": ["true"]}])["NetworkAcls"]
    assert acl["IsDefault"] is True and acl["OwnerId"] == PROVIDER and acl["Associations"] == []
    assert acl["NetworkAclId"].startswith("acl-")
    assert sorted((e["Egress"], e["RuleNumber"], e["RuleAction"], e["Protocol"], e["CidrBlock"])
                  for e in acl["Entries"]) == [
        (False, 100, "allow", "-1", "0.0.0.0/0"), (False, 32767, "deny", "-1", "0.0.0.0/0"),
        (True, 100, "allow", "-1", "0.0.0.0/0"), (True, 32767, "deny", "-1", "0.0.0.0/0")]
    a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.74.1.0/24")["Subnet"]["SubnetId"]
    b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.74.2.0/24")["Subnet"]["SubnetId"]
    (acl2,) = ec2.describe_network_acls(NetworkAclIds=[acl["NetworkAclId"]])["NetworkAcls"]
    assert acl2["NetworkAclId"] == acl["NetworkAclId"], "the same ACL on every look"
    assert sorted(x["SubnetId"] for x in acl2["Associations"]) == sorted([a, b])
    assert all(x["NetworkAclId"] == acl["NetworkAclId"] and x["NetworkAclAssociationId"].startswith("aclassoc-")
               for x in acl2["Associations"])
    by_subnet = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [b]}])["NetworkAcls"]
    assert [x["NetworkAclId"] for x in by_subnet] == [acl["NetworkAclId"]]
    ec2.delete_subnet(SubnetId=b)
    (acl3,) = ec2.describe_network_acls(NetworkAclIds=[acl["NetworkAclId"]])["NetworkAcls"]
    assert [x["SubnetId"] for x in acl3["Associations"]] == [a]
    assert refused(emulator, ec2.describe_network_acls, NetworkAclIds=["acl-0123456789abcdef0"]) == (
        "InvalidNetworkAclID.NotFound"
    )
    assert refused(emulator, client("ec2", STRANGER).describe_network_acls,
                   NetworkAclIds=[acl["NetworkAclId"]]) == "InvalidNetworkAclID.NotFound"
    assert refused(emulator, ec2.describe_network_acls, Filters=[{"Name": "nope", "Values": ["x"]}]) == (
        "InvalidParameterValue"
    )


def test_account_attributes_without_a_default_vpc(client, aws, emulator):
    ec2 = client("ec2", STRANGER)
    attrs = {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
             for a in ec2.describe_account_attributes()["AccountAttributes"]}
    assert attrs["supported-platforms"] == ["VPC"]
    assert attrs["default-vpc"] == ["none"]
    assert attrs["vpc-max-security-groups-per-interface"] == ["5"]
    assert set(attrs) == {"vpc-max-security-groups-per-interface", "max-instances", "supported-platforms",
                          "default-vpc", "max-elastic-ips", "vpc-max-elastic-ips"}
    only = aws(STRANGER)("ec2", "describe-account-attributes", "--attribute-names", "default-vpc")
    assert only["AccountAttributes"] == [{"AttributeName": "default-vpc", "AttributeValues": [{"AttributeValue": "none"}]}]
    assert refused(emulator, ec2.describe_account_attributes, AttributeNames=["no-such"]) == "InvalidParameterValue"
    # Without a default VPC, a group needs its VPC named.
    assert refused(emulator, ec2.create_security_group, GroupName="x", Description="x") == "VPCIdNotSpecified"


def check_default_vpc(ec2, vpc_id):
    (vpc,) = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert vpc["IsDefault"] is True and vpc["CidrBlock"] == "172.31.0.0/16"
    assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    assert sorted(s["AvailabilityZone"] for s in subnets) == sorted(zones)
    assert sorted(s["CidrBlock"] for s in subnets) == sorted(f"172.31.{16 * i}.0/20" for i in range(len(zones)))
    assert all(s["MapPublicIpOnLaunch"] and s["DefaultForAz"] and s["VpcId"] == vpc_id for s in subnets)
    return subnets


def test_create_default_vpc_on_request(client, emulator):
    ec2 = client("ec2", STRANGER)
    vpc = ec2.create_default_vpc()["Vpc"]
    assert vpc["IsDefault"] is True and vpc["State"] == "pending"
    check_default_vpc(ec2, vpc["VpcId"])
    (attr,) = ec2.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
    assert attr["AttributeValues"] == [{"AttributeValue": vpc["VpcId"]}]
    assert refused(emulator, ec2.create_default_vpc) == "DefaultVpcAlreadyExists"
    # In the default VPC a group needs no VpcId.
    sg = ec2.create_security_group(GroupName="in-default", Description="x")["GroupId"]
    assert ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["VpcId"] == vpc["VpcId"]


def test_the_default_vpc_setting():
    emu, url = start_emulator(["--default-vpc"])
    try:
        import boto3
        from botocore.config import Config

        def ec2_of(account, region=REGION):
            return boto3.client("ec2", endpoint_url=url, region_name=region, aws_access_key_id=account,
                                aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))

        ec2 = ec2_of(PROVIDER)
        (attr,) = ec2.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
        default = attr["AttributeValues"][0]["AttributeValue"]
        assert default.startswith("vpc-")
        check_default_vpc(ec2, default)
        assert [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]] == [default]
        # Each account and region has its own.
        other = ec2_of(CONSUMER, "us-east-1").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
        assert [v["CidrBlock"] for v in other["Vpcs"]] == ["172.31.0.0/16"]
        assert other["Vpcs"][0]["VpcId"] != default
        # Deleted by its user, it stays deleted.
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default]}])["Subnets"]:
            ec2.delete_subnet(SubnetId=s["SubnetId"])
        ec2.delete_vpc(VpcId=default)
        assert ec2.describe_vpcs()["Vpcs"] == []
        (attr,) = ec2.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
        assert attr["AttributeValues"] == [{"AttributeValue": "none"}]
        again = ec2.create_default_vpc()["Vpc"]["VpcId"]
        assert again != default
    finally:
        stop_emulator(emu)


# ---------------------------------------------------------------- network interfaces


def test_users_create_modify_and_delete_interfaces(client, emulator):
    ec2 = client("ec2", PROVIDER)
    vpc = new_vpc(ec2, "10.75.0.0/16")
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.75.1.0/28", AvailabilityZone=f"{REGION}c")["Subnet"]
    sid = subnet["SubnetId"]
    sg = ec2.create_security_group(GroupName="eni", Description="eni", VpcId=vpc)["GroupId"]
    default_sg = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"][0]["GroupId"]

    eni = ec2.create_network_interface(
        SubnetId=sid, Description="appliance", Groups=[sg],
        TagSpecifications=[{"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "app"}]}],
    )["NetworkInterface"]
    assert eni["Status"] == "available" and eni["RequesterManaged"] is False
    assert eni["InterfaceType"] == "interface" and eni["SourceDestCheck"] is True
    assert eni["VpcId"] == vpc and eni["AvailabilityZone"] == f"{REGION}c"
    assert [g["GroupId"] for g in eni["Groups"]] == [sg] and eni["Groups"][0]["GroupName"] == "eni"
    assert eni["TagSet"] == [{"Key": "Name", "Value": "app"}]
    ip = eni["PrivateIpAddress"]
    assert ip.startswith("10.75.1.") and 4 <= int(ip.rsplit(".", 1)[1]) <= 14
    eid = eni["NetworkInterfaceId"]
    count = lambda: ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]["AvailableIpAddressCount"]  # noqa: E731
    assert count() == 10

    # A chosen address (one the first interface's random pick left free); no
    # groups means the VPC's default group.
    chosen = "10.75.1.10" if ip != "10.75.1.10" else "10.75.1.11"
    fixed = ec2.create_network_interface(SubnetId=sid, PrivateIpAddress=chosen)["NetworkInterface"]
    assert fixed["PrivateIpAddress"] == chosen
    assert [g["GroupId"] for g in fixed["Groups"]] == [default_sg]
    assert count() == 9
    # The same client token gives the same interface.
    once = ec2.create_network_interface(SubnetId=sid, ClientToken="tok-1")["NetworkInterface"]
    twice = ec2.create_network_interface(SubnetId=sid, ClientToken="tok-1")["NetworkInterface"]
    assert once["NetworkInterfaceId"] == twice["NetworkInterfaceId"] and count() == 8

    # Refusals change nothing.
    assert refused(emulator, ec2.create_network_interface, SubnetId=sid, PrivateIpAddress=chosen) == (
        "InvalidIPAddress.InUse"
    )
    assert refused(emulator, ec2.create_network_interface, SubnetId=sid, PrivateIpAddress="10.75.1.1") == (
        "InvalidParameterValue"
    )
    assert refused(emulator, ec2.create_network_interface, SubnetId=sid, PrivateIpAddress="10.76.0.9") == (
        "InvalidParameterValue"
    )
    assert refused(emulator, ec2.create_network_interface, SubnetId="subnet-0123456789abcdef0") == (
        "InvalidSubnetID.NotFound"
    )
    assert refused(emulator, ec2.create_network_interface, SubnetId=sid, Groups=["sg-0123456789abcdef0"]) == (
        "InvalidGroup.NotFound"
    )
    elsewhere = ec2.create_security_group(GroupName="x", Description="x", VpcId=new_vpc(ec2, "10.77.0.0/16"))
    assert refused(emulator, ec2.create_network_interface, SubnetId=sid, Groups=[elsewhere["GroupId"]]) == (
        "InvalidParameter"
    )
    six = [ec2.create_security_group(GroupName=f"g{i}", Description="g", VpcId=vpc)["GroupId"] for i in range(6)]
    assert refused(emulator, ec2.create_network_interface, SubnetId=sid, Groups=six) == (
        "SecurityGroupsPerInterfaceLimitExceeded"
    )
    assert refused(emulator, ec2.create_network_interface, SubnetId=sid, SecondaryPrivateIpAddressCount=2) == (
        "InvalidParameterValue"
    )
    assert refused(emulator, ec2.create_network_interface, SubnetId=sid, DryRun=True) == "DryRunOperation"
    assert refused(emulator, ec2.create_network_interface, SubnetId=sid, ClientToken="tok-1",
                   Description="other") == "IdempotentParameterMismatch"

    # Attributes.
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eid, Description={"Value": "changed"})
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eid, SourceDestCheck={"Value": False})
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eid, Groups=[sg, default_sg])
    attr = lambda a: ec2.describe_network_interface_attribute(NetworkInterfaceId=eid, Attribute=a)  # noqa: E731
    assert attr("description")["Description"] == {"Value": "changed"}
    assert attr("sourceDestCheck")["SourceDestCheck"] == {"Value": False}
    assert [g["GroupId"] for g in attr("groupSet")["Groups"]] == [sg, default_sg]
    assert "Attachment" not in attr("attachment")
    (now,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[eid])["NetworkInterfaces"]
    assert (now["Description"], now["SourceDestCheck"]) == ("changed", False)
    found = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [default_sg]},
                                                     {"Name": "status", "Values": ["available"]}])
    assert eid in [n["NetworkInterfaceId"] for n in found["NetworkInterfaces"]]
    assert refused(emulator, ec2.modify_network_interface_attribute, NetworkInterfaceId=eid,
                   Description={"Value": "a"}, SourceDestCheck={"Value": True}) == "InvalidParameterCombination"
    assert refused(emulator, ec2.modify_network_interface_attribute, NetworkInterfaceId=eid,
                   Groups=[elsewhere["GroupId"]]) == "InvalidParameter"
    assert refused(emulator, ec2.modify_network_interface_attribute, NetworkInterfaceId=eid,
                   Attachment={"AttachmentId": "eni-attach-0123456789abcdef0", "DeleteOnTermination": True}) == (
        "InvalidAttachmentID.NotFound"
    )
    assert refused(emulator, ec2.describe_network_interface_attribute, NetworkInterfaceId=eid,
                   Attribute="nope") == "InvalidParameterValue"
    assert refused(emulator, ec2.modify_network_interface_attribute, NetworkInterfaceId="eni-0123456789abcdef0",
                   Description={"Value": "a"}) == "InvalidNetworkInterfaceID.NotFound"
    assert refused(emulator, ec2.modify_network_interface_attribute, NetworkInterfaceId="nic-1",
                   Description={"Value": "a"}) == "InvalidNetworkInterfaceID.Malformed"
    assert refused(emulator, client("ec2", STRANGER).delete_network_interface, NetworkInterfaceId=eid) == (
        "InvalidNetworkInterfaceID.NotFound"
    )

    # What depends on an interface waits for it.
    assert refused(emulator, ec2.delete_subnet, SubnetId=sid) == "DependencyViolation"
    assert refused(emulator, ec2.delete_security_group, GroupId=sg) == "DependencyViolation"
    for n in (eid, fixed["NetworkInterfaceId"], once["NetworkInterfaceId"]):
        ec2.delete_network_interface(NetworkInterfaceId=n)
    assert count() == 11
    assert refused(emulator, ec2.delete_network_interface, NetworkInterfaceId=eid) == (
        "InvalidNetworkInterfaceID.NotFound"
    )
    ec2.delete_security_group(GroupId=sg)
    ec2.delete_subnet(SubnetId=sid)


def test_endpoint_interfaces_are_not_the_users_to_change(client, aws, emulator):
    p = build_provider(client, name="eni-managed", cidr_prefix="10.78", targets=("10.78.128.142",))
    c = build_consumer(client, cidr_prefix="10.79")
    ep = create_endpoint(client, p, c)
    ec2 = client("ec2", CONSUMER)
    (eid, *_) = ep["NetworkInterfaceIds"]
    (eni,) = ec2.describe_network_interfaces(NetworkInterfaceIds=[eid])["NetworkInterfaces"]
    assert eni["RequesterManaged"] is True and eni["Status"] == "in-use" and eni["InterfaceType"] == "vpc_endpoint"
    assert refused(emulator, ec2.modify_network_interface_attribute, NetworkInterfaceId=eid,
                   Description={"Value": "mine now"}) == "AuthFailure"
    assert refused(emulator, ec2.modify_network_interface_attribute, NetworkInterfaceId=eid,
                   Groups=[c.group]) == "AuthFailure"
    assert refused(emulator, ec2.modify_network_interface_attribute, NetworkInterfaceId=eid,
                   SourceDestCheck={"Value": False}) == "AuthFailure"
    assert refused(emulator, ec2.delete_network_interface, NetworkInterfaceId=eid) == "InvalidParameterValue"
    err = aws(CONSUMER).fails("ec2", "delete-network-interface", "--network-interface-id", eid)
    assert "is currently in use" in err
    # The NLB's interfaces too, for their owner.
    elb_enis = client("ec2", PROVIDER).describe_network_interfaces(
        Filters=[{"Name": "interface-type", "Values": ["network_load_balancer"]},
                 {"Name": "vpc-id", "Values": [p.vpc]}])["NetworkInterfaces"]
    assert elb_enis
    assert refused(emulator, client("ec2", PROVIDER).delete_network_interface,
                   NetworkInterfaceId=elb_enis[0]["NetworkInterfaceId"]) == "InvalidParameterValue"
    assert ec2.describe_network_interface_attribute(
        NetworkInterfaceId=eid, Attribute="description")["Description"]["Value"].startswith("VPC Endpoint Interface")


def test_the_cli_creates_an_interface(aws):
    cli = aws(CONSUMER)
    vpc = cli("ec2", "create-vpc", "--cidr-block", "10.80.0.0/16")["Vpc"]["VpcId"]
    sid = cli("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.80.0.0/24")["Subnet"]["SubnetId"]
    eni = cli("ec2", "create-network-interface", "--subnet-id", sid, "--description", "cli",
              "--private-ip-address", "10.80.0.50")["NetworkInterface"]
    assert eni["PrivateIpAddress"] == "10.80.0.50"
    eid = eni["NetworkInterfaceId"]
    cli("ec2", "modify-network-interface-attribute", "--network-interface-id", eid, "--no-source-dest-check")
    out = cli("ec2", "describe-network-interface-attribute", "--network-interface-id", eid,
              "--attribute", "sourceDestCheck")
    assert out["SourceDestCheck"] == {"Value": False}
    cli("ec2", "delete-network-interface", "--network-interface-id", eid)
    err = cli.fails("ec2", "describe-network-interfaces", "--network-interface-ids", eid)
    assert "InvalidNetworkInterfaceID.NotFound" in err
