"""Benchmark: post-meeting briefs fanned out to Slack. N ready Enterprise engagements
over A accounts, tracked by C channels (each channel tracks A/C accounts; every fifth
channel also tracks an opportunity of one of its accounts, so some meetings reach a
channel through both — still one message), plus a DM to each owner who linked Slack.
The ready listener queues (in batches of 100, as processing announces them), the
outbox sends through the real slack-sdk to the Slack fake (testutils/slack_fake.py)
on a local HTTP server in this process. One JSON line:

    {"bench": "slack_fanout", "engagements": 1000, "channels": 50, "slack_calls": …,
     "floor": …, "queries_per_1000": …, "messages_per_s": …, …}

``floor`` is the number of messages that must be posted (one per engagement and
channel, one per DM; chat.postMessage takes one message a call, so it is also the
fewest calls); ``queries_per_1000`` is the SQL of queuing plus sending per 1,000
engagements; ``messages_per_s`` is the sending rate, paced at ``--interval`` seconds
between posts to one channel (Slack: about one message per second per channel).
Self-contained: a temporary SQLite database, migrated.

    .venv/bin/python bench/slack_fanout.py [--engagements 1000] [--channels 50] [--accounts 100]
                                           [--owners 100] [--linked 0.8] [--interval 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup(db_path: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "chorus.settings"
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("SECRET_KEY", "bench")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def run(args, server) -> dict:
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from chorus import services
    from chorus.models import Engagement, Organization, Participant, Role, User
    from crm.models import AccountMatch, CrmAccount, CrmOpportunity
    from integrations.models import Delivery
    from integrations.outbox import outbox_process
    from integrations.registry import SENDERS
    from slack.delivery import SlackSender, slack_ready
    from slack.models import SlackChannelTracking, SlackUserLink, SlackWorkspace
    from testutils.slack_fake import FakeSlack

    n, c, a = args.engagements, args.channels, args.accounts
    fake = FakeSlack().install(server)
    settings.SLACK_API_URL = server.url_for("/api/")
    fake.add_workspace("T1", "Bench", bot_token="xoxb-bench")
    org = Organization.objects.create(name="Bench", slug=f"bench-slack-{int(time.time())}",
                                      email_domains=["acme.example"], package=Organization.Package.ENTERPRISE)
    services.roles_ensure_builtin(org=org)
    role = Role.objects.for_org(org).first()
    workspace = SlackWorkspace.objects.create(org=org, team_id="T1", team_name="Bench",
                                              secrets={"bot_token": "xoxb-bench"})
    owners = User.objects.bulk_create([User(org=org, email=f"rep{i}@acme.example", role=role)
                                       for i in range(args.owners)])
    links = {}
    for i, owner in enumerate(owners[:int(args.owners * args.linked)]):
        fake.add_user(f"U{i:05d}", f"rep{i}", team_id="T1")
        links[owner.id] = f"U{i:05d}"
    SlackUserLink.objects.bulk_create([SlackUserLink(org=org, user_id=uid, workspace=workspace, slack_user_id=sid)
                                       for uid, sid in links.items()])
    accounts = CrmAccount.objects.bulk_create([
        CrmAccount(org=org, provider="salesforce", remote_id=f"001{i:05d}", name=f"Account {i}") for i in range(a)])
    opps = CrmOpportunity.objects.bulk_create([
        CrmOpportunity(org=org, provider="salesforce", remote_id=f"006{i:05d}", account=acc, name=f"Deal {i}")
        for i, acc in enumerate(accounts)])
    trackings = []
    channel_of_account: dict[int, set[str]] = {}
    channel_of_opp: dict[int, set[str]] = {}
    for ch in range(c):
        cid = f"C{ch:05d}"
        fake.add_channel(cid, f"deal-room-{ch}", team_id="T1")
        mine = [i for i in range(a) if i % c == ch]
        for i in mine:
            trackings.append(SlackChannelTracking(org=org, workspace=workspace, channel_id=cid, account=accounts[i]))
            channel_of_account.setdefault(accounts[i].id, set()).add(cid)
        if ch % 5 == 0 and mine:
            opp = opps[mine[0]]
            trackings.append(SlackChannelTracking(org=org, workspace=workspace, channel_id=cid, opportunity=opp))
            channel_of_opp.setdefault(opp.id, set()).add(cid)
    SlackChannelTracking.objects.bulk_create(trackings)

    now = timezone.now()
    engagements = Engagement.objects.bulk_create([
        Engagement(org=org, kind="recording", title=f"Meeting {i}", started_at=now - timedelta(hours=1),
                   duration_seconds=1800, owner=owners[i % len(owners)], source="bench", external_id=str(i),
                   summary="Ann Buyer: We need the rollout before March.\nRey Rep: We start onboarding next week.",
                   action_items=[{"text": "Send the pricing sheet", "speaker": "Rey Rep"}])
        for i in range(n)])
    Participant.objects.bulk_create([
        Participant(org=org, engagement=e, name=name, email=email, is_internal=internal)
        for e in engagements for name, email, internal in (("Rey Rep", "rep@acme.example", True),
                                                           ("Ann Buyer", "ann@customer.example", False))])
    AccountMatch.objects.bulk_create([
        AccountMatch(org=org, engagement=e, account=accounts[i % a], opportunity=opps[i % a], rule="domain")
        for i, e in enumerate(engagements)])
    floor = sum(1 for e in engagements if e.owner_id in links) + sum(
        len(channel_of_account.get(accounts[i % a].id, set()) | channel_of_opp.get(opps[i % a].id, set()))
        for i in range(n))

    engagements = list(Engagement.objects.filter(org=org).select_related("owner").order_by("id"))
    queue_q = QueryCounter()
    t0 = time.perf_counter()
    with connection.execute_wrapper(queue_q):
        for i in range(0, n, 100):
            with transaction.atomic():
                slack_ready(org=org, engagements=engagements[i:i + 100])
    queue_s = time.perf_counter() - t0
    deliveries = Delivery.objects.filter(org=org, target="slack").count()

    sender = SlackSender()
    sender.min_interval = args.interval
    SENDERS["slack"] = sender
    send_q = QueryCounter()
    rounds = 0
    t0 = time.perf_counter()
    with connection.execute_wrapper(send_q):
        while rounds < 1000:
            rounds += 1
            outbox_process(limit=10_000, now=timezone.now() + timedelta(seconds=rounds * 2))
            if not Delivery.objects.filter(org=org, target="slack").exclude(status__in=["sent", "failed"]).exists():
                break
    send_s = time.perf_counter() - t0
    sent = Delivery.objects.filter(org=org, target="slack", status="sent").count()
    return {
        "bench": "slack_fanout", "engagements": n, "channels": c, "slack_calls": len(fake.calls), "floor": floor,
        "queries_per_1000": round((queue_q.count + send_q.count) * 1000 / n, 1),
        "messages_per_s": round(len(fake.messages) / send_s, 1),
        "messages": len(fake.messages), "deliveries": deliveries, "sent": sent, "dms": len(
            [m for m in fake.messages if m["channel"].startswith("U")]), "rounds": rounds,
        "queue_queries": queue_q.count, "send_queries": send_q.count, "queue_eng_per_s": round(n / queue_s, 1),
        "interval": args.interval, "accounts": a, "owners": args.owners, "linked": len(links),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engagements", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--owners", type=int, default=100)
    parser.add_argument("--linked", type=float, default=0.8, help="share of owners who linked Slack")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between two posts to one channel (0: no pacing)")
    args = parser.parse_args()

    import logging

    from pytest_httpserver import HTTPServer

    tmp = tempfile.mkdtemp(prefix="slack_fanout_bench_")
    setup(os.path.join(tmp, "bench.sqlite3"))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        print(json.dumps(run(args, server)), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
