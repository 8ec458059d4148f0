"""ICS feeds: the address a user pastes (checked so it never reaches inside
Chorus' network) and its sync. A feed has no deltas, so each sync reads it whole
and a future meeting that disappeared from it counts as cancelled.

Its own module because a feed is a source like Google or Microsoft 365, with its
own rules (size cap, SSRF check); :mod:`integrations.conferencing.ics` only parses.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from integrations.conferencing import ics
from integrations.conferencing.calendars.base import WINDOW_AHEAD, WINDOW_PAST, CalendarError, EventData
from integrations.conferencing.calendars.meetings import calendar_events_apply
from integrations.conferencing.models import Calendar, CalendarEvent
from integrations.conferencing.notetaker import NotetakerClient
from integrations.http import UnsafeUrl, http_session, public_url_check

MAX_ICS_BYTES = 5 * 1024 * 1024


def ics_url_check(url: str) -> str:
    """ICS URLs are typed in by users: https only, and never an address inside
    Chorus' own network (no SSRF), unless settings allow it (tests, staging)."""
    url = url.strip().replace("webcal://", "https://", 1)
    allow_private = settings.CALENDAR_ICS_ALLOW_PRIVATE
    parts = urlsplit(url)
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise ValidationError("Enter the calendar's https:// (or webcal://) address.")
    if not parts.hostname:
        raise ValidationError("Enter the calendar's full address.")
    try:
        return public_url_check(url, allow_http=allow_private, allow_private=allow_private)
    except UnsafeUrl as exc:
        raise ValidationError(str(exc)) from exc


def ics_sync(*, calendar: Calendar, client: NotetakerClient | None = None) -> None:
    url = ics_url_check(str(calendar.secrets.get("url", "")))
    try:
        with http_session().get(url, stream=True, allow_redirects=False) as resp:
            if resp.status_code != 200:
                raise CalendarError(f"The calendar feed answered {resp.status_code}; check its address.")
            body = resp.raw.read(MAX_ICS_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise CalendarError("The calendar feed could not be reached.") from exc
    if len(body) > MAX_ICS_BYTES:
        raise CalendarError("The calendar feed is larger than 5 MB.")
    text = body.decode("utf-8", errors="replace")
    if "BEGIN:VCALENDAR" not in text.upper():
        raise CalendarError("This address does not return a calendar (ICS) feed.")
    now = timezone.now()
    start, end = now - WINDOW_PAST, now + WINDOW_AHEAD
    parsed = ics.parse(text, window_start=start, window_end=end)
    events = [
        EventData(
            external_id=e.external_id,
            title=e.summary,
            starts_at=e.starts_at,
            ends_at=e.ends_at,
            organizer_email=e.organizer,
            attendees=e.attendees,
            location=e.location,
            description=e.description,
            conference_urls=[e.url] if e.url else [],
            cancelled=e.cancelled,
        )
        for e in parsed
    ]
    seen = {e.external_id for e in events}
    # A feed has no deltas: a future meeting that disappeared was cancelled.
    gone = list(
        CalendarEvent.objects.filter(calendar=calendar, starts_at__gte=now, starts_at__lte=end, cancelled=False)
        .exclude(external_id__in=seen)
        .values_list("external_id", flat=True)
    )
    calendar_events_apply(calendar=calendar, events=events, client=client, removed=gone)
