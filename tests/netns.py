"""Network namespaces a test creates and removes: VPC hosts with their own
addresses, joined to the emulator's namespace by veth pairs, no route out.

Simulated private addresses (10.x) exist only inside these namespaces; the
machine's root namespace never sees them."""

import os
import shutil
import subprocess

import pytest


def require_netns():
    """Skips (or, with REQUIRE_ALL_E2E=1, fails) where namespaces cannot be made."""
    why = None
    if os.geteuid() != 0:
        why = "network namespaces need root"
    elif not shutil.which("ip"):
        why = "the ip command (Debian package iproute2) is missing"
    else:
        probe = f"plprobe{os.getpid()}"
        r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
        if r.returncode != 0:
            why = f"cannot create a network namespace: {r.stderr.strip()}"
        else:
            subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    if why:
        if os.environ.get("REQUIRE_ALL_E2E") == "1":
            pytest.fail(f"{why} (REQUIRE_ALL_E2E=1)")
        pytest.skip(why)


class Namespaces:
    """Named namespaces (prefixed, so parallel runs never collide), veth
    links between them, and per-namespace resolv.conf files; `close`
    removes every one of them."""

    def __init__(self, tag):
        self.prefix = f"pl{os.getpid() % 100000}{tag}"
        self.names = []

    def add(self, short):
        name = f"{self.prefix}-{short}"
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        self.names.append(name)
        self.run(name, "ip", "link", "set", "lo", "up")
        return name

    def exec(self, ns):
        """The command prefix that runs a program inside `ns`."""
        return ["ip", "netns", "exec", ns]

    def run(self, ns, *cmd, check=True, timeout=60, env=None):
        r = subprocess.run([*self.exec(ns), *cmd], capture_output=True, text=True, timeout=timeout, env=env)
        if check:
            assert r.returncode == 0, f"{' '.join(cmd)} in {ns} failed ({r.returncode}): {r.stdout}{r.stderr}"
        return r

    def veth(self, a_ns, a_if, b_ns, b_if):
        """A veth pair: `a_if` in `a_ns`, `b_if` in `b_ns`, both up, no addresses."""
        subprocess.run(["ip", "link", "add", a_if, "netns", a_ns, "type", "veth", "peer", "name", b_if,
                        "netns", b_ns], check=True, capture_output=True)
        self.run(a_ns, "ip", "link", "set", a_if, "up")
        self.run(b_ns, "ip", "link", "set", b_if, "up")

    def address(self, ns, ifname, cidr):
        self.run(ns, "ip", "addr", "add", cidr, "dev", ifname)

    def resolv_conf(self, ns, nameserver):
        """`ip netns exec` mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf."""
        d = f"/etc/netns/{ns}"
        os.makedirs(d, exist_ok=True)
        with open(f"{d}/resolv.conf", "w") as f:
            f.write(f"nameserver {nameserver}\n")

    def addresses(self, ns, ifname):
        r = self.run(ns, "ip", "-4", "-o", "addr", "show", "dev", ifname)
        return [line.split()[3] for line in r.stdout.splitlines()]

    def close(self):
        for name in reversed(self.names):
            subprocess.run(["ip", "netns", "pids", name], capture_output=True)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)
        self.names = []
