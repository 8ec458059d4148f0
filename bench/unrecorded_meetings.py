#!/usr/bin/env python
"""Benchmark of the after-meeting pass (integrations/conferencing/unrecorded.py) on SQLite.

One org, U users with a calendar each, N meetings that ended in the last day; each
meeting sits in 1–3 of its attendees' calendars (the organizer's plus colleagues'),
and a share of them were recorded (a recording engagement owned by the organizer).
Salesforce is connected and CRM Objects Creation > Create a task > Unrecorded
Meeting is on, so each unrecorded meeting is also account-matched and its task
queued in the outbox. The scheduled task runs until nothing is due; then it runs
again (it must make nothing).

Prints one JSON line per scenario:
    {"bench": "unrecorded_meetings", "meetings": 10000, "calendar_events": …, "meetings_per_s": …,
     "queries_per_1000": …, "unrecorded": …, "recorded": …, "tasks_queued": …, "second_run_made": 0}

    .venv/bin/python bench/unrecorded_meetings.py [--meetings 10000] [--users 200] [--recorded 0.4]

Self-contained: each scenario runs in a child process on a fresh, migrated SQLite
database in a temporary directory.
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
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_scenario(meetings: int, users: int, recorded_share: float, workdir: Path) -> dict:
    os.environ.update({"DJANGO_SETTINGS_MODULE": "chorus.settings", "LOG_LEVEL": "WARNING",
                       "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}"})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection as db
    from django.utils import timezone

    call_command("migrate", verbosity=0, interactive=False)
    from chorus.models import Engagement, Participant, User
    from chorus.services import organization_create
    from crm.push.services import crm_objects_settings_get
    from integrations.conferencing.models import Calendar, CalendarEvent
    from integrations.conferencing.unrecorded import BATCH, GRACE, unrecorded_meetings_collect
    from integrations.models import Connection, Delivery

    rng = random.Random(7)
    org = organization_create(slug="bench", name="Bench", domains=["bench.example"])
    Connection.objects.create(org=org, provider="salesforce", status="ok",
                              config={"instance_url": "https://bench.my.salesforce.com"})
    matrix = crm_objects_settings_get(org=org)
    matrix.task_unrecorded = True
    matrix.save()
    people = User.objects.bulk_create([User(org=org, email=f"rep{i}@bench.example", first_name=f"Rep{i}")
                                       for i in range(users)])
    calendars = Calendar.objects.bulk_create([Calendar(org=org, user=u, provider="ics", status="ok")
                                              for u in people])
    now = timezone.now().replace(microsecond=0)
    slots = -(-meetings // users)  # each user organises one meeting per 45-minute slot
    first_start = now - timedelta(minutes=45 * slots + 60)
    events, recordings, buyers = [], [], []
    for i in range(meetings):
        organizer, slot = i % users, i // users
        start = first_start + timedelta(minutes=45 * slot)
        colleagues = rng.sample([u for u in range(users) if u != organizer], rng.choice((0, 0, 1, 2)))
        hosts = [organizer, *colleagues]  # colleagues are double-booked: their own meeting is at the same time
        buyer = f"buyer{i}@customer{i % 500}.example"
        attendees = [{"email": people[h].email} for h in hosts] + [{"email": buyer, "name": f"Buyer {i}"}]
        for h in hosts:
            events.append(CalendarEvent(
                org=org, calendar=calendars[h], external_id=f"{i}-{h}", title=f"Meeting {i}", starts_at=start,
                ends_at=start + timedelta(minutes=30), organizer_email=people[organizer].email, attendees=attendees))
        if rng.random() < recorded_share:
            recordings.append(Engagement(org=org, kind="recording", source="zoom", external_id=f"z{i}",
                                         title=f"Meeting {i}", started_at=start + timedelta(minutes=rng.randint(0, 5)),
                                         owner=people[organizer]))
            buyers.append(buyer)
    CalendarEvent.objects.bulk_create(events, batch_size=2000)
    Engagement.objects.bulk_create(recordings, batch_size=2000)
    Participant.objects.bulk_create(
        [Participant(org=org, engagement=e, email=b) for e, b in zip(recordings, buyers, strict=True)], batch_size=2000)

    queries = [0]

    def count(execute, sql, params, many, context):
        queries[0] += 1
        return execute(sql, params, many, context)

    when = now + GRACE
    totals = {"meetings": 0, "recorded": 0, "unrecorded": 0, "skipped": 0}
    with db.execute_wrapper(count):
        started = time.perf_counter()
        while (counts := unrecorded_meetings_collect(now=when, limit=BATCH))["meetings"]:
            for k, v in counts.items():
                totals[k] += v
        elapsed = time.perf_counter() - started
    made = Engagement.objects.filter(kind="unrecorded_meeting").count()
    linked = CalendarEvent.objects.filter(engagement__kind="recording").values("engagement").distinct().count()
    if made != meetings - len(recordings) or linked != len(recordings) or \
            CalendarEvent.objects.filter(engagement__isnull=True).exists():
        raise SystemExit(f"expected {len(recordings)} recorded of {meetings}: {made} made, {linked} linked, {totals}")
    CalendarEvent.objects.update(outcome_checked_at=None)  # look at everything again
    while unrecorded_meetings_collect(now=when, limit=BATCH)["meetings"]:
        pass
    second_made = Engagement.objects.filter(kind="unrecorded_meeting").count() - made
    return {
        "bench": "unrecorded_meetings", "meetings": meetings, "calendar_events": len(events), "users": users,
        "meetings_per_s": round(meetings / elapsed, 1), "queries_per_1000": round(queries[0] * 1000 / meetings, 1),
        "unrecorded": made, "recorded": linked,
        "tasks_queued": Delivery.objects.filter(kind="task").count(), "second_run_made": second_made,
        "seconds": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meetings", type=int, action="append", help="meetings that ended (repeatable)")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--recorded", type=float, default=0.4, help="share of meetings that were recorded")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = args.meetings or [10_000]
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run_scenario(sizes[0], args.users, args.recorded, Path(tmp))), flush=True)
        return
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--child", "--meetings", str(n), "--users", str(args.users),
                              "--recorded", str(args.recorded)], capture_output=True, text=True, check=False)
        if out.returncode:
            sys.stderr.write(out.stderr)
            raise SystemExit(out.returncode)
        print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
