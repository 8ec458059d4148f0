"""What a Zap sees: the items of "New Post-Meeting Brief" and "New Action Items".

One shape for both ways Zapier gets them — the polling fallbacks and the REST-hook
deliveries — so a Zap's fields ("Meeting Summary", "Action Items"…) are the same
whichever way it triggered. Every item has a stable ``id``: Zapier deduplicates on
``id`` (docs.zapier.com/platform/build/deduplication: "By default, the field with
the key ``id`` is used as the primary key"; lists "sorted in reverse chronological
order"). A brief's id is its engagement's id; an action item's is
``"{engagement_id}-{index}"`` (its place in the brief, kept when an empty item is
skipped).

Only briefs Chorus writes count: Enterprise, meetings of 10 minutes or more (seed:
"We cannot generate Meeting Summary or Action Items for meetings less than 10
minutes")."""

from __future__ import annotations

from django.conf import settings
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse

from chorus.models import Engagement
from integrations.processing.briefs import MIN_BRIEF_SECONDS

POLL_LIMIT = 100


def engagement_has_brief(engagement: Engagement) -> bool:
    return engagement.duration_seconds >= MIN_BRIEF_SECONDS and bool((engagement.summary or "").strip())


def action_items_indexed(engagement: Engagement) -> list[tuple[int, dict]]:
    return [(i, a) for i, a in enumerate(engagement.action_item_items) if a["text"].strip()]


def _recording_url(engagement: Engagement) -> str:
    return engagement.recording_url or settings.CHORUS_BASE_URL + reverse("recording", args=[engagement.pk])


def _meeting(engagement: Engagement, account_name: str) -> dict:
    owner = engagement.owner
    return {
        "engagement_id": engagement.pk,
        "title": engagement.display_title,
        "started_at": engagement.started_at.isoformat(),
        "duration_minutes": round((engagement.duration_seconds or 0) / 60),
        "recording_url": _recording_url(engagement),
        "owner_email": owner.email if owner else "",
        "owner_name": owner.full_name if owner else "",
        "account_name": account_name or "",
    }


def brief_item(engagement: Engagement, *, account_name: str = "") -> dict:
    """A "New Post-Meeting Brief" item: the meeting, its Meeting Summary and its
    Action Items (as Zapier line items and as one text to map into a message)."""
    items = [{"text": a["text"], "speaker": a["speaker"]} for _, a in action_items_indexed(engagement)]
    return {
        "id": str(engagement.pk),
        **_meeting(engagement, account_name),
        "meeting_summary": engagement.summary,
        "action_items": items,
        "action_items_text": "\n".join(f"• {a['text']}" + (f" ({a['speaker']})" if a["speaker"] else "")
                                       for a in items),
    }


def action_item_items(engagement: Engagement, *, account_name: str = "") -> list[dict]:
    """The "New Action Items" items of one meeting, one per action item."""
    meeting = _meeting(engagement, account_name)
    return [{"id": f"{engagement.pk}-{i}", **meeting, "text": a["text"], "speaker": a["speaker"]}
            for i, a in action_items_indexed(engagement)]


def briefed_engagements(*, org) -> QuerySet[Engagement]:
    """The org's engagements with a brief, newest brief first: ordered by when they
    were announced ready (when the brief appeared), so a meeting processed late still
    comes at the top of the list Zapier polls. ``account_name`` is annotated (one
    query for a page)."""
    if not org.is_enterprise:
        return Engagement.objects.none()
    return (Engagement.objects.for_org(org)
            .filter(duration_seconds__gte=MIN_BRIEF_SECONDS).exclude(summary="")
            .select_related("owner")
            .annotate(ready_at=Coalesce("processing__announced_at", "created_at"),
                      account_name=F("account_match__account__name"))
            .order_by("-ready_at", "-id"))


def zapier_briefs_poll(*, org, limit: int = POLL_LIMIT) -> list[dict]:
    return [brief_item(e, account_name=e.account_name or "") for e in briefed_engagements(org=org)[:limit]
            if engagement_has_brief(e)]


def zapier_action_items_poll(*, org, limit: int = POLL_LIMIT) -> list[dict]:
    """Newest meetings first; a meeting's items in their order. At most ``limit``
    items, read in pages of meetings so a meeting without items costs nothing more."""
    out: list[dict] = []
    for e in briefed_engagements(org=org).exclude(action_items=[])[:limit]:
        if engagement_has_brief(e):
            out += action_item_items(e, account_name=e.account_name or "")
        if len(out) >= limit:
            break
    return out[:limit]
