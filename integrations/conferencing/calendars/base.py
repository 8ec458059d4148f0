"""What every calendar source shares: the sync window, the one error sentence
type, the provider-neutral event shape each source produces, and the stored OAuth
tokens of a calendar.

Its own module so the sources (Google, Microsoft 365, ICS feeds), the meeting
updates and the orchestration can all import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.conferencing.models import Calendar

WINDOW_PAST = timedelta(days=1)
WINDOW_AHEAD = timedelta(days=14)


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



def stored_access_token(calendar: Calendar) -> str:
    """The calendar's access token while it is still valid, else ``""``."""
    secrets = calendar.secrets
    expires = parse_datetime(str(secrets.get("expires_at", "")))
    if secrets.get("access_token") and expires and expires > timezone.now():
        return str(secrets["access_token"])
    return ""


def token_secrets(payload: dict[str, Any], *, previous: dict | None = None) -> dict[str, Any]:
    """What a calendar stores from a token response (plain OAuth's or msal's). A
    refresh that does not send a new refresh token keeps the previous one."""
    previous = previous or {}
    return {
        **previous,
        "access_token": payload["access_token"],
        "refresh_token": payload.get("refresh_token") or previous.get("refresh_token", ""),
        "expires_at": (timezone.now() + timedelta(seconds=int(payload.get("expires_in", 3600)) - 60)).isoformat(),
    }
