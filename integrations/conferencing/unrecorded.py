"""After a calendar meeting ends: was it recorded? If not, it becomes an
Unrecorded Meeting engagement (seed "Create Tasks for Unrecorded Meetings"), so
the CRM gets a task for it when the admin ticks CRM Objects Creation > Create a
task > Unrecorded Meeting, and the count of customer interactions stays whole.

* Chorus waits ``GRACE`` after the meeting's end: recordings arrive after the call
  (Zoom's post-call download, the Notetaker's upload).
* A meeting counts as recorded when a recording started between ``MATCH_EARLY``
  before its start and its end, owned by one of its Chorus attendees or shared with
  one of its attendees' addresses.
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
from crm.matching import engagement_match
from crm.push.services import engagement_push_prepare
from integrations.conferencing.detection import NON_PERSON_DOMAINS
from integrations.conferencing.models import CalendarEvent

log = logging.getLogger(__name__)

SOURCE = "calendar"
GRACE = timedelta(hours=2)
LOOKBACK = timedelta(days=3)
MATCH_EARLY = timedelta(minutes=15)
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
    """The org's recordings that could be these meetings, with their participants'
    addresses — two queries for the whole batch."""
    lo = min(e.starts_at for e in events) - MATCH_EARLY
    hi = max(_ends(e) for e in events)
    recordings = list(Engagement.objects.for_org(org).filter(
        kind=Engagement.Kind.RECORDING, started_at__gte=lo, started_at__lte=hi).only("id", "owner_id", "started_at"))
    emails: dict[int, set[str]] = defaultdict(set)
    for engagement_id, email in Participant.objects.for_org(org).filter(
            engagement_id__in=[r.id for r in recordings]).exclude(email="").values_list("engagement_id", "email"):
        emails[engagement_id].add(email.lower())
    return [(r, emails[r.id]) for r in recordings]


def _recorded(copies: list[CalendarEvent], recordings) -> Engagement | None:
    first = copies[0]
    owners = {c.calendar.user_id for c in copies}
    attendees = {p["email"] for p in _people(first)}
    for recording, emails in recordings:
        if first.starts_at - MATCH_EARLY <= recording.started_at <= _ends(first) and (
                recording.owner_id in owners or emails & attendees):
            return recording
    return None


def _owner_copy(copies: list[CalendarEvent]) -> CalendarEvent:
    """The organizer's own copy when they are a Chorus user with a calendar, else the
    first attendee's (by user id): the same answer whichever copy arrived first."""
    for c in copies:
        if c.calendar.user.email.lower() == c.organizer_email.lower():
            return c
    return min(copies, key=lambda c: c.calendar.user_id)


def _unrecorded_create(org: Organization, copies: list[CalendarEvent], key: str) -> Engagement | None:
    chosen = _owner_copy(copies)
    owner = chosen.calendar.user
    people = _people(chosen)
    colleagues = {c.calendar.user.email.lower() for c in copies}

    def flags(email: str) -> dict[str, bool]:
        f = org.participant_flags(email)
        f["is_internal"] = f["is_internal"] or email in colleagues
        return f

    if all(flags(p["email"])["is_internal"] for p in people):
        return None
    existing = Engagement.objects.for_org(org).filter(source=SOURCE, external_id=key).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            engagement = Engagement.objects.create(
                org=org, kind=Engagement.Kind.UNRECORDED_MEETING, source=SOURCE, external_id=key,
                title=chosen.title[:500], started_at=chosen.starts_at,
                duration_seconds=int((_ends(chosen) - chosen.starts_at).total_seconds()), owner=owner,
                recording_disabled=any(c.recording_disabled for c in copies))
            Participant.objects.bulk_create([
                Participant(org=org, engagement=engagement, email=p["email"][:254],
                            name=(owner.full_name if p["email"] == owner.email.lower() else p["name"])[:200],
                            **flags(p["email"]))
                for p in people])
            engagement_match(engagement=engagement)
            engagement_push_prepare(engagement=engagement)
    except IntegrityError:  # another worker made it meanwhile
        return Engagement.objects.for_org(org).filter(source=SOURCE, external_id=key).first()
    return engagement


def unrecorded_meetings_collect(*, now: datetime | None = None, limit: int = BATCH) -> dict[str, int]:
    """Look at meetings that ended at least ``GRACE`` ago and were not looked at:
    link each to its recording, or make it an Unrecorded Meeting. Returns counts."""
    now = now or timezone.now()
    done = now - GRACE
    due = (CalendarEvent.objects
           .filter(outcome_checked_at__isnull=True, starts_at__gte=now - LOOKBACK)
           .filter(Q(ends_at__lte=done) | Q(ends_at__isnull=True, starts_at__lte=done - DEFAULT_LENGTH))
           .select_related("org", "calendar__user").order_by("org_id", "starts_at", "id")[:limit])
    counts = {"meetings": 0, "recorded": 0, "unrecorded": 0, "skipped": 0}
    for _, org_events in groupby(due, key=lambda e: e.org_id):
        events = list(org_events)
        org = events[0].org
        recordings = _recordings(org, events)
        by_key: dict[str, list[CalendarEvent]] = defaultdict(list)
        for e in events:
            by_key[meeting_key(e)].append(e)
        for key, copies in by_key.items():
            counts["meetings"] += 1
            live = [c for c in copies if not c.cancelled]
            engagement = _recorded(live, recordings) if live else None
            if engagement:
                counts["recorded"] += 1
            elif live and (engagement := _unrecorded_create(org, live, key)):
                counts["unrecorded"] += 1
            else:
                counts["skipped"] += 1
            CalendarEvent.objects.filter(pk__in=[c.pk for c in copies]).update(
                outcome_checked_at=now, engagement=engagement)
    if counts["meetings"]:
        log.info("Unrecorded meetings: %s", counts)
    return counts
