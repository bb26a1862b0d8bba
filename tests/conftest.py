"""Fixtures of the end-to-end tests: a real emulator process on a free port,
the real AWS CLI and boto3 pointed at it, two accounts by access key."""

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

REGION = "ap-northeast-1"
PROVIDER = "111111111111"
CONSUMER = "222222222222"
STRANGER = "333333333333"
READY = re.compile(r"api listening on (http://[0-9.]+:\d+)")


def emulator_bin():
    path = os.environ.get("PRIVATELINK_EMULATOR_BIN")
    if path:
        return path
    path = ROOT / "target" / "release" / "privatelink-emulator"
    if not path.exists():
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "privatelink-emulator"],
            cwd=ROOT,
            check=True,
        )
    return str(path)


def start_emulator(extra_args=(), timeout=30):
    """Starts the emulator on a free port and returns (process, url) once
    its readiness line is printed and /_emulator/health answers."""
    proc = subprocess.Popen(
        [emulator_bin(), "--api-addr", "127.0.0.1:0", *extra_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    url = None
    while url is None:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            stop_emulator(proc)
            raise RuntimeError(f"emulator did not start: {proc.stderr.read()}")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            m = READY.search(proc.stdout.readline())
            if m:
                url = m.group(1)
    with urllib.request.urlopen(f"{url}/_emulator/health", timeout=5) as r:
        assert json.load(r)["status"] == "ok"
    return proc, url


def stop_emulator(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for f in (proc.stdout, proc.stderr):
        if f:
            f.close()


@pytest.fixture(scope="module")
def emulator():
    """One emulator per test module; tests create fresh resources."""
    proc, url = start_emulator()
    yield url
    stop_emulator(proc)
    assert proc.returncode in (0, -signal.SIGTERM), f"emulator exited with {proc.returncode}"


class Aws:
    """The real AWS CLI, as one account, against the emulator."""

    def __init__(self, url, account):
        self.url = url
        self.account = account

    def env(self):
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=self.account,
            AWS_SECRET_ACCESS_KEY="any-secret",
            AWS_CONFIG_FILE="/dev/null",
            AWS_SHARED_CREDENTIALS_FILE="/dev/null",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_PAGER="",
        )
        env.pop("AWS_PROFILE", None)
        env.pop("AWS_SESSION_TOKEN", None)
        return env

    def run(self, *args):
        return subprocess.run(
            ["aws", "--endpoint-url", self.url, "--region", REGION, "--output", "json", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def __call__(self, *args):
        r = self.run(*args)
        assert r.returncode == 0, f"aws {' '.join(args)} failed: {r.stderr}"
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def fails(self, *args):
        r = self.run(*args)
        assert r.returncode != 0, f"aws {' '.join(args)} unexpectedly succeeded: {r.stdout}"
        return r.stderr


@pytest.fixture(scope="module")
def aws(emulator):
    return lambda account: Aws(emulator, account)


@pytest.fixture(scope="module")
def client(emulator):
    def make(service, account):
        return boto3.client(
            service,
            endpoint_url=emulator,
            region_name=REGION,
            aws_access_key_id=account,
            aws_secret_access_key="any-secret",
            config=Config(retries={"max_attempts": 1}),
        )

    return make


def wait_for(predicate, what, timeout=10.0, every=0.1):
    """Polls like an AWS waiter: returns the first truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)
