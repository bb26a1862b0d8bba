"""TLS listeners of network load balancers, end to end with the AWS CLI:
the NLB ends TLS with a certificate of the emulator's CA issued for the
listener's certificate ARN; `curl --cacert` to the endpoint's DNS names and
to the service's private DNS name verifies and reaches nginx (plain HTTP),
which sees the NLB's address; a client that does not trust the CA fails;
the security policy decides the TLS versions; ALPN policies are offered;
ModifyListener (policy, ALPN, TCP <-> TLS) applies to new connections."""

import json
import subprocess
import urllib.request

import pytest

from backends import BODY, Nginx, free_port, require
from conftest import CONSUMER, PROVIDER, Emulator, stop_emulator, wait_for
from test_dataplane import host_block, status, to_host
from test_dns import Dig, resolver_of

ACM_ARN = "arn:aws:acm:ap-northeast-1:111111111111:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
PRIVATE_NAME = "shop.tls-listener.example"


@pytest.fixture(scope="module")
def emu():
    require("dig", "bind9-dnsutils")
    require("curl", "curl")
    require("nginx", "nginx-light")
    handle = Emulator()
    assert handle.dns_port, "the emulator printed no DNS readiness line"
    yield handle
    stop_emulator(handle)


@pytest.fixture(scope="module")
def emulator(emu):
    # conftest's `aws` and `client` fixtures follow this module's emulator.
    return emu.url


@pytest.fixture
def ca_file(emu, tmp_path):
    path = tmp_path / "privatelink-ca.pem"
    with urllib.request.urlopen(f"{emu.url}/_emulator/ca.pem", timeout=5) as r:
        path.write_bytes(r.read())
    return str(path)


def curl(url, *args, resolve=None, source=None):
    """curl as a user runs it; returns (exit code, stdout, stderr)."""
    require("curl", "curl")
    cmd = ["curl", "-s", "-S", "--max-time", "5", *args, url]
    if resolve:
        cmd[1:1] = ["--resolve", resolve]
    if source:
        cmd[1:1] = ["--interface", source]
    r = subprocess.run(cmd, capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


class Stack:
    """Provider: VPC, NLB with a TLS listener (made with the AWS CLI) to a
    TCP target group (nginx, plain HTTP), endpoint service with a private
    DNS name, verified. Consumer: VPC, security group, interface endpoint
    with private DNS. The rest is made with boto3, which starts faster."""

    def __init__(self, emu, aws, client, p, c):
        self.emu, self.p, self.client = emu, p, client
        self.provider = aws(PROVIDER)
        self.port, self.target_port = free_port(), free_port()
        ec2, elb = client("ec2", PROVIDER), client("elbv2", PROVIDER)
        self.elb = elb
        self.vpc = ec2.create_vpc(CidrBlock=f"10.{p}.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=self.vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
            for cidr, az in ((f"10.{p}.0.0/20", "ap-northeast-1a"), (f"10.{p}.128.0/20", "ap-northeast-1c"))
        ]
        lb = elb.create_load_balancer(Name=f"tls{p}", Type="network", Scheme="internal", Subnets=subnets)[
            "LoadBalancers"][0]
        self.lb_arn, self.lb_dns = lb["LoadBalancerArn"], lb["DNSName"]
        self.tg_arn = elb.create_target_group(Name=f"tls{p}", Protocol="TCP", Port=self.target_port, VpcId=self.vpc,
                                              TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
        self.target_ip = f"10.{p}.128.142"
        elb.register_targets(TargetGroupArn=self.tg_arn, Targets=[{"Id": self.target_ip, "Port": self.target_port}])
        elb.modify_load_balancer_attributes(
            LoadBalancerArn=self.lb_arn, Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}])
        self.listener_arn = self.provider(
            "elbv2", "create-listener", "--load-balancer-arn", self.lb_arn, "--protocol", "TLS", "--port",
            str(self.port), "--certificates", f"CertificateArn={ACM_ARN}",
            "--ssl-policy", "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "--default-actions", f"Type=forward,TargetGroupArn={self.tg_arn}",
        )["Listeners"][0]["ListenerArn"]
        svc = ec2.create_vpc_endpoint_service_configuration(
            NetworkLoadBalancerArns=[self.lb_arn], AcceptanceRequired=False, PrivateDnsName=PRIVATE_NAME
        )["ServiceConfiguration"]
        self.service_id, self.service_name = svc["ServiceId"], svc["ServiceName"]
        ec2.modify_vpc_endpoint_service_permissions(
            ServiceId=self.service_id, AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"])
        self.verify_private_dns_name(ec2)
        self.pblock = host_block(emu.url, self.vpc)
        self.nginx = Nginx([(to_host(self.pblock, self.target_ip, f"10.{p}"), self.target_port)])

        cs = client("ec2", CONSUMER)
        self.cvpc = cs.create_vpc(CidrBlock=f"10.{c}.0.0/16")["Vpc"]["VpcId"]
        cs.modify_vpc_attribute(VpcId=self.cvpc, EnableDnsHostnames={"Value": True})
        csubnets = [
            cs.create_subnet(VpcId=self.cvpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
            for cidr, az in ((f"10.{c}.16.0/20", "ap-northeast-1a"), (f"10.{c}.112.0/20", "ap-northeast-1c"))
        ]
        group = cs.create_security_group(GroupName="tls", Description="TLS", VpcId=self.cvpc)["GroupId"]
        cs.authorize_security_group_ingress(GroupId=group, IpProtocol="tcp", FromPort=self.port, ToPort=self.port,
                                            CidrIp=f"10.{c}.0.0/16")
        self.endpoint = cs.create_vpc_endpoint(
            VpcEndpointType="Interface", VpcId=self.cvpc, ServiceName=self.service_name, SubnetIds=csubnets,
            SecurityGroupIds=[group], PrivateDnsEnabled=True)["VpcEndpoint"]
        self.endpoint_id = self.endpoint["VpcEndpointId"]
        wait_for(lambda: cs.describe_vpc_endpoints(VpcEndpointIds=[self.endpoint_id])["VpcEndpoints"][0]["State"]
                 == "available", "endpoint available")
        self.cblock = host_block(emu.url, self.cvpc)
        self.client_host = f"127.{self.cblock}.16.99"
        self.dig = Dig(emu.dns_port)
        self.resolver = resolver_of(emu.url, self.cvpc)
        wait_for(lambda: len(self.listeners()) == 2, "the endpoint's two listeners")

    def verify_private_dns_name(self, ec2):
        """Publishes the TXT challenge in the emulator's public DNS and has
        the name verified, as the provider does on AWS."""
        conf = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[self.service_id])[
            "ServiceConfigurations"][0]["PrivateDnsNameConfiguration"]
        body = json.dumps({"name": f"{conf['Name']}.{PRIVATE_NAME}", "value": conf["Value"]}).encode()
        req = urllib.request.Request(f"{self.emu.url}/_emulator/public-dns/txt", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
        ec2.start_vpc_endpoint_service_private_dns_verification(ServiceId=self.service_id)
        state = ec2.describe_vpc_endpoint_service_configurations(ServiceIds=[self.service_id])[
            "ServiceConfigurations"][0]["PrivateDnsNameConfiguration"]["State"]
        assert state == "verified"

    def nlb_hosts(self):
        lb = self.elb.describe_load_balancers(LoadBalancerArns=[self.lb_arn])["LoadBalancers"][0]
        return {to_host(self.pblock, z["LoadBalancerAddresses"][0]["PrivateIPv4Address"], f"10.{self.p}")
                for z in lb["AvailabilityZones"]}

    def listeners(self):
        return [entry for entry in status(self.emu.url)["dataplane"]["listeners"]
                if entry["vpc_endpoint_id"] == self.endpoint_id]

    def wait_listener(self, check, what):
        """Until every listener of the endpoint shows `check(entry)`: the
        data plane has followed the change."""
        wait_for(lambda: all(check(entry) for entry in self.listeners()), what)

    def names(self):
        """The endpoint's DNS names (regional first, then zonal)."""
        return [d["DnsName"] for d in self.endpoint["DnsEntries"] if "vpce-svc-" in d["DnsName"]]

    def resolve(self, name, server="127.0.0.1"):
        """`--resolve` for curl from what the emulator's DNS answers."""
        addrs = self.dig.a(name, server=server)
        assert addrs, f"{name} does not resolve at {server}"
        return addrs[0]

    def https(self, name, *args, server="127.0.0.1"):
        addr = self.resolve(name, server)
        return curl(f"https://{name}:{self.port}/", *args, resolve=f"{name}:{self.port}:{addr}",
                    source=self.client_host)

    def close(self):
        self.nginx.stop()


@pytest.fixture
def stack(emu, aws, client):
    made = []

    def make(p, c):
        s = Stack(emu, aws, client, p, c)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_curl_verifies_the_endpoint_names_and_reaches_nginx_through_tls(stack, ca_file):
    s = stack(71, 72)
    entry = s.listeners()[0]
    assert entry["tls"]["certificate_arn"] == ACM_ARN
    names = s.names()
    assert len(names) == 3, names  # regional and two zonal names
    for name in names:
        code, out, err = s.https(name, "--cacert", ca_file)
        assert code == 0, f"{name}: {err}"
        assert out == BODY
    # The private DNS name, resolved by the consumer VPC's resolver.
    code, out, err = s.https(PRIVATE_NAME, "--cacert", ca_file, server=s.resolver)
    assert (code, out) == (0, BODY), err
    seen = s.nginx.clients()
    assert len(seen) == 4
    assert set(seen) <= s.nlb_hosts(), (seen, s.nlb_hosts())
    assert s.client_host not in seen

    # Without the emulator's CA the certificate does not verify (curl 60),
    # and nothing reaches the target.
    code, _, err = s.https(names[0])
    assert code == 60, err
    # Nor does a name the certificate does not carry.
    addr = s.resolve(names[0])
    code, _, err = curl(f"https://other.example:{s.port}/", "--cacert", ca_file,
                        resolve=f"other.example:{s.port}:{addr}", source=s.client_host)
    assert code == 60, err
    assert len(s.nginx.clients()) == 4
    # Plain HTTP to a TLS listener is no request at all.
    code, _, _ = curl(f"http://{addr}:{s.port}/", source=s.client_host)
    assert code != 0
    assert len(s.nginx.clients()) == 4


def test_security_policy_alpn_and_protocol_follow_modify_listener(stack, ca_file):
    s = stack(73, 74)
    name = s.names()[0]
    pv = s.provider
    # TLS13-1-2 allows TLS 1.2 and 1.3.
    assert s.https(name, "--cacert", ca_file, "--tls-max", "1.2")[:2] == (0, BODY)
    assert s.https(name, "--cacert", ca_file, "--tlsv1.3")[:2] == (0, BODY)

    # TLS13-1-3 allows only 1.3: a client capped at 1.2 is refused (curl 35).
    pv("elbv2", "modify-listener", "--listener-arn", s.listener_arn,
       "--ssl-policy", "ELBSecurityPolicy-TLS13-1-3-2021-06")
    s.wait_listener(lambda e: e["tls"]["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-3-2021-06", "policy applied")
    code, _, err = s.https(name, "--cacert", ca_file, "--tls-max", "1.2")
    assert code == 35, err
    code, out, err = s.https(name, "--cacert", ca_file, "-v")
    assert (code, out) == (0, BODY), err
    assert "SSL connection using TLSv1.3" in err

    # ALPN: HTTP1Only agrees on HTTP/1.1 even with a client offering h2;
    # HTTP2Only refuses a client that offers HTTP/1.1 only.
    pv("elbv2", "modify-listener", "--listener-arn", s.listener_arn, "--alpn-policy", "HTTP1Only")
    s.wait_listener(lambda e: e["tls"]["alpn_policy"] == "HTTP1Only", "ALPN policy applied")
    code, out, err = s.https(name, "--cacert", ca_file, "--http2", "-o", "/dev/null", "-w", "%{http_version}")
    assert (code, out) == (0, "1.1"), err
    pv("elbv2", "modify-listener", "--listener-arn", s.listener_arn, "--alpn-policy", "HTTP2Only")
    s.wait_listener(lambda e: e["tls"]["alpn_policy"] == "HTTP2Only", "ALPN policy applied")
    code, _, err = s.https(name, "--cacert", ca_file, "--http1.1")
    assert code == 35, err

    # TLS -> TCP: the same port now carries plain HTTP, and TLS no longer.
    pv("elbv2", "modify-listener", "--listener-arn", s.listener_arn, "--protocol", "TCP")
    s.wait_listener(lambda e: e["tls"] is None, "TCP listener")
    addr = s.resolve(name)
    code, out, err = curl(f"http://{name}:{s.port}/", resolve=f"{name}:{s.port}:{addr}", source=s.client_host)
    assert (code, out) == (0, BODY), err
    assert s.https(name, "--cacert", ca_file)[0] != 0

    # TCP -> TLS with another certificate: TLS again, for new connections.
    other = "arn:aws:acm:ap-northeast-1:111111111111:certificate/11111111-2222-3333-4444-555555555555"
    pv("elbv2", "modify-listener", "--listener-arn", s.listener_arn, "--protocol", "TLS",
       "--certificates", f"CertificateArn={other}", "--ssl-policy", "ELBSecurityPolicy-TLS13-1-2-2021-06")
    s.wait_listener(lambda e: (e["tls"] or {}).get("certificate_arn") == other, "TLS listener")
    assert s.https(name, "--cacert", ca_file)[:2] == (0, BODY)
    assert curl(f"http://{name}:{s.port}/", resolve=f"{name}:{s.port}:{addr}", source=s.client_host)[0] != 0


def test_a_client_in_the_provider_vpc_reaches_the_nlb_by_its_name(stack, ca_file):
    s = stack(75, 76)
    # A host in the provider's VPC (10.75.5.9), without any endpoint.
    host = f"127.{s.pblock}.5.9"
    nodes = s.nlb_hosts()
    assert sorted(s.dig.a(s.lb_dns)) == sorted(nodes), "the NLB's name answers its nodes"
    for node in sorted(nodes):
        code, out, err = curl(f"https://{s.lb_dns}:{s.port}/", "--cacert", ca_file,
                              resolve=f"{s.lb_dns}:{s.port}:{node}", source=host)
        assert (code, out) == (0, BODY), err
    seen = s.nginx.clients()
    assert len(seen) == 2 and set(seen) <= nodes and host not in seen, seen
    # The same checks as through an endpoint: the CA, the policy.
    code, _, err = curl(f"https://{s.lb_dns}:{s.port}/", resolve=f"{s.lb_dns}:{s.port}:{min(nodes)}", source=host)
    assert code == 60, err
    s.provider("elbv2", "modify-listener", "--listener-arn", s.listener_arn,
               "--ssl-policy", "ELBSecurityPolicy-TLS13-1-3-2021-06")
    wait_for(lambda: all((e["tls"] or {}).get("ssl_policy") == "ELBSecurityPolicy-TLS13-1-3-2021-06"
                         for e in nlb_listeners(s)), "policy applied at the nodes")
    code, _, err = curl(f"https://{s.lb_dns}:{s.port}/", "--cacert", ca_file, "--tls-max", "1.2",
                        resolve=f"{s.lb_dns}:{s.port}:{min(nodes)}", source=host)
    assert code == 35, err
    assert len(s.nginx.clients()) == 2
    # Gone with the load balancer: no listener, no name.
    s.client("ec2", CONSUMER).delete_vpc_endpoints(VpcEndpointIds=[s.endpoint_id])
    provider_ec2 = s.client("ec2", PROVIDER)
    wait_for(lambda: provider_ec2.delete_vpc_endpoint_service_configurations(ServiceIds=[s.service_id])[
        "Unsuccessful"] == [], "the service deleted once its endpoint is")

    def delete_nlb():
        try:
            s.elb.delete_load_balancer(LoadBalancerArn=s.lb_arn)
            return True
        except s.elb.exceptions.ResourceInUseException:
            return False

    wait_for(delete_nlb, "the NLB deleted once its service is")
    wait_for(lambda: not nlb_listeners(s), "the nodes' listeners closed")
    wait_for(lambda: s.dig.a(s.lb_dns) == [], "the NLB's name gone")


def nlb_listeners(s):
    return [e for e in status(s.emu.url)["dataplane"]["load_balancer_listeners"]
            if e["load_balancer_arn"] == s.lb_arn]


def test_latency_and_bandwidth_faults_slow_flows_of_a_tls_listener(stack, ca_file):
    """Injected latency and a bandwidth limit pace a TLS listener's flows as
    they pace plain ones: on the bytes in the clear, once the node has ended
    the client's TLS. Lower bounds only: a behaviour, not a speed claim."""
    from test_fault_injection import cli

    s = stack(77, 78)
    name, url = s.names()[0], s.emu.url
    timing = ("-o", "/dev/null", "-w", "%{time_appconnect} %{time_total}")

    def timed(*args):
        code, out, err = s.https(name, "--cacert", ca_file, *timing, *args)
        assert code == 0, err
        appconnect, total = map(float, out.split())
        return appconnect, total

    timed()
    cli(url, "fault", "latency", "--endpoint", s.endpoint_id, "--ms", "300")
    try:
        appconnect, total = timed()
        # The request waits 300 ms on its way in, the answer 300 ms back.
        assert total - appconnect >= 0.6, (appconnect, total)
        assert len(s.nginx.clients()) == 2
    finally:
        cli(url, "fault", "clear")
    appconnect, total = timed()
    assert total - appconnect < 0.6, "the cleared fault still slows the flow"

    # 10,000 bytes a second: 21 kB of request headers take two seconds to
    # reach nginx, which answers only once it has them all.
    cli(url, "fault", "bandwidth", "--endpoint", s.endpoint_id, "--bytes-per-second", "10000")
    try:
        headers = [a for i in range(3) for a in ("-H", f"X-Pad-{i}: {'p' * 7000}")]
        appconnect, total = timed(*headers)
        assert total - appconnect >= 1.5, (appconnect, total)
    finally:
        cli(url, "fault", "clear")
    assert len(s.nginx.clients()) == 4
