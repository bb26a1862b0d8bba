"""Real backends for data plane tests: nginx from Debian, and small Python
servers where a test must look at raw bytes (PROXY v2, half-close)."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

BODY = "AWS PrivateLink Connect Success.\n"


def require(binary, package):
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(f"/usr/sbin/{binary}") else None)
    if path:
        return path
    if os.environ.get("REQUIRE_ALL_E2E") == "1":
        pytest.fail(f"{binary} is required (Debian package {package}); tests/run installs it")
    pytest.skip(f"{binary} not installed (Debian package {package})")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(addr, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(addr, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing listening on {addr}")
            time.sleep(0.02)


def wait_answering(prefix, addr, timeout=10.0):
    """Waits until http://ADDR/ answers, asked through `prefix` (a namespace)."""
    deadline = time.monotonic() + timeout
    url = f"http://{addr[0]}:{addr[1]}/"
    while True:
        r = subprocess.run([*prefix, "curl", "-s", "-o", "/dev/null", "--max-time", "1", url], capture_output=True)
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answering at {url}")
        time.sleep(0.05)


class Nginx:
    """nginx serving BODY on the given host addresses, logging the client
    address of every request."""

    def __init__(self, listen, prefix=()):
        # `prefix` runs it elsewhere (`ip netns exec NS`), where the test
        # cannot connect to check it: readiness is then asked there.
        binary = require("nginx", "nginx-light")
        self.dir = tempfile.mkdtemp(prefix="plnginx-")
        self.access_log = os.path.join(self.dir, "access.log")
        servers = "\n".join(f"listen {ip}:{port};" for ip, port in listen)
        conf = f"""
daemon off;
master_process on;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {self.access_log} combined;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    server {{
        {servers}
        location / {{ default_type text/plain; return 200 "{BODY.strip()}\\n"; }}
    }}
}}
"""
        path = os.path.join(self.dir, "nginx.conf")
        with open(path, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(
            [*prefix, binary, "-p", self.dir, "-c", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for addr in listen:
            if prefix:
                wait_answering(prefix, addr)
            else:
                wait_listening(addr)

    def clients(self):
        """Client addresses of the requests logged so far."""
        if not os.path.exists(self.access_log):
            return []
        with open(self.access_log) as f:
            return [line.split(" ", 1)[0] for line in f if line.strip()]

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class TcpServer:
    """A threaded TCP server on a host address; `handler(conn)` runs per
    connection. Keeps what each handler returns."""

    def __init__(self, addr, handler):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(addr)
        self.sock.listen(64)
        self.addr = self.sock.getsockname()
        self.handler = handler
        self.results = []
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            try:
                self.results.append(self.handler(conn))
            except OSError as e:
                self.results.append(e)

    def stop(self):
        self.stopped = True
        self.sock.close()


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return data


def parse_proxy_v2(conn):
    """Reads a PROXY v2 header; returns (source, destination, tlvs)."""
    head = recv_exact(conn, 16)
    assert head[:12] == b"\r\n\r\n\x00\r\nQUIT\n", head
    assert head[12] == 0x21 and head[13] == 0x11
    length = int.from_bytes(head[14:16], "big")
    body = recv_exact(conn, length)
    src = (socket.inet_ntoa(body[0:4]), int.from_bytes(body[8:10], "big"))
    dst = (socket.inet_ntoa(body[4:8]), int.from_bytes(body[10:12], "big"))
    tlvs, i = {}, 12
    while i < len(body):
        t, n = body[i], int.from_bytes(body[i + 1 : i + 3], "big")
        tlvs[t] = body[i + 3 : i + 3 + n]
        i += 3 + n
    return src, dst, tlvs
