"""Webhook events kept as rows (Zoom's, the Notetaker backend's) are tried again the
same way: one mechanism for both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import models


def events_requeue_due(model: type[models.Model], *, now: datetime, queue: Callable[[int], None]) -> int:
    """Queue again the events whose retry time has come, and those whose worker died
    mid-way (still "processing" past their lease). The conditional update is the
    claim, so two schedulers never queue one event twice."""
    status = model.Status
    due = list(model.objects.filter(status__in=[status.RETRYING, status.PROCESSING], next_attempt_at__lte=now)
               .values_list("pk", "status")[:1000])
    queued = 0
    for pk, current in due:
        if model.objects.filter(pk=pk, status=current, next_attempt_at__lte=now).update(status=status.QUEUED):
            queued += 1
            queue(pk)
    return queued
