"""Bounds against hostile clients: oversized heads and bodies, slow clients,
connection floods on the API and the data plane. Each is answered or cut
off, descriptors come back, and the emulator keeps serving."""

import json
import os
import socket
import time
import urllib.request
from urllib.parse import urlparse

import boto3
import pytest
from botocore.config import Config

from backends import BODY
from conftest import REGION, start_emulator, stop_emulator, wait_for
from test_dataplane import World, curl


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def healthy(url):
    try:
        with urllib.request.urlopen(f"{url}/_emulator/health", timeout=2) as r:
            return json.load(r)["status"] == "ok"
    except OSError:
        return False


def read_reply(s, timeout=5):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data


def served_world(url):
    """A provider with nginx and a consumer whose endpoint is available and
    listening, on the emulator at `url`; returns it and one ENI's host address."""

    def client(service, account):
        return boto3.client(service, endpoint_url=url, region_name=REGION, aws_access_key_id=account,
                            aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))

    w = World(client, url)
    w.start_nginx()
    w.endpoint()
    w.accept()
    w.wait_listeners()
    return w, w.eni_hosts()[0]


@pytest.fixture
def bounded():
    emu, url = start_emulator(["--api-max-connections", "64", "--api-request-timeout-seconds", "0.5",
                               "--max-flows", "20"])
    yield emu, url
    stop_emulator(emu)


def test_api_heads_bodies_slow_clients_and_floods(bounded):
    emu, url = bounded
    u = urlparse(url)
    addr = (u.hostname, u.port)
    pid = emu.proc.pid
    assert healthy(url)
    baseline = fds(pid)

    # A head over 64 KiB: 431, not memory.
    with socket.create_connection(addr) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 * 1024) + b"\r\n\r\n")
        assert read_reply(s).startswith(b"HTTP/1.1 431"), "oversized head"

    # A body that stops arriving: 408 with an AWS error after the timeout.
    with socket.create_connection(addr) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nAction=Desc")
        reply = read_reply(s)
        assert reply.startswith(b"HTTP/1.1 408") and b"<Code>RequestTimeout</Code>" in reply, reply[:300]

    # Slowloris: heads that never finish are cut off; others are served meanwhile.
    slow = [socket.create_connection(addr) for _ in range(40)]
    for s in slow:
        s.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n")
    assert healthy(url)
    for s in slow:
        assert not read_reply(s, timeout=5).startswith(b"HTTP/1.1 200"), "a head that never finished was served"
        s.close()

    # A flood of idle connections: at most 64 held, the rest closed at
    # accept, and once it ends the API serves again with its descriptors back.
    flood = []
    for _ in range(300):
        try:
            flood.append(socket.create_connection(addr, timeout=2))
        except OSError:
            break
    assert fds(pid) <= baseline + 64 + 8, f"{fds(pid)} descriptors with {len(flood)} flood connections"
    for s in flood:
        s.close()
    wait_for(lambda: healthy(url), "the API after the flood", timeout=10)
    wait_for(lambda: fds(pid) <= baseline + 2, "descriptors back after the flood", timeout=10)

    # A 5 MiB Query body: 413 in AWS's shape.
    req = urllib.request.Request(url, data=b"Action=DescribeVpcs&X=" + b"x" * (5 << 20), method="POST")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("a 5 MiB body was accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 413 and b"RequestEntityTooLarge" in e.read()
    assert healthy(url)


def test_data_plane_flood_is_bounded(bounded):
    emu, url = bounded
    pid = emu.proc.pid
    w, host = served_world(url)
    assert curl(f"http://{host}:{w.port}/", source=w.client_host).stdout == BODY
    baseline = fds(pid)

    def status():
        with urllib.request.urlopen(f"{url}/_emulator/status", timeout=5) as r:
            return json.load(r)["dataplane"]

    held = []
    for _ in range(60):
        s = socket.socket()
        s.bind((w.client_host, 0))
        s.connect((host, w.port))
        held.append(s)
    dp = wait_for(lambda: (d := status())["refused_over_limit"] >= 40 and d, "flows over the bound refused")
    assert dp["open_flows"] <= 20 and dp["max_flows"] == 20
    assert fds(pid) <= baseline + 2 * 20 + 8, f"{fds(pid)} descriptors for {len(held)} connections"
    for s in held:
        s.close()
    wait_for(lambda: status()["open_flows"] == 0, "flows closed")
    wait_for(lambda: fds(pid) <= baseline + 2, "descriptors back")
    assert curl(f"http://{host}:{w.port}/", source=w.client_host).stdout == BODY
    w.close()


def test_idle_flows_are_cut_and_busy_ones_are_not():
    emu, url = start_emulator(["--idle-timeout-seconds", "1"])
    try:
        w, host = served_world(url)
        request = b"GET / HTTP/1.1\r\nHost: endpoint\r\n\r\n"
        with socket.create_connection((host, w.port), timeout=10, source_address=(w.client_host, 0)) as s:
            # Busy for 2.4 s, never quiet for 1 s: the flow lives on
            # (nginx keeps the connection alive between requests).
            started = time.monotonic()
            answers = 0
            while time.monotonic() - started < 2.4:
                s.sendall(request)
                reply = b""
                while not reply.endswith(BODY.encode()):
                    chunk = s.recv(65536)
                    assert chunk, "the busy flow was closed"
                    reply += chunk
                last_byte = time.monotonic()
                answers += 1
                time.sleep(0.3)
            assert answers >= 6
            # Quiet: the flow is reset once it has been idle for 1 s.
            with pytest.raises(ConnectionResetError):
                s.recv(65536)
            assert time.monotonic() - last_byte >= 0.9
        with urllib.request.urlopen(f"{url}/_emulator/status", timeout=5) as r:
            assert json.load(r)["dataplane"]["open_flows"] == 0
        w.close()
    finally:
        stop_emulator(emu)
