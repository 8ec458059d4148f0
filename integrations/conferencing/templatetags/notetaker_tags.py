"""Personal Settings > Calendar: what the Notetaker Recording Bot did in the user's
recent meetings (joined, recorded, or why it could not record)."""

from __future__ import annotations

from datetime import timedelta

from django import template
from django.utils import timezone

from integrations.conferencing.models import CalendarEvent

register = template.Library()

RECENT = timedelta(days=7)


@register.inclusion_tag("conferencing/_notetaker_recent.html", takes_context=True)
def notetaker_recent(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.org_id:
        return {"meetings": []}
    now = timezone.now()
    meetings = (CalendarEvent.objects.for_org(user.org)
                .filter(calendar__user=user, starts_at__gte=now - RECENT, starts_at__lt=now - timedelta(hours=1))
                .exclude(notetaker_status="").order_by("-starts_at")[:30])
    return {"meetings": meetings}
