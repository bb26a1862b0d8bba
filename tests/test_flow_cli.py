"""The provider/consumer flow of the seed walkthrough, driven only with the
real AWS CLI (awscli), two accounts by access key, against the emulator."""

import ipaddress
import re

from conftest import CONSUMER, PROVIDER, REGION, STRANGER, wait_for

HEX17 = "[0-9a-f]{17}"


def test_seed_flow_with_the_aws_cli(aws):
    provider = aws(PROVIDER)
    consumer = aws(CONSUMER)

    assert provider("sts", "get-caller-identity")["Account"] == PROVIDER
    assert consumer("sts", "get-caller-identity")["Arn"] == f"arn:aws:iam::{CONSUMER}:root"

    # Provider: VPC, subnets, internal NLB with cross-zone, target group, listener.
    vpc = provider("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")["Vpc"]["VpcId"]
    s1 = provider(
        "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.0.0/20", "--availability-zone", "ap-northeast-1a"
    )["Subnet"]["SubnetId"]
    s2 = provider(
        "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.0.128.0/20", "--availability-zone", "ap-northeast-1c"
    )["Subnet"]["SubnetId"]
    lb = provider(
        "elbv2", "create-load-balancer", "--name", "privatelink-web", "--type", "network", "--scheme", "internal",
        "--subnets", s1, s2,
    )["LoadBalancers"][0]
    lb_arn = lb["LoadBalancerArn"]
    assert re.fullmatch(
        rf"arn:aws:elasticloadbalancing:{REGION}:{PROVIDER}:loadbalancer/net/privatelink-web/[0-9a-f]{{16}}", lb_arn
    )
    assert re.fullmatch(rf"privatelink-web-[0-9a-f]{{16}}\.elb\.{REGION}\.amazonaws\.com", lb["DNSName"])
    assert lb["State"]["Code"] == "provisioning"
    node_ips = [a["LoadBalancerAddresses"][0]["PrivateIPv4Address"] for a in lb["AvailabilityZones"]]
    assert ipaddress.ip_address(node_ips[0]) in ipaddress.ip_network("10.0.0.0/20")
    assert ipaddress.ip_address(node_ips[1]) in ipaddress.ip_network("10.0.128.0/20")
    provider("elbv2", "wait", "load-balancer-available", "--load-balancer-arns", lb_arn)
    described = provider("elbv2", "describe-load-balancers", "--load-balancer-arns", lb_arn)["LoadBalancers"][0]
    assert described["State"]["Code"] == "active"

    tg = provider(
        "elbv2", "create-target-group", "--name", "privatelink-web", "--protocol", "TCP", "--port", "80",
        "--vpc-id", vpc, "--target-type", "ip",
    )["TargetGroups"][0]["TargetGroupArn"]
    provider("elbv2", "register-targets", "--target-group-arn", tg, "--targets", "Id=10.0.128.142,Port=80")
    provider(
        "elbv2", "create-listener", "--load-balancer-arn", lb_arn, "--protocol", "TCP", "--port", "80",
        "--default-actions", f"Type=forward,TargetGroupArn={tg}",
    )
    attrs = provider(
        "elbv2", "modify-load-balancer-attributes", "--load-balancer-arn", lb_arn,
        "--attributes", "Key=load_balancing.cross_zone.enabled,Value=true",
    )["Attributes"]
    assert {"Key": "load_balancing.cross_zone.enabled", "Value": "true"} in attrs
    health = provider("elbv2", "describe-target-health", "--target-group-arn", tg)["TargetHealthDescriptions"]
    assert health[0]["TargetHealth"]["State"] == "initial"

    # NLB nodes show up as requester-managed ENIs described "ELB net/NAME/<16hex>".
    enis = provider("ec2", "describe-network-interfaces", "--filters", f"Name=vpc-id,Values={vpc}")["NetworkInterfaces"]
    suffix = lb_arn.split(":loadbalancer/")[1]
    assert sorted(e["PrivateIpAddress"] for e in enis) == sorted(node_ips)
    assert all(e["Description"] == f"ELB {suffix}" and e["InterfaceType"] == "network_load_balancer" for e in enis)

    # The endpoint service, acceptance required, consumer allowed.
    svc = provider(
        "ec2", "create-vpc-endpoint-service-configuration", "--network-load-balancer-arns", lb_arn,
        "--acceptance-required",
    )["ServiceConfiguration"]
    svc_id = svc["ServiceId"]
    assert re.fullmatch(rf"vpce-svc-{HEX17}", svc_id)
    assert svc["ServiceName"] == f"com.amazonaws.vpce.{REGION}.{svc_id}"
    assert svc["AcceptanceRequired"] is True
    assert svc["BaseEndpointDnsNames"] == [f"{svc_id}.{REGION}.vpce.amazonaws.com"]
    assert sorted(svc["AvailabilityZones"]) == ["ap-northeast-1a", "ap-northeast-1c"]
    added = provider(
        "ec2", "modify-vpc-endpoint-service-permissions", "--service-id", svc_id,
        "--add-allowed-principals", f"arn:aws:iam::{CONSUMER}:root",
    )
    assert added["AddedPrincipals"][0]["PrincipalType"] == "Account"
    perms = provider("ec2", "describe-vpc-endpoint-service-permissions", "--service-id", svc_id)["AllowedPrincipals"]
    assert [p["Principal"] for p in perms] == [f"arn:aws:iam::{CONSUMER}:root"]
    name = svc["ServiceName"]

    # Consumer: finds the service, builds its VPC and creates the endpoint.
    found = consumer("ec2", "describe-vpc-endpoint-services", "--service-names", name)["ServiceDetails"]
    assert found[0]["Owner"] == PROVIDER and found[0]["AcceptanceRequired"] is True
    cvpc = consumer("ec2", "create-vpc", "--cidr-block", "10.24.0.0/16")["Vpc"]["VpcId"]
    c1 = consumer(
        "ec2", "create-subnet", "--vpc-id", cvpc, "--cidr-block", "10.24.16.0/20", "--availability-zone", "ap-northeast-1a"
    )["Subnet"]["SubnetId"]
    c2 = consumer(
        "ec2", "create-subnet", "--vpc-id", cvpc, "--cidr-block", "10.24.112.0/20", "--availability-zone", "ap-northeast-1c"
    )["Subnet"]["SubnetId"]
    sg = consumer(
        "ec2", "create-security-group", "--group-name", "endpoint", "--description", "endpoint", "--vpc-id", cvpc
    )["GroupId"]
    consumer("ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "80",
             "--cidr", "10.24.0.0/16")
    ep = consumer(
        "ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", cvpc, "--service-name", name,
        "--subnet-ids", c1, c2, "--security-group-ids", sg,
    )["VpcEndpoint"]
    ep_id = ep["VpcEndpointId"]
    assert re.fullmatch(rf"vpce-{HEX17}", ep_id)
    assert ep["State"] == "pendingAcceptance"
    assert ep["Groups"] == [{"GroupId": sg, "GroupName": "endpoint"}]
    assert ep["OwnerId"] == CONSUMER

    # Provider sees the pending connection and accepts it.
    conns = provider("ec2", "describe-vpc-endpoint-connections", "--filters", f"Name=service-id,Values={svc_id}")[
        "VpcEndpointConnections"
    ]
    assert [(c["VpcEndpointId"], c["VpcEndpointState"], c["VpcEndpointOwner"]) for c in conns] == [
        (ep_id, "pendingAcceptance", CONSUMER)
    ]
    result = provider("ec2", "accept-vpc-endpoint-connections", "--service-id", svc_id, "--vpc-endpoint-ids", ep_id)
    assert result["Unsuccessful"] == []

    # Consumer polls like a waiter until available.
    def state():
        return consumer("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", ep_id)["VpcEndpoints"][0]

    seen = []

    def available():
        e = state()
        seen.append(e["State"])
        return e if e["State"] == "available" else None

    final = wait_for(available, "available", timeout=20)
    # Like a waiter: `pending`, then `available` by the second describe. (A
    # CLI process starts slower than the emulator's one-second grace for
    # unobserved transitions, so the first describe may already be final;
    # test_flow_boto3 checks that a fast poller sees `pending`.)
    assert seen in (["pending", "available"], ["available"]), seen
    ready = consumer(
        "ec2", "describe-vpc-endpoints", "--filters", "Name=vpc-endpoint-state,Values=available"
    )["VpcEndpoints"]
    assert [e["VpcEndpointId"] for e in ready] == [ep_id]

    # Two ENIs, one per subnet, addresses inside the consumer's subnets.
    assert len(final["NetworkInterfaceIds"]) == 2
    enis = consumer("ec2", "describe-network-interfaces", "--network-interface-ids", *final["NetworkInterfaceIds"])[
        "NetworkInterfaces"
    ]
    by_subnet = {e["SubnetId"]: e for e in enis}
    assert ipaddress.ip_address(by_subnet[c1]["PrivateIpAddress"]) in ipaddress.ip_network("10.24.16.0/20")
    assert ipaddress.ip_address(by_subnet[c2]["PrivateIpAddress"]) in ipaddress.ip_network("10.24.112.0/20")
    for e in enis:
        assert e["Description"] == f"VPC Endpoint Interface {ep_id}"
        assert e["InterfaceType"] == "vpc_endpoint"
        assert e["RequesterManaged"] is True
        assert e["Groups"][0]["GroupId"] == sg

    # DnsEntries in AWS's formats and order: regional, then one zonal per AZ.
    names = [d["DnsName"] for d in final["DnsEntries"]]
    base = f"{svc_id}.{REGION}.vpce.amazonaws.com"
    m = re.fullmatch(rf"({re.escape(ep_id)}-[a-z0-9]{{8}})\.{re.escape(base)}", names[0])
    assert m, names
    stem = m.group(1)
    assert names[1:] == [f"{stem}-ap-northeast-1a.{base}", f"{stem}-ap-northeast-1c.{base}"]
    assert final["PrivateDnsEnabled"] is False

    # The provider's connection is available too, with the same DNS names.
    conns = provider("ec2", "describe-vpc-endpoint-connections")["VpcEndpointConnections"]
    assert conns[0]["VpcEndpointState"] == "available"
    assert [d["DnsName"] for d in conns[0]["DnsEntries"]] == names

    # The consumer deletes; the endpoint goes deleting -> deleted; the ENIs go with it.
    assert consumer("ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", ep_id)["Unsuccessful"] == []
    assert state()["State"] in ("deleting", "deleted")
    wait_for(lambda: state()["State"] == "deleted", "deleted")
    left = consumer("ec2", "describe-network-interfaces", "--filters", f"Name=vpc-id,Values={cvpc}")
    assert left["NetworkInterfaces"] == []
    # With no live connection the provider can delete its service.
    out = provider("ec2", "delete-vpc-endpoint-service-configurations", "--service-ids", svc_id)
    assert out["Unsuccessful"] == []


def test_cli_reports_aws_error_codes(aws):
    consumer = aws(CONSUMER)
    stderr = consumer.fails("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", "vpce-zz")
    assert "InvalidVpcEndpointId.Malformed" in stderr
    stderr = consumer.fails("ec2", "describe-vpc-endpoints", "--max-results", "1")
    assert "InvalidMaxResults" in stderr
    stderr = consumer.fails(
        "ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", "vpc-0123456789abcdef0",
        "--service-name", "com.amazonaws.vpce.ap-northeast-1.vpce-svc-0123456789abcdef0",
    )
    assert "InvalidVpcID.NotFound" in stderr
    stderr = consumer.fails("elbv2", "describe-load-balancers", "--names", "missing")
    assert "LoadBalancerNotFound" in stderr


def test_aws_services_are_visible_to_every_account(aws):
    for account in (PROVIDER, CONSUMER, STRANGER):
        out = aws(account)("ec2", "describe-vpc-endpoint-services")
        details = {d["ServiceName"]: d for d in out["ServiceDetails"]}
        for short, dns in (("ec2", "ec2"), ("elasticloadbalancing", "elasticloadbalancing"), ("sts", "sts")):
            name = f"com.amazonaws.{REGION}.{short}"
            assert name in out["ServiceNames"]
            d = details[name]
            assert d["PrivateDnsName"] == f"{dns}.{REGION}.amazonaws.com"
            assert d["AcceptanceRequired"] is False
            assert d["Owner"] == "amazon"
            assert d["ServiceType"] == [{"ServiceType": "Interface"}]
            assert d["BaseEndpointDnsNames"] == [f"{short}.{REGION}.vpce.amazonaws.com"]
            assert re.fullmatch(rf"vpce-svc-{HEX17}", d["ServiceId"])
    # Asking by name narrows the answer to that service.
    one = aws(CONSUMER)("ec2", "describe-vpc-endpoint-services", "--service-names", f"com.amazonaws.{REGION}.sts")
    assert one["ServiceNames"] == [f"com.amazonaws.{REGION}.sts"]
    assert [d["ServiceName"] for d in one["ServiceDetails"]] == [f"com.amazonaws.{REGION}.sts"]
