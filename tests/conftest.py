"""Fixtures of the end-to-end tests: a real emulator process on a free port,
the real AWS CLI and boto3 pointed at it, two accounts by access key."""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
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
READY = re.compile(r"privatelink-emulator: api listening on (http://127\.0\.0\.1:\d+)")
DNS_READY = re.compile(r"privatelink-emulator: dns listening on ([0-9.]+):(\d+)")


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


def client_bin():
    """The privatelink client: PRIVATELINK_CLIENT_BIN, or the release build
    (built here if missing, as tests/run builds it)."""
    path = os.environ.get("PRIVATELINK_CLIENT_BIN")
    if path:
        return path
    target = os.environ.get("CARGO_TARGET_DIR", str(ROOT / "target"))
    path = os.path.join(target, "release", "privatelink")
    if not os.path.exists(path):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "privatelink-client"], cwd=ROOT, check=True)
    return path


class Emulator:
    """A running emulator process. Its stdout is drained by a thread (the
    readiness line arrives through a queue, so there is no fixed sleep and
    no buffered line can be missed) and its log goes to a file, so a long
    module can never block the server on a full pipe."""

    def __init__(self, extra_args=(), timeout=30, prefix=()):
        # `prefix` runs it elsewhere (`ip netns exec NS`): then its loopback
        # is that namespace's, and health is asked there too.
        self.prefix = list(prefix)
        self.log = tempfile.NamedTemporaryFile(prefix="privatelink-emulator-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [*self.prefix, emulator_bin(), "--api-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0", *extra_args],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )
        self.lines = queue.Queue()
        self.dns_port = None
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()
        try:
            self.url = self._wait_ready(timeout)
        except BaseException:
            if self.proc.poll() is None:
                self.stop()
                os.unlink(self.log.name)
            raise

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01)) if left > 0 else None
            except queue.Empty:
                line = None
            if line is None:
                code = self.stop()
                log = self.log_text()
                os.unlink(self.log.name)
                raise RuntimeError(f"emulator did not print its readiness line (exit {code}); log:\n{log}")
            d = DNS_READY.fullmatch(line.strip())
            if d:
                self.dns_port = int(d.group(2))
            m = READY.fullmatch(line.strip())
            if m:
                url = m.group(1)
                assert self.get("/_emulator/health", url)["status"] == "ok"
                return url

    def get(self, path, url=None):
        """GET an admin path as JSON, from where the emulator runs."""
        url = url or self.url
        if not self.prefix:
            with urllib.request.urlopen(f"{url}{path}", timeout=5) as r:
                assert r.status == 200
                return json.load(r)
        r = subprocess.run([*self.prefix, "curl", "-sf", "--max-time", "5", f"{url}{path}"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, f"GET {path}: curl exit {r.returncode} {r.stderr}"
        return json.loads(r.stdout)

    def log_text(self):
        return Path(self.log.name).read_text(errors="replace")

    def stop(self):
        proc = self.proc
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        # The drain thread ends at EOF; closing the pipe under it would race.
        self.drain.join(timeout=5)
        if proc.stdout and not self.drain.is_alive():
            proc.stdout.close()
        self.log.close()
        return proc.returncode


def start_emulator(extra_args=(), timeout=30):
    """Starts the emulator on a free port; returns (handle, url) once its
    readiness line is printed and /_emulator/health answers."""
    emu = Emulator(extra_args, timeout)
    return emu, emu.url


def stop_emulator(emu):
    """Stops it; fails if it crashed or panicked while serving."""
    code = emu.stop()
    log = emu.log_text()
    os.unlink(emu.log.name)
    assert code in (0, -signal.SIGTERM), f"emulator exited with {code}; log:\n{log[-4000:]}"
    assert "panicked" not in log, f"emulator panicked while serving; log:\n{log[-4000:]}"


@pytest.fixture(scope="module")
def emulator():
    """One emulator per test module; tests create fresh resources."""
    emu, url = start_emulator()
    yield url
    stop_emulator(emu)


class Aws:
    """The real AWS CLI, as one account, against the emulator."""

    def __init__(self, url, account, prefix=()):
        self.url = url
        self.account = account
        self.prefix = list(prefix)

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
            [*self.prefix, "aws", "--endpoint-url", self.url, "--region", REGION, "--output", "json", *args],
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
