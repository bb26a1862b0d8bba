#!/usr/bin/env python3
"""Processes a benchmark runs, and finding what they need (part of dpkit).

* the tools: Debian-packaged binaries, boto3 and the emulator binary, each
  reported as Missing with what to install;
* ports: a free one, waiting until something listens, the open-file limit;
* the echo server (``python3 bench/dpkit.py echo HOST PORT``): one process,
  one epoll loop, standard library only; echoes every byte, closes when the
  peer does;
* a child process in its own session (Proc), stopped with its whole group;
* the emulator as a child process (its own temp log file, readiness line on
  stdout, as tests/conftest.py waits for it), and stopping everything a run
  started.

Everything listens on and connects to 127.0.0.0/8 only.
"""

from __future__ import annotations

import errno
import json
import os
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
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


# --------------------------------------------------------------------------- ports


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


# --------------------------------------------------------------------------- child processes


def stop_group(proc: subprocess.Popen, logf) -> int | None:
    """Ends a process started in a session of its own, with everything it
    started: SIGTERM to the group, SIGKILL after 10 s; closes its log file
    and returns its exit status."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    logf.close()
    return proc.returncode


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
        stop_group(self.proc, self._logf)


def start_echo(host: str, port: int, logdir: Path, name: str = "echo") -> Proc:
    # dpkit.py is the echo server's command (its `echo HOST PORT`).
    dpkit_py = Path(__file__).resolve().with_name("dpkit.py")
    return Proc(name, [sys.executable, str(dpkit_py), "echo", host, str(port)], logdir, ready_addr=(host, port))


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
        return stop_group(self.proc, self._logf)


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


def make_logdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
