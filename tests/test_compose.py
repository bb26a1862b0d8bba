"""The docker-compose demo, as a newcomer runs it: images built from this
repository with no registry (docker/build.sh), `docker-compose up`, the
emulator attached to both VPC networks in interface mode with the seeded
world, and the seed walkthrough's flow 1 run from inside the containers: the
provider's CLI on its backend host, the consumer's on its host, `dig` answered
by SERVER 10.24.0.2#53, `curl` through the endpoint, and the NLB's address in
the backend's access log. Everything the test brings up it takes down."""

import json
import os
import shutil
import subprocess
import time

import pytest

from backends import BODY
from conftest import CONSUMER, PROVIDER, ROOT, wait_for
from test_netns import accept, dig_answers, publish_service, request_endpoint

API = "http://emulator:4566"


def compose_command():
    """docker-compose (v1, Debian's) or `docker compose` (v2), with a working engine."""
    why = None
    command = None
    if not shutil.which("docker"):
        why = "docker is not installed"
    elif subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        why = "the docker engine does not answer (docker info failed)"
    elif shutil.which("docker-compose"):
        command = ["docker-compose"]
    elif subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose"]
    else:
        why = "neither docker-compose nor the docker compose plugin is installed"
    base = os.environ.get("BASE_IMAGE", "privatelink/debian:bookworm")
    if not why and base == "privatelink/debian:bookworm" and os.geteuid() != 0 and subprocess.run(
            ["docker", "image", "inspect", base], capture_output=True).returncode != 0:
        why = "the local base image is not built and making it needs root (debootstrap in docker/base.sh)"
    if why:
        if os.environ.get("REQUIRE_ALL_E2E") == "1":
            pytest.fail(f"{why} (REQUIRE_ALL_E2E=1)")
        pytest.skip(why)
    return command


class Compose:
    """One compose project (its own name, so its networks and containers
    never meet another run's)."""

    def __init__(self, command):
        self.base = [*command, "-p", f"plcompose{os.getpid()}", "-f", str(ROOT / "docker-compose.yml")]

    def run(self, *args, check=True, timeout=300):
        r = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        if check:
            assert r.returncode == 0, f"compose {' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}"
        return r

    def exec(self, service, *cmd, env=None, check=True):
        flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
        return self.run("exec", "-T", *flags, service, *cmd, check=check, timeout=120)

    def aws(self, service, account, *args, endpoint=API):
        r = self.exec(service, "aws", "--endpoint-url", endpoint, "--region", "ap-northeast-1", "--output", "json",
                      *args, env={"AWS_ACCESS_KEY_ID": account, "AWS_SECRET_ACCESS_KEY": "demo", "AWS_PAGER": ""},
                      check=False)
        assert r.returncode == 0, f"aws {' '.join(args)} in {service}: {r.stderr}"
        return json.loads(r.stdout) if r.stdout.strip() else {}


@pytest.fixture(scope="module")
def demo():
    command = compose_command()
    started = time.monotonic()
    build = subprocess.run([str(ROOT / "docker" / "build.sh")], capture_output=True, text=True, cwd=ROOT,
                           timeout=1800)
    assert build.returncode == 0, f"docker/build.sh failed: {build.stdout[-3000:]}{build.stderr[-3000:]}"
    print(f"images built in {time.monotonic() - started:.0f} s")
    c = Compose(command)
    try:
        c.run("up", "-d", "--no-build")
        wait_for(lambda: c.exec("emulator", "curl", "-sf", "http://127.0.0.1:4566/_emulator/ready",
                                check=False).returncode == 0, "emulator ready", timeout=60)
        yield c
    finally:
        logs = c.run("logs", "--no-color", "emulator", check=False).stdout
        c.run("down", "-v", "--remove-orphans", "--timeout", "5", check=False)
        assert "panicked" not in logs, logs[-3000:]


def test_compose_demo_runs_seed_flow_1(demo):
    c = demo
    # Account A, from its backend host in the provider VPC (10.0.255.10 is
    # the emulator's API on that network).
    provider = lambda *a: c.aws("backend", PROVIDER, *a, endpoint="http://10.0.255.10:4566")  # noqa: E731
    vpc = provider("ec2", "describe-vpcs", "--filters", "Name=tag:Name,Values=provider-vpc")["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in provider("ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={vpc}")
               ["Subnets"]]
    assert len(subnets) == 2
    service, node_ips = publish_service(provider, vpc, subnets, CONSUMER, "demo")

    # Account B, from its host in the consumer VPC.
    consumer = lambda *a: c.aws("consumer", CONSUMER, *a)  # noqa: E731
    cvpc = consumer("ec2", "describe-vpcs", "--filters", "Name=tag:Name,Values=consumer-vpc")["Vpcs"][0]["VpcId"]
    csubnets = [s["SubnetId"] for s in consumer("ec2", "describe-subnets", "--filters", f"Name=vpc-id,Values={cvpc}")
                ["Subnets"]]
    ep = request_endpoint(consumer, cvpc, csubnets, service["ServiceName"])
    assert ep["State"] == "pendingAcceptance"
    enis = accept(provider, consumer, service, ep)
    eni_ips = sorted(e["PrivateIpAddress"] for e in enis)
    name = ep["DnsEntries"][0]["DnsName"]

    dig = wait_for(lambda: (r := c.exec("consumer", "dig", name, check=False)).returncode == 0
                   and "ANSWER SECTION" in r.stdout and r.stdout, "dig answered in the consumer", timeout=20)
    assert ";; SERVER: 10.24.0.2#53(10.24.0.2)" in dig, dig
    answers = dig_answers(dig)
    assert sorted(a[2] for a in answers) == eni_ips and {a[1] for a in answers} == {60}, dig

    body = wait_for(lambda: (r := c.exec("consumer", "curl", "-s", "--max-time", "5", f"http://{name}/",
                                         check=False)).returncode == 0 and r.stdout, "curl through the endpoint",
                    timeout=20)
    assert body == BODY
    log = c.exec("backend", "cat", "/var/log/nginx/access.log").stdout
    clients = [line.split(" ", 1)[0] for line in log.splitlines() if '"GET / ' in line and "curl/" in line]
    assert clients and set(clients) <= node_ips, f"backend saw {clients}; NLB nodes {node_ips}"
    assert "10.24.20.251" not in clients
