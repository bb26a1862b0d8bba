"""Interface mode in network namespaces: the seed walkthrough with real
addresses. The provider VPC 10.0.0.0/16 and the consumer VPC 10.24.0.0/16
are namespaces joined to the emulator's namespace by veth pairs (no route
out anywhere); the emulator adds its simulated addresses to its ends through
netlink. From the consumer host, `dig` is answered by SERVER 10.24.0.2#53
with the endpoint's two ENI addresses, `curl` on the endpoint's name reaches
nginx in the provider VPC, and nginx logs the NLB's address in the provider
VPC as the client."""

import ipaddress
import json
import os
import re

import pytest

from backends import BODY, Nginx
from conftest import CONSUMER, PROVIDER, Aws, Emulator, wait_for
from netns import Namespaces, require_netns

PROVIDER_CIDR = "10.0.0.0/16"
CONSUMER_CIDR = "10.24.0.0/16"
TARGET = "10.0.128.142"
CONSUMER_HOST = "10.24.20.251"


@pytest.fixture
def vpcs():
    """Three namespaces: the emulator's (`emu`), the provider VPC's target
    host (`prov`) and the consumer VPC's host (`cons`)."""
    require_netns()
    ns = Namespaces("f1")
    try:
        emu, prov, cons = ns.add("emu"), ns.add("prov"), ns.add("cons")
        ns.veth(emu, "vpc-provider", prov, "eth0")
        ns.veth(emu, "vpc-consumer", cons, "eth0")
        ns.address(prov, "eth0", f"{TARGET}/16")
        ns.address(cons, "eth0", f"{CONSUMER_HOST}/16")
        # The consumer host's resolver is its VPC's: base + 2.
        ns.resolv_conf(cons, "10.24.0.2")
        yield ns, emu, prov, cons
    finally:
        ns.close()


def emulator_in(ns, emu):
    return Emulator(
        ["--attach", f"{PROVIDER_CIDR}=vpc-provider", "--attach", f"{CONSUMER_CIDR}=vpc-consumer"],
        prefix=ns.exec(emu),
    )


def provider_side(aws, consumer_account):
    """VPC and two subnets, then the service (`publish_service`)."""
    vpc = aws("ec2", "create-vpc", "--cidr-block", PROVIDER_CIDR)["Vpc"]["VpcId"]
    subnets = [
        aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", cidr, "--availability-zone", az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.0.128.0/20", "ap-northeast-1a"), ("10.0.144.0/20", "ap-northeast-1c"))
    ]
    return publish_service(aws, vpc, subnets, consumer_account, "provider")


def publish_service(aws, vpc, subnets, consumer_account, name):
    """Internal NLB in `subnets` (cross-zone on), target group with the
    nginx host, listener on 80, endpoint service with acceptance required,
    the consumer's account allowed. Returns the service and the NLB's node
    addresses."""
    lb = aws("elbv2", "create-load-balancer", "--name", f"{name}-nlb", "--type", "network", "--scheme", "internal",
             "--subnets", *subnets)["LoadBalancers"][0]
    tg = aws("elbv2", "create-target-group", "--name", f"{name}-web", "--protocol", "TCP", "--port", "80",
             "--vpc-id", vpc, "--target-type", "ip")["TargetGroups"][0]["TargetGroupArn"]
    aws("elbv2", "register-targets", "--target-group-arn", tg, "--targets", f"Id={TARGET},Port=80")
    aws("elbv2", "create-listener", "--load-balancer-arn", lb["LoadBalancerArn"], "--protocol", "TCP", "--port", "80",
        "--default-actions", f"Type=forward,TargetGroupArn={tg}")
    aws("elbv2", "modify-load-balancer-attributes", "--load-balancer-arn", lb["LoadBalancerArn"],
        "--attributes", "Key=load_balancing.cross_zone.enabled,Value=true")
    service = aws("ec2", "create-vpc-endpoint-service-configuration", "--network-load-balancer-arns",
                  lb["LoadBalancerArn"], "--acceptance-required")["ServiceConfiguration"]
    aws("ec2", "modify-vpc-endpoint-service-permissions", "--service-id", service["ServiceId"],
        "--add-allowed-principals", f"arn:aws:iam::{consumer_account}:root")
    nodes = aws("elbv2", "describe-load-balancers", "--load-balancer-arns", lb["LoadBalancerArn"])
    node_ips = {z["LoadBalancerAddresses"][0]["PrivateIPv4Address"] for z in nodes["LoadBalancers"][0]["AvailabilityZones"]}
    return service, node_ips


def consumer_side(aws, service_name):
    """VPC and two subnets, then the endpoint (`request_endpoint`)."""
    vpc = aws("ec2", "create-vpc", "--cidr-block", CONSUMER_CIDR)["Vpc"]["VpcId"]
    subnets = {
        aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", cidr, "--availability-zone", az)["Subnet"]["SubnetId"]: cidr
        for cidr, az in (("10.24.16.0/20", "ap-northeast-1a"), ("10.24.112.0/20", "ap-northeast-1c"))
    }
    return request_endpoint(aws, vpc, list(subnets), service_name), subnets


def request_endpoint(aws, vpc, subnets, service_name):
    """A security group admitting port 80 from the VPC and an interface
    endpoint to the service in `subnets`."""
    sg = aws("ec2", "create-security-group", "--group-name", "endpoint", "--description", "HTTP from the VPC",
             "--vpc-id", vpc)["GroupId"]
    aws("ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "80",
        "--cidr", CONSUMER_CIDR)
    return aws("ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", vpc, "--service-name",
               service_name, "--subnet-ids", *subnets, "--security-group-ids", sg)["VpcEndpoint"]


def accept(provider, consumer, service, ep):
    """The provider accepts; once the consumer sees `available`, its ENIs."""
    provider("ec2", "accept-vpc-endpoint-connections", "--service-id", service["ServiceId"],
             "--vpc-endpoint-ids", ep["VpcEndpointId"])
    wait_for(lambda: consumer("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"])
             ["VpcEndpoints"][0]["State"] == "available", "endpoint available", timeout=30)
    return consumer("ec2", "describe-network-interfaces", "--network-interface-ids",
                    *ep["NetworkInterfaceIds"])["NetworkInterfaces"]


def dig_answers(out):
    """(name, ttl, address) of every A record in dig's ANSWER SECTION."""
    section = out.split(";; ANSWER SECTION:", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in section.strip().splitlines():
        name, ttl, _cls, rtype, value = line.split()
        if rtype == "A":
            rows.append((name, int(ttl), value))
    return rows


def test_seed_flow_1_in_namespaces(vpcs):
    ns, emu_ns, prov, cons = vpcs
    nginx = Nginx([(TARGET, 80)], prefix=ns.exec(prov))
    emu = emulator_in(ns, emu_ns)
    try:
        logged_before = len(nginx.clients())
        provider = Aws(emu.url, PROVIDER, prefix=ns.exec(emu_ns))
        consumer = Aws(emu.url, CONSUMER, prefix=ns.exec(emu_ns))
        service, node_ips = provider_side(provider, CONSUMER)
        assert all(ipaddress.ip_address(ip) in ipaddress.ip_network(PROVIDER_CIDR) for ip in node_ips)

        ep, subnets = consumer_side(consumer, service["ServiceName"])
        assert ep["State"] == "pendingAcceptance"
        pending = provider("ec2", "describe-vpc-endpoint-connections", "--filters",
                           f"Name=service-id,Values={service['ServiceId']}")["VpcEndpointConnections"]
        assert [c["VpcEndpointState"] for c in pending] == ["pendingAcceptance"]
        enis = accept(provider, consumer, service, ep)
        eni_ips = sorted(e["PrivateIpAddress"] for e in enis)
        for e in enis:
            assert ipaddress.ip_address(e["PrivateIpAddress"]) in ipaddress.ip_network(subnets[e["SubnetId"]])
        name = ep["DnsEntries"][0]["DnsName"]
        assert re.fullmatch(r"vpce-[0-9a-f]{17}-[0-9a-z]{8}\.vpce-svc-[0-9a-f]{17}\.ap-northeast-1\.vpce\.amazonaws\.com",
                            name), name

        # The emulator's side of the consumer VPC carries the resolver and
        # both ENI addresses; the provider side the NLB's node addresses.
        on_consumer = wait_for(lambda: (a := set(ns.addresses(emu_ns, "vpc-consumer"))) >= {
            "10.24.0.2/16", *(f"{ip}/16" for ip in eni_ips)} and a, "addresses on the consumer interface")
        assert on_consumer == {"10.24.0.2/16", *(f"{ip}/16" for ip in eni_ips)}
        wait_for(lambda: set(ns.addresses(emu_ns, "vpc-provider")) >= {f"{ip}/16" for ip in node_ips},
                 "NLB node addresses on the provider interface")

        # From the consumer host, as in the walkthrough.
        dig = wait_for(lambda: (r := ns.run(cons, "dig", name, check=False)).returncode == 0
                       and "ANSWER SECTION" in r.stdout and r.stdout, "dig answered")
        assert ";; SERVER: 10.24.0.2#53(10.24.0.2)" in dig, dig
        assert ";; flags: qr rd ra;" in dig, dig
        answers = dig_answers(dig)
        assert sorted(a[2] for a in answers) == eni_ips, dig
        assert {a[1] for a in answers} == {60} and {a[0] for a in answers} == {name + "."}

        curl = wait_for(lambda: (r := ns.run(cons, "curl", "-s", "--max-time", "5", f"http://{name}/",
                                             check=False)).returncode == 0 and r.stdout, "curl through the endpoint")
        assert curl == BODY
        curl2 = ns.run(cons, "curl", "-s", "--max-time", "5", f"http://{name}/").stdout
        assert curl2 == BODY

        clients = wait_for(lambda: nginx.clients()[logged_before:], "access log lines")
        assert set(clients) <= node_ips, f"nginx saw {clients}, NLB nodes are {node_ips}"
        assert CONSUMER_HOST not in clients

        # A host in the provider's VPC reaches the NLB itself by its name,
        # which the VPC's resolver answers with the nodes' addresses.
        lb_dns = provider("elbv2", "describe-load-balancers")["LoadBalancers"][0]["DNSName"]
        dig = ns.run(prov, "dig", "@10.0.0.2", lb_dns).stdout
        assert sorted(a[2] for a in dig_answers(dig)) == sorted(node_ips), dig
        node = min(node_ips)
        before = len(nginx.clients())
        r = ns.run(prov, "curl", "-s", "--max-time", "5", "--resolve", f"{lb_dns}:80:{node}", f"http://{lb_dns}/")
        assert r.stdout == BODY
        assert wait_for(lambda: nginx.clients()[before:], "access log line") == [node], "the node it connected to"
        status = emu.get("/_emulator/status")["netplane"]
        assert {a["interface"] for a in status["attachments"]} == {"vpc-provider", "vpc-consumer"}
        assert status["failures"] == []
    finally:
        nginx.stop()
        code = emu.stop()
    log = emu.log_text()
    os.unlink(emu.log.name)
    assert code == 0, log[-3000:]
    assert "panicked" not in log
    # Shut down, the emulator took back every address it had added.
    assert ns.addresses(emu_ns, "vpc-consumer") == []
    assert ns.addresses(emu_ns, "vpc-provider") == []


def consumer_cli(ns, cons, ca_bundle, *args):
    """The AWS CLI on the consumer host, as the consumer account, with the
    region and nothing else configured: what a private instance runs."""
    env = Aws("unused", CONSUMER).env()
    env.update(AWS_DEFAULT_REGION="ap-northeast-1", AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")
    env.pop("AWS_ENDPOINT_URL", None)
    if ca_bundle:
        env["AWS_CA_BUNDLE"] = ca_bundle
    return ns.run(cons, "aws", "--output", "json", "--cli-connect-timeout", "3", *args, check=False, env=env,
                  timeout=120)


def test_seed_flow_2_aws_service_endpoints_over_tls(vpcs, tmp_path):
    ns, emu_ns, _prov, cons = vpcs
    emu = emulator_in(ns, emu_ns)
    try:
        ca = tmp_path / "privatelink-ca.pem"
        r = ns.run(emu_ns, "curl", "-sf", f"{emu.url}/_emulator/ca.pem")
        ca.write_text(r.stdout)
        assert r.stdout.startswith("-----BEGIN CERTIFICATE-----")

        consumer = Aws(emu.url, CONSUMER, prefix=ns.exec(emu_ns))
        vpc = consumer("ec2", "create-vpc", "--cidr-block", CONSUMER_CIDR)["Vpc"]["VpcId"]
        consumer("ec2", "modify-vpc-attribute", "--vpc-id", vpc, "--enable-dns-hostnames", '{"Value":true}')
        subnets = [
            consumer("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", cidr, "--availability-zone", az)
            ["Subnet"]["SubnetId"]
            for cidr, az in (("10.24.16.0/20", "ap-northeast-1a"), ("10.24.112.0/20", "ap-northeast-1c"))
        ]
        # A private host with no way out: the EC2 API is out of reach.
        before = consumer_cli(ns, cons, str(ca), "ec2", "describe-availability-zones")
        assert before.returncode != 0
        assert "Could not connect to the endpoint URL" in before.stderr, before.stderr

        sg = consumer("ec2", "create-security-group", "--group-name", "https", "--description", "HTTPS from the VPC",
                      "--vpc-id", vpc)["GroupId"]
        consumer("ec2", "authorize-security-group-ingress", "--group-id", sg, "--protocol", "tcp", "--port", "443",
                 "--cidr", CONSUMER_CIDR)
        ec2_ep = consumer("ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", vpc,
                          "--service-name", "com.amazonaws.ap-northeast-1.ec2", "--subnet-ids", *subnets,
                          "--security-group-ids", sg, "--private-dns-enabled")["VpcEndpoint"]
        elb_ep = consumer("ec2", "create-vpc-endpoint", "--vpc-endpoint-type", "Interface", "--vpc-id", vpc,
                          "--service-name", "com.amazonaws.ap-northeast-1.elasticloadbalancing", "--subnet-ids",
                          *subnets, "--security-group-ids", sg, "--no-private-dns-enabled")["VpcEndpoint"]
        for ep in (ec2_ep, elb_ep):
            wait_for(lambda: consumer("ec2", "describe-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"])
                     ["VpcEndpoints"][0]["State"] == "available", "endpoint available", timeout=20)
        enis = consumer("ec2", "describe-network-interfaces", "--network-interface-ids",
                        *ec2_ep["NetworkInterfaceIds"])["NetworkInterfaces"]
        eni_ips = sorted(e["PrivateIpAddress"] for e in enis)

        # Inside the VPC the service's own name resolves to the endpoint.
        dig = wait_for(lambda: (r := ns.run(cons, "dig", "ec2.ap-northeast-1.amazonaws.com", check=False))
                       .returncode == 0 and "ANSWER SECTION" in r.stdout and r.stdout, "private DNS name answered")
        assert ";; SERVER: 10.24.0.2#53(10.24.0.2)" in dig
        assert sorted(a[2] for a in dig_answers(dig)) == eni_ips, dig

        # The very same command now answers, over TLS to the endpoint.
        after = wait_for(lambda: (r := consumer_cli(ns, cons, str(ca), "ec2", "describe-availability-zones"))
                         .returncode == 0 and r, "describe-availability-zones through the endpoint", timeout=20)
        zones = json.loads(after.stdout)["AvailabilityZones"]
        assert {"ap-northeast-1a", "ap-northeast-1c"} <= {z["ZoneName"] for z in zones}
        assert {z["RegionName"] for z in zones} == {"ap-northeast-1"}
        assert {z["State"] for z in zones} == {"available"}
        # As the calling account: the consumer sees its own VPC.
        mine = consumer_cli(ns, cons, str(ca), "ec2", "describe-vpcs")
        assert mine.returncode == 0, mine.stderr
        assert [v["VpcId"] for v in json.loads(mine.stdout)["Vpcs"]] == [vpc]

        # Without the local CA, the certificate is refused.
        untrusted = consumer_cli(ns, cons, None, "ec2", "describe-availability-zones")
        assert untrusted.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr, untrusted.stderr

        # Without private DNS: the endpoint's own name as --endpoint-url.
        for ep, args in ((ec2_ep, ["ec2", "describe-availability-zones"]),
                         (elb_ep, ["elbv2", "describe-load-balancers"])):
            name = ep["DnsEntries"][0]["DnsName"]
            r = consumer_cli(ns, cons, str(ca), "--endpoint-url", f"https://{name}", *args)
            assert r.returncode == 0, f"{name}: {r.stderr}"
            assert json.loads(r.stdout)
        elb_name = elb_ep["DnsEntries"][0]["DnsName"]
        lbs = json.loads(consumer_cli(ns, cons, str(ca), "--endpoint-url", f"https://{elb_name}", "elbv2",
                                      "describe-load-balancers").stdout)
        assert lbs["LoadBalancers"] == []
        # Its service's own name is not taken over in the VPC.
        no_private = ns.run(cons, "dig", "+short", "elasticloadbalancing.ap-northeast-1.amazonaws.com", check=False)
        assert no_private.stdout.strip() == ""
    finally:
        code = emu.stop()
    log = emu.log_text()
    os.unlink(emu.log.name)
    assert code == 0, log[-3000:]
    assert "panicked" not in log


def test_restart_after_sigkill_takes_over_the_interface_addresses(vpcs, tmp_path):
    """Interface mode with --state-dir, killed with SIGKILL: the process
    started after it lists the addresses left on the interfaces as its own,
    removes those whose resources go, and leaves none behind at shutdown."""
    ns, emu_ns, prov, cons = vpcs
    state = str(tmp_path / "state")
    args = ["--attach", f"{PROVIDER_CIDR}=vpc-provider", "--attach", f"{CONSUMER_CIDR}=vpc-consumer",
            "--state-dir", state]
    emu = Emulator(args, prefix=ns.exec(emu_ns))
    emu2 = None
    try:
        provider = Aws(emu.url, PROVIDER, prefix=ns.exec(emu_ns))
        consumer = Aws(emu.url, CONSUMER, prefix=ns.exec(emu_ns))
        service, node_ips = provider_side(provider, CONSUMER)
        ep, _ = consumer_side(consumer, service["ServiceName"])
        eni_ips = sorted(e["PrivateIpAddress"] for e in accept(provider, consumer, service, ep))
        want = {"10.24.0.2/16", *(f"{ip}/16" for ip in eni_ips)}
        wait_for(lambda: set(ns.addresses(emu_ns, "vpc-consumer")) == want, "addresses on the consumer interface")
        emu.get("/_emulator/ready?revision=0")
        os.killpg(emu.proc.pid, 9)
        emu.stop()
        os.unlink(emu.log.name)
        # The killed process removed nothing.
        assert set(ns.addresses(emu_ns, "vpc-consumer")) == want

        emu2 = Emulator(args, prefix=ns.exec(emu_ns))
        emu2.get("/_emulator/ready")
        status = emu2.get("/_emulator/status")["netplane"]
        listed = {a for att in status["attachments"] if att["interface"] == "vpc-consumer" for a in att["addresses"]}
        assert listed == want, status
        assert status["failures"] == []

        consumer = Aws(emu2.url, CONSUMER, prefix=ns.exec(emu_ns))
        consumer("ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"])
        wait_for(lambda: set(ns.addresses(emu_ns, "vpc-consumer")) == {"10.24.0.2/16"},
                 "the deleted endpoint's addresses removed")
        code = emu2.stop()
        log = emu2.log_text()
        os.unlink(emu2.log.name)
        emu2 = None
        assert code == 0 and "panicked" not in log, log[-3000:]
        assert ns.addresses(emu_ns, "vpc-consumer") == []
        assert ns.addresses(emu_ns, "vpc-provider") == []
    finally:
        for e in (emu, emu2):
            if e is not None and e.proc.poll() is None:
                e.stop()


def test_private_hosted_zone_name_in_namespaces(vpcs):
    """A private hosted zone associated with the consumer VPC: the host's
    resolver (10.24.0.2) answers the zone's alias to the endpoint with the
    ENI addresses, `curl http://api.internal.example.com/` reaches nginx
    through the endpoint, and the alias empties when the endpoint goes."""
    ns, emu_ns, prov, cons = vpcs
    nginx = Nginx([(TARGET, 80)], prefix=ns.exec(prov))
    emu = emulator_in(ns, emu_ns)
    try:
        provider = Aws(emu.url, PROVIDER, prefix=ns.exec(emu_ns))
        consumer = Aws(emu.url, CONSUMER, prefix=ns.exec(emu_ns))
        service, node_ips = provider_side(provider, CONSUMER)
        ep, _ = consumer_side(consumer, service["ServiceName"])
        eni_ips = sorted(e["PrivateIpAddress"] for e in accept(provider, consumer, service, ep))
        vpc = ep["VpcId"]
        consumer("ec2", "modify-vpc-attribute", "--vpc-id", vpc, "--enable-dns-hostnames", '{"Value":true}')
        zone = consumer("route53", "create-hosted-zone", "--name", "internal.example.com", "--caller-reference",
                        "netns-zone", "--vpc", f"VPCRegion=ap-northeast-1,VPCId={vpc}")["HostedZone"]["Id"]
        entry = ep["DnsEntries"][0]
        alias = {"Name": "api.internal.example.com", "Type": "A", "AliasTarget": {
            "HostedZoneId": entry["HostedZoneId"], "DNSName": entry["DnsName"], "EvaluateTargetHealth": False}}
        consumer("route53", "change-resource-record-sets", "--hosted-zone-id", zone, "--change-batch",
                 json.dumps({"Changes": [{"Action": "CREATE", "ResourceRecordSet": alias}]}))

        dig = wait_for(lambda: (r := ns.run(cons, "dig", "api.internal.example.com", check=False)).returncode == 0
                       and "ANSWER SECTION" in r.stdout and r.stdout, "the zone's name answered")
        assert ";; SERVER: 10.24.0.2#53(10.24.0.2)" in dig, dig
        assert sorted(a[2] for a in dig_answers(dig)) == eni_ips, dig
        assert {a[1] for a in dig_answers(dig)} == {60}
        # Outside the zone's VPC (the provider's), the name does not exist.
        assert "status: NXDOMAIN" in ns.run(prov, "dig", "@10.0.0.2", "api.internal.example.com").stdout

        before = len(nginx.clients())
        curl = wait_for(lambda: (r := ns.run(cons, "curl", "-s", "--max-time", "5", "http://api.internal.example.com/",
                                             check=False)).returncode == 0 and r.stdout, "curl by the zone's name")
        assert curl == BODY
        clients = wait_for(lambda: nginx.clients()[before:], "access log lines")
        assert set(clients) <= node_ips and CONSUMER_HOST not in clients

        consumer("ec2", "delete-vpc-endpoints", "--vpc-endpoint-ids", ep["VpcEndpointId"])
        empty = wait_for(lambda: (r := ns.run(cons, "dig", "api.internal.example.com", check=False).stdout)
                         and "ANSWER SECTION" not in r and r, "the alias empties")
        assert "status: NOERROR" in empty, empty
    finally:
        nginx.stop()
        code = emu.stop()
    log = emu.log_text()
    os.unlink(emu.log.name)
    assert code == 0, log[-3000:]
    assert "panicked" not in log
