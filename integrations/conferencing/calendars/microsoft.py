"""Microsoft 365 calendars: sign-in (authorization code with PKCE) and token
refresh through msal, and the incremental sync with Graph's
``calendarView/delta`` links.

Its own module: one calendar provider. msal is built like CRM Connect's Dynamics
client: authority from ``MICROSOFT_AUTHORITY_URL``, no instance discovery when that
authority is not Microsoft's (staging, tests), and Chorus' shared HTTP session so
``REQUESTS_CA_BUNDLE`` is honoured.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any
from urllib.parse import urlencode, urlsplit

import msal
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

# msal adds openid, profile and offline_access (a refresh token) itself.
# Mail.ReadBasic: every message property but the body (integrations.mail imports
# emails with it). A refresh asks for the calendar scopes only, so a connection made
# before Mail.ReadBasic was asked keeps refreshing (its token simply lacks the mail scope).
SCOPES = ["Calendars.Read", "Mail.ReadBasic", "email"]
REFRESH_SCOPES = ["Calendars.Read", "email"]
MICROSOFT_HOSTS = ("login.microsoftonline.com", "login.microsoftonline.us", "login.partner.microsoftonline.cn")
UNREACHABLE = "Microsoft sign-in could not be reached. Try again in a minute."


def _app() -> msal.ConfidentialClientApplication:
    """msal for Chorus' multi-tenant app (``common``: any work or school account).
    Building it reads the authority's OpenID configuration."""
    base = settings.MICROSOFT_AUTHORITY_URL
    try:
        return msal.ConfidentialClientApplication(
            settings.MICROSOFT_CLIENT_ID,
            client_credential=settings.MICROSOFT_CLIENT_SECRET,
            authority=f"{base}/common",
            # Off for a non-Microsoft authority (staging, tests): msal would ask Microsoft to validate it.
            instance_discovery=None if urlsplit(base).hostname in MICROSOFT_HOSTS else False,
            http_client=http_session(),
        )
    except (ValueError, requests.RequestException, msal.exceptions.MsalError) as exc:  # no authority metadata
        raise CalendarError(UNREACHABLE) from exc


def authorize_url(*, user: User, state: str, redirect_uri: str) -> tuple[str, dict]:
    """Microsoft's sign-in page, and msal's flow (PKCE verifier, nonce) to keep until the callback."""
    flow = _app().initiate_auth_code_flow(SCOPES, redirect_uri=redirect_uri, state=state, login_hint=user.email)
    if "auth_uri" not in flow:
        raise CalendarError(UNREACHABLE)
    return flow["auth_uri"], {"flow": flow}


def exchange_code(*, pending: dict, params: dict[str, str], redirect_uri: str) -> dict[str, Any]:
    """The callback's code for tokens, checked by msal against the flow begun
    (state, PKCE, nonce); the redirect URI is the flow's own."""
    app = _app()
    try:
        result = app.acquire_token_by_auth_code_flow(pending.get("flow") or {}, params)
    except (ValueError, RuntimeError) as exc:  # state or nonce mismatch, a replayed flow
        raise CalendarError("The calendar connection could not be verified. Click Connect to try again.") from exc
    except requests.RequestException as exc:
        raise CalendarError("The calendar service could not be reached. Try again in a minute.") from exc
    if "access_token" not in result:
        raise CalendarError("The calendar service refused the connection. Click Connect to try again.")
    return token_secrets(result)


def access_token(calendar: Calendar) -> str:
    """The stored token, or a new one through msal's refresh (kept on ``calendar``,
    saved by the sync)."""
    token = stored_access_token(calendar)
    if token:
        return token
    result = _app().acquire_token_by_refresh_token(str(calendar.secrets.get("refresh_token", "")),
                                                   scopes=REFRESH_SCOPES)
    if "access_token" not in result:
        raise CalendarError("The calendar no longer accepts Chorus' access: connect it again.")
    calendar.secrets = token_secrets(result, previous=calendar.secrets)
    return result["access_token"]


def _graph_url() -> str:
    return settings.MICROSOFT_GRAPH_URL.rstrip("/")


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
    session = http_session(access_token=access_token(calendar))
    link = calendar.sync_state.get("delta_link")
    if not link:
        now = timezone.now()
        link = f"{_graph_url()}/me/calendarView/delta?" + urlencode(
            {"startDateTime": (now - WINDOW_PAST).isoformat(), "endDateTime": (now + WINDOW_AHEAD).isoformat()}
        )
    items, delta = [], None
    for _page in range(200):
        resp = session.get(link, headers={"Prefer": 'outlook.timezone="UTC", odata.maxpagesize=50'})
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
