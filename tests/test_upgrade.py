"""Upgrade safety: state directories written by earlier releases load in
this one and show the same world.

Each directory under tests/fixtures/state/<release>/<name>/ is a --state-dir
left by that release (tests/fixtures/make_state.py wrote it), and
<name>.expected.json beside it is what that release showed after loading
it: every describe answer of EC2 and ELBv2 for each account and region,
DNS answers in the public view and at the VPC resolvers, and the admin
API's TXT records, local CA and VPC host blocks, normalized as
tests/state_world.py says. The release under test loads a copy of the
directory and must show the same (fields that AWS answers gained after that
release aside, and fields state_world.CORRECTED lists answered as AWS
does); then it must take new changes on top and keep old and new
state through a SIGKILL and a SIGTERM.

The expected files are written once and never edited: this test reads their
release, fixture, state_files, world, client_tokens and handles (cvpc, cs_a,
cs_d, sg_ep, s1, s2_name, e2, nlb1)."""

import json
import shutil
import tempfile
from pathlib import Path

import pytest

import state_world as sw
from conftest import CONSUMER, PROVIDER, STRANGER, wait_for

STATE = Path(__file__).resolve().parent / "fixtures" / "state"
FIXTURES = sorted(d for d in STATE.glob("*/*") if d.is_dir())


def test_there_are_fixtures_to_load():
    assert FIXTURES, f"no state directories under {STATE}"


def expected_of(fixture):
    path = fixture.parent / f"{fixture.name}.expected.json"
    assert path.exists(), f"{fixture} has no {path.name}"
    return json.loads(path.read_text())


def questions_of(answers):
    return [{k: a[k] for k in ("view", "name", "type")} for a in answers]


def started_cleanly(node):
    log = node.emu.log_text()
    assert "panicked" not in log, log[-4000:]
    # The fixtures are whole: nothing may be cut from their journals.
    assert "torn or corrupt" not in log, log[-4000:]
    assert node.get("/_emulator/ready")["durable"] is True


def settled(node):
    """Waits until nothing in the world waits on time (pending endpoints,
    provisioning NLBs, draining targets), so a restart shows the same."""
    return wait_for(lambda: not sw.waiting_on_time(node), "a settled world", timeout=20)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f"{d.parent.name}/{d.name}" for d in FIXTURES])
def test_state_of_an_earlier_release_loads_with_the_same_world(fixture):
    expected = expected_of(fixture)
    assert sorted(p.name for p in fixture.iterdir()) == expected["state_files"], "the fixture directory is incomplete"
    h = expected["handles"]
    with tempfile.TemporaryDirectory(prefix="privatelink-upgrade-") as tmp:
        state = Path(tmp) / "state"
        shutil.copytree(fixture, state)
        node = sw.Node(state)
        try:
            started_cleanly(node)
            questions = questions_of(expected["world"]["dns"])
            got = sw.capture(node, questions, want_dns=expected["world"]["dns"])
            shown = sw.corrected(expected["world"])
            d = sw.diff(shown, sw.corrected(sw.as_shown(shown, got)))
            if d:
                pytest.fail(
                    f"release {expected['release']}'s {expected['fixture']} loads as a different world "
                    f"(- what {expected['release']} showed, + what this release shows):\n{d}",
                    pytrace=False,
                )

            # A create retried with its client token is answered from the
            # recorded token and changes nothing.
            for t in expected["client_tokens"]:
                client = node.client(t["service"], t["account"], t["region"])
                answer = getattr(client, t["op"])(**t["kwargs"])
                for k in t["result"]:
                    answer = answer[k]
                assert answer == t["id"], (t["op"], t["kwargs"].get("ClientToken"), answer, t["id"])
            again = {**got, "api": sw.describe_api(node)}
            if again != got:
                pytest.fail(
                    "creates retried with their client tokens changed the world:\n" + sw.diff(got, again), pytrace=False
                )

            # New changes on top of the old world, touching old resources.
            p, pe = node.client("ec2", PROVIDER, "ap-northeast-1"), node.client("elbv2", PROVIDER, "ap-northeast-1")
            c = node.client("ec2", CONSUMER, "ap-northeast-1")
            new = c.create_vpc_endpoint(
                VpcEndpointType="Interface",
                VpcId=h["cvpc"],
                ServiceName=h["s2_name"],
                SubnetIds=[h["cs_a"], h["cs_d"]],
                SecurityGroupIds=[h["sg_ep"]],
                TagSpecifications=[
                    {"ResourceType": "vpc-endpoint", "Tags": [{"Key": "Name", "Value": "after-upgrade"}]}
                ],
            )["VpcEndpoint"]["VpcEndpointId"]
            r = p.accept_vpc_endpoint_connections(ServiceId=h["s1"], VpcEndpointIds=[h["e2"]])
            assert r["Unsuccessful"] == [], r
            c.create_tags(Resources=[h["cvpc"]], Tags=[{"Key": "upgrade", "Value": "loaded"}])
            pe.add_tags(ResourceArns=[h["nlb1"]], Tags=[{"Key": "upgrade", "Value": "loaded"}])
            p.modify_vpc_endpoint_service_permissions(
                ServiceId=h["s1"], AddAllowedPrincipals=[f"arn:aws:iam::{STRANGER}:root"]
            )
            for eid in (new, h["e2"]):
                wait_for(
                    lambda eid=eid: c.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["State"]
                    == "available",
                    f"{eid} available",
                )
            settled(node)
            # The addresses old and new interfaces hold: no two share one,
            # and each subnet's count is what its interfaces leave.
            for sid in (h["cs_a"], h["cs_d"]):
                enis = c.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [sid]}])
                ips = [n["PrivateIpAddress"] for n in enis["NetworkInterfaces"]]
                assert ips and len(ips) == len(set(ips)), (sid, ips)
                subnet = c.describe_subnets(SubnetIds=[sid])["Subnets"][0]
                size = 2 ** (32 - int(subnet["CidrBlock"].split("/")[1]))
                assert subnet["AvailableIpAddressCount"] == size - 5 - len(ips), (subnet, ips)
            before = sw.describe_api(node)
            mine = {e["VpcEndpointId"]: e["State"] for k, e in sw.endpoints_of(before)}
            assert mine[new] == "available" and mine[h["e2"]] == "available", mine
            assert set(mine) >= {e["VpcEndpointId"] for _, e in sw.endpoints_of(expected["world"]["api"])}
            vpc = c.describe_vpcs(VpcIds=[h["cvpc"]])["Vpcs"][0]
            assert {"Key": "upgrade", "Value": "loaded"} in vpc["Tags"], vpc
            questions += [q for q in sw.dns_questions(before) if q not in questions]
            before = sw.capture(node, questions)

            # SIGKILL: old and new state come back.
            node.kill()
            node = sw.Node(state)
            started_cleanly(node)
            after = sw.capture(node, questions, want_dns=before["dns"])
            d = sw.diff(before, after)
            if d:
                pytest.fail(f"the upgraded world changed across a SIGKILL (- before, + after):\n{d}", pytrace=False)

            # SIGTERM writes this release's snapshot of it; that loads too.
            node.term()
            node = sw.Node(state)
            started_cleanly(node)
            after = sw.capture(node, questions, want_dns=before["dns"])
            d = sw.diff(before, after)
            if d:
                pytest.fail(
                    f"the upgraded world changed across a SIGTERM and a start (- before, + after):\n{d}", pytrace=False
                )
        finally:
            if node.running():
                node.kill()
