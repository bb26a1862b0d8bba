"""VPC resolvers without sockets of their own: where the kernel allows
sk_lookup steering (the default, `--listener-sockets auto`), every VPC's
resolver on loopback answers through the DNS listener's one UDP and one
TCP socket. 300 small VPCs then answer under a limit of 200 descriptors;
each answers with its own view (a private hosted zone of one VPC answers
only at that VPC's resolver) from its own address, over UDP and TCP; a
deleted VPC's resolver stops answering. With `--listener-sockets
per-address` each resolver has a pair of sockets, and answers the same."""

import os
import socket
import struct
import subprocess
import time

import boto3
import pytest
from botocore.config import Config

from backends import require
from conftest import CONSUMER, REGION, Emulator, stop_emulator, wait_for


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def dig(server, port, name, *extra):
    require("dig", "bind9-dnsutils")
    return subprocess.run(["dig", "+time=2", "+tries=1", "-p", str(port), f"@{server}", name, "A", *extra],
                          capture_output=True, text=True)


def status_of(out):
    for line in out.splitlines():
        if "status:" in line:
            return line.split("status:")[1].split(",")[0].strip()
    return None


def udp_question(name):
    """A query for `name` (A, IN), id 0x5151, recursion desired."""
    q = struct.pack(">HHHHHH", 0x5151, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"


def tcp_ask(conn, name):
    """One question on an open TCP connection: the answer, or b"" once the
    server has closed it."""
    q = udp_question(name)
    try:
        conn.sendall(struct.pack(">H", len(q)) + q)
        head = conn.recv(2)
        if len(head) < 2:
            return b""
        (n,) = struct.unpack(">H", head)
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                return b""
            data += chunk
        return data
    except (ConnectionResetError, BrokenPipeError):
        return b""


def resolver_of(emu, vpc_id):
    for region in emu.get("/_emulator/status")["regions"]:
        for v in region["vpcs"]:
            if v["vpc_id"] == vpc_id:
                base = v["host_block"].split("/")[0].split(".")
                return f"{base[0]}.{base[1]}.{base[2]}.{int(base[3]) + 2}"
    raise AssertionError(f"{vpc_id} not in status")


@pytest.mark.parametrize("mode,count,limit", [("auto", 300, 200), ("per-address", 12, None)])
def test_vpc_resolvers_answer_through_the_dns_listeners_sockets(mode, count, limit):
    prefix = ["prlimit", f"--nofile={limit}:{limit}", "--"] if limit else []
    emu = Emulator(["--listener-sockets", mode], prefix=prefix)
    try:
        sockets = emu.get("/_emulator/status")["dns"]["resolver_sockets"]
        if mode == "auto" and sockets["mode"] != "shared":
            if os.environ.get("REQUIRE_ALL_E2E"):
                pytest.fail(f"REQUIRE_ALL_E2E is set and resolver steering is unavailable: {sockets}")
            pytest.skip(f"resolver steering is unavailable here: {sockets}")
        assert sockets["mode"] == ("shared" if mode == "auto" else "per-vpc"), sockets

        def client(service):
            return boto3.client(service, endpoint_url=emu.url, region_name=REGION, aws_access_key_id=CONSUMER,
                                aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))

        ec2, r53 = client("ec2"), client("route53")
        before = fds(emu.proc.pid)
        # /20s, sixteen to a /16: they share host blocks.
        vpcs = [ec2.create_vpc(CidrBlock=f"10.{100 + i // 16}.{(i % 16) * 16}.0/20")["Vpc"]["VpcId"]
                for i in range(count)]
        # Private zones answer in VPCs with DNS hostnames on, as on AWS.
        ec2.modify_vpc_attribute(VpcId=vpcs[7], EnableDnsHostnames={"Value": True})
        zone = r53.create_hosted_zone(Name="resolvers.internal", CallerReference=f"resolvers-{time.time_ns()}",
                                      VPC={"VPCRegion": REGION, "VPCId": vpcs[7]},
                                      HostedZoneConfig={"PrivateZone": True})["HostedZone"]["Id"]
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT",
            "ResourceRecordSet": {"Name": "db.resolvers.internal", "Type": "A", "TTL": 60,
                                  "ResourceRecords": [{"Value": "198.51.100.50"}]}}]})
        emu.get("/_emulator/ready")
        port = emu.get("/_emulator/status")["dns"]["vpc_resolver_port"]
        resolvers = [resolver_of(emu, v) for v in vpcs]
        assert len(set(resolvers)) == count, "one resolver address per VPC"
        if limit:
            # Not one descriptor more for 300 resolvers.
            assert fds(emu.proc.pid) <= before + 8, (before, fds(emu.proc.pid))
            assert emu.get("/_emulator/status")["descriptors"]["open"] < limit

        # Each resolver answers, with its own VPC's view: the private zone
        # of the eighth VPC answers there only.
        private = resolvers[7]
        out = wait_for(lambda: (lambda r: r if status_of(r.stdout) == "NOERROR" else None)(
            dig(private, port, "db.resolvers.internal")), "the private zone at its VPC's resolver")
        assert "198.51.100.50" in out.stdout and " ra" in out.stdout, out.stdout
        tcp = dig(private, port, "db.resolvers.internal", "+tcp")
        assert status_of(tcp.stdout) == "NOERROR" and "198.51.100.50" in tcp.stdout, tcp.stdout
        for other in resolvers[:7] + resolvers[8:]:
            r = dig(other, port, "db.resolvers.internal", "+short")
            assert r.returncode == 0 and r.stdout.strip() == "", (other, r.stdout, r.stderr)
        public = dig("127.0.0.1", emu.dns_port, "db.resolvers.internal")
        assert status_of(public.stdout) == "NXDOMAIN" and " ra" not in public.stdout.split("QUERY:")[0], public.stdout
        # The answer leaves from the address it was sent to.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(udp_question("db.resolvers.internal"), (private, port))
            data, source = s.recvfrom(4096)
        assert source == (private, port), source
        assert data[:2] == b"\x51\x51" and data[3] & 0x0F == 0, data[:4].hex()
        # Garbage after a readable header gets FORMERR from there too.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff", (private, port))
            data, source = s.recvfrom(4096)
        assert source == (private, port) and data[:2] == b"\x12\x34" and data[3] & 0x0F == 1, (source, data[:4].hex())

        # A deleted VPC's resolver stops answering, a TCP connection opened
        # before included; its neighbours do not.
        gone, kept = resolvers[3], resolvers[4]
        held = socket.create_connection((gone, port), timeout=5)
        assert tcp_ask(held, "db.resolvers.internal")[:2] == b"\x51\x51"
        ec2.delete_vpc(VpcId=vpcs[3])
        emu.get("/_emulator/ready")
        with held:
            assert tcp_ask(held, "db.resolvers.internal") == b"", "a deleted VPC's resolver answered"
        r = dig(gone, port, "db.resolvers.internal")
        assert status_of(r.stdout) is None, r.stdout
        assert status_of(dig(kept, port, "db.resolvers.internal").stdout) == "NXDOMAIN"
        if limit:
            assert fds(emu.proc.pid) <= before + 8, (before, fds(emu.proc.pid))
    finally:
        stop_emulator(emu)
