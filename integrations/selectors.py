"""Reads of connections and deliveries that every app and the Integrations page share."""

from django.db.models import Count, Max, Q

from integrations.models import Connection, ConnectionStatus, Delivery
from integrations.registry import PROVIDERS

S = Delivery.Status


def connection_in_category(*, org, category: str) -> Connection | None:
    """The org's newest live connection to a provider of ``category`` ("crm": one CRM
    per org at a time), with who connected it."""
    keys = [key for key, p in PROVIDERS.items() if p.category == category]
    return (Connection.objects.for_org(org).filter(provider__in=keys).exclude(status=ConnectionStatus.DISCONNECTED)
            .select_related("connected_by").order_by("-updated_at").first())


def delivery_summary(*, org) -> list[dict]:
    """Per target: how many deliveries wait, retry, were sent or failed, and the
    newest error an admin can act on. One grouped query."""
    rows = (
        Delivery.objects.for_org(org)
        .values("target")
        .annotate(
            queued=Count("id", filter=Q(status__in=[S.QUEUED, S.SENDING])),
            retrying=Count("id", filter=Q(status=S.RETRYING)),
            sent=Count("id", filter=Q(status=S.SENT)),
            failed=Count("id", filter=Q(status=S.FAILED)),
            last_sent_at=Max("sent_at"),
        )
        .order_by("target")
    )
    summary = list(rows)
    if summary:
        latest_errors = {}
        for d in (
            Delivery.objects.for_org(org).filter(status__in=[S.FAILED, S.RETRYING]).exclude(last_error="")
            .order_by("target", "-next_attempt_at").values("target", "last_error", "status")[:200]
        ):
            latest_errors.setdefault(d["target"], d["last_error"])
        for row in summary:
            row["last_error"] = latest_errors.get(row["target"], "")
    return summary
