"""Faults on the target side, as an NLB sees them: a target killed in the
middle of a transfer resets the consumer's flow, turns unhealthy and new
flows go to the other target; with every target down the NLB fails open
(it tries them all), and a target that comes back is used at once, before
its health checks pass again."""

import socket
import struct
import threading
import time

from backends import TcpServer
from conftest import PROVIDER, wait_for
from test_dataplane import listeners_of, world  # noqa: F401 - the fixture

HEALTH = dict(HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
              UnhealthyThresholdCount=2)


class Streamer:
    """A target that answers `GO` with its name, then streams 16 KiB chunks
    until it is killed, which resets every flow (SO_LINGER 0)."""

    def __init__(self, addr, name):
        self.name = name
        self.conns = []
        self.lock = threading.Lock()
        self.server = TcpServer(addr, self.handle)

    def handle(self, conn):
        try:
            if conn.recv(3) != b"GO\n":
                return None  # a health check
        except OSError:
            return None
        with self.lock:
            self.conns.append(conn)
        conn.sendall(self.name)
        chunk = b"x" * 16384
        while not self.server.stopped:
            conn.sendall(chunk)
            time.sleep(0.01)
        return self.name

    def kill(self):
        self.server.stop()
        with self.lock:
            for c in self.conns:
                try:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    c.close()
                except OSError:
                    pass


def open_flow(host, port, source):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(5)
    s.connect((host, port))
    s.sendall(b"GO\n")
    return s, s.recv(1)


def test_target_faults_reset_fail_over_fail_open_and_recover(world):  # noqa: F811
    w = world(targets=("10.{p}.128.142", "10.{p}.0.50"), acceptance_required=False, health=HEALTH)
    addrs = [(w.target_host(ip), w.target_port) for ip in w.target_ips]
    a, b = Streamer(addrs[0], b"A"), Streamer(addrs[1], b"B")
    w.endpoint()
    w.wait_state("available")
    w.wait_listeners()
    elb = w.client("elbv2", PROVIDER)

    def states():
        return {
            d["Target"]["Id"]: d["TargetHealth"]["State"]
            for d in elb.describe_target_health(TargetGroupArn=w.provider.tg_arn)["TargetHealthDescriptions"]
        }

    wait_for(lambda: set(states().values()) == {"healthy"}, "both healthy", timeout=30)
    hosts = w.eni_hosts()

    # A flow on B, mid-transfer.
    flows = []
    for i in range(40):
        s, who = open_flow(hosts[i % 2], w.port, w.client_host)
        flows.append((s, who))
        if who == b"B":
            break
    on_b = [s for s, who in flows if who == b"B"]
    assert on_b, "no flow reached B in 40 tries"
    victim = on_b[0]
    got = len(victim.recv(65536))
    assert got > 0

    b.kill()
    reset = False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if not victim.recv(65536):
                break
        except ConnectionResetError:
            reset = True
            break
    assert reset, "the consumer saw a clean end, not a reset, when its target died"
    for s, _ in flows:
        s.close()

    wait_for(lambda: states()[w.target_ips[1]] == "unhealthy", "B unhealthy", timeout=30)
    # As on AWS, routing follows a health change a moment after the API
    # reports it: wait until the data plane's own view has B unhealthy.
    wait_for(lambda: all(t["health"] == "unhealthy"
                         for entry in listeners_of(w.emulator, w.ep["VpcEndpointId"])
                         for t in entry["targets"] if t["id"] == w.target_ips[1]), "routing without B")
    answered = []
    for i in range(10):
        s, who = open_flow(hosts[i % 2], w.port, w.client_host)
        answered.append(who)
        s.close()
    assert answered == [b"A"] * 10, answered

    # Every target down: the NLB fails open and tries them all; nothing answers.
    a.kill()
    wait_for(lambda: set(states().values()) == {"unhealthy"}, "both unhealthy", timeout=30)
    s = socket.socket()
    s.bind((w.client_host, 0))
    s.settimeout(10)
    try:
        # The reset may come before connect() returns: the emulator accepts,
        # finds every target refusing, and resets at once.
        s.connect((hosts[0], w.port))
        s.sendall(b"GO\n")
        data = s.recv(10)
    except (ConnectionResetError, BrokenPipeError):
        data = b""
    s.close()
    assert data == b"", "a flow was answered with every target down"

    # A comes back: used at once (fail-open), while still reported unhealthy.
    a2 = Streamer(addrs[0], b"A")
    s, who = wait_for(lambda: _try_flow(hosts[0], w.port, w.client_host), "a flow after recovery", timeout=10)
    assert who == b"A"
    assert states()[w.target_ips[0]] == "unhealthy", "fail-open should not need a passed health check"
    s.close()
    wait_for(lambda: states()[w.target_ips[0]] == "healthy", "A healthy again", timeout=30)
    a2.kill()


def _try_flow(host, port, source):
    try:
        s, who = open_flow(host, port, source)
    except OSError:
        return None
    if not who:
        s.close()
        return None
    return s, who
