"""A real HAProxy in front of several phone replicas, for bench/replicas.py and the tests.

HAProxy is the distribution's binary (Debian 12: ``apt-get install haproxy``, 2.6; see
scripts/install.sh), run as our own foreground subprocess with our own config, never the packaged
system service::

    with HAProxyRun({"r1": "127.0.0.1:8081", "r2": "127.0.0.1:8082"}, workdir) as proxy:
        proxy.wait_up(["r1", "r2"])
        proxy.url                    # http://127.0.0.1:<port>: CALLFLOWS_PUBLIC_URL of every replica
        proxy.stats()                # {"r1": ServerStat(status="UP", current=1, total=7), ...}
        proxy.set_state("r2", "maint")   # runtime API: take a replica out by hand (and "ready")

What the config does, as docs/deploy.md asks of any proxy in front of the phone server:

* ``balance leastconn``: a call is one long WebSocket and its webhook one short request, so
  counting open connections spreads the calls (round robin would alternate webhook / socket and
  could put every socket on the same replica);
* ``option httpchk GET /readyz`` every second, one failure takes a replica out: a draining
  replica answers 503 at once, so new calls go to the others; its open WebSockets stay (HAProxy
  does not cut established connections of a server marked down);
* ``timeout tunnel 1h``: an upgraded WebSocket may last as long as a call; webhooks 30 s;
* ``retries 2`` + ``option redispatch``: a connection refused by a replica that just died is
  retried on another one;
* no ``log`` line: the proxy writes no access log (callers' numbers travel in webhook bodies,
  never in URLs, but nothing here needs a log).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

BACKEND = "callflows_phone"


def haproxy_binary() -> str | None:
    """The haproxy executable (Debian's package puts it in /usr/sbin), or None."""
    return shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").is_file() else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class ServerStat:
    status: str  # UP, DOWN, MAINT, "UP 1/2" while rising, ...
    current: int  # connections open now (a call's WebSocket is one)
    total: int  # connections since the start (webhooks and sockets)


def haproxy_config(servers: dict[str, str], port: int, socket_path: Path, check_interval_ms: int = 1000) -> str:
    lines = [
        "global",
        "    maxconn 4096",
        f"    stats socket {socket_path} mode 600 level admin",
        "defaults",
        "    mode http",
        "    timeout connect 3s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout tunnel 1h",
        "    timeout http-keep-alive 2s",
        "    retries 2",
        "    option redispatch",
        "frontend phone",
        f"    bind 127.0.0.1:{port}",
        "    option forwardfor",
        "    http-request set-header X-Forwarded-Proto http",
        f"    default_backend {BACKEND}",
        f"backend {BACKEND}",
        "    balance leastconn",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        f"    default-server inter {check_interval_ms}ms fastinter {check_interval_ms}ms fall 1 rise 1",
    ]
    lines += [f"    server {name} {address} check" for name, address in servers.items()]
    return "\n".join(lines) + "\n"


class HAProxyRun:
    """HAProxy as a subprocess (``haproxy -db -f <config>``) in front of ``servers`` (name -> host:port)."""

    def __init__(self, servers: dict[str, str], workdir: Path, port: int | None = None,
                 check_interval_ms: int = 1000) -> None:
        binary = haproxy_binary()
        if binary is None:
            raise RuntimeError("haproxy is not installed (apt-get install haproxy; scripts/install.sh apt)")
        self.binary = binary
        self.servers = dict(servers)
        self.workdir = workdir
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.socket_path = workdir / "haproxy.sock"
        self.config_path = workdir / "haproxy.cfg"
        self.log_path = workdir / "haproxy.log"
        self.check_interval_ms = check_interval_ms
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HAProxyRun:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(haproxy_config(self.servers, self.port, self.socket_path, self.check_interval_ms))
        check = subprocess.run([self.binary, "-c", "-q", "-f", str(self.config_path)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy rejected its config: {check.stderr.strip()[:500]}")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([self.binary, "-db", "-f", str(self.config_path)], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.stats()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"haproxy did not start: {self.log_path.read_text()[-1000:]}") from None
                time.sleep(0.1)

    def command(self, line: str) -> str:
        """One runtime API command on the stats socket; its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect(str(self.socket_path))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        return b"".join(chunks).decode(errors="replace")

    def stats(self) -> dict[str, ServerStat]:
        """Per replica: its check status and connections (``show stat``)."""
        text = self.command("show stat")
        header, *rows = [line for line in text.splitlines() if line.strip()]
        names = header.lstrip("# ").split(",")
        out: dict[str, ServerStat] = {}
        for row in rows:
            values = dict(zip(names, row.split(",")))
            if values.get("pxname") == BACKEND and values.get("svname") in self.servers:
                out[values["svname"]] = ServerStat(values.get("status", ""), int(values.get("scur") or 0),
                                                   int(values.get("stot") or 0))
        return out

    def set_state(self, server: str, state: str) -> None:
        """``ready``, ``drain`` or ``maint`` (HAProxy's runtime API)."""
        answer = self.command(f"set server {BACKEND}/{server} state {state}").strip()
        if answer:
            raise RuntimeError(f"haproxy: {answer}")

    def wait_up(self, servers: list[str], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            stats = self.stats()
            if all(stats[s].status == "UP" for s in servers):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"haproxy does not see {servers} up: {stats}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> HAProxyRun:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
