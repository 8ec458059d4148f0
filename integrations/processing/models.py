"""Where an engagement is in processing, and its transcript as speaker turns.

The results that other apps read stay on the engagement (``transcript`` as text for
CRMs, ``next_steps``, ``summary``, ``action_items``, the verdict) and its Moments;
what only processing needs — the stage, the lease, the tries, the engines that did
the work — is here, one row per engagement."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from chorus.models import Engagement, Organization
from chorus.tenancy import OrgManager


class ProcessingStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    TRANSCRIBING = "transcribing", "Transcribing"
    ANALYSING = "analysing", "Analysing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class EngagementProcessing(models.Model):
    """One engagement's way from "imported" to "ready".

    A worker claims the row with a lease (``claimed_until``); one that dies mid-way
    leaves the lease to expire and the row is picked up again. Each stage's results
    are saved whole (replaced, never appended), so running a stage twice makes the
    same rows. ``announced_at`` is set in the transaction that hands the engagement
    to ``engagements_ready``: it is announced once, ready or failed."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    engagement = models.OneToOneField(Engagement, on_delete=models.CASCADE, related_name="processing")
    status = models.CharField(max_length=16, choices=ProcessingStatus.choices, default=ProcessingStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    last_error = models.TextField(blank=True, help_text="Why the last try failed, in words for admins.")
    provider_transcript = models.TextField(
        blank=True, help_text="The transcript the source gave (Zoom's WebVTT file), read before any speech-to-text."
    )
    transcript_source = models.CharField(
        max_length=64, blank=True, help_text="Where the transcript came from: zoom, pocketsphinx, openai:<model>…"
    )
    brief_engine = models.CharField(max_length=64, blank=True, help_text="The engine that wrote the brief.")
    notification_phrase = models.CharField(max_length=200, blank=True)
    notification_at_seconds = models.FloatField(null=True, blank=True)
    announced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgManager()

    class Meta:
        verbose_name = "engagement processing"
        verbose_name_plural = "engagement processing"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="processing_due_idx")]

    def __str__(self) -> str:
        return f"{self.engagement_id}: {self.status}"

    @property
    def is_done(self) -> bool:
        return self.status in (ProcessingStatus.READY, ProcessingStatus.FAILED)


class TranscriptSegment(models.Model):
    """One speaker turn: who, from when to when (seconds into the call), what."""

    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="segments")
    position = models.PositiveIntegerField()
    speaker = models.CharField(max_length=200, blank=True)
    start_seconds = models.FloatField()
    end_seconds = models.FloatField()
    text = models.TextField()

    objects = OrgManager()

    class Meta:
        ordering = ["engagement", "position"]
        constraints = [models.UniqueConstraint("engagement", "position", name="segment_position_unique")]

    def __str__(self) -> str:
        return f"{self.speaker or '?'} @ {self.start_seconds:.1f}s"
