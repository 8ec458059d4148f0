"""After a calendar meeting ends: was it recorded? If not, it becomes an
Unrecorded Meeting engagement (seed "Create Tasks for Unrecorded Meetings"), so
the CRM gets a task for it when the admin ticks CRM Objects Creation > Create a
task > Unrecorded Meeting, and the count of customer interactions stays whole.

* Chorus waits ``GRACE`` after the meeting's end: recordings arrive after the call
  (Zoom's post-call download, the Notetaker's upload).
* A meeting counts as recorded when a recording started within ``MATCH_WINDOW`` of
  its start and shares an external attendee with it (or, knowing no external
  address, was made by one of its Chorus attendees); each recording is one
  meeting's (see ``_candidates`` and ``_assign``).
* One meeting sits in several synced calendars (the organizer's and each
  colleague's): their copies share a key (start, title, attendees), and the
  engagement is made once — the unique ``(org, source, external_id)`` holds it even
  when two workers look at once.
* Meetings with no external attendee (colleagues, rooms) are not customer
  interactions: nothing is made. Everything else is, with each participant's
  ignored / block-listed flags and the owner's "Don't record": CRM Objects Creation
  applies the seed's exclusion rules to it (``crm.push.services.UNRECORDED_RULES``).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import groupby

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from chorus.models import Engagement, Organization, Participant
from integrations.conferencing.detection import NON_PERSON_DOMAINS
from integrations.conferencing.models import CalendarEvent
from integrations.ready import engagements_ready

log = logging.getLogger(__name__)

SOURCE = "calendar"
GRACE = timedelta(hours=2)
LOOKBACK = timedelta(days=3)
MATCH_WINDOW = timedelta(minutes=15)  # a recording starts this close to its meeting's start
DEFAULT_LENGTH = timedelta(hours=1)  # events without an end
BATCH = 500


def _ends(event: CalendarEvent) -> datetime:
    return event.ends_at or event.starts_at + DEFAULT_LENGTH


def _people(event: CalendarEvent) -> list[dict]:
    """Who was there: the organizer and every attendee who did not decline, once
    each, without rooms and group calendars."""
    seen, out = set(), []
    for a in [{"email": event.organizer_email}, *event.attendees]:
        email = (a.get("email") or "").strip().lower()
        if not email or "@" not in email or a.get("declined") or email in seen \
                or email.rsplit("@", 1)[1] in NON_PERSON_DOMAINS:
            continue
        seen.add(email)
        out.append({"email": email, "name": (a.get("name") or "").strip()})
    return out


def meeting_key(event: CalendarEvent) -> str:
    """The same for every calendar's copy of one meeting."""
    emails = sorted({(a.get("email") or "").lower() for a in event.attendees} | {event.organizer_email.lower()})
    raw = "|".join([event.starts_at.astimezone(UTC).isoformat(), " ".join(event.title.lower().split()), *emails])
    return "meeting-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _recordings(org: Organization, events: list[CalendarEvent]) -> list[tuple[Engagement, set[str]]]:
    """The org's recordings that could be these meetings, with their external
    participants' addresses — two queries for the whole batch."""
    lo = min(e.starts_at for e in events) - MATCH_WINDOW
    hi = max(e.starts_at for e in events) + MATCH_WINDOW
    recordings = list(Engagement.objects.for_org(org).filter(
        kind=Engagement.Kind.RECORDING, started_at__gte=lo, started_at__lte=hi).only("id", "owner_id", "started_at"))
    emails: dict[int, set[str]] = defaultdict(set)
    for engagement_id, email in Participant.objects.for_org(org).filter(
            engagement_id__in=[r.id for r in recordings], is_internal=False).exclude(email="").values_list(
            "engagement_id", "email"):
        emails[engagement_id].add(email.lower())
    return [(r, emails[r.id]) for r in recordings]


def _candidates(copies: list[CalendarEvent], recordings: list) -> list[tuple[tuple, Engagement]]:
    """Recordings that may be this meeting, with a score: one that started within
    ``MATCH_WINDOW`` of it and shares an external attendee with it — or, when the
    recording knows no external address, one by a Chorus attendee. More shared
    attendees first, then the organizer's, then the closest in time."""
    first = copies[0]
    owners = {c.calendar.user_id for c in copies}
    organizer = next((c.calendar.user_id for c in copies
                      if c.calendar.user.email.lower() == c.organizer_email.lower()), None)
    attendees = {p["email"] for p in _people(first)}
    out = []
    for recording, emails in recordings:
        gap = abs((recording.started_at - first.starts_at).total_seconds())
        shared = len(emails & attendees)
        if gap <= MATCH_WINDOW.total_seconds() and (shared or (not emails and recording.owner_id in owners)):
            out.append(((shared, recording.owner_id == organizer, -gap), recording))
    return out


def _assign(by_key: dict[str, list[CalendarEvent]], recordings: list, taken: dict[int, str]) -> dict[str, Engagement]:
    """Each meeting's recording, best pairs first, each recording to one meeting (a
    rep double-booked at 10:00 has two meetings and maybe one recording)."""
    pairs = sorted(((score, key, recording) for key, copies in by_key.items()
                    for score, recording in _candidates([c for c in copies if not c.cancelled] or copies, recordings)),
                   key=lambda t: t[0], reverse=True)
    out: dict[str, Engagement] = {}
    for _, key, recording in pairs:
        if key not in out and taken.get(recording.id, key) == key:
            out[key] = recording
            taken[recording.id] = key
    return out


def _owner_copy(copies: list[CalendarEvent]) -> CalendarEvent:
    """The organizer's own copy when they are a Chorus user with a calendar, else the
    first attendee's (by user id): the same answer whichever copy arrived first."""
    for c in copies:
        if c.calendar.user.email.lower() == c.organizer_email.lower():
            return c
    return min(copies, key=lambda c: c.calendar.user_id)


def _unrecorded_new(org: Organization, copies: list[CalendarEvent], key: str
                    ) -> tuple[Engagement, list[Participant]] | None:
    """The Unrecorded Meeting of a customer meeting (unsaved), with its people; None
    when only colleagues (and rooms) were there."""
    chosen = _owner_copy(copies)
    owner = chosen.calendar.user
    colleagues = {c.calendar.user.email.lower() for c in copies}

    def flags(email: str) -> dict[str, bool]:
        f = org.participant_flags(email)
        f["is_internal"] = f["is_internal"] or email in colleagues
        return f

    people = [(p, flags(p["email"])) for p in _people(chosen)]  # each person with their flags, once
    if all(f["is_internal"] for _, f in people):
        return None
    engagement = Engagement(
        org=org, kind=Engagement.Kind.UNRECORDED_MEETING, source=SOURCE, external_id=key,
        title=chosen.title[:500], started_at=chosen.starts_at,
        duration_seconds=int((_ends(chosen) - chosen.starts_at).total_seconds()), owner=owner,
        recording_disabled=any(c.recording_disabled for c in copies))
    return engagement, [
        Participant(org=org, email=p["email"][:254],
                    name=(owner.full_name if p["email"] == owner.email.lower() else p["name"])[:200], **f)
        for p, f in people]


def _org_pass(org: Organization, events: list[CalendarEvent], now: datetime) -> dict[str, int]:
    """One org's due meetings, in one transaction and a fixed number of queries:
    link recordings, make the Unrecorded Meetings (matched to CRM accounts and
    queued for the CRM together), mark every copy looked at."""
    counts = {"meetings": 0, "recorded": 0, "unrecorded": 0, "skipped": 0}
    recordings = _recordings(org, events)
    # Recordings already given to a meeting stay that meeting's (its other copies may still come).
    taken = {e.engagement_id: meeting_key(e) for e in CalendarEvent.objects.filter(
        org=org, engagement_id__in=[r.id for r, _ in recordings]).only(
        "engagement_id", "starts_at", "title", "attendees", "organizer_email")}
    by_key: dict[str, list[CalendarEvent]] = defaultdict(list)
    for e in events:
        by_key[meeting_key(e)].append(e)
    existing = {e.external_id: e for e in Engagement.objects.for_org(org).filter(
        source=SOURCE, external_id__in=list(by_key))}
    recorded = _assign(by_key, recordings, taken)
    outcome: dict[str, Engagement | None] = {}
    new: list[tuple[Engagement, list[Participant]]] = []
    for key, copies in by_key.items():
        counts["meetings"] += 1
        live = [c for c in copies if not c.cancelled]
        if not live:
            outcome[key] = None
        elif recording := recorded.get(key):
            outcome[key] = recording
            counts["recorded"] += 1
        elif key in existing:
            outcome[key] = existing[key]
            counts["unrecorded"] += 1
        elif made := _unrecorded_new(org, live, key):
            outcome[key] = made[0]
            new.append(made)
            counts["unrecorded"] += 1
        else:
            outcome[key] = None
    counts["skipped"] = counts["meetings"] - counts["recorded"] - counts["unrecorded"]
    with transaction.atomic():
        made_engagements = Engagement.objects.bulk_create([e for e, _ in new])  # ids set (RETURNING)
        for engagement, people in new:
            for p in people:
                p.engagement = engagement
        Participant.objects.bulk_create([p for _, people in new for p in people])
        engagements_ready(org=org, engagements=made_engagements)
        for key, copies in by_key.items():
            for c in copies:
                c.outcome_checked_at, c.engagement = now, outcome[key]
        CalendarEvent.objects.bulk_update(events, ["outcome_checked_at", "engagement"], batch_size=BATCH)
    return counts


def _due_meetings(now: datetime):
    done = now - GRACE
    return (CalendarEvent.objects
            .filter(outcome_checked_at__isnull=True, starts_at__gte=now - LOOKBACK)
            .filter(Q(ends_at__lte=done) | Q(ends_at__isnull=True, starts_at__lte=done - DEFAULT_LENGTH)))


def unrecorded_meetings_collect(*, now: datetime | None = None, limit: int = BATCH,
                                org_id: int | None = None) -> dict[str, int]:
    """Look at meetings (of one org when given) that ended at least ``GRACE`` ago and
    were not looked at: link each to its recording, or make it an Unrecorded Meeting.
    Returns counts. Two workers at once: the second's insert meets the unique key and
    rolls back, and its next pass finds the first's engagements."""
    now = now or timezone.now()
    scope = {"org_id": org_id} if org_id is not None else {}
    due = (_due_meetings(now).filter(**scope)
           .select_related("org", "calendar__user").order_by("org_id", "starts_at", "id")[:limit])
    counts = {"meetings": 0, "recorded": 0, "unrecorded": 0, "skipped": 0}
    for _, org_events in groupby(due, key=lambda e: e.org_id):
        events = list(org_events)
        try:
            done_here = _org_pass(events[0].org, events, now)
        except IntegrityError:
            log.info("Unrecorded meetings of org %s were being made by another worker", events[0].org_id)
            continue
        for k, v in done_here.items():
            counts[k] += v
    if counts["meetings"]:
        log.info("Unrecorded meetings: %s", counts)
    return counts


# --- The scheduled job: one unit per org with meetings to look at -------------------------------

UNRECORDED_JOB = "unrecorded_meetings"


def unrecorded_due_units(now: datetime):
    from integrations.scheduler import Unit

    orgs = _due_meetings(now).values_list("org_id", flat=True).distinct().order_by()
    return [Unit(key=f"org:{org_id}", org_id=org_id, provider="calendar") for org_id in orgs]


def unrecorded_unit_run(unit) -> dict[str, int]:
    counts = unrecorded_meetings_collect(org_id=unit.org_id)
    return {**counts, "more": int(counts["meetings"] >= BATCH)}
