"""Helpers for tests that run several real ``manage.py qcluster`` processes against one
PostgreSQL test database and one Redis broker (``integrations/tests/test_multiprocess.py``):

* :class:`Cluster` — one qcluster subprocess in a process group of its own, killed
  whole with SIGKILL (the cluster's sentinel, pusher, monitor and workers) and
  restarted; it can tell whether a TCP connection to a fake belongs to one of its
  processes (``/proc``), so a test kills the cluster that has a write in flight;
* :class:`Wire` — wraps a fake's request handler: the fake applies the request, then
  the answer waits ``delay`` seconds before it leaves; a SIGKILL in that window is the
  "lost answer" case (applied at the other side, never heard by the worker). It counts
  requests and knows which are in flight, by client port;
* :class:`FakeAircall` — Aircall's call list (``GET /calls?from=&to=``, basic auth:
  one API id per organisation) and the recordings it links to, on a plain HTTP server;
* :func:`threaded_server` — a pytest-httpserver that answers requests concurrently
  (many worker processes talk to it at once), HTTPS when given a trustme CA.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

ROOT = Path(__file__).resolve().parents[1]


def threaded_server(ca=None) -> HTTPServer:
    """A started pytest-httpserver on 127.0.0.1 that serves requests in threads
    (HTTPS with a certificate of trustme ``ca`` when given)."""
    context = None
    if ca is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = HTTPServer(host="localhost" if ca is not None else "127.0.0.1", port=0, ssl_context=context,
                        threaded=True)
    server.start()
    return server


def database_url_of(connection) -> str:
    """DATABASE_URL of the database ``connection`` is on (the test database)."""
    db = connection.settings_dict
    assert connection.vendor == "postgresql", connection.vendor
    auth = f"{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}@" if db["USER"] else ""
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


# --- Which process holds a TCP connection ----------------------------------------------------------


def _process_group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp …
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def _socket_inodes(pids: list[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def tcp_inode(local_port: int, remote_port: int) -> str | None:
    """The socket inode of the TCP connection from ``local_port`` to ``remote_port`` (loopback)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            if int(local.rsplit(":", 1)[1], 16) == local_port and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                return inode
    return None


# --- A qcluster subprocess ---------------------------------------------------------------------------


class Cluster:
    """``manage.py qcluster`` in a session (and process group) of its own."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path):
        self.name, self.env, self.log_dir = name, env, log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.log_dir / f"{self.name}.{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=self.env,  # noqa: S603
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pids(self) -> list[int]:
        return _process_group_pids(self.proc.pid) if self.proc is not None else []

    def holds(self, client_port: int, server_port: int) -> bool:
        """Whether one of this cluster's processes owns the connection from ``client_port``."""
        inode = tcp_inode(client_port, server_port)
        return inode is not None and inode in _socket_inodes(self.pids())

    def kill(self) -> list[int]:
        """SIGKILL the whole process group (the qcluster and every child it forked) and
        wait until every process of it is gone."""
        pids = self.pids()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _process_group_pids(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pids

    def stop(self) -> None:
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # workers a SIGTERM left behind
            os.killpg(self.proc.pid, signal.SIGKILL)

    def logs(self, tail: int = 4000) -> str:
        out = []
        for n in range(1, self.starts + 1):
            path = self.log_dir / f"{self.name}.{n}.log"
            if path.exists():
                out.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)


# --- A slow wire in front of a fake --------------------------------------------------------------


class Wire:
    """``handler`` applies the request; its answer then waits ``delay`` seconds (the
    window a SIGKILL lands in). ``is_write(request)`` says which requests write."""

    def __init__(self, handler, *, delay: float, is_write=lambda request: request.method != "GET"):
        self.handler, self.delay, self.is_write = handler, delay, is_write
        self.lock = threading.Lock()
        self.requests = 0
        self.writes = 0
        self.in_flight: dict[int, str] = {}  # client port → "METHOD path" (applied, answer not yet sent)
        self.hold_armed = False
        self.held: int | None = None  # the client port of the write whose answer is held back
        self.released = threading.Event()

    def hold_next_write(self) -> None:
        """The next write is applied and its answer held back until :meth:`release` (the
        moment to kill its client, deterministically before the answer leaves)."""
        with self.lock:
            self.hold_armed, self.held = True, None
            self.released.clear()

    def held_write(self) -> int | None:
        with self.lock:
            return self.held

    def release(self) -> None:
        self.released.set()

    def __call__(self, request: Request) -> Response:
        port = int(request.environ.get("REMOTE_PORT") or 0)
        write = self.is_write(request)
        response = self.handler(request)
        with self.lock:
            self.requests += 1
            self.writes += write
            self.in_flight[port] = f"{request.method} {request.path}"
            hold = write and self.hold_armed
            if hold:
                self.hold_armed, self.held = False, port
        try:
            if hold:
                self.released.wait(timeout=60)
            else:
                time.sleep(self.delay)
        finally:
            with self.lock:
                self.in_flight.pop(port, None)
        return response

    def writes_in_flight(self) -> dict[int, str]:
        """{client port: "METHOD path"} of the writes applied whose answer has not left yet."""
        with self.lock:
            return {p: what for p, what in self.in_flight.items() if not what.startswith("GET ")}

    def requests_in_flight(self, pattern: str = "") -> list[int]:
        with self.lock:
            return [p for p, what in self.in_flight.items() if re.search(pattern, what)]


# --- Aircall ------------------------------------------------------------------------------------------


class FakeAircall:
    """Aircall's ``GET /v1/calls?from=&to=&per_page=`` (basic auth with the API id and
    token; unix timestamps; ``meta.next_page_link``) over calls kept per API id, and
    the recordings the calls link to under ``/r/``."""

    def __init__(self, server: HTTPServer, *, delay: float = 0.02):
        self.server = server
        self.lock = threading.Lock()
        self.calls: dict[str, list[dict]] = {}
        self.ids = iter(range(1, 10**9))
        self.list_wire = Wire(self.list, delay=delay)
        self.media_hits: Counter = Counter()
        server.expect_request(re.compile(r"^/aircall/v1/calls")).respond_with_handler(self.list_wire)
        server.expect_request(re.compile(r"^/r/.*")).respond_with_handler(self.media)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/aircall/v1")

    def add(self, api_id: str, *, started_at: int, owner_email: str, prospect_email: str) -> str:
        with self.lock:
            n = next(self.ids)
            call = {"id": n, "started_at": started_at, "duration": 60, "direction": "outbound",
                    "user": {"email": owner_email},
                    "contact": {"name": f"Prospect {n}", "email": prospect_email},
                    "recording": self.server.url_for(f"/r/{api_id}/{n}.mp3")}
            self.calls.setdefault(api_id, []).append(call)
        return str(n)

    def list(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        api_id = base64.b64decode(auth.split(" ", 1)[1]).decode().split(":", 1)[0] if " " in auth else ""
        if api_id not in self.calls:
            return Response(json.dumps({"error": "Unauthorized"}), status=401, content_type="application/json")
        since, until = int(request.args["from"]), int(request.args["to"])
        page, per_page = int(request.args.get("page", 1)), int(request.args.get("per_page", 50))
        with self.lock:
            rows = sorted((c for c in self.calls[api_id] if since <= c["started_at"] < until),
                          key=lambda c: (c["started_at"], c["id"]))
        body = {"calls": rows[(page - 1) * per_page: page * per_page], "meta": {}}
        if page * per_page < len(rows):
            body["meta"]["next_page_link"] = (f"{self.base_url}/calls?from={since}&to={until}&per_page={per_page}"
                                              f"&page={page + 1}")
        return Response(json.dumps(body), content_type="application/json")

    def media(self, request: Request) -> Response:
        self.media_hits[request.path] += 1
        return Response(b"ID3fake-mp3" * 4, content_type="audio/mpeg")
