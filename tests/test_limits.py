"""Bounds against hostile clients: oversized heads and bodies, slow clients,
connection floods on the API and the data plane. Each is answered or cut
off, descriptors come back, and the emulator keeps serving."""

import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
from botocore.config import Config

from backends import BODY, free_port
from conftest import CONSUMER, REGION, start_emulator, stop_emulator, wait_for
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

    # Slowloris: heads that never finish are answered 408 and cut off;
    # others are served meanwhile.
    slow = [socket.create_connection(addr) for _ in range(40)]
    for s in slow:
        s.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n")
    assert healthy(url)
    for s in slow:
        assert read_reply(s, timeout=5).startswith(b"HTTP/1.1 408"), "a head that never finished"
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


def aws_error(reply):
    """The status line and the EC2 error document of a raw reply."""
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"content-type: text/xml" in head.lower(), head
    doc = ET.fromstring(body)
    assert doc.tag == "Response" and doc.find("Errors/Error/Code") is not None, body
    return head.split(b"\r\n")[0].decode(), doc.find("Errors/Error/Code").text


def test_http_edges_get_aws_shaped_answers(bounded):
    """What hyper alone would answer with a bare 400 or a silent close gets
    an EC2 error document: garbage, a head that stalls (first request or a
    later one on a kept-alive connection), a body over the limit."""
    emu, url = bounded
    u = urlparse(url)
    addr = (u.hostname, u.port)

    for junk in (b"GARBAGE\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", bytes(range(256)),
                 b"GET / HTTP/9.9\r\n\r\n"):
        with socket.create_connection(addr) as s:
            s.sendall(junk)
            status, code = aws_error(read_reply(s))
            assert status == "HTTP/1.1 400 Bad Request" and code == "InvalidQueryParameter", (junk[:16], status)

    # A head that stops arriving: 408 once the request timeout (0.5 s) passes.
    for partial in (b"POST / HT", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Le"):
        with socket.create_connection(addr) as s:
            started = time.monotonic()
            s.sendall(partial)
            status, code = aws_error(read_reply(s))
            assert status == "HTTP/1.1 408 Request Timeout" and code == "RequestTimeout", (partial, status)
            assert time.monotonic() - started >= 0.4
    with socket.create_connection(addr) as s:
        body = b"Action=DescribeRegions&Version=2016-11-15"
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        s.settimeout(5)
        first = b""
        while b"</DescribeRegionsResponse>" not in first:
            chunk = s.recv(65536)
            assert chunk, first
            first += chunk
        assert first.startswith(b"HTTP/1.1 200")
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        status, code = aws_error(read_reply(s))
        assert status == "HTTP/1.1 408 Request Timeout" and code == "RequestTimeout"

    # A body over 4 MiB, declared or chunked, while the client keeps sending:
    # 413 arrives, then the connection closes.
    def upload(head, chunks):
        with socket.create_connection(addr) as s:
            s.sendall(head)
            sent = threading.Event()

            def send():
                try:
                    for c in chunks:
                        s.sendall(c)
                except OSError:
                    pass
                sent.set()

            threading.Thread(target=send, daemon=True).start()
            reply = read_reply(s, timeout=10)
            sent.wait(10)
            return aws_error(reply)

    size = 5 << 20
    piece = b"x" * (64 << 10)
    declared = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\nAction=DescribeVpcs&X=" % size
    assert upload(declared, [piece] * (size // len(piece))) == ("HTTP/1.1 413 Payload Too Large",
                                                                  "RequestEntityTooLarge")
    chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    framed = b"%x\r\n%s\r\n" % (len(piece), piece)
    assert upload(chunked, [framed] * (size // len(piece)) + [b"0\r\n\r\n"]) == (
        "HTTP/1.1 413 Payload Too Large", "RequestEntityTooLarge")
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


def test_descriptor_limit_is_reported_and_the_process_keeps_serving():
    """With a listening socket per ENI (`--listener-sockets per-address`),
    under a low descriptor limit the listeners that do not fit are reported
    (status and log) with what to do, the API and DNS keep answering, and
    deleting endpoints gives the room back."""
    from conftest import Emulator
    from topology import build_consumer, build_provider, create_endpoint

    limit = 200
    emu = Emulator(["--listener-sockets", "per-address"], prefix=["prlimit", f"--nofile={limit}:{limit}", "--"])
    url = emu.url
    try:
        def client(service, account):
            return boto3.client(service, endpoint_url=url, region_name=REGION, aws_access_key_id=account,
                                aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))

        def status():
            return emu.get("/_emulator/status")

        port = free_port()
        provider = build_provider(client, acceptance_required=False, name="fdlimit", listener_port=port,
                                  target_port=port)
        consumer = build_consumer(client, cidr_prefix="10.77")
        assert status()["descriptors"]["limit"] == limit
        ec2 = client("ec2", CONSUMER)
        created = []
        for _ in range(limit):
            created.append(create_endpoint(client, provider, consumer)["VpcEndpointId"])
            ec2.describe_vpc_endpoints(VpcEndpointIds=created[-1:])
            emu.get("/_emulator/ready")
            failures = status()["dataplane"]["bind_failures"]
            if failures:
                break
        else:
            pytest.fail(f"{len(created)} endpoints under a limit of {limit} descriptors and no listener refused")
        assert any(f"limit of {limit} open files" in f and "ulimit" in f for f in failures), failures
        st = status()
        assert st["descriptors"]["open"] <= limit, st["descriptors"]
        assert status()["dataplane"]["listener_sockets"]["mode"] == "per-address"
        assert f"limit of {limit} open files" in emu.log_text()
        # Still serving: the API, the admin endpoints and DNS.
        assert len(ec2.describe_vpc_endpoints(VpcEndpointIds=created)["VpcEndpoints"]) == len(created)
        assert healthy(url)
        out = subprocess.run(["dig", "+short", "+time=2", "+tries=1", "@127.0.0.1", "-p", str(emu.dns_port),
                              st["regions"][0]["vpc_endpoints"][0]["dns_names"][0]], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout.strip(), out
        # Deleting endpoints frees their descriptors and the failures go.
        ec2.delete_vpc_endpoints(VpcEndpointIds=created[: len(created) // 2])
        for _ in range(3):
            ec2.describe_vpc_endpoints(VpcEndpointIds=created)
        wait_for(lambda: not status()["dataplane"]["bind_failures"], "listeners bound once room came back")
    finally:
        stop_emulator(emu)


def http_get(host, port, timeout=5):
    """One HTTP/1.0 GET on a fresh connection; the reply's bytes."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        return read_reply(s, timeout)


def test_shared_listener_serves_more_enis_than_the_descriptor_limit():
    """With one listening socket for every loopback ENI (sk_lookup steering,
    the default where the kernel allows it), 150 endpoints (300 ENIs) serve
    under a limit of 200 descriptors that one socket per ENI could not fit;
    descriptors do not grow with endpoints, and a deleted endpoint's
    addresses refuse connections while the others keep serving."""
    from conftest import Emulator
    from test_dataplane import _prefixes
    from topology import build_consumer, create_endpoint

    limit = 200
    emu = Emulator(prefix=["prlimit", f"--nofile={limit}:{limit}", "--"])
    w = None
    try:
        mode = emu.get("/_emulator/status")["dataplane"]["listener_sockets"]
        if mode["mode"] != "shared":
            if os.environ.get("REQUIRE_ALL_E2E"):
                pytest.fail(f"REQUIRE_ALL_E2E is set and the shared listener is unavailable: {mode}")
            pytest.skip(f"the shared listener is unavailable here: {mode}")

        def client(service, account):
            return boto3.client(service, endpoint_url=emu.url, region_name=REGION, aws_access_key_id=account,
                                aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))

        w = World(client, emu.url, acceptance_required=False)
        w.start_nginx()
        ec2 = client("ec2", CONSUMER)
        # AWS's quota is 50 endpoints per VPC: three consumer VPCs.
        consumers = [w.consumer]
        for _ in range(2):
            prefix = f"10.{next(_prefixes)}"
            c = build_consumer(client, cidr_prefix=prefix)
            ec2.authorize_security_group_ingress(GroupId=c.group, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": w.port, "ToPort": w.port, "IpRanges": [{"CidrIp": f"{prefix}.0.0/16"}]}])
            consumers.append(c)
        before = fds(emu.proc.pid)
        endpoints = [create_endpoint(client, w.provider, c)["VpcEndpointId"] for c in consumers for _ in range(50)]
        for chunk in range(0, len(endpoints), 50):
            wait_for(lambda: all(e["State"] == "available" for e in ec2.describe_vpc_endpoints(
                VpcEndpointIds=endpoints[chunk:chunk + 50])["VpcEndpoints"]), "endpoints available")
        emu.get("/_emulator/ready")

        def hosts_of(ids):
            ids = set(ids)
            return [tuple(e["host_address"].rsplit(":", 1)) for e in emu.get("/_emulator/status")["dataplane"]["listeners"]
                    if e["vpc_endpoint_id"] in ids]

        hosts = wait_for(lambda: (lambda h: h if len(h) == 300 else None)(hosts_of(endpoints)), "300 ENI listeners")
        st = emu.get("/_emulator/status")
        assert st["dataplane"]["bind_failures"] == [], st["dataplane"]["bind_failures"]
        assert st["descriptors"]["open"] < limit, st["descriptors"]
        # Two ENIs per endpoint and not one more descriptor for them.
        assert fds(emu.proc.pid) <= before + 8, (before, fds(emu.proc.pid))
        for host, port in hosts:
            reply = http_get(host, int(port))
            assert reply.startswith(b"HTTP/1.1 200") and BODY.encode() in reply, (host, port, reply[:200])
        first = curl(f"http://{hosts[0][0]}:{hosts[0][1]}/")
        assert first.returncode == 0 and BODY in first.stdout, first
        # Deleted endpoints' addresses refuse; the rest still serve.
        gone = endpoints[:75]
        gone_hosts = hosts_of(gone)
        ec2.delete_vpc_endpoints(VpcEndpointIds=gone)
        kept_hosts = hosts_of(endpoints[75:])
        wait_for(lambda: not hosts_of(gone), "deleted endpoints' listeners closed")
        for host, port in gone_hosts:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((host, int(port)), timeout=5).close()
        assert len(kept_hosts) == 150
        for host, port in kept_hosts[:20]:
            assert BODY.encode() in http_get(host, int(port))
    finally:
        if w:
            for b in w.backends:
                b.stop()
        stop_emulator(emu)


def test_the_process_keeps_to_small_pages():
    """Transparent huge pages stall whichever API request first touches one
    (2 MiB zeroed at once) and hold memory the heap has not used, so the
    binary keeps to small pages: its allocator never asks for huge ones,
    and the process turns them off for itself. Linux reports the flag as
    THP_enabled in /proc/PID/status (since 5.0) and the huge pages held in
    smaps_rollup."""
    emu, url = start_emulator()
    try:
        pid = emu.proc.pid
        status = Path(f"/proc/{pid}/status").read_text()
        flag = [line for line in status.splitlines() if line.startswith("THP_enabled:")]
        if not flag:
            pytest.skip("this kernel does not report THP_enabled in /proc/PID/status (Linux before 5.0)")
        assert flag[0].split()[1] == "0", flag[0]

        def huge_kib():
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            return sum(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("AnonHugePages:"))

        at_start = huge_kib()
        # Where the kernel gives huge pages only to memory that asks for
        # them, the process never has any.
        # A kernel built without them has no setting: never.
        setting = Path("/sys/kernel/mm/transparent_hugepage/enabled")
        mode = setting.read_text() if setting.exists() else "[never]"
        if "[always]" not in mode:
            assert at_start == 0, f"{at_start} KiB in huge pages at start ({mode.strip()})"
        ec2 = boto3.client("ec2", endpoint_url=url, region_name=REGION, aws_access_key_id=CONSUMER,
                           aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))
        # Enough work for the heap to grow by megabytes.
        vpcs = [ec2.create_vpc(CidrBlock=f"10.{i}.0.0/16")["Vpc"]["VpcId"] for i in range(200)]
        for _ in range(5):
            assert len(ec2.describe_vpcs(VpcIds=vpcs)["Vpcs"]) == len(vpcs)
        assert huge_kib() == at_start, "the heap grew into huge pages"
        assert healthy(url)
    finally:
        stop_emulator(emu)
