"""Reads for the Integrations page."""

from django.db.models import Count, Max, Q

from integrations.models import Delivery

S = Delivery.Status


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
