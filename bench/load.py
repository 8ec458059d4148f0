#!/usr/bin/env python
"""Scale-out load benchmark: gunicorn serving ``chorus.wsgi`` under a mixed load, on SQLite and PostgreSQL.

Per database, one organisation is seeded with bulk inserts (``--engagements``, default
10,000 engagements with participants, tracker Moments and account matches; 200 CRM
accounts, 500 opportunities; ``--users`` SCIM-provisioned users; a processed engagement
subset with transcripts; Zoom and Slack connected), then gunicorn (``--workers``,
``--worker-class`` sync or gthread) serves it on a free loopback port with DEBUG off, and
this process drives it with ``--concurrency`` client threads (closed loop, one keep-alive
connection each, loopback only) for ``--duration`` seconds of this mix:

    recordings           GET /recordings/                                (signed-in admin)
    recordings_filtered  GET /recordings/?kind=…&owner=…&opportunity_stage=…[&page=2]
    recordings_search    GET /recordings/?q=<attendee name>
    engagement           GET /recordings/<pk>/  (a processed one: transcript, Moments, brief)
    deals                GET /deals/
    scim_filter          GET  /api/scim/v2/Users?filter=userName eq "…"  (Okta's look-up)
    scim_create          POST /api/scim/v2/Users
    scim_patch_active    PATCH /api/scim/v2/Users/<id>  {"active": true|false}
    zoom_webhook         POST /integrations/zoom/webhook  recording.completed, x-zm-signature v0
    slack_command        POST /integrations/slack/commands  /chorus show all | connect account …,
                         X-Slack-Signature v0

Webhooks are signed for real (HMAC-SHA256 of ``v0:{ts}:{body}``); the console is used
through one Django session per client thread, made with the session store for a seeded
admin. Every response is checked: 4xx/5xx, connection failures and a 2xx/3xx whose body
is not what the route answers (``EXPECT``: the login page instead of Recordings, an
empty SCIM search) count as errors of their route (``error_statuses``), and the first
error body of each route goes to stderr; a route of which every request failed fails
the run. Nothing processes the queued tasks (no qcluster): the Zoom webhook's task is
merely stored by the broker.

After the mixed load each route is sent ``--alone`` times (default 10) by one client,
one request at a time: ``alone_p50_ms`` is the route's own cost, while the mixed
``p50_ms`` of a cheap route is mostly time queued behind expensive ones (8 clients, 4
sync workers). ``slowest_route`` is the route with the highest ``alone_p50_ms``.

Prints one JSON line per (database, route) and one summary line per database:
    {"bench": "load", "database": "postgresql", "route": "recordings_filtered", "requests": …,
     "errors": 0, "rps": …, "p50_ms": …, "p95_ms": …, "p99_ms": …, "alone_p50_ms": …, "alone_max_ms": …}
    {"bench": "load", "database": "postgresql", "summary": true, "rps": …, "slowest_route": "…",
     "gunicorn_workers": 4, "concurrency": 8, "engagements": 10000, …}

    .venv/bin/python bench/load.py                                    # SQLite, and PostgreSQL if installed
    .venv/bin/python bench/load.py --engagements 10000 --duration 30
    .venv/bin/python bench/load.py --databases sqlite --workers 2 --worker-class gthread --threads 4
    .venv/bin/python bench/load.py --databases postgresql \\
        --database-url postgres://chorus:chorus@127.0.0.1:5432/postgres

Self-contained: each database runs in a child process. SQLite is a temporary file
migrated from scratch; PostgreSQL is a fresh ``bench_load_<pid>`` database on the server
of ``--database-url``, dropped afterwards. Without ``--database-url`` the PostgreSQL
scenario runs under ``scripts/with-pg-redis.sh`` (a throwaway server of its own) when
Debian's postgresql and redis-server are installed, and is reported as skipped
otherwise. REDIS_URL is not passed to gunicorn unless ``--redis`` is given (the ORM
broker and the per-process cache, as the embedded default). Persistent database
connections: ``--conn-max-age`` (DATABASE_CONN_MAX_AGE, default 0 like the product).
Latencies are from a shared machine: expect noise between runs.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

from _common import ThrowawayPostgres, free_port, wait_ready  # bench/ is on sys.path when a bench runs

ROOT = Path(__file__).resolve().parent.parent
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ZOOM_SECRET = "bench-zoom-webhook-secret"
SLACK_SECRET = "bench-slack-signing-secret"
ZOOM_ACCOUNT = "BENCH-ZOOM-ACCT"
SLACK_TEAM = "TBENCH01"
SLACK_CHANNEL = "CBENCH01"
DOMAIN = "bench-load.example"
BASE_URL = "http://127.0.0.1:8000"  # CHORUS_BASE_URL: Slack links must name this host
# Route → weight in the mix (per 100 requests).
MIX = {
    "recordings": 8, "recordings_filtered": 12, "recordings_search": 5, "engagement": 12, "deals": 8,
    "scim_filter": 15, "scim_create": 5, "scim_patch_active": 10,
    "zoom_webhook": 13, "slack_command": 12,
}
STAGES = ("Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
# What a right answer of each route contains: a 200 that is the login page or an empty
# list is an error of the bench too ("unexpected body").
EXPECT = {
    "recordings": (rb" engagements? \xc2\xb7 page \d+ of",),
    "recordings_filtered": (rb" engagements? \xc2\xb7 page \d+ of", rb"No recordings match these filters"),
    "recordings_search": (rb" engagements? \xc2\xb7 page \d+ of",),
    "engagement": (rb"Sentence 1 about the budget",),
    "deals": (rb" deals? \xc2\xb7 page \d+ of",),
    "scim_filter": (rb'"totalResults":\s*1\b',),
    "scim_create": (rb'"userName":\s*"new-',),
    "scim_patch_active": (rb'"active":\s*(true|false)',),
    "zoom_webhook": (rb'"status":\s*"queued"',),
    "slack_command": (rb"Connected to this channel:", rb"Already connected: this channel already tracks"),
}
PROSPECTS = ("Willy Wonka", "Mose Schrute", "David Wallace", "Robert California", "Todd Packer", "Holly Flax",
             "Karen Filippelli", "Darryl Philbin", "Nellie Bertram", "Gabe Lewis")


# --- The database -------------------------------------------------------------------------------


# --- Seeding ------------------------------------------------------------------------------------


def seed(*, engagements: int, users: int, processed: int, concurrency: int) -> dict:
    """Migrate and seed one organisation; returns what the driver needs (ids, tokens, cookies)."""
    import django

    django.setup()
    from datetime import timedelta
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from chorus import services
    from chorus.models import Engagement, LicenseType, Moment, Organization, Participant, Role, Tracker, User
    from crm.models import AccountMatch, CrmAccount, CrmOpportunity
    from integrations.models import Connection, ConnectionStatus
    from integrations.processing.models import EngagementProcessing, ProcessingStatus, TranscriptSegment
    from slack.models import SlackChannelTracking, SlackWorkspace
    from sso.scim.provisioning import scim_provisioning_set
    from sso.tokens import scim_token_create

    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    migrate_s = time.monotonic() - started
    started = time.monotonic()
    rnd = random.Random(11)
    batch = 2000
    with transaction.atomic():
        org = services.organization_create(slug="bench-load", name="Bench Load", domains=[DOMAIN],
                                           package=Organization.Package.ENTERPRISE)
        Organization.objects.filter(pk=org.pk).update(scim_provisioning_allowed=True)
        org.refresh_from_db()
        scim_provisioning_set(org=org, actor=None, enabled=True)
        roles = {r.name: r for r in Role.objects.for_org(org)}
        rep = roles["Rep (AE/Other)"]
        admin = User.objects.create(org=org, email=f"admin@{DOMAIN}", first_name="Ada", last_name="Admin",
                                    role=roles[Role.ADMIN], license_type=LicenseType.LISTENER, password="!")
        reps = User.objects.bulk_create([
            User(org=org, email=f"rep{i}@{DOMAIN}", first_name=f"Rep{i}", last_name="Seller", role=rep,
                 license_type=LicenseType.RECORDER, password="!") for i in range(50)])
        User.objects.bulk_create([
            User(org=org, email=f"user{i}@{DOMAIN}", first_name="User", last_name=str(i), role=rep,
                 license_type=LicenseType.RECORDER, password="!", external_id=f"okta{i}")
            for i in range(users)], batch_size=batch)  # userName = email: scim_username stays NULL
        scim_ids = list(User.objects.for_org(org).filter(external_id__startswith="okta").values_list("pk", flat=True))

        accounts = CrmAccount.objects.bulk_create([
            CrmAccount(org=org, provider="salesforce", remote_id=f"001B{i:08d}", name=f"Account {i} Inc",
                       website=f"https://account{i}.example") for i in range(200)])
        opportunities = CrmOpportunity.objects.bulk_create([
            CrmOpportunity(org=org, provider="salesforce", remote_id=f"006B{i:08d}", account=accounts[i % 200],
                           account_remote_id=accounts[i % 200].remote_id, name=f"Account {i % 200} deal {i}",
                           stage=STAGES[i % len(STAGES)], amount=1000 + 37 * i,
                           close_date=(timezone.now() + timedelta(days=i % 120 - 30)).date(),
                           is_closed=STAGES[i % len(STAGES)].startswith("Closed"),
                           is_won=STAGES[i % len(STAGES)] == "Closed Won") for i in range(500)])

        now = timezone.now().replace(microsecond=0)
        kinds = list(Engagement.Kind.values)
        rows = []
        for i in range(engagements):
            prospect = PROSPECTS[i % len(PROSPECTS)]
            rows.append(Engagement(
                org=org, kind=kinds[i % len(kinds)], title=f"{prospect.split()[1]} and team: call {i}",
                owner=reps[rnd.randrange(len(reps))], source="bench", external_id=f"bench-{i}",
                started_at=now - timedelta(minutes=37 * i), duration_seconds=rnd.randint(5, 55) * 60,
                summary="Ada: We agreed on the pilot.\nWilly: Send the proposal." if i < processed else "",
                next_steps=[{"text": "Send the proposal", "speaker": "Ada", "at_seconds": 120}] if i < processed
                else []))
        eng = Engagement.objects.bulk_create(rows, batch_size=batch)
        parts, moments, matches = [], [], []
        trackers = list(Tracker.objects.for_org(org))
        for i, e in enumerate(eng):
            owner = e.owner
            parts.append(Participant(org=org, engagement=e, name=f"{owner.first_name} {owner.last_name}",
                                     email=owner.email, is_internal=True))
            prospect = PROSPECTS[i % len(PROSPECTS)]
            parts.append(Participant(org=org, engagement=e, name=prospect, title="Buyer",
                                     email=f"{prospect.split()[0].lower()}{i}@customer{i % 200}.example"))
            for k in range(i % 3):
                moments.append(Moment(org=org, engagement=e, tracker=trackers[(i + k) % len(trackers)],
                                      at_seconds=60 * (k + 1), text="we compared you with a competitor"))
            if i % 5 != 4:  # four in five matched to an account, most to an opportunity
                opp = opportunities[i % 500]
                matches.append(AccountMatch(org=org, engagement=e, account=opp.account,
                                            opportunity=opp if i % 3 else None, rule=AccountMatch.Rule.DOMAIN,
                                            reason="Company domain of participants' email addresses"))
        Participant.objects.bulk_create(parts, batch_size=batch)
        Moment.objects.bulk_create(moments, batch_size=batch)
        AccountMatch.objects.bulk_create(matches, batch_size=batch)
        done = eng[:processed]
        EngagementProcessing.objects.bulk_create([
            EngagementProcessing(org=org, engagement=e, status=ProcessingStatus.READY, attempts=1,
                                 transcript_source="zoom", brief_engine="extractive") for e in done])
        TranscriptSegment.objects.bulk_create([
            TranscriptSegment(org=org, engagement=e, position=n, speaker=("Ada", "Willy")[n % 2],
                              start_seconds=n * 8.0, end_seconds=n * 8.0 + 7.5,
                              text=f"Sentence {n} about the budget, the timeline and the pilot.")
            for e in done for n in range(60)], batch_size=batch)

        Connection.objects.create(org=org, provider="zoom", status=ConnectionStatus.OK, connected_by=admin,
                                  config={"account_id": ZOOM_ACCOUNT, "post_call_download": True,
                                          "recording_method": "post_call_download"},
                                  secrets={"access_token": "bench", "refresh_token": "bench",
                                           "expires_at": "2999-01-01T00:00:00+00:00"})
        workspace = SlackWorkspace.objects.create(org=org, team_id=SLACK_TEAM, team_name="Bench",
                                                  bot_user_id="UBOT", secrets={"bot_token": "xoxb-bench"},
                                                  installed_by=admin)
        tracked = accounts[:5]
        SlackChannelTracking.objects.bulk_create([
            SlackChannelTracking(org=org, workspace=workspace, channel_id=SLACK_CHANNEL, channel_name="deals",
                                 account=a, added_by_slack_user_id="UBENCH") for a in tracked])
        token = scim_token_create(org=org)[1]

        store = import_module(settings.SESSION_ENGINE).SessionStore
        cookies = []
        for _ in range(concurrency):
            session = store()
            session[SESSION_KEY] = str(admin.pk)
            session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
            session[HASH_SESSION_KEY] = admin.get_session_auth_hash()
            session.create()
            cookies.append(f"{settings.SESSION_COOKIE_NAME}={session.session_key}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seed_s = time.monotonic() - started
    data = {
        "migrate_s": round(migrate_s, 1), "seed_s": round(seed_s, 1),
        "token": token, "scim_ids": scim_ids, "cookies": cookies,
        "engagement_ids": [e.pk for e in done] or [e.pk for e in eng[:100]],
        "owner_ids": [u.pk for u in reps], "stages": list(STAGES),
        "tracked_account_urls": [f"{BASE_URL}/accounts/{a.pk}/" for a in tracked],
    }
    from django.db import connections

    connections.close_all()
    return data


# --- The driver ---------------------------------------------------------------------------------


class Route:
    """Builds one request of a route: (method, path, body bytes or None, headers)."""

    def __init__(self, data: dict, rng: random.Random, cookie: str, name: str):
        self.data, self.rng, self.cookie, self.name = data, rng, cookie, name
        self.n = 0

    def build(self, route: str) -> tuple[str, str, bytes | None, dict]:
        self.n += 1
        return getattr(self, route)()

    def _console(self, path: str):
        return "GET", path, None, {"Cookie": self.cookie}

    def recordings(self):
        return self._console("/recordings/")

    def recordings_filtered(self):
        rng = self.rng
        query = {"kind": rng.choice(["recording", "dialer_call", "email"]),
                 "owner": rng.choice(self.data["owner_ids"]),
                 "opportunity_stage": rng.choice(self.data["stages"])}
        if rng.random() < 0.3:
            query = {"kind": query["kind"], "opportunity_stage": query["opportunity_stage"]}
        if rng.random() < 0.25:
            query["page"] = 2
        return self._console("/recordings/?" + urlencode(query))

    def recordings_search(self):
        name = self.rng.choice(PROSPECTS).split()[self.rng.randrange(2)]
        return self._console("/recordings/?" + urlencode({"q": name}))

    def engagement(self):
        return self._console(f"/recordings/{self.rng.choice(self.data['engagement_ids'])}/")

    def deals(self):
        return self._console("/deals/" + ("?page=2" if self.rng.random() < 0.2 else ""))

    def _scim(self, method: str, path: str, body: dict | None = None):
        headers = {"Authorization": f"Bearer {self.data['token']}", "Content-Type": "application/scim+json",
                   "Accept": "application/scim+json"}
        return method, "/api/scim/v2" + path, json.dumps(body).encode() if body is not None else None, headers

    def scim_filter(self):
        i = self.rng.randrange(len(self.data["scim_ids"]))
        flt = quote(f'userName eq "user{i}@{DOMAIN}"')
        return self._scim("GET", f"/Users?filter={flt}&startIndex=1&count=100")

    def scim_create(self):
        email = f"new-{self.name}-{self.n}-{self.rng.randrange(10**9)}@{DOMAIN}"
        return self._scim("POST", "/Users", {
            "schemas": [USER_SCHEMA], "userName": email, "externalId": f"okta-new-{uuid.uuid4().hex[:12]}",
            "name": {"givenName": "New", "familyName": "Hire"}, "emails": [{"value": email, "primary": True}],
            "active": True,
        })

    def scim_patch_active(self):
        pk = self.rng.choice(self.data["scim_ids"])
        return self._scim("PATCH", f"/Users/{pk}", {"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "value": {"active": self.rng.random() < 0.5}}]})

    def zoom_webhook(self):
        meeting = uuid.uuid4().hex
        payload = {
            "event": "recording.completed", "event_ts": int(time.time() * 1000),
            "download_token": "bench-download-token",
            "payload": {"account_id": ZOOM_ACCOUNT, "object": {
                "uuid": meeting, "id": self.rng.randrange(10**10), "account_id": ZOOM_ACCOUNT,
                "host_id": "benchhost", "host_email": f"rep1@{DOMAIN}", "topic": f"Bench call {meeting[:8]}",
                "type": 2, "start_time": "2026-11-27T15:00:00Z", "duration": 31, "recording_count": 1,
                "recording_files": [{
                    "id": meeting, "meeting_id": meeting, "recording_start": "2026-11-27T15:00:05Z",
                    "recording_end": "2026-11-27T15:30:35Z", "file_type": "M4A", "file_extension": "M4A",
                    "file_size": 246560, "download_url": "https://zoom.invalid/rec/download/audio",
                    "status": "completed", "recording_type": "audio_only"}],
            }},
        }
        body = json.dumps(payload).encode()
        ts = str(int(time.time()))
        signature = "v0=" + hmac.new(ZOOM_SECRET.encode(), b"v0:" + ts.encode() + b":" + body,
                                     hashlib.sha256).hexdigest()
        return "POST", "/integrations/zoom/webhook", body, {
            "Content-Type": "application/json", "x-zm-request-timestamp": ts, "x-zm-signature": signature}

    def slack_command(self):
        if self.rng.random() < 0.5:
            text = "show all"
        else:
            text = f"connect account <{self.rng.choice(self.data['tracked_account_urls'])}>"
        body = urlencode({
            "token": "legacy-unused", "team_id": SLACK_TEAM, "team_domain": "bench", "channel_id": SLACK_CHANNEL,
            "channel_name": "deals", "user_id": "UBENCH", "user_name": "ada", "command": "/chorus", "text": text,
            "api_app_id": "ABENCH", "response_url": "https://hooks.slack.invalid/commands/T/1/x",
            "trigger_id": f"{self.n}.{self.rng.randrange(10**9)}",
        }).encode()
        ts = str(int(time.time()))
        signature = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
        return "POST", "/integrations/slack/commands", body, {
            "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature}


class Client(threading.Thread):
    """One client connection sending the mix until ``deadline`` (closed loop)."""

    first_errors: dict[str, str] = {}
    lock = threading.Lock()

    def __init__(self, port: int, data: dict, seed_: int, cookie: str, deadline: float | None, count: int = 0):
        super().__init__(daemon=True, name=f"client{seed_}")
        self.port, self.deadline, self.count = port, deadline, count
        self.rng = random.Random(seed_)
        self.routes = Route(data, self.rng, cookie, self.name)
        self.samples: list[tuple[str, float, int]] = []  # (route, ms, status); status 0 = no answer
        self.conn: http.client.HTTPConnection | None = None

    def _request(self, method, path, body, headers) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server closed meanwhile: once more on a new one.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def one(self, route: str) -> None:
        method, path, body, headers = self.routes.build(route)
        started = time.perf_counter()
        try:
            status, data = self._request(method, path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            status, data = 0, repr(exc).encode()
            if self.conn is not None:
                self.conn.close()
                self.conn = None
        ms = (time.perf_counter() - started) * 1000
        if 200 <= status < 400 and not any(re.search(p, data) for p in EXPECT[route]):
            status = -status  # answered, but not what the route answers: an error too
        self.samples.append((route, ms, status))
        if not 200 <= status < 400:
            with self.lock:
                if route not in self.first_errors:
                    self.first_errors[route] = (f"{method} {path} → {abs(status) or 'no answer'}"
                                               f"{' (not what the route answers)' if status < 0 else ''}: "
                                               f"{data[:2000].decode(errors='replace')}")
                    print(f"# first error of {route}: {self.first_errors[route]}", file=sys.stderr, flush=True)

    def run(self) -> None:
        kinds = [k for k, w in MIX.items() for _ in range(w)]
        if self.deadline is None:  # warm-up: every route ``count`` times
            for route in MIX:
                for _ in range(self.count):
                    self.one(route)
        else:
            while time.perf_counter() < self.deadline:
                self.one(self.rng.choice(kinds))
        if self.conn is not None:
            self.conn.close()


def percentile(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 2)


def drive(port: int, data: dict, *, concurrency: int, duration: float, warmup: int,
          alone_requests: int) -> tuple[list, float, dict]:
    warm = [Client(port, data, -1 - i, data["cookies"][i], None, count=warmup) for i in range(min(2, concurrency))]
    for c in warm:
        c.start()
    for c in warm:
        c.join()
    clients = [Client(port, data, s, data["cookies"][s], 0.0) for s in range(concurrency)]
    started = time.perf_counter()
    for c in clients:
        c.deadline = started + duration
        c.start()
    for c in clients:
        c.join()
    elapsed = time.perf_counter() - started
    samples = [s for c in clients for s in c.samples]
    # Then each route alone (one client, one request at a time): its own cost, without
    # the queueing behind other routes' requests that the mixed latencies include.
    alone: dict[str, list[float]] = {}
    if alone_requests:
        single = Client(port, data, 10_000, data["cookies"][0], None)
        for route in MIX:
            for _ in range(alone_requests):
                single.one(route)
            alone[route] = sorted(ms for r, ms, status in single.samples if r == route and 200 <= status < 400)
            alone[route + ":errors"] = [status for r, ms, status in single.samples
                                        if r == route and not 200 <= status < 400]
        if single.conn is not None:
            single.conn.close()
    return samples, elapsed, alone


# --- One database -------------------------------------------------------------------------------


def run_scenario(args, database: str, server_url: str | None) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="load-bench-"))
    postgres = ThrowawayPostgres(server_url, "load") if database == "postgresql" else None
    proc = None
    try:
        db_url = postgres.create() if postgres else f"sqlite:///{tmp / 'bench.sqlite3'}"
        env = {k: v for k, v in os.environ.items() if args.redis or k != "REDIS_URL"}
        env.update({
            "DJANGO_SETTINGS_MODULE": "chorus.settings", "DATABASE_URL": db_url, "DEBUG": "False",
            "SECRET_KEY": "bench-load-" + uuid.uuid4().hex, "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CHORUS_BASE_URL": BASE_URL, "MEDIA_ROOT": str(tmp / "media"), "LOG_LEVEL": "WARNING",
            "ZOOM_WEBHOOK_SECRET_TOKEN": ZOOM_SECRET, "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "DATABASE_CONN_MAX_AGE": str(args.conn_max_age),
        })
        os.environ.clear()
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        data = seed(engagements=args.engagements, users=args.users, processed=args.processed,
                    concurrency=args.concurrency)
        print(f"# {database}: migrated in {data['migrate_s']}s, seeded {args.engagements} engagements "
              f"in {data['seed_s']}s", file=sys.stderr, flush=True)
        port = free_port()
        gunicorn = Path(sys.executable).with_name("gunicorn")
        cmd = [str(gunicorn), "chorus.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
               "--worker-class", args.worker_class, "--log-level", "warning", "--timeout", "120",
               "--backlog", "256"]
        if args.worker_class == "gthread":
            cmd += ["--threads", str(args.threads)]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
        wait_ready(port, proc, "/login/")
        samples, elapsed, alone = drive(port, data, concurrency=args.concurrency, duration=args.duration,
                                        warmup=args.warmup, alone_requests=args.alone)
        summary_rows = []
        for route in MIX:
            mine = [s for s in samples if s[0] == route]
            ms = sorted(s[1] for s in mine)
            errors = [s[2] for s in mine if not 200 <= s[2] < 400]
            row = {"bench": "load", "database": database, "route": route, "requests": len(mine),
                   "errors": len(errors), "rps": round(len(mine) / elapsed, 1),
                   "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "p99_ms": percentile(ms, 99)}
            if route in alone:
                row.update(alone_p50_ms=percentile(alone[route], 50),
                           alone_max_ms=round(max(alone[route], default=0), 2))
                errors += alone[route + ":errors"]  # an error is an error, alone or not
            row["errors"] = len(errors)
            if errors:
                row["error_statuses"] = {(f"unexpected body ({-k})" if k < 0 else "no answer" if k == 0 else str(k)):
                                         errors.count(k) for k in sorted(set(errors))}
            summary_rows.append(row)
            print(json.dumps(row), flush=True)
        # Slowest by its own cost (alone) when measured: mixed latencies of cheap routes are
        # mostly time spent queued behind expensive ones.
        slowest = max(summary_rows, key=lambda r: r.get("alone_p50_ms", r["p50_ms"]))
        print(json.dumps({
            "bench": "load", "database": database, "summary": True, "requests": len(samples),
            "errors": sum(r["errors"] for r in summary_rows), "rps": round(len(samples) / elapsed, 1),
            "p50_ms": percentile(sorted(s[1] for s in samples), 50),
            "p95_ms": percentile(sorted(s[1] for s in samples), 95),
            "slowest_route": slowest["route"], "slowest_p50_ms": slowest["p50_ms"],
            **({"slowest_alone_p50_ms": slowest["alone_p50_ms"]} if "alone_p50_ms" in slowest else {}),
            "gunicorn_workers": args.workers, "worker_class": args.worker_class,
            **({"threads": args.threads} if args.worker_class == "gthread" else {}),
            "concurrency": args.concurrency, "duration_s": round(elapsed, 1), "engagements": args.engagements,
            "scim_users": args.users, "conn_max_age": args.conn_max_age,
            "migrate_s": data["migrate_s"], "seed_s": data["seed_s"], "cpus": os.cpu_count(),
        }), flush=True)
        sent = {r["route"]: r["requests"] + (args.alone if r["route"] in alone else 0) for r in summary_rows}
        worthless = [r["route"] for r in summary_rows if sent[r["route"]] and r["errors"] >= sent[r["route"]]]
        if worthless:
            raise SystemExit(f"{database}: every request of {', '.join(worthless)} failed (first bodies above)")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if postgres:
            try:
                postgres.drop()
            except Exception as exc:  # report, keep the scenario's own outcome
                print(f"# could not drop {postgres.name}: {exc}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


def postgres_unavailable() -> str:
    """Why scripts/with-pg-redis.sh cannot run here (empty when it can)."""
    if not any(os.access(p, os.X_OK) for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")):
        return "Debian's postgresql is not installed (no /usr/lib/postgresql/*/bin/initdb) and no --database-url"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (scripts/with-pg-redis.sh needs it) and no --database-url"
    if shutil.which("bash") is None:
        return "bash is not available for scripts/with-pg-redis.sh"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engagements", type=int, default=10_000, help="engagements of the organisation")
    parser.add_argument("--users", type=int, default=1000, help="SCIM-provisioned users of the organisation")
    parser.add_argument("--processed", type=int, default=200,
                        help="engagements with a transcript (60 segments), Moments and a brief; the engagement page "
                             "route opens these")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per database")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (requests in flight)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per route and warm-up client")
    parser.add_argument("--alone", type=int, default=10,
                        help="after the mixed load, requests of each route sent alone, one at a time (0: none)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--conn-max-age", type=int, default=0, help="DATABASE_CONN_MAX_AGE of gunicorn's workers")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (a bench_load_<pid> database is made on it)")
    parser.add_argument("--redis", action="store_true", help="pass REDIS_URL through to gunicorn (broker, cache)")
    parser.add_argument("--child", choices=("sqlite", "postgresql"), help=argparse.SUPPRESS)
    parser.add_argument("--database-url-from-env", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url = os.environ["DATABASE_URL"] if args.database_url_from_env else args.database_url
        run_scenario(args, args.child, url)
        return
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown))}")
    common = strip_options(sys.argv[1:], ("--databases", "--database-url"))
    failed = False
    for database in databases:
        cmd = [sys.executable, __file__, *common, "--child", database]
        if database == "postgresql":
            if args.database_url:
                cmd += ["--database-url", args.database_url]
            elif why := postgres_unavailable():
                print(json.dumps({"bench": "load", "database": "postgresql", "skipped": True, "why": why}),
                      flush=True)
                continue
            else:
                cmd = ["bash", str(ROOT / "scripts" / "with-pg-redis.sh"), *cmd, "--database-url-from-env"]
        failed |= run_child(cmd) != 0
    if failed:
        sys.exit(1)


def run_child(cmd: list[str]) -> int:
    """Run a scenario; its JSON lines go to stdout, anything else it prints (the banner of
    scripts/with-pg-redis.sh) to stderr, so stdout stays one JSON object per line."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        print(line, end="", file=sys.stdout if line.startswith("{") else sys.stderr, flush=True)
    return proc.wait()


def strip_options(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """``argv`` without the options ``names`` (``--x v`` and ``--x=v``)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in names:
            skip = True
            continue
        if any(arg.startswith(n + "=") for n in names):
            continue
        out.append(arg)
    return out


if __name__ == "__main__":
    main()
