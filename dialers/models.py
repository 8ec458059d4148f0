"""Dialer calls as Chorus knows them, and the compliance settings of an org.

The org's connection to a dialer is an ``integrations.Connection`` row with
``provider`` = the catalogue key (``five9``, ``outreach``…): its encrypted
``secrets`` hold the credential fields, its ``config`` the CRM field, the import
cursor and the progress shown on the page.

A :class:`DialerCall` is the ledger of one call of one dialer: it makes imports
idempotent (unique per org, dialer and the dialer's call id), tracks the media
download separately so a failed download is retried without importing the call
twice, and stays as a tombstone when compliance deletes the engagement, so the
next hourly run does not bring the deleted call back.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Engagement, Organization
from chorus.tenancy import OrgManager
from integrations.models import Connection

DEFAULT_NOTIFICATION_PHRASES = [
    "this call is being recorded",
    "this call may be recorded",
    "this call will be recorded",
    "call is recorded",
    "recorded for quality",
    "recording this call",
    "being recorded",
    "recorded line",
]
DEFAULT_NOTIFICATION_WINDOW_SECONDS = 30


class MediaStatus(models.TextChoices):
    PENDING = "pending", "Waiting for download"
    STORED = "stored", "Stored"
    FAILED = "failed", "Download failed (will retry)"
    REJECTED = "rejected", "Refused for good"
    NONE = "none", "No recording"




class DialerCall(models.Model):
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="dialer_calls")
    dialer = models.CharField(max_length=64, help_text="Catalogue key, e.g. five9.")
    external_id = models.CharField(max_length=255, help_text="The dialer's or the CRM task's call id.")
    engagement = models.OneToOneField(Engagement, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="dialer_call")
    started_at = models.DateTimeField()
    media_source = models.TextField(blank=True, help_text="Where the recording is fetched from (URL or s3://).")
    media_name = models.CharField(max_length=500, blank=True, help_text="Path in media storage.")
    media_size = models.PositiveBigIntegerField(null=True, blank=True)
    media_content_type = models.CharField(max_length=100, blank=True)
    media_status = models.CharField(max_length=16, choices=MediaStatus.choices, default=MediaStatus.PENDING)
    media_attempts = models.PositiveSmallIntegerField(default=0, help_text="Hourly runs that tried the download.")
    media_error = models.CharField(max_length=500, blank=True)
    media_retry_at = models.DateTimeField(
        null=True, blank=True,
        help_text="A failed download is not tried before this (the server's Retry-After); empty: the next run.")
    compliance_checked_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgManager()

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint("org", "dialer", "external_id", name="dialer_call_unique_per_org"),
        ]
        indexes = [
            models.Index(fields=["connection", "media_status"], name="dialer_call_media_idx"),
            models.Index(fields=["org", "compliance_checked_at"], name="dialer_call_compliance_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.dialer}:{self.external_id}"


class ComplianceSettings(models.Model):
    """How "a recording notification at the beginning of the call" is recognised
    for Delete Calls Without Recording Notification: any of ``phrases`` heard in
    the first ``window_seconds`` of the transcript."""

    org = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="dialer_compliance")
    phrases = models.JSONField(default=list, blank=True,
                               help_text="Case-insensitive phrases that count as a recording notification.")
    window_seconds = models.PositiveIntegerField(default=DEFAULT_NOTIFICATION_WINDOW_SECONDS)

    objects = OrgManager()

    class Meta:
        verbose_name_plural = "compliance settings"

    def __str__(self) -> str:
        return f"{self.org} · first {self.window_seconds}s"

    @property
    def effective_phrases(self) -> list[str]:
        return [p.strip().lower() for p in (self.phrases or DEFAULT_NOTIFICATION_PHRASES) if p.strip()]
