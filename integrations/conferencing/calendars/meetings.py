"""The meetings of synced calendars: each event is stored, scanned (record it or
not, and why: :mod:`integrations.conferencing.detection`) and the notetaker bot's
schedule kept in step (scheduled, moved, cancelled); the owner can turn recording
off for one meeting.

Its own module because every source (Google, Microsoft 365, ICS) ends here with
the same :class:`EventData`, and the pages and the Unrecorded Meetings job read
the decisions it stores.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from chorus.models import Organization, User
from chorus.services import audit_record
from integrations.conferencing import detection
from integrations.conferencing.calendars.base import EventData
from integrations.conferencing.models import Calendar, CalendarEvent
from integrations.conferencing.notetaker import NotetakerClient, NotetakerError

JOIN_EARLY = timedelta(minutes=1)


def meeting_scan(*, event: CalendarEvent, org: Organization, conference_urls: list[str] | tuple = ()) -> None:
    """Decide (record or not, and why) and remember the join link and bot name."""
    from integrations.conferencing.services import RecordingMethod, recording_method

    attendees = [a for a in event.attendees if not org.is_ignored_email(a.get("email", ""))]
    decision = detection.classify(
        organizer_email=event.organizer_email or event.calendar.user.email,
        attendees=[detection.Attendee(a.get("email", ""), bool(a.get("declined"))) for a in attendees],
        texts=[*conference_urls, event.conference_url, event.location, event.description],
        org_domains=org.email_domains,
        display_name=org.notetaker_display_name,
        cancelled=event.cancelled,
    )
    event.record, event.reason = decision.record, decision.reason
    event.conference_provider = decision.link.provider.key if decision.link else ""
    event.conference_url = decision.link.url[:2000] if decision.link else ""
    event.notetaker_name = decision.notetaker_name if decision.record else ""
    blocked = next((a["email"] for a in attendees if not a.get("declined")
                    and org.is_blocklisted_email(a.get("email", ""))), "") if decision.record else ""
    if decision.record and (event.recording_disabled or blocked):
        event.record, event.notetaker_name = False, ""
        event.reason = ("not recorded: turned off by the user" if event.recording_disabled
                        else f"not recorded: {blocked} is on the block list")
        return
    if decision.record and decision.link.provider.key == "zoom":
        method = recording_method(org=org)
        if method != RecordingMethod.NOTETAKER:
            event.reason = f"recorded natively through Zoom ({RecordingMethod(method).label})"
            event.notetaker_name = ""
            return
    if decision.record and not org.is_enterprise:
        event.record = False
        event.reason = "not recorded: the Notetaker Recording Bot needs the Enterprise package"
        event.notetaker_name = ""


def _wants_bot(event: CalendarEvent, now: datetime) -> bool:
    return bool(event.record and event.notetaker_name and not event.cancelled and event.starts_at > now)


def notetaker_sync(*, event: CalendarEvent, client: NotetakerClient, previous_url: str = "") -> None:
    """Schedule, move or cancel the event's bot so it matches the decision."""
    now = timezone.now()
    join_at = event.starts_at - JOIN_EARLY
    try:
        if _wants_bot(event, now):
            if event.notetaker_bot_id and previous_url and previous_url != event.conference_url:
                client.cancel(bot_id=event.notetaker_bot_id)
                event.notetaker_bot_id = ""
            if not event.notetaker_bot_id:
                event.notetaker_bot_id = client.schedule(
                    meeting_url=event.conference_url,
                    bot_name=event.notetaker_name,
                    join_at=join_at,
                    metadata={"org": str(event.org_id), "calendar_event": str(event.pk)},
                )
                event.notetaker_join_at = join_at
            elif event.notetaker_join_at != join_at:
                client.reschedule(bot_id=event.notetaker_bot_id, join_at=join_at)
                event.notetaker_join_at = join_at
        elif event.notetaker_bot_id and event.starts_at > now:
            client.cancel(bot_id=event.notetaker_bot_id)
            event.notetaker_bot_id, event.notetaker_join_at = "", None
        event.notetaker_error = ""
    except NotetakerError as exc:
        event.notetaker_error = str(exc)[:300]


def calendar_events_apply(
    *,
    calendar: Calendar,
    events: list[EventData],
    client: NotetakerClient | None = None,
    removed: list[str] | None = None,
) -> int:
    """Store events (new, changed, cancelled), scan each and keep bots in step."""
    client = client or NotetakerClient()
    org = calendar.org
    count = 0
    for data in events:
        event = CalendarEvent.objects.filter(calendar=calendar, external_id=data.external_id).first()
        previous_url = event.conference_url if event else ""
        if event is None:
            event = CalendarEvent(org=org, calendar=calendar, external_id=data.external_id)
        event.title = data.title[:500]
        event.starts_at, event.ends_at = data.starts_at, data.ends_at
        event.organizer_email = data.organizer_email or ""
        event.attendees = data.attendees
        event.location, event.description, event.cancelled = data.location, data.description, data.cancelled
        event.conference_url = ""
        meeting_scan(event=event, org=org, conference_urls=data.conference_urls)
        with transaction.atomic():
            event.save()
            notetaker_sync(event=event, client=client, previous_url=previous_url)
            event.save()
        count += 1
    for external_id in removed or []:
        event = CalendarEvent.objects.filter(calendar=calendar, external_id=external_id).first()
        if event and not event.cancelled:
            event.cancelled, event.record, event.reason = True, False, "not recorded: the meeting was cancelled"
            notetaker_sync(event=event, client=client)
            event.save()
    return count


def calendar_event_recording_set(*, user: User, event: CalendarEvent, record: bool,
                                 client: NotetakerClient | None = None) -> CalendarEvent:
    """The calendar's owner turns recording off (or back on) for one meeting: the
    decision is made again, the Notetaker is cancelled or scheduled, and an
    Unrecorded Meeting made of it later is not pushed to the CRM."""
    if event.calendar.user_id != user.pk or event.org_id != user.org_id:
        raise PermissionError("Only the calendar's owner turns recording off for a meeting.")
    if event.recording_disabled == (not record):
        return event
    with transaction.atomic():
        event.recording_disabled = not record
        meeting_scan(event=event, org=user.org)
        notetaker_sync(event=event, client=client or NotetakerClient(), previous_url=event.conference_url)
        event.save()
        audit_record(org=user.org, actor=user, action="meeting.recording_" + ("on" if record else "off"),
                     target=event.title or "(no title)", changes={"starts_at": event.starts_at.isoformat()})
    return event
