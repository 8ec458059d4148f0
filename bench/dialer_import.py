#!/usr/bin/env python
"""Benchmark of the hourly dialer import (dialers/import_run.py), and of merely downloading its media.

One hour of N calls (default 10,000) logged as Salesforce call Tasks by Outreach,
served by a local HTTPS "Salesforce" (simple-salesforce through the CRM app's
session, REST query pages of 2,000 with nextRecordsUrl), each with a recording of
``--media-bytes`` (default 2 MiB, realistic: 1-5 MB) on a local HTTP server in its
own process (keep-alive, one shared body). The import runs the real path: SOQL
pages → engagements, participants and ledger rows in one transaction per page →
streamed, capped media download into default storage → processing queue. The same
N media URLs are also downloaded with plain ``requests`` (a Session per thread)
through a thread pool at the import's concurrency (``DIALER_MEDIA_CONCURRENCY``),
streamed to temp files: ``import_over_download`` is what the import costs over
merely downloading (goal ≤ 1.5). ``--rounds`` (default 3) pairs of one import (of an
hour of new calls) and one plain download are timed, in alternating order, and the
figures are the rounds' medians (``round_ratios``: each round's); after the first
import the same hour is imported again (it must import 0). The plain download also
runs once, untimed, before the first round, so the timed parts find the machine
warmed up alike, and each starts after ``sync``. The bench process stands in for a
django-q2 worker: it runs the worker's start-up hook (``chorus.worker``) first.

Prints one JSON line per scenario:
    {"bench": "dialer_import", "calls": 10000, "calls_per_s": …, "queries_per_1000": …,
     "peak_mem_mb": …, "second_run_s": …, "second_run_imported": 0, "rounds": 3,
     "import_s": …, "download_s": …, "import_over_download": …, "round_ratios": […], …,
     "import_cpu_s": …, "download_cpu_s": …, "import_over_download_cpu": …}

(the ``_cpu`` figures: CPU seconds of the bench process, all threads, during each
timed part; steadier than wall time on a machine shared with other work).

    .venv/bin/python bench/dialer_import.py                     # 10,000 calls, SQLite
    .venv/bin/python bench/dialer_import.py --calls 1000 --calls 5000 --users 500 --media-bytes 4000000
    .venv/bin/python bench/dialer_import.py --calls 1000 \
        --database-url postgres://chorus:chorus@127.0.0.1:5432/postgres

Self-contained: every scenario runs in a child process with DJANGO_SETTINGS_MODULE
=chorus.settings, MEDIA_ROOT in a temporary directory and a database migrated from
scratch: a temporary SQLite file (through ``chorus.db.sqlite3``, the backend that
sizes bulk statements by the SQLite library's own limit; ``--stock-sqlite`` for
Django's), or, given a PostgreSQL URL, a fresh ``bench_dialer_<pid>`` database on
that server, dropped afterwards. ``--queries-by-statement`` prints the first import's
queries by statement to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import median
from urllib.parse import parse_qs, urlsplit

from _common import ThrowawayPostgres  # bench/ is on sys.path when a bench runs

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SF_PAGE = 2000
FIELD = "Call_Recording__c"
MEDIA_BYTES = 2 * 1024 * 1024
CHUNK = 256 * 1024  # the import's own read size (dialers.importers.base.CHUNK)


def _sf_dt(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # every download thread connects at once: no SYN retries (1 s) on a full backlog


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection per client session
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
    tasks: list[dict] = []
    pages: dict[str, list[dict]] = {}
    media = b""  # one shared body, sent with one sendall (no copy per request)

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


def serve_media(media_bytes: int) -> None:
    """The media server's own process (the recordings are on another host in real
    life: its threads must not share the import's GIL). Prints its port, serves until killed."""
    _Handler.media = b"ID3" + b"\x00" * max(0, media_bytes - 3)
    server = _Server(("127.0.0.1", 0), _Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def download_all(urls: list[str], *, workers: int, dest: Path) -> tuple[float, float]:
    """Plain concurrent download of ``urls`` (a requests Session per thread, each
    body streamed to a temp file): what the import's media step costs at the least.
    Its wall-clock seconds and this process' CPU seconds (user + system, all threads)."""
    import requests

    local = threading.local()
    dest.mkdir(parents=True, exist_ok=True)

    def fetch(url: str) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        with session.get(url, stream=True, timeout=(5, 30)) as resp:
            resp.raise_for_status()
            size = 0
            with tempfile.NamedTemporaryFile(dir=dest, delete=False) as f:
                for chunk in resp.iter_content(CHUNK):
                    f.write(chunk)
                    size += len(chunk)
            return size

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="download") as pool:
        sizes = list(pool.map(fetch, urls))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if len(sizes) != len(urls) or not all(sizes):
        raise SystemExit("the plain download lost a file")
    return elapsed, cpu


def _statement(sql: str) -> str:
    """``INSERT INTO "chorus_engagement" (…`` → ``INSERT chorus_engagement``."""
    words = sql.replace('"', "").split()
    if not words:
        return "?"
    verb = words[0].upper()
    if verb == "INSERT":
        rest = [w for w in words[1:5] if w.upper() not in ("INTO", "OR", "IGNORE")]
        return f"INSERT {rest[0] if rest else ''}"
    if verb == "UPDATE":
        return f"UPDATE {words[1]}{' CASE' if ' CASE WHEN ' in sql else ''}"
    if verb in ("SELECT", "DELETE"):
        tables = re.findall(r"\bFROM\s+(\S+)", sql.replace('"', ""))
        return f"{verb} {tables[0] if tables else ''}"
    return verb


def run_scenario(calls: int, users: int, media_bytes: int, workdir: Path, *, database_url: str | None,
                 stock_sqlite: bool, by_statement: bool, rounds: int) -> dict:
    import trustme

    ca = trustme.CA()
    ca_file = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    postgres = (ThrowawayPostgres(database_url, "dialer")
                if database_url and database_url.startswith(("postgres", "pgsql")) else None)
    db_url = postgres.create() if postgres else (database_url or f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "chorus.settings", "DATABASE_URL": db_url,
        "MEDIA_ROOT": str(workdir / "media"), "REQUESTS_CA_BUNDLE": str(ca_file), "LOG_LEVEL": "WARNING",
    })
    sys.path.insert(0, str(ROOT))
    media_proc = subprocess.Popen([sys.executable, __file__, "--media-server", "--media-bytes", str(media_bytes)],
                                  stdout=subprocess.PIPE, text=True)
    try:
        media_port = int(media_proc.stdout.readline())
        return _scenario(calls, users, media_bytes, workdir, ca, f"http://127.0.0.1:{media_port}",
                         stock_sqlite=stock_sqlite, by_statement=by_statement, rounds=rounds)
    finally:
        media_proc.kill()
        media_proc.wait()
        if postgres:
            from django.db import connections

            connections.close_all()
            postgres.drop()


def _scenario(calls: int, users: int, media_bytes: int, workdir: Path, ca, media_url: str, *,
              stock_sqlite: bool, by_statement: bool, rounds: int) -> dict:
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if engine == "django.db.backends.sqlite3" and not stock_sqlite:
        settings.DATABASES["default"]["ENGINE"] = engine = "chorus.db.sqlite3"  # before any connection exists
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection as db

    call_command("migrate", verbosity=0, interactive=False)
    from chorus.worker import worker_started

    worker_started()  # what a django-q2 worker does once spawned: this process stands in for one
    settings.DIALER_MEDIA_ALLOW_PRIVATE_HOSTS = True  # the recordings are on 127.0.0.1

    sf_server = _Server(("127.0.0.1", 0), _Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    sf_server.socket = context.wrap_socket(sf_server.socket, server_side=True)
    _serve(sf_server)
    sf_url = f"https://localhost:{sf_server.server_address[1]}"

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
    step = 3600 / calls

    def tasks_of(round_no: int) -> tuple[list[dict], list[str]]:
        """The hour's N call tasks of one round (ids and recording URLs of their own)."""
        urls = [f"{media_url}/r/{round_no}/{i}.mp3" for i in range(calls)]
        return [{
            "_at": hour_start + timedelta(seconds=i * step),
            "attributes": {"type": "Task"}, "Id": f"00T{round_no:03d}{i:012d}", "Subject": f"Call {i}",
            "OwnerId": "005", "Owner": {"Email": f"rep{i % users}@bench.example"}, "WhoId": None,
            "Who": {"Name": f"Prospect {i}"}, "CallDurationInSeconds": 60 + i % 600, "CallType": "Outbound",
            "CallDisposition": "Connected", "CreatedDate": _sf_dt(hour_start + timedelta(seconds=i * step)),
            "LastModifiedDate": _sf_dt(hour_start + timedelta(seconds=i * step)), FIELD: urls[i],
        } for i in range(calls)], urls

    def hour_again() -> None:
        """The connection reads exactly the last hour again at its next run."""
        config = {**outreach.config, "imported_through": through.isoformat()}
        Connection.objects.filter(pk=outreach.pk).update(config=config)
        outreach.refresh_from_db()

    statements: Counter[str] = Counter()

    def count(execute, sql, params, many, context):
        statements[_statement(sql)] += 1
        return execute(sql, params, many, context)

    # Untimed: the same download once first. The first gigabytes a fresh process writes
    # cost the kernel about twice the system time of later ones (measured: 4.5 s, then
    # 2.5 s, for the same 1.2 GB), which would be charged to whichever part runs first.
    workers = int(settings.DIALER_MEDIA_CONCURRENCY)
    download_all(tasks_of(0)[1], workers=workers, dest=workdir / "download")
    shutil.rmtree(workdir / "download", ignore_errors=True)
    # Rounds of one import and one plain download each (in alternating order, so a
    # machine getting busier or quieter does not favour either); the figures are
    # the rounds' medians: on a shared 2-core machine one pair varies by ±10 %.
    timings = []
    for round_no in range(1, rounds + 1):
        _Handler.tasks, urls = tasks_of(round_no)
        hour_again()
        pair = {}
        for part in (("import", "download") if round_no % 2 else ("download", "import")):
            os.sync()  # each timed part starts with nothing waiting to be written back (they write N files each)
            if part == "download":
                pair["download"] = download_all(urls, workers=workers, dest=workdir / "download")
                shutil.rmtree(workdir / "download", ignore_errors=True)
                continue
            statements.clear()
            before = Engagement.objects.filter(org=org).count()
            with db.execute_wrapper(count):
                started, cpu = time.perf_counter(), time.process_time()
                result = services.dialer_import_run(connection=outreach, now=NOW)
                pair["import"] = time.perf_counter() - started, time.process_time() - cpu
            imported = Engagement.objects.filter(org=org).count() - before
            if result.get("imported") != calls or imported != calls or result.get("media_stored") != calls:
                raise SystemExit(f"round {round_no} imported {result.get('imported')} ({imported} rows, "
                                 f"{result.get('media_stored')} recordings) of {calls}")
            shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)  # one set of N files on disk at a time
        timings.append(pair)
        if round_no == 1:
            queries = sum(statements.values())
            if by_statement:
                for statement, n in statements.most_common():
                    print(f"{n:6d}  {statement}", file=sys.stderr)
            hour_again()  # the same hour again: nothing new
            started = time.perf_counter()
            second = services.dialer_import_run(connection=outreach, now=NOW)
            second_s = time.perf_counter() - started
            if second["imported"] or Engagement.objects.filter(org=org).count() != calls:
                raise SystemExit(f"the second run of the same hour imported {second['imported']}")
    sf_server.shutdown()

    import_s, import_cpu = (median(t["import"][i] for t in timings) for i in (0, 1))
    download_s, download_cpu = (median(t["download"][i] for t in timings) for i in (0, 1))
    return {
        "bench": "dialer_import", "calls": calls, "calls_per_s": round(calls / import_s, 1),
        "queries_per_1000": round(queries * 1000 / calls, 1),
        "peak_mem_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "second_run_s": round(second_s, 2), "second_run_imported": second["imported"],
        "users": users, "media_bytes": media_bytes, "rounds": rounds,
        "import_s": round(import_s, 2), "download_s": round(download_s, 2),
        "import_over_download": round(median(t["import"][0] / t["download"][0] for t in timings), 2),
        "round_ratios": [round(t["import"][0] / t["download"][0], 2) for t in timings],
        "concurrency": workers, "database": db.vendor, "engine": engine, "queries": queries,
        # CPU seconds of this process (all threads): less at the mercy of a shared machine than wall time.
        "import_cpu_s": round(import_cpu, 2), "download_cpu_s": round(download_cpu, 2),
        "import_over_download_cpu": round(median(t["import"][1] / t["download"][1] for t in timings), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, action="append", help="calls in the hour (repeatable)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed import + download pairs; the figures are their medians (default 3)")
    parser.add_argument("--media-bytes", type=int, default=MEDIA_BYTES,
                        help=f"size of each recording (default {MEDIA_BYTES}; realistic: 1-5 MB)")
    parser.add_argument("--database-url", default=None,
                        help="default: a temporary SQLite file; a postgres:// URL: a fresh bench_dialer_<pid> "
                             "database on that server (the URL's own database is only used to create and drop it)")
    parser.add_argument("--stock-sqlite", action="store_true",
                        help="Django's own SQLite backend (999 variables per statement) instead of chorus.db.sqlite3")
    parser.add_argument("--queries-by-statement", action="store_true", help="the first run's queries, to stderr")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--media-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.media_server:
        serve_media(args.media_bytes)
        return
    sizes = args.calls or [10_000]
    if args.child:
        with tempfile.TemporaryDirectory(prefix="dialer-bench-") as tmp:
            print(json.dumps(run_scenario(sizes[0], args.users, args.media_bytes, Path(tmp),
                                          database_url=args.database_url, stock_sqlite=args.stock_sqlite,
                                          by_statement=args.queries_by_statement, rounds=args.rounds)),
                  flush=True)
        return
    extra = [flag for flag, on in (("--stock-sqlite", args.stock_sqlite),
                                   ("--queries-by-statement", args.queries_by_statement)) if on]
    if args.database_url:
        extra += ["--database-url", args.database_url]
    for n in sizes:
        subprocess.run([sys.executable, __file__, "--child", "--calls", str(n), "--users", str(args.users),
                        "--rounds", str(args.rounds),
                        "--media-bytes", str(args.media_bytes), *extra], check=True)


if __name__ == "__main__":
    main()
