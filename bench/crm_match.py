#!/usr/bin/env python
"""Benchmark of account matching (crm/matching.py) on SQLite.

Builds a temporary SQLite database per scenario (migrated, then filled with raw
bulk inserts): one org, a Salesforce connection with the ZoomInfo app, N accounts
(one domain each, every 20th sharing its neighbour's domain, a third with a
ZoomInfo id), N contacts, N/2 opportunities, and E engagements with 4
participants each (1 internal, 2 on a company domain or an unknown one, 1
free-mail address that is sometimes a CRM contact). Then it matches every
engagement with ``matches_refresh_for_org`` and prints one JSON object per
scenario: engagements/s, SQL queries per 1,000 engagements, and the time per
engagement relative to the 10,000-account baseline (near 1 = indexed, batched
look-ups that do not grow with the CRM).

    .venv/bin/python bench/crm_match.py                      # quick (make bench)
    .venv/bin/python bench/crm_match.py --accounts 1000000 --engagements 100000

Each scenario runs in a child process (Django is set up once per process, with
DATABASE_URL pointing at that scenario's temporary file).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 50_000


def _django(db_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "chorus.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _insert(model, rows, columns: list[str]) -> None:
    """executemany in chunks; every column not given gets the field's default."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    given = set(columns)
    defaults = {f.column: f.get_db_prep_save(f.get_default(), connection) for f in fields if f.column not in given}
    cols = columns + list(defaults)
    sql = (f'INSERT INTO "{model._meta.db_table}" ({", ".join(cols)}) '
           f'VALUES ({", ".join("?" * len(cols))})')
    tail = tuple(defaults.values())
    buf = []
    with connection.cursor() as cur:
        raw = cur.cursor if hasattr(cur, "cursor") else cur
        for row in rows:
            buf.append(tuple(row) + tail)
            if len(buf) >= CHUNK:
                raw.executemany(sql, buf)
                buf.clear()
        if buf:
            raw.executemany(sql, buf)


def _build(*, accounts: int, engagements: int, seed: int):
    from django.db import connection, transaction

    from chorus.models import Engagement, Organization, Participant
    from crm.models import AccountDomain, CrmAccount, CrmContact, CrmOpportunity
    from integrations.models import Connection

    rng = random.Random(seed)
    today = date(2026, 11, 1)
    org = Organization.objects.create(name="Bench", slug="bench", email_domains=["bench-org.com"])
    Connection.objects.create(org=org, provider="salesforce", config={"zoominfo_installed": True}, status="ok")
    with connection.cursor() as cur:
        cur.execute("PRAGMA synchronous=OFF")
    first_id = 1  # fresh tables: ids are 1..N in insert order
    with transaction.atomic():
        _insert(CrmAccount, ((org.id, "salesforce", f"001{i:012d}", f"Company {i}", f"https://company{i}.com",
                              f"ZI{i}" if i % 3 == 0 else "") for i in range(accounts)),
                ["org_id", "provider", "remote_id", "name", "website", "zoominfo_id"])
        _insert(AccountDomain, ((org.id, first_id + i, f"company{i - 1 if i % 20 == 19 else i}.com",
                                 rng.randint(1, 20)) for i in range(accounts)),
                ["org_id", "account_id", "domain", "weight"])
        _insert(CrmContact, ((org.id, "salesforce", f"003{i:012d}", first_id + i, f"001{i:012d}",
                              f"buyer{i}@gmail.com" if i % 2 else f"buyer{i}@company{i}.com")
                             for i in range(accounts)),
                ["org_id", "provider", "remote_id", "account_id", "account_remote_id", "email"])

        def opportunities():
            for i in range(0, accounts, 2):
                close = today + timedelta(days=rng.randint(-365, 365))
                yield (org.id, "salesforce", f"006{i:012d}", first_id + i, f"001{i:012d}", f"Deal {i}",
                       "Negotiation", rng.randint(1, 500) * 1000, close.isoformat(), rng.random() < 0.1)

        _insert(CrmOpportunity, opportunities(),
                ["org_id", "provider", "remote_id", "account_id", "account_remote_id", "name", "stage", "amount",
                 "close_date", "is_closed"])
        start = datetime(2026, 5, 1, tzinfo=UTC)
        _insert(Engagement, ((org.id, "recording", f"Call {e}",
                              (start + timedelta(minutes=rng.randint(0, 259_200))).strftime("%Y-%m-%d %H:%M:%S"),
                              "bench",
                              f"bench-{e}") for e in range(engagements)),
                ["org_id", "kind", "title", "started_at", "source", "external_id"])

        def participants():
            for e in range(engagements):
                eng_id = e + 1
                k = rng.randrange(accounts)
                company = f"company{k}.com" if rng.random() < 0.8 else f"unknown{k}.net"
                yield (org.id, eng_id, "Rep", "rep@bench-org.com", True)
                yield (org.id, eng_id, "Buyer", f"a{e}@{company}", False)
                # A host of its own (same registrable domain), so the domain cache helps no scenario more.
                yield (org.id, eng_id, "Champion", f"b{e}@mail{e}.{company}", False)
                j = rng.randrange(accounts)
                yield (org.id, eng_id, "Friend", f"buyer{j}@gmail.com" if j % 2 else f"p{e}@gmail.com", False)

        _insert(Participant, participants(), ["org_id", "engagement_id", "name", "email", "is_internal"])
    return org


def _one(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="crm-match-bench-") as tmp:
        _django(Path(tmp) / "bench.sqlite3")
        from django.db import connection
        from django.db.models import Count

        from crm import matching
        from crm.models import AccountMatch

        t0 = time.perf_counter()
        org = _build(accounts=args.accounts, engagements=args.engagements, seed=args.seed)
        build_s = time.perf_counter() - t0

        matching.registrable_domain("warm@up.co.uk")  # load the suffix list outside the timing
        best = float("inf")
        for _ in range(max(1, args.repeat)):
            # Start from unmatched engagements each time; keep the best run (the host is shared).
            with connection.cursor() as cur:
                cur.execute("DELETE FROM crm_accountmatch")
                cur.execute("UPDATE chorus_engagement SET crm_account_id = '', crm_opportunity_id = ''")
            matching._host_registrable.cache_clear()
            queries = 0

            def count(execute, sql, params, many, context):
                nonlocal queries
                queries += 1
                return execute(sql, params, many, context)

            with connection.execute_wrapper(count):
                t0 = time.perf_counter()
                matched = matching.matches_refresh_for_org(org=org)
                best = min(best, time.perf_counter() - t0)
        match_s = best
        rules = dict(AccountMatch.objects.for_org(org).values_list("rule").order_by("rule").annotate(n=Count("id")))
        connection.close()
    return {
        "bench": "crm_match",
        "accounts": args.accounts,
        "engagements": matched,
        "eng_per_s": round(matched / match_s, 1),
        "queries_per_1000": round(queries * 1000 / matched, 2),
        "match_s": round(match_s, 2),
        "build_s": round(build_s, 1),
        "rules": rules,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000, help="CRM accounts (full size: 1000000)")
    parser.add_argument("--engagements", type=int, default=10_000, help="engagements, 4 participants each "
                        "(full size: 100000)")
    parser.add_argument("--baseline-accounts", type=int, default=10_000, help="accounts of the baseline scenario")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2, help="match this many times, report the fastest")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # run one scenario in this process
    args = parser.parse_args()

    if args.one:
        print(json.dumps(_one(args)), flush=True)
        return

    results = []
    for accounts in dict.fromkeys([args.baseline_accounts, args.accounts]):
        out = subprocess.run(
            [sys.executable, __file__, "--one", "--accounts", str(accounts), "--engagements", str(args.engagements),
             "--seed", str(args.seed), "--repeat", str(args.repeat)],
            check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        ).stdout.strip().splitlines()[-1]
        result = json.loads(out)
        results.append(result)
        base = results[0]
        result["ratio_vs_10k"] = round(base["eng_per_s"] / result["eng_per_s"], 2)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
