"""A fresh PostgreSQL database for one bench run (imported by the benches; not a bench)."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit


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
