"""What the console's pages show of calendars: Organization Settings > Meeting
Recording Rules (the rule, the providers, upcoming meetings with their reasons) and
Personal Settings > Calendar (the user's calendars and upcoming meetings).

Its own module because these are reads for pages, not part of any sync.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from chorus.models import Organization
from integrations.conferencing import detection
from integrations.conferencing.calendars.base import WINDOW_AHEAD
from integrations.conferencing.models import Calendar, CalendarEvent


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
