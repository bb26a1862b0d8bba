"""Strict mode: SigV4 signatures of the real AWS CLI and boto3 are verified
against the configured secrets; unknown keys and wrong secrets are refused
with AWS's codes, and the server keeps serving."""

import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import start_emulator, stop_emulator, wait_for
from topology import build_consumer, build_provider, create_endpoint

REGION = "ap-northeast-1"
KEY = "AKIAPROVIDER00000001"
SECRET = "provider-secret"
CONSUMER_KEY = "AKIACONSUMER00000002"
CONSUMER_SECRET = "consumer-secret"


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    cfg = tmp_path_factory.mktemp("strict") / "emulator.toml"
    cfg.write_text(
        "strict_auth = true\n"
        "[[credentials]]\n"
        f'access_key_id = "{KEY}"\n'
        f'secret_access_key = "{SECRET}"\n'
        'account = "111111111111"\n'
        'arn = "arn:aws:iam::111111111111:user/alice"\n'
        "[[credentials]]\n"
        f'access_key_id = "{CONSUMER_KEY}"\n'
        f'secret_access_key = "{CONSUMER_SECRET}"\n'
        'account = "222222222222"\n'
    )
    proc, url = start_emulator(["--config", str(cfg)])
    yield url
    stop_emulator(proc)


def client(url, service, key=KEY, secret=SECRET):
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def cli(url, key, secret, *args):
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=key,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )
    return subprocess.run(
        ["aws", "--endpoint-url", url, "--region", REGION, "--output", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_valid_signatures_are_accepted(strict):
    vpc = client(strict, "ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    assert vpc["OwnerId"] == "111111111111"
    assert client(strict, "elbv2").describe_load_balancers()["LoadBalancers"] == []
    ident = client(strict, "sts").get_caller_identity()
    assert ident["Account"] == "111111111111"
    assert ident["Arn"] == "arn:aws:iam::111111111111:user/alice"
    r = cli(strict, KEY, SECRET, "ec2", "describe-vpcs")
    assert r.returncode == 0, r.stderr
    assert vpc["VpcId"] in r.stdout


def test_wrong_secret_is_signature_mismatch(strict):
    with pytest.raises(ClientError) as e:
        client(strict, "ec2", secret="not-the-secret").describe_vpcs()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    r = cli(strict, KEY, "not-the-secret", "elbv2", "describe-load-balancers")
    assert r.returncode != 0
    assert "SignatureDoesNotMatch" in r.stderr


def test_unknown_key_is_refused(strict):
    with pytest.raises(ClientError) as e:
        client(strict, "ec2", key="AKIAUNKNOWN", secret="x").describe_vpcs()
    assert e.value.response["Error"]["Code"] == "AuthFailure"
    with pytest.raises(ClientError) as e:
        client(strict, "elbv2", key="AKIAUNKNOWN", secret="x").describe_load_balancers()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
    # Still serving the good key afterwards.
    assert client(strict, "ec2").describe_vpcs()["Vpcs"]


def signed(url):
    """A boto3 client factory by account, as topology.py expects, signing
    with each account's configured secret."""
    creds = {"111111111111": (KEY, SECRET), "222222222222": (CONSUMER_KEY, CONSUMER_SECRET)}
    return lambda service, account: client(url, service, *creds[account])


def post(url, path, body, headers=None):
    req = urllib.request.Request(f"{url}{path}", data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_console_accepts_and_rejects_under_strict_auth(strict):
    """The page holds no secret, so it cannot sign Query API calls; under
    strict auth those stay refused, and the console's buttons act through
    its loopback-only admin endpoint as the service's owner. Clicked in
    headless chromium: the endpoint turns available on the page."""
    from test_console import browser
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    make = signed(strict)
    provider = build_provider(make, name="strict", cidr_prefix="10.50", targets=("10.50.128.142",))
    consumer = build_consumer(make, cidr_prefix="10.51")
    ep = create_endpoint(make, provider, consumer)["VpcEndpointId"]
    other = create_endpoint(make, provider, consumer)["VpcEndpointId"]
    ec2 = make("ec2", "222222222222")

    def state(eid):
        return ec2.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["State"]

    # What the page used to send: an unsigned Query call as the owner.
    form = urllib.parse.urlencode({"Action": "AcceptVpcEndpointConnections", "Version": "2016-11-15",
                                   "ServiceId": provider.service_id, "VpcEndpointId.1": ep}).encode()
    auth = ("AWS4-HMAC-SHA256 Credential=111111111111/20240101/ap-northeast-1/ec2/aws4_request, "
            "SignedHeaders=host, Signature=0")
    for headers in ({}, {"Authorization": auth}):
        status, body = post(strict, "/", form, {"Content-Type": "application/x-www-form-urlencoded", **headers})
        assert status == 401 and "<Code>AuthFailure</Code>" in body, (status, body)
    assert state(ep) == "pendingAcceptance"

    # The console's endpoint takes two actions, and names the service owner itself.
    act = "/_emulator/console/act"
    bad = [
        {"action": "DeleteVpcEndpoints", "region": REGION, "service_id": provider.service_id, "endpoint_id": ep},
        {"action": "AcceptVpcEndpointConnections", "region": REGION, "service_id": "vpce-svc-0000000000000000f",
         "endpoint_id": ep},
        {"action": "AcceptVpcEndpointConnections"},
    ]
    codes = [post(strict, act, json.dumps(b).encode()) for b in bad]
    assert [c for c, _ in codes] == [400, 400, 400], codes
    assert json.loads(codes[1][1])["code"] == "InvalidVpcEndpointServiceId.NotFound"
    assert post(strict, act, b"not json")[0] == 400
    assert state(ep) == "pendingAcceptance", "a refused request changed nothing"

    driver = browser()
    try:
        driver.get(f"{strict}/_emulator/console")
        find = lambda css: driver.find_elements(By.CSS_SELECTOR, css)  # noqa: E731

        def on_page(css, then):
            """`then` of the element, or None while it is missing or being
            redrawn (the page redraws the topology as counters refresh)."""
            try:
                found = find(css)
                return found and then(found[0])
            except StaleElementReferenceException:
                return None

        driver.execute_script("window.__notReloaded = true;")
        wait_for(lambda: on_page(f"#endpoint-{ep} button.accept", lambda b: b.click() or True), "accept clicked")
        wait_for(lambda: on_page(f"#endpoint-{ep}", lambda e: e.get_attribute("data-state") == "available"),
                 "available on the page", timeout=20)
        assert driver.execute_script("return window.__notReloaded === true;")
        assert not find("#error"), find("#error")[0].text
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors
    finally:
        driver.quit()
    assert state(ep) == "available"

    # Reject, as the page's other button does.
    status, body = post(strict, act, json.dumps({"action": "RejectVpcEndpointConnections", "region": REGION,
                                                  "service_id": provider.service_id, "endpoint_id": other}).encode())
    assert status == 200, body
    assert state(other) == "rejected"
    # Twice is an AWS-shaped refusal of the same kind the Query API gives.
    status, body = post(strict, act, json.dumps({"action": "AcceptVpcEndpointConnections", "region": REGION,
                                                  "service_id": provider.service_id, "endpoint_id": ep}).encode())
    assert status == 400 and json.loads(body)["code"] == "InvalidState", body
