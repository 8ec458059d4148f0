"""Calendars: connect (Google / Microsoft 365 OAuth, or an ICS feed), sync
incrementally, scan each meeting with :mod:`detection`, and keep the notetaker
bot's schedule in step (scheduled, moved, cancelled)."""

from __future__ import annotations

import logging
import secrets as pysecrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chorus.models import Organization, User
from chorus.services import audit_record
from integrations.conferencing import detection, ics
from integrations.conferencing.models import Calendar, CalendarEvent
from integrations.conferencing.notetaker import NotetakerClient, NotetakerError
from integrations.http import DEFAULT_TIMEOUT, UnsafeUrl, public_url_check

log = logging.getLogger(__name__)

WINDOW_PAST = timedelta(days=1)
WINDOW_AHEAD = timedelta(days=14)
JOIN_EARLY = timedelta(minutes=1)
GOOGLE_SCOPES = "openid email https://www.googleapis.com/auth/calendar.readonly"
MICROSOFT_SCOPES = "offline_access openid email Calendars.Read"
MAX_ICS_BYTES = 5 * 1024 * 1024


class CalendarError(Exception):
    """A sentence for the user: the calendar could not be read."""


@dataclass
class EventData:
    external_id: str
    title: str
    starts_at: datetime
    ends_at: datetime | None
    organizer_email: str
    attendees: list[dict] = field(default_factory=list)
    location: str = ""
    description: str = ""
    conference_urls: list[str] = field(default_factory=list)
    cancelled: bool = False


# --- The scan and the notetaker ------------------------------------------------------------------


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


# --- Sync ------------------------------------------------------------------------------------------


def calendar_sync(*, calendar: Calendar, client: NotetakerClient | None = None) -> Calendar:
    """One sync of one calendar. The conditional UPDATE is the claim: two workers
    never sync the same calendar at once."""
    if (
        not Calendar.objects.filter(pk=calendar.pk)
        .exclude(status=Calendar.Status.SYNCING)
        .update(status=Calendar.Status.SYNCING)
    ):
        return calendar
    calendar.refresh_from_db()
    try:
        SYNCERS[calendar.provider](calendar=calendar, client=client)
    except CalendarError as exc:
        calendar.status, calendar.last_error = Calendar.Status.FAILED, str(exc)
    except Exception:
        log.exception("Calendar %s sync failed", calendar.pk)
        calendar.status, calendar.last_error = (
            Calendar.Status.FAILED,
            "Unexpected error; Chorus support has the details.",
        )
    else:
        calendar.status, calendar.last_error = Calendar.Status.OK, ""
    calendar.last_synced_at = timezone.now()
    calendar.save(update_fields=["status", "last_error", "last_synced_at", "sync_state", "secrets"])
    return calendar


def _session() -> requests.Session:
    s = requests.Session()
    if settings.REQUESTS_CA_BUNDLE:
        s.verify = settings.REQUESTS_CA_BUNDLE
    return s


def ics_url_check(url: str) -> str:
    """ICS URLs are typed in by users: https only, and never an address inside
    Chorus' own network (no SSRF), unless settings allow it (tests, staging)."""
    url = url.strip().replace("webcal://", "https://", 1)
    allow_private = getattr(settings, "CALENDAR_ICS_ALLOW_PRIVATE", False)
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
        with _session().get(url, timeout=DEFAULT_TIMEOUT, stream=True, allow_redirects=False) as resp:
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


# Google Calendar ---------------------------------------------------------------------------------


def _oauth_token(calendar: Calendar, url: str, client_id: str, client_secret: str, scope: str = "") -> str:
    s = calendar.secrets
    expires = parse_datetime(str(s.get("expires_at", "")))
    if s.get("access_token") and expires and expires > timezone.now():
        return str(s["access_token"])
    data = {
        "grant_type": "refresh_token",
        "refresh_token": str(s.get("refresh_token", "")),
        "client_id": client_id,
        "client_secret": client_secret,
    }
    if scope:
        data["scope"] = scope
    resp = _session().post(url, data=data, timeout=DEFAULT_TIMEOUT)
    if resp.status_code != 200:
        raise CalendarError("The calendar no longer accepts Chorus' access: connect it again.")
    payload = resp.json()
    calendar.secrets = {
        **s,
        "access_token": payload["access_token"],
        "refresh_token": payload.get("refresh_token") or s.get("refresh_token", ""),
        "expires_at": (timezone.now() + timedelta(seconds=int(payload.get("expires_in", 3600)) - 60)).isoformat(),
    }
    return payload["access_token"]


def _google_event(item: dict[str, Any]) -> EventData | None:
    start = (item.get("start") or {}).get("dateTime")
    if not start:
        return None  # all-day events are not meetings
    urls = [
        p.get("uri", "")
        for p in (item.get("conferenceData") or {}).get("entryPoints", [])
        if p.get("entryPointType") == "video"
    ]
    if item.get("hangoutLink"):
        urls.append(item["hangoutLink"])
    return EventData(
        external_id=item["id"],
        title=item.get("summary", ""),
        starts_at=parse_datetime(start),
        ends_at=parse_datetime((item.get("end") or {}).get("dateTime") or ""),
        organizer_email=(item.get("organizer") or {}).get("email", ""),
        attendees=[
            {"email": a.get("email", ""), "declined": a.get("responseStatus") == "declined"}
            for a in item.get("attendees", [])
            if not a.get("resource")
        ],
        location=item.get("location", ""),
        description=item.get("description", ""),
        conference_urls=urls,
    )


def google_sync(*, calendar: Calendar, client: NotetakerClient | None = None) -> None:
    """events.list with the stored ``nextSyncToken``; a 410 means the token
    expired, so start over with a full sync of the window."""
    token = _oauth_token(
        calendar,
        f"{settings.GOOGLE_OAUTH_URL}/o/oauth2/token",
        settings.GOOGLE_CLIENT_ID,
        settings.GOOGLE_CLIENT_SECRET,
    )
    url = f"{settings.GOOGLE_API_URL}/calendar/v3/calendars/primary/events"
    session = _session()
    for _attempt in range(2):
        sync_token = calendar.sync_state.get("sync_token")
        base = {"singleEvents": "true", "maxResults": "250"}
        if sync_token:
            base["syncToken"] = sync_token
        else:
            now = timezone.now()
            base.update(timeMin=(now - WINDOW_PAST).isoformat(), timeMax=(now + WINDOW_AHEAD).isoformat())
        page_token, items, next_sync = None, [], None
        gone = False
        while True:
            params = {**base, **({"pageToken": page_token} if page_token else {})}
            resp = session.get(
                url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=DEFAULT_TIMEOUT
            )
            if resp.status_code == 410:
                gone = True
                break
            if resp.status_code != 200:
                raise CalendarError(f"Google Calendar answered {resp.status_code}.")
            data = resp.json()
            items.extend(data.get("items", []))
            page_token = data.get("nextPageToken")
            next_sync = data.get("nextSyncToken") or next_sync
            if not page_token:
                break
        if gone:
            calendar.sync_state = {}
            continue
        # Cancelled instances come back as stubs (id and status only).
        removed = [i["id"] for i in items if i.get("status") == "cancelled"]
        events = [e for e in (_google_event(i) for i in items if i.get("status") != "cancelled") if e]
        calendar_events_apply(calendar=calendar, events=events, client=client, removed=removed)
        calendar.sync_state = {"sync_token": next_sync} if next_sync else {}
        return
    raise CalendarError("Google Calendar kept refusing the sync token.")


# Microsoft 365 -------------------------------------------------------------------------------------


def _graph_url() -> str:
    return getattr(settings, "MICROSOFT_GRAPH_URL", "https://graph.microsoft.com/v1.0").rstrip("/")


def _graph_event(item: dict[str, Any]) -> EventData:
    def when(x):
        value = (x or {}).get("dateTime", "")
        dt = parse_datetime(value[:26]) if value else None
        return dt.replace(tzinfo=UTC) if dt and dt.tzinfo is None else dt

    return EventData(
        external_id=item["id"],
        title=item.get("subject", ""),
        starts_at=when(item.get("start")) or timezone.now(),
        ends_at=when(item.get("end")),
        organizer_email=((item.get("organizer") or {}).get("emailAddress") or {}).get("address", ""),
        attendees=[
            {
                "email": (a.get("emailAddress") or {}).get("address", ""),
                "declined": (a.get("status") or {}).get("response") == "declined",
            }
            for a in item.get("attendees", [])
            if a.get("type") != "resource"
        ],
        location=(item.get("location") or {}).get("displayName", ""),
        description=(item.get("body") or {}).get("content", ""),
        conference_urls=[u for u in [(item.get("onlineMeeting") or {}).get("joinUrl", "")] if u],
        cancelled=bool(item.get("isCancelled")),
    )


def microsoft_sync(*, calendar: Calendar, client: NotetakerClient | None = None) -> None:
    """calendarView/delta: follow ``@odata.nextLink``, keep the ``@odata.deltaLink``."""
    token = _oauth_token(
        calendar,
        f"{settings.MICROSOFT_AUTHORITY_URL}/common/oauth2/v2.0/token",
        settings.MICROSOFT_CLIENT_ID,
        settings.MICROSOFT_CLIENT_SECRET,
        MICROSOFT_SCOPES,
    )
    session = _session()
    link = calendar.sync_state.get("delta_link")
    if not link:
        now = timezone.now()
        link = f"{_graph_url()}/me/calendarView/delta?" + urlencode(
            {"startDateTime": (now - WINDOW_PAST).isoformat(), "endDateTime": (now + WINDOW_AHEAD).isoformat()}
        )
    items, delta = [], None
    for _page in range(200):
        resp = session.get(
            link,
            timeout=DEFAULT_TIMEOUT,
            headers={"Authorization": f"Bearer {token}", "Prefer": 'outlook.timezone="UTC", odata.maxpagesize=50'},
        )
        if resp.status_code == 410:
            calendar.sync_state = {}
            raise CalendarError("Microsoft 365 reset the sync; Chorus will read the calendar again.")
        if resp.status_code != 200:
            raise CalendarError(f"Microsoft 365 answered {resp.status_code}.")
        data = resp.json()
        items.extend(data.get("value", []))
        link = data.get("@odata.nextLink")
        delta = data.get("@odata.deltaLink") or delta
        if not link:
            break
    removed = [i["id"] for i in items if "@removed" in i]
    calendar_events_apply(
        calendar=calendar,
        events=[_graph_event(i) for i in items if "@removed" not in i],
        client=client,
        removed=removed,
    )
    calendar.sync_state = {"delta_link": delta} if delta else {}


SYNCERS = {
    Calendar.Provider.ICS: ics_sync,
    Calendar.Provider.GOOGLE: google_sync,
    Calendar.Provider.MICROSOFT: microsoft_sync,
}


# --- Connect ----------------------------------------------------------------------------------------


def calendar_connect_ics(*, user: User, url: str) -> Calendar:
    url = ics_url_check(url)
    calendar, _ = Calendar.objects.update_or_create(
        user=user,
        provider=Calendar.Provider.ICS,
        defaults={
            "org": user.org,
            "secrets": {"url": url},
            "status": Calendar.Status.QUEUED,
            "last_error": "",
            "sync_state": {},
        },
    )
    calendar_sync_queue(calendar=calendar)
    return calendar


def calendar_oauth_begin(*, user: User, provider: str, redirect_uri: str) -> tuple[str, dict]:
    state = pysecrets.token_urlsafe(24)
    if provider == Calendar.Provider.GOOGLE:
        url = f"{settings.GOOGLE_OAUTH_URL}/o/oauth2/v2/auth?" + urlencode(
            {
                "response_type": "code",
                "client_id": settings.GOOGLE_CLIENT_ID,
                "redirect_uri": redirect_uri,
                "scope": GOOGLE_SCOPES,
                "access_type": "offline",
                "prompt": "consent",
                "include_granted_scopes": "true",
                "state": state,
                "login_hint": user.email,
            }
        )
    else:
        url = f"{settings.MICROSOFT_AUTHORITY_URL}/common/oauth2/v2.0/authorize?" + urlencode(
            {
                "response_type": "code",
                "client_id": settings.MICROSOFT_CLIENT_ID,
                "redirect_uri": redirect_uri,
                "scope": MICROSOFT_SCOPES,
                "state": state,
                "login_hint": user.email,
            }
        )
    return url, {"state": state, "user": user.pk, "provider": provider}


def calendar_oauth_complete(
    *, user: User, provider: str, pending: dict | None, params: dict[str, str], redirect_uri: str
) -> Calendar:
    if (
        not pending
        or pending.get("provider") != provider
        or pending.get("user") != user.pk
        or not pysecrets.compare_digest(str(pending.get("state")), str(params.get("state", "")))
    ):
        raise CalendarError("The calendar connection could not be verified. Click Connect to try again.")
    if params.get("error") or not params.get("code"):
        raise CalendarError("The calendar connection was cancelled; nothing was changed.")
    if provider == Calendar.Provider.GOOGLE:
        url, cid, secret = (
            f"{settings.GOOGLE_OAUTH_URL}/o/oauth2/token",
            settings.GOOGLE_CLIENT_ID,
            settings.GOOGLE_CLIENT_SECRET,
        )
    else:
        url, cid, secret = (
            f"{settings.MICROSOFT_AUTHORITY_URL}/common/oauth2/v2.0/token",
            settings.MICROSOFT_CLIENT_ID,
            settings.MICROSOFT_CLIENT_SECRET,
        )
    try:
        resp = _session().post(
            url,
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": redirect_uri,
                "client_id": cid,
                "client_secret": secret,
            },
            timeout=DEFAULT_TIMEOUT,
        )
    except requests.RequestException as exc:
        raise CalendarError("The calendar service could not be reached. Try again in a minute.") from exc
    if resp.status_code != 200:
        raise CalendarError("The calendar service refused the connection. Click Connect to try again.")
    payload = resp.json()
    secrets = {
        "access_token": payload["access_token"],
        "refresh_token": payload.get("refresh_token", ""),
        "expires_at": (timezone.now() + timedelta(seconds=int(payload.get("expires_in", 3600)) - 60)).isoformat(),
    }
    calendar, _ = Calendar.objects.update_or_create(
        user=user,
        provider=provider,
        defaults={
            "org": user.org,
            "secrets": secrets,
            "status": Calendar.Status.QUEUED,
            "last_error": "",
            "sync_state": {},
            "account_email": user.email,
        },
    )
    calendar_sync_queue(calendar=calendar)
    return calendar


def calendar_disconnect(*, calendar: Calendar, client: NotetakerClient | None = None) -> None:
    """Cancel the bots still scheduled from this calendar, then forget it."""
    client = client or NotetakerClient()
    for event in CalendarEvent.objects.filter(calendar=calendar).exclude(notetaker_bot_id=""):
        event.record = False
        notetaker_sync(event=event, client=client)
    calendar.delete()


SYNC_EVERY = timedelta(minutes=10)
SYNC_STALE_AFTER = timedelta(minutes=30)


def calendars_sync_due() -> int:
    """Queue every calendar not synced for SYNC_EVERY; a sync stuck in
    "syncing" longer than SYNC_STALE_AFTER (its worker died) is released."""
    from django.db.models import Q

    now = timezone.now()
    Calendar.objects.filter(status=Calendar.Status.SYNCING, last_synced_at__lt=now - SYNC_STALE_AFTER).update(
        status=Calendar.Status.QUEUED
    )
    due = list(
        Calendar.objects.exclude(status=Calendar.Status.SYNCING)
        .filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lt=now - SYNC_EVERY))
        .values_list("pk", flat=True)
    )
    for pk in due:
        calendar_sync_queue(calendar=Calendar(pk=pk))
    return len(due)


def calendar_sync_queue(*, calendar: Calendar) -> None:
    from django_q.tasks import async_task

    transaction.on_commit(
        lambda: async_task("integrations.conferencing.tasks.calendar_sync_task", calendar.pk, group="calendar-sync")
    )


# --- Pages --------------------------------------------------------------------------------------------


def recording_rules_context(*, org: Organization, limit: int = 50) -> dict[str, Any]:
    """For Organization Settings > Meeting Recording Rules: the rule, the
    providers, and the upcoming meetings with the reason for each."""
    from integrations.conferencing.services import recording_method

    now = timezone.now()
    upcoming = (
        CalendarEvent.objects.for_org(org)
        .filter(starts_at__gte=now - timedelta(hours=1), starts_at__lte=now + WINDOW_AHEAD)
        .select_related("calendar__user")
        .order_by("starts_at")[:limit]
    )
    return {
        "providers": detection.SUPPORTED_LABELS,
        "upcoming_meetings": upcoming,
        "recording_method": recording_method(org=org),
        "org": org,
        "non_renamable": sorted({p.label for p in detection.PROVIDERS if not p.renamable}),
    }


def calendar_personal_context(request) -> dict[str, Any]:
    """For Personal Settings: the user's calendars and the connect buttons."""
    user = request.user
    calendars = {c.provider: c for c in Calendar.objects.for_org(user.org).filter(user=user)}
    now = timezone.now()
    upcoming = (CalendarEvent.objects.for_org(user.org)
                .filter(calendar__user=user, cancelled=False, starts_at__gte=now - timedelta(hours=1),
                        starts_at__lte=now + WINDOW_AHEAD)
                .order_by("starts_at")[:30])
    return {
        "rows": [
            {"key": key, "label": label, "calendar": calendars.get(key)} for key, label in Calendar.Provider.choices
        ],
        "upcoming": upcoming,
    }
