#!/usr/bin/env python
"""Scheduler fairness: N organisations (default 5,000), one connection each, one of
them answering slowly. How long does the last *fast* organisation wait?

Each organisation has one due outbox delivery to a CRM served by a local HTTP server
(``/org/<id>``); the slow org's requests take ``--slow-seconds`` (default 20). The
outbox's tick (integrations/scheduler.py) queues one task per org; ``--workers``
threads (default 8, like a few qcluster processes) take tasks off that queue in
order and run them through ``scheduler_run_task``, each on its own database
connection. Scenarios, each on a fresh database:

- ``fanout``: the slow org's task is first in the queue (the worst case);
- ``fanout_no_slow``: the same without the slow org (the baseline);
- ``single_loop``: the old design, one task sending every org's deliveries in a loop
  (``outbox_drain()``), the slow org first.

Prints one JSON line per scenario: ``tick_s`` (the tick that queues N tasks),
``last_fast_s`` (from the tick until the last fast org's delivery was sent),
``slow_s``, ``sent`` and the queries per org.

    .venv/bin/python bench/scheduler.py                         # 5,000 orgs, SQLite
    .venv/bin/python bench/scheduler.py --orgs 1000 --slow-seconds 10 --workers 4
    .venv/bin/python bench/scheduler.py --database-url postgres://u:p@127.0.0.1:5432/postgres

Self-contained: each scenario runs in a child process on a temporary migrated SQLite
file, or on a fresh ``bench_scheduler_<pid>`` database on a given PostgreSQL server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _common import ThrowawayPostgres  # bench/ is on sys.path when a bench runs

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("fanout", "fanout_no_slow", "single_loop")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def _handler(slow_org: int, slow_seconds: float):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == f"/org/{slow_org}":
                time.sleep(slow_seconds)
            body = b'{"id": "ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def run_scenario(scenario: str, orgs: int, workers: int, slow_seconds: float, db_url: str) -> dict:
    os.environ["DJANGO_SETTINGS_MODULE"] = "chorus.settings"
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import requests
    from django.core.management import call_command
    from django.db import close_old_connections, connection
    from django.test.utils import CaptureQueriesContext

    from chorus.models import Organization
    from integrations import outbox, scheduler
    from integrations.models import Delivery
    from integrations.registry import SENDERS, SendResult

    call_command("migrate", verbosity=0)
    Organization.objects.bulk_create([Organization(name=f"Org {i}", slug=f"org-{i}") for i in range(orgs)],
                                     batch_size=1000)
    ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    # The slow org is the first each design reaches: its delivery is the oldest due (the
    # first claimed, the first in the fan-out's queue), and the old loop sends the rows of
    # a claim newest first (the highest id).
    slow_org = {"fanout": ids[0], "fanout_no_slow": -1, "single_loop": ids[-1]}[scenario]
    server = _Server(("127.0.0.1", 0), _handler(slow_org, slow_seconds))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    sent_at: dict[int, float] = {}
    local = threading.local()

    class HttpCrm:
        """One request per batch to the org's CRM (the fake server above)."""

        batch_size = 200

        def send(self, deliveries):
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            session.post(f"{base}/org/{deliveries[0].org_id}", json=[d.id for d in deliveries], timeout=120)
            sent_at[deliveries[0].org_id] = time.perf_counter()
            return [SendResult(d.id, ok=True, remote_id=f"R{d.id}") for d in deliveries]

    SENDERS["bench-crm"] = HttpCrm()
    Delivery.objects.bulk_create([Delivery(org_id=pk, target="bench-crm", kind="task", idempotency_key=f"d{pk}")
                                  for pk in ids], batch_size=1000)
    from datetime import timedelta

    from django.utils import timezone

    Delivery.objects.filter(org_id=ids[-1] if scenario == "single_loop" else ids[0]).update(
        next_attempt_at=timezone.now() - timedelta(minutes=5))

    queue: list[tuple] = []
    lock = threading.Lock()
    import django_q.tasks

    django_q.tasks.async_task = lambda func, *a, **kw: queue.append(a)
    result = {"bench": "scheduler", "scenario": scenario, "database": connection.vendor, "orgs": orgs,
              "workers": workers if scenario != "single_loop" else 1, "slow_seconds": slow_seconds}
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as tick_queries:
        if scenario == "single_loop":
            outbox.outbox_drain()
        else:
            result["tick"] = scheduler.scheduler_tick(outbox.OUTBOX_JOB)
    result["tick_s"] = round(time.perf_counter() - started, 3)
    result["tick_queries"] = len(tick_queries)
    if scenario != "single_loop":
        assert queue and queue[0][1] == f"org:{ids[0]}:bench-crm"
        run_queries = []

        def worker():
            counted = 0
            try:
                with CaptureQueriesContext(connection) as q:
                    while True:
                        with lock:
                            if not queue:
                                break
                            args = queue.pop(0)
                        scheduler.scheduler_run_task(*args)
                    counted = len(q)
            finally:
                run_queries.append(counted)
                close_old_connections()

        threads = [threading.Thread(target=worker) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result["queries_per_org"] = round(sum(run_queries) / orgs, 1)
    fast = [at - started for org_id, at in sent_at.items() if org_id != slow_org]
    result["last_fast_s"] = round(max(fast), 3)
    if slow_org in sent_at:
        result["slow_s"] = round(sent_at[slow_org] - started, 3)
    result["sent"] = Delivery.objects.filter(status="sent").count()
    assert result["sent"] == orgs, result
    server.shutdown()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--slow-seconds", type=float, default=20.0)
    parser.add_argument("--scenario", action="append", choices=SCENARIOS)
    parser.add_argument("--database-url", help="a postgres:// server URL (a fresh database is made on it)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_scenario(args.child, args.orgs, args.workers, args.slow_seconds, args.child_db)))
        return
    for scenario in args.scenario or SCENARIOS:
        with tempfile.TemporaryDirectory() as tmp:
            postgres = ThrowawayPostgres(args.database_url, "scheduler") if args.database_url else None
            db_url = postgres.create() if postgres else f"sqlite:///{tmp}/bench.sqlite3"
            try:
                out = subprocess.run(  # noqa: S603
                    [sys.executable, __file__, "--child", scenario, "--child-db", db_url, "--orgs", str(args.orgs),
                     "--workers", str(args.workers), "--slow-seconds", str(args.slow_seconds)],
                    check=True, capture_output=True, text=True, env={**os.environ, "MEDIA_ROOT": tmp})
            except subprocess.CalledProcessError as exc:
                sys.stderr.write(exc.stderr[-4000:])
                raise SystemExit(f"scenario {scenario} failed") from exc
            finally:
                if postgres:
                    postgres.drop()
            print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
