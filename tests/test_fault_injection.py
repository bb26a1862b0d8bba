"""Injected faults, driven by the `privatelink fault` CLI and the admin API,
seen by real clients: curl through an endpoint when a target is refused or
black-holed (and its health following), dig and curl while a zone is down,
latency and resets on an endpoint, and the AWS CLI's retries against
throttling and 5xx answers. Each fault is listed (admin endpoint and
`privatelink status`), expires when asked to, and one call clears them."""

import json
import re
import shutil
import subprocess
import urllib.request

import pytest

from conftest import PROVIDER, Aws, client_bin, wait_for
from test_dataplane import curl, world  # noqa: F401 - the fixture

HEALTH = dict(HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
              UnhealthyThresholdCount=2)


def cli(url, *args, check=True):
    r = subprocess.run([client_bin(), "--endpoint-url", url, *args], capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, f"privatelink {' '.join(args)}: {r.stderr}"
    return r


def faults(url):
    with urllib.request.urlopen(f"{url}/_emulator/faults", timeout=5) as r:
        return json.load(r)["faults"]


def add_fault(url, **spec):
    req = urllib.request.Request(f"{url}/_emulator/faults", data=json.dumps(spec).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def health(w):
    elb = w.client("elbv2", PROVIDER)
    d = elb.describe_target_health(TargetGroupArn=w.provider.tg_arn)["TargetHealthDescriptions"][0]["TargetHealth"]
    return d["State"], d.get("Reason")


@pytest.fixture
def served(world):  # noqa: F811
    w = world(acceptance_required=False, health=HEALTH)
    w.start_nginx()
    w.endpoint()
    w.wait_state("available")
    w.wait_listeners()
    wait_for(lambda: health(w)[0] == "healthy", "the target healthy", timeout=30)
    yield w
    cli(w.emulator, "fault", "clear")


def test_target_refused_then_back_with_health_following(served):
    w = served
    url, host, target = w.emulator, w.eni_hosts()[0], w.target_ips[0]
    assert curl(f"http://{host}:{w.port}/", source=w.client_host).returncode == 0
    out = cli(url, "fault", "target-down", "--target", target).stdout
    fault_id = re.search(r"fault-\d+", out).group(0)
    listed = faults(url)
    assert [(f["id"], f["kind"], f["target"], f["mode"]) for f in listed] == [(fault_id, "target-down", target, "refuse")]
    assert fault_id in cli(url, "status").stdout
    # Refused at once: curl sees the connection reset, nginx sees nothing.
    seen = len(w.backends[0].clients())
    r = curl(f"http://{host}:{w.port}/", source=w.client_host)
    assert r.returncode != 0 and r.returncode != 28, (r.returncode, r.stderr)
    assert len(w.backends[0].clients()) == seen
    flows = json.load(urllib.request.urlopen(f"{url}/_emulator/flows?endpoint={w.ep['VpcEndpointId']}", timeout=5))
    assert flows["flows"][-1]["ended"] == "target-unreachable"
    # Health follows: the checks fail, the target turns unhealthy.
    assert wait_for(lambda: health(w)[0] == "unhealthy" and health(w), "unhealthy", timeout=30) == (
        "unhealthy", "Target.FailedHealthChecks")
    assert faults(url)[0]["hits"] >= 3
    # Back: one call clears it; traffic flows at once, health recovers.
    assert "1 fault" in cli(url, "fault", "clear").stdout
    assert faults(url) == []
    assert curl(f"http://{host}:{w.port}/", source=w.client_host).returncode == 0
    wait_for(lambda: health(w)[0] == "healthy", "healthy again", timeout=30)


def test_target_black_holed_times_out_and_expires(served):
    w = served
    url, host, target = w.emulator, w.eni_hosts()[0], w.target_ips[0]
    cli(url, "fault", "target-down", "--target", target, "--blackhole", "--for", "20")
    (f,) = faults(url)
    assert f["mode"] == "blackhole" and f["expires_ms"] - f["created_ms"] == 20_000
    r = curl(f"http://{host}:{w.port}/", source=w.client_host, timeout=2)
    assert r.returncode == 28, (r.returncode, r.stderr)  # curl: operation timed out
    assert wait_for(lambda: health(w)[0] == "unhealthy" and health(w), "unhealthy", timeout=30) == (
        "unhealthy", "Target.Timeout")
    # It expires by itself: listed no more, traffic and health come back.
    wait_for(lambda: faults(url) == [], "the fault expired", timeout=30)
    assert curl(f"http://{host}:{w.port}/", source=w.client_host).returncode == 0
    wait_for(lambda: health(w)[0] == "healthy", "healthy again", timeout=30)


def test_zone_failure_changes_dns_and_stops_the_zone(served):
    w = served
    url = w.emulator
    if shutil.which("dig") is None:
        pytest.skip("dig (bind9-dnsutils) is not installed")
    dns_port = json.load(urllib.request.urlopen(f"{url}/_emulator/status", timeout=5))["dns"]["vpc_resolver_port"]
    ec2 = w.client("ec2", "222222222222")
    enis = ec2.describe_network_interfaces(NetworkInterfaceIds=w.ep["NetworkInterfaceIds"])["NetworkInterfaces"]
    by_zone = {e["AvailabilityZone"]: f"127.{w.cblock}.{'.'.join(e['PrivateIpAddress'].split('.')[2:])}" for e in enis}
    regional = w.ep["DnsEntries"][0]["DnsName"]
    zonal_1a = next(d["DnsName"] for d in w.ep["DnsEntries"] if d["DnsName"].startswith(w.ep["VpcEndpointId"] + "-")
                    and "ap-northeast-1a" in d["DnsName"])
    resolver = f"127.{w.cblock}.0.2"

    def dig(name):
        out = subprocess.run(["dig", "+short", "+time=2", "+tries=1", f"@{resolver}", "-p", str(dns_port), name],
                             capture_output=True, text=True, timeout=20).stdout
        return sorted(out.split())

    assert dig(regional) == sorted(by_zone.values())
    cli(url, "fault", "zone-down", "--zone", "ap-northeast-1a")
    # The regional name stops answering the failed zone's address; its
    # zonal name still answers it (it has no other).
    assert dig(regional) == [by_zone["ap-northeast-1c"]]
    assert dig(zonal_1a) == [by_zone["ap-northeast-1a"]]
    # The failed zone's ENI does not answer; the other zone's carries on.
    r = curl(f"http://{by_zone['ap-northeast-1a']}:{w.port}/", source=w.client_host, timeout=2)
    assert r.returncode == 28, (r.returncode, r.stderr)
    assert curl(f"http://{by_zone['ap-northeast-1c']}:{w.port}/", source=w.client_host).returncode == 0
    assert "zone-down" in cli(url, "fault", "list").stdout
    cli(url, "fault", "clear")
    assert dig(regional) == sorted(by_zone.values())
    assert curl(f"http://{by_zone['ap-northeast-1a']}:{w.port}/", source=w.client_host).returncode == 0


def test_latency_and_resets_on_an_endpoint(served):
    w = served
    url, host, ep = w.emulator, w.eni_hosts()[0], w.ep["VpcEndpointId"]
    cli(url, "fault", "reset", "--endpoint", ep, "--rate", "1")
    r = curl(f"http://{host}:{w.port}/", source=w.client_host)
    # Reset right after the handshake: curl sees a failed connect, an empty
    # reply or a reset, depending on when the RST lands; the record says which.
    assert r.returncode in (7, 52, 56), (r.returncode, r.stderr)
    flows = json.load(urllib.request.urlopen(f"{url}/_emulator/flows?endpoint={ep}", timeout=5))["flows"]
    assert flows[-1]["ended"] == "injected-reset"
    cli(url, "fault", "clear")
    cli(url, "fault", "latency", "--endpoint", ep, "--ms", "400")
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "--interface", w.client_host, "-w", "%{time_total}",
                        f"http://{host}:{w.port}/"], capture_output=True, text=True)
    # Each chunk waits 400 ms each way: the answer cannot come sooner.
    assert r.returncode == 0 and float(r.stdout) >= 0.8, r.stdout


def test_api_throttling_and_errors_against_the_aws_cli_retries(emulator):
    aws = Aws(emulator, "444444444444")
    env_attempts = dict(AWS_MAX_ATTEMPTS="3", AWS_RETRY_MODE="standard")

    def run(*args):
        env = aws.env()
        env.update(env_attempts)
        return subprocess.run(["aws", "--endpoint-url", emulator, "--region", "ap-northeast-1", "--output", "json",
                               *args], env=env, capture_output=True, text=True, timeout=120)

    # Two throttled answers, then the third attempt goes through.
    f = add_fault(emulator, kind="api", action="DescribeVpcs", error="throttle", count=2)
    r = run("ec2", "describe-vpcs")
    assert r.returncode == 0, r.stderr
    assert [x["hits"] for x in faults(emulator) if x["id"] == f["id"]] == [2]
    # Always throttled: the CLI gives up after its attempts, each one counted.
    f = add_fault(emulator, kind="api", action="DescribeLoadBalancers", service="elasticloadbalancing")
    r = run("elbv2", "describe-load-balancers")
    assert r.returncode != 0
    assert "(Throttling)" in r.stderr and "reached max retries: 2" in r.stderr, r.stderr
    assert [x["hits"] for x in faults(emulator) if x["id"] == f["id"]] == [3]
    f = add_fault(emulator, kind="api", action="DescribeVpcEndpoints", error="internal-error")
    r = run("ec2", "describe-vpc-endpoints")
    assert "(InternalError)" in r.stderr and "reached max retries: 2" in r.stderr, r.stderr
    f2 = add_fault(emulator, kind="api", action="CreateVpc", error="throttle")
    r = run("ec2", "create-vpc", "--cidr-block", "10.250.0.0/16")
    assert "(RequestLimitExceeded)" in r.stderr, r.stderr
    # A throttled request changed nothing.
    cli(emulator, "fault", "clear")
    assert faults(emulator) == []
    vpcs = json.loads(run("ec2", "describe-vpcs").stdout)["Vpcs"]
    assert [v for v in vpcs if v["CidrBlock"] == "10.250.0.0/16"] == []
    assert f2["id"] != f["id"]
    # Bad faults are refused and add nothing.
    for bad in ({"kind": "api", "action": "X", "rate": 2}, {"kind": "zone-down", "zone": "nowhere"},
                {"kind": "latency", "ms": 5}, {"kind": "nope"}, {"kind": "target-down", "target": "x", "extra": 1}):
        req = urllib.request.Request(f"{emulator}/_emulator/faults", data=json.dumps(bad).encode(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 400, bad
    assert faults(emulator) == []
