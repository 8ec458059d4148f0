"""Benchmark: push N engagements (task + tracker metadata + custom objects with M
moments each + 1 new contact each) to local fake Salesforce, HubSpot and Dataverse
servers (HTTPS, through the real client libraries), and print one JSON line per CRM:

    {"bench": "crm_push", "provider": "salesforce", "engagements": 1000, "http_calls": …,
     "floor": …, "sql_queries": …, "eng_per_s": …, …}

``floor`` is the fewest calls the APIs allow (records ÷ each API's batch maximum);
``setup_calls`` are made once per connection before any push (HubSpot: reading and
creating the properties and custom objects the push writes, as connecting does);
``sql_queries`` and ``eng_per_s`` are for the push (the outbox worker sending);
the preparation (``engagement_push_prepare``, run when engagements become ready) is
reported beside it. Self-contained: a temporary SQLite database, migrated.
Above 2,000 engagements (``BULK_THRESHOLD``) Salesforce's contacts and tasks go
through Bulk API 2.0 jobs: try ``--engagements 5000``.

    .venv/bin/python bench/crm_push.py [--engagements 1000] [--moments 5] [--providers salesforce,hubspot,dynamics]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup(db_path: str, ca_file: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "chorus.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ["REQUESTS_CA_BUNDLE"] = ca_file
    os.environ.setdefault("SECRET_KEY", "bench")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.REQUESTS_CA_BUNDLE = ca_file
    settings.OUTBOX_MAX_ATTEMPTS = 20
    call_command("migrate", verbosity=0)  # crm's 0003 makes the CRM Objects Creation tables


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def floor_for(provider: str, n: int, m: int) -> int:
    c = math.ceil
    if provider == "salesforce":
        from crm.providers.salesforce.push import BULK_THRESHOLD

        # contacts, tasks: Collections of 200, or above BULK_THRESHOLD one Bulk API 2.0
        # job each (create, upload, UploadComplete, one status poll, results); tracker
        # updates: Collections; Engagement + Moments: Composite Graph, 75 graphs and
        # 500 nodes a call.
        created = 2 * (5 if n > BULK_THRESHOLD else c(n / 200))
        return created + c(n / 200) + max(c(n / 75), c(n * (1 + m) / 500))
    if provider == "hubspot":
        # contacts, tasks, deal updates, engagement upserts (100 each), moment upserts
        # and moment→engagement associations (100 each).
        return 4 * c(n / 100) + 2 * c(n * m / 100)
    # Dataverse: one operation per record, 1,000 a $batch.
    return c(n * (4 + m) / 1000)


def run(provider: str, n: int, m: int, server, faults: float) -> dict:
    from django.db import connection

    from chorus.models import Engagement, Organization, User
    from crm.push.models import CrmFieldRequest
    from crm.push.services import engagement_push_prepare, engagements_push_prepare
    from integrations.models import Connection, Delivery
    from integrations.outbox import outbox_process
    from testutils import crm_fakes as testing

    fake = {"salesforce": testing.FakeSalesforce, "hubspot": testing.FakeHubSpot,
            "dynamics": testing.FakeDataverse}[provider](faults=faults)
    server.clear()
    server.expect_request(re.compile(".*")).respond_with_handler(fake.handle)
    base = server.url_for("").rstrip("/")
    from django.conf import settings

    settings.HUBSPOT_API_URL = base
    org = Organization.objects.create(name=f"Bench {provider}", slug=f"bench-{provider}-{int(time.time())}",
                                      email_domains=["acme.example"])
    owner = User.objects.create_user(f"rep@{org.slug}.acme.example", org=org, first_name="Rey", last_name="Rep",
                                     external_ids={"salesforce": "005000000000001", "hubspot": "77",
                                                   "dynamics": "6f0e0000-0000-0000-0000-000000000001"})
    config = {"instance_url": base} if provider == "salesforce" else {"org_url": base}
    crm_connection = Connection.objects.create(org=org, provider=provider, status="ok", config=config,
                                               secrets={"access_token": "bench-token"})
    if provider == "hubspot":
        # What connecting does first: create the properties and custom objects the
        # push writes (reported apart: once per connection, not per push).
        from crm.providers import get_provider

        session = get_provider(provider).session(config=config, secrets={"access_token": "bench-token"},
                                                 on_tokens=lambda tokens: None)
        crm_connection.config = {**config, **session.verify()}
        crm_connection.save(update_fields=["config"])
    setup_calls = len(fake.calls)
    testing.seed_engagements(org=org, owner=owner, count=n, moments=m, prefix=f"{provider} meeting")

    engagements = list(Engagement.objects.filter(org=org).select_related("owner", "org").order_by("id"))
    # Preparing, as imports do it: many at once (the after-meeting pass, a page of
    # calls)…
    t0 = time.perf_counter()
    batch_q = QueryCounter()
    with connection.execute_wrapper(batch_q):
        for i in range(0, n, 500):
            engagements_push_prepare(org=org, engagements=engagements[i:i + 500])
    batch_s = time.perf_counter() - t0
    Delivery.objects.filter(org=org).delete()
    CrmFieldRequest.objects.filter(org=org).delete()
    # …and one at a time, as a Zoom recording is readied (what the push then sends).
    t0 = time.perf_counter()
    prep_q = QueryCounter()
    with connection.execute_wrapper(prep_q):
        for e in engagements:
            engagement_push_prepare(engagement=e)
    prep_s = time.perf_counter() - t0
    deliveries = Delivery.objects.filter(org=org).count()

    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    t0 = time.perf_counter()
    rounds = 0
    push_q = QueryCounter()
    with connection.execute_wrapper(push_q):
        while rounds < 100:
            rounds += 1
            outbox_process(limit=10 * n * (4 + m), now=now)
            if not Delivery.objects.filter(org=org).exclude(status__in=["sent", "failed"]).exists():
                break
            now += timedelta(hours=2)
    push_s = time.perf_counter() - t0
    sent = Delivery.objects.filter(org=org, status="sent").count()
    return {
        "bench": "crm_push", "provider": provider, "engagements": n, "http_calls": len(fake.calls) - setup_calls,
        "setup_calls": setup_calls,
        "floor": floor_for(provider, n, m), "sql_queries": push_q.count,
        "eng_per_s": round(n / push_s, 1), "deliveries": deliveries, "sent": sent, "rounds": rounds,
        "faults": sum(fake.fault_counts.values()), "prepare_sql_queries": prep_q.count,
        "prepare_eng_per_s": round(n / prep_s, 1), "prepare_batch_sql_queries": batch_q.count,
        "prepare_batch_eng_per_s": round(n / batch_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engagements", type=int, default=1000)
    parser.add_argument("--moments", type=int, default=5)
    parser.add_argument("--providers", default="salesforce,hubspot,dynamics")
    parser.add_argument("--faults", type=float, default=0.0, help="share of CRM calls that fail (0..1)")
    args = parser.parse_args()

    import trustme
    from pytest_httpserver import HTTPServer

    tmp = tempfile.mkdtemp(prefix="crm_push_bench_")
    ca = trustme.CA()
    ca_file = os.path.join(tmp, "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    setup(os.path.join(tmp, "bench.sqlite3"), ca_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    server = HTTPServer(host="localhost", port=0, ssl_context=context)
    server.start()
    from crm.push.clients import PushHttp
    from crm.push.registry import register

    register()
    # With faults, the fakes' slow answers (0.6 s) must outlast the client's patience.
    PushHttp.timeout = (3, 0.3) if args.faults else (3, 30)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        for provider in args.providers.split(","):
            print(json.dumps(run(provider.strip(), args.engagements, args.moments, server, args.faults)), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
