"""VPCs smaller than /16 share host blocks on the loopback address plane:
two /20s whose low 16 bits differ live in one 127.k.0.0/16, each address
keeping its two low octets; a third with the same low bits as the first
goes to another block. Each VPC's endpoint serves curl to nginx through its
own host addresses to the one host its security group allows (found from
its address in the shared block), each VPC's resolver (base + 2 in its
block) answers dig, and a freed part of a block is used again."""

import subprocess

from backends import BODY, require
from conftest import CONSUMER, wait_for
from test_dataplane import World, _prefixes, curl, listeners_of, status


def vpc_entry(emulator, vpc_id):
    for region in status(emulator)["regions"]:
        for v in region["vpcs"]:
            if v["vpc_id"] == vpc_id:
                return v
    raise AssertionError(f"{vpc_id} not in status")


def dig(server, port, name):
    require("dig", "bind9-dnsutils")
    r = subprocess.run(["dig", "+short", "+time=2", "+tries=1", "-p", str(port), f"@{server}", name, "A"],
                       capture_output=True, text=True, check=True)
    return sorted(line for line in r.stdout.split() if line)


def small_consumer(client, cidr, made):
    """A /20 consumer VPC with one /24 subnet (its fifth) and a group whose
    rules the test adds; each recorded in `made` as soon as it exists."""
    ec2 = client("ec2", CONSUMER)
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    made.append(["vpc", vpc, None, None])
    a, b, c, _ = cidr.split("/")[0].split(".")
    made[-1][2] = ec2.create_subnet(VpcId=vpc, CidrBlock=f"{a}.{b}.{int(c) + 4}.0/24",
                                    AvailabilityZone="ap-northeast-1a")["Subnet"]["SubnetId"]
    made[-1][3] = ec2.create_security_group(GroupName="endpoint", Description="endpoint", VpcId=vpc)["GroupId"]
    return made[-1][1:]


def test_small_vpcs_share_a_host_block_and_each_serves(client, emulator):
    w = World(client, emulator, acceptance_required=False)
    made = []
    ec2 = client("ec2", CONSUMER)
    try:
        nginx = w.start_nginx()
        x, y = next(_prefixes), next(_prefixes)
        cidrs = [f"10.{x}.16.0/20", f"10.{y}.32.0/20", f"10.{y}.16.0/20"]
        vpcs = []
        for cidr in cidrs:
            vpc, subnet, group = small_consumer(client, cidr, made)
            # Only one host of the VPC may connect: 10.X.20.99, which the
            # data plane must find from its host address in the shared block.
            a, b, c, _ = cidr.split("/")[0].split(".")
            ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": w.port, "ToPort": w.port,
                 "IpRanges": [{"CidrIp": f"{a}.{b}.{int(c) + 4}.99/32"}]}])
            ep = ec2.create_vpc_endpoint(VpcEndpointType="Interface", VpcId=vpc, ServiceName=w.provider.service_name,
                                         SubnetIds=[subnet], SecurityGroupIds=[group])["VpcEndpoint"]
            made.append(["endpoint", ep["VpcEndpointId"]])
            vpcs.append((cidr, vpc, ep))
        blocks = [vpc_entry(emulator, vpc)["host_block"] for _, vpc, _ in vpcs]
        k = [b.split(".")[1] for b in blocks]
        assert blocks[0] == f"127.{k[0]}.16.0/20" and blocks[1] == f"127.{k[0]}.32.0/20", blocks
        assert blocks[2] == f"127.{k[2]}.16.0/20" and k[2] != k[0], blocks
        assert k[0] != str(w.cblock) and k[0] != str(w.pblock), "a /16 VPC's block is its own"

        port = status(emulator)["dns"]["vpc_resolver_port"]
        for (cidr, vpc, ep), block in zip(vpcs, blocks):
            ec2_id = ep["VpcEndpointId"]
            wait_for(lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[ec2_id])["VpcEndpoints"][0]["State"]
                     == "available", "endpoint available")
            eni = ec2.describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"][0]
            # The ENI's address keeps its two low octets in the VPC's block.
            _, _, c, d = eni["PrivateIpAddress"].split(".")
            kk = block.split(".")[1]
            host = f"127.{kk}.{c}.{d}"
            listeners = wait_for(lambda: listeners_of(emulator, ec2_id), "the endpoint's listener")
            assert [entry["host_address"] for entry in listeners] == [f"{host}:{w.port}"], listeners
            # The VPC's resolver, base + 2 in its part of the block, answers it.
            base = block.split("/")[0].split(".")
            resolver = f"127.{kk}.{base[2]}.2"
            name = ep["DnsEntries"][0]["DnsName"]
            assert wait_for(lambda: dig(resolver, port, name) == [host], f"{name} at {resolver}")
            # The allowed host inside this VPC reaches nginx through the
            # endpoint; its neighbour in the VPC is refused by the group.
            r = curl(f"http://{host}:{w.port}/", source=f"127.{kk}.{c}.99")
            assert r.returncode == 0 and r.stdout == BODY, (cidr, r.stderr)
            r = curl(f"http://{host}:{w.port}/", source=f"127.{kk}.{c}.98", timeout=2)
            assert r.returncode != 0 and BODY not in r.stdout, (cidr, r.stdout)
        seen = nginx.clients()
        assert len(seen) == 3 and set(seen) <= w.nlb_hosts(), (seen, w.nlb_hosts())

        # The second VPC's part of the block is free again once it is gone.
        ec2.delete_vpc_endpoints(VpcEndpointIds=[vpcs[1][2]["VpcEndpointId"]])
        wait_for(lambda: ec2.describe_vpc_endpoints(VpcEndpointIds=[vpcs[1][2]["VpcEndpointId"]])["VpcEndpoints"][0]
                 ["State"] == "deleted", "endpoint deleted")
        _, vpc1, subnet1, group1 = made[2]
        ec2.delete_subnet(SubnetId=subnet1)
        ec2.delete_security_group(GroupId=group1)
        ec2.delete_vpc(VpcId=vpc1)
        made[2] = None
        again = ec2.create_vpc(CidrBlock=f"10.{next(_prefixes)}.32.0/20")["Vpc"]["VpcId"]
        made.append(["vpc", again, None, None])
        assert vpc_entry(emulator, again)["host_block"] == f"127.{k[0]}.32.0/20"
    finally:
        try:
            for m in reversed([m for m in made if m]):
                if m[0] == "endpoint":
                    ec2.delete_vpc_endpoints(VpcEndpointIds=[m[1]])
            for m in [m for m in made if m and m[0] == "vpc"]:
                _, vpc, subnet, group = m
                eps = [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints(
                    Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]]
                wait_for(lambda: all(e["State"] == "deleted" for e in ec2.describe_vpc_endpoints(
                    VpcEndpointIds=eps)["VpcEndpoints"]) if eps else True, "endpoints deleted")
                if subnet:
                    ec2.delete_subnet(SubnetId=subnet)
                if group:
                    ec2.delete_security_group(GroupId=group)
                ec2.delete_vpc(VpcId=vpc)
        finally:
            w.close()
