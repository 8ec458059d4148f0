"""A mailbox Chorus imports emails from: the Google or Microsoft 365 account a user
connected for their calendar (same OAuth tokens, plus the read-only mail scope).

The cursor lives here, not on the calendar: ``state`` holds Gmail's history id (and,
mid-round, the page token) or Graph's per-folder next/delta link. It is saved in the
transaction that writes the page's engagements, so a worker killed mid-import
re-imports at most one page, idempotently."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Organization
from chorus.tenancy import OrgManager
from integrations.conferencing.models import Calendar


class Mailbox(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SYNCING = "syncing", "Importing"
        OK = "ok", "Imported"
        WAITING = "waiting", "Waiting (rate limited)"
        RECONNECT = "reconnect", "Needs reconnecting"
        FAILED = "failed", "Failed"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    calendar = models.OneToOneField(Calendar, on_delete=models.CASCADE, related_name="+")
    state = models.JSONField(default=dict, blank=True, help_text="Gmail history id / Graph delta links.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    last_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Not before (a Retry-After).")
    imported = models.PositiveIntegerField(default=0, help_text="Emails this mailbox made into engagements.")
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Mailbox of calendar {self.calendar_id} ({self.status})"
