#!/usr/bin/env python3
"""Shared pieces of the data plane benchmark and load test.

* an echo server (``python3 bench/dpkit.py echo HOST PORT``): one process, one
  epoll loop, standard library only; echoes every byte, closes when the peer
  does;
* the emulator as a child process (its own temp log file, readiness line on
  stdout, as tests/conftest.py waits for it);
* one interface endpoint in front of local backends: a provider VPC with an
  internal NLB whose listeners forward to target groups with one
  ``AvailabilityZone=all`` target each (a process on 127.0.0.1), a consumer VPC
  with an endpoint to it (set up with boto3, as tests/topology.py does);
* small helpers: Debian tools, free ports, percentiles, /proc readings,
  machine facts and the marked sections of BENCHMARKS.md.

Everything listens on and connects to 127.0.0.0/8 only.
"""

from __future__ import annotations

import errno
import json
import math
import os
import platform
import queue
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REGION = "ap-northeast-1"
PROVIDER = "111111111111"
CONSUMER = "222222222222"
READY = re.compile(r"api listening on (http://[0-9.]+:\d+)")


class Missing(Exception):
    """A tool the measurement needs is not installed."""


# --------------------------------------------------------------------------- tools


def need(binary: str, package: str) -> str:
    """Path of a Debian-packaged binary, or Missing naming the package."""
    path = shutil.which(binary)
    if not path:
        for d in ("/usr/sbin", "/sbin", "/usr/bin"):
            if os.access(f"{d}/{binary}", os.X_OK):
                path = f"{d}/{binary}"
                break
    if not path:
        raise Missing(f"`{binary}` not found: install the Debian package `{package}` (apt-get install {package})")
    return path


def need_boto3():
    try:
        import boto3  # noqa: F401
        from botocore.config import Config  # noqa: F401
    except ImportError:
        raise Missing("the Python package boto3 is missing (pip install boto3; tests/requirements.txt has it)")


def emulator_binary(given: str | None = None) -> str:
    path = given or os.environ.get("PRIVATELINK_EMULATOR_BIN") or str(REPO / "target" / "release" / "privatelink-emulator")
    if not os.access(path, os.X_OK):
        raise Missing(
            f"emulator binary {path} not found: build it with `cargo build --release -p privatelink-emulator` "
            "or point --emulator-bin / PRIVATELINK_EMULATOR_BIN at one"
        )
    return path


def tool_version(argv: list[str], pattern: str = r".+") -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        for line in (out.stdout + "\n" + out.stderr).splitlines():
            m = re.search(pattern, line)
            if m:
                return m.group(0).strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


def deb_version(package: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "?"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(addr, timeout: float = 10.0, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(addr, timeout=1):
                return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process for {addr} exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listening on {addr[0]}:{addr[1]}")
            time.sleep(0.02)


def raise_nofile(wanted: int) -> tuple[int, int]:
    """Raises the soft RLIMIT_NOFILE to `wanted` (capped by the hard limit);
    children started afterwards inherit it. Returns (soft, hard)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# --------------------------------------------------------------------------- /proc


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime+stime of a process (all its threads); with children, also of
    its reaped children (socat forks one per connection)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    fields = raw[raw.rfind(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    total = int(fields[11]) + int(fields[12])
    if children:
        total += int(fields[13]) + int(fields[14])
    return total / _TICK


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process, its reaped children, and its living children."""
    return cpu_seconds(pid, children=True) + sum(cpu_seconds(c, children=True) for c in child_pids(pid))


def time_wait_from(ip: str) -> int:
    """Sockets in TIME_WAIT whose local address is `ip` (from /proc/net/tcp)."""
    want = socket.inet_aton(ip)[::-1].hex().upper() if sys.byteorder == "little" else socket.inet_aton(ip).hex().upper()
    n = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split(None, 4)
                if parts[3] == "06" and parts[1].split(":")[0] == want:
                    n += 1
    except OSError:
        return -1
    return n


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (user, nice, system, irq,
    softirq, steal), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / _TICK


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                try:
                    kids = [int(k) for k in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
                except OSError:
                    continue
                out += kids
                todo += kids
        except OSError:
            pass
    return out


def own_tree_cpu_seconds() -> float:
    """CPU of this process and everything it started: living descendants by
    their own and their reaped children's time, reaped ones through their
    reaper's."""
    me = os.getpid()
    times = (cpu_seconds(p, children=True) for p in [me] + _descendants(me))
    return sum(t for t in times if t == t)  # a process gone meanwhile reads as NaN


class OtherCpu:
    """How much CPU processes outside this one's tree used meanwhile (other
    users of the machine disturb a benchmark that shares 2 CPUs)."""

    def __init__(self):
        self.t0, self.b0, self.m0 = time.monotonic(), machine_busy_seconds(), own_tree_cpu_seconds()

    def cores(self) -> float:
        t, b, m = time.monotonic(), machine_busy_seconds(), own_tree_cpu_seconds()
        return max(0.0, ((b - self.b0) - (m - self.m0)) / (t - self.t0))


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# --------------------------------------------------------------------------- machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "?"


def debian_version() -> str:
    try:
        return "Debian " + Path("/etc/debian_version").read_text().strip()
    except OSError:
        return platform.platform()


def emulator_version(binary: str) -> str:
    return tool_version([binary, "--version"])


def git_rev() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True, timeout=10)
            return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "no commit"


def sysctl(name: str) -> str:
    try:
        return Path("/proc/sys/" + name.replace(".", "/")).read_text().split("\n")[0].replace("\t", " ")
    except OSError:
        return "?"


# --------------------------------------------------------------------------- statistics


def pct(samples, q: float) -> float:
    """Percentile with linear interpolation between closest ranks."""
    s = sorted(samples)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median(values):
    v = [x for x in values if x == x]
    return pct(v, 0.5) if v else float("nan")


# --------------------------------------------------------------------------- BENCHMARKS.md


def write_section(path: Path, start: str, end: str, section: str):
    """Replaces the text between the markers (inclusive) or appends the
    section; everything else in the file is kept."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    i, j = old.find(start), old.find(end)
    if i != -1 and j != -1 and j > i:
        new = old[:i] + section.strip("\n") + old[j + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + section.strip("\n") + "\n"
    if not new.endswith("\n"):
        new += "\n"
    path.write_text(new)


# --------------------------------------------------------------------------- echo server


def echo_serve(host: str, port: int):
    """Echoes every byte back; closes a connection when its peer closes (or
    resets) it. One thread, one epoll loop, non-blocking sockets; output that
    does not fit the socket buffer is kept and sent on EPOLLOUT (the socket is
    not read meanwhile, so memory stays bounded)."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4096)
    ls.setblocking(False)
    ep = select.epoll()
    lfd = ls.fileno()
    ep.register(lfd, select.EPOLLIN)
    conns: dict[int, socket.socket] = {}
    pending: dict[int, memoryview] = {}
    IN, OUT = select.EPOLLIN, select.EPOLLOUT
    ERR = select.EPOLLERR | select.EPOLLHUP
    print("echo ready", flush=True)

    def drop(fd):
        ep.unregister(fd)
        pending.pop(fd, None)
        conns.pop(fd).close()

    while True:
        for fd, ev in ep.poll():
            if fd == lfd:
                while True:
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:
                        if e.errno in (errno.EMFILE, errno.ENFILE):
                            print(f"echo: accept: {e}", file=sys.stderr, flush=True)
                            time.sleep(0.01)
                        break
                    c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    conns[c.fileno()] = c
                    ep.register(c.fileno(), IN)
                continue
            c = conns.get(fd)
            if c is None:
                continue
            if fd in pending:
                if not ev & (OUT | ERR):
                    continue
                buf = pending[fd]
                try:
                    n = c.send(buf)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    drop(fd)
                    continue
                if n < len(buf):
                    pending[fd] = buf[n:]
                else:
                    del pending[fd]
                    ep.modify(fd, IN)
                continue
            try:
                data = c.recv(262144)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                drop(fd)
                continue
            try:
                n = c.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                drop(fd)
                continue
            if n < len(data):
                pending[fd] = memoryview(data)[n:]
                ep.modify(fd, OUT)


class Proc:
    """A child process in its own session, stopped with its whole group."""

    def __init__(self, name: str, argv: list[str], logdir: Path, ready_addr=None, ready_timeout: float = 10.0, **kw):
        self.name = name
        self.argv = argv
        self.log = logdir / f"{name}.log"
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen(
            argv, stdout=self._logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, **kw
        )
        self.pid = self.proc.pid
        if ready_addr is not None:
            try:
                wait_listening(ready_addr, ready_timeout, self.proc)
            except RuntimeError as e:
                self.stop()
                raise RuntimeError(f"{name} did not start: {e}\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._logf.close()


def start_echo(host: str, port: int, logdir: Path, name: str = "echo") -> Proc:
    return Proc(name, [sys.executable, str(Path(__file__).resolve()), "echo", host, str(port)], logdir, ready_addr=(host, port))


# --------------------------------------------------------------------------- emulator


_HELP: dict = {}


def _help_text(binary: str) -> str:
    if binary not in _HELP:
        try:
            _HELP[binary] = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            _HELP[binary] = ""
    return _HELP[binary]


class Emulator:
    """privatelink-emulator on a free API port of 127.0.0.1; its log goes to
    a file (a pipe nobody reads could fill up and stall it)."""

    def __init__(self, binary: str, logdir: Path, extra_args=(), timeout: float = 30.0):
        self.log = logdir / "emulator.log"
        self._logf = open(self.log, "wb")
        extra = list(extra_args)
        # Newer builds also serve DNS, by default on 127.0.0.1:53; a free port
        # keeps a benchmark from colliding with another emulator.
        if not any(a.startswith("--dns-addr") for a in extra) and "--dns-addr" in _help_text(binary):
            extra += ["--dns-addr", "127.0.0.1:0"]
        self.argv = [binary, "--api-addr", "127.0.0.1:0", *extra]
        self.proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=self._logf,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        # A thread reads stdout (so the emulator never blocks on it) and hands
        # the lines over; the readiness line is the API's.
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.monotonic() + timeout
        self.url = None
        while self.url is None:
            left = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=left) if left > 0 else None
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError(f"emulator did not print its readiness line:\n{self.log_tail()}")
            m = READY.search(line)
            if m:
                self.url = m.group(1)
        if self.get("/_emulator/health").get("status") != "ok":
            raise RuntimeError("emulator health is not ok")

    def _drain(self):
        try:
            for line in self.proc.stdout:
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def get(self, path: str):
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as r:
            return json.load(r)

    def status(self):
        return self.get("/_emulator/status")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._logf.close()
        return self.proc.returncode


def stop_all(procs, emu: "Emulator | None", who: str) -> bool:
    """Stops the helper processes (last started first), then the emulator;
    whether the emulator, if any, ended cleanly (exit 0 or SIGTERM). Says
    where its log is when it did not."""
    for p in reversed(procs):
        p.stop()
    if emu is None:
        return True
    rc = emu.stop()
    if rc in (0, -15, None):
        return True
    print(f"{who}: emulator exited with {rc}; log in {emu.log}", file=sys.stderr)
    return False


@dataclass
class Service:
    """One NLB listener port in front of one local backend."""

    name: str
    listener_port: int
    target_host: str
    target_port: int


@dataclass
class EndpointInfo:
    endpoint_id: str
    vpc: str
    # listener port -> the host address (ip, port) clients connect to (first ENI)
    host: dict = field(default_factory=dict)
    # listener port -> status entry of that listener
    listeners: dict = field(default_factory=dict)


def build_endpoint(url: str, services: list[Service], health_interval: int = 300, timeout: float = 30.0) -> EndpointInfo:
    """Provider: VPC 10.0.0.0/16 with two subnets, an internal NLB with one
    TCP listener per service, each forwarding to a target group whose only
    target is the local backend (AvailabilityZone=all), cross-zone on, an
    endpoint service without acceptance. Consumer: VPC 10.24.0.0/16 with two
    subnets, a security group allowing the listener ports from the VPC, and
    an interface endpoint. Waits until the emulator listens for it."""
    import boto3
    from botocore.config import Config

    def client(service, account):
        return boto3.client(
            service, endpoint_url=url, region_name=REGION, aws_access_key_id=account,
            aws_secret_access_key="any-secret", config=Config(retries={"max_attempts": 1}),
        )

    ec2p, elb = client("ec2", PROVIDER), client("elbv2", PROVIDER)
    vpc = ec2p.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2p.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.0.0.0/20", f"{REGION}a"), ("10.0.128.0/20", f"{REGION}c"))
    ]
    lb = elb.create_load_balancer(Name="bench", Subnets=subnets, Scheme="internal", Type="network")["LoadBalancers"][0]
    lb_arn = lb["LoadBalancerArn"]
    for s in services:
        tg = elb.create_target_group(
            Name=f"bench-{s.name}", Protocol="TCP", Port=s.target_port, VpcId=vpc, TargetType="ip",
            HealthCheckIntervalSeconds=health_interval,
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(
            TargetGroupArn=tg, Targets=[{"Id": s.target_host, "Port": s.target_port, "AvailabilityZone": "all"}]
        )
        elb.create_listener(
            LoadBalancerArn=lb_arn, Protocol="TCP", Port=s.listener_port,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
        )
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=lb_arn, Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}]
    )
    svc = ec2p.create_vpc_endpoint_service_configuration(NetworkLoadBalancerArns=[lb_arn], AcceptanceRequired=False)[
        "ServiceConfiguration"
    ]
    ec2p.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"], AddAllowedPrincipals=[f"arn:aws:iam::{CONSUMER}:root"]
    )

    ec2c = client("ec2", CONSUMER)
    cvpc = ec2c.create_vpc(CidrBlock="10.24.0.0/16")["Vpc"]["VpcId"]
    csubnets = [
        ec2c.create_subnet(VpcId=cvpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.24.16.0/20", f"{REGION}a"), ("10.24.112.0/20", f"{REGION}c"))
    ]
    group = ec2c.create_security_group(GroupName="endpoint", Description="endpoint", VpcId=cvpc)["GroupId"]
    ec2c.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": s.listener_port, "ToPort": s.listener_port,
             "IpRanges": [{"CidrIp": "10.24.0.0/16"}]}
            for s in services
        ],
    )
    ep = ec2c.create_vpc_endpoint(
        VpcEndpointType="Interface", VpcId=cvpc, ServiceName=svc["ServiceName"], SubnetIds=csubnets,
        SecurityGroupIds=[group],
    )["VpcEndpoint"]
    eid = ep["VpcEndpointId"]
    deadline = time.monotonic() + timeout
    while True:
        state = ec2c.describe_vpc_endpoints(VpcEndpointIds=[eid])["VpcEndpoints"][0]["State"]
        if state == "available":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"endpoint {eid} stuck in {state}")
        time.sleep(0.05)
    ports = {s.listener_port for s in services}
    while True:
        with urllib.request.urlopen(f"{url}/_emulator/status", timeout=10) as r:
            st = json.load(r)
        mine = [l for l in st["dataplane"]["listeners"] if l["vpc_endpoint_id"] == eid]
        if len(mine) == 2 * len(services) and not st["dataplane"].get("bind_failures"):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"emulator does not listen for {eid}: {st['dataplane']}")
        time.sleep(0.05)
    info = EndpointInfo(endpoint_id=eid, vpc=cvpc)
    for entry in sorted(mine, key=lambda l: l["host_address"]):
        ip, port = entry["host_address"].rsplit(":", 1)
        port = int(port)
        if port in ports and port not in info.host:
            info.host[port] = (ip, port)
            info.listeners[port] = entry
    # Wait until every listener answers TCP (the listener may lag the status).
    for addr in info.host.values():
        wait_listening(addr, timeout)
    return info


def endpoint_counters(url: str, endpoint_id: str) -> dict:
    with urllib.request.urlopen(f"{url}/_emulator/status", timeout=10) as r:
        st = json.load(r)
    return st["dataplane"]["endpoints"].get(endpoint_id, {})


def make_logdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "echo":
        try:
            echo_serve(sys.argv[2], int(sys.argv[3]))
        except KeyboardInterrupt:
            pass
    else:
        print("usage: dpkit.py echo HOST PORT", file=sys.stderr)
        sys.exit(2)
