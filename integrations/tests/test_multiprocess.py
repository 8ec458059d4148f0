"""Scale-out for real: three ``manage.py qcluster`` processes on one PostgreSQL test
database and one Redis broker drain the same outbox and run the same dialer imports
for 20 organisations while engagements keep arriving; one cluster is killed with
SIGKILL (its whole process group) while a CRM write it sent is applied but not yet
answered, then restarted. Every CRM object exists once at the fake Salesforce, every
dialer call is imported once, and nothing is left claimed after the leases.

The scheduler's ticks are queued from this process (``async_task``) instead of waiting
for the django-q Schedule rows: the outbox tick (``integrations.tasks.outbox_drain_task``),
the hourly dialer import tick (``dialers.tasks.dialer_imports_due_task``) and, as its
schedule does every minute, the processing tick (a dialer call goes through processing
before its CRM objects are queued). Each tick fans out into one task per due
org/connection (integrations/scheduler.py), which the three clusters share.

Runs under ``make test-postgres`` (PostgreSQL + REDIS_URL); skipped otherwise. The
subprocesses inherit PYTEST_XDIST_WORKER, so under xdist they use this worker's Redis
database and cluster name (chorus/settings.py)."""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection as db_connection
from django.db.models import Q
from django.utils import timezone

from chorus.models import Engagement, Participant
from crm.push.services import engagement_push_prepare, push_key
from dialers.models import DialerCall
from integrations.models import Connection, ConnectionStatus, Delivery
from integrations.processing.models import EngagementProcessing
from testutils.crm_fakes import FakeSalesforce, matrix
from testutils.factories import EngagementFactory, OrganizationFactory, ParticipantFactory, UserFactory
from testutils.multiprocess import Cluster, FakeAircall, Wire, database_url_of, threaded_server

pytestmark = [
    pytest.mark.multiprocess,
    pytest.mark.xdist_group("multiprocess"),
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (make test-postgres starts a Redis)"),
]

ORGS = 20
CLUSTERS = 3
ROUNDS = 5
MEETINGS_AT_START = 2  # per org, queued as the round starts
BACKFILL_CALLS = 2  # per org, in the last seven days
ARRIVE_SECONDS = 5.0  # engagements and dialer calls keep arriving this long after the clusters start
ROUND_TIMEOUT = 120.0  # generous: under xdist other tests share the cores
CRM_DELAY = 0.2  # seconds each answer of the fake Salesforce takes after the request was applied
LEASE_SECONDS = 5
KILL_AFTER_WRITES = 6  # the kill waits for this many CRM writes, then for one in flight
OWNER_ID = "005000000000001"
ENV = {  # settings the subprocesses read (chorus/settings.py)
    "Q_WORKERS": "2",
    "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
    "OUTBOX_BACKOFF_BASE_SECONDS": "1",
    "OUTBOX_BACKOFF_MAX_SECONDS": "2",
    "PROCESSING_LEASE_SECONDS": str(LEASE_SECONDS),
    "PROCESSING_BACKOFF_BASE_SECONDS": "1",
    # The fan-out's per-unit lease, and how long a queued unit task may be lost (a
    # killed cluster loses the tasks its pusher had already taken off Redis).
    "SCHEDULER_LEASE_SECONDS": str(LEASE_SECONDS),
    "SCHEDULER_QUEUED_SECONDS": str(LEASE_SECONDS),
    "DIALER_MEDIA_ALLOW_PRIVATE_HOSTS": "1",
    "LOG_LEVEL": "INFO",
    "PYTHONUNBUFFERED": "1",
}
TICKS = (  # (task, every seconds)
    ("integrations.tasks.outbox_drain_task", 0.5),
    ("dialers.tasks.dialer_imports_due_task", 3.0),
    ("integrations.processing.tasks.processing_run_due_task", 1.0),
)
MAX_QUEUED = 12  # no tick is queued while the broker holds this many tasks
S = Delivery.Status


@pytest.fixture
def postgres_only():
    if db_connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (make test-postgres)")


@pytest.fixture
def fakes(tls_ca):
    """The fake Salesforce (HTTPS, threaded, slow answers) and Aircall with its recordings (HTTP)."""
    sf_server, dialer_server = threaded_server(tls_ca), threaded_server()
    sf = FakeSalesforce()
    wire = Wire(sf.handle, delay=CRM_DELAY)
    sf_server.expect_request(re.compile(r"/services/data/.*")).respond_with_handler(wire)
    aircall = FakeAircall(dialer_server)
    yield sf, wire, sf_server, aircall
    for server in (sf_server, dialer_server):
        server.clear()
        server.stop()


class Round:
    """One scenario's data: 20 organisations, each with a rep, a connected Salesforce,
    CRM Objects Creation set to a task and contacts, and an Aircall connection."""

    def __init__(self, n: int, sf_base: str, aircall: FakeAircall):
        self.n, self.aircall = n, aircall
        self.seq = itertools.count(1)
        self.orgs, self.reps = [], {}
        self.meetings: list[Engagement] = []
        self.meeting_emails: set[str] = set()
        self.calls: dict[int, set[str]] = {}  # org id → Aircall call ids at the fake
        self.call_emails: set[str] = set()
        for i in range(ORGS):
            org = OrganizationFactory(name=f"MP {n}-{i}", slug=f"mp{n}-{i}", email_domains=[f"mp{n}-{i}.example"])
            self.reps[org.id] = UserFactory(org=org, email=f"rep@mp{n}-{i}.example", first_name="Rey",
                                            last_name="Rep", external_ids={"salesforce": OWNER_ID})
            Connection.objects.create(org=org, provider="salesforce", status=ConnectionStatus.OK,
                                      config={"instance_url": sf_base, "crm_org_id": f"00D{n}{i:03d}"},
                                      secrets={"access_token": "sf-token"})
            matrix(org, task_recording=True, contact_recording=True, tracker_recording=False,
                   custom_object_recording=False, account_recording=False, event_recording=False,
                   contacts_for_moments=False)
            Connection.objects.create(org=org, provider="aircall_hubspot", status=ConnectionStatus.QUEUED,
                                      config={"activated": True},
                                      secrets={"api_key": self.api_id(org), "auth_secret_key": "ac-secret"})
            self.orgs.append(org)
            self.calls[org.id] = set()

    def api_id(self, org) -> str:
        return f"ac-{org.slug}"

    def meeting(self, org) -> Engagement:
        """An engagement made ready: its CRM objects queued the way the ready step does."""
        k = next(self.seq)
        email = f"m{k}@r{self.n}-cust{k}.example"
        rep = self.reps[org.id]
        e = EngagementFactory(org=org, owner=rep, title=f"Meeting {k}", source="mp", external_id=f"m-{k}",
                              started_at=timezone.now().replace(microsecond=0) - timedelta(hours=1))
        ParticipantFactory(engagement=e, name="Rey Rep", email=rep.email, is_internal=True)
        ParticipantFactory(engagement=e, name=f"Prospect {k}", email=email)
        engagement_push_prepare(engagement=e)
        self.meetings.append(e)
        self.meeting_emails.add(email)
        return e

    def call(self, org, *, started_at: int) -> None:
        """A call made in Aircall (the next import of the org finds it)."""
        k = next(self.seq)
        email = f"c{k}@r{self.n}-callee{k}.example"
        call_id = self.aircall.add(self.api_id(org), started_at=started_at, owner_email=self.reps[org.id].email,
                                   prospect_email=email)
        self.calls[org.id].add(call_id)
        self.call_emails.add(email)

    # -- where the round stands ----------------------------------------------------------------

    def expected_calls(self) -> int:
        return sum(len(ids) for ids in self.calls.values())

    def expected_deliveries(self) -> int:
        return 2 * len(self.meetings) + len(self.call_emails)  # a task and a contact a meeting; a contact a call

    def progress(self) -> dict:
        return {
            "calls imported": DialerCall.objects.count(),
            "processing pending": EngagementProcessing.objects.filter(announced_at__isnull=True).count(),
            "deliveries": Delivery.objects.count(),
            "deliveries not sent": Delivery.objects.exclude(status=S.SENT).count(),
            "dialer connections busy": Connection.objects.filter(
                provider="aircall_hubspot", status__in=[ConnectionStatus.SYNCING, ConnectionStatus.QUEUED]).count(),
        }

    def done(self, progress: dict) -> bool:
        return (progress["calls imported"] == self.expected_calls()
                and progress["processing pending"] == 0
                and progress["deliveries"] == self.expected_deliveries()
                and progress["deliveries not sent"] == 0)

    def stuck_connections(self) -> list:
        """Dialer connections a run claimed (syncing) that nobody has touched for six
        leases: a killed worker's claim nobody took over."""
        before = timezone.now() - timedelta(seconds=6 * LEASE_SECONDS)
        return list(Connection.objects.filter(provider="aircall_hubspot", status=ConnectionStatus.SYNCING,
                                              updated_at__lt=before).values_list("id", "org__slug", "updated_at"))


def diagnosis() -> str:
    """What is left undone, for a round that timed out."""
    now = timezone.now()
    deliveries = Counter((d.status, d.last_error[:120], d.claimed_until is not None and d.claimed_until < now)
                         for d in Delivery.objects.exclude(status=S.SENT))
    dialers = list(Connection.objects.filter(provider="aircall_hubspot").exclude(status=ConnectionStatus.OK)
                   .values_list("id", "status", "updated_at", "last_error"))
    try:
        from integrations.models import JobLease
    except ImportError:  # before the per-unit leases
        leases = []
    else:
        leases = list(JobLease.objects.filter(Q(held_until__gt=now) | Q(queued_until__gt=now))
                      .values_list("job", "key", "held_until", "queued_until"))
    return (f"now {now}\ndeliveries not sent (status, error, lease passed): {dict(deliveries)}\n"
            f"dialer connections not ok: {dialers}\nleases held or queued: {leases}")


def subprocess_env(tls_ca_file: str, aircall: FakeAircall, media_root: str) -> dict[str, str]:
    return {**os.environ, **ENV, "DJANGO_SETTINGS_MODULE": "chorus.settings",
            "DATABASE_URL": database_url_of(db_connection), "REDIS_URL": settings.REDIS_URL,
            "REQUESTS_CA_BUNDLE": tls_ca_file, "MEDIA_ROOT": media_root,
            "DIALER_API_URLS": json.dumps({"aircall_hubspot": aircall.base_url})}


def kill_mid_write(clusters: list[Cluster], wire: Wire, server_port: int) -> tuple[Cluster, str, bool] | None:
    """SIGKILL the cluster whose CRM write the fake applied and holds the answer of
    (``wire.hold_next_write()``), if there is one yet: (the cluster, the write, whether
    its answer was still unsent once the group was dead), then let the answer go — to
    a dead socket."""
    port = wire.held_write()
    if port is None:
        return None
    what = wire.writes_in_flight().get(port, "")
    for cluster in clusters:
        if cluster.alive() and cluster.holds(port, server_port):
            os.killpg(cluster.proc.pid, signal.SIGKILL)
            answer_lost = port in wire.writes_in_flight()  # the group died before the answer left
            cluster.kill()  # and wait for every process of it to be gone
            wire.release()
            return cluster, what, answer_lost
    wire.release()  # not a cluster's connection (it cannot be): hold the next one
    wire.hold_next_write()
    return None


def quiet(broker) -> bool:
    """Nothing queued, no dialer connection syncing, no unit lease held (the runs under way ended)."""
    if broker.queue_size() or Connection.objects.filter(provider="aircall_hubspot",
                                                        status=ConnectionStatus.SYNCING).exists():
        return False
    try:
        from integrations.models import JobLease
    except ImportError:  # before the per-unit leases
        return True
    return not JobLease.objects.filter(held_until__gt=timezone.now()).exclude(token="").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_no", range(ROUNDS))
def test_three_clusters_send_and_import_exactly_once_through_a_kill(round_no, postgres_only, fakes, tls_ca_file,
                                                                     tmp_path, settings):
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for noisy in ("werkzeug", "django-q"):  # a line per request and per queued tick
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sf, wire, sf_server, aircall = fakes
    broker = get_broker()
    assert type(broker).__name__ == "Redis"
    broker.purge_queue()  # nothing left over from an earlier round

    env = subprocess_env(tls_ca_file, aircall, str(tmp_path / "media"))
    clusters = [Cluster(f"qcluster-{c}", env, tmp_path) for c in range(CLUSTERS)]
    for cluster in clusters:  # they start up while the data is written (nothing is queued yet)
        cluster.start()

    last_tick = dict.fromkeys(task for task, _ in TICKS)
    timeline: list = []
    killed: tuple[Cluster, str, bool] | None = None
    killed_at = restarted_at = None
    armed = False  # the fake holds the answer of the next write once enough were sent
    writes_at_kill = 0
    progress: dict = {}
    settling = work_done = kill_time = quiet_since = None
    try:
        data = Round(round_no, sf_server.url_for("").rstrip("/"), aircall)
        now = int(time.time())
        for org in data.orgs:
            for _ in range(MEETINGS_AT_START):
                data.meeting(org)
            for d in range(BACKFILL_CALLS):  # the backfill finds these, a day apart
                data.call(org, started_at=now - 3600 - d * 86400)
        started = next_meeting = next_call = next_sample = time.monotonic()
        org_cycle = itertools.cycle(data.orgs)
        while True:
            t = time.monotonic()
            elapsed = t - started
            assert elapsed < ROUND_TIMEOUT, (
                f"round {round_no} not done after {ROUND_TIMEOUT} s (kill: {killed}): {progress}, expected "
                f"{data.expected_calls()} calls and {data.expected_deliveries()} deliveries\n{diagnosis()}\n"
                + "\n".join(c.logs() for c in clusters))
            for cluster in clusters:
                assert cluster.alive() or cluster is (killed and killed[0]), \
                    f"{cluster.name} exited with {cluster.proc.returncode}:\n{cluster.logs()}"
            # Engagements keep arriving: meetings ready for the CRM, calls made in Aircall.
            if elapsed < ARRIVE_SECONDS:
                if t >= next_meeting:
                    for _ in range(2):
                        data.meeting(next(org_cycle))
                    next_meeting = t + 0.4
                if t >= next_call:
                    for _ in range(3):
                        data.call(next(org_cycle), started_at=int(time.time()) - 1)
                    next_call = t + 1.0
            # The scheduler's ticks.
            if settling is None and broker.queue_size() < MAX_QUEUED:
                for task, every in TICKS:
                    if last_tick[task] is None or t - last_tick[task] >= every:
                        async_task(task, broker=broker)
                        last_tick[task] = t
            # The kill: a cluster whose write the fake applied and has not answered yet.
            if killed is None and wire.writes >= KILL_AFTER_WRITES:
                if not armed:
                    wire.hold_next_write()
                    armed = True
                writes_at_kill = wire.writes
                killed = kill_mid_write(clusters, wire, sf_server.port)
                if killed:
                    killed_at, kill_time = t, timezone.now()
            if killed and restarted_at is None and t - killed_at >= 0.5:
                killed[0].start()
                restarted_at = t
            if t >= next_sample:  # where the round stands, every two seconds (printed at the end)
                timeline.append((round(elapsed), tuple(data.progress().values())))
                next_sample = t + 2.0
            if restarted_at is not None and elapsed >= ARRIVE_SECONDS and settling is None:
                progress = data.progress()
                if data.done(progress):
                    settling, work_done = t, elapsed  # no more ticks: let the runs under way end
                stuck = data.stuck_connections()
                assert not stuck, (f"dialer connections stuck syncing after {killed[0].name} was killed "
                                   f"(id, org, last touched): {stuck}\n{diagnosis()}")
            if settling is not None:
                # Quiet for a second (a task a cluster took off Redis may not have started yet).
                quiet_since = (quiet_since or t) if quiet(broker) else None
                if (quiet_since and t - quiet_since >= 1.0) or t - settling > 6 * LEASE_SECONDS:
                    break
            time.sleep(0.02)
        duration = time.monotonic() - started
    finally:
        wire.release()
        for cluster in clusters:
            if cluster.alive():
                cluster.kill()

    assert killed is not None, f"no write was ever in flight to kill (writes: {wire.writes})"
    victim, what, answer_lost = killed
    # Every CRM object exists once at the fake: one Task per meeting (CallObject is the
    # delivery's idempotency key), one Contact per prospect email (meetings and calls).
    tasks = Counter(r.get("CallObject") for r in sf.records["Task"])
    contacts = Counter(r.get("Email") for r in sf.records["Contact"])
    assert [k for k, n in tasks.items() if n > 1] == [], "tasks written twice"
    assert [k for k, n in contacts.items() if n > 1] == [], "contacts written twice"
    assert set(tasks) == {push_key("salesforce", "task", e.id) for e in data.meetings}
    assert set(contacts) == data.meeting_emails | data.call_emails
    # Nothing stuck: every delivery sent, no claim left, no dialer connection syncing.
    assert Delivery.objects.count() == data.expected_deliveries()
    assert dict(Counter(Delivery.objects.values_list("status", flat=True))) == {S.SENT: data.expected_deliveries()}
    assert not Delivery.objects.exclude(claim_token="").exists()
    assert {d.remote_id for d in Delivery.objects.filter(kind="task")} == {r["Id"] for r in sf.records["Task"]}
    dialer_statuses = Counter(Connection.objects.filter(provider="aircall_hubspot").values_list("status", flat=True))
    assert dialer_statuses == {ConnectionStatus.OK: ORGS}, (
        f"{dialer_statuses}: {victim.name} was killed at {kill_time} mid {what!r}\n{diagnosis()}")
    # Every dialer call imported once: one ledger row and one engagement per Aircall call.
    imported = {(c.org_id, c.external_id) for c in DialerCall.objects.all()}
    assert DialerCall.objects.count() == len(imported) == data.expected_calls()
    assert imported == {(org_id, i) for org_id, ids in data.calls.items() for i in ids}
    calls = Engagement.objects.filter(kind=Engagement.Kind.DIALER_CALL)
    assert calls.count() == data.expected_calls()
    assert set(calls.values_list("org_id", "external_id")) == imported
    assert not EngagementProcessing.objects.filter(announced_at__isnull=True).exists()
    assert Participant.objects.filter(engagement__in=calls).count() == 2 * data.expected_calls()

    # The kill landed on a write the fake applied and whose answer the worker never read.
    assert what.startswith(("POST ", "PATCH ")) and answer_lost, (what, answer_lost)

    print(f"\nround {round_no}: work done in {work_done:.1f} s ({duration:.1f} s with the runs under way), "
          f"killed {victim.name} ({'answer lost' if answer_lost else 'answer already sent'}) mid "
          f"{what!r} after {writes_at_kill} writes; {len(data.meetings)} meetings, {data.expected_calls()} calls, "
          f"{data.expected_deliveries()} deliveries; fake saw {wire.requests} requests ({wire.writes} writes), "
          f"{sum(tasks.values())} tasks, {sum(contacts.values())} contacts\n"
          f"  (s, (calls imported, processing pending, deliveries, not sent, dialers busy)): {timeline}")
