"""Outbox throughput: how many deliveries a worker sends per second, how many sender
calls that takes against the floor (one per 200 per org+target), and how many SQL
queries per delivery. Runs on a temporary SQLite file.

    python bench/outbox.py --deliveries 20000 --orgs 10 --batch-size 200
"""

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(db_path: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "chorus.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        setup_django(os.path.join(tmp, "bench.sqlite3"))
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from chorus import services
        from integrations.models import Delivery
        from integrations.outbox import outbox_drain
        from integrations.registry import SENDERS, SendResult

        class CountingSender:
            batch_size = args.batch_size
            calls = 0

            def send(self, deliveries):
                CountingSender.calls += 1
                return [SendResult(d.id, ok=True, remote_id=f"R{d.id}") for d in deliveries]

        SENDERS["bench"] = CountingSender()
        orgs = [services.organization_create(slug=f"bench-{i}", name=f"Bench {i}") for i in range(args.orgs)]
        per_org = args.deliveries // args.orgs
        Delivery.objects.bulk_create(
            [Delivery(org=o, target="bench", kind="task", idempotency_key=f"k{i}")
             for o in orgs for i in range(per_org)],
            batch_size=2000,
        )
        total = per_org * args.orgs
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            result = outbox_drain(limit=1000, max_rounds=10_000)
        elapsed = time.perf_counter() - started
        assert result["sent"] == total, result
        floor = args.orgs * math.ceil(per_org / args.batch_size)
        print(json.dumps({
            "bench": "outbox", "deliveries": total, "orgs": args.orgs, "batch_size": args.batch_size,
            "sender_calls": CountingSender.calls, "floor": floor,
            "sql_queries": len(queries), "queries_per_1000": round(len(queries) * 1000 / total, 1),
            "deliveries_per_s": round(total / elapsed), "seconds": round(elapsed, 2),
        }))


if __name__ == "__main__":
    main()
