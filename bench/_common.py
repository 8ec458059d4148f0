"""What several benches share (imported by them; not a bench): a fresh PostgreSQL
database for one run, a free loopback port, waiting for a started server."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import time
from urllib.parse import urlsplit, urlunsplit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, path: str, *, headers: dict | None = None,
               timeout: float = 90) -> None:
    """Wait until the server ``proc`` started on ``port`` answers ``GET path`` with 200;
    stop the bench if it exits, refuses (401/403) or answers anything else."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path, headers=headers or {})
            status = conn.getresponse().status
            conn.close()
        except OSError:
            time.sleep(0.3)
            continue
        if status == 200:
            return
        raise SystemExit(f"GET {path} answered {status} at start-up")
    raise SystemExit("gunicorn did not become ready")


class ThrowawayPostgres:
    """A fresh ``bench_<kind>_<pid>`` database on the server of ``url`` (any database
    URL of that server), dropped afterwards."""

    def __init__(self, url: str, kind: str):
        self.admin_url = url.replace("postgres://", "postgresql://", 1)
        self.name = f"bench_{kind}_{os.getpid()}"
        assert re.fullmatch(r"bench_[a-z0-9_]+", self.name), self.name
        self.url = urlunsplit(urlsplit(url)._replace(path=f"/{self.name}"))

    def _run(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> str:
        self._run(f'DROP DATABASE IF EXISTS "{self.name}"')
        self._run(f'CREATE DATABASE "{self.name}"')
        return self.url

    def drop(self) -> None:
        """Drop it (``WITH (FORCE)``: connections still open are closed)."""
        self._run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
