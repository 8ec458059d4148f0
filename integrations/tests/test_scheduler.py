"""Scheduled jobs fanned out (integrations/scheduler.py): one task per due unit, a
lease per unit, per-provider caps, fairness, and the outbox as one such job."""

import os
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import outbox, scheduler
from integrations.models import Delivery, JobLease
from integrations.registry import SENDERS, SendResult
from integrations.scheduler import JOBS, ScheduledJob, Unit, scheduler_run, scheduler_tick
from testutils.factories import OrganizationFactory
from testutils.threads import run_in_threads


class Job:
    """A registered test job: ``units`` are due; ``run`` records who ran and can be slowed or fail."""

    def __init__(self, units, run=None):
        self.units, self.ran = list(units), []
        self.lock = threading.Lock()
        self.action = run or (lambda unit: {"ok": True})

    def run(self, unit):
        with self.lock:
            self.ran.append(unit.key)
        return self.action(unit)


@pytest.fixture
def job():
    made = []

    def make(units, run=None, name="test-job"):
        j = Job(units, run)
        JOBS[name] = ScheduledJob(name=name, due=lambda now: j.units, run=j.run)
        made.append(name)
        return j

    yield make
    for name in made:
        JOBS.pop(name, None)


@pytest.fixture
def queued(monkeypatch):
    """What the ticks queue, in order: [(task, args)] (on commit: at once here)."""
    calls = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **kw: calls.append((func, a)))
    monkeypatch.setattr("django.db.transaction.on_commit", lambda func, using=None, robust=False: func())
    return calls


def units(n, provider="salesforce", prefix="connection"):
    return [Unit(key=f"{prefix}:{i}", provider=provider) for i in range(n)]


@pytest.mark.django_db
def test_a_tick_queues_one_task_per_due_unit_and_not_again_while_it_waits(job, queued):
    job(units(3))
    assert scheduler_tick("test-job") == {"due": 3, "queued": 3, "busy": 0, "capped": 0}
    assert queued == [(scheduler.RUN_TASK, ("test-job", f"connection:{i}", None, "salesforce")) for i in range(3)]
    # Another tick (the next minute, or a second scheduler) finds them queued: no second copy.
    assert scheduler_tick("test-job")["queued"] == 0
    # A queued task that was lost (the broker was flushed) is queued again once its mark passes.
    later = timezone.now() + timedelta(seconds=301)
    assert scheduler_tick("test-job", now=later)["queued"] == 3


@pytest.mark.django_db
def test_the_longest_unserved_units_are_queued_first(job, queued):
    job(units(4))
    now = timezone.now()
    JobLease.objects.bulk_create([
        JobLease(job="test-job", key="connection:0", last_started_at=now - timedelta(minutes=1)),
        JobLease(job="test-job", key="connection:1", last_started_at=now - timedelta(hours=1)),
        JobLease(job="test-job", key="connection:3", last_started_at=now - timedelta(minutes=30)),
    ])
    scheduler_tick("test-job", now=now)
    assert [a[1] for _, a in queued] == ["connection:2", "connection:1", "connection:3", "connection:0"]


@pytest.mark.django_db
def test_a_provider_cap_holds_back_the_rest_until_a_run_ends(job, queued, settings):
    settings.SCHEDULER_PROVIDER_CAPS = {"salesforce": 2}
    j = job(units(5) + units(2, provider="hubspot", prefix="hs"))
    counts = scheduler_tick("test-job")
    assert counts["queued"] == 4 and counts["capped"] == 3  # 2 Salesforce + both HubSpot
    assert [a[1] for _, a in queued] == ["connection:0", "connection:1", "hs:0", "hs:1"]
    queued.clear()
    assert scheduler_tick("test-job")["queued"] == 0  # still 2 Salesforce queued
    # A capped run that ends asks for a tick, which queues the next one.
    scheduler_run("test-job", j.units[0])
    assert queued == [(scheduler.TICK_TASK, ("test-job",))]
    queued.clear()
    scheduler_tick("test-job")
    assert [a[1] for _, a in queued] == ["connection:2"]


@pytest.mark.django_db
def test_a_job_wide_cap_names_the_job(job, queued, settings):
    settings.SCHEDULER_PROVIDER_CAPS = {"other-job:salesforce": 1, "test-job:salesforce": 3}
    job(units(5))
    assert scheduler_tick("test-job")["queued"] == 3


@pytest.mark.django_db
def test_a_unit_runs_under_its_lease_and_a_second_task_for_it_ends_at_once(job, queued):
    j = job(units(1))
    unit = j.units[0]
    scheduler.lease_acquire("test-job", unit)  # another worker runs it now
    assert scheduler_run("test-job", unit) == {"skipped": "running on another worker"}
    assert j.ran == []
    # That worker was killed: once its lease passes, the unit runs again.
    JobLease.objects.update(held_until=timezone.now() - timedelta(seconds=1))
    assert scheduler_run("test-job", unit) == {"ok": True} and j.ran == [unit.key]
    lease = JobLease.objects.get()
    assert lease.held_until is None and lease.token == "" and lease.last_finished_at and lease.last_error == ""


@pytest.mark.django_db
def test_a_failing_unit_releases_its_lease_and_records_why(job, queued):
    def boom(unit):
        raise RuntimeError("CRM answered 500")

    j = job(units(2), run=boom)
    assert scheduler_run("test-job", j.units[0]) == {"error": "RuntimeError: CRM answered 500"}
    lease = JobLease.objects.get(key="connection:0")
    assert lease.held_until is None and lease.last_error == "RuntimeError: CRM answered 500"
    assert scheduler_tick("test-job")["queued"] == 2  # due again at the next tick, like the other


@pytest.mark.django_db
def test_a_run_with_work_left_asks_for_another_tick(job, queued):
    j = job(units(1), run=lambda unit: {"more": 1})
    scheduler_run("test-job", j.units[0])
    assert queued == [(scheduler.TICK_TASK, ("test-job",))]


@pytest.mark.django_db(transaction=True)
def test_the_lease_is_renewed_while_a_long_run_works(job, settings):
    settings.SCHEDULER_LEASE_SECONDS = 0.6  # renewed every 0.2 s
    seen = []

    def slow(unit):
        first = JobLease.objects.get().held_until
        time.sleep(1.5)
        seen.append((first, JobLease.objects.get().held_until))
        return {}

    j = job(units(1), run=slow)
    scheduler_run("test-job", j.units[0])
    first, last = seen[0]
    assert last > first + timedelta(seconds=0.6)  # still held, well past the first lease


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_run_one_unit_at_once(job):
    running, overlaps = [0], []
    lock = threading.Lock()

    def run(unit):
        with lock:
            running[0] += 1
            overlaps.append(running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return {}

    j = job(units(1), run=run)
    assert run_in_threads(lambda: scheduler_run("test-job", j.units[0]), 4) == []
    assert max(overlaps) == 1


@pytest.mark.django_db(transaction=True)
def test_short_runs_share_one_heartbeat_thread(job, monkeypatch):
    monkeypatch.setattr(scheduler, "_heartbeat", scheduler._Heartbeat())  # none left running by another test
    started = []
    real_start = threading.Thread.start

    def start(thread):
        if thread.name == "lease-heartbeat":
            started.append(thread)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    j = job(units(50), run=lambda unit: {})
    for unit in j.units:
        scheduler_run("test-job", unit)
    assert len(j.ran) == 50 and len(started) == 1


class SlowForOne:
    """Sends at once, except for one org, whose CRM takes ``delay`` seconds per batch."""

    batch_size = 100

    def __init__(self, slow_org_id, delay):
        self.slow_org_id, self.delay, self.sent = slow_org_id, delay, []

    def send(self, deliveries):
        if deliveries[0].org_id == self.slow_org_id:
            time.sleep(self.delay)
        self.sent.extend(d.id for d in deliveries)
        return [SendResult(d.id, ok=True, remote_id=f"R{d.id}") for d in deliveries]


@pytest.mark.django_db
def test_the_outbox_is_one_unit_per_org_and_target(queued):
    a, b = OrganizationFactory(), OrganizationFactory()
    for org, target, key in [(a, "salesforce", "1"), (a, "salesforce", "2"), (a, "slack", "3"), (b, "salesforce", "4")]:
        outbox.delivery_enqueue(org=org, target=target, kind="task", idempotency_key=key)
    Delivery.objects.create(org=b, target="hubspot", kind="task", idempotency_key="5",
                            next_attempt_at=timezone.now() + timedelta(hours=1))  # not due
    keys = {u.key: (u.org_id, u.provider) for u in outbox.outbox_due_units(timezone.now())}
    assert keys == {f"org:{a.pk}:salesforce": (a.pk, "salesforce"), f"org:{a.pk}:slack": (a.pk, "slack"),
                    f"org:{b.pk}:salesforce": (b.pk, "salesforce")}


@pytest.mark.django_db
def test_an_outbox_unit_sends_only_its_org_and_target(monkeypatch):
    a, b = OrganizationFactory(), OrganizationFactory()
    sender = SlowForOne(slow_org_id=None, delay=0)
    monkeypatch.setitem(SENDERS, "fakecrm", sender)
    mine = [outbox.delivery_enqueue(org=a, target="fakecrm", kind="task", idempotency_key=f"a{i}")[0]
            for i in range(3)]
    outbox.delivery_enqueue(org=b, target="fakecrm", kind="task", idempotency_key="b0")
    outbox.delivery_enqueue(org=a, target="elsewhere", kind="task", idempotency_key="a-else")
    result = outbox.outbox_unit_run(Unit(key=f"org:{a.pk}:fakecrm", org_id=a.pk, provider="fakecrm"))
    assert result["sent"] == 3 and sorted(sender.sent) == sorted(d.id for d in mine)
    assert Delivery.objects.filter(status="queued").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_slow_org_does_not_hold_up_the_others(monkeypatch):
    """Two workers drain the outbox task by task as a cluster would: the slow org's
    unit keeps one worker, the other worker sends every other org's deliveries."""
    orgs = [OrganizationFactory() for _ in range(6)]
    slow = orgs[0]
    sender = SlowForOne(slow_org_id=slow.pk, delay=3.0)
    monkeypatch.setitem(SENDERS, "fakecrm", sender)
    for org in orgs:
        for i in range(3):
            outbox.delivery_enqueue(org=org, target="fakecrm", kind="task", idempotency_key=f"{org.pk}-{i}")
    tasks: list[tuple] = []
    lock = threading.Lock()
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *a, **kw: tasks.append(a))
    scheduler_tick(outbox.OUTBOX_JOB)
    assert tasks[0][1] == f"org:{slow.pk}:fakecrm"  # the slow org's unit is first in the queue
    finished = {}

    def worker():
        while True:
            with lock:
                if not tasks:
                    return
                args = tasks.pop(0)
            scheduler.scheduler_run_task(*args)
            finished[args[1]] = time.monotonic()

    started = time.monotonic()
    assert run_in_threads(worker, 2) == []
    fast = [at - started for key, at in finished.items() if key != f"org:{slow.pk}:fakecrm"]
    assert len(fast) == 5 and max(fast) < 1.5, fast  # none waited for the slow org's 3 s
    assert finished[f"org:{slow.pk}:fakecrm"] - started >= 3.0
    assert Delivery.objects.filter(status="sent").count() == 18


@pytest.mark.django_db(transaction=True)
def test_a_forked_worker_starts_its_own_heartbeat(job, monkeypatch):
    """django-q2 forks its workers: one forked while the parent's heartbeat thread lives
    must not take that (absent) thread for its own and leave its leases unrenewed."""
    beat = scheduler._Heartbeat()
    monkeypatch.setattr(scheduler, "_heartbeat", beat)
    j = job(units(1), run=lambda unit: {})
    scheduler_run("test-job", j.units[0])
    assert beat._thread is not None  # alive here for a beat after the run
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no thread of the parent's, so it would start its own
        os.write(write, b"fresh" if beat._thread is None and not beat._held else b"stale")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 5) == b"fresh"
