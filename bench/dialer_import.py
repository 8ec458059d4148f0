#!/usr/bin/env python
"""Benchmark of the hourly dialer import (dialers/services.py) on SQLite.

One hour of N calls (default 10,000) logged as Salesforce call Tasks by Outreach,
served by a local HTTPS "Salesforce" (simple-salesforce through the CRM app's
session, REST query pages of 2,000 with nextRecordsUrl), each with a tiny
recording on a local HTTP server. The import runs the real path: SOQL pages →
engagements, participants and ledger rows in one transaction per page → account
matching → streamed, capped media download into default storage. Then the same
window is imported again (it must import 0).

Prints one JSON line per scenario:
    {"bench": "dialer_import", "calls": 10000, "calls_per_s": …, "queries_per_1000": …,
     "peak_mem_mb": …, "second_run_s": …, "second_run_imported": 0}

    .venv/bin/python bench/dialer_import.py                     # 10,000 calls
    .venv/bin/python bench/dialer_import.py --calls 1000 --calls 10000 --users 500 --media-bytes 4096

Self-contained: every scenario runs in a child process with DJANGO_SETTINGS_MODULE
=chorus.settings and DATABASE_URL / MEDIA_ROOT pointing into a temporary directory,
migrated from scratch.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SF_PAGE = 2000
FIELD = "Call_Recording__c"


def _sf_dt(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection per client session
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
    tasks: list[dict] = []
    pages: dict[str, list[dict]] = {}
    media = b""

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _page(self, rows: list[dict]) -> None:
        page, rest = rows[:SF_PAGE], rows[SF_PAGE:]
        # ``_at`` is only for the server's window filter.
        body = {"totalSize": len(rows), "done": not rest,
                "records": [{k: v for k, v in r.items() if k != "_at"} for r in page]}
        if rest:
            key = f"01g{len(self.pages):06d}"
            _Handler.pages[key] = rest
            body["nextRecordsUrl"] = f"/services/data/v59.0/query/{key}"
        self._send(200, json.dumps(body).encode(), "application/json")

    def do_GET(self):  # noqa: N802 (http.server's name)
        parts = urlsplit(self.path)
        if parts.path.startswith("/r/"):
            return self._send(200, self.media, "audio/mpeg")
        if parts.path == "/services/data/v59.0/query/":
            soql = parse_qs(parts.query)["q"][0]
            start, end = soql.split("LastModifiedDate >= ")[1].split(" AND LastModifiedDate < ")
            end = end.split(" ")[0]
            lo = datetime.fromisoformat(start.replace("Z", "+00:00"))
            hi = datetime.fromisoformat(end.replace("Z", "+00:00"))
            return self._page([t for t in self.tasks if lo <= t["_at"] < hi])
        if parts.path.startswith("/services/data/v59.0/query/01g"):
            return self._page(_Handler.pages.pop(parts.path.rsplit("/", 1)[-1]))
        return self._send(404, b"not found", "text/plain")


def _serve(server: ThreadingHTTPServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


def run_scenario(calls: int, users: int, media_bytes: int, workdir: Path) -> dict:
    import trustme

    ca = trustme.CA()
    ca_file = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "chorus.settings", "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(workdir / "media"), "REQUESTS_CA_BUNDLE": str(ca_file), "LOG_LEVEL": "WARNING",
    })
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection as db

    call_command("migrate", verbosity=0, interactive=False)
    settings.DIALER_MEDIA_ALLOW_PRIVATE_HOSTS = True  # the recordings are on 127.0.0.1

    sf_server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    sf_server.socket = context.wrap_socket(sf_server.socket, server_side=True)
    media_server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _serve(sf_server)
    _serve(media_server)
    sf_url = f"https://localhost:{sf_server.server_address[1]}"
    media_url = f"http://127.0.0.1:{media_server.server_address[1]}"

    from chorus.models import Engagement, User
    from chorus.services import organization_create
    from dialers import import_run as services
    from integrations.models import Connection, ConnectionStatus

    org = organization_create(slug="bench", name="Bench", domains=["bench.example"])
    User.objects.bulk_create([User(org=org, email=f"rep{i}@bench.example", first_name=f"Rep{i}")
                              for i in range(users)])
    Connection.objects.create(org=org, provider="salesforce", status=ConnectionStatus.OK,
                              config={"instance_url": sf_url, "login_url": sf_url},
                              secrets={"access_token": "bench", "refresh_token": "bench"})
    hour_start = NOW - timedelta(hours=1)
    through = hour_start + services.HOURLY_OVERLAP  # the run reads exactly the last hour
    outreach = Connection.objects.create(org=org, provider="outreach", status=ConnectionStatus.OK,
                                         config={"crm_field": FIELD, "activated": True,
                                                 "imported_through": through.isoformat()})
    _Handler.media = b"ID3" + b"\x00" * max(0, media_bytes - 3)
    step = 3600 / calls
    _Handler.tasks = [{
        "_at": hour_start + timedelta(seconds=i * step),
        "attributes": {"type": "Task"}, "Id": f"00T{i:015d}", "Subject": f"Call {i}", "OwnerId": "005",
        "Owner": {"Email": f"rep{i % users}@bench.example"}, "WhoId": None, "Who": {"Name": f"Prospect {i}"},
        "CallDurationInSeconds": 60 + i % 600, "CallType": "Outbound", "CallDisposition": "Connected",
        "CreatedDate": _sf_dt(hour_start + timedelta(seconds=i * step)),
        "LastModifiedDate": _sf_dt(hour_start + timedelta(seconds=i * step)),
        FIELD: f"{media_url}/r/{i}.mp3",
    } for i in range(calls)]

    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    with db.execute_wrapper(count):
        started = time.perf_counter()
        first = services.dialer_import_run(connection=outreach, now=NOW)
        elapsed = time.perf_counter() - started
    imported = Engagement.objects.filter(org=org).count()
    if first.get("imported") != calls or imported != calls or first.get("media_stored") != calls:
        raise SystemExit(f"first run imported {first.get('imported')} ({imported} rows, "
                         f"{first.get('media_stored')} recordings) of {calls}")

    config = {**outreach.config, "imported_through": through.isoformat()}
    Connection.objects.filter(pk=outreach.pk).update(config=config)
    outreach.refresh_from_db()
    started = time.perf_counter()
    second = services.dialer_import_run(connection=outreach, now=NOW)
    second_s = time.perf_counter() - started
    assert Engagement.objects.filter(org=org).count() == calls

    sf_server.shutdown()
    media_server.shutdown()
    return {
        "bench": "dialer_import", "calls": calls, "calls_per_s": round(calls / elapsed, 1),
        "queries_per_1000": round(queries[0] * 1000 / calls, 1),
        "peak_mem_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "second_run_s": round(second_s, 2), "second_run_imported": second["imported"],
        "users": users, "media_bytes": media_bytes, "first_run_s": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, action="append", help="calls in the hour (repeatable)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--media-bytes", type=int, default=2048)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.calls or [10_000]
    if args.child:
        with tempfile.TemporaryDirectory(prefix="dialer-bench-") as tmp:
            print(json.dumps(run_scenario(sizes[0], args.users, args.media_bytes, Path(tmp))), flush=True)
        return
    for n in sizes:
        subprocess.run([sys.executable, __file__, "--child", "--calls", str(n), "--users", str(args.users),
                        "--media-bytes", str(args.media_bytes)], check=True)


if __name__ == "__main__":
    main()
