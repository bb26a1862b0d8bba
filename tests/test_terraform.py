"""Terraform, end to end: the real `terraform` CLI with the hashicorp/aws
provider applies a whole PrivateLink stack written as a user would
(tests/terraform/stack: two accounts as two aliased providers, with a
private Route 53 zone giving the endpoint a friendly name and shared with
the other account's VPC), a second plan shows no change, changes apply in
place, traffic goes through the endpoint Terraform made to nginx (which
sees the NLB's address), the zone's name resolves at both VPCs' resolvers
and curl by it reaches nginx, and `terraform destroy` leaves nothing
behind.

No registry is reachable from these machines: the provider comes from a
local filesystem mirror (the folder holding `registry.terraform.io/...`),
found under TF_PLUGIN_MIRROR or the usual plugin folders. Where terraform
or the mirror is missing, the test skips and says so: nothing can install
them here."""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from backends import BODY, Nginx, free_port, require
from conftest import CONSUMER, PROVIDER, REGION, start_emulator, stop_emulator, wait_for
from test_dataplane import curl, host_block, status, to_host

STACK = Path(__file__).resolve().parent / "terraform" / "stack"
PROVIDER_VERSION = "5.100.0"
MIRROR_ROOTS = [
    os.environ.get("TF_PLUGIN_MIRROR", ""),
    "/opt/tf-plugins",
    "/usr/local/share/terraform/plugins",
    "/usr/share/terraform/plugins",
    str(Path.home() / ".terraform.d" / "plugins"),
    str(Path.home() / ".local" / "share" / "terraform" / "plugins"),
]


def find_mirror():
    """The mirror root: the folder above registry.terraform.io that holds the
    provider binary `terraform-provider-aws_*` of the pinned version."""
    for root in filter(None, MIRROR_ROOTS):
        base = Path(root) / "registry.terraform.io" / "hashicorp" / "aws" / PROVIDER_VERSION
        if any(base.glob("*/terraform-provider-aws_*")):
            return Path(root)
    return None


def prerequisites():
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not on PATH (no registry can provide it here); the Terraform test needs terraform 1.x")
    mirror = find_mirror()
    if mirror is None:
        pytest.skip(
            f"no filesystem mirror holds hashicorp/aws {PROVIDER_VERSION} (terraform-provider-aws_*); "
            "set TF_PLUGIN_MIRROR to the folder above registry.terraform.io"
        )
    return mirror


class Terraform:
    """The terraform CLI in a working copy of the stack, timing each stage."""

    def __init__(self, workdir, mirror, variables):
        self.dir = workdir
        self.vars = dict(variables)
        self.times = {}
        config = workdir / "cli.tfrc"
        config.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/aws"]\n  }}\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
            "}\n"
        )
        self.env = dict(os.environ)
        self.env.update(TF_CLI_CONFIG_FILE=str(config), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
        for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            self.env.pop(k, None)

    def run(self, stage, *args, ok=(0,)):
        # Options go before a saved plan's file name, the one positional argument.
        command, rest = args[0], list(args[1:])
        plan_file = rest.pop() if rest and rest[-1] == "tfplan" and command == "apply" else None
        argv = ["terraform", command, *rest, "-no-color"]
        if command in ("init", "apply", "plan", "destroy"):
            argv.append("-input=false")
        if command in ("plan", "destroy") or (command == "apply" and plan_file is None):
            argv += [f"-var={k}={v}" for k, v in self.vars.items()]
        if plan_file:
            argv.append(plan_file)
        started = time.monotonic()
        r = subprocess.run(argv, cwd=self.dir, env=self.env, capture_output=True, text=True, timeout=900)
        self.times[stage] = round(time.monotonic() - started, 1)
        assert r.returncode in ok, f"terraform {' '.join(args)} exited {r.returncode}:\n{r.stdout[-6000:]}\n{r.stderr[-6000:]}"
        return r

    def output(self):
        r = self.run("output", "output", "-json")
        return {k: v["value"] for k, v in json.loads(r.stdout).items()}

    def planned_actions(self, stage):
        """Resource address -> actions of a saved plan."""
        self.run(stage, "plan", "-out=tfplan")
        shown = subprocess.run(
            ["terraform", "show", "-json", "tfplan"], cwd=self.dir, env=self.env, capture_output=True, text=True,
            check=True,
        )
        plan = json.loads(shown.stdout)
        return {
            rc["address"]: rc["change"]["actions"]
            for rc in plan.get("resource_changes", [])
            if rc["change"]["actions"] != ["no-op"]
        }


@pytest.fixture(scope="module")
def tf_emulator():
    emu, url = start_emulator()
    yield emu, url
    stop_emulator(emu)


def everything(client):
    """What each account holds, as lists of ids, through the API."""
    held = {}
    for account in (PROVIDER, CONSUMER):
        ec2 = client("ec2", account)
        elb = client("elbv2", account)
        held[account] = {
            "vpcs": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]],
            "subnets": [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]],
            "security_groups": [g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]],
            "route_tables": [t["RouteTableId"] for t in ec2.describe_route_tables()["RouteTables"]],
            "endpoints": [
                e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"] != "deleted"
            ],
            "services": [s["ServiceId"] for s in ec2.describe_vpc_endpoint_service_configurations()["ServiceConfigurations"]],
            "notifications": [
                n["ConnectionNotificationId"]
                for n in ec2.describe_vpc_endpoint_connection_notifications()["ConnectionNotificationSet"]
            ],
            "network_interfaces": [n["NetworkInterfaceId"] for n in ec2.describe_network_interfaces()["NetworkInterfaces"]],
            "load_balancers": [lb["LoadBalancerArn"] for lb in elb.describe_load_balancers()["LoadBalancers"]],
            "target_groups": [t["TargetGroupArn"] for t in elb.describe_target_groups()["TargetGroups"]],
            "hosted_zones": [z["Id"] for z in client("route53", account).list_hosted_zones()["HostedZones"]],
        }
    return held


def check_friendly_name(c, out):
    """The Route 53 side of the stack through the API: the consumer's private
    zone answers in its VPC and the provider's, the alias names the endpoint's
    regional name, the provider's VPC joined through an authorization."""
    zone_id = out["zone_id"]
    consumer, provider = c("route53", CONSUMER), c("route53", PROVIDER)
    zone = consumer.get_hosted_zone(Id=zone_id)
    assert zone["HostedZone"]["Name"] == "internal.example.com."
    assert zone["HostedZone"]["Config"] == {
        "Comment": "friendly names of the consumer's endpoints", "PrivateZone": True,
    }
    assert sorted(v["VPCId"] for v in zone["VPCs"]) == sorted([out["consumer_vpc_id"], out["provider_vpc_id"]])
    tags = consumer.list_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id)["ResourceTagSet"]["Tags"]
    assert tags == [{"Key": "Team", "Value": "web"}]
    api = consumer.list_resource_record_sets(
        HostedZoneId=zone_id, StartRecordName="api.internal.example.com", StartRecordType="A", MaxItems="1"
    )["ResourceRecordSets"][0]
    assert api["Name"] == "api.internal.example.com." and out["friendly_name"] == "api.internal.example.com"
    assert api["AliasTarget"]["DNSName"] == out["endpoint_dns_name"].lower() + "."
    auths = consumer.list_vpc_association_authorizations(HostedZoneId=zone_id)["VPCs"]
    assert auths == [{"VPCRegion": REGION, "VPCId": out["provider_vpc_id"]}]
    shared = provider.list_hosted_zones_by_vpc(VPCId=out["provider_vpc_id"], VPCRegion=REGION)
    assert shared["HostedZoneSummaries"] == [
        {"HostedZoneId": zone_id, "Name": "internal.example.com.", "Owner": {"OwningAccount": CONSUMER}}
    ]


def test_terraform_applies_plans_clean_updates_in_place_carries_traffic_and_destroys(tf_emulator, tmp_path):
    mirror = prerequisites()
    require("curl", "curl")
    emu, url = tf_emulator

    def c(service, account):
        # boto3 against the emulator this test's Terraform talks to.
        return boto3.client(
            service,
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=account,
            aws_secret_access_key="any-secret",
            config=Config(retries={"max_attempts": 1}),
        )

    workdir = tmp_path / "stack"
    shutil.copytree(STACK, workdir)
    backend_port, listener_port, new_listener_port = free_port(), free_port(), free_port()
    tf = Terraform(
        workdir,
        mirror,
        {"endpoint": url, "backend_ip": "10.0.1.142", "backend_port": backend_port, "listener_port": listener_port},
    )
    before = everything(c)

    tf.run("init", "init")
    try:
        tf.run("apply", "apply", "-auto-approve", "-parallelism=20")
        out = tf.output()

        # A second plan finds nothing to do.
        tf.run("plan (no change)", "plan", "-detailed-exitcode")
        check_friendly_name(c, out)

        ec2c, ec2p, elb = c("ec2", CONSUMER), c("ec2", PROVIDER), c("elbv2", PROVIDER)
        ep = ec2c.describe_vpc_endpoints(VpcEndpointIds=[out["endpoint_id"]])["VpcEndpoints"][0]
        assert ep["State"] == "available", ep
        assert len(ep["NetworkInterfaceIds"]) == 1
        gateways = ec2c.describe_vpc_endpoints(Filters=[{"Name": "vpc-endpoint-type", "Values": ["Gateway"]}])
        assert {e["ServiceName"] for e in gateways["VpcEndpoints"]} == {
            f"com.amazonaws.{REGION}.s3",
            f"com.amazonaws.{REGION}.dynamodb",
        }
        routes = [
            r
            for t in ec2c.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [ep["VpcId"]]}])["RouteTables"]
            for r in t["Routes"]
        ]
        assert out["s3_prefix_list_id"] in {r.get("DestinationPrefixListId") for r in routes}
        notes = ec2p.describe_vpc_endpoint_connection_notifications()["ConnectionNotificationSet"]
        assert [n["ServiceId"] for n in notes] == [out["service_id"]]

        # Traffic through the endpoint Terraform made: nginx at the target's
        # address sees the NLB node's address, never the consumer's.
        pblock = host_block(url, out["provider_vpc_id"])
        cblock = host_block(url, out["consumer_vpc_id"])
        nginx = Nginx([(to_host(pblock, "10.0.1.142", "10.0"), backend_port)])
        try:
            elb.get_waiter("target_in_service").wait(
                TargetGroupArn=elb.describe_target_groups(Names=["provider-web"])["TargetGroups"][0]["TargetGroupArn"],
                WaiterConfig={"Delay": 1, "MaxAttempts": 60},
            )
            eni = ec2c.describe_network_interfaces(NetworkInterfaceIds=ep["NetworkInterfaceIds"])["NetworkInterfaces"][0]
            eni_host = to_host(cblock, eni["PrivateIpAddress"], "10.1")
            # The endpoint's regional name resolves to its ENI's address (on
            # loopback, the address that stands for it in the VPC's host block).
            assert dig(emu.dns_port, out["endpoint_dns_name"]) == [eni_host]
            client_host = f"127.{cblock}.1.99"
            r = wait_for(
                lambda: (lambda r: r if r.stdout == BODY else None)(
                    curl(f"http://{eni_host}:{listener_port}/", source=client_host, timeout=3)
                ),
                "curl through the endpoint",
            )
            assert r.stdout == BODY
            lb = elb.describe_load_balancers(Names=["provider-nlb"])["LoadBalancers"][0]
            nodes = {
                to_host(pblock, z["LoadBalancerAddresses"][0]["PrivateIPv4Address"], "10.0")
                for z in lb["AvailabilityZones"]
            }
            seen = set(nginx.clients())
            assert seen and seen <= nodes, (seen, nodes)
            assert client_host not in seen

            # The friendly name of the zone Terraform made: the consumer VPC's
            # resolver answers the alias with the endpoint's ENI, and so does
            # the provider VPC's, associated across accounts; curl by that
            # name (resolved there) reaches nginx through the endpoint.
            friendly = out["friendly_name"]
            for block in (cblock, pblock):
                assert wait_for(lambda: dig(emu.dns_port, friendly, server=f"127.{block}.0.2") == [eni_host],
                                f"{friendly} at the resolver of 127.{block}.0.0/16")
            assert dig(emu.dns_port, friendly) == [], "a private zone answers only in its VPCs"
            r = curl_by_name(friendly, listener_port, eni_host, client_host)
            assert r.stdout == BODY, r
        finally:
            nginx.stop()

        # Changes apply in place: a subnet added to the endpoint, the health
        # check interval, the listener's port and idle timeout, acceptance,
        # the hosted zone's comment.
        tf.vars.update(
            consumer_zones='["a","c"]',
            health_interval=20,
            listener_port=new_listener_port,
            idle_timeout=120,
            acceptance_required="false",
            zone_comment="friendly names, reviewed",
        )
        actions = tf.planned_actions("plan (changes)")
        assert actions == {
            "aws_vpc_endpoint.web": ["update"],
            "aws_lb_target_group.web": ["update"],
            "aws_lb_listener.web": ["update"],
            "aws_vpc_endpoint_service.web": ["update"],
            "aws_route53_zone.internal": ["update"],
        }, actions
        tf.run("apply (changes)", "apply", "-auto-approve", "tfplan")
        tf.run("plan (no change after update)", "plan", "-detailed-exitcode")
        ep = ec2c.describe_vpc_endpoints(VpcEndpointIds=[out["endpoint_id"]])["VpcEndpoints"][0]
        assert len(ep["SubnetIds"]) == 2 and len(ep["NetworkInterfaceIds"]) == 2
        tg = elb.describe_target_groups(Names=["provider-web"])["TargetGroups"][0]
        assert tg["HealthCheckIntervalSeconds"] == 20
        listener = elb.describe_listeners(LoadBalancerArn=out["nlb_arn"])["Listeners"][0]
        assert listener["Port"] == new_listener_port
        attrs = elb.describe_listener_attributes(ListenerArn=listener["ListenerArn"])["Attributes"]
        assert {"Key": "tcp.idle_timeout.seconds", "Value": "120"} in attrs
        svc = ec2p.describe_vpc_endpoint_service_configurations(ServiceIds=[out["service_id"]])["ServiceConfigurations"]
        assert svc[0]["AcceptanceRequired"] is False
        zone = c("route53", CONSUMER).get_hosted_zone(Id=out["zone_id"])["HostedZone"]
        assert zone["Config"]["Comment"] == "friendly names, reviewed"
    finally:
        tf.run("destroy", "destroy", "-auto-approve", "-parallelism=20")
        print("terraform stage times (s):", json.dumps(tf.times))

    # Nothing left behind: every account holds what it held before, the data
    # plane listens for nothing of this stack and DNS forgot the name.
    assert everything(c) == before
    assert wait_for(lambda: not status(url)["dataplane"]["listeners"], "no data plane listener", timeout=15)
    assert dig(emu.dns_port, out["endpoint_dns_name"]) == []


def dig(port, name, server="127.0.0.1"):
    """A records of `name` at `server` (the public view by default, a VPC's
    resolver at 127.K.0.2)."""
    require("dig", "bind9-dnsutils")
    r = subprocess.run(
        ["dig", "+short", "+time=2", "+tries=1", "-p", str(port), f"@{server}", name, "A"],
        capture_output=True, text=True, check=True,
    )
    return sorted(line for line in r.stdout.split() if line)


def curl_by_name(name, port, address, source):
    """curl http://NAME:PORT/ from `source`, NAME resolved to `address` (what
    the VPC's resolver answered: curl asks no resolver on another port)."""
    return subprocess.run(
        ["curl", "-s", "-S", "--max-time", "5", "--interface", source, "--resolve", f"{name}:{port}:{address}",
         f"http://{name}:{port}/"],
        capture_output=True, text=True,
    )


def test_aws_endpoint_url_points_the_cli_and_terraform_at_the_emulator(tf_emulator, tmp_path):
    """The environment convention of the README: AWS_ENDPOINT_URL (or the
    service's own AWS_ENDPOINT_URL_*) instead of flags or endpoint blocks."""
    emu, url = tf_emulator
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("AWS_ENDPOINT_URL") or k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            env.pop(k)
    env.update(
        AWS_ACCESS_KEY_ID=PROVIDER, AWS_SECRET_ACCESS_KEY="any", AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true",
    )
    cli = subprocess.run(
        ["aws", "sts", "get-caller-identity", "--output", "json"],
        env={**env, "AWS_ENDPOINT_URL": url}, capture_output=True, text=True, timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["Account"] == PROVIDER
    # The service's own variable wins over the general one (which points nowhere).
    cli = subprocess.run(
        ["aws", "elbv2", "describe-load-balancers", "--output", "json"],
        env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": url},
        capture_output=True, text=True, timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["LoadBalancers"] == []

    mirror = prerequisites()
    work = tmp_path / "env"
    work.mkdir()
    (work / "main.tf").write_text(
        'provider "aws" {\n  skip_metadata_api_check = true\n}\n'
        'data "aws_caller_identity" "me" {}\n'
        'output "account" { value = data.aws_caller_identity.me.account_id }\n'
        'output "regions" { value = data.aws_availability_zones.here.names }\n'
        'data "aws_availability_zones" "here" {}\n'
    )
    tf = Terraform(work, mirror, {})
    tf.env.update(
        AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID=CONSUMER, AWS_SECRET_ACCESS_KEY="any", AWS_REGION=REGION,
        AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    tf.run("init", "init")
    tf.run("apply", "apply", "-auto-approve")
    out = tf.output()
    assert out["account"] == CONSUMER
    assert out["regions"] == [f"{REGION}a", f"{REGION}c", f"{REGION}d"]
