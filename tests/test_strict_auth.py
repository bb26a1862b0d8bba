"""Strict mode: SigV4 signatures of the real AWS CLI and boto3 are verified
against the configured secrets; unknown keys and wrong secrets are refused
with AWS's codes, and the server keeps serving."""

import os
import subprocess

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import start_emulator, stop_emulator

REGION = "ap-northeast-1"
KEY = "AKIAPROVIDER00000001"
SECRET = "provider-secret"


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
