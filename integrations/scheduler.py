"""Scheduled jobs, fanned out: one cheap tick, one task per due unit.

A scheduled job (the outbox, the CRM sync, the hourly dialer import…) is not one
task that loops over every organisation: its schedule runs :func:`scheduler_tick`,
which asks the job which *units* are due (an org's deliveries to one target, one
connection, one calendar…) and queues one :func:`scheduler_run_task` per unit. So with
thousands of organisations on many workers:

* **a lease per unit** (:class:`~integrations.models.JobLease`): a unit runs on one
  worker at a time. The run holds the lease for ``SCHEDULER_LEASE_SECONDS`` and renews
  it while it works (one heartbeat thread per process renews every lease it holds); a
  worker killed mid-run stops renewing, and the unit is due again once the lease
  passes. A second task for a unit already
  running — queued twice by two ticks, or by "Sync now" — finds the lease taken and
  ends at once.
* **a per-provider cap** (``SCHEDULER_PROVIDER_CAPS``, e.g. ``salesforce=8``): at most
  that many units of one provider are queued or running per job, so a slow provider
  cannot take every worker; a unit held back is queued by a later tick (each capped
  run that ends asks for one).
* **fairness**: a tick queues the units served longest ago first; a unit is queued
  again only once its previous task ran (``SCHEDULER_QUEUED_SECONDS`` bounds how long
  a queued task may be lost), and each run does bounded work (a run with more to do
  says so, and a new tick puts it behind the others). A slow or failing org therefore
  holds one worker, and never delays the rest.

Jobs register with :func:`job_register` from their app's ``ready()``; the per-unit
work stays in the app's service (this module knows no app).
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from integrations.models import Connection, ConnectionStatus, JobLease

log = logging.getLogger(__name__)

TICK_TASK = "integrations.scheduler.scheduler_tick_task"
RUN_TASK = "integrations.scheduler.scheduler_run_task"


@dataclass(frozen=True)
class Unit:
    """One piece of a job's work: ``key`` names it within the job ("org:12:salesforce",
    "connection:5"); ``org_id`` and ``provider`` say whose it is and what it talks to."""

    key: str
    org_id: int | None = None
    provider: str = ""

    @classmethod
    def of_row(cls, kind: str, pk: int, org_id: int | None, provider: str) -> Unit:
        """The unit of one row (a connection, a calendar…), keyed ``"<kind>:<id>"``."""
        return cls(key=f"{kind}:{pk}", org_id=org_id, provider=provider)

    @property
    def pk(self) -> int:
        """The row id of a unit made by :meth:`of_row`."""
        return int(self.key.split(":")[1])


@dataclass(frozen=True)
class ScheduledJob:
    """``due(now)`` lists the units due now (one cheap query); ``run(unit)`` does one
    unit's bounded work and returns a dict (``{"more": True}`` when work is left)."""

    name: str
    due: Callable[[datetime], Iterable[Unit]]
    run: Callable[[Unit], dict[str, Any] | None]


JOBS: dict[str, ScheduledJob] = {}


def job_register(job: ScheduledJob) -> None:
    JOBS[job.name] = job


def _cap(job: str, provider: str) -> int | None:
    caps = settings.SCHEDULER_PROVIDER_CAPS
    cap = caps.get(f"{job}:{provider}", caps.get(provider))
    return int(cap) if cap is not None else None


def _busy(now: datetime) -> Q:
    return Q(held_until__gt=now) | Q(queued_until__gt=now)


def _enqueue(task: str, *args: Any, group: str) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task(task, *args, group=group))


def scheduler_tick_soon(name: str) -> None:
    """Queue a tick of job ``name`` once the current transaction commits (new work
    arrived: no need to wait for the schedule)."""
    _enqueue(TICK_TASK, name, group=f"tick-{name}")


def scheduler_tick(name: str, *, now: datetime | None = None) -> dict[str, int]:
    """Queue one task per due unit of job ``name`` that is neither running nor queued,
    longest-unserved first, within the per-provider caps. Safe to run on many
    workers at once: a unit is marked queued by a conditional UPDATE stamped with this
    tick's token, and only the units this tick marked are queued by it."""
    job = JOBS[name]
    now = now or timezone.now()
    units = {u.key: u for u in job.due(now)}
    counts = {"due": len(units), "queued": 0, "busy": 0, "capped": 0}
    if not units:
        return counts
    JobLease.objects.bulk_create(
        [JobLease(job=name, key=u.key, org_id=u.org_id, provider=u.provider) for u in units.values()],
        ignore_conflicts=True)
    leases = {key: rest for key, *rest in JobLease.objects.filter(job=name, key__in=list(units))
              .values_list("key", "held_until", "queued_until", "last_started_at")}
    idle = [(leases[key][2], key) for key in units
            if not any(until and until > now for until in leases[key][:2])]
    counts["busy"] = len(units) - len(idle)
    # Never served first, then the longest unserved; ties keep the job's own order.
    idle.sort(key=lambda s: (s[0] is not None, s[0] or now))
    in_flight = Counter(dict(JobLease.objects.filter(job=name).filter(_busy(now))
                             .values_list("provider").annotate(n=Count("id")).values_list("provider", "n")))
    picked = []
    for _, key in idle:
        provider = units[key].provider
        cap = _cap(name, provider)
        if cap is not None and in_flight[provider] >= cap:
            counts["capped"] += 1
            continue
        in_flight[provider] += 1
        picked.append(key)
    if not picked:
        return counts
    token = uuid.uuid4().hex
    free = ((Q(held_until__isnull=True) | Q(held_until__lte=now))
            & (Q(queued_until__isnull=True) | Q(queued_until__lte=now)))
    JobLease.objects.filter(free, job=name, key__in=picked).update(
        queued_until=now + timedelta(seconds=settings.SCHEDULER_QUEUED_SECONDS), queue_token=token)
    mine = set(JobLease.objects.filter(job=name, key__in=picked, queue_token=token).values_list("key", flat=True))
    for key in picked:  # in fairness order
        if key in mine:
            _enqueue(RUN_TASK, name, key, units[key].org_id, units[key].provider, group=f"job-{name}")
    counts["queued"] = len(mine)
    return counts


class _Heartbeat:
    """Renews every lease this process holds a third of the lease's length after it was
    taken or last renewed, from one daemon thread: started by a lease taken while none
    is running, it ends once none was held for a whole beat, so thousands of short runs
    in a row start it once, not once per run."""

    def __init__(self):
        self._reset()
        # A process forked from this one (django-q2's workers) has no thread of ours: it starts afresh.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._held: dict[int, tuple[QuerySet, float]] = {}  # ticket → (lease, when to renew it)
        self._tickets = itertools.count()
        self._cond = threading.Condition()  # renewals run under it: a lease is never renewed once released
        self._thread: threading.Thread | None = None

    def hold(self, held: QuerySet) -> int:
        with self._cond:
            ticket = next(self._tickets)
            self._held[ticket] = (held, time.monotonic() + settings.SCHEDULER_LEASE_SECONDS / 3)
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, daemon=True, name="lease-heartbeat")
                self._thread.start()
            self._cond.notify()  # the thread may be waiting for a later renewal than this one's
            return ticket

    def release(self, ticket: int) -> None:
        with self._cond:
            self._held.pop(ticket, None)

    def _beat(self) -> None:
        try:
            with self._cond:
                while True:
                    now, seconds = time.monotonic(), settings.SCHEDULER_LEASE_SECONDS
                    if not self._held:  # ends once nothing was held for a whole beat
                        if not self._cond.wait(timeout=seconds / 3) and not self._held:
                            break
                        continue
                    for ticket, (held, at) in list(self._held.items()):
                        if at <= now:
                            self._renew(ticket, held, seconds, now)
                    if self._held:
                        self._cond.wait(timeout=min(at for _, at in self._held.values()) - now)
                self._thread = None
        finally:
            connection.close()  # this thread's own database connection

    def _renew(self, ticket: int, held: QuerySet, seconds: float, now: float) -> None:
        self._held[ticket] = (held, now + seconds / 3)
        try:
            renewed = held.update(held_until=timezone.now() + timedelta(seconds=seconds))
        except Exception:  # noqa: BLE001 (a busy database: the next beat tries again)
            log.warning("Could not renew a lease", exc_info=True)
            return
        if not renewed:
            log.warning("A lease was taken over while its run still works")
            self._held.pop(ticket, None)


_heartbeat = _Heartbeat()


def lease_acquire(name: str, unit: Unit, *, now: datetime | None = None) -> QuerySet | None:
    """Take the unit's lease if nobody holds it: the lease as a queryset bound to this
    holder's token (to renew and release it), else None."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    lease = JobLease.objects.filter(job=name, key=unit.key)

    def take() -> int:
        return lease.filter(Q(held_until__isnull=True) | Q(held_until__lte=now)).update(
            token=token, held_until=now + timedelta(seconds=settings.SCHEDULER_LEASE_SECONDS), queued_until=None,
            queue_token="", last_started_at=now)

    taken = take()
    if not taken and not lease.exists():  # not made by a tick ("Sync now", a test): make it
        JobLease.objects.bulk_create([JobLease(job=name, key=unit.key, org_id=unit.org_id, provider=unit.provider)],
                                     ignore_conflicts=True)
        taken = take()
    return lease.filter(token=token) if taken else None


def lease_release(held: QuerySet, *, error: str = "") -> None:
    held.update(token="", held_until=None, last_finished_at=timezone.now(), last_error=error[:2000])


def scheduler_run(name: str, unit: Unit) -> dict[str, Any]:
    """Run one unit under its lease (see the module docstring)."""
    job = JOBS[name]
    held = lease_acquire(name, unit)
    if held is None:
        return {"skipped": "running on another worker"}
    ticket = _heartbeat.hold(held)
    error, result = "", {}
    try:
        result = job.run(unit) or {}
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        log.exception("Scheduled job %s failed on %s", name, unit.key)
        result = {"error": error}
    finally:
        _heartbeat.release(ticket)
        lease_release(held, error=error)
    if result.get("more") or _cap(name, unit.provider) is not None:
        scheduler_tick_soon(name)
    return result


# --- Jobs whose unit is a connection (CRM sync, dialer import) ---------------------------------


def connection_unit(connection: Connection) -> Unit:
    return Unit.of_row("connection", connection.pk, connection.org_id, connection.provider)


def connection_of(unit: Unit, providers) -> Connection | None:
    """The unit's connection, for a run that holds the unit's lease. Every run of the
    job holds it, so a status still "syncing" is the leftover of a killed worker: it is
    released now (the run claims it again), not hours later."""
    Connection.objects.filter(pk=unit.pk, status=ConnectionStatus.SYNCING).update(status=ConnectionStatus.QUEUED)
    return Connection.objects.select_related("org").filter(pk=unit.pk, provider__in=list(providers)).first()


# --- django-q2 tasks (the schedules run the ticks) ----------------------------------------------


def scheduler_tick_task(name: str) -> dict[str, int]:
    return scheduler_tick(name)


def scheduler_run_task(name: str, key: str, org_id: int | None = None, provider: str = "") -> dict[str, Any]:
    return scheduler_run(name, Unit(key=key, org_id=org_id, provider=provider))


def scheduler_run_inline(name: str, *, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """Every due unit of job ``name``, run one after the other in this process (tests,
    benches, a one-off from the shell): ``{unit key: result}``."""
    job = JOBS[name]
    return {u.key: scheduler_run(name, u) for u in job.due(now or timezone.now())}
