"""Google Calendar: the OAuth consent (offline access), the token exchange and
refresh, and the incremental sync with ``events.list`` sync tokens.

Its own module: one calendar provider, with the API shapes only it knows.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chorus.models import User
from integrations.conferencing.calendars.base import (
    WINDOW_AHEAD,
    WINDOW_PAST,
    CalendarError,
    EventData,
    stored_access_token,
    token_secrets,
)
from integrations.conferencing.calendars.meetings import calendar_events_apply
from integrations.conferencing.models import Calendar
from integrations.conferencing.notetaker import NotetakerClient
from integrations.http import http_session

# gmail.metadata: the least privilege that reads headers and labels, never bodies
# (integrations.mail imports emails with it; connections made before it lack it).
SCOPES = ("openid email https://www.googleapis.com/auth/calendar.readonly"
          " https://www.googleapis.com/auth/gmail.metadata")


def _token_url() -> str:
    return f"{settings.GOOGLE_OAUTH_URL}/o/oauth2/token"


def authorize_url(*, user: User, state: str, redirect_uri: str) -> tuple[str, dict]:
    """Google's consent page (and nothing more to remember than the state)."""
    url = f"{settings.GOOGLE_OAUTH_URL}/o/oauth2/v2/auth?" + urlencode(
        {
            "response_type": "code",
            "client_id": settings.GOOGLE_CLIENT_ID,
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
            "state": state,
            "login_hint": user.email,
        }
    )
    return url, {}


def exchange_code(*, pending: dict, params: dict[str, str], redirect_uri: str) -> dict[str, Any]:
    """The authorization code for tokens: the calendar's secrets."""
    try:
        resp = http_session().post(
            _token_url(),
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": redirect_uri,
                "client_id": settings.GOOGLE_CLIENT_ID,
                "client_secret": settings.GOOGLE_CLIENT_SECRET,
            },
        )
    except requests.RequestException as exc:
        raise CalendarError("The calendar service could not be reached. Try again in a minute.") from exc
    if resp.status_code != 200:
        raise CalendarError("The calendar service refused the connection. Click Connect to try again.")
    return token_secrets(resp.json())


def access_token(calendar: Calendar) -> str:
    """The stored token, or a new one from the refresh token (kept on ``calendar``,
    saved by the sync)."""
    token = stored_access_token(calendar)
    if token:
        return token
    data = {
        "grant_type": "refresh_token",
        "refresh_token": str(calendar.secrets.get("refresh_token", "")),
        "client_id": settings.GOOGLE_CLIENT_ID,
        "client_secret": settings.GOOGLE_CLIENT_SECRET,
    }
    resp = http_session().post(_token_url(), data=data)
    if resp.status_code != 200:
        raise CalendarError("The calendar no longer accepts Chorus' access: connect it again.")
    payload = resp.json()
    calendar.secrets = token_secrets(payload, previous=calendar.secrets)
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
    url = f"{settings.GOOGLE_API_URL}/calendar/v3/calendars/primary/events"
    session = http_session(access_token=access_token(calendar))
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
            resp = session.get(url, params=params)
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
