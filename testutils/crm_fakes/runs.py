"""Running the outbox against the fakes: workers that die, drains that jump the clock
past the waits, the CRM Objects Creation matrix, and the data the push tests and
the bench seed."""

from __future__ import annotations

import re

from testutils.crm_fakes.base import FakeCrm

# --- Workers that die ------------------------------------------------------------------------------


class Killed(BaseException):
    """A worker dying mid-batch (a BaseException: no sender or outbox code catches it)."""


def kill_twice(monkeypatch, cls, name: str, fake: FakeCrm, *, every: int, when=lambda args, kw: True) -> list:
    """Make ``cls.name`` raise :class:`Killed` right after it has run (the CRM has
    the write, the outbox never hears), twice: once ``fake`` has seen ``every``
    calls, and again ``every`` calls later. Returns the (args, kwargs) of the calls
    that died."""
    real, kills = getattr(cls, name), []

    def dying(self, *args, **kw):
        result = real(self, *args, **kw)
        if when(args, kw) and len(kills) < 2 and len(fake.calls) > every * (len(kills) + 1):
            kills.append((args, kw))
            raise Killed
        return result

    monkeypatch.setattr(cls, name, dying)
    return kills


def record_waits(monkeypatch) -> list[float]:
    """The wait (seconds) the outbox gave each rate-limited delivery: a test asserts
    none is longer than the Retry-After the fake sent."""
    from integrations import outbox

    real, waits = outbox._finish, []

    def finish(token, rows, results, now):
        counts = real(token, rows, results, now)
        waits.extend((d.next_attempt_at - now).total_seconds() for d in rows
                     if (r := results.get(d.id)) is not None and r.throttled)
        return counts

    monkeypatch.setattr(outbox, "_finish", finish)
    return waits


def _run_outbox(*, rounds: int, start, step, done_statuses: tuple[str, ...], limit: int = 5000) -> None:
    """Run the worker until every delivery is in ``done_statuses`` (or ``rounds`` run
    out), jumping the clock ``step`` past the waits, surviving killed workers."""
    import contextlib

    from django.utils import timezone

    from integrations.models import Delivery
    from integrations.outbox import outbox_process

    now = start or timezone.now()
    for _ in range(rounds):
        with contextlib.suppress(Killed):
            outbox_process(limit=limit, now=now)
        if not Delivery.objects.exclude(status__in=done_statuses).exists():
            return
        now += step


def drain(rounds: int = 40, start=None) -> None:
    """Run the worker until nothing is due (sent or given up), two hours a round."""
    from datetime import timedelta

    _run_outbox(rounds=rounds, start=start, step=timedelta(hours=2), done_statuses=("sent", "failed"))


def drain_through_kills(*, rounds: int = 60, step=None, limit: int = 5000) -> None:
    """Run the outbox until everything is sent (or ``rounds`` run out), surviving
    killed workers and jumping the clock ``step`` (default: past every wait)."""
    from datetime import timedelta

    from django.conf import settings

    _run_outbox(rounds=rounds, start=None, limit=limit, done_statuses=("sent",),
                step=step or timedelta(seconds=settings.OUTBOX_BACKOFF_MAX_SECONDS))


def matrix(org, **cells) -> None:
    """Set cells (and ``contacts_for_moments``) of the org's CRM Objects Creation matrix."""
    from crm.push.services import crm_objects_settings_get

    row = crm_objects_settings_get(org=org)
    for name, value in cells.items():
        setattr(row, name, value)
    row.save()


def serve(server, fake: FakeCrm, pattern: str) -> FakeCrm:
    """``fake`` answers every request to ``server`` whose path matches ``pattern``."""
    server.expect_request(re.compile(pattern)).respond_with_handler(fake.handle)
    return fake


# --- Data for tests and the bench ----------------------------------------------------------------

TRACKER_NAMES = ("Budget", "Competitor 1", "Pain", "Timing", "Authority")


def seed_engagements(*, org, owner, count: int, moments: int = 5, prefix: str = "Meeting",
                     kind: str = "recording", start=None):
    """``count`` recorded meetings, each with its owner, one new external person (a new
    contact), ``moments`` tracker hits, an account and an opportunity — in a handful
    of bulk inserts."""
    from datetime import timedelta

    from django.utils import timezone

    from chorus.models import Engagement, Moment, Participant, Tracker

    start = start or timezone.now().replace(microsecond=0) - timedelta(days=1)
    trackers = [Tracker.objects.get_or_create(org=org, name=name)[0] for name in TRACKER_NAMES]
    engagements = Engagement.objects.bulk_create([
        Engagement(org=org, kind=kind, title=f"{prefix} {i}", started_at=start + timedelta(minutes=i),
                   duration_seconds=1800, owner=owner, source="bench", external_id=f"{prefix}-{i}",
                   recording_url=f"https://chorus.ai/meeting/{i}", next_steps=[f"Send the proposal #{i}"],
                   crm_account_id=f"001{i:015d}", crm_opportunity_id=f"006{i:015d}")
        for i in range(count)])
    people = []
    for i, e in enumerate(engagements):
        people.append(Participant(org=org, engagement=e, name=owner.full_name, email=owner.email, is_internal=True))
        people.append(Participant(org=org, engagement=e, name=f"Prospect {i}", title="VP Sales",
                                  email=f"prospect{i}@customer{i % 50}.example"))
    Participant.objects.bulk_create(people)
    Moment.objects.bulk_create([
        Moment(org=org, engagement=e, tracker=trackers[j % len(trackers)], at_seconds=60 * (j + 1),
               text=f"moment {j}", speaker=f"Prospect {i}")
        for i, e in enumerate(engagements) for j in range(moments)])
    return engagements


def budget_meeting(org, rep, *, account: str, opportunity: str, **kw):
    """The push tests' meeting: the seed's title, a rep and Willy Wonka of Wonka
    Industries, one Budget moment, tied to ``account`` and ``opportunity`` (ids of the
    CRM at hand)."""
    from datetime import timedelta

    from django.utils import timezone

    from chorus.models import Tracker
    from testutils.factories import EngagementFactory, MomentFactory, ParticipantFactory

    defaults = {"title": "Wonka and Schrute Farms Connect", "crm_account_id": account,
                "crm_opportunity_id": opportunity, "recording_url": "https://chorus.ai/meeting/1",
                "next_steps": ["Send the invite"],
                "started_at": timezone.now().replace(microsecond=0) - timedelta(hours=1)}
    e = EngagementFactory(org=org, owner=rep, **{**defaults, **kw})
    ParticipantFactory(engagement=e, name="Rey Rep", email="rep@acme.example", is_internal=True)
    ParticipantFactory(engagement=e, name="Willy Wonka", title="CEO", email="willy@wonka.example")
    MomentFactory(engagement=e, org=org, tracker=Tracker.objects.get_or_create(org=org, name="Budget")[0],
                  at_seconds=5, text="What is the budget?", speaker="Willy Wonka")
    return e
