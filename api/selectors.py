"""Reads of the public API, always scoped to the token's organisation."""

from __future__ import annotations

from django.db.models import F, Prefetch, QuerySet
from django.db.models.functions import Coalesce, Greatest

from chorus.models import Engagement, Moment, Organization, Participant
from crm.models import CrmAccount, CrmOpportunity
from integrations.processing.models import TranscriptSegment


def engagements_for_api(*, org: Organization) -> QuerySet[Engagement]:
    """Engagements with ``api_updated_at``: the latest of created, last processed and
    last matched to an account. Processing and matching write with ``.update()`` (no
    ``auto_now``), so there is no single column to trust; their own timestamps are."""
    return (
        Engagement.objects.for_org(org)
        .select_related("owner", "processing", "account_match")
        .annotate(api_updated_at=Greatest(
            F("created_at"),
            Coalesce(F("processing__updated_at"), F("created_at")),
            Coalesce(F("account_match__matched_at"), F("created_at")),
        ))
    )


def engagement_detail_for_api(*, org: Organization) -> QuerySet[Engagement]:
    return engagements_for_api(org=org).prefetch_related(
        Prefetch("participants", Participant.objects.order_by("id")),
        Prefetch("moments", Moment.objects.select_related("tracker").order_by("at_seconds", "id")),
        Prefetch("segments", TranscriptSegment.objects.order_by("position")),
    )


def accounts_for_api(*, org: Organization) -> QuerySet[CrmAccount]:
    return CrmAccount.objects.for_org(org)


def opportunities_for_api(*, org: Organization) -> QuerySet[CrmOpportunity]:
    return CrmOpportunity.objects.for_org(org)
