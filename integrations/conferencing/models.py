"""Conferencing rows: the Zoom webhook events Chorus has accepted.

The Zoom connection itself is an :class:`integrations.models.Connection` with
``provider="zoom"`` (``config.account_id`` finds the tenant of a webhook)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Engagement, Organization
from chorus.secrets import EncryptedJSONField
from chorus.tenancy import OrgManager


class ZoomEvent(models.Model):
    """One accepted Zoom webhook delivery, queued for a worker.

    ``dedupe_key`` is a hash of the event's identity (account, event, event_ts,
    payload), so a replayed request or one of Zoom's retries (+5, +20, +60 min)
    is recognised and queues nothing. The payload carries a 24-hour
    ``download_token``, hence encrypted at rest."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        RETRYING = "retrying", "Retrying"
        DONE = "done", "Done"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    event = models.CharField(max_length=64)
    account_id = models.CharField(max_length=64, db_index=True)
    dedupe_key = models.CharField(max_length=64, unique=True)
    payload = EncryptedJSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    detail = models.TextField(blank=True, help_text="Why it was ignored or failed, in plain words.")
    engagement = models.ForeignKey(Engagement, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Retries after Zoom was unreachable or busy; while processing, the time after
    # which a worker that went silent is presumed dead and the event queued again.
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    objects = OrgManager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="zoom_event_due_idx")]

    def __str__(self) -> str:
        return f"{self.event} ({self.status})"


class Calendar(models.Model):
    """One user's calendar: Google Calendar or Microsoft 365 (OAuth, synced
    incrementally with a sync token / delta link) or an ICS feed URL (the URL is
    a secret: private feed URLs carry their own access key)."""

    class Provider(models.TextChoices):
        GOOGLE = "google", "Google Calendar"
        MICROSOFT = "microsoft", "Microsoft 365"
        ICS = "ics", "ICS feed"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SYNCING = "syncing", "Syncing"
        OK = "ok", "Synced"
        FAILED = "failed", "Failed"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey("chorus.User", on_delete=models.CASCADE, related_name="calendars")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    account_email = models.EmailField(blank=True)
    secrets = EncryptedJSONField(default=dict, blank=True)
    sync_state = models.JSONField(default=dict, blank=True, help_text="Sync token / delta link of the last sync.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    last_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        ordering = ["user", "provider"]
        constraints = [models.UniqueConstraint("user", "provider", name="calendar_one_per_provider_per_user")]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_provider_display()}"


class CalendarEvent(models.Model):
    """A meeting from a calendar, with the scan's decision (record or not, and
    why) and the notetaker bot scheduled for it, if any."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="events")
    external_id = models.CharField(max_length=512)
    title = models.CharField(max_length=500, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    organizer_email = models.EmailField(blank=True)
    attendees = models.JSONField(default=list, blank=True, help_text='[{"email": …, "declined": bool}]')
    location = models.TextField(blank=True)
    description = models.TextField(blank=True)
    cancelled = models.BooleanField(default=False)
    conference_provider = models.CharField(max_length=32, blank=True)
    conference_url = models.URLField(max_length=2000, blank=True)
    record = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True)
    notetaker_bot_id = models.CharField(max_length=128, blank=True)
    notetaker_join_at = models.DateTimeField(null=True, blank=True)
    notetaker_name = models.CharField(max_length=80, blank=True)
    notetaker_error = models.CharField(max_length=300, blank=True)
    # What the bot backend said about the bot (its webhook): joined, recorded, or why it
    # could not record. Separate from ``notetaker_error`` (scheduling), which syncs reset.
    notetaker_status = models.CharField(max_length=32, blank=True, choices=[
        ("joined", "Joined the meeting"),
        ("recording_done", "Recorded"),
        ("failed", "Could not record"),
        ("kicked", "Removed from the meeting"),
        ("waiting_room_timeout", "Not let in from the waiting room"),
    ])
    notetaker_reason = models.CharField(max_length=300, blank=True)
    notetaker_status_at = models.DateTimeField(null=True, blank=True)
    # Seed: "Meetings that are turned off (the user explicitly asked Chorus not to
    # record)". Set by the calendar's owner in Personal Settings; syncs keep it.
    recording_disabled = models.BooleanField(default=False)
    # After the meeting: the engagement it became (its recording, or an Unrecorded
    # Meeting) and when Chorus looked, so each meeting is looked at once.
    engagement = models.ForeignKey(Engagement, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outcome_checked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgManager()

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [models.UniqueConstraint("calendar", "external_id", name="calendar_event_unique")]
        indexes = [
            models.Index(fields=["org", "starts_at"], name="calendar_event_org_start_idx"),
            models.Index(fields=["ends_at"], condition=models.Q(outcome_checked_at__isnull=True),
                         name="calendar_event_unchecked_idx"),
        ]

    def __str__(self) -> str:
        return self.title or self.external_id


class NotetakerEvent(models.Model):
    """One accepted webhook delivery of the Notetaker bot backend, queued for a worker
    (like :class:`ZoomEvent`). ``event_id`` is the backend's event id: a retried
    delivery queues nothing. The org and the meeting come from the bot Chorus
    scheduled (``CalendarEvent.notetaker_bot_id``), never from the payload."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        RETRYING = "retrying", "Retrying"
        DONE = "done", "Done"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    calendar_event = models.ForeignKey(CalendarEvent, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    event_id = models.CharField(max_length=128, unique=True)
    event = models.CharField(max_length=64)
    bot_id = models.CharField(max_length=128, db_index=True)
    signature = models.CharField(max_length=200, blank=True, help_text="The delivery's signature header.")
    payload = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    detail = models.TextField(blank=True, help_text="Why it was ignored or failed, in plain words.")
    engagement = models.ForeignKey(Engagement, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Retries after the backend was unreachable or busy; while processing, the time after
    # which a worker that went silent is presumed dead and the event queued again.
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    objects = OrgManager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notetaker_event_due_idx")]

    def __str__(self) -> str:
        return f"{self.event} {self.bot_id} ({self.status})"
